"""Rank several methods on one metric, as challengeR does, with bootstrap rank stability.

The three schemes of Wiesenfarth et al. (Sci. Rep. 2021, challengeR):

* **aggregate-then-rank**: the mean over cases of each method, ranked;
* **rank-then-aggregate**: the methods ranked within each case, the mean rank ranked;
* **test-then-rank**: a one-sided Wilcoxon signed-rank test of each ordered pair of methods
  (is the row method better than the column method?), Holm-adjusted over all k(k-1) pairs;
  a method's score is the number of methods it beats significantly, ranked.

Ties share the best of their ranks (``"min"``, challengeR's default). Rank stability: the
cases are resampled with replacement and every scheme ranks each resample again.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validate import check_choice, check_integer, check_number
from .paired import holm_adjust
from .summary import NAN_RULE
from .table import (
    MAX_RESAMPLES,
    TableInput,
    check_name,
    higher_is_better,
    read_cohort_table,
    software,
    write_rows_csv,
)

SCHEMES = ("aggregate-then-rank", "rank-then-aggregate", "test-then-rank")
_SCORES = {
    "aggregate-then-rank": "mean over cases",
    "rank-then-aggregate": "mean rank within cases",
    "test-then-rank": "methods beaten significantly",
}
_COLUMNS = (
    "scheme",
    "method",
    "rank",
    "score",
    "score_name",
    "n_cases",
    "rank_kept_fraction",
    "median_rank",
    "rank_p5",
    "rank_p95",
)


@dataclass(frozen=True)
class Ranking:
    """Rankings of several methods on one metric, their bootstrap stability and significance.

    Attributes
    ----------
    rows : tuple of dict
        Per scheme x method: ``scheme``, ``method``, ``rank`` (1 = best, ties share the best
        rank), ``score`` (mean value, mean rank, or significant wins), ``score_name`` and
        ``n_cases``.
    stability : tuple of dict
        Per scheme x method: ``rank`` on all cases, ``rank_kept_fraction`` (share of the
        bootstrap resamples giving the same rank), ``median_rank``, ``rank_p5`` and
        ``rank_p95`` (5th and 95th percentiles of the bootstrap ranks).
    significance : dict
        ``methods`` (order of rows and columns), ``matrix`` (Holm-adjusted one-sided Wilcoxon
        p that the row method is better than the column method, NaN on the diagonal), ``p``
        (unadjusted), ``significant`` (``matrix < alpha``), ``alpha`` and ``test``.
    settings : dict
        Metric, direction, label, cases used and dropped, and every rule.
    warnings : tuple of str
        Dropped cases and small-sample limits.

    Examples
    --------
    >>> rows = [{"method": m, "name": f"c{i}", "label": 1, "dice": d - i / 50}
    ...         for i in range(8) for m, d in (("a", 0.9), ("b", 0.8), ("c", 0.85))]
    >>> ranking = rank_methods(rows, metric="dice", bootstrap_resamples=50, seed=0)
    >>> [(r["method"], r["rank"]) for r in ranking.rows if r["scheme"] == "test-then-rank"]
    [('a', 1), ('c', 2), ('b', 3)]
    """

    rows: tuple[dict, ...]
    stability: tuple[dict, ...] = ()
    significance: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write rankings and stability as one CSV (significance in the header); return it.

        The file is written whole or not at all; an unwritable path raises the ``OSError``
        subclass that names it.
        """
        stable = {(s["scheme"], s["method"]): s for s in self.stability}
        rows = [row | stable.get((row["scheme"], row["method"]), {}) for row in self.rows]
        header = self.settings | {"significance": self.significance}
        return write_rows_csv(path, rows, header, _COLUMNS)


