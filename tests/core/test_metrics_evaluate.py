"""evaluate(): multi-label report, units, empty policy, means, settings, export, accumulation."""

import csv
import json

import numpy as np
import pytest

from napari_segtools import metrics as M
from napari_segtools.core._types import Progress, run_to_completion


def two_labels():
    ref = np.zeros((12, 16, 16), np.uint8)
    ref[2:8, 2:8, 2:8] = 1
    ref[3:9, 9:14, 9:14] = 2
    pred = np.zeros_like(ref)
    pred[2:8, 2:8, 3:9] = 1  # label 1 shifted by one voxel along x
    pred[3:9, 9:14, 9:14] = 2  # label 2 perfect
    return ref, pred


def test_per_label_values_match_plain_functions():
    ref, pred = two_labels()
    spacing = (2.0, 0.5, 0.5)
    report = M.evaluate(ref, pred, spacing=spacing, nsd_tolerance_mm=0.4, hd_percentile=90)
    assert list(report.per_label) == [1, 2]
    assert set(report.per_label[1]) == set(M.metric_names(hd_percentile=90))
    assert "hd95" not in report.per_label[1] and report.hd_key == "hd90"
    r1, p1 = ref == 1, pred == 1
    one = report.per_label[1]
    assert one["dice"] == pytest.approx(M.dice(r1, p1)) == pytest.approx(5 / 6)
    assert one["hd"] == pytest.approx(0.5)
    assert one["hd90"] == pytest.approx(
        M.hausdorff_distance(r1, p1, spacing=spacing, percentile=90)
    )
    assert one["nsd"] == pytest.approx(
        M.normalized_surface_distance(r1, p1, spacing=spacing, tolerance_mm=0.4)
    )
    assert one["assd"] == pytest.approx(
        M.average_symmetric_surface_distance(r1, p1, spacing=spacing)
    )
    assert one["masd"] == pytest.approx(M.mean_average_surface_distance(r1, p1, spacing=spacing))
    assert one["center_distance"] == pytest.approx(0.5)
    assert one["reference_volume"] == pytest.approx(216 * 0.5)  # 6^3 voxels of 0.5 mm^3
    assert (one["tp"], one["fp"], one["fn"]) == (180, 36, 36)
    assert one["tn"] == ref.size - 252
    assert one["cldice"] == pytest.approx(M.cldice(r1, p1), nan_ok=True)
    two = report.per_label[2]
    assert two["dice"] == 1.0 and two["hd"] == 0.0 and two["nsd"] == 1.0
    assert report.mean["dice"] == pytest.approx((5 / 6 + 1) / 2)
    assert report.not_nan_count["dice"] == 2
    assert report.cases == {1: "ok", 2: "ok"}


def test_units_and_settings():
    ref, pred = two_labels()
    report = M.evaluate(ref, pred, spacing=None, surface="surfel", empty="worst", beta=2)
    assert report.units["hd"] == "voxel" and report.units["reference_volume"] == "voxel^3"
    assert report.units["hd95"] == "voxel" and report.settings["distance_unit"] == "voxel"
    assert "voxel units" in report.settings["units_note"]
    assert report.units["dice"] == ""
    assert "mm" not in json.dumps(report.units)
    s = report.settings
    assert s["surface"] == "surfel" and "surface-distance" in s["surface_convention"]
    assert s["empty"] == "worst" and s["beta"] == 2 and s["spacing"] is None
    assert s["pitfall_thresholds"]["bias_ratio"] == 0.2
    mm = M.evaluate(ref[0], pred[0] * 0, spacing=(0.5, 0.5), labels=[1])
    assert mm.units["hd"] == "mm" and mm.units["prediction_volume"] == "mm^2"
    assert "units_note" not in mm.settings


