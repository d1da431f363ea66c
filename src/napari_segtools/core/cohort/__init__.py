"""Cohort statistics of per-case metric tables: summaries, paired comparisons and rankings.

The input is the per-case table that ``napari-segtools evaluate`` writes (or the same rows in
memory). :func:`summarize` gives per method, label and metric the spread and a confidence
interval of the mean; :func:`compare_paired` tests two methods on the cases they share;
:func:`rank_methods` ranks several methods as challengeR does. Names load lazily: importing
this package imports neither scipy nor the metrics engine.
"""

from __future__ import annotations

import importlib

#: public name -> submodule that defines it
_EXPORTS = {
    "CohortTable": "table",
    "read_cohort_table": "table",
    "higher_is_better": "table",
    "CohortSummary": "summary",
    "summarize": "summary",
    "MIN_N_MEAN_INTERVAL": "summary",
    "MIN_N_MEDIAN_INTERVAL": "summary",
    "PairedComparison": "paired",
    "compare_paired": "paired",
    "holm_adjust": "paired",
    "Ranking": "ranking",
    "rank_methods": "ranking",
    "SCHEMES": "ranking",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
