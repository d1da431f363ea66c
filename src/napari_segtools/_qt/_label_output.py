"""Where a segmentation goes: new or chosen Labels layer, label, Slicer-like masking."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from magicgui.widgets import ComboBox, SpinBox
from napari.layers import Labels

from .._layer_style import feature_names, labels_style
from ._common import Section, layer_choices
from ._history import write_labels
from ._layers import OUTPUT_KEY

#: metadata key naming the image an own output layer was made for
SOURCE_KEY = "napari_segtools_source"

_MODES = [
    ("overwrite all", "all"),
    ("only empty voxels", "empty"),
    ("only inside label", "inside"),
]


class LabelOutput(Section):
    """Output settings (target layer, label value, masking), as an "Output" group.

    Every :meth:`commit` is one step of napari's own undo history (Ctrl+Z / Ctrl+Shift+Z on
    the Labels layer). ``target.value`` is None for the widget's own layer
    ``"<input> <operation>"``, identified by its metadata (:data:`OUTPUT_KEY`), never by its
    name alone. The masking controls (``mode``, ``inside_label``) are in
    :attr:`advanced_widgets` for the dock's Advanced group.
    """

    def __init__(self, viewer, operation: str, **kwargs):
        self._viewer = viewer
        self._operation = operation
        self.target = ComboBox(
            label="Output",
            choices=self._target_choices,
            tooltip=f"Write into a new Labels layer '<image> {operation}' or a chosen one",
        )
        self.label_value = SpinBox(
            label="Label value",
            value=1,
            min=1,
            max=65535,
            tooltip="Label id written for the segmented voxels",
        )
        self.mode = ComboBox(
            label="Masking",
            choices=_MODES,
            value="all",
            tooltip="Overwrite any label, fill only unlabelled voxels, or write inside one label",
        )
        self.inside_label = SpinBox(
            label="Inside label",
            value=1,
            min=0,
            max=65535,
            visible=False,
            tooltip="Only voxels with this label change",
        )
        #: masking details, shown in the dock's Advanced group
        self.advanced_widgets = [self.mode, self.inside_label]
        super().__init__("Output", [self.target, self.label_value], expanded=True, **kwargs)
        self.mode.changed.connect(lambda v: setattr(self.inside_label, "visible", v == "inside"))

    def connect_viewer(self, connections) -> None:
        """Refresh the target picker on layer changes, through the dock's ``connections``."""
        layers = self._viewer.layers
        connections.connect(layers.events.inserted, self.target.reset_choices)
        connections.connect(layers.events.removed, self.target.reset_choices)

    def _target_choices(self, _widget=None):
        own = [(f"new layer '<image> {self._operation}'", None)]
        labels = layer_choices(
            self._viewer.layers, "labels", where=lambda layer: not layer.name.endswith(" preview")
        )
        return own + labels

    def own_layer(self, source):
        """Return this widget's own output layer for ``source`` (found by metadata), or None.

        A layer counts as the widget's own only when its metadata says the widget made it
        (:data:`OUTPUT_KEY`) for ``source``; a user's layer with the same name never does.
        """
        for layer in self._viewer.layers:
            meta = layer.metadata
            if (
                isinstance(layer, Labels)
                and meta.get(OUTPUT_KEY) == self._operation
                and meta.get(SOURCE_KEY) == source.name
                and layer.data.shape == source.data.shape
            ):
                return layer
        return None

    def resolve(self, source):
        """Return the Labels layer to write into, or None for an own layer not made yet.

        The own layer is created only by :meth:`create` when a result is written, so a
        cancelled or failed run leaves no layer behind.
        """
        layer = self.target.value
        if layer is None:
            return self.own_layer(source)
        if layer.data.shape != source.data.shape:
            raise ValueError(
                f"Labels layer '{layer.name}' has shape {layer.data.shape} but image "
                f"'{source.name}' has shape {source.data.shape}; choose a layer on the same grid"
            )
        return layer

    def create(self, source, dtype=np.uint8):
        """Add the widget's own empty output layer on ``source``'s grid, under a free name."""
        base = name = f"{source.name} {self._operation}"
        taken = {layer.name for layer in self._viewer.layers}
        i = 2
        while name in taken:  # a user's layer keeps its name and its data
            name = f"{base} [{i}]"
            i += 1
        return self._viewer.add_labels(
            np.zeros(source.data.shape, dtype),
            name=name,
            scale=source.scale,
            translate=source.translate,
            affine=source.affine,
            metadata={
                **source.metadata,
                OUTPUT_KEY: self._operation,
                SOURCE_KEY: source.name,
            },
        )

    def paint_options(self) -> dict:
        """Return the keyword options of ``core.cleanup.paint_labels`` (mode, inside label)."""
        return {"mode": self.mode.value, "inside_label": self.inside_label.value}

    def editable(self, target: np.ndarray) -> np.ndarray | None:
        """Where the masking mode lets a write land in ``target`` (None: everywhere)."""
        if self.mode.value == "empty":
            return np.asarray(target) == 0
        if self.mode.value == "inside":
            return np.asarray(target) == self.inside_label.value
        return None

    def commit(
        self, layer, region: tuple, block: np.ndarray, *, names: Mapping[int, str] | None = None
    ) -> int:
        """Write ``block`` at ``layer.data[region]`` as one napari undo step; return voxels changed.

        The masking mode is applied again to the layer as it is now (:meth:`editable`), so
        voxels painted meanwhile stay protected. ``names`` (value -> name) are shown on hover
        with palette colours when ``layer`` is the widget's own output layer; a layer the user
        chose keeps its own style.
        """
        editable = self.editable(np.asarray(layer.data)[region])
        changed = write_labels(layer, block, region=region, editable=editable)
        if names and self.target.value is None:
            merged = {
                **feature_names(layer.features),
                **{int(k): str(v) for k, v in names.items()},
            }
            style = labels_style(merged)
            layer.features = style["features"]
            layer.colormap = style["colormap"]
        return changed
