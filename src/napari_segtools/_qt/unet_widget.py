"""The "U-Net inference" dock widget: a model package on an Image layer, window by window.

Layer glue only: the prediction is :func:`napari_segtools.core.unet.predict.iter_predict` run in a
worker, the uncertainty :func:`~napari_segtools.core.unet.predict.predictive_entropy`. torch loads
only when Run is pressed (inside the worker): opening the widget stays fast, and without torch
the dock opens and says how to install it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, SpinBox

from .._layer_style import contrasting_colors, labels_style
from ..core._types import ProgressGenerator
from ..core.unet._torch import TORCH_MISSING, torch_available
from ..core.unet.package import ModelConfig, list_models
from ..core.unet.predict import iter_predict, predictive_entropy
from ._common import Section, layer_choices
from ._dock import ScrollDock
from ._history import changed_message
from ._layers import layer_to_array, write_owned
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

FROM_FILE = "model file…"
#: the name this dock's output layers carry in ``metadata`` (see ``_layers.write_owned``)
OWNER = "U-Net inference"
DEVICES = [
    ("auto (CUDA, else MPS, else CPU)", "auto"),
    ("CPU", "cpu"),
    ("CUDA GPU", "cuda"),
    ("Apple MPS", "mps"),
]


class UNetWidget(ScrollDock):
    """Segment an Image layer with a shipped or user U-Net model package."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        self.image = ComboBox(
            label="Image",
            choices=self._image_choices,
            tooltip="Image layer to segment (its scale is the voxel spacing in mm)",
        )
        self.model = ComboBox(
            label="Model",
            choices=[*list_models(), FROM_FILE],
            tooltip="A model shipped with the plugin, or a model package from a file",
        )
        self.model_file = FileEdit(
            label="Model file",
            mode="r",
            filter="*.json *.pt *.pth *.ts",
            visible=False,
            tooltip="config.json of a package folder, or a TorchScript file with a .json beside"
            " it",
        )
        self.device = ComboBox(
            label="Device",
            choices=DEVICES,
            value="auto",
            tooltip="Where the network runs; out-of-memory on a GPU falls back to smaller "
            "batches, then the CPU",
        )
        self.overlap = FloatSpinBox(
            label="Window overlap (fraction)",
            value=0.5,
            min=0.0,
            max=0.9,
            step=0.05,
            tooltip="Share of each sliding window overlapping its neighbour "
            "(Gaussian-weighted blend)",
        )
        self.tta = CheckBox(
            label="Mirroring TTA",
            value=False,
            tooltip="Average over all axis mirrorings (2^D times slower, often a little better)",
        )
        self.batch_size = SpinBox(
            label="Batch size (windows)",
            value=4,
            min=1,
            max=64,
            tooltip="Windows per forward pass; halved automatically on out-of-memory",
        )
        self.advanced = Section(
            "Advanced", [self.device, self.overlap, self.tta, self.batch_size], expanded=False
        )
        self.probabilities = CheckBox(
            label="Probability layers",
            value=False,
            tooltip="Add one Image layer per class with its probability (0-1)",
        )
        self.uncertainty = CheckBox(
            label="Uncertainty layer",
            value=False,
            tooltip="Add the normalised entropy of the class probabilities (0 certain, 1 uniform)",
        )
        self.controls = RunControls("Run")
        self.inputs = Section("Image and model", [self.image, self.model, self.model_file])
        self.outputs = Section("Extra outputs", [self.probabilities, self.uncertainty])
        super().__init__([self.inputs, self.outputs, self.advanced, self.controls])
        self.model.changed.connect(self._on_model)
        self._on_model(self.model.value)
        self.controls.run_button.changed.connect(self.run)
        self.connections.connect(viewer.layers.events.inserted, self.image.reset_choices)
        self.connections.connect(viewer.layers.events.removed, self.image.reset_choices)
        if not torch_available():
            self.controls.status.refuse(TORCH_MISSING)
            self.controls.run_button.enabled = False

    def _image_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "image")

    def _on_model(self, value):
        self.model_file.visible = value == FROM_FILE

    def model_source(self) -> str:
        """Return the shipped model name or the chosen file path."""
        return (
            str(self.model_file.value) if self.model.value == FROM_FILE else str(self.model.value)
        )

    def run(self, _=None):
        """Start inference in a worker; the result goes to ``"<image> U-Net"``."""
        if not torch_available():
            self.controls.status.refuse(TORCH_MISSING)
            return
        layer = self.image.value
        if layer is None:
            self.controls.status.refuse("Add or choose an Image layer first")
            return
        data, geometry = layer_to_array(layer)
        self.worker = run_generator(
            self.controls,
            _predict_for_display,
            self.model_source(),
            data,
            geometry=geometry,
            overlap=float(self.overlap.value),
            tta=bool(self.tta.value),
            batch_size=int(self.batch_size.value),
            device=self.device.value,
            probabilities=bool(self.probabilities.value),
            uncertainty=bool(self.uncertainty.value),
            on_returned=partial(self._show, layer),
            title="U-Net inference",
        )

    def _show(self, layer, result: _Display):
        """Add the prepared outputs (main thread: only layer updates happen here)."""
        if not self.connections.alive or layer not in self.viewer.layers:
            return
        if self.worker is not None and self.worker.abort_requested:
            return  # Cancel came while the last step ran: no layer is made
        config = result.config
        _, changed = write_owned(
            self.viewer,
            f"{layer.name} U-Net",
            result.labels,
            source=layer,
            owner=OWNER,
            kind="labels",
            **result.style,
        )
        for name, prob in result.probabilities:
            write_owned(
                self.viewer,
                f"{layer.name} U-Net P({name})",
                prob,
                source=layer,
                owner=OWNER,
                kind="image",
                colormap="inferno",
                contrast_limits=(0.0, 1.0),
                blending="additive",
            )
        if result.entropy is not None:
            write_owned(
                self.viewer,
                f"{layer.name} U-Net entropy",
                result.entropy,
                source=layer,
                owner=OWNER,
                kind="image",
                colormap="magma",
                contrast_limits=(0.0, 1.0),
                blending="additive",
            )
        self.controls.status.say(
            f"{config.name or 'model'} on {result.device}: {result.summary}; "
            f"{changed_message(changed)}"
        )