def test_empty_policies_and_both_empty():
    ref, pred = two_labels()
    pred[pred == 2] = 0  # label 2 missed
    nan = M.evaluate(ref, pred, spacing=(1, 1, 1), labels=[1, 2, 3])
    assert nan.cases == {1: "ok", 2: "prediction_empty", 3: "both_empty"}
    assert nan.per_label[2]["dice"] == 0.0 and np.isnan(nan.per_label[2]["hd"])
    assert np.isnan(nan.per_label[3]["dice"])
    assert nan.not_nan_count["hd"] == 1 and nan.not_nan_count["dice"] == 2
    assert nan.mean["hd"] == nan.per_label[1]["hd"]
    worst = M.evaluate(ref, pred, spacing=(1, 1, 1), labels=[1, 2, 3], empty="worst")
    diagonal = np.sqrt(12**2 + 16**2 + 16**2)
    assert worst.per_label[2]["hd"] == pytest.approx(diagonal)
    assert worst.per_label[2]["precision"] == 0.0 and worst.per_label[2]["cldice"] == 0.0
    assert np.isnan(worst.per_label[3]["hd"])  # both empty stays undefined
    # a missed structure must never improve the mean (MONAI #9095)
    assert worst.mean["hd"] > worst.per_label[1]["hd"]
    assert worst.mean["dice"] < worst.per_label[1]["dice"]
    pitfalls = {(w.label, w.pitfall) for w in nan.warnings}
    assert (2, "empty_prediction") in pitfalls and (3, "empty_reference") in pitfalls


def test_reference_empty_is_reported():
    ref, pred = two_labels()
    report = M.evaluate(ref * 0, pred, spacing=(1, 1, 1))
    assert set(report.cases.values()) == {"reference_empty"}
    assert report.per_label[1]["dice"] == 0.0 and np.isnan(report.per_label[1]["recall"])
    assert [w.severity for w in report.warnings] == ["critical", "critical"]


def test_labels_default_and_bool_input():
    ref, pred = two_labels()
    assert list(M.evaluate(ref, pred, spacing=None).per_label) == [1, 2]
    report = M.evaluate(ref == 1, pred == 1, spacing=None)
    assert list(report.per_label) == [1]
    assert report.per_label[1]["dice"] == pytest.approx(5 / 6)
    assert M.evaluate(np.zeros((4, 4)), np.zeros((4, 4)), spacing=None).per_label == {}


def test_iter_evaluate_yields_progress_per_label():
    ref, pred = two_labels()
    events = []
    gen = M.iter_evaluate(ref, pred, spacing=(1, 1, 1))
    report = run_to_completion(_record(gen, events))
    assert isinstance(report, M.EvaluationReport)
    assert all(isinstance(e, Progress) for e in events)
    assert sorted({e.step for e in events}) == [0, 1, 2]  # per label, then done
    # within a label the expensive stages are announced, so a cancel waits for one stage only
    assert [e.message for e in events if e.step == 0] == [
        "label 1",
        "label 1: surface distances",
        "label 1: clDice",
    ]


def _record(gen, events):
    event = next(gen)
    while True:
        events.append(event)
        yield event
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value


