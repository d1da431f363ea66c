"""Two methods on the same cases: paired differences, tests, effect sizes and Bland-Altman."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_integer, check_number
from .summary import NAN_RULE
from .table import (
    MAX_RESAMPLES,
    TableInput,
    check_name,
    check_subset,
    higher_is_better,
    read_cohort_table,
    software,
    write_rows_csv,
)

#: Bland and Altman (1986): limits of agreement at bias +- 1.96 SD
LOA_Z = 1.96
_EFFECT_SIZE = "matched-pairs rank-biserial correlation"
_COLUMNS = (
    "metric",
    "label",
    "n",
    "n_unpaired",
    "n_nan",
    "mean_difference",
    "median_difference",
    "sd_difference",
    "wilcoxon_statistic",
    "wilcoxon_p",
    "permutation_p",
    "effect_size",
    "effect_size_name",
    "cohens_dz",
    "p_holm",
    "significant",
    "better",
    "warning",
)


@dataclass(frozen=True)
class PairedComparison:
    """Paired comparison of two methods on the cases they share.

    Attributes
    ----------
    rows : tuple of dict
        Per metric x label: ``n`` (pairs with both values defined), ``n_unpaired`` (cases of
        only one method), ``n_nan`` (shared cases with a value undefined), ``mean_difference``,
        ``median_difference`` and ``sd_difference`` (method_a - method_b),
        ``wilcoxon_statistic`` and ``wilcoxon_p`` (``scipy.stats.wilcoxon``),
        ``permutation_p`` (sign-flip test of the mean difference), ``effect_size`` (the
        matched-pairs rank-biserial correlation, -1..1, positive when method_a is larger),
        ``effect_size_name``, ``cohens_dz`` (mean / SD of the differences), ``p_holm`` (the
        Wilcoxon p, Holm-adjusted across all rows), ``significant`` (``p_holm < alpha``),
        ``better`` (the method with better values by the effect size, ``""`` when none or for
        a metric with no direction) and ``warning``.
    bland_altman : tuple of dict
        Per label and volume column of the table (``*_volume`` but the shared
        ``reference_volume``), whatever ``metrics`` selects:
        ``n``, ``bias`` (mean of method_a - method_b), ``sd``, ``loa_low``, ``loa_high``
        (bias -+ 1.96 SD).
    influential : tuple of dict
        Per metric x label, the cases by how far leaving each out moves the mean difference,
        largest first: ``case``, ``difference``, ``mean_without``, ``shift``
        (mean_difference - mean_without) and ``flips_sign``.
    settings : dict
        Methods, direction of the differences, tests and rules used.
    warnings : tuple of str
        Failed cases and each row's warning.

    Examples
    --------
    >>> rows = [{"method": m, "name": f"c{i}", "label": 1, "dice": d + i / 100}
    ...         for i in range(6) for m, d in (("a", 0.8), ("b", 0.7))]
    >>> result = compare_paired(rows, method_a="a", method_b="b", seed=0)
    >>> round(result.rows[0]["mean_difference"], 3), result.rows[0]["wilcoxon_p"]
    (0.1, 0.03125)
    """

    rows: tuple[dict, ...]
    bland_altman: tuple[dict, ...] = ()
    influential: tuple[dict, ...] = ()
    settings: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the rows as CSV at ``path``, and the other two tables beside it.

        The Bland-Altman and influential-case tables go to ``<stem>_bland_altman.csv`` and
        ``<stem>_influential.csv`` in the same folder; each file has the settings header and
        is written whole or not at all. Returns ``path``.
        """
        path = Path(path)
        write_rows_csv(path, self.rows, self.settings, _COLUMNS)
        for name, rows in (("bland_altman", self.bland_altman), ("influential", self.influential)):
            target = path.with_name(f"{path.stem}_{name}{path.suffix or '.csv'}")
            write_rows_csv(target, rows, self.settings)
        return path


