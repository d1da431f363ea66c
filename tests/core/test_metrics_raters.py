"""Raters: pairwise agreement, STAPLE recovery and SimpleITK equality, repeatability, scoring."""

import json

import numpy as np
import pytest

from napari_segtools.core.metrics import dice, evaluate, hausdorff_distance
from napari_segtools.core.metrics.raters import (
    rater_agreement,
    repeatability,
    score_against_raters,
)

SPACING = (2.0, 0.8, 1.1)
#: (sensitivity, specificity) of the simulated raters
RATERS = [(0.95, 0.99), (0.85, 0.995), (0.75, 0.98)]


def _sphere(n=48, radius=15):
    z, y, x = np.ogrid[:n, :n, :n]
    return (z - 24) ** 2 + (y - 22) ** 2 + (x - 25) ** 2 < radius**2


def _simulated_raters(truth, params, seed):
    """Each voxel flipped independently: foreground kept with p = sens, background with q."""
    rng = np.random.default_rng(seed)
    out = []
    for sens, spec in params:
        u = rng.random(truth.shape)
        out.append(np.where(truth, u < sens, u < 1 - spec))
    return out


def _box(shape, start, stop):
    m = np.zeros(shape, bool)
    m[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = True
    return m


@pytest.fixture(scope="module")
def simulated():
    truth = _sphere()
    return truth, _simulated_raters(truth, RATERS, seed=7)


def test_staple_recovers_known_sensitivity_and_specificity(simulated):
    truth, raters = simulated
    result = rater_agreement(raters, spacing=SPACING, names=["A", "B", "C"])
    sens, spec = np.array(RATERS).T
    np.testing.assert_allclose(result.sensitivity, sens, atol=0.02)
    np.testing.assert_allclose(result.specificity, spec, atol=0.02)
    assert dice(truth, result.consensus) > 0.97
    assert result.raters == ("A", "B", "C")
    assert result.settings["staple_iterations"] < result.settings["max_iterations"]


def test_staple_equals_simpleitk(simulated):
    sitk = pytest.importorskip("SimpleITK")
    _, raters = simulated
    result = rater_agreement(raters, spacing=None)
    staple = sitk.STAPLEImageFilter()
    staple.SetForegroundValue(1)
    images = [sitk.GetImageFromArray(r.astype(np.uint8)) for r in raters]
    posterior = sitk.GetArrayFromImage(staple.Execute(images))
    np.testing.assert_allclose(result.sensitivity, staple.GetSensitivity(), atol=1e-6)
    np.testing.assert_allclose(result.specificity, staple.GetSpecificity(), atol=1e-6)
    np.testing.assert_allclose(result.consensus_probability, posterior, atol=1e-5)


def test_pairwise_matrices_equal_evaluate():
    shape = (10, 14, 12)
    raters = [
        _box(shape, (2, 3, 2), (8, 10, 9)),
        _box(shape, (2, 4, 2), (8, 11, 9)),
        _box(shape, (3, 3, 3), (8, 10, 10)),
    ]
    result = rater_agreement(raters, spacing=SPACING)
    for i in range(3):
        assert result.dice[i, i] == 1.0 and result.hd95[i, i] == 0.0
        for j in range(3):
            if i != j:
                row = evaluate(raters[i], raters[j], spacing=SPACING, cldice=False).per_label[1]
                assert result.dice[i, j] == pytest.approx(row["dice"])
                assert result.hd95[i, j] == pytest.approx(row["hd95"])
    # the first two differ by one voxel along axis 1 (0.8 mm): a slab of 6 x 9 voxels of 42
    assert result.dice[0, 1] == pytest.approx(2 * 6 * 6 * 7 / (2 * 6 * 7 * 7))
    assert result.units["hd95"] == "mm"
    np.testing.assert_array_equal(result.pairwise("dice"), result.dice[[0, 0, 1], [1, 2, 2]])


def test_label_selects_one_label_and_voxel_units_are_stated():
    a = np.zeros((8, 8), np.uint8)
    a[1:4, 1:4] = 1
    a[5:8, 5:8] = 2
    b = a.copy()
    b[5:8, 4] = 2  # label 2 grows by one column, label 1 is unchanged
    result = rater_agreement([a, b], spacing=None, label=2)
    assert result.dice[0, 1] == pytest.approx(2 * 9 / (9 + 12))
    assert result.units["hd95"] == "voxel" and "units_note" in result.settings
    assert rater_agreement([a, b], spacing=None, label=1).dice[0, 1] == 1.0


def test_empty_masks_give_nan_and_an_empty_consensus():
    a = np.zeros((6, 6), bool)
    b = a.copy()
    b[2:4, 2:4] = True
    one = rater_agreement([a, b], spacing=(1.0, 1.0))
    assert np.isnan(one.dice[0, 0]) and np.isnan(one.hd95[0, 1]) and one.dice[0, 1] == 0.0
    none = rater_agreement([a, a, a], spacing=(1.0, 1.0))
    assert not none.consensus.any()
    assert np.isnan(none.sensitivity).all() and (none.specificity == 1).all()
    json.dumps(none.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"segmentations": [np.ones((4, 4))]}, ValueError, "at least two"),
        ({"segmentations": "ab"}, TypeError, "list of label images"),
        ({"segmentations": [np.ones((4, 4)), np.ones((4, 5))]}, ValueError, "shape"),
        ({"segmentations": [np.ones((4, 4))] * 21}, ValueError, "at most 20"),
        ({"names": ["a"]}, ValueError, "2 distinct names"),
        ({"names": ["a", "a"]}, ValueError, "distinct"),
        ({"names": [1, 2]}, TypeError, "strings"),
        ({"label": 0}, ValueError, "label"),
        ({"spacing": (1.0, 1.0, 1.0)}, ValueError, "spacing"),
        ({"max_iterations": 0}, ValueError, "max_iterations"),
        ({"segmentations": [np.full((4, 4), 0.5)] * 2}, TypeError, "segmentations\\[0\\]"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    arguments = {"segmentations": [np.ones((4, 4), bool)] * 2, "spacing": (1.0, 1.0)} | kwargs
    with pytest.raises(error, match=match):
        rater_agreement(arguments.pop("segmentations"), **arguments)


def test_repeatability_hand_computed_on_an_anisotropic_grid():
    shape = (6, 8, 8)
    first = _box(shape, (1, 2, 2), (5, 6, 6))  # 4 x 4 x 4 = 64 voxels
    second = _box(shape, (1, 2, 2), (5, 6, 7))  # 4 x 4 x 5 = 80 voxels
    r = repeatability(first, second, spacing=SPACING)
    voxel = 2.0 * 0.8 * 1.1
    assert r.volume_first == pytest.approx(64 * voxel)
    assert r.volume_difference == pytest.approx(16 * voxel)
    assert r.volume_difference_percent == pytest.approx(100 * 16 / 72)
    assert r.dice == pytest.approx(2 * 64 / 144)
    assert r.hd95 == pytest.approx(
        hausdorff_distance(first, second, spacing=SPACING, percentile=95)
    )
    assert r.units == {"dice": "", "hd95": "mm", "volume": "mm^3"}
    assert repeatability(first, second, spacing=None).volume_difference == 16.0
    empty = repeatability(np.zeros(shape, bool), np.zeros(shape, bool), spacing=None)
    assert np.isnan(empty.volume_difference_percent) and np.isnan(empty.dice)
    json.dumps(empty.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="`first` has shape"):
        repeatability(first, second[:5], spacing=None)


def test_score_against_raters_puts_the_inter_rater_spread_beside_the_method():
    shape = (12, 12, 12)
    raters = [
        _box(shape, (2, 2, 2), (9, 9, 9)),
        _box(shape, (2, 2, 3), (9, 9, 10)),
        _box(shape, (3, 2, 2), (9, 9, 9)),
        _box(shape, (2, 2, 2), (9, 10, 9)),
    ]
    prediction = _box(shape, (2, 3, 2), (9, 9, 9))
    scores = score_against_raters(prediction, raters, spacing=SPACING)
    for name, mask in zip(("rater 1", "rater 2", "rater 3", "rater 4"), raters, strict=True):
        assert scores.per_rater[name]["dice"] == pytest.approx(dice(mask, prediction))
        assert scores.per_rater[name]["hd95"] == pytest.approx(
            hausdorff_distance(mask, prediction, spacing=SPACING, percentile=95)
        )
    consensus = scores.agreement.consensus
    assert scores.consensus["dice"] == pytest.approx(dice(consensus, prediction))
    pairs = scores.agreement.dice[np.triu_indices(4, k=1)]
    assert len(pairs) == 6
    assert scores.inter_rater["dice"] == pytest.approx(
        {"min": pairs.min(), "median": np.median(pairs), "max": pairs.max()}
    )
    rows = scores.to_rows()
    assert [r["reference"] for r in rows] == [
        "rater 1",
        "rater 2",
        "rater 3",
        "rater 4",
        "consensus",
        "inter-rater min",
        "inter-rater median",
        "inter-rater max",
    ]
    assert rows[-1]["hd95"] == scores.inter_rater["hd95"]["max"]
    json.dumps(scores.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="`prediction` has shape"):
        score_against_raters(prediction[:5], raters, spacing=SPACING)


def _cli(argv):
    import argparse

    from napari_segtools import _cli_raters

    parser = argparse.ArgumentParser()
    _cli_raters.add_arguments(parser)
    return _cli_raters.run(parser.parse_args(argv))


def test_cli_writes_the_report_and_the_consensus(tmp_path, capsys):
    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.io import read_image, write_image

    shape = (6, 9, 9)
    geometry = Geometry(SPACING, origin=(5.0, -3.0, 2.0))
    boxes = [((1, 2, 2), (5, 7, 7)), ((1, 2, 3), (5, 7, 8)), ((1, 2, 2), (5, 7, 7))]
    files = []
    for i, (start, stop) in enumerate(boxes):
        files.append(write_image(tmp_path / f"r{i}.nii.gz", _box(shape, start, stop), geometry))
    pred = write_image(tmp_path / "pred.nii.gz", _box(shape, (1, 3, 2), (5, 7, 7)), geometry)
    out, consensus = tmp_path / "raters.json", tmp_path / "staple.nrrd"
    argv = [*map(str, files), "--prediction", str(pred), "--out", str(out)]
    assert _cli([*argv, "--consensus", str(consensus)]) == 0
    report = json.loads(out.read_text())
    arrays = [read_image(f)[0] for f in files]
    spacing = read_image(pred)[1].spacing  # NIfTI stores float32 spacing
    expected = score_against_raters(
        read_image(pred)[0], arrays, spacing=spacing, names=["r0", "r1", "r2"]
    )
    assert report["rows"] == json.loads(json.dumps(expected.to_dict()))["rows"]
    assert report["agreement"]["raters"] == ["r0", "r1", "r2"]
    staple, staple_geometry = read_image(consensus)
    np.testing.assert_array_equal(staple, expected.agreement.consensus)
    assert staple_geometry == geometry
    assert "inter-rater median" in capsys.readouterr().out
    write_image(tmp_path / "moved.nii.gz", _box(shape, *boxes[0]), Geometry(SPACING))
    with pytest.raises(ValueError, match="origin"):
        _cli([str(files[0]), str(tmp_path / "moved.nii.gz"), "--out", str(out)])
