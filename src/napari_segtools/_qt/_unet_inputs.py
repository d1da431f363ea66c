"""U-Net dock inputs: the models offered, the model's info, one Image picker per input channel.

Layer glue and text only. Reading a config or a registry is plain JSON (no torch, no network);
the receptive field needs the network's layers, so :func:`iter_receptive_field` runs in a
background worker and torch still loads only after the dock is open. A registry model that is
not cached yet is described from its registry entry alone: only Run fetches it, in the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core._types import Progress, ProgressGenerator
from ..core.geometry import grid_differences, layer_geometry
from ..core.unet.formats import MODEL_FORMATS, detect_format, read_model_config, runs_code
from ..core.unet.package import ModelConfig, _locate, _models_dir, list_models
from ..core.unet.registry import RegistryEntry, _cached, cache_dir, registry_entries
from ._common import USER_ERRORS

#: the padding choices of the dock (display text, ``ModelConfig.padding`` value)
PADDINGS = [
    ("edge (repeat the border voxels)", "edge"),
    ("image minimum", "minimum"),
    ("reflect (mirror)", "reflect"),
    ("constant 0", "constant"),
]


def read_config(source: str) -> ModelConfig:
    """Return the config of a shipped model name or a model path, without loading torch."""
    return read_model_config(_locate(source))


def model_format(source: str | Path) -> str:
    """Name the format of a shipped model name or a model path, from its files (nothing runs)."""
    return detect_format(_locate(source))


def needs_trust(fmt: str) -> bool:
    """Whether loading a model of format ``fmt`` runs code (the dock offers "Trust this model").

    An unknown format (a registry entry newer than this plugin) asks for none: it cannot load.
    """
    return fmt in MODEL_FORMATS and runs_code(fmt)


def format_line(fmt: str) -> str:
    """One line on a model format: whether loading it runs code (then "Trust" is asked)."""
    if fmt not in MODEL_FORMATS:
        return f"format: {fmt} (not one this installation reads)"
    if runs_code(fmt):
        return f"format: {fmt} (runs code when loaded: tick Trust only for a source you trust)"
    return f"format: {fmt} (data only)"


def registry_models() -> tuple[dict[str, RegistryEntry | None], str]:
    """Return the models the dock offers by name, and why a registry could not be read.

    The registry's models (shipped, the user's registries, imported ones; see
    :func:`~napari_segtools.core.unet.registry.registry_entries`) with their entries, plus any
    shipped model without an entry (``None``). A broken registry file leaves the shipped models
    and a one-line problem (``""`` when all read).
    """
    try:
        entries: dict[str, RegistryEntry | None] = {e.name: e for e in registry_entries()}
        problem = ""
    except USER_ERRORS as exc:
        entries, problem = {}, f"{exc}; only the shipped models are listed"
    for name in list_models():
        entries.setdefault(name, None)
    return entries, problem


def local_model(name: str, entry: RegistryEntry | None) -> Path | None:
    """Return the folder of a shipped or cached model; ``None`` when only a fetch provides it.

    Reads small JSON records only: it never downloads (that is Run's worker's job).
    """
    cached = None if entry is None else _cached(entry)
    if cached is not None:
        return cached
    if name in list_models():
        return _models_dir() / name
    return None


def size_text(size_bytes: int) -> str:
    """Say a download size in kB, MB or GB (decimal units, as browsers do)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} bytes"


def entry_tooltip(name: str, entry: RegistryEntry | None) -> str:
    """Return the chooser item's tooltip: what the model does and its licence."""
    if entry is None:
        return f"{name}: shipped with the plugin (no registry entry)"
    return f"{name}: {entry.task} ({entry.modality})\nlicence: {entry.licence_text()}"


def describe_entry(entry: RegistryEntry) -> str:
    """Describe a registry model: task, modality, spacing, classes, format and licence."""
    spacing = (
        "not recorded"
        if entry.spacing is None
        else " x ".join(f"{s:g}" for s in entry.spacing) + " mm"
    )
    classes = ", ".join(entry.classes) or "not recorded"
    return (
        f"{entry.task} ({entry.modality})\n"
        f"spacing {spacing}; classes: {classes}\n"
        f"{format_line(entry.format)}\n"
        f"licence: {entry.licence_text()}"
    )


def not_fetched_text(entry: RegistryEntry) -> str:
    """Say that Run downloads a registry model first, how much and where to."""
    if entry.url is None:
        return (
            f"not in the model cache {cache_dir()} and without a download URL: import it "
            "with napari_segtools.import_model"
        )
    return (
        f"not downloaded yet: Run downloads it first ({size_text(entry.size_bytes)}, "
        f"checked against its sha256) into {cache_dir()}"
    )


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
        return "receptive field: not known for a TorchScript, torch.export or ONNX model"
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


def mask_problem(image, mask) -> str:
    """Say why a Mask layer cannot restrict a prediction on ``image``; ``""`` when it can.

    No mask is fine; a mask must lie on the image's grid (shape, scale, translate, affine).
    """
    if mask is None:
        return ""
    diffs = grid_differences(
        layer_geometry(image),
        layer_geometry(mask),
        image.data.shape[-mask.ndim :],
        mask.data.shape,
    )
    if mask.ndim != image.ndim or diffs:
        why = "; ".join(diffs) or f"{mask.ndim}-D vs {image.ndim}-D"
        return (
            f"Mask '{mask.name}' is not on the grid of '{image.name}' ({why}); choose a mask "
            "made on this image, or resample it first"
        )
    return ""


def iter_brain_mask(image: np.ndarray, *, spacing) -> ProgressGenerator[np.ndarray]:
    """Extract the brain of a T1 head (a worker job: :func:`~napari_segtools.brain_mask`)."""
    yield Progress(0, 1, "extracting the brain")
    from ..core.brain_mask import brain_mask

    return np.asarray(brain_mask(image, spacing=tuple(spacing)), bool)
