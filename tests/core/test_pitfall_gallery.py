"""The metric pitfalls gallery: each case reproduces its lesson, measured from its own arrays.

Every lesson's inequality is recomputed here with ``evaluate`` or the plain metric functions
(never read back from the case's text), in the direction the lecture notes give (Reinke et al.
2023), and the case's text must print those numbers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from napari_segtools._sample_pitfalls import metric_pitfalls
from napari_segtools.core.geometry import Geometry, resample_labels_nearest
from napari_segtools.core.metrics.boundary import boundary_iou
from napari_segtools.core.pitfall_gallery import (
    SHARED_DICE,
    SHARED_DICE_KINDS,
    found_components,
    pitfall_cases,
)
from napari_segtools.metrics import (
    center_distance,
    cldice,
    dice,
    evaluate,
    fbeta_score,
    hausdorff_distance,
    jaccard,
    normalized_surface_distance,
)

CASES = {case.name: case for case in pitfall_cases()}
_REPORTS: dict = {}


def _evaluate(name):
    """Evaluate a case as the panel does: the prediction on the reference grid, spacing in mm."""
    if name not in _REPORTS:
        case = CASES[name]
        pred, extra = case.prediction, {}
        if not case.same_grid:
            pred = resample_labels_nearest(
                case.prediction,
                Geometry(case.prediction_spacing, case.prediction_offset),
                Geometry(case.reference_spacing),
                case.reference.shape,
            )
            extra = {"prediction_spacing": case.prediction_spacing}
        _REPORTS[name] = evaluate(case.reference, pred, spacing=case.reference_spacing, **extra)
    return _REPORTS[name]


def _masks(name, label=1):
    case = CASES[name]
    return case.reference == label, case.prediction == label


def _says(name, *numbers):
    """Assert the case's lesson prints each of the (already formatted) numbers."""
    for text in numbers:
        assert text in CASES[name].lesson, (name, text, CASES[name].lesson)


def test_gallery_names_titles_and_taught_warnings():
    assert list(CASES) == [
        "size",
        "mask vs boundary IoU",
        "large structures",
        "shape",
        "alignment",
        "holes",
        "annotation noise",
        "empty reference",
        "empty prediction",
        "resolution",
        "anisotropy",
        "over vs under",
        "DSC 0.6",
    ]
    taught = {key for case in CASES.values() for key in case.pitfalls}
    assert taught == {
        "small_structure",
        "boundary_error",
        "component_count",
        "thin_structure",
        "misalignment",
        "holes",
        "empty_reference",
        "empty_prediction",
        "resolution_mismatch",
        "anisotropic_spacing",
        "under_segmentation",
        "over_segmentation",
    }
    for case in CASES.values():
        assert case.reference.ndim == case.prediction.ndim == 2
        assert case.title and case.lesson.endswith(".")
        labels = set(np.unique(case.reference)) - {0}
        assert set(case.label_names) <= labels


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_raises_the_warnings_it_teaches(name):
    raised = {w.pitfall for w in _evaluate(name).warnings}
    assert set(CASES[name].pitfalls) <= raised


def test_small_structure_one_pixel_costs_the_lesion_not_the_disc():
    values = _evaluate("size").per_label
    # the 3x3 lesion shifted by one column: 6 of 9 pixels overlap -> Dice 2*6/18, IoU 6/12
    assert values[1]["dice"] == pytest.approx(2 / 3) and values[1]["iou"] == pytest.approx(0.5)
    assert values[2]["dice"] > 0.93
    small = [w.label for w in _evaluate("size").warnings if w.pitfall == "small_structure"]
    assert small == [1]
    # Boundary IoU (1 mm band = two 0.5 mm pixels) is nearly size-invariant, Dice is not
    spacing = CASES["size"].reference_spacing
    biou = [boundary_iou(*_masks("size", k), spacing=spacing, band_mm=1.0) for k in (1, 2)]
    assert biou[0] == pytest.approx(0.5)  # the band is the whole lesion: Mask IoU
    assert abs(biou[0] - biou[1]) < 0.1 < values[2]["dice"] - values[1]["dice"]
    # detection: the predicted lesion's centre (row 19, column 10) lies inside the lesion
    assert found_components(*_masks("size", 1)) == (1, 1)
    _says("size", "Dice 0.67", "Mask IoU 0.50", "Dice 0.94", f"{biou[0]:.2f} and {biou[1]:.2f}")
    _says("size", "1 of 1")


