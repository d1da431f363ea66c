"""Rankings of several methods: challengeR's three schemes, significance and bootstrap stability."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from napari_segtools.core.cohort import holm_adjust, rank_methods


def _table(values: dict[str, list[float]], metric: str = "dice", label: int = 1):
    return [
        {"method": method, "name": f"c{i:02d}", "label": label, metric: value}
        for method, column in values.items()
        for i, value in enumerate(column)
    ]


def _ranks(ranking, scheme):
    return {r["method"]: r["rank"] for r in ranking.rows if r["scheme"] == scheme}


#: A is best on 7 of 8 cases but fails badly on one; B is steady; C is steady and worse
CATASTROPHE = {"A": [0.9] * 7 + [0.1], "B": [0.85] * 8, "C": [0.75] * 8}


def test_aggregate_and_rank_based_schemes_can_disagree():
    ranking = rank_methods(_table(CATASTROPHE), metric="dice", bootstrap_resamples=0)
    assert _ranks(ranking, "aggregate-then-rank") == {"B": 1, "A": 2, "C": 3}
    assert _ranks(ranking, "rank-then-aggregate") == {"A": 1, "B": 2, "C": 3}
    scores = {(r["scheme"], r["method"]): r["score"] for r in ranking.rows}
    assert scores[("aggregate-then-rank", "A")] == pytest.approx(0.8)
    assert scores[("rank-then-aggregate", "A")] == pytest.approx((7 * 1 + 3) / 8)
    assert scores[("rank-then-aggregate", "C")] == pytest.approx((7 * 3 + 2) / 8)
    assert ranking.stability == ()


@pytest.mark.parametrize(("metric", "alternative"), [("dice", "greater"), ("hd95", "less")])
def test_significance_matrix_equals_scipy_wilcoxon_with_holm(metric, alternative):
    rng = np.random.default_rng(5)
    base = rng.normal(0.0, 1.0, 20)
    values = {"a": base + 1.0, "b": base + 0.4 + rng.normal(0, 0.3, 20), "c": base}
    ranking = rank_methods(_table(values, metric), metric=metric, bootstrap_resamples=0)
    methods = ranking.significance["methods"]
    assert methods == ["a", "b", "c"]
    pairs = [(i, j) for i in range(3) for j in range(3) if i != j]
    raw = [
        stats.wilcoxon(values[methods[i]] - values[methods[j]], alternative=alternative).pvalue
        for i, j in pairs
    ]
    adjusted = holm_adjust(raw)
    matrix = np.array(ranking.significance["matrix"])
    for (i, j), p_raw, p_adj in zip(pairs, raw, adjusted, strict=True):
        assert ranking.significance["p"][i][j] == p_raw
        assert matrix[i, j] == p_adj
    assert np.isnan(np.diag(matrix)).all()
    significant = np.array(ranking.significance["significant"])
    better_first = metric == "dice"  # for hd95 the smallest values ("c") are best
    expected = {"a": 1, "b": 2, "c": 3} if better_first else {"c": 1, "b": 2, "a": 3}
    assert _ranks(ranking, "test-then-rank") == expected
    wins = {r["method"]: r["score"] for r in ranking.rows if r["scheme"] == "test-then-rank"}
    assert wins == {m: significant[methods.index(m)].sum() for m in methods}
    assert wins[min(expected, key=expected.get)] == 2


def test_ties_share_the_best_rank():
    values = {"a": [0.9, 0.8, 0.7], "b": [0.9, 0.8, 0.7], "c": [0.5, 0.4, 0.3]}
    ranking = rank_methods(_table(values), metric="dice", bootstrap_resamples=10, seed=0)
    for scheme in ("aggregate-then-rank", "rank-then-aggregate"):
        assert _ranks(ranking, scheme) == {"a": 1, "b": 1, "c": 3}
    # 3 cases: one-sided p >= 1/8, Holm over 6 pairs: nothing can be significant (warned)
    assert _ranks(ranking, "test-then-rank") == {"a": 1, "b": 1, "c": 1}
    assert any("no pair can be significant" in w for w in ranking.warnings)


def test_bootstrap_stability_equals_a_plain_loop_over_resamples():
    rng = np.random.default_rng(8)
    base = rng.beta(8, 2, 15)
    values = {"a": base + 0.02, "b": base + rng.normal(0.015, 0.02, 15), "c": base - 0.2}
    ranking = rank_methods(_table(values), metric="dice", bootstrap_resamples=40, seed=9)
    scores = np.column_stack([values[m] for m in ("a", "b", "c")])
    index = np.random.default_rng(9).integers(0, 15, size=(40, 15))
    loop = {"aggregate-then-rank": [], "rank-then-aggregate": [], "test-then-rank": []}
    for rows in index:
        sample = scores[rows]
        loop["aggregate-then-rank"].append(stats.rankdata(-sample.mean(0), method="min"))
        case_ranks = stats.rankdata(-sample, axis=1, method="min").mean(0)
        loop["rank-then-aggregate"].append(stats.rankdata(case_ranks, method="min"))
        p = [
            stats.wilcoxon(
                sample[:, i] - sample[:, j], alternative="greater", method="asymptotic"
            ).pvalue
            for i in range(3)
            for j in range(3)
            if i != j
        ]
        wins = (np.array(holm_adjust(p)) < 0.05).reshape(3, 2).sum(1)
        loop["test-then-rank"].append(stats.rankdata(-wins, method="min"))
    for row in ranking.stability:
        i = "abc".index(row["method"])
        ranks = np.array(loop[row["scheme"]])[:, i]
        assert row["rank_kept_fraction"] == np.mean(ranks == row["rank"])
        assert row["median_rank"] == np.median(ranks)
        assert (row["rank_p5"], row["rank_p95"]) == tuple(np.percentile(ranks, [5, 95]))
    kept = {(r["scheme"], r["method"]): r["rank_kept_fraction"] for r in ranking.stability}
    assert kept[("aggregate-then-rank", "c")] == 1.0  # far behind: always last
    assert kept[("aggregate-then-rank", "a")] < 1.0  # close to b: swaps in some resamples


def test_cases_missing_for_a_method_are_left_out_and_listed():
    rows = _table({"a": [0.9, 0.8, 0.85, 0.7], "b": [0.7, 0.75, float("nan"), 0.6]})
    rows = [r for r in rows if not (r["method"] == "b" and r["name"] == "c03")]
    ranking = rank_methods(rows, metric="dice", bootstrap_resamples=0)
    assert ranking.settings["cases_dropped"] == ["c02", "c03"]
    assert ranking.rows[0]["n_cases"] == 2
    assert any("2 case(s) without a defined dice" in w for w in ranking.warnings)


def test_errors_name_the_argument(tmp_path):
    rows = _table(CATASTROPHE) + _table({"A": [0.5], "B": [0.4]}, label=2)
    with pytest.raises(ValueError, match=r"`label` is required: the table has labels \[1, 2\]"):
        rank_methods(rows, metric="dice")
    with pytest.raises(
        ValueError, match=r"`label` 7 is not in the table; its labels are \[1, 2\]"
    ):
        rank_methods(rows, metric="dice", label=7)
    with pytest.raises(ValueError, match="'tp' has no known direction"):
        rank_methods(_table(CATASTROPHE, "tp"), metric="tp")
    with pytest.raises(ValueError, match="`metric` 'nsd' is not in the table"):
        rank_methods(rows, metric="nsd", label=1)
    with pytest.raises(TypeError, match="`metric` must be a metric column name"):
        rank_methods(rows, metric=np.zeros(3), label=1)
    with pytest.raises(TypeError, match="`label` must be an integer"):
        rank_methods(rows, metric="dice", label=np.zeros(3))
    with pytest.raises(TypeError, match="`schemes` must be a tuple"):
        rank_methods(rows, metric="dice", label=1, schemes=None)
    with pytest.raises(ValueError, match="`bootstrap_resamples` must be <= 100000"):
        rank_methods(rows, metric="dice", label=1, bootstrap_resamples=10**12)
    with pytest.raises(ValueError, match="at least two methods"):
        rank_methods(_table({"A": [0.5, 0.6]}), metric="dice")
    with pytest.raises(ValueError, match="`schemes` must be one of"):
        rank_methods(rows, metric="dice", label=1, schemes=("mean",))
    ranking = rank_methods(rows, metric="dice", label=1, bootstrap_resamples=20, seed=0)
    text = ranking.write_csv(tmp_path / "ranking.csv").read_text()
    assert "# significance: {" in text and '"methods": ["A", "B", "C"]' in text
    assert "scheme,method,rank,score,score_name,n_cases,rank_kept_fraction" in text
