"""Clean-up of binary masks in physical units, and writing masks into label images.

Every function takes a mask and returns a new one (inputs are never changed). Radii and volumes
are in millimetres, so anisotropic grids get the same physical operation on every axis.
``connectivity`` is 1 for face neighbours up to ``mask.ndim`` for full (8/26) neighbourhoods.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._geometry import ellipsoid_footprint, volume_to_voxels
from ._types import Progress, ProgressGenerator, Spacing, run_to_completion
from ._validate import check_labels, check_mask, check_same_shape, check_seeds, check_spacing

#: write modes of :func:`paint_labels`, as in 3D Slicer's masking options
PAINT_MODES = ("all", "empty", "inside")


def _components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    from scipy import ndimage as ndi

    if not 1 <= connectivity <= mask.ndim:
        raise ValueError(
            f"`connectivity` must be 1 to {mask.ndim} for a {mask.ndim}-D mask; got {connectivity}"
        )
    return ndi.label(mask, structure=ndi.generate_binary_structure(mask.ndim, connectivity))


def keep_largest_component(mask, *, connectivity: int = 1) -> np.ndarray:
    """Keep only the largest connected component (ties: the one found first in C order).

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    connectivity : int
        1 = face neighbours, ``mask.ndim`` = full neighbourhood.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``; empty when the input is empty.
    """
    mask = check_mask(mask)
    labels, n = _components(mask, connectivity)
    if n == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)


def keep_components_touching(mask, points, *, connectivity: int = 1) -> np.ndarray:
    """Keep the connected components that contain at least one of ``points``.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    points : (N, ndim) array
        Voxel indices in numpy axis order (rounded); points on background keep nothing.
    connectivity : int
        1 = face neighbours, ``mask.ndim`` = full neighbourhood.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Raises
    ------
    ValueError
        If a point lies outside the mask.
    """
    mask = check_mask(mask)
    idx = check_seeds(points, mask.shape, "points")
    labels, _ = _components(mask, connectivity)
    keep = np.unique(labels[tuple(idx.T)])
    keep = keep[keep > 0]
    return np.isin(labels, keep)


def remove_small_objects(
    mask, *, spacing: Spacing, min_size_mm3: float, connectivity: int = 1
) -> np.ndarray:
    """Remove connected components smaller than ``min_size_mm3``.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    min_size_mm3 : float
        Smallest volume kept, in mm^3 (mm^2 for 2-D masks); components of exactly this volume
        stay.
    connectivity : int
        1 = face neighbours, ``mask.ndim`` = full neighbourhood.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``
    """
    mask = check_mask(mask)
    spacing = check_spacing(spacing, mask.ndim, array_name="mask")
    if not min_size_mm3 >= 0:
        raise ValueError(f"`min_size_mm3` must be >= 0 mm^3; got {min_size_mm3}")
    labels, n = _components(mask, connectivity)
    sizes = np.bincount(labels.ravel())
    big = sizes >= volume_to_voxels(min_size_mm3, spacing)
    big[0] = False
    return big[labels]


def fill_holes(mask, *, axis: int | None = None) -> np.ndarray:
    """Fill background regions that do not touch the border (face-connected background).

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    axis : int, optional
        Fill each 2-D slice across this axis on its own (e.g. 0 for axial CT slices, where a
        skull is closed in each slice but open through the foramen in 3-D). None fills in 3-D.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``
    """
    from scipy import ndimage as ndi

    mask = check_mask(mask)
    if axis is None:
        return ndi.binary_fill_holes(mask)
    if not -mask.ndim <= axis < mask.ndim or mask.ndim < 3:
        raise ValueError(
            f"`axis` must index a 3-D mask's axes (0 to 2); got {axis} for a {mask.ndim}-D mask"
        )
    out = np.empty_like(mask)
    for i in range(mask.shape[axis]):
        index = (slice(None),) * (axis % mask.ndim) + (i,)
        out[index] = ndi.binary_fill_holes(mask[index])
    return out


def _morphology(mask, spacing, radius_mm, first: str, second: str) -> np.ndarray:
    """``second(first(mask))`` with a ball of ``radius_mm``; the border is continued by edges."""
    from scipy import ndimage as ndi

    mask = check_mask(mask)
    spacing = check_spacing(spacing, mask.ndim, array_name="mask")
    if not radius_mm >= 0:
        raise ValueError(f"`radius_mm` must be >= 0 mm; got {radius_mm}")
    fp = ellipsoid_footprint(radius_mm, spacing)
    pad = [(n - 1, n - 1) for n in fp.shape]  # twice the reach: two passes see only true edges
    padded = np.pad(mask, pad, mode="edge")
    ops = {"erode": ndi.binary_erosion, "dilate": ndi.binary_dilation}
    result = ops[second](ops[first](padded, fp), fp)
    return result[tuple(slice(p, p + n) for (p, _), n in zip(pad, mask.shape, strict=True))]


def open_mask(mask, *, spacing: Spacing, radius_mm: float) -> np.ndarray:
    """Morphological opening with a ball of ``radius_mm``: removes spurs and thin bridges.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    radius_mm : float
        Ball radius in mm (see :func:`~napari_segtools.core._geometry.ellipsoid_footprint`).

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Notes
    -----
    The image is continued past its border by repeating the edge voxels, so objects cut by the
    border are neither eaten (opening) nor grown (closing) there.
    """
    return _morphology(mask, spacing, radius_mm, "erode", "dilate")


def close_mask(mask, *, spacing: Spacing, radius_mm: float) -> np.ndarray:
    """Morphological closing with a ball of ``radius_mm``: fills gaps and small dents.

    Parameters and border convention as :func:`open_mask`.
    """
    return _morphology(mask, spacing, radius_mm, "dilate", "erode")


def median_smooth(mask, *, spacing: Spacing, radius_mm: float) -> np.ndarray:
    """Median (majority) filter over a ball of ``radius_mm``: smooths jagged boundaries.

    A voxel is set when more than half of the ball around it is set; the ball has an odd voxel
    count, so this is exactly the median. Borders are mirrored.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    radius_mm : float
        Ball radius in mm.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``
    """
    from scipy import ndimage as ndi

    mask = check_mask(mask)
    spacing = check_spacing(spacing, mask.ndim, array_name="mask")
    if not radius_mm >= 0:
        raise ValueError(f"`radius_mm` must be >= 0 mm; got {radius_mm}")
    fp = ellipsoid_footprint(radius_mm, spacing)
    counts = ndi.correlate(
        mask.view(np.uint8), fp.astype(np.uint8), output=np.uint16, mode="reflect"
    )
    return counts > np.count_nonzero(fp) // 2


#: clean-up steps by name, for :func:`iter_clean_mask`
STEPS = {
    "open": open_mask,
    "close": close_mask,
    "median": median_smooth,
    "remove_small": remove_small_objects,
    "fill_holes": fill_holes,
    "keep_largest": keep_largest_component,
    "keep_touching": keep_components_touching,
}
_NEEDS_SPACING = {"open", "close", "median", "remove_small"}


def iter_clean_mask(
    mask, *, spacing: Spacing, steps: Sequence[tuple[str, dict]]
) -> ProgressGenerator[np.ndarray]:
    """Generator form of :func:`clean_mask`; yields one :class:`Progress` per step."""
    mask = check_mask(mask)
    spacing = check_spacing(spacing, mask.ndim, array_name="mask")
    for name, _ in steps:
        if name not in STEPS:
            raise ValueError(f"unknown clean-up step {name!r}; choose from {', '.join(STEPS)}")
    for i, (name, params) in enumerate(steps):
        yield Progress(i, len(steps), name.replace("_", " "))
        extra = {"spacing": spacing} if name in _NEEDS_SPACING else {}
        mask = STEPS[name](mask, **extra, **params)
    yield Progress(len(steps), len(steps), "clean-up done")
    return mask


def clean_mask(mask, *, spacing: Spacing, steps: Sequence[tuple[str, dict]]) -> np.ndarray:
    """Apply clean-up steps in order, e.g. ``[("open", {"radius_mm": 1}), ("fill_holes", {})]``.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    spacing : tuple of float
        Voxel size in mm, numpy axis order (passed to the steps that need it).
    steps : sequence of (name, params)
        ``name`` is a key of :data:`STEPS`; ``params`` are that function's keyword options.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``
    """
    return run_to_completion(iter_clean_mask(mask, spacing=spacing, steps=steps))


def paint_labels(
    target, source, *, mode: str = "all", inside_label: int | None = None
) -> np.ndarray:
    """Write the non-zero voxels of ``source`` into a copy of ``target``.

    Voxels outside ``source`` keep their labels, so earlier writes of the same label stay (undo
    them in the widget, or start from an empty layer, to replace a segment).

    Parameters
    ----------
    target : int ndarray
        Existing label image (left unchanged).
    source : bool or int ndarray of ``target.shape``
        New labels; 0 writes nothing.
    mode : {"all", "empty", "inside"}
        "all" overwrites any label; "empty" writes only where ``target`` is 0;
        "inside" writes only where ``target`` equals ``inside_label``.
    inside_label : int, optional
        Required for ``mode="inside"``.

    Returns
    -------
    labels : ndarray of ``target``'s dtype

    Raises
    ------
    ValueError
        On a shape mismatch, an unknown mode, a missing ``inside_label``, or a label too large
        for ``target``'s dtype.

    Examples
    --------
    >>> paint_labels(np.array([[0, 2, 3, 0]]), np.array([[4, 4, 0, 0]]), mode="empty").tolist()
    [[4, 2, 3, 0]]
    """
    target = np.asarray(target)
    labels = check_labels(target, "target", ndims=(2, 3, 4))
    src = check_labels(source, "source", ndims=(2, 3, 4))
    check_same_shape(labels, src, ("target", "source"))
    if mode not in PAINT_MODES:
        raise ValueError(f"`mode` must be one of {', '.join(PAINT_MODES)}; got {mode!r}")
    if mode == "inside" and inside_label is None:
        raise ValueError("`inside_label` is required when mode='inside'")
    top = int(src.max())
    if np.issubdtype(target.dtype, np.integer) and top > np.iinfo(target.dtype).max:
        raise ValueError(f"label {top} does not fit the target's dtype {target.dtype}")
    out = target.copy()
    editable = src > 0
    if mode == "empty":
        editable &= target == 0
    elif mode == "inside":
        editable &= target == inside_label
    out[editable] = src[editable]
    return out
