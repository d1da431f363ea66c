"""Synthetic phantoms with exact ground truth, on anisotropic grids."""

from __future__ import annotations

import numpy as np

from ._types import Spacing


def ellipsoid_mask(shape, center_mm, radii_mm, spacing: Spacing) -> np.ndarray:
    """Bool mask of voxels whose centre lies inside an axis-aligned ellipsoid.

    ``center_mm`` and ``radii_mm`` are in mm, numpy axis order, measured from voxel (0, ..., 0).
    """
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    axes = zip(grids, spacing, center_mm, radii_mm, strict=True)
    inside = sum(((g * s - c) / r) ** 2 for g, s, c, r in axes)
    return inside <= 1.0


def phantom(
    shape=(40, 128, 128), spacing: Spacing = (2.5, 0.8, 0.8), *, noise: float = 10.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D or 3-D phantom: a large ellipsoid (label 1) holding a bright core (2) and a small
    dark lesion (3), on a background of 0, with Gaussian noise.

    Returns
    -------
    image : float32 ndarray
        Intensities: background 0, label 1 -> 100, label 2 -> 200, label 3 -> 50, plus noise with
        standard deviation ``noise``.
    labels : uint8 ndarray
        The exact ground truth.
    """
    extent = np.asarray(shape) * np.asarray(spacing)
    centre = extent / 2
    labels = np.zeros(shape, np.uint8)
    labels[ellipsoid_mask(shape, centre, extent * 0.38, spacing)] = 1
    labels[ellipsoid_mask(shape, centre, extent * 0.15, spacing)] = 2
    lesion_centre = centre + extent * np.r_[0.0, 0.22, 0.0][-len(shape) :]
    labels[ellipsoid_mask(shape, lesion_centre, extent * 0.06, spacing)] = 3
    rng = np.random.default_rng(seed)
    means = np.array([0.0, 100.0, 200.0, 50.0], np.float32)
    image = means[labels] + rng.normal(0, noise, shape).astype(np.float32)
    return image.astype(np.float32), labels
