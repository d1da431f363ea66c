"""Lesion mode of the Evaluation panel: every connected component matched, scored and shown.

The "Lesions" section matches the reference's and the prediction's lesions with
:func:`~napari_segtools.core.metrics.instances.iter_evaluate_instances` in a worker, then shows the
detection summary (precision, recall, F1; PQ = SQ x RQ), one table row per lesion and, in the
panel's own Labels layer ``"<prediction> lesions"``, every lesion coloured by its status (found,
missed, false alarm; hover names it). Clicking a row moves the viewer to that lesion.

The section belongs to an :class:`~napari_segtools._qt.evaluation_widget.EvaluationWidget`
(its *host*): it evaluates the host's chosen pair and grid policy, draws through the host's
output-layer helpers (so the layer is the host's own, replaced in place on a re-run) and is
told by the host when the inputs change or the dock closes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
)

from .._layer_style import label_features
from ..core._types import Progress, ProgressGenerator
from ..core.metrics.instances import (
    INSTANCE_MATCHINGS,
    INSTANCE_PRESETS,
    STATUS_CODES,
    InstanceReport,
    iter_evaluate_instances,
)
from ._common import Section
from ._evaluation_inputs import prepare_inputs
from ._metrics_table import METRIC_HELP, STALE_COLOR, format_value
from ._segment_table import boxed
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    from ..core.metrics.workflow import EvaluationInputs
    from .evaluation_widget import EvaluationWidget

#: status colours of the lesion layer and the table: those of the voxel error map
#: (``evaluation_widget.ERROR_COLOURS``), found green, missed blue, false alarm magenta, so a
#: colour means the same in both maps (and green, blue and magenta stay apart for red-green
#: colour blindness, where green, orange and red did not)
STATUS_COLOURS = {"TP": "#39ff14", "FN": "#00b0ff", "FP": "#ff3ec8"}
#: what each status means, as hover names of the lesion layer and in the legend
STATUS_NAMES = {"TP": "TP: found", "FN": "FN: missed", "FP": "FP: false alarm"}
#: the lesion layer's colours by value (:data:`STATUS_CODES`)
LESION_COLOURS = {
    None: "transparent",
    0: "transparent",
    **{STATUS_CODES[s]: c for s, c in STATUS_COLOURS.items()},
}
#: what the status column means (its header tooltip)
_STATUS_HELP = (
    "TP: matched to a prediction lesion; FN: reference lesion missed; FP: prediction lesion "
    "with no reference lesion. Click a row to go to the lesion."
)
#: table columns: (row key, title, header tooltip); units come from the report
COLUMNS = (
    ("status", "status", _STATUS_HELP),
    ("reference_id", "ref", "Lesion number in the reference (its connected component)"),
    ("prediction_id", "pred", "Lesion number(s) in the prediction (connected components)"),
    ("reference_volume", "ref vol", METRIC_HELP["reference_volume"]),
    ("prediction_volume", "pred vol", METRIC_HELP["prediction_volume"]),
    ("iou", "IoU", METRIC_HELP["iou"]),
    ("dice", "Dice", METRIC_HELP["dice"]),
    ("hd95", "HD95", METRIC_HELP["hd95"]),
    ("masd", "MASD", METRIC_HELP["masd"]),
    ("center_distance", "centre dist", METRIC_HELP["center_distance"]),
)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
#: the most rows the lesion table shows without scrolling (it grows to them, then scrolls)
_VISIBLE_ROWS = 10
#: pause before the lesion layer is drawn, so the table shows first
_STEP_MS = 15
#: connectivity choices: (text, ``connectivity`` of the core); None = the core's default
_CONNECTIVITY = [
    ("default (full: 8 in 2-D, 26 in 3-D)", None),
    ("faces (4 in 2-D, 6 in 3-D)", 1),
    ("faces + edges (8 in 2-D, 18 in 3-D)", 2),
]


@dataclass(frozen=True)
class LesionResult:
    """One lesion evaluation: the report and its status map (both made in the worker)."""

    report: InstanceReport
    status_map: np.ndarray


def iter_lesions(inputs: EvaluationInputs, **options) -> ProgressGenerator[LesionResult]:
    """Match the lesions of ``inputs``, then make the status map (both off the GUI thread).

    ``options`` go to :func:`~napari_segtools.core.metrics.instances.iter_evaluate_instances`.
    """
    report = yield from iter_evaluate_instances(
        inputs.reference, inputs.prediction, spacing=inputs.spacing, **options
    )
    yield Progress(1, 1, "lesion map")
    return LesionResult(report, report.status_map())


def _number(value) -> str:
    return "NaN" if math.isnan(value) else f"{value:.3g}"


def detection_text(report: InstanceReport) -> str:
    """Return the detection summary: counts, precision/recall/F1, PQ = SQ x RQ (and BraTS)."""
    d = report.detection
    fp = f"{d['fp']} false alarm{'' if d['fp'] == 1 else 's'} (FP)"
    lines = [
        f"{d['tp']} found (TP) · {d['fn']} missed (FN) · {fp}",
        f"precision {_number(d['precision'])} · recall {_number(d['recall'])} · F1 "
        + _number(d["f1"]),
        f"PQ {_number(d['pq'])} = SQ {_number(d['sq'])} × RQ {_number(d['rq'])}",
    ]
    if "lesionwise_dice" in d:  # a BraTS preset
        unit = report.units.get("hd95", "mm")
        lines.append(
            f"lesion-wise Dice {_number(d['lesionwise_dice'])} · HD95 "
            f"{_number(d['lesionwise_hd95'])} {unit} (legacy Dice {_number(d['legacy_dice'])} "
            f"· HD95 {_number(d['legacy_hd95'])} {unit})"
        )
    return "\n".join(lines)


def lesion_legend() -> QLabel:
    """Make the lesion layer's legend: one coloured square and meaning per status."""
    legend = QLabel(
        "&nbsp;&nbsp;".join(
            f'<span style="color:{STATUS_COLOURS[s]}">&#9632;</span> {STATUS_NAMES[s]}'
            for s in ("TP", "FN", "FP")
        )
    )
    legend.setWordWrap(True)
    legend.setToolTip(
        "Layer '<prediction> lesions': found lesions (reference and its matched prediction) "
        "green, missed reference lesions blue, false-alarm prediction lesions magenta (the "
        "colours of the voxel error map); hover a voxel for its status."
    )
    return legend


