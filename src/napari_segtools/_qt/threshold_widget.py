"""The "Threshold" dock widget: manual or automatic ranges, live preview, clean-up, output."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatRangeSlider, FloatSpinBox, SpinBox
from qtpy.QtCore import QTimer

from ..core.threshold import METHODS, image_histogram, threshold_from_histogram
from ..core.threshold_pipeline import (
    ThresholdSettings,
    iter_threshold_into_labels,
    threshold_segment,
    threshold_slice,
)
from ._cleanup_options import CleanupOptions
from ._common import USER_ERRORS, layer_choices
from ._histogram import HistogramPlot
from ._label_output import LabelOutput
from ._layers import current_slice_index, find_layer, points_to_indices, write_output
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

_METHODS = [
    ("Manual range", "manual"),
    ("Otsu", "otsu"),
    ("Multi-Otsu (k classes)", "multiotsu"),
    ("Li", "li"),
    ("Yen", "yen"),
    ("Triangle", "triangle"),
    ("Isodata", "isodata"),
    ("Mean", "mean"),
    ("Minimum", "minimum"),
    ("Local (adaptive)", "local"),
]
_SCOPES = [("whole volume", "volume"), ("current slice", "slice")]
_PREVIEW_DELAY_MS = 30


class ThresholdWidget(Container):
    """Threshold an Image layer into a Labels layer, with histogram, preview and clean-up."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        self._hist = None
        self._hist_key = None
        self._thresholds: tuple[float, ...] = ()
        self._preview_region = None
        self._preview_layer = None
        self.image = ComboBox(
            label="Image", choices=self._image_choices, tooltip="Image layer to threshold"
        )
        self.scope = ComboBox(
            label="Apply to",
            choices=_SCOPES,
            value="volume",
            tooltip="Whole volume, or only the slice shown in the viewer (2-D)",
        )
        self.method = ComboBox(
            label="Method",
            choices=_METHODS,
            value="manual",
            tooltip="Automatic methods fill the range from the histogram; it stays editable",
        )
        self.classes = SpinBox(
            label="Classes",
            value=3,
            min=2,
            max=5,
            visible=False,
            tooltip="Multi-Otsu: number of classes (each becomes a label)",
        )
        self.block_mm = FloatSpinBox(
            label="Block size (mm)",
            value=15.0,
            min=0.1,
            max=1000.0,
            step=0.5,
            visible=False,
            tooltip="Local threshold: width of the neighbourhood in mm (odd voxel count per axis)",
        )
        self.offset = FloatSpinBox(
            label="Offset (intensity)",
            value=0.0,
            min=-1e6,
            max=1e6,
            visible=False,
            tooltip="Local threshold: subtracted from the local mean",
        )
        self.range = FloatRangeSlider(
            label="Range (intensity)",
            min=0.0,
            max=1.0,
            value=(0.0, 1.0),
            tooltip="Inclusive intensity range [low, high]",
        )
        self.histogram = HistogramPlot()
        self.preview = CheckBox(
            label="Live preview",
            value=True,
            tooltip="Show the result as a translucent layer while you edit",
        )
        self.cleanup = CleanupOptions(viewer, label="Clean-up")
        self.output = LabelOutput(viewer, "threshold", label="Output")
        self.controls = RunControls("Apply")
        #: the dock's status line (shared with the run controls)
        self.status = self.controls.status
        super().__init__(
            widgets=[
                self.image,
                self.scope,
                self.method,
                self.classes,
                self.block_mm,
                self.offset,
                self.range,
                self.histogram,
                self.preview,
                self.cleanup,
                self.output,
                self.controls,
            ]
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(_PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.update_preview)
        self.image.changed.connect(self._on_source)
        self.scope.changed.connect(self._on_source)
        self.method.changed.connect(self._on_method)
        self.classes.changed.connect(self._on_method)
        for widget in (self.block_mm, self.offset):
            widget.changed.connect(self._schedule_preview)
        self.range.changed.connect(self._on_range)
        self.preview.changed.connect(self._on_preview_toggled)
        self.controls.run_button.changed.connect(self._on_apply)
        viewer.layers.events.inserted.connect(self.image.reset_choices)
        viewer.layers.events.removed.connect(self.image.reset_choices)
        viewer.dims.events.current_step.connect(self._on_dims)
        viewer.dims.events.ndisplay.connect(self._on_dims)
        self._on_source()

    # ----------------------------------------------------------------- inputs
    def _image_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "image")

    def region(self, layer) -> tuple[int, ...]:
        """Return the index of the data the scope covers: the shown slice, or the current volume."""
        lead = current_slice_index(self.viewer, layer)
        return lead if self.scope.value == "slice" else lead[: max(layer.ndim - 3, 0)]

    def settings(self) -> ThresholdSettings:
        """Return what the controls ask to segment."""
        low, high = self.range.value
        return ThresholdSettings(
            self.method.value,
            float(low),
            float(high),
            self._thresholds,
            self.block_mm.value,
            self.offset.value,
        )

    # ----------------------------------------------------------- histogram/auto
    def _on_source(self, *_):
        layer = self.image.value
        if layer is None:
            self._hist = self._hist_key = None
            self.histogram.set_histogram(None)
            return
        key = (id(layer), self.region(layer))
        if key == self._hist_key:
            return
        same_layer = self._hist_key is not None and self._hist_key[0] == key[0]
        if not same_layer:
            self._remove_preview()
        self._hist_key = key
        self._hist = image_histogram(np.asarray(layer.data[key[1]]))
        lo, hi = self._hist.low, self._hist.high
        low, high = self.range.value
        self.range.range = (lo, hi + (hi == lo))
        if same_layer and low <= hi and high >= lo:
            self.range.value = (max(low, lo), min(high, hi))
        else:  # a new image starts at [Otsu, max] (as Slicer does), not at "everything"
            self.range.value = (self._initial_low(), hi)
        self.histogram.set_histogram(self._hist)
        self._on_method()

    def _initial_low(self) -> float:
        try:
            return float(threshold_from_histogram(self._hist, method="otsu"))
        except ValueError:  # a constant image has no Otsu threshold
            return self._hist.low

    def _on_method(self, *_):
        method = self.method.value
        self.classes.visible = method == "multiotsu"
        self.block_mm.visible = self.offset.visible = method == "local"
        self._thresholds = ()
        self.status.say("")
        if method in METHODS and self._hist is not None:
            try:
                value = threshold_from_histogram(
                    self._hist, method=method, classes=self.classes.value
                )
            except ValueError as exc:
                self.status.refuse(str(exc))
                return
            if isinstance(value, tuple):
                self._thresholds = value
                self.status.say("thresholds: " + ", ".join(f"{v:g}" for v in value))
            else:
                self.range.value = (min(value, self.range.max), self.range.max)
                self.status.say(
                    f"{method} threshold: {value:g} (range [{value:g}, {self.range.max:g}])"
                )
        self._on_range()

    def _on_range(self, *_):
        low, high = self.range.value
        self.histogram.set_range(low, high, self._thresholds)
        self._schedule_preview()

    def _on_dims(self, *_):
        if self.image.value is not None:
            self._on_source()
        self._schedule_preview()

    # ----------------------------------------------------------------- preview
    def _schedule_preview(self, *_):
        if self.preview.value:
            self._timer.start()

    def _preview_name(self, layer) -> str:
        return f"{layer.name} threshold preview"

    def _on_preview_toggled(self, on: bool):
        if on:
            self._schedule_preview()
        else:
            self._remove_preview()

    def _remove_preview(self):
        if self._preview_layer is not None and self._preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self._preview_layer)
        self._preview_layer = self._preview_region = None

    def _visible_region(self, layer) -> tuple[int, ...]:
        if self.scope.value == "slice" or self.viewer.dims.ndisplay == 2:
            return current_slice_index(self.viewer, layer)
        return self.region(layer)

    def update_preview(self) -> None:
        """Recompute the preview of what is on screen (the slice, or the volume in 3-D view)."""
        layer = self.image.value
        if layer is None or not self.preview.value:
            return
        region = self._visible_region(layer)
        try:
            result = self._preview_result(layer, region)
        except USER_ERRORS as exc:
            self.status.refuse(str(exc))
            return
        name = self._preview_name(layer)
        existing = find_layer(self.viewer, name)
        if existing is None or existing.data.shape != layer.data.shape:
            buffer = np.zeros(layer.data.shape, np.uint8)
            buffer[region] = result
            self._preview_layer = write_output(
                self.viewer, name, buffer, source=layer, opacity=0.5
            )
        else:  # update in place: no new layer, no geometry events
            if self._preview_region is not None:
                existing.data[self._preview_region] = 0
            existing.data[region] = result
            existing.refresh(thumbnail=False, extent=False)
        self._preview_region = region

    def _preview_result(self, layer, region) -> np.ndarray:
        settings = self.settings()
        volume = self.region(layer)
        spacing = tuple(float(s) for s in layer.scale[len(volume) :])
        if len(region) > len(volume):  # one slice of the volume, exactly as the volume gives it
            result = threshold_slice(
                layer.data[volume], region[len(volume)], settings=settings, spacing=spacing
            )
        else:
            data = np.asarray(layer.data[region])
            result = threshold_segment(data, settings=settings, spacing=spacing)
        return result.view(np.uint8) if result.dtype == bool else result

    # ------------------------------------------------------------------- apply
    def _on_apply(self, *_):
        layer = self.image.value
        if layer is None:
            self.status.refuse("Add or choose an Image layer first")
            return
        try:
            region = self.region(layer)
            spacing = tuple(float(s) for s in layer.scale[len(region) :])
            settings = self.settings()
            points, _ = points_to_indices(self.cleanup.points.value, layer, region)
            steps = self.cleanup.settings().steps(layer.ndim - len(region), points=points)
            first = self.output.label_value.value
            top = first + settings.n_labels - 1
            target = self.output.resolve(layer, np.uint8 if top <= 255 else np.uint16)
        except ValueError as exc:
            self.status.refuse(str(exc))
            return
        self.worker = run_generator(
            self.controls,
            iter_threshold_into_labels,
            layer.data[region],  # read in the worker: the generator converts it
            np.asarray(target.data)[region],
            settings=settings,
            spacing=spacing,
            steps=steps,
            first_label=first,
            **self.output.paint_options(),
            on_returned=partial(self._on_done, target, region),
            title="Threshold",
        )

    def _on_done(self, target, region, block):
        self.output.commit(target, region, block)
        self.preview.value = False
        self.status.say(
            f"wrote {int(np.count_nonzero(block))} labelled voxels into '{target.name}'"
        )
