"""Evaluation dock widget: reference vs prediction metrics, pitfall warnings, overlays, export.

Layout: an optional gallery case picker, the inputs, Advanced settings (closed), Evaluate, the
results (the metrics people read first, every metric one click away) and the overlays (error
map with a legend, both directions of boundary distance, the Hausdorff jump, the plot), all in
one scroll area. Numbers that no longer match the chosen inputs are greyed and called stale; a
refused pair clears them.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
)
from napari.layers import Image, Labels, Points, Vectors
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QWidget

from .._layer_style import label_features
from ..core.metrics.maps import ERROR_MAP_NAMES, present_labels
from ..core.metrics.report import write_report
from ..core.metrics.workflow import (
    EvaluationOptions,
    EvaluationResult,
    default_prediction,
    default_reference,
    iter_evaluation,
    iter_overlay,
)
from ._common import Section, layer_choices, themed
from ._distance_plot import PLOT_KINDS, DistancePlot
from ._dock import ScrollDock
from ._evaluation_inputs import pair_problem, prepare_inputs
from ._lesion_panel import LesionSection
from ._metrics_table import MetricsTable, WarningsList
from ._pitfall_picker import PitfallPicker
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

#: error-map values and their fixed colours: TP green, FP magenta, FN blue
ERROR_COLOURS = {None: "transparent", 0: "transparent", 1: "#39ff14", 2: "#ff3ec8", 3: "#00b0ff"}
#: colormap of the boundary-distance overlay (and its legend)
DISTANCE_COLORMAP = "plasma"
#: colours of the two Hausdorff end points: on the reference / on the prediction boundary
#: pause between the staged steps of drawing a result: napari repaints in between, so each
#: first-time visual (its shaders, its glyphs) costs one short turn of the event loop
_STEP_MS = 15
MARKER_COLOURS = {"reference": "#ffd400", "prediction": "#00e5ff"}
#: metadata key marking this panel's own output layers (kept out of the layer pickers)
_OUTPUT_KEY = "napari_segtools_evaluation_output"
#: metadata key naming the role of an output layer ("error", "distance", "points", "line")
_ROLE_KEY = "napari_segtools_evaluation_role"
#: metadata key holding the token of the panel that made the layer: a layer is the panel's own
#: only when it carries this panel's token, so a user's layer named like an overlay (or one
#: copied from an overlay) is never written or removed
_PANEL_KEY = "napari_segtools_evaluation_panel"
#: what the status says while the shown numbers belong to earlier inputs
STALE_TEXT = "stale: inputs changed; press Evaluate for current numbers."
#: the pitfall thresholds offered under Advanced: (name, label, default, step)
_THRESHOLDS = (
    ("small_structure_dice_step", "Small structure: Dice step", 0.05, 0.01),
    ("misalignment_ratio", "Misalignment ratio", 0.2, 0.05),
    ("bias_ratio", "Over/under bias ratio", 0.2, 0.05),
    ("anisotropy_ratio", "Anisotropy ratio", 3.0, 0.5),
)


def _boxed(qwidget) -> Container:
    """Wrap one plain Qt widget in a label-less magicgui Container (keeps the layout order)."""
    box = Container(labels=False)
    box.margins = (0, 0, 0, 0)
    box.native.layout().addWidget(qwidget)
    return box


def _swatch(color: str, text: str) -> QWidget:
    """Make one legend entry: a small coloured square and its text."""
    entry = QWidget()
    layout = QHBoxLayout(entry)
    layout.setContentsMargins(0, 0, 6, 0)
    layout.setSpacing(3)
    square = QLabel()
    square.setFixedSize(12, 12)
    square.setStyleSheet(f"background-color: {color}; border: 1px solid #808080;")
    layout.addWidget(square)
    layout.addWidget(QLabel(text))
    return entry


def legend_widget() -> QWidget:
    """Make the overlays' legend: error-map colours, then the distance colour scale."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for value, name in ERROR_MAP_NAMES.items():
        layout.addWidget(_swatch(ERROR_COLOURS[value], name))
    scale = QLabel("distance: 0")
    layout.addWidget(scale)
    bar = QLabel()
    bar.setFixedSize(36, 12)
    bar.setStyleSheet(
        "background: qlineargradient(x1:0, y1:0, x2:1, y2:0, stop:0 #0d0887, stop:0.5 #cc4778,"
        " stop:1 #f0f921);"
    )
    layout.addWidget(bar)
    layout.addWidget(QLabel("HD"))
    layout.addStretch(1)
    row.setToolTip(
        "Error map: TP = in both, FP = prediction only, FN = reference only (hover a voxel for "
        "its name). Boundary distance: on the reference boundary its distance to the "
        "prediction's, on the prediction boundary its distance to the reference's; dark = 0, "
        "bright = the Hausdorff distance."
    )
    return row


