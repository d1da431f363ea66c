"""U-Net dock inputs: the model's config and info line, one Image picker per input channel.

Layer glue and text only. Reading a config is plain JSON (no torch); the receptive field needs
the network's layers, so :func:`iter_receptive_field` runs in a background worker and torch
still loads only after the dock is open.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core._types import Progress, ProgressGenerator
from ..core.geometry import grid_differences, layer_geometry
from ..core.unet.package import ModelConfig, _locate, _read_config
from ._common import USER_ERRORS

#: the padding choices of the dock (display text, ``ModelConfig.padding`` value)
PADDINGS = [
    ("edge (repeat the border voxels)", "edge"),
    ("image minimum", "minimum"),
    ("reflect (mirror)", "reflect"),
    ("constant 0", "constant"),
]


def read_config(source: str) -> ModelConfig:
    """Return the config of a shipped model name or a package path, without loading torch."""
    config_path, _scripted = _locate(source)
    return _read_config(config_path)


def channel_labels(config: ModelConfig | None) -> list[str]:
    """Return one picker label per input channel, "Channel 1" first.

    A one-channel model (or one whose config cannot be read) keeps the single "Image" picker.
    """
    if config is None or config.in_channels == 1:
        return ["Image"]
    return [f"Channel {k}" for k in range(1, config.in_channels + 1)]


def describe(config: ModelConfig) -> str:
    """Two short lines on the model: what it reads and segments, its grid and padding."""
    channels = config.in_channels
    head = "multilabel (sigmoid)" if config.output == "sigmoid" else "classes (softmax)"
    spacing = " x ".join(f"{s:g}" for s in config.spacing)
    return (
        f"{config.spatial_dims}-D, {channels} channel{'s' * (channels > 1)} in; {head}: "
        f"{', '.join(config.structures)}\n"
        f"trained at {spacing} mm; padding: {config.padding}"
    )


def iter_receptive_field(config: ModelConfig) -> ProgressGenerator[str]:
    """Say the model's receptive field in voxels and mm (a worker job: imports torch).

    A user error (an architecture the config cannot rebuild) becomes the text, not a traceback.
    """
    yield Progress(0, 1, "receptive field")
    if config.architecture is None:
        return "receptive field: not known for a TorchScript model"
    try:
        from ..core.unet.model import UNetSpec
        from ..core.unet.receptive_field import receptive_field

        field = receptive_field(UNetSpec(**config.architecture), spacing=config.spacing)
    except USER_ERRORS as exc:
        return f"receptive field: not known ({exc})"
    return f"receptive field {field}"


def grid_problem(layers: Sequence, labels: Sequence[str]) -> str:
    """Say why the channel layers are not one co-registered image; ``""`` when they are.

    Every channel must be a different layer on channel 1's grid: same shape, spacing, origin
    and direction (napari's scale, translate and affine).
    """
    first = layers[0]
    for k, (layer, label) in enumerate(zip(layers, labels, strict=True)):
        earlier = next((labels[j] for j in range(k) if layers[j] is layer), None)
        if earlier is not None:
            return (
                f"{label} and {earlier} are both '{layer.name}'; choose a different Image layer "
                "for each channel"
            )
        diffs = grid_differences(
            layer_geometry(first), layer_geometry(layer), first.data.shape, layer.data.shape
        )
        if diffs:
            return (
                f"{label} '{layer.name}' is not on the grid of {labels[0]} '{first.name}' "
                f"({'; '.join(diffs)}); the channels must be co-registered: resample it first"
            )
    return ""
