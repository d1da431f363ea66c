"""Prediction inside a mask: where the network runs, and the background everywhere else.

A mask (bool, on the image grid) tells :meth:`~.package.Predictor.predict_proba` where a result
is wanted: the network runs only on the mask's bounding box grown by half a window on every
side (in mm: ``patch_size * spacing / 2`` of the model), so a window centred on the mask's edge
still sees real image around it; outside the mask the result is background (a softmax head:
probability 1 for class 0; a sigmoid head: 0 for every structure). The intensity normalisation
takes its statistics (mean and deviation, percentiles) from the voxels inside the mask, as
nnU-Net does for brain MRI (``use_mask_for_norm``): skull, scalp or air around a brain then do
not shift the scale the network reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validate import check_mask
from ..geometry import Geometry


def background_probabilities(classes: int, shape: Sequence[int], *, output: str) -> np.ndarray:
    """Return the probabilities of "nothing here": class 0 certain (softmax), else all 0.

    Parameters
    ----------
    classes : int
        Number of output channels K.
    shape : sequence of int
        Spatial shape.
    output : {"softmax", "sigmoid"}
        The model's head.

    Returns
    -------
    (K, *shape) float32 ndarray

    Examples
    --------
    >>> background_probabilities(2, (3,), output="softmax").tolist()
    [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    """
    probs = np.zeros((classes, *shape), np.float32)
    if output == "softmax":
        probs[0] = 1.0
    return probs


@dataclass(frozen=True)
class MaskRegion:
    """A prediction mask and the window of the image the network runs on.

    Attributes
    ----------
    mask : ([Z,] Y, X) bool ndarray
        Where a result is wanted, on the image grid.
    window : tuple of slice
        The mask's bounding box grown by the margin, clipped to the image (empty slices for an
        empty mask).

    Examples
    --------
    >>> mask = np.zeros((10, 10), bool)
    >>> mask[4:6, 7] = True
    >>> region = MaskRegion.around(mask, margin_voxels=(2, 2))
    >>> region.window
    (slice(2, 8, None), slice(5, 10, None))
    >>> probs = np.full((2, 6, 5), 0.5, np.float32)
    >>> full = region.paste(probs, output="softmax")
    >>> float(full[1, 4, 7]), float(full[1, 4, 6]), float(full[0, 0, 0])
    (0.5, 0.0, 1.0)
    """

    mask: np.ndarray
    window: tuple[slice, ...]

    @classmethod
    def around(cls, mask: np.ndarray, *, margin_voxels: Sequence[int]) -> MaskRegion:
        """Return the region of a bool ``mask``: its bounding box grown by ``margin_voxels``."""
        window = []
        for axis, (size, margin) in enumerate(zip(mask.shape, margin_voxels, strict=True)):
            others = tuple(a for a in range(mask.ndim) if a != axis)
            hit = np.flatnonzero(mask.any(axis=others))
            if hit.size == 0:
                window.append(slice(0, 0))
                continue
            window.append(
                slice(max(0, int(hit[0]) - margin), min(size, int(hit[-1]) + 1 + margin))
            )
        return cls(mask, tuple(window))

    @property
    def empty(self) -> bool:
        """Whether the mask selects no voxel (the network then does not run)."""
        return any(s.stop <= s.start for s in self.window)

    @property
    def inside(self) -> np.ndarray:
        """The mask cropped to :attr:`window`."""
        return self.mask[self.window]

    def crop(self, array: np.ndarray, *, leading: int = 0) -> np.ndarray:
        """Cut :attr:`window` out of the spatial axes of ``array`` (after ``leading`` axes)."""
        return array[(slice(None),) * leading + self.window]

    def paste(
        self, probabilities: np.ndarray | None, *, output: str, classes: int = 0
    ) -> np.ndarray:
        """Place the window's probabilities on the image grid; background outside the mask.

        ``probabilities`` is (K, *window shape), or None for an empty mask (then ``classes``
        gives K).
        """
        k = classes if probabilities is None else probabilities.shape[0]
        full = background_probabilities(k, self.mask.shape, output=output)
        if probabilities is not None:
            where = (slice(None), *self.window)
            full[where] = np.where(self.inside, probabilities, full[where])
        return full


def margin_voxels(
    geometry: Geometry,
    *,
    patch_size: Sequence[int],
    model_spacing: Sequence[float],
    perm: Sequence[int],
) -> tuple[int, ...]:
    """Half a model window in voxels of the image, per image axis.

    ``patch_size`` and ``model_spacing`` are in the canonical axis order; canonical axis ``k`` is
    image axis ``perm[k]`` (see :func:`~._preprocess.canonical_axes`).

    Examples
    --------
    >>> margin_voxels(Geometry((1.0, 0.5)), patch_size=(16, 8), model_spacing=(2.0, 2.0),
    ...               perm=(1, 0))
    (8, 32)
    """
    margin = [0] * len(perm)
    for k, axis in enumerate(perm):
        half_mm = patch_size[k] * model_spacing[k] / 2.0
        margin[axis] = math.ceil(half_mm / geometry.spacing[axis] - 1e-9)
    return tuple(margin)


def mask_region(
    mask: object,
    shape: tuple[int, ...],
    *,
    geometry: Geometry,
    patch_size: Sequence[int],
    model_spacing: Sequence[float],
    perm: Sequence[int],
) -> MaskRegion:
    """Check a prediction mask against the image's spatial ``shape`` and return its region.

    Raises
    ------
    ValueError, TypeError
        If ``mask`` is not an integer or bool array of the image's spatial shape.
    """
    arr = check_mask(mask, "mask", ndims=(len(shape),))
    if arr.shape != tuple(shape):
        raise ValueError(
            f"`mask` must lie on the image grid, shape {tuple(shape)}; got shape {arr.shape}"
        )
    margin = margin_voxels(geometry, patch_size=patch_size, model_spacing=model_spacing, perm=perm)
    return MaskRegion.around(arr, margin_voxels=margin)