def compare_paired(
    table: TableInput,
    *,
    method_a: str,
    method_b: str,
    metrics: tuple[str, ...] | None = None,
    labels: tuple[int, ...] | None = None,
    permutations: int = 9999,
    seed: int | None = None,
    alpha: float = 0.05,
) -> PairedComparison:
    """Compare two methods case by case: paired tests, effect sizes, Holm and Bland-Altman.

    Parameters
    ----------
    table : str, os.PathLike, sequence of Mapping, DataFrame or CohortTable
        Per-case metric table with a ``method`` column (see :func:`read_cohort_table`).
    method_a, method_b : str
        The two methods; differences are ``method_a - method_b``.
    metrics : tuple of str, optional
        Metric columns to test (default: every column with a direction, see
        :func:`higher_is_better`; voxel counts and volumes are left out of the tests).
    labels : tuple of int, optional
        Labels to compare (default: every label of either method).
    permutations : int
        Resamples of the sign-flip permutation test, 1 to 100000 (exact when ``2**n`` is not
        larger).
    seed : int, optional
        Seed of the permutation test: ``numpy.random.default_rng(seed)`` for every row.
    alpha : float
        Family-wise error rate for ``significant`` after Holm's adjustment.

    Returns
    -------
    PairedComparison
        Per metric and label tests, the Bland-Altman table and influential cases.

    Raises
    ------
    ValueError
        For a method, metric or label not in the table, the same method twice, or an
        ``alpha`` outside (0, 1).

    Notes
    -----
    Only cases with a defined value in both methods are paired (the intersection); the
    others are counted in ``n_unpaired`` and ``n_nan``. The Wilcoxon signed-rank test is
    ``scipy.stats.wilcoxon`` with its defaults (zero differences dropped; exact p up to 50
    pairs without ties or zeros). With fewer than 6 non-zero differences no two-sided
    p-value can fall below 0.05 (the smallest is ``2 / 2**n``), which is warned.

    Examples
    --------
    >>> rows = [{"method": m, "name": f"c{i}", "label": 1, "hd": h + i}
    ...         for i in range(8) for m, h in (("a", 2.0), ("b", 3.0))]
    >>> row = compare_paired(rows, method_a="a", method_b="b", seed=0).rows[0]
    >>> row["mean_difference"], row["better"], row["effect_size"]
    (-1.0, 'a', -1.0)
    """
    data = read_cohort_table(table)
    methods = tuple(m for m in data.methods if m)
    method_a = check_name(method_a, "method_a", methods, "method")
    method_b = check_name(method_b, "method_b", methods, "method")
    if method_a == method_b:
        raise ValueError(f"`method_a` and `method_b` are both {method_a!r}; give two methods")
    if metrics is None:
        metrics = tuple(filter(_has_direction, data.metrics))
    metrics = check_subset(metrics, data.metrics, "metrics", "metric column")
    present = tuple(sorted({r["label"] for r in data.rows if r["method"] in (method_a, method_b)}))
    labels = check_subset(labels, present, "labels", "label")
    permutations = check_integer(permutations, "permutations", minimum=1, maximum=MAX_RESAMPLES)
    seed = None if seed is None else check_integer(seed, "seed", minimum=0)
    alpha = check_number(alpha, "alpha", low=0, high=1, open_low=True)
    rows, influential, bland_altman = [], [], []
    for metric in metrics:
        for label in labels:
            a = data.values(metric, method_a, label)
            b = data.values(metric, method_b, label)
            shared = sorted(set(a) & set(b))
            names = [c for c in shared if math.isfinite(a[c]) and math.isfinite(b[c])]
            d = np.array([a[c] - b[c] for c in names], dtype=float)
            row: dict = {"metric": metric, "label": label, "n": len(d)}
            row |= {"n_unpaired": len(set(a) ^ set(b)), "n_nan": len(shared) - len(d)}
            row |= _tests(d, permutations, seed, alpha)
            row["better"] = _better(metric, row["effect_size"], method_a, method_b)
            rows.append(row)
            influential += _leave_one_out(metric, label, names, d)
    for metric in (m for m in data.metrics if m.endswith("_volume") and m != "reference_volume"):
        for label in labels:
            a = data.values(metric, method_a, label)
            b = data.values(metric, method_b, label)
            d = np.array([a[c] - b[c] for c in sorted(set(a) & set(b))], dtype=float)
            if np.isfinite(d).any():
                bland_altman.append({"label": label, "metric": metric, **_agreement(d)})
    adjusted = holm_adjust([r["wilcoxon_p"] for r in rows])
    for row, p in zip(rows, adjusted, strict=True):
        row["p_holm"] = float(p)
        row["significant"] = bool(p < alpha)
    notes = [
        f"case {f['name']} ({f['method'] or 'no method'}) failed: {f['error']}"
        for f in data.failed
        if f["method"] in (method_a, method_b)
    ]
    notes += [f"label {r['label']}, {r['metric']}: {r['warning']}" for r in rows if r["warning"]]
    rows = [{k: row[k] for k in _COLUMNS} for row in rows]
    settings = {
        "software": software(),
        "analysis": "paired comparison",
        "method_a": method_a,
        "method_b": method_b,
        "difference": "method_a - method_b",
        "metrics": list(metrics),
        "labels": list(labels),
        "pairing": (
            "cases with a defined value in both methods (the intersection); cases of only one "
            "method are counted in n_unpaired, shared cases with an undefined value in n_nan"
        ),
        "wilcoxon": (
            "scipy.stats.wilcoxon defaults: two-sided, zero differences dropped "
            "(zero_method='wilcox'), exact p up to 50 pairs without ties or zeros, else "
            "permutations up to 13 pairs and the normal approximation beyond"
        ),
        "permutation_test": (
            "sign-flip test of the mean difference (scipy.stats.permutation_test, "
            "permutation_type='samples'), two-sided, exact when 2**n <= permutations"
        ),
        "permutations": permutations,
        "seed": seed,
        "effect_size": f"{_EFFECT_SIZE} (Kerby 2014): (R+ - R-) / (R+ + R-) over the ranks "
        "of the non-zero |differences|; cohens_dz = mean / SD of the differences",
        "multiple_comparisons": (
            "Holm step-down adjustment of the Wilcoxon p-values across every metric x label "
            "row (rows without a p-value left out); conservative for correlated metrics"
        ),
        "alpha": alpha,
        "bland_altman": f"per label, volume columns of both methods: bias +- {LOA_Z} SD",
        "influential": "leave-one-out shift of the mean difference, largest first",
        "nan_rule": NAN_RULE,
        "empty_policy": data.settings.get("empty_policy", "not stated in the table"),
        "evaluation": data.settings,
    }
    return PairedComparison(
        tuple(rows), tuple(bland_altman), tuple(influential), settings, tuple(notes)
    )


