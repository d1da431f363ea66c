"""Calibration: equality with MONAI's CalibrationErrorMetric, hand-computed cases, the diagram."""

import json

import numpy as np
import pytest

from napari_segtools.core.metrics.calibration import (
    NLL_CLIP,
    calibration,
    reliability_diagram,
)


def _peer():
    """MONAI's calibration module and torch (test-only peers; skip when absent)."""
    return pytest.importorskip("monai.metrics.calibration"), pytest.importorskip("torch")


#: the hand-computed case: 8 voxels, 2 bins
P = np.array([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.7, 0.9])
Y = np.array([0, 0, 0, 0, 1, 0, 1, 1])


def _monai(p, y, bins, reduction, metric_reduction="none", include_background=True):
    monai_calibration, torch = _peer()
    metric = monai_calibration.CalibrationErrorMetric(
        num_bins=bins,
        calibration_reduction=reduction,
        metric_reduction=metric_reduction,
        include_background=include_background,
    )
    metric(y_pred=torch.as_tensor(p[None]).float(), y=torch.as_tensor(y[None]).float())
    return metric.aggregate().numpy()


def _softmax_case(seed, shape, classes):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (classes, *shape))
    reference = rng.integers(0, classes, shape)
    # make the map informative: the true class gets a boost
    logits += 2.0 * (reference[None] == np.arange(classes).reshape((-1,) + (1,) * len(shape)))
    p = np.exp(logits) / np.exp(logits).sum(axis=0)
    return p.astype(np.float32), reference


def _one_hot(reference, classes):
    axes = (-1,) + (1,) * reference.ndim
    return (reference[None] == np.arange(classes).reshape(axes)).astype(np.float32)


@pytest.mark.parametrize(
    ("shape", "classes", "bins"),
    [((16, 20), 3, 15), ((6, 10, 12), 4, 10), ((40,), 2, 20), ((8, 9, 7), 5, 7)],
)
def test_ece_and_mce_equal_monai_per_class_and_pooled(shape, classes, bins):
    p, reference = _softmax_case(classes, shape, classes)
    onehot = _one_hot(reference, classes)
    report = calibration(p, reference, bins=bins)
    for reduction, key in (("expected", "ece"), ("maximum", "mce")):
        ours = [report.per_class[c][key] for c in range(classes)]
        np.testing.assert_allclose(ours, _monai(p, onehot, bins, reduction)[0], atol=1e-6)
        pooled = _monai(p.reshape(1, -1), onehot.reshape(1, -1), bins, reduction)[0, 0]
        assert report.pooled[key] == pytest.approx(pooled, abs=1e-6)
    monai_calibration, torch = _peer()
    binned = monai_calibration.calibration_binning(
        torch.as_tensor(p[None]), torch.as_tensor(onehot[None]), num_bins=bins
    )
    for c in range(classes):
        bins_c = report.reliability[c]
        np.testing.assert_array_equal(bins_c.count, binned[2][0, c].numpy())
        np.testing.assert_allclose(bins_c.confidence, binned[0][0, c].numpy(), atol=1e-6)
        np.testing.assert_allclose(bins_c.accuracy, binned[1][0, c].numpy(), atol=1e-6)


def test_foreground_classes_match_monai_without_background():
    p, reference = _softmax_case(3, (12, 14), 3)
    report = calibration(p, reference, classes=range(1, 3))
    monai_mean = _monai(
        p,
        _one_hot(reference, 3),
        15,
        "expected",
        metric_reduction="mean",
        include_background=False,
    )
    assert list(report.per_class) == [1, 2]
    assert np.mean([r["ece"] for r in report.per_class.values()]) == pytest.approx(
        monai_mean.item(), abs=1e-6
    )


@pytest.mark.parametrize("atlases", [3, 5, 10])
def test_quantised_agreement_maps_fall_in_monai_bins(atlases):
    """Atlas agreement maps take values k / atlases, often right on a bin edge."""
    monai_calibration, torch = _peer()
    rng = np.random.default_rng(atlases)
    reference = rng.integers(0, 2, (24, 24))
    p = rng.integers(0, atlases + 1, (24, 24)) / atlases
    for bins in (5, 10, 15, 20):
        report = calibration(p, reference, bins=bins)
        _, _, counts = monai_calibration.calibration_binning(
            torch.as_tensor(p[None, None]).float(),
            torch.as_tensor(reference[None, None]).float(),
            num_bins=bins,
        )
        np.testing.assert_array_equal(report.reliability[1].count, counts[0, 0].numpy())
        ece = _monai(p[None], reference[None], bins, "expected")[0, 0]
        assert report.per_class[1]["ece"] == pytest.approx(ece, abs=1e-6)


def test_mask_scores_only_the_voxels_inside():
    p, reference = _softmax_case(4, (10, 10), 2)
    mask = np.zeros((10, 10), bool)
    mask[2:8, 1:9] = True
    report = calibration(p[1], reference, mask=mask, bins=10)
    expected = _monai(p[1][mask][None], reference[mask][None], 10, "expected")[0, 0]
    assert report.per_class[1]["ece"] == pytest.approx(expected, abs=1e-6)
    assert report.per_class[1]["n"] == 48
    assert report.settings["mask"] is True


