"""What the U-Net dock shows, prepared in its worker so the GUI thread only adds layers.

A softmax model gives one Labels layer ``"<image> U-Net"`` (a class per voxel); a sigmoid
(multilabel) model gives one Labels layer ``"<image> <structure>"`` per structure, so
overlapping structures each keep every voxel they cover and each can be evaluated alone.
A registry model that is not cached yet is downloaded here too (:func:`fetch_then_predict`),
never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._layer_style import contrasting_colors, labels_style
from ..core._types import Progress, ProgressGenerator
from ..core.unet.package import ModelConfig
from ..core.unet.predict import Prediction, iter_predict, predictive_entropy
from ..core.unet.registry import RegistryEntry, fetch_model
from ._unet_inputs import size_text


@dataclass(frozen=True)
class Output:
    """One Labels layer to write: its name after the image's, its label image, its style."""

    suffix: str
    labels: np.ndarray
    style: dict


@dataclass(frozen=True)
class Display:
    """Everything the dock shows after a run."""

    outputs: tuple[Output, ...]
    probabilities: tuple[tuple[str, np.ndarray], ...]
    entropy: np.ndarray | None
    config: ModelConfig
    device: str
    summary: str
    #: how the input differed from the model's training data (``Prediction.domain_warnings``)
    domain_warnings: tuple[str, ...] = ()


def _style(names: dict[int, str], colors) -> dict:
    style = labels_style(names, colors=colors)
    style["features"]["class"] = list(style["features"]["name"])  # the model's own word
    return style


def _softmax_outputs(result: Prediction) -> tuple[tuple[Output, ...], str]:
    config = result.config
    labels = result.labels
    names = dict(enumerate(config.structures, start=1))
    style = _style(names, contrasting_colors(config.class_colors))
    counts = np.bincount(labels.ravel(), minlength=len(config.class_names))
    summary = ", ".join(f"{n} {c}" for n, c in zip(names.values(), counts[1:], strict=True))
    return (Output("U-Net", labels, style),), summary


def _multilabel_outputs(result: Prediction) -> tuple[tuple[Output, ...], str]:
    config = result.config
    masks = result.masks()
    # class_colors of a sigmoid model: one per structure, no background entry
    colors = contrasting_colors(["#000000", *config.class_colors])
    outputs = tuple(
        Output(name, mask.astype(np.uint8), _style({1: name}, (color,)))
        for name, mask, color in zip(config.class_names, masks, colors, strict=True)
    )
    summary = ", ".join(
        f"{name} {int(np.count_nonzero(mask))}"
        for name, mask in zip(config.class_names, masks, strict=True)
    )
    return outputs, summary


def _entropy(result: Prediction) -> np.ndarray:
    """Normalised entropy per voxel; multilabel: the largest of the structures' own entropies.

    Each sigmoid structure is a yes/no question with its own binary entropy (1 at p = 0.5), so
    the map shows, per voxel, the structure the model is least sure of.
    """
    probs = result.probabilities
    if not result.multilabel:
        return predictive_entropy(probs)
    return np.max([predictive_entropy(np.stack([1 - p, p])) for p in probs], axis=0)


def predict_for_display(
    model, image, *, probabilities: bool, uncertainty: bool, **options
) -> ProgressGenerator[Display]:
    """Run :func:`iter_predict`, then prepare labels, styles and extra maps in the worker."""
    result = yield from iter_predict(model, image, **options)
    config = result.config
    prepare = _multilabel_outputs if result.multilabel else _softmax_outputs
    outputs, summary = prepare(result)
    names = config.structures
    offset = len(config.class_names) - len(names)  # the background channel of a softmax head
    extra = (
        tuple(
            (name, np.ascontiguousarray(result.probabilities[k]))
            for k, name in enumerate(names, start=offset)
        )
        if probabilities
        else ()
    )
    return Display(
        outputs,
        extra,
        _entropy(result) if uncertainty else None,
        config,
        result.device,
        f"{summary} voxels",
        result.domain_warnings,
    )


def fetch_then_predict(entry: RegistryEntry, image, **options) -> ProgressGenerator[Display]:
    """Download and verify a registry model (:func:`fetch_model`), then :func:`predict_for_display`.

    The download is one step: Cancel takes effect once it is done, before the prediction.
    """
    yield Progress(0, 1, f"downloading {entry.name} ({size_text(entry.size_bytes)})")
    folder = fetch_model(entry.name, entry=entry)
    return (yield from predict_for_display(str(folder), image, **options))
