"""The "U-Net inference" dock widget: a model package on Image layers, window by window.

Layer glue only: the prediction is :func:`napari_segtools.core.unet.predict.iter_predict` run in a
worker (outputs prepared by :mod:`._unet_output`), the model's inputs and info line come from
:mod:`._unet_inputs`. torch loads only in workers (the receptive field when a model is chosen,
the prediction when Run is pressed): opening the widget stays fast, and without torch the dock
opens and says how to install it.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, SpinBox

from ..core.unet._torch import TORCH_MISSING, torch_available
from ..core.unet.package import ModelConfig, list_models
from ._common import USER_ERRORS, Section, StatusLine, layer_choices
from ._dock import ScrollDock
from ._history import changed_message
from ._layers import layer_to_array, write_owned
from ._unet_inputs import (
    PADDINGS,
    channel_labels,
    describe,
    grid_problem,
    iter_receptive_field,
    read_config,
)
from ._unet_output import Display, predict_for_display
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
    """Segment Image layers (one per input channel) with a shipped or user U-Net model package."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.worker = None
        #: the chosen model's config (None while it cannot be read)
        self.config: ModelConfig | None = None
        self._info_generation = 0
        self.image = ComboBox(
            label="Image",
            choices=self._image_choices,
            tooltip="Image layer to segment (its scale is the voxel spacing in mm)",
        )
        #: pickers of input channels 2..N of a multi-channel model (``image`` is channel 1)
        self.extra_channels: list[ComboBox] = []
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
        #: what the model segments, from which inputs, and its receptive field
        self.info = StatusLine()
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
        self.padding = ComboBox(
            label="Border padding",
            choices=PADDINGS,
            value="edge",
            tooltip="How an image smaller than the model's window is extended (after "
            "normalisation): its border voxels repeated, each channel's minimum, a mirror "
            "image, or 0, the mean of a z-scored image, which the network reads as tissue. "
            "Starts at the model's own choice",
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
            "Advanced",
            [self.device, self.overlap, self.padding, self.tta, self.batch_size],
            expanded=False,
        )
        self.probabilities = CheckBox(
            label="Probability layers",
            value=False,
            tooltip="Add one Image layer per class or structure with its probability (0-1)",
        )
        self.uncertainty = CheckBox(
            label="Uncertainty layer",
            value=False,
            tooltip="Add the normalised entropy of the class probabilities (0 certain, 1 "
            "uniform); for a multilabel model the largest of the structures' own entropies",
        )
        self.controls = RunControls("Run")
        self._info_controls = RunControls("")  # never shown: the receptive field job
        self.inputs = Section("Image and model", [self.image, self.model, self.model_file])
        self.outputs = Section("Extra outputs", [self.probabilities, self.uncertainty])
        # outside the folding groups: a fold keeps the height it had when opened, and the
        # info's wrapped lines change with the model
        super().__init__([self.inputs, self.info, self.outputs, self.advanced, self.controls])
        self.model.changed.connect(self._on_model)
        self.model_file.changed.connect(self._on_model)
        self.controls.run_button.changed.connect(self.run)
        self.connections.connect(viewer.layers.events.inserted, self._reset_pickers)
        self.connections.connect(viewer.layers.events.removed, self._reset_pickers)
        if not torch_available():
            self.controls.status.refuse(TORCH_MISSING)
            self.controls.run_button.enabled = False
        self._on_model()

    @property
    def channel_pickers(self) -> list[ComboBox]:
        """One Image picker per input channel of the model, channel 1 first."""
        return [self.image, *self.extra_channels]

    def _image_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "image")

    def _reset_pickers(self, _event=None) -> None:
        for picker in self.channel_pickers:
            picker.reset_choices()

    def model_source(self) -> str:
        """Return the shipped model name or the chosen file path."""
        return (
            str(self.model_file.value) if self.model.value == FROM_FILE else str(self.model.value)
        )

    # ---- the chosen model: config, channel pickers, padding, info ----------------------------
    def _on_model(self, _value=None) -> None:
        self.model_file.visible = self.model.value == FROM_FILE
        self._info_generation += 1
        self.config = None
        if self.model.value == FROM_FILE and str(self.model_file.value) in ("", "."):
            self.info.say("Choose the model file: a package's config.json, or a TorchScript file")
        else:
            try:
                self.config = read_config(self.model_source())
            except USER_ERRORS as exc:
                self.info.refuse(str(exc))
        self._set_channels(channel_labels(self.config))
        if self.config is None:
            return
        self.padding.value = self.config.padding
        summary = describe(self.config)
        if not torch_available():
            self.info.say(f"{summary}\nreceptive field: needs PyTorch")
            return
        self.info.say(f"{summary}\nreceptive field: computing…")
        generation = self._info_generation
        run_generator(
            self._info_controls,
            iter_receptive_field,
            self.config,
            on_returned=partial(self._on_field, generation, summary),
            title="Model info",
            quiet=True,
        )

    def _on_field(self, generation: int, summary: str, field: str) -> None:
        if self.connections.alive and generation == self._info_generation:
            self.info.say(f"{summary}\n{field}")

    def _set_channels(self, labels: list[str]) -> None:
        """Show one Image picker per input channel, labelled, each defaulting to its own layer."""
        while len(self.extra_channels) > len(labels) - 1:
            self.inputs.body.remove(self.extra_channels.pop())
        while len(self.extra_channels) < len(labels) - 1:
            picker = ComboBox(choices=self._image_choices)
            self.inputs.body.insert(len(self.extra_channels) + 1, picker)
            self.extra_channels.append(picker)
            images = [layer for _, layer in self._image_choices()]
            if len(images) > len(self.extra_channels):
                picker.value = images[len(self.extra_channels)]
        for picker, label in zip(self.channel_pickers, labels, strict=True):
            picker.label = label
            picker.tooltip = (
                "Image layer to segment (its scale is the voxel spacing in mm)"
                if len(labels) == 1
                else f"Image layer for the model's input {label.lower()}; all channels must be "
                "co-registered (same shape, scale, translate and affine)"
            )

    # ---- run and show ------------------------------------------------------------------------
    def run(self, _=None):
        """Start inference in a worker; the result goes to the dock's own Labels layers."""
        if not torch_available():
            self.controls.status.refuse(TORCH_MISSING)
            return
        layers = [picker.value for picker in self.channel_pickers]
        if any(layer is None for layer in layers):
            what = "an Image layer" if len(layers) == 1 else "an Image layer for each channel"
            self.controls.status.refuse(f"Add or choose {what} first")
            return
        problem = grid_problem(layers, [picker.label for picker in self.channel_pickers])
        if problem:
            self.controls.status.refuse(problem)
            return
        data, geometry = layer_to_array(layers[0])
        if len(layers) > 1:  # (C, [Z,] Y, X), channel 1 first
            data = np.stack([data, *(np.asarray(layer.data) for layer in layers[1:])])
        self.worker = run_generator(
            self.controls,
            predict_for_display,
            self.model_source(),
            data,
            geometry=geometry,
            overlap=float(self.overlap.value),
            padding=self.padding.value,
            tta=bool(self.tta.value),
            batch_size=int(self.batch_size.value),
            device=self.device.value,
            probabilities=bool(self.probabilities.value),
            uncertainty=bool(self.uncertainty.value),
            on_returned=partial(self._show, layers[0]),
            title="U-Net inference",
        )

    def _show(self, layer, result: Display):
        """Add the prepared outputs (main thread: only layer updates happen here).

        Each Labels output is one napari undo step on its own layer.
        """
        if not self.connections.alive or layer not in self.viewer.layers:
            return
        if self.worker is not None and self.worker.abort_requested:
            return  # Cancel came while the last step ran: no layer is made
        changed = 0
        for output in result.outputs:
            _, count = write_owned(
                self.viewer,
                f"{layer.name} {output.suffix}",
                output.labels,
                source=layer,
                owner=OWNER,
                kind="labels",
                **output.style,
            )
            changed += count
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
            f"{result.config.name or 'model'} on {result.device}: {result.summary}; "
            f"{changed_message(changed)}"
        )
