"""The metric pitfalls gallery: every case raises the warning it teaches, with known numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from napari_segtools._sample_pitfalls import metric_pitfalls
from napari_segtools.core.geometry import Geometry, resample_labels_nearest
from napari_segtools.core.pitfall_gallery import SHARED_DICE, pitfall_cases
from napari_segtools.metrics import evaluate

CASES = {case.name: case for case in pitfall_cases()}


def _evaluate(case):
    """Evaluate a case as the panel does: the prediction on the reference grid, spacing in mm."""
    pred, extra = case.prediction, {}
    if not case.same_grid:
        pred = resample_labels_nearest(
            case.prediction,
            Geometry(case.prediction_spacing, case.prediction_offset),
            Geometry(case.reference_spacing),
            case.reference.shape,
        )
        extra = {"prediction_spacing": case.prediction_spacing}
    return evaluate(case.reference, pred, spacing=case.reference_spacing, **extra)


def test_gallery_covers_every_pitfall_with_unique_names():
    assert len(CASES) == len(pitfall_cases()) == 16
    taught = {case.pitfall for case in CASES.values()}
    assert taught == {
        "holes",
        "misalignment",
        "small_structure",
        "empty_reference",
        "empty_prediction",
        "anisotropic_spacing",
        "resolution_mismatch",
        "over_segmentation",
        "under_segmentation",
        "component_count",
    }
    for case in CASES.values():
        assert case.reference.ndim == case.prediction.ndim == 2
        assert case.lesson.endswith(".")


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_raises_the_warning_it_teaches(name):
    case = CASES[name]
    report = _evaluate(case)
    assert case.pitfall in {w.pitfall for w in report.warnings}


def test_small_structure_known_dice():
    report = _evaluate(CASES["size"])
    # 3x3 lesion shifted by one column: 6 of 9 pixels overlap -> Dice 2*6/18
    assert report.per_label[1]["dice"] == pytest.approx(2 / 3)
    assert report.per_label[2]["dice"] > 0.93
    small = [w.label for w in report.warnings if w.pitfall == "small_structure"]
    assert small == [1]


def test_one_layer_of_voxels_known_distances():
    for name in ("over-segmentation", "under-segmentation"):
        values = _evaluate(CASES[name]).per_label[1]
        assert values["hd"] == values["hd95"] == values["assd"] == pytest.approx(1.0)
    over = _evaluate(CASES["over-segmentation"]).per_label[1]
    assert over["fn"] == 0 and over["fp"] == 36  # the 36-pixel face-connected rim of a r=6 disc


def test_anisotropy_hd_is_one_coarse_pixel_in_mm():
    report = _evaluate(CASES["anisotropy"])
    assert report.per_label[1]["hd"] == pytest.approx(4.0)


def test_resolution_case_is_the_same_circle_on_two_grids():
    case = CASES["resolution"]
    extent_ref = np.asarray(case.reference.shape) * case.reference_spacing
    extent_pred = np.asarray(case.prediction.shape) * case.prediction_spacing
    np.testing.assert_allclose(extent_ref, extent_pred)  # both tile the same 24 mm field
    # areas agree with pi * 8^2 mm^2 within the coarse grid's staircase
    for mask, spacing in ((case.reference, 0.5), (case.prediction, 2.0)):
        assert mask.sum() * spacing**2 == pytest.approx(np.pi * 64, rel=0.05)
    assert _evaluate(case).per_label[1]["dice"] < 0.97


def test_five_predictions_share_dice_but_not_distances():
    shared = [name for name in CASES if name.startswith("DSC 0.6")]
    assert len(shared) == 5
    values = {name: _evaluate(CASES[name]).per_label[1] for name in shared}
    for v in values.values():
        assert abs(v["dice"] - SHARED_DICE) <= 0.01
    for a, b in itertools.combinations(shared, 2):
        differences = [abs(values[a][m] - values[b][m]) for m in ("hd", "hd95", "assd", "nsd")]
        assert max(differences) > 0.1, (a, b)


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
        assert ref_meta["metadata"]["pitfall"] == case.pitfall
        start = np.asarray(ref_meta["translate"])
        boxes.append((start, start + np.asarray(ref.shape) * ref_meta["scale"]))
    for (a0, a1), (b0, b1) in itertools.combinations(boxes, 2):
        assert np.any(a1 <= b0) or np.any(b1 <= a0)  # tiles never overlap


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


def test_sample_shows_one_case_and_declares_its_mm_grid():
    layers = metric_pitfalls()
    shown = {meta["metadata"]["pitfall_case"] for _, meta, _ in layers if meta["visible"]}
    assert shown == {pitfall_cases()[0].name}
    for data, meta, _ in layers:
        assert meta["metadata"]["spacing_unit"] == "mm"  # no "scale 1" note for the gallery
        assert meta["metadata"]["title"] == CASES[meta["metadata"]["pitfall_case"]].title
        role = meta["metadata"]["pitfall_role"]
        names = dict(zip(meta["features"]["index"], meta["features"]["name"], strict=True))
        assert all(names[v] == role for v in np.unique(data) if v)