def test_hand_computed_case():
    row = calibration(P, Y, bins=2).per_class[1]
    # equal width: (0, .5] holds six voxels, conf 0.175, acc 1/6; (.5, 1] two, conf .8, acc 1
    assert row["ece"] == pytest.approx((6 * abs(0.175 - 1 / 6) + 2 * 0.2) / 8)
    assert row["mce"] == pytest.approx(0.2)
    # equal mass: {.05, .1, .15, .2} conf .125 acc 0; {.25, .3, .7, .9} conf .5375 acc .75
    assert row["ace"] == pytest.approx((0.125 + 0.2125) / 2)
    assert row["brier"] == pytest.approx(np.mean((P - Y) ** 2)) == pytest.approx(0.1034375)
    nll = -(np.log(0.95 * 0.9 * 0.85 * 0.8 * 0.7) + np.log(0.25 * 0.7 * 0.9)) / 8
    assert row["nll"] == pytest.approx(nll)
    assert row["n"] == 8


def test_monai_average_is_not_the_adaptive_calibration_error():
    """MONAI's "average" is the unweighted mean over equal-width bins."""
    row = calibration(P, Y, bins=2).per_class[1]
    average = _monai(P[None], Y[None], 2, "average")[0, 0]
    assert average == pytest.approx((abs(0.175 - 1 / 6) + 0.2) / 2, abs=1e-6)
    assert abs(average - row["ace"]) > 0.05


def test_adaptive_bins_keep_ties_together_whatever_the_voxel_order():
    same = calibration(np.full(8, 0.5), np.array([0, 1, 1, 1, 0, 1, 1, 1]), bins=4)
    assert same.per_class[1]["ace"] == pytest.approx(0.25)  # one bin: |0.5 - 0.75|
    rng = np.random.default_rng(0)
    p = rng.integers(0, 6, 300) / 5
    y = rng.random(300) < p
    order = rng.permutation(300)
    a = calibration(p, y, bins=7).per_class[1]["ace"]
    assert calibration(p[order], y[order], bins=7).per_class[1]["ace"] == a


def test_nll_clips_and_pooled_brier_is_the_multiclass_brier_over_classes():
    row = calibration(np.array([0.0, 1.0]), np.array([1, 1]), bins=3).per_class[1]
    assert row["nll"] == pytest.approx(-np.log(NLL_CLIP) / 2)
    p, reference = _softmax_case(1, (9, 11), 3)
    onehot = _one_hot(reference, 3)
    brier = np.mean(np.sum((p.astype(float) - onehot) ** 2, axis=0))
    assert calibration(p, reference).pooled["brier"] == pytest.approx(brier / 3)


def test_single_map_with_a_chosen_label_and_a_channel_axis():
    reference = np.array([[0, 1, 2, 2]])
    p = np.array([[0.1, 0.2, 0.8, 0.6]])
    report = calibration(p, reference, classes=2, bins=2)
    assert list(report.per_class) == [2]
    assert report.per_class[2]["ece"] == pytest.approx((0.15 + 0.3) / 2)
    assert calibration(p[None], reference, classes=[2], bins=2).per_class == report.per_class
    assert calibration(p, reference, bins=2).per_class[1]["n"] == 4


@pytest.mark.parametrize(
    ("probabilities", "kwargs", "error", "match"),
    [
        (np.full((3, 4, 4), 2.0), {}, ValueError, "softmax"),
        (np.full((3, 4, 4), np.nan), {}, ValueError, "NaN"),
        (np.full((3, 4, 4), "a"), {}, TypeError, "probabilities"),
        (np.full((3, 4, 5), 0.5), {}, ValueError, "shape"),
        (np.full((2, 4, 4), 0.5), {}, ValueError, "label 2"),
        (np.full((3, 4, 4), 0.5), {"bins": 0}, ValueError, "bins"),
        (np.full((3, 4, 4), 0.5), {"bins": 10**12}, ValueError, "`bins` must be <= 10000"),
        (np.full((3, 4, 4), 0.5), {"classes": [3]}, ValueError, "classes"),
        (np.full((4, 4), 0.5), {"classes": [1, 2]}, ValueError, "one label id"),
        (np.full((3, 4, 4), 0.5), {"mask": np.ones((4, 5), bool)}, ValueError, "mask"),
    ],
)
def test_bad_input_names_the_argument(probabilities, kwargs, error, match):
    reference = np.zeros((4, 4), int)
    reference[0, 0] = 2
    with pytest.raises(error, match=match):
        calibration(probabilities, reference, **kwargs)


def test_empty_mask_gives_nan_rows_and_reports_are_json():
    report = calibration(np.array([0.3, 0.6]), np.array([0, 1]), mask=np.zeros(2, bool))
    assert report.per_class[1]["n"] == 0 and np.isnan(report.pooled["ece"])
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"pooled"' in text


def test_reliability_diagram_draws_each_curve(tmp_path):
    from matplotlib.figure import Figure

    p, reference = _softmax_case(2, (10, 10), 3)
    report = calibration(p, reference, bins=5)
    fig = reliability_diagram(report)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels[0] == "calibrated" and len(labels) == 5
    assert labels[-1] == f"pooled (ECE {report.pooled['ece']:.3f})"
    line = fig.axes[0].get_lines()[1]
    full = report.reliability[0].count > 0
    np.testing.assert_allclose(line.get_xdata(), report.reliability[0].confidence[full])
    fig.savefig(tmp_path / "reliability.png")
    assert (tmp_path / "reliability.png").stat().st_size > 1000
    ax = Figure().add_subplot()
    assert reliability_diagram(report, curves=["pooled"], ax=ax) is ax.figure
    assert len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="curves"):
        reliability_diagram(report, curves=[7])
