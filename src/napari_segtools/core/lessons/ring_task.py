"""The lecture notes' ring task: a lesion is malignant when a ring surrounds it a few pixels away.

Each image (32 x 32 pixels by default) holds one 3 x 3 lesion. Half the lesions are malignant:
a one-pixel-wide ring surrounds them, ``ring_distance_voxels`` (5) pixels beyond the lesion's
edge, i.e. the pixels at a distance in ``[1.5 + d, 2.5 + d)`` from the lesion's centre. The
other half are benign: no ring. The task is to segment the malignant lesions and not the benign
ones, so a network must see a lesion pixel and the ring at once: its receptive field must reach
7 pixels from the lesion's centre. Lesions and rings have intensity 1 on a background of 0,
with Gaussian noise (standard deviation 0.1) added.

The two lessons built on it (:mod:`.receptive_field`, :mod:`.class_imbalance`) train the same
small all-convolutional network: three 3x3 convolutions of 8 filters with ReLU and a 1x1
sigmoid head, as in the notes; only the dilations differ. Training is Adam (learning rate 0.01,
batches of 32) on one CPU thread, seeded, so a run repeats exactly on one machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_integer

if TYPE_CHECKING:
    import torch
    from torch import nn

#: intensity standard deviation of the noise added to every image (lesion and ring are 1)
NOISE_SD = 0.1
#: filters of each hidden convolution, as in the notes
FILTERS = 8
#: Adam learning rate and mini-batch size of every lesson run
LEARNING_RATE = 0.01
BATCH_SIZE = 32
#: probability at and above which a pixel is called positive
THRESHOLD = 0.5


@dataclass(frozen=True)
class RingImages:
    """Images of the ring task with their truth.

    Attributes
    ----------
    images : (N, Y, X) float32 ndarray
        The images: lesion and ring at intensity 1, background 0, plus noise.
    targets : (N, Y, X) bool ndarray
        The segmentation to learn: the pixels of the malignant lesions.
    malignant : (N,) bool ndarray
        Whether each image's lesion is malignant (has a ring); exactly half are.
    centres : (N, 2) int ndarray
        Each lesion's centre pixel (row, column).

    Examples
    --------
    >>> data = ring_images(4, seed=0)
    >>> data.lesion_labels().max(axis=(1, 2)).tolist() == [1 if m else 2 for m in data.malignant]
    True
    """

    images: np.ndarray
    targets: np.ndarray
    malignant: np.ndarray
    centres: np.ndarray

    def lesion_labels(self) -> np.ndarray:
        """Return a (N, Y, X) uint8 map of the lesions: 1 malignant, 2 benign, 0 elsewhere.

        Returns
        -------
        (N, Y, X) uint8 ndarray
            The truth of every lesion, benign ones included.
        """
        labels = np.zeros(self.images.shape, np.uint8)
        for i, (cy, cx) in enumerate(self.centres):
            labels[i, cy - 1 : cy + 2, cx - 1 : cx + 2] = 1 if self.malignant[i] else 2
        return labels


def ring_images(
    n_images: int, *, size_voxels: int = 32, ring_distance_voxels: int = 5, seed: int = 0
) -> RingImages:
    """Make images of the ring task: one 3x3 lesion each, half of them ringed (malignant).

    Parameters
    ----------
    n_images : int
        How many images; ``n_images // 2`` are malignant (an odd last one is benign), in an
        order shuffled by ``seed``.
    size_voxels : int
        Side of each square image, in pixels (>= ``2 * ring_distance_voxels + 5``, so every
        ring fits).
    ring_distance_voxels : int
        Gap between the lesion's edge and its ring, in pixels (the notes' d = 5).
    seed : int
        Seed of the positions, the classes and the noise.

    Returns
    -------
    RingImages
        The images, the malignant-lesion masks to learn, each lesion's class and centre.

    Raises
    ------
    ValueError
        If a count or size is out of range.

    Examples
    --------
    >>> data = ring_images(4, seed=0)
    >>> data.images.shape, int(data.targets.sum()), int(data.malignant.sum())
    ((4, 32, 32), 18, 2)
    >>> ring = (data.images > 0.5) & (data.lesion_labels() == 0)
    >>> sorted({int(ring[i].sum()) for i in range(4)})  # no ring on benign lesions
    [0, 40]
    """
    n = check_integer(n_images, "n_images", minimum=1)
    gap = check_integer(ring_distance_voxels, "ring_distance_voxels", minimum=1)
    margin = gap + 2  # the ring's outermost pixels lie this far from the centre along an axis
    size = check_integer(size_voxels, "size_voxels", minimum=2 * margin + 1)
    seed = check_integer(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    malignant = np.arange(n) < n // 2
    rng.shuffle(malignant)
    centres = rng.integers(margin, size - margin, size=(n, 2))
    offsets = np.arange(-margin, margin + 1)
    distance = np.hypot(*np.meshgrid(offsets, offsets, indexing="ij"))
    ring = (distance >= 1.5 + gap) & (distance < 2.5 + gap)
    images = np.zeros((n, size, size), np.float32)
    targets = np.zeros((n, size, size), bool)
    for i, (cy, cx) in enumerate(centres):
        if malignant[i]:
            window = images[i, cy - margin : cy + margin + 1, cx - margin : cx + margin + 1]
            window[ring] = 1
            targets[i, cy - 1 : cy + 2, cx - 1 : cx + 2] = True
        images[i, cy - 1 : cy + 2, cx - 1 : cx + 2] = 1
    images += NOISE_SD * rng.standard_normal(images.shape, dtype=np.float32)
    return RingImages(images, targets, malignant, centres)


def split_seeds(seed: int) -> tuple[int, int]:
    """Two independent data seeds (training, test) from one (checked) lesson seed."""
    train, test = np.random.SeedSequence(seed).generate_state(2)
    return int(train), int(test)


def ring_network(dilations: Sequence[int]) -> nn.Module:
    """Build the notes' network: 3x3 convolutions (8 filters, ReLU), these dilations, 1x1 head.

    Each convolution pads by its dilation, so the output has the input's size; the head gives
    one logit per pixel (the sigmoid is applied by the loss and by :func:`predict`).
    """
    from torch import nn

    layers: list[nn.Module] = []
    channels = 1
    for d in dilations:
        layers += [nn.Conv2d(channels, FILTERS, 3, padding=d, dilation=d), nn.ReLU()]
        channels = FILTERS
    layers.append(nn.Conv2d(channels, 1, 1))
    return nn.Sequential(*layers)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block (repeatable sums), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensor(array: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, np.float32)[:, None])


def train_epochs(
    model: nn.Module,
    data: RingImages,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    seed: int,
) -> Iterator[float]:
    """Train ``model`` in place on ``data``; yield the mean training loss after each epoch."""
    import torch

    x, y = _tensor(data.images), _tensor(data.targets)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimiser.zero_grad()
            value = loss(model(x[batch]), y[batch])
            value.backward()
            optimiser.step()
            total += float(value.detach()) * len(batch)
        yield total / len(x)


def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Return the (N, Y, X) float32 probability of the positive class at each pixel."""
    import torch

    model.eval()
    with torch.no_grad():
        return torch.sigmoid(model(_tensor(images)))[:, 0].numpy()