class _StatusDelegate(QStyledItemDelegate):
    """Paint a status cell in its colour also in the selected row (the highlight hid it)."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt's name)
        super().initStyleOption(option, index)
        option.state &= ~QStyle.StateFlag.State_Selected


class LesionTable(QTableWidget):
    """One read-only row per lesion of a report, in its order, the status cell coloured."""

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.report: InstanceReport | None = None
        self.stale = False
        self.setItemDelegateForColumn(0, _StatusDelegate(self))
        self.show_report(None)

    def show_report(self, report: InstanceReport | None) -> None:
        """Fill the table from ``report`` (or empty it); the numbers are current."""
        self.report, self.stale = report, False
        self.setUpdatesEnabled(False)  # one repaint for the whole table (800 rows: ~50 ms)
        self.setRowCount(0)
        units = {} if report is None else report.units
        # the unit on a second line: ten columns in a dock ~400 px wide, each as narrow as
        # its numbers (one-line titles took 719 px, two-line ones 520)
        self.setHorizontalHeaderLabels(
            [
                f"{title}\n[{units[key].replace('^3', '³').replace('^2', '²')}]"
                if units.get(key)
                else title
                for key, title, _ in COLUMNS
            ]
        )
        for col, (_, _, tip) in enumerate(COLUMNS):
            self.horizontalHeaderItem(col).setToolTip(tip)
        rows = () if report is None else report.per_instance
        self.setRowCount(len(rows))
        for row, entry in enumerate(rows):
            for col, (key, _, _) in enumerate(COLUMNS):
                value = entry.get(key)
                if key == "prediction_id" and "prediction_ids" in entry:  # merge matching
                    value = entry["prediction_ids"] or 0
                if key.endswith("_id"):
                    text = str(value) if str(value) != "0" else "–"  # 0: no lesion
                elif key == "status":
                    text = str(value)
                else:
                    text = format_value(key, float(value))
                item = QTableWidgetItem(text)
                if key == "status":
                    item.setBackground(QColor(STATUS_COLOURS[value]))
                    item.setForeground(QColor("black"))
                    item.setToolTip(STATUS_NAMES[value])
                else:
                    item.setTextAlignment(_RIGHT)
                self.setItem(row, col, item)
        self.resizeColumnsToContents()
        self._fit_height()
        self.setUpdatesEnabled(True)

    def _fit_height(self) -> None:
        """Grow to show every row up to :data:`_VISIBLE_ROWS` (at least 3), then scroll."""
        rows = min(max(self.rowCount(), 3), _VISIBLE_ROWS)
        height = (
            self.horizontalHeader().sizeHint().height()
            + rows * self.verticalHeader().defaultSectionSize()
            + self.horizontalScrollBar().sizeHint().height()
            + 2 * self.frameWidth()
        )
        self.setMinimumHeight(height)

    def statuses(self) -> list[str]:
        """Return the status of each row, top to bottom."""
        return [self.item(row, 0).text() for row in range(self.rowCount())]

    def set_stale(self, stale: bool = True) -> None:
        """Grey the numbers when they no longer match the inputs (the status cells keep theirs)."""
        self.stale = bool(stale) and self.report is not None
        for row in range(self.rowCount()):
            for col in range(1, self.columnCount()):
                item = self.item(row, col)
                if self.stale:
                    item.setForeground(STALE_COLOR)
                else:
                    item.setData(Qt.ItemDataRole.ForegroundRole, None)
        self.setToolTip("stale: the inputs changed; press Evaluate lesions" if self.stale else "")


class LesionSection(Section):
    """The Evaluation panel's "Lesions" group: options, Evaluate lesions, summary, table, layer."""

    def __init__(self, host: EvaluationWidget):
        self._host = host
        self.viewer = host.viewer
        self.worker = None
        #: the last lesion evaluation shown (None before the first, or after a refused pair)
        self.result: LesionResult | None = None
        #: the (reference, prediction) layers of the last lesion evaluation started
        self._pair: tuple = (None, None)
        #: True while the shown lesions belong to inputs or options that have changed since
        self.stale = False
        self._generation = 0  # counts results; a queued drawing of an older one does nothing
        self._drawing = 0
        self.matching = ComboBox(
            label="Matching",
            value="iou",
            choices=list(INSTANCE_MATCHINGS),
            tooltip="How reference and prediction lesions are paired:\n"
            + "\n".join(f"{k}: {v}" for k, v in INSTANCE_MATCHINGS.items()),
        )
        self.iou_threshold = FloatSpinBox(
            label="IoU threshold",
            value=0.5,
            min=0.0,
            max=1.0,
            step=0.05,
            tooltip="A pair counts as found (TP) when its IoU reaches this value",
        )
        self.connectivity = ComboBox(
            label="Connectivity",
            value=None,
            choices=_CONNECTIVITY,
            tooltip="Which neighbours join voxels into one lesion (connected component)",
        )
        self.preset = ComboBox(
            label="Preset",
            value=None,
            choices=[("none", None), *((k, k) for k in INSTANCE_PRESETS)],
            tooltip="A challenge's lesion-wise rules (they set the options they name):\n"
            + "\n".join(f"{k}: {v}" for k, v in INSTANCE_PRESETS.items()),
        )
        self.min_volume_mm3 = FloatSpinBox(
            label="Min volume (mm³)",
            value=0.0,
            min=0.0,
            max=1e7,
            step=1.0,
            tooltip="Reference lesions of at most this volume (mm³) are left out, with the "
            "predictions matched to them (the BraTS rule); other predictions stay",
        )
        self.controls = RunControls(run_text="Evaluate lesions")
        self.controls.run_button.tooltip = (
            "Match the lesions (connected components) of the chosen reference and prediction"
        )
        #: the detection summary (:func:`detection_text`), full width under the buttons
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setToolTip(
            "Detection: precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN). "
            "Panoptic quality PQ = SQ × RQ: SQ is the mean IoU of the found lesions, RQ the F1."
        )
        self.table = LesionTable()
        self.table.cellClicked.connect(self._on_cell_clicked)
        self.table.currentCellChanged.connect(self._on_current_cell)
        super().__init__(
            "Lesions",
            [
                self.matching,
                self.iou_threshold,
                self.connectivity,
                self.preset,
                self.min_volume_mm3,
                self.controls,
                boxed(self.summary),
                boxed(lesion_legend()),
                boxed(self.table),
            ],
            expanded=False,
        )
        for option in (
            self.matching,
            self.iou_threshold,
            self.connectivity,
            self.preset,
            self.min_volume_mm3,
            host.surface,
            host.grids,
            host.all_labels,
            host.label_ids,
        ):
            option.changed.connect(self.mark_stale)
        #: the options a preset sets itself
        self._rules = (self.matching, self.iou_threshold, self.connectivity, self.min_volume_mm3)
        self.preset.changed.connect(self._on_preset)
        self.controls.run_button.changed.connect(self.evaluate)

    # ---- state -----------------------------------------------------------------------------
    @property
    def drawing(self) -> bool:
        """True while the lesion layer of a result is still to be drawn."""
        return self._drawing > 0

    def _busy(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def _say_state(self) -> None:
        if self.stale and self.result is not None:
            self.controls.status.say("stale: inputs changed; press Evaluate lesions.")
        self.table.set_stale(self.stale)

    def mark_stale(self, _=None) -> None:
        """Grey the shown lesions: the inputs or options changed (the host calls this too)."""
        if self.result is not None and not self.stale:
            self.stale = True
            self._say_state()

    def on_inputs_changed(self, problem: str) -> None:
        """Follow a change of the host's pair: clear all for a refused pair, else mark stale.

        Evaluate lesions is disabled, and the problem said, while the pair is refused.
        """
        self.controls.run_button.enabled = not problem and not self._busy()
        if problem:
            self.clear()
            self.controls.status.refuse(problem)
            return
        if self.controls.status.problem:  # the pair is fine again
            self.controls.status.say("")
        host = self._host
        chosen = (host.reference.value, host.prediction.value)
        if any(a is not b for a, b in zip(chosen, self._pair, strict=True)):
            self.mark_stale()

    def clear(self) -> None:
        """Forget the shown lesions and remove the lesion layer (a refused or unset pair)."""
        self._generation += 1
        self.result, self.stale = None, False
        self.table.show_report(None)
        self.summary.setText("")
        layer = self._host._own_layer("lesions")
        if layer is not None:
            self.viewer.layers.remove(layer)

    def teardown(self) -> None:
        """Drop queued drawing and stop a running evaluation (the dock closes)."""
        self._generation += 1
        if self._busy():
            self.worker.quit()

    # ---- evaluation -------------------------------------------------------------------------
    def options(self) -> dict:
        """Keyword arguments of ``iter_evaluate_instances`` from the section and the host.

        The lesions are the connected components of the host's chosen labels (all non-zero
        voxels with All labels). A preset sets matching, threshold, connectivity, minimum
        volume and surface itself, so those are left at their defaults then.
        """
        host = self._host
        ids = () if host.all_labels.value else tuple(int(i) for i in host.label_ids.value)
        options = {"label": ids or None, "preset": self.preset.value}
        if self.preset.value is None:
            options.update(
                connectivity=self.connectivity.value,
                matching=self.matching.value,
                iou_threshold=float(self.iou_threshold.value),
                min_volume_mm3=float(self.min_volume_mm3.value),
                surface=host.surface.value,
            )
        return options

    def _on_preset(self, preset) -> None:
        """Grey the rules a preset sets itself while one is chosen."""
        for option in self._rules:
            option.enabled = preset is None

    def evaluate(self, _=None):
        """Start the lesion evaluation of the host's pair (or say why not); return the worker."""
        host = self._host
        problem, _note = host._check_pair()
        if problem:
            self.controls.status.refuse(problem)
            return None
        if self._busy():
            return None
        self._pair = (host.reference.value, host.prediction.value)
        inputs = prepare_inputs(*self._pair, resample=host.grids.value != "refuse")
        self.worker = run_generator(
            self.controls,
            iter_lesions,
            inputs,
            **self.options(),
            on_returned=self._show_result,
            title="Lesions",
        )
        return self.worker

    def _show_result(self, result: LesionResult) -> None:
        """Show the summary and the table now, the lesion layer in the next event-loop turn."""
        if self._host._torn_down:
            return
        self._generation += 1
        generation = self._generation
        self.result, self.stale = result, False
        self.table.show_report(result.report)
        self.summary.setText(detection_text(result.report))
        self.controls.status.say("")
        self._drawing += 1

        def draw() -> None:
            self._drawing -= 1
            if not self._host._torn_down and generation == self._generation:
                self._draw_layer(result)

        QTimer.singleShot(_STEP_MS, draw)

    def _draw_layer(self, result: LesionResult) -> None:
        layer = self._host._put_layer(
            "lesions",
            result.status_map,
            kind="labels",
            pair=self._pair,
            description="lesions by status (1 TP found, 2 FN missed, 3 FP false alarm)",
            colormap=DirectLabelColormap(color_dict=LESION_COLOURS),
            features=label_features({STATUS_CODES[s]: n for s, n in STATUS_NAMES.items()}),
        )
        # a result, not a drawing: read-only, which also empties napari's undo history, so no
        # Ctrl+Z can replay a brush stroke of an earlier map onto this one
        layer.editable = False

    # ---- navigation -------------------------------------------------------------------------
    def _on_cell_clicked(self, row: int, _col: int) -> None:
        self.jump_to(row)

    def _on_current_cell(self, row: int, _col: int, previous_row: int, _previous_col: int) -> None:
        if row >= 0 and row != previous_row:
            self.jump_to(row)

    def jump_to(self, row: int) -> None:
        """Move the viewer to the lesion of table row ``row``: its slice, centred in the view.

        The lesion's centroid (voxel coordinates of the reference grid) goes through the
        reference layer's scale, translate and affine to world coordinates.
        """
        rows = () if self.result is None else self.result.report.per_instance
        if not 0 <= row < len(rows):
            return
        centroid = rows[row]["centroid"]
        world = np.asarray(self._pair[0].data_to_world(centroid), float)
        dims = self.viewer.dims
        offset = dims.ndim - world.size
        dims.set_point(list(range(offset, dims.ndim)), [float(w) for w in world])
        point = dims.point
        self.viewer.scene.camera.center = tuple(
            world[d - offset] if d >= offset else point[d] for d in dims.displayed
        )