class EvaluationWidget(ScrollDock):
    """Compare a prediction Labels layer with a reference: metrics, warnings, overlays."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        self.result: EvaluationResult | None = None
        self.inputs = None
        #: the (reference, prediction) layers of the last evaluation started
        self._pair: tuple = (None, None)
        self._auto_reference = True
        self._auto_prediction = True
        self._setting = False  # True while the panel itself sets a picker
        self._watched: list = []
        self._named: list = []
        self._checked_pair: tuple = (None, None)
        self._present_ids: list[int] = []
        #: this panel's token in its layers' metadata (see :data:`_PANEL_KEY`)
        self._token = uuid.uuid4().hex
        #: counts results; a staged display step of an older result does nothing
        self._generation = 0
        self._drawing = 0  # staged drawing chains still running
        #: the worker a Cancel detached from: still finishing its step, its result is dropped
        self._abandoned = None
        #: True while the shown numbers belong to inputs that have changed since
        self.stale = False
        pickers = {"choices": self._layer_choices, "nullable": True}
        self.reference = ComboBox(
            label="Reference", tooltip="Labels layer taken as the truth", **pickers
        )
        self.prediction = ComboBox(
            label="Prediction",
            tooltip="Labels layer to evaluate (the plugin's own results are paired by name)",
            **pickers,
        )
        self.grids = ComboBox(
            label="Different grids",
            value="resample prediction",
            choices=["resample prediction", "refuse"],
            tooltip="When shape, scale or translate differ: resample the prediction onto the "
            "reference grid (nearest neighbour), or refuse and say what differs",
        )
        self.all_labels = CheckBox(
            text="All labels",
            value=True,
            tooltip="Evaluate every non-zero label id found in either layer",
        )
        # choices are callables: napari's reset_choices() on layer changes must not clear them
        self.label_ids = Select(
            label="Labels",
            choices=lambda _w: self._present_ids,
            visible=False,
            tooltip="Label ids to evaluate (Ctrl-click for several)",
        )
        self.nsd_tolerance_mm = FloatSpinBox(
            label="NSD tolerance (mm)",
            value=1.0,
            min=0.0,
            max=1000.0,
            step=0.1,
            tooltip="Boundary distance (mm) under which a boundary voxel counts as correct in NSD",
        )
        self.boundary_band_mm = FloatSpinBox(
            label="Boundary band (mm)",
            value=1.0,
            min=0.01,
            max=1000.0,
            step=0.5,
            tooltip="Band width of Boundary IoU: each mask's voxels within this distance (mm) of "
            "its outside, and at least its rim",
        )
        self.beta = FloatSpinBox(
            label="F-beta beta",
            value=1.0,
            min=0.01,
            max=100.0,
            step=0.5,
            tooltip="Weight of recall against precision in the F-beta score",
        )
        self.hd_percentile = FloatSpinBox(
            label="HD percentile (%)",
            value=95.0,
            min=0.0,
            max=100.0,
            step=1.0,
            tooltip="Percentile of the robust Hausdorff distance; its column is named for it "
            "(hd95 at 95, hd90 at 90, hd99_5 at 99.5; 100 = plain HD)",
        )
        self.hd_variant = ComboBox(
            label="HD variant",
            value="directed_max",
            choices=[
                ("max of directed (MONAI)", "directed_max"),
                ("pooled (medpy, seg-metrics)", "pooled"),
            ],
            tooltip="Robust Hausdorff: the larger of the two directed percentiles, or the "
            "percentile of both directions' distances pooled",
        )
        self.empty = ComboBox(
            label="Empty masks",
            value="nan",
            choices=[("NaN, left out of means", "nan"), ("worst value", "worst")],
            tooltip="Undefined values when a mask is empty: NaN and excluded from the means "
            "(counted), or the worst value (Dice 0, HD = image diagonal)",
        )
        self.surface = ComboBox(
            label="Surface",
            value="voxel",
            choices=[
                ("voxel (MONAI, MetricsReloaded)", "voxel"),
                ("surfel (DeepMind, Nikolov NSD)", "surfel"),
            ],
            tooltip="Boundary definition of the distance metrics",
        )
        self.thresholds = {
            name: FloatSpinBox(
                label=text,
                value=default,
                min=0.0,
                max=100.0,
                step=step,
                tooltip=f"Pitfall detector threshold '{name}' (default {default:g})",
            )
            for name, text, default, step in _THRESHOLDS
        }
        self.auto_update = CheckBox(
            text="Auto update when painting",
            value=False,
            tooltip="Re-evaluate half a second after either layer changes",
        )
        self.show_overlays = CheckBox(
            text="Show error map, distances and plot",
            value=True,
            tooltip="Also draw the error map, the boundary distances and their plot "
            "(untick for a quick table; hides the drawn overlays)",
        )
        self.controls = RunControls(run_text="Evaluate")
        #: the dock's one status line (results, notes, user mistakes inline)
        self.status = self.controls.status
        self.table = MetricsTable()
        self.show_all = CheckBox(
            text="Show all metrics",
            value=False,
            tooltip="Show every column (TP, FP, FN, TN, binary accuracy, precision, recall, "
            "MCC, ...); unticked: Dice, IoU, Boundary IoU, HD, MASD, NSD and volumes",
        )
        self.copy_button = PushButton(text="Copy", tooltip="Copy the table (tab-separated)")
        self.csv_button = PushButton(
            text="CSV…", tooltip="Save table, warnings, settings and layer names as CSV"
        )
        self.json_button = PushButton(
            text="JSON…", tooltip="Save table, warnings, settings and layer names as JSON"
        )
        self.warnings = WarningsList()
        self.overlay_label = ComboBox(
            label="Overlay label",
            choices=self._evaluated_labels,
            nullable=True,
            tooltip="Label whose boundary distances are drawn and plotted",
        )
        self.jump_button = PushButton(
            text="Jump to Hausdorff location",
            enabled=False,
            tooltip="Zoom to where the Hausdorff distance is attained and mark both boundary "
            "points with the line between them",
        )
        self.plot_kind = ComboBox(
            label="Plot",
            value="histogram",
            choices=PLOT_KINDS,
            tooltip="Histogram or cumulative distribution of the boundary distances",
        )
        self.plot = DistancePlot(style=self._style_figure)
        self.legend = _boxed(legend_widget())
        self.picker = PitfallPicker(viewer, on_pick=self._on_case_picked)
        export = Container(
            widgets=[self.copy_button, self.csv_button, self.json_button],
            layout="horizontal",
            labels=False,
        )
        export.margins = (0, 0, 0, 0)
        self.inputs_section = Section(
            "Inputs",
            [
                self.reference,
                self.prediction,
                self.grids,
                self.all_labels,
                self.label_ids,
                self.nsd_tolerance_mm,
                self.boundary_band_mm,
                self.auto_update,
                self.show_overlays,
            ],
        )
        self.advanced = Section(
            "Advanced",
            [
                self.beta,
                self.hd_percentile,
                self.hd_variant,
                self.surface,
                self.empty,
                *self.thresholds.values(),
            ],
            expanded=False,
        )
        self.results_section = Section(
            "Results",
            [
                _boxed(self.table),
                _boxed(self.table.summary),
                self.show_all,
                export,
                Label(value="Warnings"),
                _boxed(self.warnings),
            ],
        )
        self.overlays_section = Section(
            "Overlays",
            [self.legend, self.overlay_label, self.jump_button, self.plot_kind, _boxed(self.plot)],
        )
        #: lesion mode: each connected component matched, a row per lesion, the lesion layer
        self.lesions = LesionSection(self)
        #: every section, inside :attr:`scroll` (napari docks a magicgui widget's ``native``,
        #: which for ``scrollable=True`` is the widget inside the scroll area, so the scroll
        #: area is made here, inside the docked widget)
        super().__init__(
            [
                self.picker,
                self.inputs_section,
                self.advanced,
                self.controls,
                self.results_section,
                self.overlays_section,
                self.lesions,
            ],
            on_close=self._on_close,
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._auto_evaluate)

        self.reference.changed.connect(self._on_reference_changed)
        self.prediction.changed.connect(self._on_prediction_changed)
        self.grids.changed.connect(self._on_layers_changed)
        self.all_labels.changed.connect(self._on_all_labels)
        self.label_ids.changed.connect(self._on_options_changed)
        for option in (
            self.nsd_tolerance_mm,
            self.boundary_band_mm,
            self.beta,
            self.hd_percentile,
            self.hd_variant,
            self.empty,
            self.surface,
            *self.thresholds.values(),
        ):
            option.changed.connect(self._on_options_changed)
        self.show_overlays.changed.connect(self._on_show_overlays)
        self.controls.run_button.changed.connect(self.evaluate)
        self.controls.cancel_button.changed.connect(self._on_cancel)
        self.show_all.changed.connect(self.table.set_show_all)
        self.copy_button.changed.connect(self.table.copy_to_clipboard)
        self.csv_button.changed.connect(self._export_csv)
        self.json_button.changed.connect(self._export_json)
        self.overlay_label.changed.connect(self._on_overlay_label)
        self.jump_button.changed.connect(self.jump_to_hausdorff)
        self.plot_kind.changed.connect(self._update_plot)
        for event in ("inserted", "removed", "reordered"):
            self.connections.connect(getattr(viewer.layers.events, event), self._on_layers_event)
        for layer in viewer.layers:
            self._watch_name(layer)
        self.connections.connect(viewer.events.theme, self._on_theme)
        self.picker.refresh()
        self._refresh_layers()
        if self.picker.present and self.picker.shown is None:
            ref = self.reference.value
            case = None if ref is None else ref.metadata.get("pitfall_case")
            self.picker.show_case(case or self.picker.case.value)

    # ---- lifetime ------------------------------------------------------------------------
    @property
    def _torn_down(self) -> bool:
        """Whether the dock was closed (events disconnected; late results are dropped)."""
        connections = getattr(self, "connections", None)
        return connections is not None and not connections.alive

    def teardown(self) -> None:
        """Disconnect every event this panel connected (dock or viewer closed); idempotent."""
        self.close_dock()

    def _on_close(self) -> None:
        self._timer.stop()
        self._unwatch_data()
        self.picker.teardown()
        self.lesions.teardown()
        self._generation += 1  # staged display steps still queued do nothing
        if self._busy():
            self.worker.quit()

    def _watch_name(self, layer) -> None:
        if layer not in self._named:
            self.connections.connect(layer.events.name, self._refresh_layers)
            self._named.append(layer)

    def _unwatch_data(self) -> None:
        for layer in self._watched:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                layer.events.paint.disconnect(self._on_data_changed)
                layer.events.data.disconnect(self._on_data_changed)
        self._watched = []

    def _on_theme(self, _event=None) -> None:
        self.plot.restyle()

    def _style_figure(self, figure) -> None:
        themed(figure, self.viewer)

    # ---- layer pickers -------------------------------------------------------------------
    def _layer_choices(self, _widget=None) -> list[tuple[str, Labels]]:
        return layer_choices(
            self.viewer.layers, "labels", where=lambda layer: _OUTPUT_KEY not in layer.metadata
        )

    def _names(self) -> list[str]:
        return [name for name, _ in self._layer_choices()]

    def _set_quietly(self, widget, value) -> None:
        """Set a picker as the panel's own choice (not the user's)."""
        self._setting = True
        try:
            widget.value = value
        finally:
            self._setting = False

    def _on_layers_event(self, event=None) -> None:
        if self._torn_down:
            return
        kind = getattr(event, "type", "")
        if kind == "inserted":
            self._watch_name(event.value)
        elif kind == "removed" and event.value in self._named:
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                event.value.events.name.disconnect(self._refresh_layers)
            self._named.remove(event.value)
        if kind in ("inserted", "removed"):
            self.picker.refresh()
        self._refresh_layers()

    def _refresh_layers(self, _event=None) -> None:
        if self._torn_down:
            return
        self.reference.reset_choices()
        self.prediction.reset_choices()
        names = self._names()
        if self._auto_reference:
            name = default_reference(names)
            if name is not None and self.reference.value is not self.viewer.layers[name]:
                self._set_quietly(self.reference, self.viewer.layers[name])
        if self._auto_prediction and self.reference.value is not None:
            paired = default_prediction(names, self.reference.value.name)
            if paired is not None and self.prediction.value is not self.viewer.layers[paired]:
                self._set_quietly(self.prediction, self.viewer.layers[paired])
        pair = (self.reference.value, self.prediction.value)
        if any(a is not b for a, b in zip(pair, self._checked_pair, strict=True)):
            self._on_layers_changed()

    def _on_reference_changed(self, layer) -> None:
        if not self._setting:
            self._auto_reference = False
        paired = default_prediction(self._names(), None if layer is None else layer.name)
        if paired is not None:
            self._set_quietly(self.prediction, self.viewer.layers[paired])
            self._auto_prediction = True
        case = None if layer is None else layer.metadata.get("pitfall_case")
        if case is not None and case != self.picker.shown and "pitfall_role" in layer.metadata:
            self.picker.show_case(case)  # the view follows the chosen gallery case
        self._on_layers_changed()

    def _on_prediction_changed(self, _layer) -> None:
        if not self._setting:
            self._auto_prediction = False
        self._on_layers_changed()

    def _on_case_picked(self, reference) -> None:
        """Take the pair of the case the picker shows; the last case's overlays go."""
        self._generation += 1
        self._remove_outputs()
        if self.reference.value is not reference:
            self.reference.value = reference  # a user choice, made through the picker

    def _on_layers_changed(self, _=None) -> None:
        """Check the chosen pair, say what is wrong inline, and watch both for painting."""
        if self._torn_down:
            return
        ref, pred = self.reference.value, self.prediction.value
        self._checked_pair = (ref, pred)
        self._unwatch_data()
        self._watched = [layer for layer in {id(ref): ref, id(pred): pred}.values() if layer]
        for layer in self._watched:
            layer.events.paint.connect(self._on_data_changed)
            layer.events.data.connect(self._on_data_changed)
        problem, _note = self._check_pair()
        self.lesions.on_inputs_changed(problem)
        if problem:
            self._clear_results()
        elif self.result is not None:
            self.stale = self.stale or ref is not self._pair[0] or pred is not self._pair[1]
        self._say_state()
        if not self.all_labels.value:
            self._refresh_label_choices()

    def _on_options_changed(self, _=None) -> None:
        if self.result is not None:
            self.stale = True
        self._say_state()

    def _on_data_changed(self, _event=None) -> None:
        self.lesions.mark_stale()
        if self.result is not None:
            self.stale = True
            self._say_state()
        if self.auto_update.value:
            self._timer.start()

    def _say_state(self) -> None:
        """Status: the problem, else the stale mark and the grid note; grey stale numbers."""
        problem, note = self._check_pair()
        self.table.set_stale(self.stale)
        self.controls.run_button.enabled = not problem and not self._busy()
        if problem:
            self.status.refuse(problem)
            return
        lines = [STALE_TEXT] if self.stale and self.result is not None else []
        if note:
            lines.append(note)
        self.status.say("\n".join(lines))

    def _check_pair(self) -> tuple[str, str]:
        """(problem that blocks evaluation, note), each '' when there is none."""
        ref, pred = self.reference.value, self.prediction.value
        if ref is None or pred is None:
            return "Choose a reference and a prediction Labels layer.", ""
        if ref is pred:
            return "Reference and prediction are the same layer.", ""
        problem, note = pair_problem(ref, pred, resample=self.grids.value != "refuse")
        return (f"Refused: {problem}." if problem else ""), note

    def _clear_results(self) -> None:
        """Forget the shown numbers (a refused pair): table, warnings, plot, jump."""
        self.result = None
        self.stale = False
        self.table.show_report(None)
        self.warnings.show_warnings(())
        self.plot.clear_plot("no evaluation of these layers")
        self.jump_button.enabled = False

    def _on_all_labels(self, value: bool) -> None:
        self.label_ids.visible = not value
        if not value:
            self._refresh_label_choices()
        self._on_options_changed()

    def _refresh_label_choices(self) -> None:
        ref, pred = self.reference.value, self.prediction.value
        found = present_labels(*(layer.data for layer in (ref, pred) if layer is not None))
        keep = [v for v in self.label_ids.value if v in found]
        self._present_ids = found
        with self.label_ids.changed.blocked():
            self.label_ids.reset_choices()
            self.label_ids.value = keep or found[:1]

    # ---- evaluation ----------------------------------------------------------------------
    def _busy(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def _on_cancel(self, _=None) -> None:
        """Detach from the running worker at once: the panel is free again within a moment.

        The worker stops at its next step (``run_generator`` asks it to quit); until then it
        finishes its current step in the background and its result is dropped, so a Cancel
        never has to wait for a long step and never adds a layer.
        """
        worker = self.worker
        if worker is None or not worker.is_running:
            return
        self._abandoned, self.worker = worker, None
        self._generation += 1
        with contextlib.suppress(TypeError, RuntimeError):
            worker.returned.disconnect(self._show_result)
        with contextlib.suppress(TypeError, RuntimeError):
            worker.returned.disconnect(self._show_overlay)
        worker.finished.connect(self._on_abandoned_finished)
        self.controls.progress.visible = False
        self.controls.cancel_button.enabled = False
        self._say_state()
        self.status.refuse("Evaluate cancelled; no layer was changed.")

    def _on_abandoned_finished(self) -> None:
        """Drop the detached worker once it has stopped.

        ``run_generator`` leaves the controls alone when a newer worker owns them.
        """
        self._abandoned = None

    def _options(self) -> EvaluationOptions:
        return EvaluationOptions(
            nsd_tolerance_mm=float(self.nsd_tolerance_mm.value),
            beta=float(self.beta.value),
            hd_percentile=float(self.hd_percentile.value),
            hd_variant=self.hd_variant.value,
            boundary_band_mm=float(self.boundary_band_mm.value),
            surface=self.surface.value,
            empty=self.empty.value,
            thresholds=tuple((k, float(w.value)) for k, w in self.thresholds.items()),
        )

    def evaluate(self, _=None):
        """Start the evaluation worker (or show why not). Returns the worker or None."""
        problem, _note = self._check_pair()
        if problem:
            self._clear_results()
            self.status.refuse(problem)
            return None
        ref, pred = self._pair = (self.reference.value, self.prediction.value)
        self.inputs = prepare_inputs(ref, pred, resample=self.grids.value != "refuse")
        labels = None if self.all_labels.value else tuple(self.label_ids.value)
        self.worker = run_generator(
            self.controls,
            iter_evaluation,
            self.inputs,
            labels=labels,
            overlay_label=self.overlay_label.value,
            overlays=self.show_overlays.value,
            options=self._options(),
            on_returned=self._show_result,
            title="Evaluate",
        )
        return self.worker

    def _auto_evaluate(self) -> None:
        if self._torn_down:
            return
        if self._busy():  # try again once the running evaluation is done
            self._timer.start()
            return
        self.evaluate()

    def _output_names(self, prediction=None) -> dict[str, str]:
        """Names of this panel's layers for ``prediction`` (the last evaluated by default)."""
        pred = prediction if prediction is not None else self._pair[1]
        base = "" if pred is None else pred.name
        return {
            "error": f"{base} error map",
            "distance": f"{base} boundary distance",
            "points": f"{base} Hausdorff points",
            "line": f"{base} Hausdorff line",
            "lesions": f"{base} lesions",
        }

    def output_layers(self) -> list:
        """Return the panel's own layers now in the viewer (found by metadata, not by name)."""
        return [layer for layer in self.viewer.layers if self._is_own(layer)]

    def _is_own(self, layer) -> bool:
        return layer.metadata.get(_PANEL_KEY) == self._token

    def _own_layer(self, role: str):
        """Return this panel's output layer of ``role``, or None (a user's layer never)."""
        return next(
            (
                layer
                for layer in self.viewer.layers
                if self._is_own(layer) and layer.metadata.get(_ROLE_KEY) == role
            ),
            None,
        )

    def _own_metadata(self, role: str, description: str, source=None) -> dict:
        return {
            **(self._pair[0] if source is None else source).metadata,
            _OUTPUT_KEY: description,
            _ROLE_KEY: role,
            _PANEL_KEY: self._token,
        }

    def _remove_outputs(self, *, keep: tuple[str, ...] = ()) -> None:
        for layer in self.output_layers():
            if layer.metadata.get(_ROLE_KEY) not in keep:
                self.viewer.layers.remove(layer)

    def _put_layer(self, role: str, data, *, kind: str, description: str, pair=None, **style):
        """Show ``data`` in this panel's ``role`` layer: its data updated in place when it fits.

        A layer is created only the first time (or when the shape or type changed); style
        arguments apply to a new layer only, so an update is one data assignment (one refresh).
        The layer is named like the prediction; a user's layer of that name is left alone (napari
        then numbers the new name). ``pair`` is the (reference, prediction) the layer shows,
        the last evaluated by default.
        """
        source, prediction = self._pair if pair is None else pair
        name = self._output_names(prediction)[role]
        layer_type = {"labels": Labels, "image": Image, "points": Points, "vectors": Vectors}[kind]
        layer = self._own_layer(role)
        fits = (
            layer is not None
            and type(layer) is layer_type
            and (kind in ("points", "vectors") or layer.data.shape == np.shape(data))
        )
        if layer is not None and not fits:
            self.viewer.layers.remove(layer)
        if not fits:
            add = getattr(self.viewer, f"add_{kind}")
            return add(
                data,
                name=name,
                scale=source.scale,
                translate=source.translate,
                affine=source.affine,
                metadata=self._own_metadata(role, description, source),
                **style,
            )
        layer.data = data
        geometry = {"scale": source.scale, "translate": source.translate}
        for key, value in geometry.items():
            if not np.array_equal(getattr(layer, key), value):
                setattr(layer, key, value)
        if not np.allclose(layer.affine.affine_matrix, source.affine.affine_matrix):
            layer.affine = source.affine
        layer.metadata = self._own_metadata(role, description, source)
        if layer.name != name:
            layer.name = name
        if not layer.visible:
            layer.visible = True
        return layer

    def _show_result(self, result: EvaluationResult) -> None:
        """Show a result: the table at once, then each layer in its own turn of the event loop.

        Adding a full-volume layer makes napari build its visuals on the GUI thread (about
        100 ms each on a loaded machine); adding them one per event-loop turn keeps the panel
        and the canvas answering in between. :attr:`result` is set when everything is shown.
        """
        if self._torn_down:
            return
        self._generation += 1
        report = result.report
        self.table.show_report(report)
        self.warnings.show_warnings(report.warnings)
        self.jump_button.enabled = False
        if result.error_map is None:
            self._remove_outputs(keep=("lesions",))
            self.result, self.stale = result, False
            self.plot.clear_plot("overlays are off")
            self._say_state()
            return
        self._say_state()
        self._staged(
            [
                lambda: self._put_layer(
                    "error",
                    result.error_map,
                    kind="labels",
                    description="error map (1 TP, 2 FP, 3 FN)",
                    colormap=DirectLabelColormap(color_dict=ERROR_COLOURS),
                    features=label_features(ERROR_MAP_NAMES),
                ),
                lambda: self._finish_result(result),
            ]
        )

    @property
    def drawing(self) -> bool:
        """True while a result's layers, markers or plot are still being drawn."""
        return self._drawing > 0

    def _staged(self, steps) -> None:
        """Run ``steps`` one per event-loop turn; a newer result or a close drops the rest."""
        generation = self._generation
        self._drawing += 1

        def run(index: int) -> None:
            if self._torn_down or generation != self._generation:
                self._drawing -= 1
                return
            try:
                steps[index]()
            except BaseException:
                self._drawing -= 1
                raise
            if index + 1 < len(steps):
                QTimer.singleShot(_STEP_MS, lambda: run(index + 1))
            else:
                self._drawing -= 1

        QTimer.singleShot(0, lambda: run(0))

    def _finish_result(self, result: EvaluationResult) -> None:
        self.result, self.stale = result, False
        with self.overlay_label.changed.blocked():
            self.overlay_label.reset_choices()
            if result.overlay is not None:
                self.overlay_label.value = result.overlay.label
        self._say_state()
        self._show_overlay(result.overlay)

    def _evaluated_labels(self, _widget=None) -> list[int]:
        return [] if self.result is None else [int(k) for k in self.result.report.per_label]

    def _on_overlay_label(self, label) -> None:
        if self.result is None or self.result.error_map is None or label is None or self._busy():
            return
        surface = self.result.report.settings.get("surface", self.surface.value)
        self.worker = run_generator(
            self.controls,
            iter_overlay,
            self.inputs,
            label,
            surface=surface,
            on_returned=self._show_overlay,
            title="Boundary distances",
        )

    def _hide_markers(self) -> None:
        """Hide the Hausdorff markers (they belong to an earlier overlay); no layer is removed."""
        for role in ("points", "line"):
            layer = self._own_layer(role)
            if layer is not None and layer.visible:
                layer.visible = False

    def _show_overlay(self, overlay) -> None:
        if self._torn_down:
            return
        if self.result is not None:
            self.result = EvaluationResult(self.result.report, self.result.error_map, overlay)
        self.jump_button.enabled = overlay is not None
        self._hide_markers()
        self._staged([lambda: self._draw_distances(overlay), self._update_plot])

    def _draw_distances(self, overlay) -> None:
        """Show ``overlay``'s boundary distance map (or remove the last one if it has none)."""
        if overlay is None or overlay.distance_map is None:
            existing = self._own_layer("distance")
            if existing is not None:
                self.viewer.layers.remove(existing)
        else:
            layer = self._put_layer(
                "distance",
                overlay.distance_map,
                kind="image",
                description=f"boundary distance of label {overlay.label}: reference "
                "boundary to prediction, prediction boundary to reference",
                colormap=DISTANCE_COLORMAP,
                contrast_limits=(0.0, max(float(overlay.hd), 1e-6)),
                interpolation2d="nearest",
            )
            limits = [0.0, max(float(overlay.hd), 1e-6)]
            if list(layer.contrast_limits) != limits:
                layer.contrast_limits = limits
            layer.metadata = {**layer.metadata, "unit": overlay.distances.unit}

    def _on_show_overlays(self, show: bool) -> None:
        """Show or hide the drawn overlays at once (the next evaluation draws them or not)."""
        for layer in self.output_layers():
            if layer.metadata.get(_ROLE_KEY) == "lesions" or (
                layer.metadata.get(_ROLE_KEY) in ("points", "line") and show
            ):
                continue  # the markers come back with the next jump; lesions are not overlays
            if layer.visible != bool(show):
                layer.visible = bool(show)

    def _update_plot(self, _=None) -> None:
        overlay = None if self.result is None else self.result.overlay
        if overlay is None:
            self.plot.clear_plot("no boundary to plot (empty mask)" if self.result else "")
            return
        report = self.result.report
        sd = overlay.distances
        self.plot.show_distances(
            sd.distances_ref_to_pred,
            sd.distances_pred_to_ref,
            hd_value=report.per_label[overlay.label][report.hd_key],
            percentile=report.settings["hd_percentile"],
            tolerance=report.settings["nsd_tolerance_mm"],
            unit=report.units.get("hd", "mm"),
            kind=self.plot_kind.value,
            title=f"label {overlay.label}",
        )

    def jump_to_hausdorff(self, _=None) -> None:
        """Zoom onto the Hausdorff distance and mark both of its boundary points and the line.

        The slice moves to the point farthest from the other boundary; the camera centres on
        the middle of the segment to the nearest point of the other boundary and zooms so that
        the segment fills two thirds of the canvas (at least 20 voxels are in view). The
        markers are drawn in the next turns of the event loop (the first time napari builds
        their visuals), in layers reused by every later jump.
        """
        if self.result is None or self.result.overlay is None:
            return
        overlay = self.result.overlay
        ref = self._pair[0]
        far = np.asarray(ref.data_to_world(overlay.hd_location), float)
        near = np.asarray(ref.data_to_world(overlay.hd_partner or overlay.hd_location), float)
        ndim = self.viewer.dims.ndim
        offset = ndim - far.size
        self.viewer.dims.set_point(list(range(offset, ndim)), [float(w) for w in far])
        displayed = [d - offset for d in self.viewer.dims.displayed if d >= offset]
        camera = self.viewer.scene.camera
        middle = (far + near) / 2
        point = self.viewer.dims.point
        center = [
            middle[d - offset] if d >= offset else point[d] for d in self.viewer.dims.displayed
        ]
        camera.center = tuple(center)
        span = float(np.linalg.norm((far - near)[displayed]))
        span = max(1.5 * span, 20.0 * float(np.min(np.abs(ref.scale[-far.size :]))))
        camera.zoom = float(np.min(self.viewer.canvas.size)) / span
        self._generation += 1
        self._staged(
            [
                lambda: self._mark_line(overlay),
                lambda: self._mark_points(overlay),
                lambda: self._reveal("points"),
            ]
        )

    def _reveal(self, role: str) -> None:
        """Show this panel's ``role`` layer, added hidden so its first draw has its own turn.

        napari builds a layer's visuals (its shaders) at the first draw; adding the layer and
        drawing it in separate turns of the event loop keeps each stall short.
        """
        layer = self._own_layer(role)
        if layer is not None and not layer.visible:
            layer.visible = True

    def _marker_ends(self, overlay) -> np.ndarray:
        return np.array([overlay.hd_location, overlay.hd_partner or overlay.hd_location], float)

    def _mark_line(self, overlay) -> None:
        """Draw the Hausdorff segment (a Vectors line), reusing the panel's line layer."""
        ref = self._pair[0]
        description = f"Hausdorff distance of label {overlay.label}"
        far, near = self._marker_ends(overlay)
        segment = np.stack([far, near - far])[None]  # napari vectors: (start, projection)
        layer = self._own_layer("line")
        if layer is not None and type(layer) is Vectors:
            layer.data = segment
            self._restore(layer, "line", description)
            return
        self._put_layer(
            "line",
            segment,
            kind="vectors",
            description=description,
            edge_color="#ff1744",
            edge_width=float(np.min(np.abs(ref.scale))) * 0.4,
            vector_style="line",
        )

    def _mark_points(self, overlay) -> None:
        """Mark both ends of the Hausdorff distance (Points), reusing the panel's points layer."""
        other = "prediction" if overlay.hd_side == "reference" else "reference"
        ends = self._marker_ends(overlay)
        features = {"boundary": [overlay.hd_side, other], "distance": [overlay.hd, 0.0]}
        colours = [MARKER_COLOURS[overlay.hd_side], MARKER_COLOURS[other]]
        description = f"Hausdorff distance of label {overlay.label}"
        layer = self._own_layer("points")
        if layer is not None and type(layer) is Points and len(layer.data) == 2:
            layer.data = ends
            layer.features = features
            layer.face_color = colours
            self._restore(layer, "points", description)
            return
        self._put_layer(
            "points",
            ends,
            kind="points",
            description=description,
            features=features,
            face_color=colours,
            border_color="#ff1744",
            size=2.5,
            visible=False,
        )

    def _restore(self, layer, role: str, description: str) -> None:
        """Bring a reused marker layer up to date: geometry, name, metadata, visible."""
        source = self._pair[0]
        for key in ("scale", "translate"):
            if not np.array_equal(getattr(layer, key), getattr(source, key)):
                setattr(layer, key, getattr(source, key))
        layer.metadata = self._own_metadata(role, description)
        name = self._output_names()[role]
        if layer.name != name:
            layer.name = name
        if not layer.visible:
            layer.visible = True

    # ---- export --------------------------------------------------------------------------
    def export_metadata(self) -> dict:
        """Layer names and grid note recorded with every export."""
        return {
            "reference_layer": self._pair[0].name,
            "prediction_layer": self._pair[1].name,
            "grid_note": self.inputs.note if self.inputs else "",
        }

    def export_report(self, path) -> Path:
        """Write the last report to ``path`` (.csv or .json) with settings and layer names."""
        if self.result is None:
            raise ValueError("nothing to export yet: press Evaluate first")
        return write_report(self.result.report, path, metadata=self.export_metadata())

    def _export_csv(self, _=None) -> None:
        self._export_dialog("csv")

    def _export_json(self, _=None) -> None:
        self._export_dialog("json")

    def _export_dialog(self, fmt: str) -> None:
        if self.result is None:
            self.status.refuse("Nothing to export yet: press Evaluate first.")
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native,
            f"Export evaluation as {fmt.upper()}",
            f"evaluation.{fmt}",
            f"{fmt.upper()} files (*.{fmt})",
        )
        if path:
            self.save_report(path)

    def save_report(self, path) -> Path | None:
        """Export to ``path`` and say the outcome in the status line, never with a traceback.

        A path that cannot be written (missing folder, a folder, no permission, disk full) is
        one line naming the path and the reason; nothing is written then. Returns the path
        written, or None.
        """
        try:
            written = self.export_report(path)
        except (OSError, ValueError) as exc:
            self.status.refuse(f"Not saved: {exc}")
            return None
        self.status.say(f"Saved {written}")
        return written
