"""The "Threshold" dock widget: manual or automatic ranges, live preview, clean-up, output.

Nothing heavy runs on the GUI thread: histograms (with the body mask), automatic thresholds,
previews and Apply all run in workers (:func:`~._worker.run_generator`); a new request made
while one runs replaces any waiting one, so dragging the slider never queues work up.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatRangeSlider, FloatSpinBox, SpinBox
from qtpy.QtCore import QTimer

from .._layer_style import PREVIEW_COLOR, label_features
from ..core._types import Progress
from ..core.threshold import METHODS, threshold_from_histogram
from ..core.threshold_pipeline import (
    ThresholdSettings,
    iter_histograms,
    iter_threshold_into_labels,
    iter_threshold_labels,
    threshold_slice,
)
from ._cleanup_options import CleanupOptions
from ._common import USER_ERRORS, Section, layer_choices
from ._dock import Connections, ScrollDock
from ._histogram import HistogramPlot
from ._history import changed_message
from ._label_output import OUTPUT_KEY, LabelOutput
from ._layers import current_slice_index, points_to_indices
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
_HISTOGRAM_FROM = [
    ("body (largest foreground component)", "body"),
    ("whole image", "image"),
    ("a mask layer", "mask"),
]
_PREVIEW_DELAY_MS = 30


class _Failed:
    """An exception a background job raised, carried back as its result."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _guarded(gen_func, args, kwargs):
    """Run ``gen_func(*args, **kwargs)`` returning failures as :class:`_Failed` results.

    Every job then ends through ``returned`` (connected before the worker starts), so a fast
    job can never finish unnoticed.
    """
    gen = gen_func(*args, **kwargs)
    try:
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                return stop.value
            # a yield point (Cancel stops here) without Progress: updating napari's activity
            # bar text costs ~150 ms of GUI time per job on a busy machine
            yield None
    except Exception as exc:  # noqa: BLE001 - reported on the main thread by `_Serial`
        return _Failed(exc)


class _Serial:
    """Run one background job at a time; a request made while busy replaces the waiting one."""

    def __init__(
        self, controls: RunControls, title: str, connections: Connections, on_error
    ) -> None:
        self._on_error = on_error
        self._controls = controls
        self._title = title
        self._connections = connections
        self.worker = None
        self._pending: tuple | None = None
        self._generation = 0

    @property
    def busy(self) -> bool:
        return self.worker is not None or self._pending is not None

    def submit(self, gen_func, *args, on_returned, **kwargs) -> None:
        self._pending = (gen_func, args, kwargs, on_returned)
        if self.worker is None:
            self._start()

    def cancel(self) -> None:
        self._pending = None
        self._generation += 1  # a late result of the running job is dropped
        if self.worker is not None:
            self.worker.quit()
            self.worker = None

    def _start(self) -> None:
        assert self._pending is not None
        gen_func, args, kwargs, on_returned = self._pending
        self._pending = None
        self._generation += 1
        generation = self._generation

        def returned(value):
            if generation != self._generation:
                return
            self.worker = None
            if not self._connections.alive:
                return
            try:
                if isinstance(value, _Failed):
                    self._on_error(value.exc)
                else:
                    on_returned(value)
            finally:
                if self._pending is not None and self._connections.alive:
                    self._start()

        self.worker = run_generator(
            self._controls,
            _guarded,
            gen_func,
            args,
            kwargs,
            on_returned=returned,
            title=self._title,
            quiet=True,
        )


def _iter_auto(hist, *, method: str, classes: int):
    """Compute an automatic threshold from a histogram, as a one-step worker generator."""
    yield Progress(0, 1, method)
    return threshold_from_histogram(hist, method=method, classes=classes)


def _iter_preview(volume, *, index, settings, spacing, steps, first_label):
    """Compute the labels Apply would write: the whole region, or its slice ``index``."""
    if index is not None and not steps:  # no clean-up: the slice alone gives the same voxels
        yield Progress(0, 1, "preview slice")
        result = threshold_slice(
            volume, index, settings=settings, spacing=spacing, first_label=first_label
        )
        return index, result.astype(np.uint16)
    labels = yield from iter_threshold_labels(
        np.asarray(volume),
        settings=settings,
        spacing=spacing,
        steps=steps,
        first_label=first_label,
    )
    return None, labels


