"""Physical-unit helpers: voxel volumes and millimetre radii on anisotropic grids."""

from __future__ import annotations

import numpy as np

from ._types import Geometry, Spacing


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
    dist2 = sum((g * s) ** 2 for g, s in zip(grids, spacing, strict=False))
    return dist2 <= radius_mm**2 + 1e-9


def volume_to_voxels(volume_mm3: float, spacing: Spacing) -> int:
    """Number of voxels (rounded up) that make up ``volume_mm3`` on a grid with ``spacing``."""
    return int(np.ceil(volume_mm3 / voxel_volume(spacing) - 1e-9))


def resample_labels_nearest(
    labels: np.ndarray, source: Geometry, target: Geometry, target_shape: tuple[int, ...]
) -> np.ndarray:
    """Resample a label image onto another axis-aligned grid by nearest neighbour.

    ``source`` and ``target`` are :class:`~napari_segtools.core._types.Geometry` objects
    (spacing and origin in mm). Each target voxel takes the label of the source voxel whose
    centre is nearest; target voxels outside the source grid get 0. Labels are never
    interpolated.
    """
    if not (source.is_axis_aligned and target.is_axis_aligned):
        raise ValueError("nearest-neighbour resampling needs axis-aligned grids (no rotation)")
    index, inside = [], []
    for n_src, n_dst, s_src, s_dst, o_src, o_dst in zip(
        labels.shape,
        target_shape,
        source.spacing,
        target.spacing,
        source.origin,
        target.origin,
        strict=True,
    ):
        centres = o_dst + np.arange(n_dst) * s_dst  # target voxel centres in mm
        idx = np.floor((centres - o_src) / s_src + 0.5 + 1e-9).astype(int)
        index.append(np.clip(idx, 0, n_src - 1))
        inside.append((idx >= 0) & (idx < n_src))
    keep = np.ones((1,) * labels.ndim, bool)
    for axis, axis_inside in enumerate(inside):
        other_axes = tuple(a for a in range(labels.ndim) if a != axis)
        keep = keep & np.expand_dims(axis_inside, other_axes)
    return np.where(keep, labels[np.ix_(*index)], 0).astype(labels.dtype, copy=False)
