"""Physical-unit helpers: voxel volumes and millimetre radii on anisotropic grids."""

from __future__ import annotations

import numpy as np

from ._types import Spacing


def voxel_volume(spacing: Spacing) -> float:
    """Volume of one voxel in mm^3 (mm^2 in 2-D)."""
    return float(np.prod(spacing))


def radius_in_voxels(radius_mm: float, spacing: Spacing) -> tuple[int, ...]:
    """Per-axis half-width in voxels of a ball of ``radius_mm`` on a grid with ``spacing``."""
    return tuple(int(np.floor(radius_mm / s + 1e-9)) for s in spacing)


def ellipsoid_footprint(radius_mm: float, spacing: Spacing) -> np.ndarray:
    """Bool structuring element: the voxels whose centre lies within ``radius_mm`` of the centre.

    Anisotropy is respected: on a (2.5, 0.8, 0.8) mm grid a 2 mm ball is 1 voxel deep along axis 0
    and 5 voxels across the others.
    """
    half = radius_in_voxels(radius_mm, spacing)
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    dist2 = sum((g * s) ** 2 for g, s in zip(grids, spacing))
    return dist2 <= radius_mm**2 + 1e-9


def volume_to_voxels(volume_mm3: float, spacing: Spacing) -> int:
    """Number of voxels (rounded up) that make up ``volume_mm3`` on a grid with ``spacing``."""
    return int(np.ceil(volume_mm3 / voxel_volume(spacing) - 1e-9))