class ThresholdWidget(ScrollDock):
    """Threshold an Image layer into a Labels layer, with histogram, preview and clean-up."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        self._starting = True  # until the first histogram is requested
        self._hist = None  # the histogram automatic methods use
        self._whole = None  # the whole region's histogram (bounds the slider)
        self._hist_key: tuple | None = None
        self._hist_cache: dict[tuple, tuple] = {}
        self._thresholds: tuple[float, ...] = ()
        self._preview_region = None
        self._preview_layer = None
        self._preview_cache: tuple | None = None  # (key, labels of the whole region)
        self._range_layer: int | None = None  # the layer the range slider was set for
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
            tooltip="Multi-Otsu: number of classes; the darkest is background, the others "
            "become labels",
        )
        self.histogram_from = ComboBox(
            label="Histogram of",
            choices=_HISTOGRAM_FROM,
            value="body",
            tooltip="Voxels the automatic methods split: the body (largest bright component, "
            "holes filled) so that air does not dominate, the whole image, or a mask layer",
        )
        self.mask_layer = ComboBox(
            label="Mask layer",
            choices=self._mask_choices,
            nullable=True,
            visible=False,
            tooltip="Labels layer whose non-zero voxels give the histogram",
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
            label="Range",
            min=0.0,
            max=1.0,
            value=(0.0, 1.0),
            tooltip="Inclusive intensity range [low, high]",
        )
        self.histogram = HistogramPlot(viewer, label="")
        self.preview = CheckBox(
            label="Live preview",
            value=True,
            tooltip=f"Show what Apply writes on the shown slice (clean-up included) in the "
            f"preview colour {PREVIEW_COLOR}",
        )
        self.cleanup = CleanupOptions(viewer)
        self.output = LabelOutput(viewer, "threshold")
        self.controls = RunControls("Apply")
        #: the dock's status line (shared with the run controls)
        self.status = self.controls.status
        self._background = RunControls("")  # never shown: background jobs report on `status`
        self.advanced = Section(
            "Advanced",
            [self.block_mm, self.offset, self.mask_layer, *self.output.advanced_widgets],
            expanded=False,
        )
        super().__init__(
            [
                Section("Input", [self.image, self.scope]),
                Section(
                    "Threshold",
                    [
                        self.method,
                        self.classes,
                        self.histogram_from,
                        self.range,
                        self.histogram,
                        self.preview,
                    ],
                ),
                self.cleanup,
                self.output,
                self.advanced,
                self.controls,
            ],
            on_close=self._on_close,
        )
        self._connections: Connections = self.connections
        conn = self._connections
        self._hist_jobs = _Serial(self._background, "Histogram", conn, self._on_job_error)
        self._auto_jobs = _Serial(
            self._background, "Automatic threshold", conn, self._on_job_error
        )
        self._preview_jobs = _Serial(
            self._background, "Threshold preview", conn, self._on_job_error
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(_PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.update_preview)
        self.image.changed.connect(self._on_source)
        self.scope.changed.connect(self._on_source)
        self.histogram_from.changed.connect(self._on_histogram_from)
        self.mask_layer.changed.connect(self._on_source)
        self.method.changed.connect(self._on_method)
        self.classes.changed.connect(self._on_method)
        for widget in (self.block_mm, self.offset, *self.cleanup.fields):
            widget.changed.connect(self._schedule_preview)
        for widget in (self.output.label_value, *self.output.advanced_widgets, self.output.target):
            widget.changed.connect(self._schedule_preview)
        self.range.changed.connect(self._on_range)
        self.preview.changed.connect(self._on_preview_toggled)
        self.controls.run_button.changed.connect(self._on_apply)
        conn.connect(viewer.layers.events.inserted, self._on_layers_changed)
        conn.connect(viewer.layers.events.removed, self._on_layers_changed)
        conn.connect(viewer.dims.events.current_step, self._on_dims)
        conn.connect(viewer.dims.events.ndisplay, self._on_dims)
        conn.connect(viewer.events.theme, self.histogram.retheme)
        self.cleanup.connect_viewer(conn)
        self.output.connect_viewer(conn)
        # the preview timer stops with the dock even when Qt deletes it without a clean-up
        self.native.destroyed.connect(self._timer.stop)
        # the histogram starts on the next event-loop turn: opening the dock paints first
        QTimer.singleShot(0, self._start)

    def _start(self) -> None:
        self._starting = False
        self._on_source()

    def _on_close(self) -> None:
        """Stop background work and remove the preview layer when the dock closes."""
        self._timer.stop()
        for jobs in (self._hist_jobs, self._auto_jobs, self._preview_jobs):
            jobs.cancel()
        self._remove_preview()

    # ----------------------------------------------------------------- inputs
    def _image_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "image")

    def _mask_choices(self, _widget=None):
        return layer_choices(
            self.viewer.layers, "labels", where=lambda layer: not layer.name.endswith(" preview")
        )

    def _on_layers_changed(self, event=None):
        if not self._connections.alive:
            return
        with contextlib.suppress(RuntimeError):  # a combo box deleted with a closing viewer
            self.image.reset_choices()
            self.mask_layer.reset_choices()
        alive = {id(layer) for layer in self.viewer.layers}
        self._hist_cache = {k: v for k, v in self._hist_cache.items() if k[0] in alive}

    @property
    def busy(self) -> bool:
        """Whether a histogram, automatic threshold, preview or Apply is still pending."""
        apply_running = self.worker is not None and not self.controls.run_button.enabled
        return (
            self._starting
            or self._timer.isActive()
            or self._hist_jobs.busy
            or self._auto_jobs.busy
            or self._preview_jobs.busy
            or apply_running
        )

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

    def _steps(self, layer, region):
        points, _ = points_to_indices(self.cleanup.points.value, layer, region)
        return self.cleanup.settings().steps(layer.ndim - len(region), points=points)

    def _label_names(self, settings: ThresholdSettings, first: int) -> dict[int, str]:
        if settings.method == "multiotsu":
            return {first + i: f"class {i + 1}" for i in range(settings.n_labels)}
        return {first: "threshold"}

    # ----------------------------------------------------------- histogram/auto
    def _on_histogram_from(self, value):
        self.mask_layer.visible = value == "mask"
        if value == "mask" and not self.advanced.expanded:
            self.advanced.collapsible.expand(animate=False)
        self._on_source()

    def _on_source(self, *_):
        if not self._connections.alive or self._starting:
            return
        layer = self.image.value
        if layer is None:
            self._hist = self._whole = self._hist_key = None
            self.histogram.set_histogram(None)
            return
        region = self.region(layer)
        source = self.histogram_from.value
        mask_layer = self.mask_layer.value if source == "mask" else None
        key = (id(layer), region, source, id(mask_layer) if mask_layer is not None else None)
        if key == self._hist_key:
            return
        if self._hist_key is None or self._hist_key[0] != key[0]:
            self._hide_preview()  # kept for the next image: removing a layer costs ~200 ms
        self._hist_key = key
        if key in self._hist_cache:
            self._hist_jobs.cancel()
            self._set_histograms(layer, key, self._hist_cache[key])
            return
        if source == "mask" and mask_layer is None:
            self._hist = None
            self.status.refuse("Choose a mask layer (Advanced) for the histogram")
            return
        self.histogram.set_message("computing histogram...")
        self.status.say("computing histogram...")
        mask = None if mask_layer is None else mask_layer.data[region]
        self._hist_jobs.submit(
            self._iter_histograms,
            layer.data[region],
            source,
            mask,
            on_returned=partial(self._on_histograms, layer, key),
        )

    @staticmethod
    def _iter_histograms(data, source, mask):
        mask = None if mask is None else np.asarray(mask) > 0
        hists = yield from iter_histograms(np.asarray(data), histogram_from=source, mask=mask)
        try:
            initial = float(threshold_from_histogram(hists[1], method="otsu"))  # type: ignore[arg-type]
        except ValueError:  # a constant image has no Otsu threshold
            initial = hists[0].low
        return (*hists, initial)

    def _on_histograms(self, layer, key, result):
        self._hist_cache[key] = result
        if key == self._hist_key:
            self._set_histograms(layer, key, result)

    def _set_histograms(self, layer, key, result):
        whole, hist, initial = result
        same_layer = self._range_layer == key[0]
        self._whole, self._hist = whole, hist
        self._range_layer = key[0]
        lo, hi = whole.low, whole.high
        low, high = self.range.value
        with self.range.changed.blocked():
            self.range.range = (lo, hi + (hi == lo))
            if same_layer and low <= hi and high >= lo:
                self.range.value = (max(low, lo), min(high, hi))
            else:  # a new image starts at [Otsu, max] (as Slicer does), not at "everything"
                self.range.value = (min(max(initial, lo), hi), hi)
        self.histogram.set_histogram(hist)
        self.status.say("")
        self._on_method()

    def _on_method(self, *_):
        if not self._connections.alive:
            return
        method = self.method.value
        self.classes.visible = method == "multiotsu"
        self.block_mm.visible = self.offset.visible = method == "local"
        if method == "local" and not self.advanced.expanded:
            self.advanced.collapsible.expand(animate=False)
        self._thresholds = ()
        self.status.say("")
        if method in METHODS and self._hist is not None:
            self.status.say(f"computing the {method} threshold...")
            self._auto_jobs.submit(
                _iter_auto,
                self._hist,
                method=method,
                classes=self.classes.value,
                on_returned=partial(self._on_auto, method, self.classes.value, self._hist),
            )
            return
        self._on_range()

    def _on_job_error(self, exc):
        self.status.fail(str(exc), exc)

    def _on_auto(self, method, classes, hist, value):
        if (method, classes) != (self.method.value, self.classes.value) or hist is not self._hist:
            return  # the user moved on; a newer request is waiting
        where = "body" if self.histogram_from.value == "body" else self.histogram_from.value
        if isinstance(value, tuple):
            self._thresholds = value
            self.status.say(
                f"multi-Otsu thresholds ({where} histogram): "
                + ", ".join(f"{v:g}" for v in value)
                + "; the darkest class is background"
            )
        else:
            with self.range.changed.blocked():
                self.range.value = (min(value, self.range.max), self.range.max)
            self.status.say(
                f"{method} threshold ({where} histogram): {value:g} "
                f"(range [{value:g}, {self.range.max:g}])"
            )
        self._on_range()

    def _on_range(self, *_):
        low, high = self.range.value
        self.histogram.set_range(low, high, self._thresholds)
        self._schedule_preview()

    def _on_dims(self, *_):
        if not self._connections.alive:
            return
        if self.image.value is not None and self.scope.value == "slice":
            self._on_source()
        self._schedule_preview()

    # ----------------------------------------------------------------- preview
    def _schedule_preview(self, *_):
        if self._connections.alive and self.preview.value:
            self._timer.start()

    def _preview_name(self, layer) -> str:
        return f"{layer.name} threshold preview"

    def _on_preview_toggled(self, on: bool):
        if on:
            self._schedule_preview()
        else:
            self._preview_jobs.cancel()
            self._hide_preview()

    def _hide_preview(self):
        """Hide and clear the preview layer (kept: adding and removing layers is slow)."""
        layer = self._preview_layer
        if layer is not None and layer in self.viewer.layers:
            if self._preview_region is not None:
                layer.data[self._preview_region] = 0
            layer.visible = False
        self._preview_region = None

    def _remove_preview(self):
        if self._preview_layer is not None and self._preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self._preview_layer)
        self._preview_layer = self._preview_region = None

    def _visible_region(self, layer) -> tuple[int, ...]:
        if self.scope.value == "slice" or self.viewer.dims.ndisplay == 2:
            return current_slice_index(self.viewer, layer)
        return self.region(layer)

    def update_preview(self) -> None:
        """Show what Apply writes on screen (the slice, or the volume in 3-D view).

        The preview is computed in a worker, clean-up and masking included; :attr:`busy` is
        False once it is drawn.
        """
        layer = self.image.value
        if not self._connections.alive or layer is None or not self.preview.value:
            return
        if self._hist is None or self._auto_jobs.busy:
            return  # the range is not known yet; the histogram/auto result reschedules
        region = self._visible_region(layer)
        volume = self.region(layer)
        try:
            settings = self.settings()
            steps = self._steps(layer, volume)
        except USER_ERRORS as exc:
            self.status.refuse(str(exc))
            return
        first = self.output.label_value.value
        spacing = tuple(float(s) for s in layer.scale[len(volume) :])
        key = (id(layer), volume, settings, repr(steps), first, layer.data.shape)
        if self._preview_cache is not None and self._preview_cache[0] == key:
            full = self._preview_cache[1]
            self._show_preview(layer, region, full[region[len(volume) :]])
            return
        index = region[len(volume)] if len(region) > len(volume) else None
        self._preview_jobs.submit(
            _iter_preview,
            layer.data[volume],
            index=index,
            settings=settings,
            spacing=spacing,
            steps=steps,
            first_label=first,
            on_returned=partial(self._on_preview, layer, key, region, volume),
        )

    def _on_preview(self, layer, key, region, volume, result):
        index, labels = result
        if layer is not self.image.value or not self.preview.value:
            return
        if index is None:
            self._preview_cache = (key, labels)
            labels = labels[region[len(volume) :]]
        self._show_preview(layer, region, labels)

    def _show_preview(self, layer, region, labels):
        target = self._current_target(layer)
        if target is not None:
            editable = self.output.editable(np.asarray(target.data)[region])
            if editable is not None:
                labels = np.where(editable, labels, 0)
        name = self._preview_name(layer)
        existing = self._preview_layer
        if existing is None or existing not in self.viewer.layers:
            existing = None  # only the layer this dock made: never a user's layer of that name
        dtype = np.uint8 if int(labels.max(initial=0)) <= 255 else np.uint16
        if (
            existing is None
            or existing.data.shape != layer.data.shape
            or (existing.data.dtype != dtype and dtype == np.uint16)
        ):
            if existing is not None:
                self.viewer.layers.remove(existing)
            buffer = np.zeros(layer.data.shape, dtype)
            buffer[region] = labels
            selected = list(self.viewer.layers.selection)
            self._preview_layer = self.viewer.add_labels(
                buffer,
                name=name,
                scale=layer.scale,
                translate=layer.translate,
                affine=layer.affine,
                opacity=0.6,
                colormap={None: PREVIEW_COLOR, 0: "transparent"},
                features=label_features({1: "threshold preview"}),
                metadata={OUTPUT_KEY: "threshold preview"},
            )
            self.viewer.layers.selection.clear()
            self.viewer.layers.selection.update(selected)  # the preview never takes the focus
        else:  # update in place: no new layer, no geometry events
            self._preview_layer = existing
            if existing.name != name:  # another image of the same shape: re-use the layer
                existing.data[...] = 0
                existing.name = name
                existing.scale, existing.translate = layer.scale, layer.translate
                existing.affine = layer.affine
            elif self._preview_region is not None:
                existing.data[self._preview_region] = 0
            existing.data[region] = labels
            existing.visible = True
            existing.refresh(thumbnail=False, extent=False)
        self._preview_region = region

    def _current_target(self, layer):
        target = self.output.target.value
        if target is None:
            target = self.output.own_layer(layer)
        if target is None or target.data.shape != layer.data.shape:
            return None
        return target

    # ------------------------------------------------------------------- apply
    def _on_apply(self, *_):
        layer = self.image.value
        if layer is None:
            self.status.refuse("Add or choose an Image layer first")
            return
        if self._hist is None or self._auto_jobs.busy:
            self.status.refuse("The histogram or the automatic threshold is still computing")
            return
        try:
            region = self.region(layer)
            spacing = tuple(float(s) for s in layer.scale[len(region) :])
            settings = self.settings()
            steps = self._steps(layer, region)
            first = self.output.label_value.value
            top = first + settings.n_labels - 1
            dtype = np.uint8 if top <= 255 else np.uint16
            target = self.output.resolve(layer)
        except USER_ERRORS as exc:
            self.status.refuse(str(exc))
            return
        # the own layer is made only when a result arrives: Cancel leaves no layer behind
        current = (
            np.zeros(layer.data[region].shape, dtype)
            if target is None
            else np.asarray(target.data)[region]
        )
        self.worker = run_generator(
            self.controls,
            iter_threshold_into_labels,
            layer.data[region],  # read in the worker: the generator converts it
            current,
            settings=settings,
            spacing=spacing,
            steps=steps,
            first_label=first,
            **self.output.paint_options(),
            on_returned=partial(
                self._on_done, layer, target, dtype, region, self._label_names(settings, first)
            ),
            title="Threshold",
        )

    def _on_done(self, layer, target, dtype, region, names, block):
        if not self._connections.alive:
            return
        if target is None or target not in self.viewer.layers:
            if layer not in self.viewer.layers:
                self.status.refuse(f"image '{layer.name}' was removed; nothing was written")
                return
            target = self.output.create(layer, dtype)
        changed = self.output.commit(target, region, block, names=names)
        self.status.say(
            f"wrote {int(np.count_nonzero(block))} labelled voxels into '{target.name}'; "
            f"{changed_message(changed)}"
        )
        self._schedule_preview()  # the live preview stays on (masking may have changed)