def test_mask_iou_forgives_boundary_errors_on_large_objects_boundary_iou_does_not():
    spacing = CASES["mask vs boundary IoU"].reference_spacing
    iou, biou = {}, {}
    for k in (1, 2):
        ref, pred = _masks("mask vs boundary IoU", k)
        iou[k] = jaccard(ref, pred)
        biou[k] = boundary_iou(ref, pred, spacing=spacing, band_mm=1.0)
        assert biou[k] < iou[k] - 0.2  # Boundary IoU penalises the ragged outline
    assert iou[1] > iou[2] + 0.1  # Mask IoU: the large disc looks far better
    assert abs(biou[1] - biou[2]) < 0.05  # Boundary IoU: both outlines alike
    found = [
        w for w in _evaluate("mask vs boundary IoU").warnings if w.pitfall == "boundary_error"
    ]
    assert [w.label for w in found] == [1]
    _says("mask vs boundary IoU", f"{iou[1]:.2f} against {iou[2]:.2f}")
    _says("mask vs boundary IoU", f"{biou[1]:.2f} and {biou[2]:.2f}")


def test_large_structure_dominates_dice():
    case = CASES["large structures"]
    tiles = np.hsplit(case.reference, 2)  # one reference twice, a prediction on each copy
    np.testing.assert_array_equal(tiles[0] == 1, tiles[1] == 2)
    ref = tiles[0] == 1
    first, second = (t == k for k, t in enumerate(np.hsplit(case.prediction, 2), start=1))
    d1, d2 = dice(ref, first), dice(ref, second)
    assert d2 > d1 + 0.2  # Dice prefers the prediction that only gets the large structure
    ids, n = ndimage.label(ref)
    sizes = ndimage.sum(ref, ids, range(1, n + 1))
    assert n == 4 and sorted(sizes)[-1] > 10 * sorted(sizes)[0]  # three small, one large
    small = np.isin(ids, 1 + np.argsort(sizes)[:3])
    near_small = ndimage.binary_dilation(small, iterations=2)
    assert dice(small, first & near_small) == 1.0  # prediction 1: every small one perfect
    assert not (second & near_small).any()  # prediction 2: every small one missed
    assert found_components(ref, first) == (4, 4) and found_components(ref, second) == (1, 4)
    _says("large structures", f"{d2:.2f} against {d1:.2f}", "1.00 against 0.00")
    _says("large structures", "4 of 4 against 1 of 4")


def test_thin_structure_equal_dice_clDice_exposes_missed_branches():
    (ref1, first), (ref2, second) = _masks("shape", 1), _masks("shape", 2)
    d1, d2 = dice(ref1, first), dice(ref2, second)
    c1, c2 = cldice(ref1, first), cldice(ref2, second)
    assert abs(d1 - d2) < 0.005
    assert c1 < c2 - 0.2 and c1 < d1 - 0.1
    found = {w.label for w in _evaluate("shape").warnings if w.pitfall == "thin_structure"}
    assert found == {1}
    _says("shape", f"{d1:.3f} against {d2:.3f}", f"{c1:.2f} against {c2:.2f}")


def test_misalignment_equal_dice_centre_distance_tells():
    (ref1, first), (ref2, second) = _masks("alignment", 1), _masks("alignment", 2)
    d1, d2 = dice(ref1, first), dice(ref2, second)
    assert abs(d1 - d2) < 0.005
    c1 = center_distance(ref1, first, spacing=(1.0, 1.0))
    c2 = center_distance(ref2, second, spacing=(1.0, 1.0))
    tolerance = 0.2 * 2 * np.sqrt(ref1.sum() / np.pi)  # 20 % of the equivalent diameter
    assert c1 == pytest.approx(0.0, abs=1e-9) and c2 > tolerance
    labels = {w.label for w in _evaluate("alignment").warnings if w.pitfall == "misalignment"}
    assert labels == {2}
    _says("alignment", f"{d1:.3f} and {d2:.3f}", f"{c2:.1f} mm", f"{tolerance:.1f} mm")
    _says("alignment", "prediction 1 is a hit and prediction 2 a miss")


def test_holes_boundary_metrics_of_the_outline_miss_what_dice_and_volume_show():
    ref, pred = _masks("holes")
    outline = ndimage.binary_fill_holes(pred)
    hole = int(np.count_nonzero(outline & ~pred))
    s = (1.0, 1.0)
    d = dice(ref, pred)
    outer_hd = hausdorff_distance(ref, outline, spacing=s)
    outer_nsd = normalized_surface_distance(ref, outline, spacing=s, tolerance_mm=2.0)
    # the notes' direction: boundary metrics (near) perfect, Dice and volume reveal the hole
    assert outer_hd == 0.0 and outer_nsd == 1.0
    assert d < 0.85 and hole / ref.sum() > 0.25
    # both surface conventions keep the hole's wall, so there HD/NSD notice it
    voxel = (
        hausdorff_distance(ref, pred, spacing=s),
        normalized_surface_distance(ref, pred, spacing=s, tolerance_mm=2.0),
    )
    surfel = (
        hausdorff_distance(ref, pred, spacing=s, surface="surfel"),
        normalized_surface_distance(ref, pred, spacing=s, tolerance_mm=2.0, surface="surfel"),
    )
    for hd, nsd in (voxel, surfel):
        assert hd > 2.0 and nsd < outer_nsd
    holes = [w for w in _evaluate("holes").warnings if w.pitfall == "holes"]
    assert f"{hole} enclosed hole voxels" in holes[0].message
    _says("holes", f"({hole} pixels", f"Dice ({d:.2f})", "HD is 0.0 mm and NSD 1.00")
    _says("holes", f"HD is {voxel[0]:.1f} mm and NSD {voxel[1]:.2f}")
    _says("holes", f"surfel {surfel[0]:.1f} mm, {surfel[1]:.2f}")


