"""The "Region growing" dock widget: labelled seed points -> ITK-style or competitive growth.

Seeds live in a Points layer linked to the image layer itself (through its metadata, so renaming
the image keeps them). Opening the dock changes no layer and no mode: the canvas takes seed
clicks only while "Add seeds" is pressed. Results go under the seeds, in the seeds' colours, and
never take the active layer away from them.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, LineEdit, PushButton, SpinBox
from napari.layers import Labels, Points
from qtpy.QtCore import QTimer

from .._layer_style import PALETTE, labels_style
from ..core.cleanup import paint_labels
from ..core.geometry import voxel_volume
from ..core.region_growing import shrunken_labels
from ._common import Section, layer_choices
from ._dock import ScrollDock
from ._history import changed_message, write_labels
from ._layers import add_labels_written, current_slice_index, points_to_indices
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

_METHODS = [
    ("Grow from seeds (competitive)", "competitive"),
    ("Connected threshold", "connected"),
    ("Confidence connected", "confidence"),
    ("Neighbourhood connected", "neighborhood"),
]
_MODES = [("2D (current slice)", 2), ("3D (volume)", 3)]
_CONNECTIVITY = {
    2: [("4 (edges)", 1), ("8 (edges + corners)", 2)],
    3: [("6 (faces)", 1), ("18 (faces + edges)", 2), ("26 (faces + edges + corners)", 3)],
}
#: which optional fields each method shows
_FIELDS = {
    "competitive": {"sigma_mm", "auto_update"},
    "connected": {"auto_range", "lower", "upper", "radius", "multiplier", "max_fraction"},
    "confidence": {"radius", "multiplier", "iterations", "max_fraction"},
    "neighborhood": {"auto_range", "lower", "upper", "radius", "max_fraction"},
}
_RERUN_DELAY_MS = 300
#: metadata key of a seeds Points layer: the image layer it belongs to
SEEDS_OF = "napari_segtools_seeds_of"
#: metadata key of the output Labels layer this dock made: the image layer it was grown from.
#: The output is found by this key, never by its name: a user's layer of the same name is
#: never written or removed
GROWN_FROM = "napari_segtools_region_growing_of"
#: output layer -> (the volume this dock last wrote into it, that write's undo item); voxels that
#: differ from it now were painted by the user and survive every later run (kept outside the
#: layer's metadata, which napari copies and may save)
_WRITTEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: a label that loses more than this fraction of its voxels in one run is reported
MAX_LOSS_FRACTION = 0.8
_MAX_LABEL = 255


def _last_undo_item(layer):
    """Return the newest item of ``layer``'s napari undo history, or None.

    napari has no public view of its history nor an event on undo; ``_undo_history`` (a deque
    of lists, napari 0.4-0.9) is read only, and anything unexpected reads as None.
    """
    history = getattr(layer, "_undo_history", None)
    return history[-1] if history else None


def _last_written(layer) -> np.ndarray | None:
    """Return what this dock last wrote into ``layer``, or None once that write was undone.

    After Ctrl+Z the layer no longer holds that write, so its difference from the record is no
    user painting; the record is then dropped (the next run treats the layer as its own).
    """
    entry = _WRITTEN.get(layer)
    if entry is None:
        return None
    written, item = entry
    history = getattr(layer, "_undo_history", ())
    if item is not None and not any(step is item for step in history):
        return None
    return written


def segment_color(label: int) -> str:
    """Return the colour of segment ``label``: the same in the result layer and on its seeds."""
    return PALETTE[(int(label) - 1) % len(PALETTE)]


@cache
def _seed_colormap() -> dict[int, np.ndarray]:
    """Return label -> RGBA of every seed label, parsed once.

    napari reads 255 RGBA rows in ~5 ms but takes ~24 ms to parse 255 colour names, on the GUI
    thread, for every new seeds layer.
    """
    from napari.utils.colormaps.standardize_color import transform_color

    rgba = transform_color([segment_color(k) for k in range(1, _MAX_LABEL + 1)])
    return {k: rgba[k - 1] for k in range(1, _MAX_LABEL + 1)}


def segment_name(names: dict[int, str], label: int) -> str:
    """Return the user's name of segment ``label``, else ``"segment <label>"``."""
    return names.get(int(label)) or f"segment {int(label)}"


