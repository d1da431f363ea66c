"""Clean-up of binary masks in physical units, and writing masks into label images.

Every function takes a mask and returns a new one (inputs are never changed). Radii and volumes
are in millimetres, so anisotropic grids get the same physical operation on every axis.
``connectivity`` is 1 for face neighbours up to ``mask.ndim`` for full (8/26) neighbourhoods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._types import Progress, ProgressGenerator, run_to_completion
from ._validate import check_labels, check_mask, check_same_shape, check_seeds, check_spacing
from .geometry import ellipsoid_footprint, volume_to_voxels

#: write modes of :func:`paint_labels`: Slicer's masking options, plus "replace" (a segment)
PAINT_MODES = ("all", "empty", "inside", "replace")
#: one clean-up step: a name of :data:`STEPS` and that function's keyword options
Step = tuple[str, dict[str, Any]]


def _components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    from scipy import ndimage as ndi

    if not 1 <= connectivity <= mask.ndim:
        raise ValueError(
            f"`connectivity` must be 1 to {mask.ndim} for a {mask.ndim}-D mask; got {connectivity}"
        )
    return ndi.label(mask, structure=ndi.generate_binary_structure(mask.ndim, connectivity))


def keep_largest_component(mask: ArrayLike, *, connectivity: int = 1) -> np.ndarray:
    """Keep only the largest connected component (ties: the one found first in C order).

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
    connectivity : int
        1 = face neighbours, ``mask.ndim`` = full neighbourhood.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``
        Empty when the input is empty.

    Raises
    ------
    ValueError
        If ``connectivity`` is not 1 to ``mask.ndim``.

    Examples
    --------
    >>> keep_largest_component(np.array([[1, 0, 1, 1]])).astype(int)
    array([[0, 0, 1, 1]])
    """
    mask = check_mask(mask)
    labels, n = _components(mask, connectivity)
    if n == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == np.argmax(sizes)


def keep_components_touching(
    mask: ArrayLike, points: ArrayLike, *, connectivity: int = 1
) -> np.ndarray:
    """Keep the connected components that contain at least one of ``points``.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
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

    Examples
    --------
    >>> keep_components_touching(np.array([[1, 0, 1, 1]]), [[0, 0]]).astype(int)
    array([[1, 0, 0, 0]])
    """
    mask = check_mask(mask)
    idx = check_seeds(points, mask.shape, "points")
    labels, _ = _components(mask, connectivity)
    keep = np.unique(labels[tuple(idx.T)])
    keep = keep[keep > 0]
    return np.isin(labels, keep)


def remove_small_objects(
    mask: ArrayLike, *, spacing: Sequence[float], min_size_mm3: float, connectivity: int = 1
) -> np.ndarray:
    """Remove connected components smaller than ``min_size_mm3``.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
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

    Raises
    ------
    ValueError
        If ``min_size_mm3 < 0`` or ``spacing`` does not match the mask.

    Examples
    --------
    >>> mask = np.array([[1, 0, 1, 1]])
    >>> remove_small_objects(mask, spacing=(1.0, 0.5), min_size_mm3=1.0).astype(int)
    array([[0, 0, 1, 1]])
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


