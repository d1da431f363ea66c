"""Evaluation dock widget: reference vs prediction metrics, pitfall warnings, overlays, export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Select,
)
from napari.layers import Labels
from napari.utils.colormaps import DirectLabelColormap
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog

from ..core.metrics.maps import present_labels
from ..core.metrics.report import write_report
from ..core.metrics.workflow import (
    EvaluationOptions,
    EvaluationResult,
    default_prediction,
    default_reference,
    iter_evaluation,
    iter_overlay,
)
from ._common import layer_choices
from ._distance_plot import PLOT_KINDS, DistancePlot
from ._evaluation_inputs import pair_problem, prepare_inputs
from ._layers import write_output
from ._metrics_table import MetricsTable, WarningsList
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

#: error-map values and their fixed colours
ERROR_COLOURS = {None: "transparent", 0: "transparent", 1: "#33cc33", 2: "#ff7f0e", 3: "#1f77ff"}
#: metadata key marking this panel's own output layers (kept out of the layer pickers)
_OUTPUT_KEY = "napari_segtools_evaluation_output"


def _boxed(qwidget) -> Container:
    """Wrap one plain Qt widget in a label-less magicgui Container (keeps the layout order)."""
    box = Container(labels=False)
    box.margins = (0, 0, 0, 0)
    box.native.layout().addWidget(qwidget)
    return box


class EvaluationWidget(Container):
    """Compare a prediction Labels layer with a reference: metrics, warnings, overlays."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        self.result: EvaluationResult | None = None
        self.inputs = None
        #: the (reference, prediction) layers of the last evaluation started
        self._pair: tuple = (None, None)
        self._auto_reference = True
        self._watched: list = []
        self._checked_pair: tuple = (None, None)
        self._present_ids: list[int] = []
        pickers = {"choices": self._layer_choices, "nullable": True}
        self.reference = ComboBox(
            label="Reference", tooltip="Labels layer taken as the truth", **pickers
        )
        self.prediction = ComboBox(
            label="Prediction", tooltip="Labels layer to evaluate", **pickers
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
        self.auto_update = CheckBox(
            text="Auto update when painting",
            value=False,
            tooltip="Re-evaluate half a second after either layer changes",
        )
        self.show_overlays = CheckBox(
            text="Show error map, distances and plot",
            value=True,
            tooltip="Also draw the error map, the boundary distances and their plot "
            "(untick for a quick table)",
        )
        self.controls = RunControls(run_text="Evaluate")
        #: the dock's one status line (results, notes, user mistakes inline)
        self.status = self.controls.status
        self.table = MetricsTable()
        self.copy_button = PushButton(text="Copy", tooltip="Copy the table (tab-separated)")
        self.csv_button = PushButton(
            text="Export CSV…", tooltip="Save table, warnings, settings and layer names as CSV"
        )
        self.json_button = PushButton(
            text="Export JSON…", tooltip="Save table, warnings, settings and layer names as JSON"
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
            tooltip="Move the viewer to the boundary voxel where the Hausdorff distance is "
            "attained",
        )
        self.plot_kind = ComboBox(
            label="Plot",
            value="histogram",
            choices=PLOT_KINDS,
            tooltip="Histogram or cumulative distribution of the boundary distances",
        )
        self.plot = DistancePlot()
        export = Container(
            widgets=[self.copy_button, self.csv_button, self.json_button],
            layout="horizontal",
            labels=False,
        )
        export.margins = (0, 0, 0, 0)
        super().__init__(
            widgets=[
                self.reference,
                self.prediction,
                self.grids,
                self.all_labels,
                self.label_ids,
                self.nsd_tolerance_mm,
                self.beta,
                self.hd_percentile,
                self.empty,
                self.surface,
                self.auto_update,
                self.show_overlays,
                self.controls,
                _boxed(self.table),
                export,
                Label(value="Warnings"),
                _boxed(self.warnings),
                self.overlay_label,
                self.jump_button,
                self.plot_kind,
                _boxed(self.plot),
            ]
        )
        self.status.native.setWordWrap(True)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._auto_evaluate)

        self.reference.changed.connect(self._on_reference_changed)
        self.prediction.changed.connect(self._on_layers_changed)
        self.grids.changed.connect(self._on_layers_changed)
        self.all_labels.changed.connect(self._on_all_labels)
        self.controls.run_button.changed.connect(self.evaluate)
        self.copy_button.changed.connect(self.table.copy_to_clipboard)
        self.csv_button.changed.connect(lambda: self._export_dialog("csv"))
        self.json_button.changed.connect(lambda: self._export_dialog("json"))
        self.overlay_label.changed.connect(self._on_overlay_label)
        self.jump_button.changed.connect(self.jump_to_hausdorff)
        self.plot_kind.changed.connect(self._update_plot)
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._refresh_layers)
        self._refresh_layers()

    # ---- layer pickers -------------------------------------------------------------------
    def _layer_choices(self, _widget=None) -> list[tuple[str, Labels]]:
        return layer_choices(
            self.viewer.layers, "labels", where=lambda layer: _OUTPUT_KEY not in layer.metadata
        )

    def _refresh_layers(self, event=None) -> None:
        if event is not None and getattr(event, "type", "") == "inserted":
            event.value.events.name.connect(self._refresh_layers)
        self.reference.reset_choices()
        self.prediction.reset_choices()
        if self._auto_reference:
            names = [name for name, _ in self._layer_choices()]
            name = default_reference(names)
            if name is not None and self.reference.value is not self.viewer.layers[name]:
                self.reference.value = self.viewer.layers[name]
                self._auto_reference = True  # picked by name, not by the user
        pair = (self.reference.value, self.prediction.value)
        if any(a is not b for a, b in zip(pair, self._checked_pair, strict=True)):
            self._on_layers_changed()

    def _on_reference_changed(self, layer) -> None:
        self._auto_reference = False
        names = [name for name, _ in self._layer_choices()]
        paired = default_prediction(names, None if layer is None else layer.name)
        if paired is not None:
            self.prediction.value = self.viewer.layers[paired]
        self._on_layers_changed()

    def _on_layers_changed(self, _=None) -> None:
        """Check the chosen pair, say what is wrong inline, and watch both for painting."""
        ref, pred = self.reference.value, self.prediction.value
        self._checked_pair = (ref, pred)
        for layer in self._watched:
            layer.events.paint.disconnect(self._schedule)
            layer.events.data.disconnect(self._schedule)
        self._watched = [layer for layer in {id(ref): ref, id(pred): pred}.values() if layer]
        for layer in self._watched:
            layer.events.paint.connect(self._schedule)
            layer.events.data.connect(self._schedule)
        problem, note = self._check_pair()
        if problem:
            self.status.refuse(problem)
        else:
            self.status.say(self._notes(note))
        self.controls.run_button.enabled = not problem and not self._busy()
        if not self.all_labels.value:
            self._refresh_label_choices()

    def _notes(self, note: str) -> str:
        """Join the grid note and the reference's lesson (gallery cases), one a line."""
        ref = self.reference.value
        lesson = ref.metadata.get("lesson", "") if ref is not None else ""
        return "\n".join(t for t in (note, lesson) if t)

    def _check_pair(self) -> tuple[str, str]:
        """(problem that blocks evaluation, note), each '' when there is none."""
        ref, pred = self.reference.value, self.prediction.value
        if ref is None or pred is None:
            return "Choose a reference and a prediction Labels layer.", ""
        if ref is pred:
            return "Reference and prediction are the same layer.", ""
        problem, note = pair_problem(ref, pred, resample=self.grids.value != "refuse")
        return (f"Refused: {problem}." if problem else ""), note

    def _on_all_labels(self, value: bool) -> None:
        self.label_ids.visible = not value
        if not value:
            self._refresh_label_choices()

    def _refresh_label_choices(self) -> None:
        ref, pred = self.reference.value, self.prediction.value
        found = present_labels(*(layer.data for layer in (ref, pred) if layer is not None))
        keep = [v for v in self.label_ids.value if v in found]
        self._present_ids = found
        self.label_ids.reset_choices()
        self.label_ids.value = keep or found[:1]

    # ---- evaluation ----------------------------------------------------------------------
    def _busy(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def _options(self) -> EvaluationOptions:
        return EvaluationOptions(
            nsd_tolerance_mm=float(self.nsd_tolerance_mm.value),
            beta=float(self.beta.value),
            hd_percentile=float(self.hd_percentile.value),
            surface=self.surface.value,
            empty=self.empty.value,
        )

    def evaluate(self, _=None):
        """Start the evaluation worker (or show why not). Returns the worker or None."""
        problem, _note = self._check_pair()
        if problem:
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

    def _schedule(self, _event=None) -> None:
        if self.auto_update.value:
            self._timer.start()

    def _auto_evaluate(self) -> None:
        if self._busy():  # try again once the running evaluation is done
            self._timer.start()
            return
        self.evaluate()

    def _show_result(self, result: EvaluationResult) -> None:
        self.result = result
        report = result.report
        self.status.say(self._notes(self.inputs.note if self.inputs else ""))
        self.table.show_report(report)
        self.warnings.show_warnings(report.warnings)
        self.jump_button.enabled = False
        if result.error_map is None:
            self.plot.clear_plot("overlays are off")
            return
        ref, pred = self._pair
        write_output(
            self.viewer,
            f"{pred.name} error map",
            result.error_map,
            source=ref,
            kind="labels",
            colormap=DirectLabelColormap(color_dict=ERROR_COLOURS),
            metadata={_OUTPUT_KEY: "error map (1 TP, 2 FP, 3 FN)"},
        )
        with self.overlay_label.changed.blocked():
            self.overlay_label.reset_choices()
            if result.overlay is not None:
                self.overlay_label.value = result.overlay.label
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

    def _show_overlay(self, overlay) -> None:
        if self.result is not None:
            self.result = EvaluationResult(self.result.report, self.result.error_map, overlay)
        self.jump_button.enabled = overlay is not None
        ref, pred = self._pair
        name = f"{pred.name} boundary distance"
        if overlay is None:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        else:
            sd = overlay.distances
            write_output(
                self.viewer,
                name,
                sd.points_pred,
                source=ref,
                kind="points",
                features={"distance": sd.distances_pred_to_ref},
                face_color="distance",
                face_colormap="plasma",
                size=1.0,
                border_width=0.0,
                metadata={_OUTPUT_KEY: f"boundary distance of label {overlay.label}"},
            )
        self._update_plot()

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
        """Centre the viewer on the voxel where the overlay label's Hausdorff distance is."""
        if self.result is None or self.result.overlay is None:
            return
        world = self._pair[0].data_to_world(self.result.overlay.hd_location)
        axes = range(self.viewer.dims.ndim - len(world), self.viewer.dims.ndim)
        self.viewer.dims.set_point(list(axes), [float(w) for w in world])
        point = self.viewer.dims.point
        camera = getattr(self.viewer, "scene", self.viewer).camera  # napari >= 0.9: scene.camera
        camera.center = tuple(point[d] for d in self.viewer.dims.displayed)

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
            written = self.export_report(path)
            self.status.say(f"Saved {written}")
