"""Paired comparison of two methods: tests equal scipy's, Holm, Bland-Altman, influential cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from napari_segtools.core.cohort import compare_paired, holm_adjust


def _table(a: dict[str, float], b: dict[str, float], metric: str = "dice", label: int = 1):
    return [
        {"method": method, "name": name, "label": label, metric: value}
        for method, values in (("a", a), ("b", b))
        for name, value in values.items()
    ]


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


@pytest.fixture(scope="module")
def generated():
    rng = np.random.default_rng(42)
    a = rng.beta(9, 2, 25)
    b = np.clip(a - rng.normal(0.03, 0.05, 25), 0, 1)
    names = [f"c{i:02d}" for i in range(25)]
    return a, b, _table(dict(zip(names, a, strict=True)), dict(zip(names, b, strict=True)))


def test_wilcoxon_and_permutation_p_equal_scipy(generated):
    a, b, rows = generated
    row = compare_paired(rows, method_a="a", method_b="b", permutations=999, seed=3).rows[0]
    d = a - b
    wilcoxon = stats.wilcoxon(d)
    assert (row["wilcoxon_statistic"], row["wilcoxon_p"]) == (wilcoxon.statistic, wilcoxon.pvalue)
    perm = stats.permutation_test(
        (d,), _mean, permutation_type="samples", n_resamples=999, rng=np.random.default_rng(3)
    )
    assert row["permutation_p"] == perm.pvalue
    assert row["n"] == 25 and row["mean_difference"] == pytest.approx(d.mean(), abs=1e-15)
    assert row["median_difference"] == np.median(d) and row["sd_difference"] == np.std(d, ddof=1)
    assert row["cohens_dz"] == pytest.approx(d.mean() / np.std(d, ddof=1), rel=1e-12)


def test_exact_sign_flip_test_equals_the_two_sample_form():
    a = np.array([0.91, 0.85, 0.88, 0.79, 0.93, 0.81, 0.86, 0.90])
    b = np.array([0.89, 0.86, 0.84, 0.70, 0.90, 0.80, 0.80, 0.91])
    names = [f"c{i}" for i in range(8)]
    rows = _table(dict(zip(names, a, strict=True)), dict(zip(names, b, strict=True)))
    row = compare_paired(rows, method_a="a", method_b="b").rows[0]
    # 2**8 = 256 sign patterns <= 9999 permutations: exact, whatever the seed
    exact = stats.permutation_test(
        (a, b), lambda x, y, axis: np.mean(x - y, axis=axis), permutation_type="samples"
    )
    assert row["permutation_p"] == pytest.approx(exact.pvalue, rel=1e-12)
    assert row["wilcoxon_p"] == stats.wilcoxon(a, b).pvalue


def test_effect_size_is_the_rank_biserial_correlation():
    # differences 1, -2, 3, 4, 0: the zero is dropped, ranks of |d| 1..4, R+ = 8, R- = 2
    a = {f"c{i}": float(v) for i, v in enumerate([2, 1, 4, 5, 3])}
    b = {f"c{i}": float(v) for i, v in enumerate([1, 3, 1, 1, 3])}
    rows = _table(a, b, metric="hd")
    row = compare_paired(rows, method_a="a", method_b="b").rows[0]
    assert row["effect_size"] == pytest.approx(0.6)
    assert row["effect_size_name"] == "matched-pairs rank-biserial correlation"
    assert row["better"] == "b"  # a's distances are larger: b is better
    assert "no two-sided p can fall below 0.125" in row["warning"]


def test_holm_adjustment():
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm_adjust([0.02, np.nan, 0.01])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.02)
    assert np.isnan(adjusted[1])  # left out of the family: m = 2
    np.testing.assert_allclose(
        holm_adjust([[0.5, 0.01], [0.01, 0.02]]), [[0.5, 0.02], [0.02, 0.02]]
    )


def test_holm_across_metrics_and_labels(generated):
    a, b, rows = generated
    names = [r["name"] for r in rows if r["method"] == "a"]
    extra = _table(dict(zip(names, 1 - a, strict=True)), dict(zip(names, 1 - a, strict=True)))
    for r, e in zip(rows, extra, strict=True):
        r["nsd"] = e["dice"]  # identical in both methods: p = NaN, left out of the family
    rows2 = [dict(r, label=2, dice=r["dice"] * 0.9) for r in rows]
    result = compare_paired(rows + rows2, method_a="a", method_b="b", seed=0, permutations=99)
    assert [(r["metric"], r["label"]) for r in result.rows] == [
        ("dice", 1),
        ("dice", 2),
        ("nsd", 1),
        ("nsd", 2),
    ]
    raw = [r["wilcoxon_p"] for r in result.rows]
    expected = holm_adjust(raw)
    for row, p in zip(result.rows, expected, strict=True):
        assert row["p_holm"] == p or (math.isnan(p) and math.isnan(row["p_holm"]))
        assert row["significant"] == (p < 0.05)
    assert result.rows[0]["p_holm"] == pytest.approx(2 * min(raw[:2]))
    assert result.rows[0]["significant"] and result.rows[0]["better"] == "a"


def test_pairs_only_shared_defined_cases_and_says_so():
    a = {"c1": 0.9, "c2": 0.8, "c3": float("nan"), "c4": 0.7, "only_a": 0.5}
    b = {"c1": 0.85, "c2": 0.82, "c3": 0.6, "c4": 0.6, "only_b": 0.4}
    row = compare_paired(_table(a, b), method_a="a", method_b="b").rows[0]
    assert (row["n"], row["n_unpaired"], row["n_nan"]) == (3, 2, 1)
    assert row["mean_difference"] == pytest.approx((0.05 - 0.02 + 0.1) / 3)


def test_bland_altman_for_predicted_volumes():
    ref = {f"c{i}": 100.0 + i for i in range(6)}
    vol_a = {f"c{i}": 100.0 + i + d for i, d in enumerate([2, 4, 2, 4, 2, 4])}
    vol_b = dict(ref)
    rows = [
        {**r, "reference_volume": ref[r["name"]]}
        for r in _table(vol_a, vol_b, metric="prediction_volume")
    ]
    result = compare_paired(rows, method_a="a", method_b="b")
    (agreement,) = result.bland_altman  # reference_volume is shared: no row for it
    sd = np.std([2, 4, 2, 4, 2, 4], ddof=1)
    assert agreement["metric"] == "prediction_volume" and agreement["n"] == 6
    assert agreement["bias"] == pytest.approx(3.0) and agreement["sd"] == pytest.approx(sd)
    assert agreement["loa_low"] == pytest.approx(3 - 1.96 * sd)
    assert agreement["loa_high"] == pytest.approx(3 + 1.96 * sd)
    # volumes have no better direction: tested only when asked for
    assert result.rows == ()
    asked = compare_paired(rows, method_a="a", method_b="b", metrics=("prediction_volume",))
    assert asked.rows[0]["mean_difference"] == pytest.approx(3.0) and asked.rows[0]["better"] == ""


def test_the_case_that_moves_the_mean_difference_most_comes_first():
    diffs = [0.01, 0.02, -0.01, 0.0, 0.5]
    a = {f"c{i}": 0.5 + d for i, d in enumerate(diffs)}
    b = {f"c{i}": 0.5 for i in range(5)}
    influential = compare_paired(_table(a, b), method_a="a", method_b="b").influential
    first = influential[0]
    mean = np.mean(diffs)
    assert first["case"] == "c4" and first["difference"] == pytest.approx(0.5)
    assert first["shift"] == pytest.approx((0.5 - mean) / 4)
    assert first["mean_without"] == pytest.approx(np.mean(diffs[:4]))
    shifts = [abs(r["shift"]) for r in influential]
    assert shifts == sorted(shifts, reverse=True) and len(influential) == 5
    assert not first["flips_sign"]


def test_errors_name_the_argument(generated, tmp_path):
    _, _, rows = generated
    with pytest.raises(ValueError, match="`method_b` 'c' is not in the table; its methods are"):
        compare_paired(rows, method_a="a", method_b="c")
    with pytest.raises(TypeError, match="`method_a` must be a method name"):
        compare_paired(rows, method_a=np.zeros(3), method_b="b")
    with pytest.raises(ValueError, match="`permutations` must be <= 100000"):
        compare_paired(rows, method_a="a", method_b="b", permutations=10**12)
    with pytest.raises(ValueError, match="both 'a'"):
        compare_paired(rows, method_a="a", method_b="a")
    with pytest.raises(ValueError, match=r"`labels` \[3\] not in the table"):
        compare_paired(rows, method_a="a", method_b="b", labels=(3,))
    with pytest.raises(ValueError, match="`alpha` must lie in"):
        compare_paired(rows, method_a="a", method_b="b", alpha=0)
    result = compare_paired(rows, method_a="a", method_b="b", permutations=99, seed=1)
    path = result.write_csv(tmp_path / "paired.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "paired.csv",
        "paired_bland_altman.csv",
        "paired_influential.csv",
    ]
    text = path.read_text()
    assert '# difference: "method_a - method_b"' in text and "wilcoxon_p" in text