def fill_holes(mask: ArrayLike, *, axis: int | None = None) -> np.ndarray:
    """Fill background regions that do not touch the border (face-connected background).

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
    axis : int, optional
        Fill each 2-D slice across this axis on its own (e.g. 0 for axial CT slices, where a
        skull is closed in each slice but open through the foramen in 3-D). None fills in 3-D.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Raises
    ------
    ValueError
        If ``axis`` is given for a 2-D mask or is out of range.

    Examples
    --------
    >>> ring = np.ones((3, 3), bool); ring[1, 1] = False
    >>> bool(fill_holes(ring).all())
    True
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


def _morphology(
    mask: ArrayLike, spacing: Sequence[float], radius_mm: float, first: str, second: str
) -> np.ndarray:
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


def open_mask(mask: ArrayLike, *, spacing: Sequence[float], radius_mm: float) -> np.ndarray:
    """Open with a ball of ``radius_mm`` (erode, then dilate): removes spurs and thin bridges.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    radius_mm : float
        Ball radius in mm (see :func:`~napari_segtools.core.geometry.ellipsoid_footprint`).

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Raises
    ------
    ValueError
        If ``radius_mm < 0`` or ``spacing`` does not match the mask.

    Notes
    -----
    The image is continued past its border by repeating the edge voxels, so objects cut by the
    border are neither eaten (opening) nor grown (closing) there.

    Examples
    --------
    >>> mask = np.zeros((5, 8), bool); mask[1:4, 1:4] = True; mask[2, 4:6] = True
    >>> open_mask(mask, spacing=(1, 1), radius_mm=1)[2].astype(int)  # the spur's tip goes
    array([0, 1, 1, 1, 1, 0, 0, 0])
    """
    return _morphology(mask, spacing, radius_mm, "erode", "dilate")


def close_mask(mask: ArrayLike, *, spacing: Sequence[float], radius_mm: float) -> np.ndarray:
    """Close with a ball of ``radius_mm`` (dilate, then erode): fills gaps and small dents.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    radius_mm : float
        Ball radius in mm.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Raises
    ------
    ValueError
        If ``radius_mm < 0`` or ``spacing`` does not match the mask.

    Notes
    -----
    Border convention as :func:`open_mask`.

    Examples
    --------
    >>> mask = np.array([[1, 1, 0, 1, 1]], bool)
    >>> close_mask(mask, spacing=(1, 1), radius_mm=1).astype(int)
    array([[1, 1, 1, 1, 1]])
    """
    return _morphology(mask, spacing, radius_mm, "dilate", "erode")


def median_smooth(mask: ArrayLike, *, spacing: Sequence[float], radius_mm: float) -> np.ndarray:
    """Median-filter (majority vote) over a ball of ``radius_mm``: smooths jagged boundaries.

    A voxel is set when more than half of the ball around it is set; the ball has an odd voxel
    count, so this is exactly the median. Borders are mirrored.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    radius_mm : float
        Ball radius in mm.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Raises
    ------
    ValueError
        If ``radius_mm < 0`` or ``spacing`` does not match the mask.

    Examples
    --------
    >>> mask = np.ones((5, 5), bool); mask[2, 2] = False
    >>> bool(median_smooth(mask, spacing=(1, 1), radius_mm=1).all())
    True
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
STEPS: dict[str, Callable[..., np.ndarray]] = {
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
    mask: ArrayLike, *, spacing: Sequence[float], steps: Sequence[Step]
) -> ProgressGenerator[np.ndarray]:
    """Apply :func:`clean_mask`'s steps, yielding one :class:`Progress` per step.

    Parameters, result and errors as :func:`clean_mask`.

    Examples
    --------
    >>> steps = [("fill_holes", {}), ("keep_largest", {})]
    >>> [e.message for e in iter_clean_mask(np.ones((3, 3)), spacing=(1, 1), steps=steps)]
    ['fill holes', 'keep largest', 'clean-up done']
    """
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


def clean_mask(mask: ArrayLike, *, spacing: Sequence[float], steps: Sequence[Step]) -> np.ndarray:
    """Apply clean-up steps in order, e.g. ``[("open", {"radius_mm": 1}), ("fill_holes", {})]``.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
    spacing : tuple of float
        Voxel size in mm, numpy axis order (passed to the steps that need it).
    steps : sequence of (name, params)
        ``name`` is a key of :data:`STEPS`; ``params`` are that function's keyword options.
        :meth:`CleanupSettings.steps` builds this list from physical settings.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Raises
    ------
    ValueError
        For an unknown step name, or any error of a step.

    Examples
    --------
    >>> mask = np.array([[1, 0, 1, 1]])
    >>> clean_mask(mask, spacing=(1, 1), steps=[("keep_largest", {})]).astype(int)
    array([[0, 0, 1, 1]])
    """
    return run_to_completion(iter_clean_mask(mask, spacing=spacing, steps=steps))


#: choices of :attr:`CleanupSettings.keep`
KEEP_CHOICES = ("all", "largest", "touching")


