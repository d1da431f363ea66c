"""Surface elements of a binary mask under the two supported surface conventions.

``"voxel"``
    The surface is the set of foreground voxels with at least one face-connected background
    neighbour (the mask XOR its face-connectivity erosion); voxels on the array border count as
    surface. Each element sits at its voxel centre and weighs 1. This is the border of MONAI,
    medpy and MetricsReloaded.
``"surfel"``
    The surface is triangulated on the grid of voxel corners: every corner whose 2x2(x2)
    neighbourhood of voxels is neither all background nor all foreground carries the marching
    squares/cubes surface piece of that neighbourhood, weighted by its length (2-D) or area
    (3-D) in physical units. Each element sits at its voxel corner, i.e. at half-integer voxel
    coordinates. This is the definition of DeepMind's ``surface-distance`` package (and MONAI's
    ``use_subvoxels=True``).
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

CONVENTIONS = {
    "voxel": (
        "voxel: surface = foreground voxels with a face-connected background neighbour "
        "(mask XOR its face-connectivity erosion; array-border voxels count), at voxel centres, "
        "weight 1 each (MONAI / medpy / MetricsReloaded border)"
    ),
    "surfel": (
        "surfel: surface = marching-squares/cubes elements on the voxel-corner grid, weighted by "
        "their length (2-D) or area (3-D) (DeepMind surface-distance; MONAI use_subvoxels=True)"
    ),
}


def _extent(mask: np.ndarray) -> list[tuple[int, int]] | None:
    """Per-axis (first, last + 1) foreground index of a bool mask, or None when it is empty."""
    first = np.any(mask, axis=tuple(range(1, mask.ndim)))  # one pass over the data
    if not first.any():
        return None
    rest = mask.any(axis=0)  # one more pass; the remaining projections are small
    out = []
    for ax in range(mask.ndim):
        axes: tuple[int, ...] = tuple(i for i in range(rest.ndim) if i != ax - 1)
        proj = first if ax == 0 else np.any(rest, axis=axes)
        idx = np.flatnonzero(proj)
        out.append((int(idx[0]), int(idx[-1]) + 1))
    return out


def crop_box(mask_a: np.ndarray, mask_b: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box (slices) of ``mask_a | mask_b``, or ``None`` when both are empty."""
    found = [e for e in (_extent(mask_a), _extent(mask_b)) if e is not None]
    if not found:
        return None
    return tuple(
        slice(min(e[ax][0] for e in found), max(e[ax][1] for e in found))
        for ax in range(mask_a.ndim)
    )


def _voxel_border(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bool map of the face-connected border voxels and their unit weights (C order)."""
    padded = np.pad(mask, 1)
    interior = mask.copy()
    for ax in range(mask.ndim):
        for shift in (0, 2):
            window = tuple(
                slice(shift, shift + n) if i == ax else slice(1, 1 + n)
                for i, n in enumerate(mask.shape)
            )
            interior &= padded[window]
    border = mask & ~interior
    return border, np.ones(int(np.count_nonzero(border)))


@cache
def _unit_triangle_area_vectors(ndim: int) -> tuple[np.ndarray, ...]:
    """Per neighbourhood code: area vectors (T, ndim) of its surface pieces at unit spacing.

    Bit ``2 ** (2**ndim - 1 - flat_index)`` of a code is set when the voxel at ``flat_index`` (C
    order) of the 2x2(x2) neighbourhood is foreground. A configuration and its complement bound
    the same surface, so the side with at most half of the corners inside is triangulated
    (3-D: scikit-image's classic Lorensen marching-cubes table; 2-D: marching squares, where
    the ambiguous diagonal cases have the same length either way).
    """
    from skimage.measure import marching_cubes

    n_corners = 2**ndim
    tables = []
    for code in range(2**n_corners):
        bits = np.array([(code >> (n_corners - 1 - i)) & 1 for i in range(n_corners)])
        if bits.sum() > n_corners // 2:
            bits = 1 - bits
        if bits.sum() == 0:
            tables.append(np.zeros((0, ndim)))
            continue
        cube = bits.reshape((2,) * ndim).astype(float)
        if ndim == 3:
            verts, faces, _, _ = marching_cubes(cube, 0.5, method="lorensen")
            tri = verts[faces]
            tables.append(0.5 * np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
        else:
            tables.append(_marching_square_segments(cube))
    return tuple(tables)


def _marching_square_segments(cell: np.ndarray) -> np.ndarray:
    """Segment vectors (S, 2) of the contour through a 2x2 cell with 1 or 2 inside corners."""
    inside = np.argwhere(cell > 0)
    if len(inside) == 1 or (len(inside) == 2 and (inside[0] != inside[1]).all()):
        # corner cut(s): each inside corner contributes one half-diagonal segment
        return np.full((len(inside), 2), 0.5)
    # two corners on one side: a straight segment across the cell, along the axis they share
    along = int(np.flatnonzero(inside[0] == inside[1])[0])
    vec = np.zeros(2)
    vec[1 - along] = 1.0
    return vec[None]


@lru_cache(maxsize=64)
def element_size_table(spacing: tuple[float, ...]) -> np.ndarray:
    """Length (2-D, mm) or area (3-D, mm^2) of the surface piece of each neighbourhood code."""
    ndim = len(spacing)
    s = np.asarray(spacing, float)
    # in 3-D an area vector scales by the product of the two other spacings
    scale = np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]]) if ndim == 3 else s
    return np.array(
        [np.linalg.norm(v * scale, axis=1).sum() for v in _unit_triangle_area_vectors(ndim)]
    )


def _surfel_border(mask: np.ndarray, spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Bool map of the border corners (shape + 1 per axis) and their element sizes (C order).

    Corner ``j`` lies between voxels ``j - 1`` and ``j``, i.e. at voxel coordinate ``j - 0.5``.
    """
    ndim = mask.ndim
    padded = np.pad(mask.astype(np.uint8), 1)
    out_shape = tuple(n + 1 for n in mask.shape)
    code = np.zeros(out_shape, np.uint8)
    for flat, offset in enumerate(np.ndindex(*(2,) * ndim)):
        window = tuple(slice(o, o + n) for o, n in zip(offset, out_shape, strict=True))
        code |= padded[window] << np.uint8(2**ndim - 1 - flat)
    full = 2 ** (2**ndim) - 1
    border = (code != 0) & (code != full)
    sizes = element_size_table(tuple(float(v) for v in spacing))[code[border]]
    return border, sizes


#: Voxel coordinate of element index 0 along each axis, per convention.
ELEMENT_ORIGIN = {"voxel": 0.0, "surfel": -0.5}


def surface_elements(
    mask: np.ndarray, spacing: tuple[float, ...], surface: str
) -> tuple[np.ndarray, np.ndarray]:
    """Bool map of a mask's surface elements and their sizes, in C order of that map.

    The map has the mask's shape (``"voxel"``) or one more per axis (``"surfel"``); element
    index ``j`` sits at voxel coordinate ``j + ELEMENT_ORIGIN[surface]``.
    """
    if surface == "voxel":
        return _voxel_border(mask)
    return _surfel_border(mask, spacing)