def test_annotation_noise_sets_hd_not_hd95():
    values = _evaluate("annotation noise").per_label[1]
    assert values["hd"] > 5 * values["hd95"] and values["dice"] > 0.9
    _says("annotation noise", f"HD to {values['hd']:.1f} mm", f"HD95 is {values['hd95']:.1f} mm")


def test_empty_masks_undefined_not_zero():
    for name in ("empty reference", "empty prediction"):
        values = _evaluate(name).per_label[1]
        assert values["dice"] == 0.0 and np.isnan(values["hd"])
    ref, pred = _masks("empty prediction")
    worst = hausdorff_distance(ref, pred, spacing=(1.0, 1.0), empty="worst")
    assert worst == pytest.approx(np.hypot(32, 32))
    _says("empty prediction", f"{worst:.1f} mm", "Dice 0")
    _says("empty reference", f"{int(CASES['empty reference'].prediction.sum())} pixels")


def test_anisotropy_hd_is_one_pixel_in_mm_per_direction():
    case = CASES["anisotropy"]
    assert _evaluate("anisotropy").per_label[1]["hd"] == pytest.approx(4.0)
    along = np.roll(case.reference, 1, axis=1)
    assert hausdorff_distance(case.reference, along, spacing=(4.0, 0.5)) == pytest.approx(0.5)
    _says("anisotropy", "HD of 4.0 mm", "only 0.5 mm")


def test_resolution_case_is_the_same_circle_on_two_grids():
    case = CASES["resolution"]
    extent_ref = np.asarray(case.reference.shape) * case.reference_spacing
    extent_pred = np.asarray(case.prediction.shape) * case.prediction_spacing
    np.testing.assert_allclose(extent_ref, extent_pred)  # both tile the same 24 mm field
    # areas agree with pi * 8^2 mm^2 within the coarse grid's staircase
    for mask, spacing in ((case.reference, 0.5), (case.prediction, 2.0)):
        assert mask.sum() * spacing**2 == pytest.approx(np.pi * 64, rel=0.05)
    values = _evaluate("resolution").per_label[1]
    assert values["dice"] < 0.97 and values["hd"] > 0
    _says("resolution", f"Dice ({values['dice']:.2f})", f"HD ({values['hd']:.1f} mm)")


def test_over_segmentation_preferred_and_fbeta_chooses_the_side():
    pairs = {"under": _masks("over vs under", 1), "over": _masks("over vs under", 2)}
    (ref1, under), (ref2, over) = pairs.values()
    assert (over & ~ref2).sum() == 36 and (ref1 & ~under).sum() == 32  # the two one-pixel rims
    d = {k: dice(*pair) for k, pair in pairs.items()}
    f05 = {k: fbeta_score(*pair, beta=0.5) for k, pair in pairs.items()}
    f2 = {k: fbeta_score(*pair, beta=2.0) for k, pair in pairs.items()}
    assert d["over"] > d["under"]  # metrics prefer over-segmentation
    assert f05["under"] > f05["over"]  # beta 0.5 weighs precision: punishes over-segmentation
    assert f2["over"] > f2["under"]  # beta 2 weighs recall: punishes under-segmentation
    values = _evaluate("over vs under").per_label
    assert values[1]["hd"] == values[2]["hd"] == pytest.approx(1.0)
    _says("over vs under", f"{d['over']:.3f} against {d['under']:.3f}")
    _says("over vs under", f"{f05['under']:.2f} under against {f05['over']:.2f} over")
    _says("over vs under", f"{f2['under']:.2f} against {f2['over']:.2f}")