@dataclass(frozen=True)
class CleanupSettings:
    """Clean-up in physical units, run as open, close, median, remove small, fill, keep.

    A radius or volume of 0 (or ``fill_holes="off"``, ``keep="all"``) skips that step.

    Attributes
    ----------
    open_radius_mm, close_radius_mm, median_radius_mm : float
        Ball radii in mm of :func:`open_mask`, :func:`close_mask` and :func:`median_smooth`.
    min_size_mm3 : float
        Smallest component volume kept, mm^3 (mm^2 in 2-D); see :func:`remove_small_objects`.
    fill_holes : "off", "3d" or int
        Fill holes in 3-D, or in each 2-D slice across this axis (:func:`fill_holes`).
    keep : {"all", "largest", "touching"}
        Keep every component, the largest, or those holding a point.

    Examples
    --------
    >>> CleanupSettings(open_radius_mm=1.0, keep="largest").steps(3)
    [('open', {'radius_mm': 1.0}), ('keep_largest', {})]
    """

    open_radius_mm: float = 0.0
    close_radius_mm: float = 0.0
    median_radius_mm: float = 0.0
    min_size_mm3: float = 0.0
    fill_holes: str | int = "off"
    keep: str = "all"

    def __post_init__(self) -> None:
        for name in ("open_radius_mm", "close_radius_mm", "median_radius_mm", "min_size_mm3"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"`{name}` must be >= 0; got {getattr(self, name)!r}")
        if self.fill_holes not in ("off", "3d") and not isinstance(self.fill_holes, int):
            raise ValueError(
                f"`fill_holes` must be 'off', '3d' or an axis; got {self.fill_holes!r}"
            )
        if self.keep not in KEEP_CHOICES:
            raise ValueError(f"`keep` must be one of {', '.join(KEEP_CHOICES)}; got {self.keep!r}")

    def steps(self, ndim: int, *, points: ArrayLike | None = None) -> list[Step]:
        """Build the :func:`clean_mask` steps for a ``ndim``-D mask.

        Parameters
        ----------
        ndim : int
            Dimensionality of the masks to clean (2-D masks fill holes in 2-D).
        points : (N, ndim) array, optional
            Voxel indices whose components are kept when ``keep="touching"``.

        Returns
        -------
        steps : list of (name, params)

        Raises
        ------
        ValueError
            If ``keep="touching"`` and no point is given.
        """
        steps: list[Step] = []
        for name, radius in (
            ("open", self.open_radius_mm),
            ("close", self.close_radius_mm),
            ("median", self.median_radius_mm),
        ):
            if radius > 0:
                steps.append((name, {"radius_mm": radius}))
        if self.min_size_mm3 > 0:
            steps.append(("remove_small", {"min_size_mm3": self.min_size_mm3}))
        if self.fill_holes != "off":
            axis = None if self.fill_holes == "3d" or ndim == 2 else self.fill_holes
            steps.append(("fill_holes", {"axis": axis}))
        if self.keep == "largest":
            steps.append(("keep_largest", {}))
        elif self.keep == "touching":
            if points is None or len(np.atleast_1d(points)) == 0:
                raise ValueError("keeping the components at points needs at least one point")
            steps.append(("keep_touching", {"points": points}))
        return steps


def paint_labels(
    target: ArrayLike, source: ArrayLike, *, mode: str = "all", inside_label: int | None = None
) -> np.ndarray:
    """Write the non-zero voxels of ``source`` into a copy of ``target``.

    Voxels outside ``source`` keep their labels, so earlier writes of the same label stay,
    except in mode "replace", which first clears every label that ``source`` writes.

    Parameters
    ----------
    target : int ndarray
        Existing label image (left unchanged).
    source : bool or int ndarray of ``target.shape``
        New labels; 0 writes nothing.
    mode : {"all", "empty", "inside", "replace"}
        "all" overwrites any label; "empty" writes only where ``target`` is 0;
        "inside" writes only where ``target`` equals ``inside_label``; "replace" overwrites any
        label and clears the old voxels of each label written (a segment is replaced).
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
    >>> paint_labels(np.array([[4, 2, 4, 0]]), np.array([[0, 0, 0, 4]]), mode="replace").tolist()
    [[0, 2, 0, 4]]
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
    if mode == "replace":
        out[np.isin(target, np.unique(src[editable]))] = 0
    elif mode == "empty":
        editable &= target == 0
    elif mode == "inside":
        editable &= target == inside_label
    out[editable] = src[editable]
    return out
