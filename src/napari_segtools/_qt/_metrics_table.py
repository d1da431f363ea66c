"""Results table of the evaluation panel: a row per label, the mean and the pooled row.

A column per metric; under the table a summary line gives the whole-map pixel accuracy and
Cohen's kappa, and says when the pooled Dice departs from the mean over labels.
"""

from __future__ import annotations

import math

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QLabel,
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
    "binary_accuracy": "(TP + TN) / all voxels for this label against everything else; "
    "dominated by background, so close to 1 even for poor segmentations. Not the accuracy of "
    "the label map: see the pixel accuracy under the table.",
    "precision": "TP / (TP + FP): the fraction of the prediction that is correct.",
    "recall": "TP / (TP + FN), the sensitivity: the fraction of the reference that was found.",
    "specificity": "TN / (TN + FP): the fraction of the background left unlabelled.",
    "mcc": "Matthews correlation (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)): 1 "
    "perfect, 0 chance, -1 inverted; undefined (NaN) when a mask is empty.",
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
    "boundary_iou": "Boundary IoU: IoU of the two masks' inner boundary bands (the voxels within "
    "the band width of the outside); weighs boundary errors alike for large and small "
    "structures.",
    "cldice": "centerline Dice: overlap of the skeletons, sensitive to broken or missing "
    "thin branches.",
    "center_distance": "Distance between the centroids of reference and prediction.",
    "reference_components": "Number of connected components (face connectivity) in the reference.",
    "prediction_components": "Number of connected components (face connectivity) in the "
    "prediction.",
}


#: how each robust-Hausdorff variant is said in the column's tooltip
_HD_VARIANT_TEXT = {
    "directed_max": "the larger of the two directed percentiles (MONAI, MetricsReloaded)",
    "pooled": "the percentile of both directions' distances pooled (medpy hd95, seg-metrics)",
}


def metric_help(metric: str, report: EvaluationReport | None = None) -> str:
    """Return the header tooltip of ``metric``.

    The robust Hausdorff names its percentile and variant, Boundary IoU its band width.
    """
    settings = report.settings if report is not None else {}
    if report is not None and metric == report.hd_key:
        percentile = settings.get("hd_percentile", 95)
        variant = _HD_VARIANT_TEXT[settings.get("hd_variant", "directed_max")]
        return (
            f"Hausdorff distance at the {percentile:g}th percentile: {variant}; robust to a "
            "few outliers."
        )
    if metric == "boundary_iou" and "boundary_band_mm" in settings:
        unit = report.units.get("hd", "mm")
        return f"{METRIC_HELP[metric]} Band width {settings['boundary_band_mm']:g} {unit}."
    return METRIC_HELP[metric]


#: tooltip of each summary row's label cell
ROW_HELP = {
    "mean": "Unweighted mean over the labels: each label counts once, however large "
    "(undefined values left out).",
    "pooled": "Pooled over the labels: TP, FP and FN summed, then the ratios; voxel-weighted, "
    "so large structures dominate it.",
}


_INTEGER = {"tp", "fp", "fn", "tn", "reference_components", "prediction_components"}
#: role under which each cell keeps its exact value (in the unit its header shows)
VALUE_ROLE = Qt.ItemDataRole.UserRole
#: the metrics the table opens on; the robust Hausdorff stands for its own percentile's column
PRIMARY_METRICS = (
    "dice",
    "iou",
    "boundary_iou",
    "hd95",
    "masd",
    "nsd",
    "reference_volume",
    "prediction_volume",
)
#: colour of numbers that no longer match the chosen inputs
STALE_COLOR = QColor("#808080")