def rank_methods(
    table: TableInput,
    *,
    metric: str,
    label: int | None = None,
    schemes: tuple[str, ...] = SCHEMES,
    bootstrap_resamples: int = 1000,
    seed: int | None = None,
    alpha: float = 0.05,
) -> Ranking:
    """Rank methods on one metric by challengeR's three schemes, with bootstrap stability.

    Parameters
    ----------
    table : str, os.PathLike, sequence of Mapping, DataFrame or CohortTable
        Per-case metric table with a ``method`` column (see :func:`read_cohort_table`).
    metric : str
        Metric column to rank on; its direction comes from :func:`higher_is_better`.
    label : int, optional
        Label to rank on; may be left out when the table has a single label.
    schemes : tuple of str
        Any of ``"aggregate-then-rank"``, ``"rank-then-aggregate"``, ``"test-then-rank"``.
    bootstrap_resamples : int
        Resamples of the cases for rank stability, 0 (none) to 100000.
    seed : int, optional
        Seed of the case resampling (``numpy.random.default_rng(seed)``).
    alpha : float
        Family-wise error rate of the significance matrix and of test-then-rank.

    Returns
    -------
    Ranking
        Ranks, bootstrap stability and the significance matrix.

    Raises
    ------
    ValueError
        For fewer than two methods, a metric with no direction or not in the table, a
        missing or unknown label, an unknown scheme, or no case with a value for every
        method.

    Notes
    -----
    Only cases with a defined value for every method are used (the intersection; the others
    are listed in the warnings), so every method is ranked on the same cases. On all cases
    the Wilcoxon p-values are ``scipy.stats.wilcoxon``'s defaults (exact without ties);
    resampled cases repeat, so bootstrap tests use the normal approximation with tie
    correction, as R's ``wilcox.test`` does for challengeR.

    Examples
    --------
    >>> rows = [{"method": m, "name": f"c{i}", "label": 1, "hd95": h + i}
    ...         for i in range(6) for m, h in (("a", 3.0), ("b", 2.0))]
    >>> ranking = rank_methods(rows, metric="hd95", bootstrap_resamples=20, seed=0)
    >>> [(r["scheme"], r["method"], r["rank"]) for r in ranking.rows][:2]
    [('aggregate-then-rank', 'b', 1), ('aggregate-then-rank', 'a', 2)]
    """
    data = read_cohort_table(table)
    methods = tuple(m for m in data.methods if m)
    if len(methods) < 2:
        raise ValueError(
            f"`table` must hold at least two methods (a `method` column); it has {methods}"
        )
    metric = check_name(metric, "metric", data.metrics, "metric column")
    higher = higher_is_better(metric)
    if label is None and len(data.labels) > 1:
        raise ValueError(f"`label` is required: the table has labels {list(data.labels)}")
    label = data.labels[0] if label is None else check_integer(label, "label", minimum=0)
    if label not in data.labels:
        raise ValueError(
            f"`label` {label!r} is not in the table; its labels are {list(data.labels)}"
        )
    if isinstance(schemes, str):
        schemes = (schemes,)
    if not isinstance(schemes, (list, tuple)):
        raise TypeError(f"`schemes` must be a tuple of {', '.join(SCHEMES)}; got {schemes!r:.80}")
    schemes = tuple(check_choice(s, "schemes", SCHEMES) for s in schemes)
    if not schemes:
        raise ValueError(f"`schemes` must name at least one of {', '.join(SCHEMES)}")
    resamples = check_integer(
        bootstrap_resamples, "bootstrap_resamples", minimum=0, maximum=MAX_RESAMPLES
    )
    seed = None if seed is None else check_integer(seed, "seed", minimum=0)
    alpha = check_number(alpha, "alpha", low=0, high=1, open_low=True)
    values = {m: data.values(metric, m, label) for m in methods}
    names = sorted(set().union(*values.values()))
    complete = [c for c in names if all(np.isfinite(values[m].get(c, np.nan)) for m in methods)]
    notes = [f"case {f['name']} ({f['method']}) failed: {f['error']}" for f in data.failed]
    dropped = sorted(set(names) - set(complete))
    if dropped:
        notes.append(
            f"{len(dropped)} case(s) without a defined {metric} for every method left out: "
            + ", ".join(dropped[:10])
            + (", ..." if len(dropped) > 10 else "")
        )
    if not complete:
        raise ValueError(f"no case has a defined {metric} for every method of label {label}")
    scores = np.array([[values[m][c] for m in methods] for c in complete], dtype=float)
    better = scores if higher else -scores  # larger is better from here on
    k, n = len(methods), len(complete)
    if (k * (k - 1)) * 0.5**n > alpha:
        notes.append(
            f"{n} cases: the smallest one-sided Wilcoxon p is 2**-{n} = {0.5**n:.3g}; after "
            f"Holm over {k * (k - 1)} pairs no pair can be significant at alpha = {alpha:g}"
        )
    p = _pairwise_p(better)
    p_holm = np.full((k, k), np.nan)
    off = ~np.eye(k, dtype=bool)
    p_holm[off] = holm_adjust(p[off])
    full = _rank_all(better, scores, alpha, p_holm, schemes)
    rows = [
        {
            "scheme": scheme,
            "method": methods[i],
            "rank": int(full[scheme][0][i]),
            "score": float(full[scheme][1][i]),
            "score_name": _SCORES[scheme] + ("" if scheme != SCHEMES[0] else f" ({metric})"),
            "n_cases": n,
        }
        for scheme in schemes
        for i in sorted(range(k), key=lambda i: (full[scheme][0][i], methods[i]))
    ]
    stability = _stability(better, schemes, full, resamples, seed, alpha, methods)
    significance = {
        "methods": list(methods),
        "matrix": p_holm.tolist(),
        "p": p.tolist(),
        "significant": (np.nan_to_num(p_holm, nan=1.0) < alpha).tolist(),
        "alpha": alpha,
        "test": "one-sided Wilcoxon signed-rank, row method better than column method, "
        f"Holm-adjusted over all {k * (k - 1)} ordered pairs",
    }
    settings = {
        "software": software(),
        "analysis": "ranking",
        "metric": metric,
        "direction": "higher is better" if higher else "lower is better",
        "label": label,
        "methods": list(methods),
        "schemes": list(schemes),
        "n_cases": n,
        "cases_dropped": dropped,
        "cases_rule": "only cases with a defined value for every method (the intersection)",
        "ties": "tied methods share the best of their ranks ('min', as challengeR)",
        "bootstrap_resamples": resamples,
        "seed": seed,
        "bootstrap": "cases resampled with replacement, every scheme ranked again; "
        "test-then-rank uses the normal approximation (with tie correction) on resamples",
        "rank_percentiles": "numpy linear interpolation",
        "alpha": alpha,
        "nan_rule": NAN_RULE,
        "empty_policy": data.settings.get("empty_policy", "not stated in the table"),
        "evaluation": data.settings,
    }
    return Ranking(tuple(rows), stability, significance, settings, tuple(notes))


