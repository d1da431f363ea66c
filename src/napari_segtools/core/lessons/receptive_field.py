"""A network can only use the context inside its receptive field.

The ring task (:mod:`.ring_task`) hides the class of each lesion in a ring 5 pixels beyond its
edge. Two networks with exactly the same weights try it, as in the lecture notes: three plain
3x3 convolutions see 7 x 7 pixels, at most 3 pixels from the pixel they label, so no lesion
pixel ever sees its ring and the network can only mark every lesion or none -- chance on a
balanced set. The same three convolutions with dilations 1, 2 and 4 see 15 x 15 pixels (the
field grows exponentially, the weights linearly) and learn the task.

Both train with the Dice loss on a sigmoid head (:mod:`.class_imbalance` shows why not binary
cross-entropy: 0.4 % of the pixels are positive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_integer
from .ring_task import (
    THRESHOLD,
    RingImages,
    one_thread,
    predict,
    ring_images,
    ring_network,
    split_seeds,
    train_epochs,
)

if TYPE_CHECKING:
    from torch import nn

    from ..unet.receptive_field import ReceptiveField

#: the two networks compared: name -> dilation of each 3x3 convolution
NETWORKS = {"plain": (1, 1, 1), "dilated": (1, 2, 4)}


@dataclass(frozen=True)
class NetworkResult:
    """One network of the lesson, trained and scored on the test images.

    Attributes
    ----------
    network : str
        ``"plain"`` or ``"dilated"``.
    dilations : tuple of int
        Dilation of each 3x3 convolution.
    field : ReceptiveField
        Its receptive field in pixels, from
        :func:`~napari_segtools.core.unet.receptive_field.receptive_field`.
    parameters : int
        Learnable weights and biases.
    accuracy : float
        Fraction of the test lesions classified right: a lesion is called malignant when the
        mean probability over its 3x3 pixels is at least 0.5.
    probabilities : (N, Y, X) float32 ndarray
        The network's probability of "malignant lesion" at each pixel of the test images.
    model : torch.nn.Module
        The trained network (logits out; apply a sigmoid).
    """

    network: str
    dilations: tuple[int, ...]
    field: ReceptiveField
    parameters: int
    accuracy: float
    probabilities: np.ndarray
    model: nn.Module

    @property
    def segmentation(self) -> np.ndarray:
        """The pixels called malignant lesion (probability >= 0.5), (N, Y, X) bool."""
        return self.probabilities >= THRESHOLD


@dataclass(frozen=True)
class ReceptiveFieldLesson:
    """The plain and the dilated network on the ring task, side by side.

    Attributes
    ----------
    test : RingImages
        The held-out images the networks are scored on (half malignant).
    results : tuple of NetworkResult
        The plain network, then the dilated one.
    epochs : int
        Training epochs of each network.
    """

    test: RingImages
    results: tuple[NetworkResult, ...]
    epochs: int

    def to_rows(self) -> list[dict]:
        """Return one row per network: name, field (pixels), parameters, accuracy.

        Returns
        -------
        list of dict
            Keys ``network``, ``field_voxels`` (side of the square field), ``parameters``,
            ``accuracy``.
        """
        return [
            {
                "network": r.network,
                "field_voxels": r.field.voxels[0],
                "parameters": r.parameters,
                "accuracy": r.accuracy,
            }
            for r in self.results
        ]

    def table(self) -> str:
        """Return the notes' table as text: network, field size, parameters, accuracy.

        Returns
        -------
        str
            One header line and one line per network.
        """
        lines = [f"{'network':<10}{'field (pixels)':>16}{'parameters':>12}{'accuracy':>10}"]
        for r in self.results:
            field = " x ".join(str(v) for v in r.field.voxels)
            lines.append(f"{r.network:<10}{field:>16}{r.parameters:>12}{r.accuracy:>10.3f}")
        return "\n".join(lines)


def lesion_accuracy(probabilities: np.ndarray, data: RingImages) -> float:
    """Fraction of lesions whose mean probability over their 3x3 pixels says the right class."""
    calls = np.array(
        [
            probabilities[i, cy - 1 : cy + 2, cx - 1 : cx + 2].mean() >= THRESHOLD
            for i, (cy, cx) in enumerate(data.centres)
        ]
    )
    return float(np.mean(calls == data.malignant))


def receptive_field_lesson(
    *, train_images: int = 256, test_images: int = 200, epochs: int = 10, seed: int = 0
) -> ReceptiveFieldLesson:
    """Train a plain and a dilated 3-layer network on the ring task; compare their accuracy.

    Both networks have three 3x3 convolutions of 8 filters and the same 1257 parameters; the
    dilated one uses dilations 1, 2, 4 (field 15 x 15 pixels) instead of 1, 1, 1 (7 x 7). Each
    trains with the Dice loss (Adam, seeded, one CPU thread) on the same images. With the
    defaults the plain network marks every lesion (accuracy 0.5) and the dilated one separates
    them (accuracy 1.0), in about 5 s on a CPU.

    Parameters
    ----------
    train_images, test_images : int
        Images of the ring task to train on and to score on (:func:`.ring_task.ring_images`).
    epochs : int
        Passes over the training images.
    seed : int
        Seed of the images, the initial weights and the batch order.

    Returns
    -------
    ReceptiveFieldLesson
        Per network: receptive field, parameters, accuracy, test probabilities and the model.

    Raises
    ------
    ValueError
        If a count is below 1 (2 for ``test_images``) or ``seed`` is negative.
    ImportError
        If PyTorch is not installed.

    Examples
    --------
    A one-epoch run on a few images shows the networks' fields and equal parameter counts:

    >>> lesson = receptive_field_lesson(train_images=8, test_images=4, epochs=1)
    >>> [(r["network"], r["field_voxels"], r["parameters"]) for r in lesson.to_rows()]
    [('plain', 7, 1257), ('dilated', 15, 1257)]
    """
    from ..unet._torch import require_torch
    from ..unet.receptive_field import receptive_field

    n_train = check_integer(train_images, "train_images", minimum=1)
    n_test = check_integer(test_images, "test_images", minimum=2)
    epochs = check_integer(epochs, "epochs", minimum=1)
    seed = check_integer(seed, "seed", minimum=0)
    torch = require_torch()
    from ..unet.losses import make_loss

    train_seed, test_seed = split_seeds(seed)
    data, test = ring_images(n_train, seed=train_seed), ring_images(n_test, seed=test_seed)
    loss = make_loss("dice", output="sigmoid")
    results = []
    with one_thread():
        for name, dilations in NETWORKS.items():
            torch.manual_seed(seed)
            model = ring_network(dilations)
            for _ in train_epochs(model, data, loss, epochs=epochs, seed=seed):
                pass
            probabilities = predict(model, test.images)
            results.append(
                NetworkResult(
                    network=name,
                    dilations=dilations,
                    field=receptive_field(model),
                    parameters=sum(p.numel() for p in model.parameters()),
                    accuracy=lesion_accuracy(probabilities, test),
                    probabilities=probabilities,
                    model=model,
                )
            )
    return ReceptiveFieldLesson(test=test, results=tuple(results), epochs=epochs)
