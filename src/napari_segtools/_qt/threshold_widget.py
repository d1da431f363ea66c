"""The "Threshold" dock widget: manual or automatic ranges, live preview, clean-up, output."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatRangeSlider,
    FloatSpinBox,
    Label,
    SpinBox,
)
from napari.utils.notifications import show_warning
from qtpy.QtCore import QTimer

from ..core._types import Progress, Spacing, run_to_completion
from ..core.cleanup import iter_clean_mask, paint_labels
from ..core.threshold import (
    METHODS,
    block_size_voxels,
    image_histogram,
    iter_local_threshold,
    threshold_from_histogram,
    threshold_labels,
    threshold_mask,
)
from ._cleanup_options import CleanupOptions
from ._histogram import HistogramPlot
from ._label_output import LabelOutput
from ._layers import current_slice_index, write_output
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


@dataclass(frozen=True)
class Settings:
    """What to segment: a range, multi-Otsu class boundaries, or a local threshold in the range."""

    method: str
    low: float
    high: float
    thresholds: tuple[float, ...] = ()
    block_size_mm: float = 15.0
    offset: float = 0.0


def segment(data: np.ndarray, spacing: Spacing, settings: Settings, first_label: int = 1):
    """Generator: bool mask (range, local) or class labels from ``first_label`` (multi-Otsu)."""
    if settings.method == "multiotsu":
        yield Progress(0, 1, "multi-Otsu classes")
        return threshold_labels(data, settings.thresholds, first_label=first_label)
    mask = threshold_mask(data, low=settings.low, high=settings.high)
    if settings.method == "local":
        local = yield from iter_local_threshold(
            data, spacing=spacing, block_size_mm=settings.block_size_mm, offset=settings.offset
        )
        mask &= data > local
    yield Progress(1, 1, "threshold")
    return mask


def apply_threshold(
    image, region, spacing, settings, first_label, steps, target_block, paint_options
):
    """Worker generator: segment ``image[region]``, clean up each label, paint ``target_block``."""
    data = np.asarray(image[region])
    result = yield from segment(data, spacing, settings, first_label)
    source = np.zeros(data.shape, np.uint16)
    values = (
        [first_label]
        if result.dtype == bool
        else range(first_label, first_label + len(settings.thresholds) + 1)
    )
    for value in values:
        mask = result if result.dtype == bool else result == value
        source[(yield from iter_clean_mask(mask, spacing=spacing, steps=steps))] = value
    return paint_labels(target_block, source, **paint_options)


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
        self.status = Label(value="")
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
                self.status,
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
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if layer._type_string == "image" and not layer.rgb
        ]

    def region(self, layer) -> tuple[int, ...]:
        """Index of the data the scope covers: the shown slice, or the current 3-D (2-D) volume."""
        lead = current_slice_index(self.viewer, layer)
        return lead if self.scope.value == "slice" else lead[: max(layer.ndim - 3, 0)]

    def settings(self) -> Settings:
        low, high = self.range.value
        return Settings(
            self.method.value,
            float(low),
            float(high),
            self._thresholds,
            self.block_mm.value,
            self.offset.value,
        )

    def _say(self, message: str) -> None:
        self.status.value = message

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
        self._say("")
        if method in METHODS and self._hist is not None:
            try:
                value = threshold_from_histogram(
                    self._hist, method=method, classes=self.classes.value
                )
            except ValueError as exc:
                self._say(str(exc))
                show_warning(str(exc))
                return
            if method == "multiotsu":
                self._thresholds = value
                self._say("thresholds: " + ", ".join(f"{v:g}" for v in value))
            else:
                self.range.value = (min(value, self.range.max), self.range.max)
                self._say(f"{method} threshold: {value:g} (range [{value:g}, {self.range.max:g}])")
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
        except ValueError as exc:
            self._say(str(exc))
            return
        name = self._preview_name(layer)
        existing = self.viewer.layers[name] if name in self.viewer.layers else None
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
        spacing = tuple(layer.scale[len(volume) :])
        if settings.method == "local" and len(region) > len(volume):
            # a slab as thick as the filter reach gives the slice exactly what the volume would
            axis, z = len(volume), region[len(volume)]
            size = block_size_voxels(settings.block_size_mm, spacing)[0]
            reach = int(np.ceil(4.0 * (size - 1) / 6.0)) + 1
            z0, z1 = max(z - reach, 0), min(z + reach + 1, layer.data.shape[axis])
            slab = np.asarray(layer.data[(*volume, slice(z0, z1))])
            return run_to_completion(segment(slab, spacing, settings))[z - z0].view(np.uint8)
        data = np.asarray(layer.data[region])
        spacing = tuple(layer.scale[len(region) :])
        result = run_to_completion(segment(data, spacing, settings))
        return result.view(np.uint8) if result.dtype == bool else result

    # ------------------------------------------------------------------- apply
    def _points_in(self, layer, region) -> np.ndarray | None:
        points_layer = self.cleanup.points.value
        if points_layer is None or not len(points_layer.data):
            return None
        world = np.array([points_layer.data_to_world(p) for p in points_layer.data])
        data = np.array([layer.world_to_data(w) for w in world])
        data = np.round(data).astype(int)
        on_region = np.all(data[:, : len(region)] == np.asarray(region, int), axis=1)
        return data[on_region, len(region) :]

    def _on_apply(self, *_):
        layer = self.image.value
        if layer is None:
            self._say("Add or choose an Image layer first")
            return
        try:
            region = self.region(layer)
            spacing = tuple(float(s) for s in layer.scale[len(region) :])
            settings = self.settings()
            steps = self.cleanup.steps(layer.ndim - len(region), self._points_in(layer, region))
            first = self.output.label_value.value
            top = first + len(settings.thresholds)
            target = self.output.resolve(layer, np.uint8 if top <= 255 else np.uint16)
        except ValueError as exc:
            self._say(str(exc))
            show_warning(str(exc))
            return
        self._say("")
        self.worker = run_generator(
            self.controls,
            apply_threshold,
            layer.data,
            region,
            spacing,
            settings,
            first,
            steps,
            np.asarray(target.data)[region],
            self.output.paint_options(),
            on_returned=partial(self._on_done, target, region),
            title="Threshold",
        )

    def _on_done(self, target, region, block):
        self.output.commit(target, region, block)
        self.preview.value = False
        self._say(f"wrote {int(np.count_nonzero(block))} labelled voxels into '{target.name}'")
