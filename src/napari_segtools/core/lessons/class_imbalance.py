"""A near-zero loss can hide a useless segmentation when the positives are rare.

In the ring task (:mod:`.ring_task`) one image in two holds a malignant lesion of 9 pixels out
of 32 x 32, so 0.4 % of the pixels are positive. Binary cross-entropy averages over all pixels:
calling every pixel negative already costs little, and the network that does so reaches a loss
below 0.05 while its Dice is 0. Two remedies from the lecture notes, on the same data, network
and budget:

- class weights inversely proportional to each class's frequency, so both classes weigh the
  same in the cross-entropy;
- the Dice loss, 1 - soft Dice, which scores the overlap with the positives only and does not
  care how many negatives there are.

The network is the dilated one of :mod:`.receptive_field` (field 15 pixels), which can solve
the task. Given more epochs binary cross-entropy does learn this easy task too (with seed 0 its
Dice leaves 0 after about 16 epochs); its loss, near zero all along, never showed when.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_integer
from .receptive_field import NETWORKS
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

#: the runs compared: name -> (loss of :func:`~..unet.losses.make_loss`, class-weighted?)
LOSS_RUNS = {"BCE": ("bce", False), "weighted BCE": ("bce", True), "Dice loss": ("dice", False)}


@dataclass(frozen=True)
class LossResult:
    """One loss of the lesson: its training curve and the segmentation it gives.

    Attributes
    ----------
    name : str
        ``"BCE"`` (binary cross-entropy), ``"weighted BCE"`` (with class weights) or
        ``"Dice loss"``.
    loss : str
        The loss's name in :data:`~napari_segtools.core.unet.losses.LOSSES`.
    losses : tuple of float
        Mean training loss of each epoch (its own scale: cross-entropy or 1 - soft Dice).
    dice : tuple of float
        Dice of the test segmentation (probability >= 0.5) against the truth after each epoch,
        all test images pooled; 0 when nothing is found.
    probabilities : (N, Y, X) float32 ndarray
        The final probability of "malignant lesion" at each pixel of the test images.
    model : torch.nn.Module
        The trained network (logits out; apply a sigmoid).
    """

    name: str
    loss: str
    losses: tuple[float, ...]
    dice: tuple[float, ...]
    probabilities: np.ndarray
    model: nn.Module

    @property
    def segmentation(self) -> np.ndarray:
        """The pixels called malignant lesion (probability >= 0.5), (N, Y, X) bool."""
        return self.probabilities >= THRESHOLD


@dataclass(frozen=True)
class ClassImbalanceLesson:
    """Binary cross-entropy, class-weighted cross-entropy and Dice loss on rare positives.

    Attributes
    ----------
    test : RingImages
        The held-out images every Dice is measured on.
    positive_fraction : float
        Fraction of the training pixels that are positive (about 0.004).
    class_weights : tuple of float
        The (negative, positive) weights of the weighted run: 1 and the ratio of negative to
        positive pixels, i.e. inversely proportional to each class's frequency.
    results : tuple of LossResult
        One per loss, in the order of :data:`LOSS_RUNS`.
    """

    test: RingImages
    positive_fraction: float
    class_weights: tuple[float, float]
    results: tuple[LossResult, ...]

    def to_rows(self) -> list[dict]:
        """Return one row per run and epoch: its training loss and test Dice.

        Returns
        -------
        list of dict
            Keys ``run`` (the result's name), ``epoch`` (from 1), ``loss``, ``dice``.
        """
        return [
            {"run": r.name, "epoch": e + 1, "loss": loss, "dice": score}
            for r in self.results
            for e, (loss, score) in enumerate(zip(r.losses, r.dice, strict=True))
        ]

    def table(self) -> str:
        """Return the notes' table as text: per epoch, each loss's value and the test Dice.

        Returns
        -------
        str
            A two-line header (run names, then ``loss``/``Dice``) and one line per epoch.
        """
        width = 22  # per run: its loss and Dice columns
        names = "".join(f"{r.name:^{width}}" for r in self.results)
        units = "".join(f"{'loss':>{width - 9}}{'Dice':>9}" for _ in self.results)
        lines = [f"{'':<6}{names}", f"{'epoch':<6}{units}"]
        for e in range(len(self.results[0].losses)):
            cells = "".join(
                f"{r.losses[e]:>{width - 9}.4f}{r.dice[e]:>9.3f}" for r in self.results
            )
            lines.append(f"{e + 1:<6}{cells}")
        return "\n".join(lines)


def class_imbalance_lesson(
    *, train_images: int = 256, test_images: int = 200, epochs: int = 10, seed: int = 0
) -> ClassImbalanceLesson:
    """Train one network three ways on 0.4 % positive pixels; track loss and Dice per epoch.

    The dilated network of the receptive-field lesson (field 15 pixels) learns to segment the
    malignant lesions of the ring task with binary cross-entropy, with class-weighted binary
    cross-entropy (weights inversely proportional to class frequency) and with the Dice loss,
    from the same initial weights, images and batch order (Adam, one CPU thread). With the
    defaults cross-entropy ends below 0.05 with a Dice of 0 while the Dice loss reaches a Dice
    near 1, in about 8 s on a CPU.

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
    ClassImbalanceLesson
        Per loss: training loss and test Dice per epoch, test probabilities and the model.

    Raises
    ------
    ValueError
        If a count is below 1 (2 for either image count: each set needs a malignant lesion)
        or ``seed`` is negative.
    ImportError
        If PyTorch is not installed.

    Examples
    --------
    >>> lesson = class_imbalance_lesson(train_images=8, test_images=4, epochs=1)
    >>> [r.name for r in lesson.results], round(lesson.positive_fraction, 4)
    (['BCE', 'weighted BCE', 'Dice loss'], 0.0044)
    >>> lesson.table().splitlines()[1].split()
    ['epoch', 'loss', 'Dice', 'loss', 'Dice', 'loss', 'Dice']
    """
    from ..unet._torch import require_torch

    n_train = check_integer(train_images, "train_images", minimum=2)
    n_test = check_integer(test_images, "test_images", minimum=2)
    epochs = check_integer(epochs, "epochs", minimum=1)
    seed = check_integer(seed, "seed", minimum=0)
    torch = require_torch()
    from ..metrics.overlap import dice
    from ..unet.losses import make_loss

    train_seed, test_seed = split_seeds(seed)
    data, test = ring_images(n_train, seed=train_seed), ring_images(n_test, seed=test_seed)
    fraction = float(data.targets.mean())
    weights = (1.0, (1.0 - fraction) / fraction)
    results = []
    with one_thread():
        for name, (loss_name, weighted) in LOSS_RUNS.items():
            torch.manual_seed(seed)
            model = ring_network(NETWORKS["dilated"])
            loss = make_loss(
                loss_name, output="sigmoid", class_weights=weights if weighted else None
            )
            losses, scores = [], []
            for value in train_epochs(model, data, loss, epochs=epochs, seed=seed):
                found = predict(model, test.images) >= THRESHOLD
                losses.append(value)
                scores.append(float(dice(test.targets, found, empty="worst")))
            results.append(
                LossResult(
                    name=name,
                    loss=loss_name,
                    losses=tuple(losses),
                    dice=tuple(scores),
                    probabilities=predict(model, test.images),
                    model=model,
                )
            )
    return ClassImbalanceLesson(
        test=test, positive_fraction=fraction, class_weights=weights, results=tuple(results)
    )