@dataclass(frozen=True)
class _Grown:
    """What the worker hands back: the full output volume and what changed in the block."""

    data: np.ndarray
    #: what the dock wrote, without the user's painted voxels (the next run's reference)
    written: np.ndarray
    #: voxels of the grown block the user had painted and that were kept
    kept: int
    counts: dict[int, int]
    lost: dict[int, tuple[int, int]]
    present: tuple[int, ...]


def _grow_and_paint(gen, previous, shape, lead, method, label, seed_labels, record=None):
    """Run a core growth generator, then paint its result into the output volume (in the worker).

    ``previous`` is the output layer's data (or ``None``); only the block at ``lead`` changes.
    ``record`` is what the dock last wrote into that layer: the voxels where ``previous``
    differs from it were painted by the user, and keep the user's value.
    """
    result = yield from gen
    out = np.zeros(shape, np.uint8) if previous is None else np.array(previous, copy=True)
    if record is None or previous is None or record.shape != out.shape:
        written = out.copy()
        painted = None
    else:
        written = np.array(record, copy=True)
        painted = np.asarray(previous[lead]) != record[lead]
    before = np.array(out[lead], copy=True)
    source = result if method == "competitive" else np.where(result, label, 0)
    written[lead] = paint_labels(written[lead], source, mode="replace")
    out[lead] = paint_labels(out[lead], source, mode="replace")
    kept = 0
    if painted is not None and painted.any():
        block = out[lead]
        block[painted] = np.asarray(previous[lead])[painted]  # the user's edits win
        out[lead] = block
        kept = int(np.count_nonzero(painted))
    values = np.bincount(np.asarray(source, np.int64).ravel())
    counts = {int(k): int(values[k]) for k in np.flatnonzero(values) if k}
    if method != "competitive" and not counts:
        counts = {int(label): 0}
    lost = shrunken_labels(
        before, out[lead], labels=seed_labels, max_loss_fraction=MAX_LOSS_FRACTION
    )
    present = tuple(int(k) for k in np.flatnonzero(np.bincount(out.ravel())) if k)
    return _Grown(out, written, kept, counts, lost, present)


def _physical_size(amount: float, ndim: int) -> str:
    """Say an area (mm², 2-D) in cm² or a volume (mm³, 3-D) in ml, as clinicians read them.

    Examples
    --------
    >>> _physical_size(18024.0, 2), _physical_size(657122.0, 3)
    ('180.24 cm²', '657.12 ml')
    """
    return f"{amount / 100:.2f} cm²" if ndim == 2 else f"{amount / 1000:.2f} ml"


