"""Cohort tables and summaries: reading the evaluate verb's CSV, intervals equal to scipy's."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from napari_segtools.core.cohort import (
    MIN_N_MEAN_INTERVAL,
    MIN_N_MEDIAN_INTERVAL,
    higher_is_better,
    read_cohort_table,
    summarize,
)
from napari_segtools.core.cohort.summary import t_interval


def _rows(values_by_method: dict[str, list[float]], label: int = 1, metric: str = "dice"):
    return [
        {"method": method, "name": f"case{i:03d}", "label": label, metric: value, "error": ""}
        for method, values in values_by_method.items()
        for i, value in enumerate(values)
    ]


@pytest.fixture(scope="module")
def evaluate_csvs(tmp_path_factory):
    """CSVs written by the evaluate verb's own writer: one method, and two methods.

    Two cases and two labels each, and one failed case.
    """
    from napari_segtools._cli_evaluate import _write_outputs
    from napari_segtools.core.metrics import EMPTY_POLICIES, evaluate

    ref = np.zeros((12, 12), np.uint8)
    ref[2:6, 2:6] = 1
    ref[7:11, 7:11] = 2
    shifted = np.roll(ref, 1, axis=1)
    shifted[shifted == 2] = 0  # label 2 missed: its overlap scores are 0, distances NaN
    reports = {"same": evaluate(ref, ref, spacing=(1.0, 1.0))}
    reports["shifted"] = evaluate(ref, shifted, spacing=(1.0, 1.0))
    settings = {"software": "napari-segtools test", "hd_percentile": 95.0}
    settings["empty_policy"] = EMPTY_POLICIES["nan"]
    folder = tmp_path_factory.mktemp("cohort")
    paths = []
    for methods in ([""], ["atlas", "unet"]):
        results = []
        for method in methods:
            tag = {"method": method} if method else {}
            for name in ("same", "shifted", "broken"):
                files = {"reference": f"ref/{name}.nii.gz", "prediction": f"pred/{name}.nii.gz"}
                if name == "broken":
                    error = {"error": "no prediction file named like broken.nii.gz"}
                else:
                    error = {"error": "", "report": reports[name]}
                results.append({**tag, "name": name, **files, **error})
        out = folder / f"report{len(methods)}.csv"
        _write_outputs(results, settings, SimpleNamespace(out=out, json=None, images=None))
        paths.append(out)
    return paths


@pytest.fixture(scope="module")
def evaluate_csv(evaluate_csvs):
    return evaluate_csvs[0]


def test_reads_a_multi_method_csv(evaluate_csvs):
    table = read_cohort_table(evaluate_csvs[1])
    assert table.methods == ("atlas", "unet") and len(table.rows) == 8
    assert sorted(table.cases("unet", 2)) == ["same", "shifted"]
    assert [f["method"] for f in table.failed] == ["atlas", "unet"]
    assert table.rows[0]["prediction"].endswith("pred/same.nii.gz")  # paths kept as text
    summary = summarize(table, metrics=("dice",))
    assert [(r["method"], r["label"], r["n"]) for r in summary.rows] == [
        ("atlas", 1, 2),
        ("atlas", 2, 2),
        ("unet", 1, 2),
        ("unet", 2, 2),
    ]


def test_reads_the_evaluate_csv(evaluate_csv):
    table = read_cohort_table(evaluate_csv)
    assert table.settings["hd_percentile"] == 95.0
    assert table.settings["empty_policy"].startswith("nan:")
    assert table.methods == ("",) and table.labels == (1, 2)
    # the per-case "mean" rows and the "mean over cases" rows are left out
    assert sorted((r["name"], r["label"]) for r in table.rows) == [
        ("same", 1),
        ("same", 2),
        ("shifted", 1),
        ("shifted", 2),
    ]
    assert table.failed == (
        {"method": "", "name": "broken", "error": "no prediction file named like broken.nii.gz"},
    )
    assert {"dice", "hd95", "nsd", "tp", "reference_volume"} <= set(table.metrics)
    assert "case" not in table.metrics and "error" not in table.metrics
    shifted = table.cases(label=2)["shifted"]
    assert shifted["dice"] == 0.0 and math.isnan(shifted["hd95"])
    assert shifted["case"] == "prediction_empty"
    assert table.cases(label=1)["same"]["dice"] == 1.0


def test_summary_of_the_evaluate_csv_counts_nan_and_failures(evaluate_csv):
    summary = summarize(evaluate_csv, metrics=("dice", "hd95"))
    by_key = {(r["label"], r["metric"]): r for r in summary.rows}
    assert by_key[(2, "hd95")]["n"] == 1 and by_key[(2, "hd95")]["n_nan"] == 1
    assert by_key[(2, "dice")]["n"] == 2 and by_key[(2, "dice")]["mean"] == 0.5
    assert any("broken" in w and "failed" in w for w in summary.warnings)
    assert summary.settings["empty_policy"].startswith("nan:")


def test_pandas_rows_and_csv_give_the_same_table(evaluate_csv):
    pd = pytest.importorskip("pandas")
    from_csv = read_cohort_table(evaluate_csv)
    frame = pd.read_csv(evaluate_csv, comment="#")
    from_frame = read_cohort_table(frame)
    from_rows = read_cohort_table(frame.to_dict(orient="records"))
    for other in (from_frame, from_rows):
        assert other.metrics == from_csv.metrics and other.labels == from_csv.labels
        for a, b in zip(from_csv.rows, other.rows, strict=True):
            assert all(
                a[m] == b[m] or (math.isnan(a[m]) and math.isnan(b[m]))
                for m in a
                if m in from_csv.metrics
            )


def test_table_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="lacks the column.*label"):
        read_cohort_table([{"name": "a", "dice": 1.0}])
    with pytest.raises(ValueError, match="appears twice"):
        read_cohort_table([{"name": "a", "label": 1}, {"name": "a", "label": 1.0}])
    with pytest.raises(ValueError, match="label must be an integer"):
        read_cohort_table([{"name": "a", "label": "1.5"}])
    with pytest.raises(TypeError, match="`table` must be"):
        read_cohort_table(42)
    with pytest.raises(FileNotFoundError, match="no_such.csv") as missing:
        read_cohort_table(tmp_path / "no_such.csv")
    assert isinstance(missing.value, ValueError)  # a bad `table` argument too
    table = read_cohort_table(_rows({"a": [0.5], "b": [0.6]}) + _rows({"a": [0.7]}, label=2))
    with pytest.raises(ValueError, match="`label` is required"):
        table.cases("a")
    with pytest.raises(ValueError, match="`method` 'c' is not in the table"):
        table.cases("c", 1)
    # a text column (file paths) is kept as text, not read as a metric
    table = read_cohort_table([{"name": "a", "label": 1, "prediction": "/p/a.nii", "dice": "1"}])
    assert table.metrics == ("dice",) and table.rows[0]["prediction"] == "/p/a.nii"


def test_direction_of_metrics():
    assert higher_is_better("dice") and higher_is_better("nsd") and higher_is_better("cldice")
    assert not higher_is_better("hd") and not higher_is_better("hd90")
    assert not higher_is_better("assd") and not higher_is_better("center_distance")
    with pytest.raises(ValueError, match="'reference_volume' has no known direction"):
        higher_is_better("reference_volume")


def test_t_interval_and_statistics_equal_scipy_and_numpy():
    rng = np.random.default_rng(7)
    values = {m: list(rng.beta(8, 2, n)) for m, n in (("a", 12), ("b", 40), ("c", 3))}
    values["a"][3] = float("nan")
    summary = summarize(_rows(values), confidence=0.9)
    assert [r["method"] for r in summary.rows] == ["a", "b", "c"]
    for row in summary.rows:
        x = np.array(values[row["method"]])
        x = x[np.isfinite(x)]
        low, high = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert (row["ci_low"], row["ci_high"]) == (low, high)
        assert row["n"] == len(x) and row["n_nan"] == (1 if row["method"] == "a" else 0)
        assert row["mean"] == x.mean() and row["sd"] == np.std(x, ddof=1)
        assert (row["q1"], row["median"], row["q3"]) == tuple(np.percentile(x, [25, 50, 75]))
        assert row["iqr"] == row["q3"] - row["q1"] and row["ci_method"] == "t"
        assert (f"< {MIN_N_MEAN_INTERVAL}" in row["warning"]) == (len(x) < MIN_N_MEAN_INTERVAL)


def test_bca_and_median_intervals_equal_scipy_bootstrap_with_the_same_seed():
    rng = np.random.default_rng(11)
    x = rng.lognormal(1.0, 0.6, 25)
    row = summarize(
        _rows({"m": list(x)}, metric="hd95"), interval="bca", bootstrap_resamples=999, seed=5
    ).rows[0]
    mean_ci = stats.bootstrap(
        (x,), np.mean, n_resamples=999, method="BCa", rng=np.random.default_rng(5)
    ).confidence_interval
    median_ci = stats.bootstrap(
        (x,), np.median, n_resamples=999, method="percentile", rng=np.random.default_rng(5)
    ).confidence_interval
    assert row["ci_method"] == "bca"
    assert (row["ci_low"], row["ci_high"]) == (mean_ci.low, mean_ci.high)
    assert (row["median_ci_low"], row["median_ci_high"]) == (median_ci.low, median_ci.high)
    assert row["median_ci_low"] < row["median"] < row["median_ci_high"]


def test_no_median_interval_below_the_stated_minimum():
    x = list(np.linspace(0.6, 0.95, MIN_N_MEDIAN_INTERVAL - 1))
    row = summarize(_rows({"m": x}), bootstrap_resamples=199, seed=0).rows[0]
    assert math.isnan(row["median_ci_low"]) and math.isnan(row["median_ci_high"])
    assert f"< {MIN_N_MEDIAN_INTERVAL}: no interval of the median" in row["warning"]
    row = summarize(_rows({"m": [*x, 0.97]}), bootstrap_resamples=199, seed=0).rows[0]
    assert row["median_ci_low"] <= row["median"] <= row["median_ci_high"]


def test_coverage_of_the_mean_interval_is_95_percent_over_2000_draws():
    rng = np.random.default_rng(2024)
    draws = rng.normal(0.8, 0.1, size=(2000, 15))
    low, high = t_interval(draws, 0.95)
    covered = np.mean((low <= 0.8) & (high >= 0.8))
    assert abs(covered - 0.95) < 0.015  # 3 binomial standard errors at 2,000 draws
    # the same interval as summarize's, draw by draw
    rows = summarize(_rows({f"d{i}": list(draws[i]) for i in range(3)})).rows
    assert [(r["ci_low"], r["ci_high"]) for r in rows] == list(zip(low[:3], high[:3], strict=True))


def test_the_small_n_warning_is_needed_for_skewed_metrics():
    """Dice with 10 % failed cases: the t interval covers far less than 95 % at 10 cases."""
    rng = np.random.default_rng(3)
    good = rng.beta(12, 1.5, size=(2000, 10))
    failed = rng.random((2000, 10)) < 0.1
    draws = np.where(failed, rng.uniform(0, 0.3, size=(2000, 10)), good)
    true_mean = 0.9 * 12 / 13.5 + 0.1 * 0.15
    low, high = t_interval(draws, 0.95)
    assert np.mean((low <= true_mean) & (true_mean <= high)) < 0.85


def test_degenerate_groups_say_why_there_is_no_interval():
    rows = summarize(_rows({"one": [0.9], "equal": [1.0] * 5, "none": [float("nan")] * 2}))
    by_method = {r["method"]: r for r in rows.rows}
    assert by_method["one"]["warning"] == "one value: no SD and no interval"
    assert by_method["equal"]["warning"] == "all 5 values equal: no interval (zero spread)"
    assert by_method["equal"]["sd"] == 0.0 and math.isnan(by_method["equal"]["ci_low"])
    assert by_method["none"]["n"] == 0 and by_method["none"]["n_nan"] == 2
    assert by_method["none"]["warning"] == "no defined values"
    assert any(w.startswith("method none, label 1, dice:") for w in rows.warnings)


def test_pooling_over_labels_is_warned():
    rows = _rows({"a": [0.5, 0.6, 0.7]}) + _rows({"a": [0.1, 0.2]}, label=2)
    summary = summarize(rows, by=("method",))
    assert [(r["label"], r["n"]) for r in summary.rows] == [("all", 5)]
    assert any("2 labels pooled" in w for w in summary.warnings)


def test_bad_options_are_named():
    rows = _rows({"a": [0.5, 0.6]})
    with pytest.raises(ValueError, match="`by` must be one of"):
        summarize(rows, by=("case",))
    with pytest.raises(ValueError, match=r"`metrics` \['hd'\] not in the table"):
        summarize(rows, metrics=("hd",))
    with pytest.raises(ValueError, match="`confidence` must lie in"):
        summarize(rows, confidence=1.0)
    with pytest.raises(ValueError, match="`interval` must be one of t, bca"):
        summarize(rows, interval="normal")
    with pytest.raises(ValueError, match="`bootstrap_resamples` must be >= 1"):
        summarize(rows, bootstrap_resamples=0)
    with pytest.raises(ValueError, match="`bootstrap_resamples` must be <= 100000"):
        summarize(rows, bootstrap_resamples=10**12)
    with pytest.raises(TypeError, match="`metrics` must be a tuple of metric columns"):
        summarize(rows, metrics=1.5)


def test_write_csv_has_the_settings_header_and_is_atomic(tmp_path):
    pd = pytest.importorskip("pandas")
    summary = summarize(_rows({"a": [0.5, 0.6, 0.8], "b": [0.4, 0.4, 0.9]}))
    path = summary.write_csv(tmp_path / "summary.csv")
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert header[0].startswith('# software: "napari-segtools ')
    assert any(line.startswith("# small_n_rules:") for line in header)
    frame = pd.read_csv(path, comment="#")
    assert list(frame["method"]) == ["a", "b"] and list(frame["n"]) == [3, 3]
    np.testing.assert_allclose(frame["ci_high"], [r["ci_high"] for r in summary.rows])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        summary.write_csv(tmp_path / "missing" / "summary.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.csv"]