def test_export_rows_csv_json(tmp_path):
    ref, pred = two_labels()
    report = M.evaluate(ref, pred, spacing=(2.0, 0.5, 0.5), labels=[1, 2, 4])
    rows = report.to_rows()
    assert [r["label"] for r in rows] == [1, 2, 4, "mean", "pooled", "overall"]
    assert rows[3]["dice"] == report.mean["dice"]
    assert rows[4]["dice"] == report.pooled["dice"] and "hd" not in rows[4]
    assert set(rows[5]) == {"label", "case", "pixel_accuracy", "cohen_kappa"}
    path = report.to_csv(tmp_path / "r.csv", metadata={"reference_layer": "ref"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '# reference_layer: "ref"'
    assert any(line.startswith("# surface_convention:") for line in lines)
    table = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert float(table[0]["hd"]) == pytest.approx(report.per_label[1]["hd"])
    assert table[2]["case"] == "both_empty" and table[2]["hd"] == "nan"
    assert table[0]["pixel_accuracy"] == "" and table[4]["hd"] == ""  # not applicable: blank
    assert float(table[5]["cohen_kappa"]) == pytest.approx(report.overall["cohen_kappa"])
    assert any(line.startswith('# hd_variant: "directed_max"') for line in lines)
    assert any(line.startswith("# aggregation:") and "unweighted" in line for line in lines)
    data = json.loads(
        report.to_json(tmp_path / "r.json", metadata={"prediction_layer": "p"}).read_text(
            encoding="utf-8"
        )
    )
    assert data["metadata"] == {"prediction_layer": "p"}
    assert data["settings"]["labels"] == [1, 2, 4] and data["units"]["hd"] == "mm"
    assert data["rows"][2]["hd"] is None  # NaN -> null
    assert {w["pitfall"] for w in data["warnings"]} >= {"empty_reference"}


def test_accumulator_means_over_cases():
    ref, pred = two_labels()
    acc = M.MetricAccumulator()
    acc.append(M.evaluate(ref, pred, spacing=(1, 1, 1)))
    acc.append(M.evaluate(ref, ref, spacing=(1, 1, 1)))
    values, counts = acc.aggregate()
    assert values[1]["dice"] == pytest.approx((5 / 6 + 1) / 2) and counts[1]["dice"] == 2
    assert acc.aggregate("max")[0][1]["hd"] == 1.0
    acc.reset()
    assert len(acc) == 0
    with pytest.raises(ValueError, match="`reduction`"):
        acc.aggregate("sum")
    with pytest.raises(TypeError, match="EvaluationReport"):
        acc.append({})


def test_option_errors():
    ref, pred = two_labels()
    with pytest.raises(ValueError, match="`surface` must be one of"):
        M.evaluate(ref, pred, spacing=None, surface="mesh")
    with pytest.raises(ValueError, match="`labels` must be positive"):
        M.evaluate(ref, pred, spacing=None, labels=[0])
    with pytest.raises(ValueError, match="`hd_percentile`"):
        M.evaluate(ref, pred, spacing=None, hd_percentile=120)
    with pytest.raises(ValueError, match="`nsd_tolerance_mm`"):
        M.evaluate(ref, pred, spacing=None, nsd_tolerance_mm=-1)
    with pytest.raises(TypeError, match="unknown keyword.*holes_ratio"):
        M.evaluate(ref, pred, spacing=None, holes_ratio=2)
    with pytest.raises(ValueError, match="`reference` has shape"):
        M.evaluate(ref, pred[0], spacing=None)


def test_options_are_keyword_only_and_spacing_is_required():
    ref, pred = two_labels()
    with pytest.raises(TypeError, match="positional"):
        M.evaluate(ref[0], ref[0], (1, 1), None, 2.0)
    with pytest.raises(TypeError, match="spacing"):
        M.evaluate(ref, pred)
    with pytest.raises(TypeError, match="spacing"):
        M.iter_evaluate(ref, pred)
    with pytest.raises(TypeError, match="spacing"):
        M.hausdorff_distance(ref, pred)
    with pytest.raises(TypeError, match="spacing"):
        M.center_distance(ref, pred)


@pytest.mark.parametrize("percentile, key", [(95, "hd95"), (90, "hd90"), (99.5, "hd99_5")])
def test_robust_hausdorff_is_named_for_its_percentile(percentile, key, tmp_path):
    ref, pred = two_labels()
    report = M.evaluate(ref, pred, spacing=(1, 1, 1), hd_percentile=percentile, cldice=False)
    assert report.hd_key == key == M.hd_key(percentile) == report.settings["hd_key"]
    assert key in report.per_label[1] and key in report.mean and key in report.units
    assert [k for k in report.per_label[1] if k.startswith("hd")] == ["hd", key]
    assert report.metric_names == M.metric_names(hd_percentile=percentile)
    expected = M.hausdorff_distance(ref == 1, pred == 1, spacing=(1, 1, 1), percentile=percentile)
    assert report.per_label[1][key] == pytest.approx(expected)
    header = [
        line
        for line in M.write_report(report, tmp_path / "r.csv")
        .read_text(encoding="utf-8")
        .splitlines()
        if line.startswith("label,")
    ][0].split(",")
    assert key in header and [h for h in header if h.startswith("hd")] == ["hd", key]
    rows = json.loads(M.write_report(report, tmp_path / "r.json").read_text(encoding="utf-8"))[
        "rows"
    ]
    assert key in rows[0] and ("hd95" in rows[0]) == (percentile == 95)


def test_deprecated_nsd_tolerance_warns_and_gives_equal_results():
    ref, pred = two_labels()
    new = M.evaluate(ref, pred, spacing=(2, 1, 1), nsd_tolerance_mm=0.7, cldice=False)
    with pytest.warns(FutureWarning, match="nsd_tolerance_mm"):
        old = M.evaluate(ref, pred, spacing=(2, 1, 1), nsd_tolerance=0.7, cldice=False)
    np.testing.assert_equal(old.per_label, new.per_label)
    assert old.settings == new.settings
    with pytest.warns(FutureWarning):
        gen = M.iter_evaluate(ref, pred, spacing=(2, 1, 1), nsd_tolerance=0.7, cldice=False)
    np.testing.assert_equal(run_to_completion(gen).per_label, new.per_label)


def test_accumulator_keeps_each_percentile_column():
    ref, pred = two_labels()
    acc = M.MetricAccumulator()
    acc.append(M.evaluate(ref, pred, spacing=(1, 1, 1), cldice=False))
    acc.append(M.evaluate(ref, pred, spacing=(1, 1, 1), hd_percentile=90, cldice=False))
    values, counts = acc.aggregate()
    assert counts[1]["hd95"] == 1 and counts[1]["hd90"] == 1 and counts[1]["hd"] == 2


# ---- nothing silent, nothing lost (issue 12) ---------------------------------------------
def test_report_writes_say_why_and_leave_nothing_behind(tmp_path):
    from napari_segtools.core.metrics.report import write_report

    ref = np.zeros((6, 6), np.uint8)
    ref[1:4, 1:4] = 1
    report = M.evaluate(ref, ref, spacing=(1, 1))
    for suffix in (".csv", ".json"):
        missing = tmp_path / "missing" / f"r{suffix}"
        with pytest.raises(FileNotFoundError, match="does not exist") as info:
            write_report(report, missing)
        assert str(missing) in str(info.value)
        folder = tmp_path / f"folder{suffix}"
        folder.mkdir()
        with pytest.raises(IsADirectoryError, match="is a folder"):
            write_report(report, folder)
        kept = tmp_path / f"kept{suffix}"
        kept.write_text("old", encoding="utf-8")
        write_report(report, kept)
        assert kept.read_text(encoding="utf-8") != "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder.csv", "folder.json", "kept.csv", "kept.json"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("dtype", "big"), [(np.int32, 2**31 - 1), (np.uint64, 2**64 - 1)], ids=["int32", "uint64"]
)
def test_workflow_cost_follows_the_labels_present_not_their_size(dtype, big):
    import tracemalloc

    from napari_segtools.core._types import run_to_completion
    from napari_segtools.core.metrics.maps import error_map, present_labels
    from napari_segtools.core.metrics.workflow import EvaluationInputs, iter_evaluation

    ref = np.zeros((12, 12, 12), dtype)
    ref[2:8, 2:8, 2:8] = big
    ref[9:11, 9:11, 9:11] = 1
    pred = np.roll(ref, 1, axis=0)
    tracemalloc.start()
    try:
        result = run_to_completion(iter_evaluation(EvaluationInputs(ref, pred, (1.0, 1.0, 1.0))))
        many = error_map(ref, pred, labels=[big, 1, *range(2, 40)])  # the sorting path
        found = present_labels(ref, pred)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, peak  # a 12^3 case: no array indexed by label id
    assert found == [1, big] and list(result.report.per_label) == [1, big]
    assert result.overlay.label == 1
    errors = error_map(ref, pred, labels=[big])
    assert errors[3, 3, 3] == 1 and errors[2, 3, 3] == 3 and errors[8, 3, 3] == 2
    assert errors[9, 9, 9] == 0  # label 1 not asked for
    np.testing.assert_array_equal(many, error_map(ref, pred))
    overlay = run_to_completion(
        iter_evaluation(EvaluationInputs(ref, pred, None), overlay_label=big)
    ).overlay
    assert overlay.label == big and overlay.hd == result.report.per_label[big]["hd"]


@pytest.mark.parametrize("surface", ["voxel", "surfel"])
def test_hd_variant_is_chosen_named_and_written(surface, tmp_path):
    ref, pred = two_labels()
    # 12 stray voxels far from label 1: 7 % of its prediction surface (in the directed 95th
    # percentile) but under 5 % of both surfaces pooled
    pred[10:12, 13:16, 0:2] = 1
    spacing = (2.0, 0.5, 0.7)
    reports = {
        variant: M.evaluate(
            ref, pred, spacing=spacing, hd_variant=variant, surface=surface, cldice=False
        )
        for variant in ("directed_max", "pooled")
    }
    for variant, report in reports.items():
        expected = M.hausdorff_distance(
            ref == 1, pred == 1, spacing=spacing, percentile=95, variant=variant, surface=surface
        )
        assert report.per_label[1]["hd95"] == pytest.approx(expected)
        assert report.settings["hd_variant"] == variant
        assert report.settings["hd_variant_definition"].startswith(f"{variant}:")
        header = M.write_report(report, tmp_path / f"{variant}.csv").read_text(encoding="utf-8")
        assert f'# hd_variant: "{variant}"' in header
    directed, pooled = reports["directed_max"].per_label[1], reports["pooled"].per_label[1]
    assert pooled["hd95"] < directed["hd95"] and pooled["hd"] == directed["hd"]
    with pytest.raises(ValueError, match="`hd_variant` must be one of"):
        M.evaluate(ref, pred, spacing=spacing, hd_variant="medpy")
