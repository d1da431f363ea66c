"""The "U-Net inference" dock widget: a model package on an Image layer, window by window.

torch loads only when Run is pressed (inside the worker): opening the widget stays fast.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSpinBox, Label, SpinBox
from napari.utils.colormaps import DirectLabelColormap

from ..core.unet.package import list_models
from ._layers import layer_to_array, write_output
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

FROM_FILE = "model file…"
DEVICES = [
    ("auto (CUDA, else MPS, else CPU)", "auto"),
    ("CPU", "cpu"),
    ("CUDA GPU", "cuda"),
    ("Apple MPS", "mps"),
]


def predict_with(source: str, image: np.ndarray, **options):
    """Worker generator: load the model package ``source`` and predict probabilities.

    Returns ``(probabilities, config, device)``, the device being the one that ran the model.
    """
    from ..core._types import Progress
    from ..core.unet.inference import resolve_device
    from ..core.unet.package import load_model

    yield Progress(0, 1, "loading the model")
    predictor = load_model(source)
    device = resolve_device(options.pop("device"))
    probs = yield from predictor.iter_predict_proba(image, device=device, **options)
    return probs, predictor.config, device


def entropy(probs: np.ndarray) -> np.ndarray:
    """Normalised Shannon entropy of (K, ...) class probabilities: 0 certain, 1 uniform."""
    p = np.clip(probs, 1e-12, 1.0)
    return (-(p * np.log(p)).sum(axis=0) / np.log(probs.shape[0])).astype(np.float32)


class UNetWidget(Container):
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
        self.show_advanced = CheckBox(
            label="Advanced",
            value=False,
            tooltip="Show overlap, test-time augmentation and batch size",
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
        self.advanced = Container(widgets=[self.overlap, self.tta, self.batch_size], visible=False)
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
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.image,
                self.model,
                self.model_file,
                self.device,
                self.show_advanced,
                self.advanced,
                self.probabilities,
                self.uncertainty,
                self.controls,
                self.status,
            ]
        )
        self.model.changed.connect(self._on_model)
        self._on_model(self.model.value)
        self.show_advanced.changed.connect(lambda on: setattr(self.advanced, "visible", on))
        self.controls.run_button.changed.connect(self.run)
        viewer.layers.events.inserted.connect(self.image.reset_choices)
        viewer.layers.events.removed.connect(self.image.reset_choices)

    def _image_choices(self, _widget=None):
        return [
            (layer.name, layer)
            for layer in self.viewer.layers
            if layer._type_string == "image" and not layer.rgb
        ]

    def _on_model(self, value):
        self.model_file.visible = value == FROM_FILE

    def model_source(self) -> str:
        """The shipped model name or the chosen file path."""
        return (
            str(self.model_file.value) if self.model.value == FROM_FILE else str(self.model.value)
        )

    def run(self, _=None):
        """Start inference in a worker; the result goes to ``"<image> U-Net"``."""
        layer = self.image.value
        if layer is None:
            self.status.value = "Add or choose an Image layer first"
            return
        data, geometry = layer_to_array(layer)
        self.status.value = ""  # errors arrive as notifications and in controls.last_error
        self.worker = run_generator(
            self.controls,
            predict_with,
            self.model_source(),
            data,
            spacing=geometry.spacing,
            direction=None if geometry.is_axis_aligned else geometry.direction,
            overlap=float(self.overlap.value),
            tta=bool(self.tta.value),
            batch_size=int(self.batch_size.value),
            device=self.device.value,
            on_returned=partial(self._show, layer),
            title="U-Net inference",
        )

    def _show(self, layer, result):
        probs, config, device = result
        labels = probs.argmax(axis=0).astype(np.uint8)
        colors = {None: "transparent", 0: "transparent"}
        colors.update({k: c for k, c in enumerate(config.class_colors) if k})
        features = {"index": np.arange(len(config.class_names)), "class": list(config.class_names)}
        write_output(
            self.viewer,
            f"{layer.name} U-Net",
            labels,
            source=layer,
            kind="labels",
            colormap=DirectLabelColormap(color_dict=colors),
            features=features,
        )
        if self.probabilities.value:
            for k, name in enumerate(config.class_names[1:], start=1):
                write_output(
                    self.viewer,
                    f"{layer.name} U-Net P({name})",
                    probs[k],
                    source=layer,
                    kind="image",
                    colormap="inferno",
                    contrast_limits=(0.0, 1.0),
                    blending="additive",
                )
        if self.uncertainty.value:
            write_output(
                self.viewer,
                f"{layer.name} U-Net entropy",
                entropy(probs),
                source=layer,
                kind="image",
                colormap="magma",
                contrast_limits=(0.0, 1.0),
                blending="additive",
            )
        counts = np.bincount(labels.ravel(), minlength=len(config.class_names))
        summary = ", ".join(
            f"{n} {c}" for n, c in zip(config.class_names[1:], counts[1:], strict=False)
        )
        self.status.value = f"{config.name or 'model'} on {device}: {summary} voxels"