@dataclass(frozen=True)
class _Display:
    """Everything the dock shows, computed in the worker so the GUI thread only adds layers."""

    labels: np.ndarray
    style: dict
    probabilities: tuple[tuple[str, np.ndarray], ...]
    entropy: np.ndarray | None
    config: ModelConfig
    device: str
    summary: str


def _predict_for_display(
    model, image, *, probabilities: bool, uncertainty: bool, **options
) -> ProgressGenerator[_Display]:
    """Run :func:`iter_predict`, then prepare labels, styles and extra maps in the worker."""
    result = yield from iter_predict(model, image, **options)
    probs, config = result.probabilities, result.config
    labels = result.labels
    names = dict(enumerate(config.class_names))
    names.pop(0, None)
    style = labels_style(names, colors=contrasting_colors(config.class_colors))
    style["features"]["class"] = list(style["features"]["name"])  # the model's own word
    extra = (
        tuple(
            (name, np.ascontiguousarray(probs[k]))
            for k, name in enumerate(config.class_names[1:], start=1)
        )
        if probabilities
        else ()
    )
    entropy = predictive_entropy(probs) if uncertainty else None
    counts = np.bincount(labels.ravel(), minlength=len(config.class_names))
    summary = ", ".join(
        f"{n} {c}" for n, c in zip(config.class_names[1:], counts[1:], strict=True)
    )
    return _Display(labels, style, extra, entropy, config, result.device, f"{summary} voxels")
