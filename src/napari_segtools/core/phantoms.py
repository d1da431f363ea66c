"""Synthetic phantoms with exact ground truth, on anisotropic grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ellipsoid_mask(
    shape: Sequence[int],
    *,
    center_mm: Sequence[float],
    radii_mm: Sequence[float],
    spacing: Sequence[float],
) -> np.ndarray:
    """Select the voxels whose centre lies inside an axis-aligned ellipsoid.

    Parameters
    ----------
    shape : tuple of int
        Shape of the mask.
    center_mm, radii_mm : sequence of float
        Centre and semi-axes in mm, numpy axis order, measured from voxel (0, ..., 0).
    spacing : sequence of float
        Voxel size in mm, numpy axis order.

    Returns
    -------
    mask : bool ndarray of ``shape``

    Examples
    --------
    >>> ellipsoid_mask((1, 5), center_mm=(0, 4), radii_mm=(1, 2), spacing=(1, 2)).astype(int)
    array([[0, 1, 1, 1, 0]])
    """
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    axes = zip(grids, spacing, center_mm, radii_mm, strict=True)
    inside = sum(((g * s - c) / r) ** 2 for g, s, c, r in axes)
    return np.asarray(inside <= 1.0, dtype=bool)


def phantom(
    shape: Sequence[int] = (40, 128, 128),
    spacing: Sequence[float] = (2.5, 0.8, 0.8),
    *,
    noise: float = 10.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Make a 2-D or 3-D phantom with exact ground truth.

    A large ellipsoid (label 1) holds a bright core (2) and a small dark lesion (3), on a
    background of 0, with Gaussian noise.

    Parameters
    ----------
    shape : tuple of int
        Shape of the image (2 or 3 values).
    spacing : sequence of float
        Voxel size in mm, numpy axis order.
    noise : float
        Standard deviation of the Gaussian noise (intensity units).
    seed : int
        Seed of the noise generator.

    Returns
    -------
    image : float32 ndarray
        Intensities: background 0, label 1 -> 100, label 2 -> 200, label 3 -> 50, plus noise with
        standard deviation ``noise``.
    labels : uint8 ndarray
        The exact ground truth.

    Examples
    --------
    >>> image, labels = phantom((24, 24), (1.0, 1.0), noise=0.0)
    >>> sorted(np.unique(labels).tolist()), float(image[labels == 2].mean())
    ([0, 1, 2, 3], 200.0)
    """
    extent = np.asarray(shape) * np.asarray(spacing)
    centre = extent / 2
    labels = np.zeros(shape, np.uint8)
    for label, center, radius in (
        (1, centre, 0.38),
        (2, centre, 0.15),
        (3, centre + extent * np.r_[0.0, 0.22, 0.0][-len(shape) :], 0.06),
    ):
        labels[
            ellipsoid_mask(shape, center_mm=center, radii_mm=extent * radius, spacing=spacing)
        ] = label
    rng = np.random.default_rng(seed)
    means = np.array([0.0, 100.0, 200.0, 50.0], np.float32)
    image = means[labels] + rng.normal(0, noise, shape).astype(np.float32)
    return image.astype(np.float32), labels
