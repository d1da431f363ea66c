"""The "U-Net inference" dock widget: a model on Image layers, window by window.

Layer glue only: the prediction is :func:`napari_segtools.core.unet.predict.iter_predict` run in a
worker (outputs prepared by :mod:`._unet_output`), the model's inputs and info line come from
:mod:`._unet_inputs`. The model chooser lists the registry's models (shipped, the user's
registries, imported), each with its licence, then a model file or a model folder. torch loads
only in workers (the receptive field when a model is chosen, the prediction when Run is
pressed), and a registry model that is not cached yet is downloaded by Run's worker: opening
the widget stays fast, and without torch the dock opens and says how to install it.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, PushButton, SpinBox
from qtpy.QtCore import Qt

from ..core.unet._torch import TORCH_MISSING, torch_available
from ..core.unet.package import ModelConfig
from ..core.unet.registry import RegistryEntry
from ._common import USER_ERRORS, Section, StatusLine, layer_choices
from ._dock import ScrollDock
from ._history import changed_message
from ._layers import layer_to_array, write_owned
from ._unet_inputs import (
    PADDINGS,
    channel_labels,
    describe,
    describe_entry,
    entry_tooltip,
    format_line,
    grid_problem,
    iter_brain_mask,
    iter_receptive_field,
    local_model,
    mask_problem,
    model_format,
    needs_trust,
    not_fetched_text,
    read_config,
    registry_models,
)
from ._unet_output import Display, fetch_then_predict, predict_for_display
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

FROM_FILE = "model file…"
FROM_FOLDER = "model folder…"
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
        #: the registry's models by name (None: a shipped model without an entry), and why a
        #: registry file could not be read ("" when all were); read once, when the dock opens
        self.entries, self._registry_problem = registry_models()
        self.model = ComboBox(
            label="Model",
            choices=[*self.entries, FROM_FILE, FROM_FOLDER],
            tooltip="A registry model (shipped, from your registries, or imported; hover an "
            "item for its licence), a model file, or a model folder (a package, a MONAI bundle, "
            "an nnU-Net v2 trained-model folder)",
        )
        self._show_licences()
        self.model_file = FileEdit(
            label="Model file",
            mode="r",
            filter="*.json *.pt *.pth *.ts *.pt2 *.onnx",
            visible=False,
            tooltip="config.json of a package folder, or a TorchScript, torch.export (.pt2) or "
            "ONNX file with a .json beside it",
        )
        self.model_folder = FileEdit(
            label="Model folder",
            mode="d",
            visible=False,
            tooltip="A package folder (config.json), a MONAI bundle (configs/ and "
            "models/model.pt) or an nnU-Net v2 trained-model folder (dataset.json, plans.json, "
            "fold_N/)",
        )
        self.trust = CheckBox(
            text="Trust this model (it runs code)",
            value=False,
            visible=False,
            tooltip="TorchScript and torch.export files, MONAI bundles and nnU-Net folders run "
            "code when loaded: tick only for a model from a source you trust (packages and ONNX "
            "files are data only)",
        )
        self.mask = ComboBox(
            label="Mask",
            choices=self._mask_choices,
            nullable=True,
            value=None,
            tooltip="Optional Labels layer on the image's grid: the model predicts inside it "
            "(non-zero voxels; normalised with their statistics) and writes background outside",
        )
        self.brain_mask = PushButton(
            text="Brain mask",
            tooltip="Extract the brain of the chosen T1 head image (napari_segtools.brain_mask) "
            "into a Labels layer '<image> brain mask' and use it as the Mask: the shipped "
            "tissue model was trained on skull-stripped brains",
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
        self.inputs = Section(
            "Image and model",
            [
                self.image,
                self.model,
                self.model_file,
                self.model_folder,
                self.trust,
                self.mask,
                self.brain_mask,
            ],
        )
        self.outputs = Section("Extra outputs", [self.probabilities, self.uncertainty])
        # outside the folding groups: a fold keeps the height it had when opened, and the
        # info's wrapped lines change with the model
        super().__init__([self.inputs, self.info, self.outputs, self.advanced, self.controls])
        self.model.changed.connect(self._on_model)
        self.model_file.changed.connect(self._on_model)
        self.model_folder.changed.connect(self._on_model)
        self.controls.run_button.changed.connect(self.run)
        self.brain_mask.changed.connect(self.make_brain_mask)
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

    def _mask_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "labels")

    def _reset_pickers(self, _event=None) -> None:
        for picker in [*self.channel_pickers, self.mask]:
            picker.reset_choices()

    def model_source(self) -> str:
        """Return the registry model's name or the chosen file or folder path."""
        if self.model.value == FROM_FILE:
            return str(self.model_file.value)
        if self.model.value == FROM_FOLDER:
            return str(self.model_folder.value)
        return str(self.model.value)

    def _show_licences(self) -> None:
        """Give each registry model of the chooser its licence as tooltip."""
        for index, (name, entry) in enumerate(self.entries.items()):
            self.model.native.setItemData(
                index, entry_tooltip(name, entry), Qt.ItemDataRole.ToolTipRole
            )

    def _registry_entry(self) -> RegistryEntry | None:
        """Return the chosen registry model's entry (None: a file, a folder, no entry)."""
        return self.entries.get(self.model.value)

    # ---- the chosen model: config, channel pickers, padding, info ----------------------------
    def _on_model(self, _value=None, *, keep_trust: bool = False) -> None:
        choice = self.model.value
        self.model_file.visible = choice == FROM_FILE
        self.model_folder.visible = choice == FROM_FOLDER
        self._info_generation += 1
        self.config = None
        self.trust.visible = False
        if not keep_trust:  # trust is given per model
            self.trust.value = False
        lines = ""
        try:
            lines, source = self._model_lines()
            if self._registry_problem:
                lines = f"{lines}\n{self._registry_problem}"
            if source is not None:
                self.config = read_config(source)
        except USER_ERRORS as exc:  # the format line stays: it says whether Trust is needed
            self.info.refuse(f"{lines}\n{exc}" if lines else str(exc))
            lines = None
        self._set_channels(channel_labels(self.config))
        if lines is None:
            return
        if self.config is None:
            self.info.say(lines)
            return
        self.padding.value = self.config.padding
        summary = f"{lines}\n{describe(self.config)}"
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

    def _model_lines(self) -> tuple[str, str | None]:
        """Return the chosen model's info lines and where its config is read (None: nowhere yet).

        Sets whether the trust box shows, from the format (file names and headers only). A
        registry model not cached yet is described from its entry: nothing is downloaded here.
        """
        choice = self.model.value
        if choice in (FROM_FILE, FROM_FOLDER):
            source = self.model_source()
            if source in ("", "."):
                if choice == FROM_FILE:
                    return (
                        "Choose the model file: a package's config.json, or a TorchScript, "
                        "torch.export or ONNX file"
                    ), None
                return (
                    "Choose the model folder: a package, a MONAI bundle or an nnU-Net v2 "
                    "trained-model folder"
                ), None
            fmt = model_format(source)
            lines = format_line(fmt)
        else:
            entry = self._registry_entry()
            folder = local_model(choice, entry)
            if folder is None:
                assert entry is not None  # only a registry entry can be missing locally
                self.trust.visible = needs_trust(entry.format)
                return f"{describe_entry(entry)}\n{not_fetched_text(entry)}", None
            source, fmt = str(folder), model_format(folder)
            lines = format_line(fmt) if entry is None else describe_entry(entry)
        self.trust.visible = needs_trust(fmt)
        return lines, source

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
        problem = mask_problem(layers[0], self.mask.value)
        if problem:
            self.controls.status.refuse(problem)
            return
        data, geometry = layer_to_array(layers[0])
        if len(layers) > 1:  # (C, [Z,] Y, X), channel 1 first
            data = np.stack([data, *(np.asarray(layer.data) for layer in layers[1:])])
        mask = None if self.mask.value is None else np.asarray(self.mask.value.data) != 0
        entry = self._registry_entry()
        try:
            fetch = entry is not None and local_model(entry.name, entry) is None
        except USER_ERRORS as exc:  # a damaged cache record
            self.controls.status.refuse(str(exc))
            return
        job, model = (
            (fetch_then_predict, entry) if fetch else (predict_for_display, self.model_source())
        )
        self.worker = run_generator(
            self.controls,
            job,
            model,
            data,
            geometry=geometry,
            overlap=float(self.overlap.value),
            padding=None if fetch else self.padding.value,  # None: the fetched model's own
            tta=bool(self.tta.value),
            batch_size=int(self.batch_size.value),
            device=self.device.value,
            probabilities=bool(self.probabilities.value),
            uncertainty=bool(self.uncertainty.value),
            trusted=bool(self.trust.value),
            mask=mask,
            on_returned=partial(self._show, layers[0]),
            title="U-Net inference",
        )
        if fetch:  # cached now (or the download failed): the info says what is known
            self.worker.finished.connect(partial(self._after_fetch, self.model.value))

    def _after_fetch(self, choice: str) -> None:
        if self.connections.alive and self.model.value == choice:
            self._on_model(keep_trust=True)

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
        message = (
            f"{result.config.name or 'model'} on {result.device}: {result.summary}; "
            f"{changed_message(changed)}"
        )
        if result.domain_warnings:  # also napari notifications, from the worker's warnings
            unlike = "\n".join(f"Unlike its training data: {m}" for m in result.domain_warnings)
            self.controls.status.refuse(f"{message}\n{unlike}")
        else:
            self.controls.status.say(message)

    # ---- brain extraction --------------------------------------------------------------------
    def make_brain_mask(self, _=None) -> None:
        """Extract the brain of the chosen 3-D image in a worker; it becomes the Mask."""
        layer = self.image.value
        if layer is None or layer.ndim != 3:
            self.controls.status.refuse("Choose a 3-D T1 head Image layer for the brain mask")
            return
        data, geometry = layer_to_array(layer)
        self.worker = run_generator(
            self.controls,
            iter_brain_mask,
            data,
            spacing=geometry.spacing,
            on_returned=partial(self._show_brain_mask, layer),
            title="Brain mask",
        )

    def _show_brain_mask(self, layer, mask: np.ndarray) -> None:
        if not self.connections.alive or layer not in self.viewer.layers:
            return
        if self.worker is not None and self.worker.abort_requested:
            return
        out, _ = write_owned(
            self.viewer,
            f"{layer.name} brain mask",
            mask.astype(np.uint8),
            source=layer,
            owner=OWNER,
            kind="labels",
        )
        self.mask.reset_choices()
        self.mask.value = out
        volume_ml = np.count_nonzero(mask) * float(np.prod(layer.scale[-3:])) / 1000
        self.controls.status.say(f"brain mask: {volume_ml:.0f} ml; it is now the Mask")