def holm_adjust(pvalues: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values along the last axis; NaN entries stay NaN, uncounted.

    Parameters
    ----------
    pvalues : array_like of float
        Raw p-values, one family per last-axis slice.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape: ``min(1, max_{j <= i} (m - j) p_(j))`` in sorted order,
        ``m`` the number of finite p-values of the family.

    Examples
    --------
    >>> holm_adjust([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return p.copy()
    order = np.argsort(p, axis=-1)  # NaN last
    ranked = np.take_along_axis(p, order, axis=-1)
    m = np.sum(np.isfinite(p), axis=-1, keepdims=True)
    scaled = (m - np.arange(p.shape[-1])) * ranked
    adjusted = np.minimum(1.0, np.fmax.accumulate(scaled, axis=-1))
    adjusted[np.isnan(ranked)] = np.nan
    out = np.empty_like(p)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _tests(d: np.ndarray, permutations: int, seed, alpha: float) -> dict:
    """Location, spread, Wilcoxon, sign-flip permutation test and effect sizes of ``d``."""
    from scipy import stats

    nan = math.nan
    out: dict = dict.fromkeys(
        ("mean_difference", "median_difference", "sd_difference", "wilcoxon_statistic"), nan
    )
    out |= dict.fromkeys(("wilcoxon_p", "permutation_p", "effect_size", "cohens_dz"), nan)
    out |= {"effect_size_name": _EFFECT_SIZE, "warning": ""}
    if len(d) == 0:
        return out | {"warning": "no case has a defined value in both methods"}
    out |= {"mean_difference": float(np.mean(d)), "median_difference": float(np.median(d))}
    nonzero = d[d != 0]
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if len(nonzero):
            ranks = stats.rankdata(np.abs(nonzero))
            out["effect_size"] = float(
                (ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum()
            )
        if len(d) > 1:
            sd = float(np.std(d, ddof=1))
            out |= {"sd_difference": sd, "cohens_dz": out["mean_difference"] / sd if sd else nan}
        signed_rank = stats.wilcoxon(d)
        out["wilcoxon_statistic"] = float(signed_rank.statistic)
        out["wilcoxon_p"] = float(signed_rank.pvalue)
        perm = stats.permutation_test(
            (d,),
            _mean,
            permutation_type="samples",
            n_resamples=permutations,
            rng=np.random.default_rng(seed),
        )
        out["permutation_p"] = float(perm.pvalue)
    notes += sorted({str(warning.message) for warning in caught})
    if 2 * 0.5 ** len(nonzero) > alpha:
        notes.append(
            f"{len(nonzero)} non-zero differences: no two-sided p can fall below "
            f"{2 * 0.5 ** len(nonzero):.3g} > alpha"
        )
    return out | {"warning": "; ".join(notes)}


def _has_direction(metric: str) -> bool:
    try:
        higher_is_better(metric)
    except ValueError:
        return False
    return True


def _better(metric: str, effect: float, method_a: str, method_b: str) -> str:
    if not _has_direction(metric) or not math.isfinite(effect) or effect == 0:
        return ""
    return method_a if (effect > 0) == higher_is_better(metric) else method_b


def _leave_one_out(metric: str, label: int, names: list[str], d: np.ndarray) -> list[dict]:
    """Cases by how far leaving each out moves the mean difference, largest first."""
    n = len(d)
    if n < 2:
        return []
    mean = float(np.mean(d))
    without = (n * mean - d) / (n - 1)
    order = np.argsort(-np.abs(mean - without), kind="stable")
    return [
        {
            "metric": metric,
            "label": label,
            "case": names[i],
            "difference": float(d[i]),
            "mean_without": float(without[i]),
            "shift": float(mean - without[i]),
            "flips_sign": bool(np.sign(without[i]) != np.sign(mean)),
        }
        for i in order
    ]


def _agreement(d: np.ndarray) -> dict:
    """Bland-Altman bias, SD and limits of agreement of the defined differences in ``d``."""
    d = d[np.isfinite(d)]
    bias = float(np.mean(d))
    sd = float(np.std(d, ddof=1)) if len(d) > 1 else math.nan
    return {
        "n": len(d),
        "bias": bias,
        "sd": sd,
        "loa_low": bias - LOA_Z * sd,
        "loa_high": bias + LOA_Z * sd,
    }