def format_value(metric: str, value: float) -> str:
    """Text shown in a cell: counts as integers, everything else with 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if metric in _INTEGER and float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def display_unit(unit: str) -> tuple[str, float]:
    """Return the unit a cell shows and the factor from the report's unit (mm^3 -> ml).

    >>> display_unit("mm^3"), display_unit("mm")
    (('ml', 0.001), ('mm', 1.0))
    """
    return ("ml", 1e-3) if unit == "mm^3" else (unit, 1.0)


def summary_text(report: EvaluationReport | None) -> str:
    """Say the line under the table: whole-map pixel accuracy and kappa, pooled vs mean Dice.

    >>> summary_text(None)
    ''
    """
    if report is None or not report.overall:
        return ""
    overall = report.overall
    text = (
        "Whole label map (background included): pixel accuracy "
        f"{format_value('', overall['pixel_accuracy'])}, Cohen's kappa "
        f"{format_value('', overall['cohen_kappa'])}."
    )
    pooled, mean = report.pooled.get("dice", math.nan), report.mean.get("dice", math.nan)
    if len(report.per_label) > 1 and abs(pooled - mean) >= 0.05:
        text += (
            f" Pooled Dice {format_value('', pooled)} vs mean over labels "
            f"{format_value('', mean)}: the "
            f"{'large' if pooled > mean else 'small'} structures score better."
        )
    return text


class MetricsTable(QTableWidget):
    """Read-only table of an :class:`EvaluationReport` with units and explained headers.

    It opens on the metrics people read (:data:`PRIMARY_METRICS`: Dice, IoU, Boundary IoU, HD
    at the chosen percentile, MASD, NSD, volumes in ml); :meth:`set_show_all` shows every
    column. Below the label rows come the mean over labels and the pooled (voxel-weighted)
    row; :attr:`summary`, a line to place under the table, gives the whole-map values. Numbers
    that no longer match the inputs are greyed by :meth:`set_stale`.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMinimumHeight(130)  # a few labels and the mean row without scrolling
        self.verticalHeader().setVisible(False)  # the label column names the rows
        #: the whole-map pixel accuracy and Cohen's kappa (see :func:`summary_text`)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setToolTip(
            "Pixel accuracy: voxels whose label agrees / all voxels. Cohen's kappa: that "
            "agreement corrected for chance. Both over the whole label maps, background and "
            "every label as classes."
        )
        self.report: EvaluationReport | None = None
        #: whether every metric column is shown (else only :data:`PRIMARY_METRICS`)
        self.show_all = False
        #: whether the numbers shown belong to inputs that have changed since
        self.stale = False
        self.show_report(None)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Metric columns, the primary ones first (``hd90`` at the 90th percentile)."""
        names = self.report.metric_names if self.report else METRIC_NAMES
        primary = self.primary_metrics
        return tuple(m for m in primary if m in names) + tuple(
            m for m in names if m not in primary
        )

    @property
    def primary_metrics(self) -> tuple[str, ...]:
        """The columns shown by default; the Hausdorff percentile follows the report."""
        key = self.report.hd_key if self.report else "hd95"
        return tuple(key if m == "hd95" else m for m in PRIMARY_METRICS)

    def visible_metrics(self) -> list[str]:
        """Metric columns currently shown, left to right."""
        return [
            m for col, m in enumerate(self.metric_names, start=2) if not self.isColumnHidden(col)
        ]

    def _unit(self, metric: str) -> tuple[str, float]:
        units = self.report.units if self.report else {}
        return display_unit(units.get(metric, ""))

    def headers(self) -> list[str]:
        """Column titles, each metric with its unit in brackets (volumes in ml when in mm^3)."""
        titles = ["label", "case"]
        for m in self.metric_names:
            unit, _ = self._unit(m)
            titles.append(f"{m} [{unit}]" if unit else m)
        return titles

    def show_report(self, report: EvaluationReport | None) -> None:
        """Fill the table from ``report`` (or clear it for ``None``); the numbers are current."""
        self.report = report
        self.stale = False
        rows = [] if report is None else list(report.per_label)
        self.clear()
        names = self.metric_names
        self.setColumnCount(2 + len(names))
        self.setHorizontalHeaderLabels(self.headers())
        for col, metric in enumerate(names, start=2):
            self.horizontalHeaderItem(col).setToolTip(metric_help(metric, report))
        self.horizontalHeaderItem(0).setToolTip(
            "Label id; 'mean' averages over the labels, 'pooled' sums their voxel counts."
        )
        self.horizontalHeaderItem(1).setToolTip(
            "ok, or which mask is empty (then some metrics are undefined: NaN)"
        )
        self.setRowCount(len(rows) + (2 if report else 0))
        for row, label in enumerate(rows):
            self._set_row(row, str(label), report.cases[label], report.per_label[label])
        if report is not None:
            self._set_row(len(rows), "mean", "", report.mean)
            for col, metric in enumerate(names, start=2):
                count = report.not_nan_count.get(metric, 0)
                self.item(len(rows), col).setToolTip(
                    f"mean over {count} of {len(rows)} labels (undefined values left out)"
                )
            self._set_row(len(rows) + 1, "pooled", "", report.pooled)
            for offset, name in enumerate(("mean", "pooled")):
                self.item(len(rows) + offset, 0).setToolTip(ROW_HELP[name])
        self.summary.setText(summary_text(report))
        self.set_show_all(self.show_all)
        self.resizeColumnsToContents()

    def set_show_all(self, show: bool) -> None:
        """Show every metric column, or only the primary ones (and 'case' when not all ok)."""
        self.show_all = bool(show)
        primary = set(self.primary_metrics)
        for col, metric in enumerate(self.metric_names, start=2):
            self.setColumnHidden(col, not (self.show_all or metric in primary))
        cases = self.report.cases.values() if self.report else ()
        self.setColumnHidden(1, not (self.show_all or any(c != "ok" for c in cases)))

    def set_stale(self, stale: bool = True) -> None:
        """Grey the numbers (and say so in their tooltip) when they no longer match the inputs."""
        self.stale = bool(stale) and self.report is not None
        for row in range(self.rowCount()):
            for col in range(self.columnCount()):
                item = self.item(row, col)
                if item is None:
                    continue
                if self.stale:
                    item.setForeground(STALE_COLOR)
                else:
                    item.setData(Qt.ItemDataRole.ForegroundRole, None)
        self.summary.setStyleSheet(f"color: {STALE_COLOR.name()};" if self.stale else "")
        self.setToolTip("stale: the inputs changed; press Evaluate" if self.stale else "")

    def _set_row(self, row: int, label: str, case: str, values: dict) -> None:
        """Fill one row; a metric the row has no value for (the pooled row's) stays blank."""
        self.setItem(row, 0, QTableWidgetItem(label))
        self.setItem(row, 1, QTableWidgetItem(case))
        for col, metric in enumerate(self.metric_names, start=2):
            value = float(values.get(metric, float("nan"))) * self._unit(metric)[1]
            item = QTableWidgetItem(format_value(metric, value) if metric in values else "")
            item.setData(VALUE_ROLE, value)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, col, item)

    def cell_value(self, row_label: str, metric: str) -> float:
        """Value behind the cell of row ``row_label`` ("1", "mean", ...) and ``metric``.

        In the unit the header shows (volumes in ml when the report has mm^3).
        """
        col = 2 + self.metric_names.index(metric)
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == row_label:
                return float(self.item(row, col).data(VALUE_ROLE))
        raise KeyError(f"no row {row_label!r} in the table")

    def as_text(self) -> str:
        """Return every column as tab-separated text with a header line (what Copy copies).

        The summary line follows the rows.
        """
        lines = ["\t".join(self.headers())]
        for row in range(self.rowCount()):
            lines.append("\t".join(self.item(row, c).text() for c in range(self.columnCount())))
        if self.summary.text():
            lines.append(self.summary.text())
        return "\n".join(lines)

    def copy_to_clipboard(self) -> None:
        """Put :meth:`as_text` on the system clipboard."""
        QApplication.clipboard().setText(self.as_text())


class WarningsList(QListWidget):
    """The report's pitfall warnings, one wrapped line each: label, pitfall, why, what instead."""

    SEVERITY_MARK = {"critical": "⛔", "warning": "⚠", "info": "ℹ"}

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(60)
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