class RegionGrowingWidget(ScrollDock):
    """Grow regions from seed points placed in a Points layer that belongs to the image."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        self._watched: set[int] = set()
        #: seeds layers this widget created (removed on close while still empty)
        self._created: list[weakref.ref] = []
        self.image = ComboBox(
            label="Image", choices=self._image_choices, tooltip="Image layer to segment"
        )
        self.add_seeds = PushButton(
            text="Add seeds",
            tooltip="While pressed, clicks on the image add seeds of the label below; "
            "press again to pan and zoom",
        )
        self.add_seeds.native.setCheckable(True)
        self.seed_label = SpinBox(
            label="Seed label",
            value=1,
            min=1,
            max=_MAX_LABEL,
            tooltip="Label of the next seed point you click; each label is one segment",
        )
        self.segment = LineEdit(
            label="Segment name",
            value="",
            tooltip="Name of this label's segment, shown on hover (default 'segment <label>')",
        )
        self.method = ComboBox(
            label="Method",
            choices=_METHODS,
            value="competitive",
            tooltip="Competitive: all labels grow at once and meet at edges. The others grow "
            "the current label's region from its seeds (same results as SimpleITK's filters)",
        )
        self.mode = ComboBox(
            label="Mode",
            choices=_MODES,
            value=2,
            tooltip="Grow in the slice shown in the viewer, or in the whole 3-D volume",
        )
        self.connectivity = ComboBox(
            label="Connectivity",
            choices=self._connectivity_choices,
            tooltip="Which neighbours join a region: faces only, or also edges / corners",
        )
        self.auto_range = CheckBox(
            label="Auto range from seeds",
            value=False,
            tooltip="Set the range to mean +/- multiplier x sigma of the boxes around the seeds",
        )
        self.lower = FloatSpinBox(
            label="Lower (intensity)",
            value=0.0,
            min=-1e9,
            max=1e9,
            step=1.0,
            tooltip="Lowest intensity that joins the region (inclusive)",
        )
        self.upper = FloatSpinBox(
            label="Upper (intensity)",
            value=1.0,
            min=-1e9,
            max=1e9,
            step=1.0,
            tooltip="Highest intensity that joins the region (inclusive)",
        )
        self.radius = SpinBox(
            label="Radius (voxels)",
            value=1,
            min=0,
            max=20,
            tooltip="Half-width of the box around each voxel (neighbourhood connected) or each "
            "seed (confidence connected and auto range)",
        )
        self.multiplier = FloatSpinBox(
            label="Multiplier (sigma)",
            value=2.5,
            min=0.0,
            max=20.0,
            step=0.1,
            tooltip="Half-width of the intensity range in standard deviations",
        )
        self.iterations = SpinBox(
            label="Iterations",
            value=4,
            min=0,
            max=50,
            tooltip="Confidence connected: passes that re-estimate mean and sigma from the region",
        )
        self.sigma_mm = FloatSpinBox(
            label="Edge scale (mm)",
            value=1.0,
            min=0.0,
            max=20.0,
            step=0.25,
            tooltip="Gaussian scale of the gradient that regions compete on (0 = no smoothing)",
        )
        self.max_fraction = FloatSpinBox(
            label="Leak guard (fraction)",
            value=0.5,
            min=0.01,
            max=1.0,
            step=0.05,
            tooltip="Stop and warn when the region covers more than this fraction of the image "
            "(slice in 2D mode); 1 = no guard",
        )
        self.auto_update = CheckBox(
            label="Re-run when seeds change",
            value=True,
            tooltip="Competitive: grow again shortly after seeds are added, moved or deleted",
        )
        self.controls = RunControls("Run")
        #: the dock's status line (shared with the run controls); bad seeds, ranges, the leak
        #: guard and collapsed labels are the user's to fix and show there inline
        self.status = self.controls.status
        self.seeds_section = Section(
            "Seeds", [self.image, self.add_seeds, self.seed_label, self.segment]
        )
        self.method_section = Section(
            "Method",
            [
                self.method,
                self.mode,
                self.auto_range,
                self.lower,
                self.upper,
                self.radius,
                self.multiplier,
                self.iterations,
                self.sigma_mm,
                self.auto_update,
            ],
        )
        self.advanced = Section("Advanced", [self.connectivity, self.max_fraction], expanded=False)
        super().__init__(
            [self.seeds_section, self.method_section, self.advanced, self.controls],
            on_close=self._on_close,
        )
        self._timer = QTimer(self.native)  # stops with the widget
        self._timer.setSingleShot(True)
        self._timer.setInterval(_RERUN_DELAY_MS)
        self._timer.timeout.connect(self._auto_run)
        self.image.changed.connect(self._on_image)
        self.add_seeds.native.toggled.connect(self._on_add_seeds)
        self.seed_label.changed.connect(self._on_label)
        self.segment.changed.connect(self._on_segment_name)
        self.method.changed.connect(self._on_method)
        self.mode.changed.connect(self.connectivity.reset_choices)
        self.auto_range.changed.connect(self._on_method)
        self.controls.run_button.changed.connect(self.run)
        self.connections.connect(viewer.layers.events.inserted, self.image.reset_choices)
        self.connections.connect(viewer.layers.events.removed, self.image.reset_choices)
        self._on_method()
        self._on_image()

    # ------------------------------------------------------------------ inputs
    def _image_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "image")

    def _connectivity_choices(self, _widget=None):
        return _CONNECTIVITY[self.mode.value]

    @property
    def seeds_layer(self) -> Points | None:
        """The chosen image's seed Points layer (``None`` before the first seed is asked for)."""
        image = self.image.value
        if image is None:
            return None
        return next(
            (
                layer
                for layer in self.viewer.layers
                if isinstance(layer, Points) and layer.metadata.get(SEEDS_OF) is image
            ),
            None,
        )

    def ensure_seeds_layer(self) -> Points | None:
        """Return the image's seeds layer, creating it (empty, above the image) if needed."""
        image = self.image.value
        if image is None:
            return None
        points = self.seeds_layer
        if points is None:
            active = self.viewer.layers.selection.active
            with warnings.catch_warnings():  # integer labels are categories here, as wanted
                warnings.filterwarnings("ignore", "Feature 'label' looks like categorical")
                points = self._add_seeds_layer(image)
            self._created.append(weakref.ref(points))
            # added hidden, shown a turn later: napari's first draw of a Points layer (its
            # shaders) then does not fall into the same stall as adding it
            QTimer.singleShot(0, partial(self._reveal_seeds, weakref.ref(points)))
            if active is not None and not self.add_seeds.value:
                self.viewer.layers.selection.active = active
        self._watch(points)
        return points

    def _add_seeds_layer(self, image) -> Points:
        return self.viewer.add_points(
            np.empty((0, image.ndim)),
            name=f"{image.name} seeds",
            ndim=image.ndim,
            scale=image.scale,
            translate=image.translate,
            features={"label": np.array([], dtype=int)},
            feature_defaults={"label": self.seed_label.value},
            face_color="label",
            face_color_cycle={
                "colormap": _seed_colormap(),
                "fallback_color": list(PALETTE),
            },
            border_color="white",
            size=max(image.data.shape[-2:]) / 60,
            metadata={SEEDS_OF: image, "segment_names": {}},
            visible=False,
        )

    def _reveal_seeds(self, points_ref) -> None:
        """Show a new seeds layer, in add mode if the button is still down.

        napari keeps a hidden layer out of add mode, so the mode is set again once shown.
        """
        points = points_ref()
        if points is None:
            return
        points.visible = True
        if (
            self.connections.alive
            and self.add_seeds.value
            and self.viewer.layers.selection.active is points
        ):
            points.mode = "add"

    def _watch(self, points: Points) -> None:
        if id(points) not in self._watched:
            self._watched.add(id(points))
            self.connections.connect(points.events.data, self._on_seeds_changed)
            self.connections.connect(points.events.mode, self._on_points_mode)

    @property
    def _names(self) -> dict[int, str]:
        points = self.seeds_layer
        return {} if points is None else points.metadata.setdefault("segment_names", {})

    def _on_image(self, *_):
        """Follow the chosen image: its seeds layer (if any) now takes the seed clicks."""
        points = self.seeds_layer
        if points is not None:
            self._watch(points)
        if self.add_seeds.value:
            self._on_add_seeds(True)
        self._on_label()

    def _on_add_seeds(self, on: bool) -> None:
        """Pressed: select the seeds layer in add mode. Released: back to pan and zoom."""
        if on:
            points = self.ensure_seeds_layer()
            if points is None:
                self.add_seeds.native.setChecked(False)
                self.status.refuse("Choose an image layer first.")
                return
            self._on_label()
            self.viewer.layers.selection.active = points
            points.mode = "add"
        else:
            points = self.seeds_layer
            if points is not None and points.mode == "add":
                points.mode = "pan_zoom"

    def _on_points_mode(self, event):
        """Keep the button in step when the user changes the seeds layer's mode in napari."""
        if event.source is self.seeds_layer and str(event.source.mode) != "add":
            with contextlib.suppress(RuntimeError):
                self.add_seeds.native.blockSignals(True)
                self.add_seeds.native.setChecked(False)
                self.add_seeds.native.blockSignals(False)

    def _on_label(self, *_):
        points = self.seeds_layer
        if points is not None:
            points.feature_defaults = {"label": self.seed_label.value}
        self.segment.changed.disconnect(self._on_segment_name)
        self.segment.value = self._names.get(self.seed_label.value, "")
        self.segment.changed.connect(self._on_segment_name)

    def _on_segment_name(self, value: str) -> None:
        if self.seeds_layer is not None:
            names = self._names
            if value.strip():
                names[self.seed_label.value] = value.strip()
            else:
                names.pop(self.seed_label.value, None)

    def _on_method(self, *_):
        shown = _FIELDS[self.method.value]
        for name in (
            "auto_range",
            "lower",
            "upper",
            "radius",
            "multiplier",
            "iterations",
            "sigma_mm",
            "max_fraction",
            "auto_update",
        ):
            getattr(self, name).visible = name in shown
        if self.method.value in ("connected", "neighborhood"):
            auto = self.auto_range.value
            self.lower.enabled = self.upper.enabled = not auto
            self.multiplier.visible = auto
            self.radius.visible = auto or self.method.value == "neighborhood"

    def _seeds(self, layer, lead: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Seed voxel indices in the grown domain (leading axes at ``lead``) and their labels."""
        points = self.seeds_layer
        index, keep = points_to_indices(points, layer, lead)
        if points is not None and "label" in points.features:
            labels = np.asarray(points.features["label"], dtype=int)[keep]
        else:  # no seeds yet
            labels = np.full(len(index), self.seed_label.value)
        return index, labels

    # --------------------------------------------------------------------- run
    def _on_seeds_changed(self, event):
        action = str(getattr(event, "action", "changed"))
        if (
            event.source is self.seeds_layer
            and action in ("added", "changed", "removed")
            and self.method.value == "competitive"
            and self.auto_update.value
        ):
            self._timer.start()  # restarting the timer debounces bursts of edits

    def _auto_run(self):
        if not self.connections.alive:
            return
        if not self.controls.run_button.enabled:  # still busy: try again a little later
            self._timer.start()
            return
        self.run(auto=True)

    def run(self, *_, auto: bool = False):
        """Grow from the current seeds in a worker, into the layer ``"<image> region growing"``."""
        from ..core import region_growing as rg

        layer = self.image.value
        if layer is None:
            return self.status.refuse("Choose an image layer first.")
        ndim = self.mode.value
        if layer.ndim < ndim:
            return self.status.refuse("3D mode needs a 3-D image; switch to 2D.")
        lead = current_slice_index(self.viewer, layer)[: layer.ndim - ndim]
        seeds, labels = self._seeds(layer, lead)
        method = self.method.value
        data = np.asarray(layer.data[lead])
        spacing = tuple(float(s) for s in layer.scale[-ndim:])
        where = "this slice" if ndim == 2 and layer.ndim > 2 else "the image"
        if method == "competitive":
            if len(np.unique(labels)) < 2:
                return self.status.refuse(
                    f"Add seeds of at least two labels in {where} (e.g. background)."
                )
            func, args = rg.iter_grow_from_seeds, (data, seeds, labels)
            kwargs = {"spacing": spacing, "sigma_mm": self.sigma_mm.value}
            seed_labels = np.unique(labels)
        else:
            seeds = seeds[labels == self.seed_label.value]
            if len(seeds) == 0:
                return self.status.refuse(
                    f"Add a seed of label {self.seed_label.value} in {where}."
                )
            func, args, kwargs = self._single_region(rg, data, seeds)
            if func is None:
                return None
            seed_labels = np.array([self.seed_label.value])
        kwargs["connectivity"] = self.connectivity.value
        existing = self.output_layer(layer)
        previous = (
            existing.data
            if isinstance(existing, Labels) and existing.data.shape == layer.data.shape
            else None
        )
        record = _last_written(existing) if previous is not None else None
        label = self.seed_label.value
        self.worker = run_generator(
            self.controls,
            _grow_and_paint,
            func(*args, **kwargs),
            previous,
            layer.data.shape,
            lead,
            method,
            label,
            seed_labels,
            record,
            on_returned=partial(self._write, layer, spacing),
            title="Region growing",
        )
        self.status.say("re-growing after the seed change..." if auto else "growing...")
        return self.worker

    def _single_region(self, rg, data, seeds):
        """Core generator and options for the single-region methods (range filled in if auto)."""
        guard = None if self.max_fraction.value >= 1.0 else self.max_fraction.value
        method = self.method.value
        if method == "confidence":
            return (
                rg.iter_confidence_connected,
                (data, seeds),
                {
                    "multiplier": self.multiplier.value,
                    "iterations": self.iterations.value,
                    "initial_radius_voxels": self.radius.value,
                    "max_fraction": guard,
                },
            )
        if self.auto_range.value:
            try:
                low, high = rg.auto_range(
                    data, seeds, radius_voxels=self.radius.value, multiplier=self.multiplier.value
                )
            except ValueError as exc:
                self.status.refuse(str(exc))
                return None, None, None
            self.lower.value, self.upper.value = low, high
        kwargs = {"lower": self.lower.value, "upper": self.upper.value, "max_fraction": guard}
        if method == "neighborhood":
            kwargs["radius_voxels"] = self.radius.value
            return rg.iter_neighborhood_connected, (data, seeds), kwargs
        return rg.iter_connected_threshold, (data, seeds), kwargs

    @staticmethod
    def _output_name(layer) -> str:
        return f"{layer.name} region growing"

    def output_layer(self, image) -> Labels | None:
        """Return the Labels layer this dock grew from ``image`` (by metadata, not by name)."""
        return next(
            (
                layer
                for layer in self.viewer.layers
                if isinstance(layer, Labels) and layer.metadata.get(GROWN_FROM) is image
            ),
            None,
        )

    def _write_output(self, image, data: np.ndarray, **style) -> tuple[Labels, int]:
        """Update this dock's output layer for ``image`` in place, else add a new one.

        Either way the write is one napari undo step (a new layer starts empty, so Ctrl+Z
        empties it). A layer that merely has the output's name is left alone: napari gives the
        new layer a unique name ("... [1]"). Returns the layer and the number of voxels changed.
        """
        out = self.output_layer(image)
        if out is not None and out.data.shape == data.shape:
            changed = write_labels(out, data)
            for key, value in style.items():
                setattr(out, key, value)
            out.scale, out.translate, out.affine = image.scale, image.translate, image.affine
            return out, changed
        if out is not None:  # ours, but for an image of another shape: replaced
            self.viewer.layers.remove(out)
        metadata = {k: v for k, v in image.metadata.items() if k != SEEDS_OF}
        return add_labels_written(
            self.viewer,
            data,
            name=self._output_name(image),
            scale=image.scale,
            translate=image.translate,
            affine=image.affine,
            metadata={**metadata, GROWN_FROM: image},
            **style,
        )

    def _write(self, layer, spacing, grown: _Grown):
        """Show the grown volume under the seeds, named and coloured like the seeds."""
        if not self.connections.alive or layer not in self.viewer.layers:
            return
        names = self._names
        top = max(grown.present, default=1)
        style = labels_style(
            {k: segment_name(names, k) for k in range(1, top + 1)},
        )
        active = self.viewer.layers.selection.active
        out, changed = self._write_output(layer, grown.data, **style)
        _WRITTEN[out] = (grown.written, _last_undo_item(out))
        points = self.seeds_layer
        if points is not None:
            index, below = self.viewer.layers.index(out), self.viewer.layers.index(points)
            if index > below:
                self.viewer.layers.move(index, below)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active
        size = voxel_volume(spacing)
        summary = "; ".join(
            f"{segment_name(names, k)}: {n} voxels, {_physical_size(n * size, len(spacing))}"
            for k, n in grown.counts.items()
        )
        if grown.kept:
            summary += f"; kept {grown.kept} voxels you painted"
        summary += f"; {changed_message(changed)}"
        if grown.lost:
            lost = "; ".join(
                f"{segment_name(names, k)} lost {1 - after / before:.0%} of its region "
                f"({before} -> {after} voxels)"
                for k, (before, after) in grown.lost.items()
            )
            self.status.refuse(f"{lost}: check its seeds. {summary}")
        else:
            self.status.say(summary)

    # ----------------------------------------------------------------- closing
    def _on_close(self) -> None:
        """Leave the viewer as the user had it: no add mode, none of our empty seeds layers."""
        self._timer.stop()
        for ref in self._created:
            points = ref()
            if points is None or points not in self.viewer.layers:
                continue
            if len(points.data) == 0:
                self.viewer.layers.remove(points)
            elif points.mode == "add":
                points.mode = "pan_zoom"
        self._created.clear()
