"""Results table of the evaluation panel: a row per label plus the mean, a column per metric."""

from __future__ import annotations

import math

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
)

from ..core.metrics.report import METRIC_NAMES, EvaluationReport, PitfallWarning

#: One sentence per metric, shown as the column header's tooltip.
METRIC_HELP = {
    "tp": "True positives: voxels that are foreground in both reference and prediction.",
    "fp": "False positives: prediction voxels outside the reference.",
    "fn": "False negatives: reference voxels the prediction missed.",
    "tn": "True negatives: background in both; large and uninformative in most images.",
    "accuracy": "(TP + TN) / all voxels; dominated by background, so close to 1 even for poor "
    "segmentations.",
    "precision": "TP / (TP + FP): the fraction of the prediction that is correct.",
    "recall": "TP / (TP + FN), the sensitivity: the fraction of the reference that was found.",
    "specificity": "TN / (TN + FP): the fraction of the background left unlabelled.",
    "fbeta": "F-beta score: weighted harmonic mean of precision and recall (beta > 1 favours "
    "recall).",
    "f1": "F1 score, identical to Dice: 2 TP / (2 TP + FP + FN).",
    "iou": "Intersection over union (Jaccard): TP / (TP + FP + FN).",
    "dice": "Dice similarity coefficient 2 TP / (2 TP + FP + FN); one voxel moves it a lot for "
    "small structures.",
    "volume_similarity": "1 - |FN - FP| / (2 TP + FP + FN): agreement of the two volumes, blind "
    "to where the voxels are.",
    "reference_volume": "Volume of the reference structure.",
    "prediction_volume": "Volume of the predicted structure.",
    "hd": "Hausdorff distance: the largest distance from either boundary to the other "
    "(a single outlier sets it).",
    "hd95": "Hausdorff distance at the 95th percentile: the larger of the two directed "
    "percentiles, robust to a few outliers.",
    "assd": "Average symmetric surface distance: all boundary distances of both directions "
    "pooled and averaged.",
    "masd": "Mean average surface distance: the mean of the two directed mean boundary distances.",
    "nsd": "Normalized surface distance: the fraction of both boundaries within the tolerance "
    "of the other.",
    "cldice": "centerline Dice: overlap of the skeletons, sensitive to broken or missing "
    "thin branches.",
    "center_distance": "Distance between the centroids of reference and prediction.",
    "reference_components": "Number of connected components (face connectivity) in the reference.",
    "prediction_components": "Number of connected components (face connectivity) in the "
    "prediction.",
}


def metric_help(metric: str, report: EvaluationReport | None = None) -> str:
    """Return the header tooltip of ``metric``; the robust Hausdorff names its percentile."""
    if report is not None and metric == report.hd_key:
        percentile = report.settings.get("hd_percentile", 95)
        return (
            f"Hausdorff distance at the {percentile:g}th percentile: the larger of the two "
            "directed percentiles, robust to a few outliers."
        )
    return METRIC_HELP[metric]


_INTEGER = {"tp", "fp", "fn", "tn", "reference_components", "prediction_components"}
#: role under which each cell keeps its exact value
VALUE_ROLE = Qt.ItemDataRole.UserRole


def format_value(metric: str, value: float) -> str:
    """Text shown in a cell: counts as integers, everything else with 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if metric in _INTEGER and float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


class MetricsTable(QTableWidget):
    """Read-only table of an :class:`EvaluationReport` with units and explained headers."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMinimumHeight(120)
        self.verticalHeader().setVisible(False)  # the label column names the rows
        self.report: EvaluationReport | None = None
        self.show_report(None)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Metric columns shown: the report's own (``hd90`` at the 90th percentile)."""
        return self.report.metric_names if self.report else METRIC_NAMES

    def headers(self) -> list[str]:
        """Column titles, each metric with its unit in brackets."""
        units = self.report.units if self.report else {}
        return ["label", "case"] + [
            f"{m} [{units[m]}]" if units.get(m) else m for m in self.metric_names
        ]

    def show_report(self, report: EvaluationReport | None) -> None:
        """Fill the table from ``report`` (or clear it for ``None``)."""
        self.report = report
        rows = [] if report is None else list(report.per_label)
        self.clear()
        names = self.metric_names
        self.setColumnCount(2 + len(names))
        self.setHorizontalHeaderLabels(self.headers())
        for col, metric in enumerate(names, start=2):
            self.horizontalHeaderItem(col).setToolTip(metric_help(metric, report))
        self.horizontalHeaderItem(0).setToolTip("Label id; 'mean' averages over the labels.")
        self.horizontalHeaderItem(1).setToolTip(
            "ok, or which mask is empty (then some metrics are undefined: NaN)"
        )
        self.setRowCount(len(rows) + (1 if report else 0))
        for row, label in enumerate(rows):
            self._set_row(row, str(label), report.cases[label], report.per_label[label])
        if report is not None:
            self._set_row(len(rows), "mean", "", report.mean)
            for col, metric in enumerate(names, start=2):
                count = report.not_nan_count.get(metric, 0)
                self.item(len(rows), col).setToolTip(
                    f"mean over {count} of {len(rows)} labels (undefined values left out)"
                )
        self.resizeColumnsToContents()

    def _set_row(self, row: int, label: str, case: str, values: dict) -> None:
        self.setItem(row, 0, QTableWidgetItem(label))
        self.setItem(row, 1, QTableWidgetItem(case))
        for col, metric in enumerate(self.metric_names, start=2):
            value = values.get(metric, float("nan"))
            item = QTableWidgetItem(format_value(metric, value))
            item.setData(VALUE_ROLE, float(value))
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, col, item)

    def cell_value(self, row_label: str, metric: str) -> float:
        """Exact value behind the cell of row ``row_label`` ("1", "mean", ...) and ``metric``."""
        col = 2 + self.metric_names.index(metric)
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == row_label:
                return float(self.item(row, col).data(VALUE_ROLE))
        raise KeyError(f"no row {row_label!r} in the table")

    def as_text(self) -> str:
        """Return the table as tab-separated text with a header line (what Copy copies)."""
        lines = ["\t".join(self.headers())]
        for row in range(self.rowCount()):
            lines.append("\t".join(self.item(row, c).text() for c in range(self.columnCount())))
        return "\n".join(lines)

    def copy_to_clipboard(self) -> None:
        """Put :meth:`as_text` on the system clipboard."""
        QApplication.clipboard().setText(self.as_text())


class WarningsList(QListWidget):
    """The report's pitfall warnings, one wrapped line each: label, pitfall, why, what instead."""

    SEVERITY_MARK = {"critical": "⛔", "warning": "⚠", "info": "ℹ"}

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(80)
        self.setWordWrap(True)

    def show_warnings(self, warnings: tuple[PitfallWarning, ...]) -> None:
        """Replace the list's items by ``warnings``."""
        self.clear()
        for w in warnings:
            where = "all labels" if w.label is None else f"label {w.label}"
            mark = self.SEVERITY_MARK.get(w.severity, "")
            item = QListWidgetItem(
                f"{mark} {where} — {w.pitfall}: {w.message} Look at: {w.look_at}"
            )
            item.setToolTip(f"{w.severity}: {w.message}\nLook at: {w.look_at}")
            self.addItem(item)