def _pairwise_p(better: np.ndarray) -> np.ndarray:
    """One-sided Wilcoxon p that method i (row) beats method j (column); NaN diagonal."""
    from scipy import stats

    k = better.shape[1]
    p = np.full((k, k), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-zero differences: p is NaN
        for i in range(k):
            for j in range(k):
                if i != j:
                    diff = better[:, i] - better[:, j]
                    p[i, j] = stats.wilcoxon(diff, alternative="greater").pvalue
    return p


def _rank_all(better, scores, alpha, p_holm, schemes) -> dict:
    """``scheme -> (ranks, scores)`` on all cases."""
    from scipy import stats

    out = {}
    if SCHEMES[0] in schemes:
        out[SCHEMES[0]] = (stats.rankdata(-better.mean(0), method="min"), scores.mean(0))
    if SCHEMES[1] in schemes:
        mean_rank = _case_ranks(better).mean(0)
        out[SCHEMES[1]] = (stats.rankdata(mean_rank, method="min"), mean_rank)
    if SCHEMES[2] in schemes:
        wins = np.sum(np.nan_to_num(p_holm, nan=1.0) < alpha, axis=1)
        out[SCHEMES[2]] = (stats.rankdata(-wins, method="min"), wins)
    return out


def _case_ranks(better: np.ndarray) -> np.ndarray:
    """Rank of each method within each case (1 = best, ties 'min'), shape (cases, methods)."""
    from scipy import stats

    return stats.rankdata(-better, axis=-1, method="min")


def _stability(better, schemes, full, resamples, seed, alpha, methods) -> tuple[dict, ...]:
    """Per scheme and method: how often resampled cases keep the rank, and its spread."""
    from scipy import stats

    if resamples == 0:
        return ()
    n, k = better.shape
    index = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    boot = {}
    if SCHEMES[0] in schemes:
        boot[SCHEMES[0]] = stats.rankdata(-better[index].mean(1), axis=-1, method="min")
    if SCHEMES[1] in schemes:
        boot[SCHEMES[1]] = stats.rankdata(
            _case_ranks(better)[index].mean(1), axis=-1, method="min"
        )
    if SCHEMES[2] in schemes:
        pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
        p = np.empty((resamples, len(pairs)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-zero resamples: p is NaN
            for col, (i, j) in enumerate(pairs):
                diff = (better[:, i] - better[:, j])[index]
                p[:, col] = stats.wilcoxon(
                    diff, axis=1, alternative="greater", method="asymptotic"
                ).pvalue
        significant = np.nan_to_num(holm_adjust(p), nan=1.0) < alpha
        wins = np.zeros((resamples, k))
        for col, (i, _) in enumerate(pairs):
            wins[:, i] += significant[:, col]
        boot[SCHEMES[2]] = stats.rankdata(-wins, axis=-1, method="min")
    out = []
    for scheme in schemes:
        ranks = boot[scheme]
        low, median, high = np.percentile(ranks, [5, 50, 95], axis=0)
        for i, method in enumerate(methods):
            rank = int(full[scheme][0][i])
            out.append(
                {
                    "scheme": scheme,
                    "method": method,
                    "rank": rank,
                    "rank_kept_fraction": float(np.mean(ranks[:, i] == rank)),
                    "median_rank": float(median[i]),
                    "rank_p5": float(low[i]),
                    "rank_p95": float(high[i]),
                }
            )
    return tuple(out)
