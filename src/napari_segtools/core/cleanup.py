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
from ._validate import (
    check_choice,
    check_connectivity,
    check_distance,
    check_finite,
    check_integer,
    check_labels,
    check_mask,
    check_same_shape,
    check_seeds,
    check_spacing,
)
from .geometry import ellipsoid_footprint, volume_to_voxels

#: voxel-footprint visits per work unit of the chunked morphology (~0.1-0.3 s each): Cancel
#: stops a long opening or median between two units
_UNIT_OPS = 1 << 26

#: write modes of :func:`paint_labels`: Slicer's masking options, plus "replace" (a segment)
PAINT_MODES = ("all", "empty", "inside", "replace")
#: one clean-up step: a name of :data:`STEPS` and that function's keyword options
Step = tuple[str, dict[str, Any]]


def _mask(mask, name: str = "mask") -> np.ndarray:
    """Return a non-empty 2-D or 3-D bool mask."""
    arr = check_mask(mask, name)
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape})")
    return arr


def _components(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    from scipy import ndimage as ndi

    connectivity = check_connectivity(connectivity, mask.ndim)
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
    mask = _mask(mask)
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
    mask = _mask(mask)
    if (
        isinstance(points, (str, bytes))
        or points is None
        or np.asarray(points, dtype=object if np.ndim(points) == 0 else None).dtype.kind == "c"
    ):
        raise TypeError(f"`points` must be an (N, {mask.ndim}) array of voxel indices")
    try:
        idx = check_seeds(points, mask.shape, "points")
    except (TypeError, ValueError) as exc:
        if "`points`" in str(exc) or "seed" in str(exc):
            raise
        raise TypeError(
            f"`points` must be an (N, {mask.ndim}) array of voxel indices; got {points!r}"
        ) from None
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
    mask = _mask(mask)
    spacing = check_spacing(spacing, mask.ndim, array_name="mask")
    min_size_mm3 = check_distance(min_size_mm3, "min_size_mm3")
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

    mask = _mask(mask)
    if axis is None:
        return ndi.binary_fill_holes(mask)
    axis = check_integer(axis, "axis")
    if not -mask.ndim <= axis < mask.ndim or mask.ndim < 3:
        raise ValueError(
            f"`axis` must index a 3-D mask's axes (0 to 2); got {axis} for a {mask.ndim}-D mask"
        )
    out = np.empty_like(mask)
    for i in range(mask.shape[axis]):
        index = (slice(None),) * (axis % mask.ndim) + (i,)
        out[index] = ndi.binary_fill_holes(mask[index])
    return out


def margin_mask(mask: ArrayLike, *, spacing: Sequence[float], margin_mm: float) -> np.ndarray:
    """Grow (``margin_mm > 0``) or shrink (``< 0``) a mask by a physical distance.

    Growing adds every voxel whose centre lies within ``margin_mm`` of a foreground voxel's
    centre; shrinking removes every voxel within ``-margin_mm`` of a background voxel's centre.
    This is exactly a dilation (erosion) by
    :func:`~napari_segtools.core.geometry.ellipsoid_footprint`, computed with one Euclidean
    distance transform (``sampling=spacing``), so its cost does not grow with the distance.

    Parameters
    ----------
    mask : (Y, X) or (Z, Y, X) bool ndarray
        Foreground (any non-zero value).
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    margin_mm : float
        Distance in mm: positive grows, negative shrinks, 0 returns a copy.

    Returns
    -------
    mask : bool ndarray of ``mask.shape``

    Raises
    ------
    ValueError
        If ``margin_mm`` is not finite or ``spacing`` does not match the mask.

    Notes
    -----
    Border convention as :func:`open_mask`: the image border is not background, so shrinking
    does not eat objects cut by the border.

    Examples
    --------
    >>> mask = np.zeros((1, 7), bool); mask[0, 3] = True
    >>> margin_mask(mask, spacing=(1.0, 0.5), margin_mm=1.0).astype(int)
    array([[0, 1, 1, 1, 1, 1, 0]])
    """
    from scipy import ndimage as ndi

    mask = _mask(mask)
    spacing = check_spacing(spacing, mask.ndim, array_name="mask")
    margin = check_finite(margin_mm, "margin_mm", "a finite distance in mm (negative shrinks)")
    if margin == 0 or not mask.any() or mask.all():
        return mask.copy()
    # grow: distance to the nearest foreground centre; shrink: to the nearest background one.
    # Squared distances compared as ellipsoid_footprint does, so both agree voxel for voxel.
    source = ~mask if margin > 0 else mask
    dist = ndi.distance_transform_edt(source, sampling=spacing)
    near = dist * dist <= margin * margin + 1e-9
    return mask | near if margin > 0 else mask & ~near


def _check_radius(mask, spacing, radius_mm) -> tuple[np.ndarray, tuple[float, ...], float]:
    """Validate a morphology call; a ball wider than the whole mask is refused before allocating."""
    mask = _mask(mask)
    spacing = check_spacing(spacing, mask.ndim, array_name="mask")
    radius = check_distance(radius_mm, "radius_mm")
    diagonal = float(np.sqrt(sum((n * s) ** 2 for n, s in zip(mask.shape, spacing, strict=True))))
    if radius > diagonal:
        raise ValueError(
            f"`radius_mm` must be at most the mask's diagonal ({diagonal:.4g} mm): a larger ball "
            f"does not fit in the image; got {radius_mm!r}"
        )
    return mask, spacing, radius


def _planes(fp: np.ndarray):
    """Yield ``(plane, offsets)``: each distinct non-empty axis-0 slice of ``fp`` and its shifts."""
    centre = (fp.shape[0] - 1) // 2
    groups: dict[bytes, tuple[np.ndarray, list[int]]] = {}
    for k in sorted(range(fp.shape[0]), key=lambda k: abs(k - centre)):  # centre first
        if fp[k].any():
            groups.setdefault(fp[k].tobytes(), (fp[k], []))[1].append(k - centre)
    yield from groups.values()


def _slab_rows(arr: np.ndarray, plane: np.ndarray) -> int:
    """Rows along axis 0 per work unit, so that one unit costs about :data:`_UNIT_OPS`."""
    cost = max(int(arr[0].size) * int(np.count_nonzero(plane)), 1)
    return max(1, _UNIT_OPS // cost)


def _iter_erode(arr: np.ndarray, fp: np.ndarray, border: bool) -> ProgressGenerator[np.ndarray]:
    """Binary erosion by ``fp``, as ``ndi.binary_erosion(arr, fp, border_value=border)``.

    The footprint is split into its axis-0 planes: the erosion is the intersection over each
    plane of the in-plane erosion of the shifted image. Each plane is eroded in slabs of rows
    (a plane reaches no other row), only where the result is still set, yielding between slabs.
    """
    from scipy import ndimage as ndi

    out = np.ones(arr.shape, bool)
    n = arr.shape[0]
    for plane, offsets in _planes(fp):
        structure = plane[None]
        rows = _slab_rows(arr, plane)
        for d in offsets:
            if not border:  # rows whose shifted source lies outside the image
                out[: max(-d, 0)] = False
                out[n - max(d, 0) :] = False
            for a in range(max(-d, 0), n - max(d, 0), rows):
                b = min(a + rows, n - max(d, 0))
                part = out[a:b]
                if part.any():
                    part &= ndi.binary_erosion(
                        arr[a + d : b + d], structure, border_value=border, mask=part
                    )
                yield Progress(0, 1, "")
    return out


def _iter_morphology(
    mask: ArrayLike, spacing: Sequence[float], radius_mm: float, first: str, second: str
) -> ProgressGenerator[np.ndarray]:
    """``second(first(mask))`` with a ball of ``radius_mm``; the border is continued by edges.

    Equals ``ndi.binary_<second>(ndi.binary_<first>(padded, ball), ball)`` on the edge-padded
    mask, computed in interruptible pieces (see :func:`_iter_erode`).
    """
    mask, spacing, radius = _check_radius(mask, spacing, radius_mm)
    fp = ellipsoid_footprint(radius, spacing)
    pad = [(n - 1, n - 1) for n in fp.shape]  # twice the reach: two passes see only true edges
    result = np.pad(mask, pad, mode="edge")
    for op in (first, second):
        if op == "erode":
            result = yield from _iter_erode(result, fp, False)
        else:  # dilation by a symmetric ball: the complement of the complement's erosion
            result = ~(yield from _iter_erode(~result, fp, True))
    return result[tuple(slice(p, p + n) for (p, _), n in zip(pad, mask.shape, strict=True))]


def iter_open_mask(
    mask: ArrayLike, *, spacing: Sequence[float], radius_mm: float
) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`open_mask` in pieces, yielding :class:`Progress` between them.

    Parameters, result and errors as :func:`open_mask`; Cancel can stop it between pieces.

    Examples
    --------
    >>> mask = np.zeros((5, 8), bool); mask[1:4, 1:4] = True; mask[2, 4:6] = True
    >>> result = run_to_completion(iter_open_mask(mask, spacing=(1, 1), radius_mm=1))
    >>> bool((result == open_mask(mask, spacing=(1, 1), radius_mm=1)).all())
    True
    """
    return (yield from _iter_morphology(mask, spacing, radius_mm, "erode", "dilate"))


def iter_close_mask(
    mask: ArrayLike, *, spacing: Sequence[float], radius_mm: float
) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`close_mask` in pieces, yielding :class:`Progress` between them.

    Parameters, result and errors as :func:`close_mask`.

    Examples
    --------
    >>> mask = np.array([[1, 1, 0, 1, 1]], bool)
    >>> run_to_completion(iter_close_mask(mask, spacing=(1, 1), radius_mm=1)).astype(int)
    array([[1, 1, 1, 1, 1]])
    """
    return (yield from _iter_morphology(mask, spacing, radius_mm, "dilate", "erode"))


def iter_median_smooth(
    mask: ArrayLike, *, spacing: Sequence[float], radius_mm: float
) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`median_smooth` in pieces, yielding :class:`Progress` between them.

    The ball's count is summed plane by plane (axis 0) and slab by slab, mirrored borders as
    ``ndi.correlate(..., mode="reflect")``.

    Examples
    --------
    >>> mask = np.ones((5, 5), bool); mask[2, 2] = False
    >>> bool(run_to_completion(iter_median_smooth(mask, spacing=(1, 1), radius_mm=1)).all())
    True
    """
    from scipy import ndimage as ndi

    mask, spacing, radius = _check_radius(mask, spacing, radius_mm)
    fp = ellipsoid_footprint(radius, spacing)
    total = int(np.count_nonzero(fp))
    reach = (fp.shape[0] - 1) // 2
    n = mask.shape[0]
    # mirror along axis 0 as scipy's "reflect" (edge voxel repeated); repeat while reach > n
    index = np.arange(-reach, n + reach)
    period = 2 * n
    index = np.mod(index, period)
    index = np.where(index >= n, period - 1 - index, index)
    padded = mask.view(np.uint8)[index]
    counts = np.zeros(mask.shape, np.uint16 if total <= np.iinfo(np.uint16).max else np.uint32)
    for plane, offsets in _planes(fp):
        weights = plane[None].astype(np.uint8)
        rows = _slab_rows(mask, plane)
        for d in offsets:
            for a in range(0, n, rows):
                b = min(a + rows, n)
                counts[a:b] += ndi.correlate(
                    padded[a + d + reach : b + d + reach],
                    weights,
                    output=counts.dtype,
                    mode="reflect",
                )
                yield Progress(0, 1, "")
    return counts > total // 2


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
    return run_to_completion(iter_open_mask(mask, spacing=spacing, radius_mm=radius_mm))


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
    return run_to_completion(iter_close_mask(mask, spacing=spacing, radius_mm=radius_mm))


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
    return run_to_completion(iter_median_smooth(mask, spacing=spacing, radius_mm=radius_mm))


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
_ITER_STEPS: dict[str, Callable[..., ProgressGenerator[np.ndarray]]] = {
    "open": iter_open_mask,
    "close": iter_close_mask,
    "median": iter_median_smooth,
}


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
    result: np.ndarray = _mask(mask)
    spacing = check_spacing(spacing, result.ndim, array_name="mask")
    try:
        steps = [(name, dict(params)) for name, params in steps]
    except (TypeError, ValueError):
        raise TypeError(
            f"`steps` must be a sequence of (name, params) pairs; got {steps!r}"
        ) from None
    for name, _ in steps:
        if not isinstance(name, str) or name not in STEPS:
            raise ValueError(f"unknown clean-up step {name!r}; choose from {', '.join(STEPS)}")
    for i, (name, params) in enumerate(steps):
        message = name.replace("_", " ")
        yield Progress(i, len(steps), message)
        extra = {"spacing": spacing} if name in _NEEDS_SPACING else {}
        if name in _ITER_STEPS:  # long single steps: Cancel stops them between pieces
            gen = _ITER_STEPS[name](result, **extra, **params)
            while True:
                try:
                    next(gen)
                except StopIteration as stop:
                    result = stop.value
                    break
                yield Progress(i, len(steps), message)
        else:
            result = STEPS[name](result, **extra, **params)
    yield Progress(len(steps), len(steps), "clean-up done")
    return result


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
            check_distance(getattr(self, name), name)
        if isinstance(self.fill_holes, str):
            check_choice(self.fill_holes, "fill_holes", ("off", "3d"))
        else:
            check_integer(self.fill_holes, "fill_holes")
        check_choice(self.keep, "keep", KEEP_CHOICES)

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
    check_choice(mode, "mode", PAINT_MODES)
    if mode == "inside" and inside_label is None:
        raise ValueError("`inside_label` is required when mode='inside'")
    if inside_label is not None:
        inside_label = check_integer(inside_label, "inside_label", minimum=0)
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
