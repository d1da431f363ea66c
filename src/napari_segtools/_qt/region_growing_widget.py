"""The "Region growing" dock widget: labelled seed points -> ITK-style or competitive growth."""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox
from napari.layers import Labels, Points
from qtpy.QtCore import QTimer

from ..core.cleanup import paint_labels
from ..core.geometry import voxel_volume
from ._common import layer_choices
from ._layers import current_slice_index, find_layer, points_to_indices, write_output
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


class RegionGrowingWidget(Container):
    """Grow regions from seed points placed in a Points layer the widget creates for the image."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        self._watched: set[int] = set()
        self.image = ComboBox(
            label="Image", choices=self._image_choices, tooltip="Image layer to segment"
        )
        self.seed_label = SpinBox(
            label="Seed label",
            value=1,
            min=1,
            max=255,
            tooltip="Label of the next seed point you click; each label is one segment",
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
        #: the dock's status line (shared with the run controls); bad seeds, ranges and the leak
        #: guard are the user's to fix and show there inline
        self.status = self.controls.status
        super().__init__(
            widgets=[
                self.image,
                self.seed_label,
                self.method,
                self.mode,
                self.connectivity,
                self.auto_range,
                self.lower,
                self.upper,
                self.radius,
                self.multiplier,
                self.iterations,
                self.sigma_mm,
                self.max_fraction,
                self.auto_update,
                self.controls,
            ]
        )
        self._timer = QTimer(self.native)  # stops with the widget
        self._timer.setSingleShot(True)
        self._timer.setInterval(_RERUN_DELAY_MS)
        self._timer.timeout.connect(self._auto_run)
        self.image.changed.connect(self._on_image)
        self.seed_label.changed.connect(self._on_label)
        self.method.changed.connect(self._on_method)
        self.mode.changed.connect(self.connectivity.reset_choices)
        self.auto_range.changed.connect(self._on_method)
        self.controls.run_button.changed.connect(self.run)
        viewer.layers.events.inserted.connect(self.image.reset_choices)
        viewer.layers.events.removed.connect(self.image.reset_choices)
        self._on_method()
        self._on_image()

    # ------------------------------------------------------------------ inputs
    def _image_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "image")

    def _connectivity_choices(self, _widget=None):
        return _CONNECTIVITY[self.mode.value]

    @property
    def seeds_layer(self):
        """The image's seed Points layer ``"<image> seeds"`` (``None`` without an image)."""
        layer = self.image.value
        points = None if layer is None else find_layer(self.viewer, f"{layer.name} seeds")
        return points if isinstance(points, Points) else None

    def _on_image(self, *_):
        """Create (or reuse) and select the image's seed layer, in click-to-add mode."""
        layer = self.image.value
        if layer is None:
            return
        points = self.seeds_layer
        if points is None:
            with warnings.catch_warnings():  # integer labels colour by cycle, as wanted
                warnings.filterwarnings("ignore", "Feature 'label' looks like categorical")
                points = self.viewer.add_points(
                    np.empty((0, layer.ndim)),
                    name=f"{layer.name} seeds",
                    ndim=layer.ndim,
                    scale=layer.scale,
                    translate=layer.translate,
                    features={"label": np.array([], dtype=int)},
                    feature_defaults={"label": self.seed_label.value},
                    face_color="label",
                    size=max(layer.data.shape[-2:]) / 60,
                )
        if id(points) not in self._watched:
            self._watched.add(id(points))
            points.events.data.connect(self._on_seeds_changed)
        self.viewer.layers.selection.active = points
        points.mode = "add"
        self._on_label()

    def _on_label(self, *_):
        points = self.seeds_layer
        if points is not None:
            points.feature_defaults = {"label": self.seed_label.value}

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
        else:  # a seed layer made elsewhere: every point seeds the current label
            labels = np.full(len(index), self.seed_label.value)
        return index, labels

    # --------------------------------------------------------------------- run
    def _on_seeds_changed(self, event):
        action = str(getattr(event, "action", "changed"))
        if (
            action in ("added", "changed", "removed")
            and self.method.value == "competitive"
            and self.auto_update.value
        ):
            self._timer.start()  # restarting the timer debounces bursts of edits

    def _auto_run(self):
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
        else:
            seeds = seeds[labels == self.seed_label.value]
            if len(seeds) == 0:
                return self.status.refuse(
                    f"Add a seed of label {self.seed_label.value} in {where}."
                )
            func, args, kwargs = self._single_region(rg, data, seeds)
            if func is None:
                return None
        kwargs["connectivity"] = self.connectivity.value
        on_done = partial(self._write, layer, lead, method, self.seed_label.value, spacing)
        self.worker = run_generator(
            self.controls, func, *args, on_returned=on_done, title="Region growing", **kwargs
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

    def _write(self, layer, lead, method, label, spacing, result):
        """Put ``result`` into the image's output Labels layer at ``lead``; other slices stay.

        A single-label result replaces that label's earlier voxels in the block; a competitive
        result labels every voxel of the block.
        """
        name = f"{layer.name} region growing"
        existing = find_layer(self.viewer, name)
        if isinstance(existing, Labels) and existing.data.shape == layer.data.shape:
            out = np.array(existing.data, copy=True)
        else:
            out = np.zeros(layer.data.shape, dtype=np.uint8)
        source = result if method == "competitive" else np.where(result, label, 0)
        out[lead] = paint_labels(out[lead], source, mode="replace")
        write_output(self.viewer, name, out, source=layer, kind="labels")
        values, counts = np.unique(source[source > 0], return_counts=True)
        if method != "competitive" and not len(values):
            values, counts = np.array([label]), np.array([0])
        unit = "mm^2" if len(spacing) == 2 else "mm^3"
        size = voxel_volume(spacing)
        self.status.say(
            "; ".join(
                f"label {k}: {n} voxels ({n * size:.1f} {unit})"
                for k, n in zip(values.tolist(), counts.tolist(), strict=True)
            )
        )
