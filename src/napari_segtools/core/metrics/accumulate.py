"""Multi-case aggregation of evaluation reports (the cumulative API, kept apart from the maths)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .report import EvaluationReport

_REDUCTIONS: dict[str, Callable[..., np.floating]] = {
    "mean": np.mean,
    "median": np.median,
    "std": np.std,
    "min": np.min,
    "max": np.max,
}


class MetricAccumulator:
    """Collect :class:`EvaluationReport` objects case by case and reduce them per label.

    Reports made at different ``hd_percentile`` keep separate robust-Hausdorff columns.

    Examples
    --------
    >>> from napari_segtools.metrics import evaluate
    >>> acc = MetricAccumulator()
    >>> ref = np.zeros((6, 6), np.uint8); ref[1:4, 1:4] = 1
    >>> acc.append(evaluate(ref, ref, spacing=(1, 1)))
    >>> acc.append(evaluate(ref, np.zeros_like(ref), spacing=(1, 1)))
    >>> values, counts = acc.aggregate()
    >>> values[1]["dice"], counts[1]["dice"], counts[1]["hd"]
    (0.5, 2, 1)
    """

    def __init__(self) -> None:
        self._reports: list[EvaluationReport] = []

    def __len__(self) -> int:
        return len(self._reports)

    def append(self, report: EvaluationReport) -> None:
        """Add one case's report."""
        if not isinstance(report, EvaluationReport):
            raise TypeError(f"`report` must be an EvaluationReport; got {type(report).__name__}")
        self._reports.append(report)

    def reset(self) -> None:
        """Forget every case."""
        self._reports.clear()

    def metric_names(self) -> tuple[str, ...]:
        """Return the metric columns of every case, in report order (a union over cases)."""
        names: dict[str, None] = {}
        for report in self._reports:
            names.update(dict.fromkeys(report.metric_names))
        return tuple(names)

    def aggregate(self, reduction: str = "mean") -> tuple[dict, dict]:
        """Reduce each label's metrics over the cases, leaving undefined (NaN) values out.

        Parameters
        ----------
        reduction : {"mean", "median", "std", "min", "max"}
            How the cases' values of one label and metric are combined.

        Returns
        -------
        values : dict[int, dict[str, float]]
            Label -> metric -> reduced value (NaN when no case defines it).
        counts : dict[int, dict[str, int]]
            Label -> metric -> number of cases that contributed.
        """
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"`reduction` must be one of {sorted(_REDUCTIONS)}; got {reduction!r}"
            )
        labels = sorted({lb for r in self._reports for lb in r.per_label})
        values: dict[int, dict[str, float]] = {}
        counts: dict[int, dict[str, int]] = {}
        for label in labels:
            values[label], counts[label] = {}, {}
            for name in self.metric_names():
                column = np.array(
                    [
                        r.per_label[label].get(name, np.nan)
                        for r in self._reports
                        if label in r.per_label
                    ],
                    float,
                )
                finite = column[np.isfinite(column)]
                values[label][name] = (
                    float(_REDUCTIONS[reduction](finite)) if len(finite) else float("nan")
                )
                counts[label][name] = int(len(finite))
        return values, counts