def test_five_predictions_share_dice_but_not_distances():
    values = _evaluate("DSC 0.6").per_label
    assert sorted(values) == [1, 2, 3, 4, 5]
    for v in values.values():
        assert abs(v["dice"] - SHARED_DICE) <= 0.01
    for a, b in itertools.combinations(values, 2):
        differences = [abs(values[a][m] - values[b][m]) for m in ("hd", "hd95", "assd", "nsd")]
        assert max(differences) > 0.1, (a, b)
    raised = {(w.label, w.pitfall) for w in _evaluate("DSC 0.6").warnings}
    assert set(enumerate(SHARED_DICE_KINDS.values(), start=1)) <= raised
    hd = " / ".join(f"{values[k]['hd']:.1f}" for k in values)
    _says("DSC 0.6", " / ".join(f"{values[k]['dice']:.3f}" for k in values), f"HD ({hd} mm)")


def test_sample_data_pairs_layers_by_name_on_disjoint_tiles():
    layers = metric_pitfalls()
    assert len(layers) == 2 * len(CASES)
    boxes = []
    pairs = zip(layers[::2], layers[1::2], strict=True)
    for (ref, ref_meta, ref_kind), (pred, pred_meta, pred_kind) in pairs:
        assert ref_kind == pred_kind == "labels"
        case = CASES[ref_meta["name"].removesuffix(" reference")]
        assert pred_meta["name"] == f"{case.name} prediction"
        np.testing.assert_array_equal(ref, case.reference)
        np.testing.assert_array_equal(pred, case.prediction)
        assert ref_meta["scale"] == case.reference_spacing
        assert pred_meta["scale"] == case.prediction_spacing
        assert ref_meta["metadata"]["pitfalls"] == list(case.pitfalls)
        start = np.asarray(ref_meta["translate"])
        boxes.append((start, start + np.asarray(ref.shape) * ref_meta["scale"]))
    for (a0, a1), (b0, b1) in itertools.combinations(boxes, 2):
        assert np.any(a1 <= b0) or np.any(b1 <= a0)  # tiles never overlap


def test_sample_shows_one_case_and_names_each_label():
    layers = metric_pitfalls()
    shown = {meta["metadata"]["pitfall_case"] for _, meta, _ in layers if meta["visible"]}
    assert shown == {pitfall_cases()[0].name}
    for data, meta, _ in layers:
        case = CASES[meta["metadata"]["pitfall_case"]]
        assert meta["metadata"]["spacing_unit"] == "mm"  # no "scale 1" note for the gallery
        assert meta["metadata"]["title"] == case.title
        role = meta["metadata"]["pitfall_role"]
        names = dict(zip(meta["features"]["index"], meta["features"]["name"], strict=True))
        for v in np.unique(data[data > 0]):
            expected = f"{role}: {case.label_names[v]}" if case.label_names else role
            assert names[v] == expected
    names = dict(zip(*layers[-1][1]["features"].values(), strict=True))  # DSC 0.6 prediction
    assert names[4] == "prediction: holed"


def test_nearest_resampling_onto_a_reference_grid_known_answer():
    coarse = np.arange(1, 13).reshape(3, 4)
    # a 2 mm grid onto a 1 mm grid with the same first voxel centre: each label repeats, and
    # target voxels past the last coarse centre + 1 mm fall outside (0)
    fine = resample_labels_nearest(coarse, Geometry((2, 2)), Geometry((1, 1)), (6, 9))
    np.testing.assert_array_equal(fine[0], [1, 2, 2, 3, 3, 4, 4, 0, 0])
    np.testing.assert_array_equal(fine[:, 0], [1, 5, 5, 9, 9, 0])
    # an origin shift by one voxel moves the labels by one row; labels are never blended
    shifted = resample_labels_nearest(coarse, Geometry((1, 1), (1, 0)), Geometry((1, 1)), (4, 4))
    np.testing.assert_array_equal(shifted[0], 0)
    np.testing.assert_array_equal(shifted[1:], coarse)
    assert shifted.dtype == coarse.dtype
    with pytest.raises(ValueError, match="axis-aligned"):
        rotated = Geometry((1, 1), direction=[[0, 1], [1, 0]])
        resample_labels_nearest(coarse, rotated, Geometry((1, 1)), (3, 4))


def test_nearest_resampling_equals_simpleitk_nearest_neighbour():
    import SimpleITK as sitk

    from napari_segtools.core._sitk import array_to_sitk, sitk_to_array

    rng = np.random.default_rng(1)
    source = rng.integers(0, 4, (9, 14, 12)).astype(np.uint8)
    src_geom = Geometry((2.5, 1.6, 1.1), (1.0, -3.0, 0.4))
    dst_geom = Geometry((1.25, 0.8, 0.7), (0.3, -2.9, 0.0))
    shape = (20, 30, 22)
    ours = resample_labels_nearest(source, src_geom, dst_geom, shape)
    grid = array_to_sitk(np.zeros(shape, np.uint8), dst_geom)
    image = array_to_sitk(source, src_geom)
    theirs, geometry = sitk_to_array(
        sitk.Resample(image, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    )
    assert geometry == dst_geom
    np.testing.assert_array_equal(ours, theirs)
