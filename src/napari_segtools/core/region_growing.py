"""Seeded region growing: ITK's connected-threshold family and competitive growth from seeds.

``connected_threshold``, ``confidence_connected`` and ``neighborhood_connected`` give results
identical to SimpleITK's ``ConnectedThreshold``, ``ConfidenceConnected`` and
``NeighborhoodConnected`` for the same parameters (ITK offers only face connectivity for the last
two; here every connectivity works). ``grow_from_seeds`` lets several labelled seed sets compete,
like 3D Slicer's "Grow from seeds", as a marker watershed on the gradient magnitude.

Seeds are ``(N, ndim)`` voxel indices in numpy axis order; ``connectivity=1`` joins face
neighbours only, ``connectivity=image.ndim`` joins all neighbours (4/8 in 2-D, 6/18/26 in 3-D).
Each method has an ``iter_*`` generator yielding :class:`Progress` and a plain form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._competitive import grow_from_seeds, iter_grow_from_seeds
from ._deprecate import renamed_keywords
from ._flood import RegionLeakError, cast_bounds, check_leak, check_seed_values, flood, flood_mask
from ._types import Progress, ProgressGenerator, run_to_completion
from ._validate import (
    check_connectivity,
    check_finite,
    check_image,
    check_integer,
    check_max_fraction,
    check_seeds,
)

#: most re-estimation passes of :func:`confidence_connected` (the region settles within a few;
#: growth stops early, with the same result, as soon as a pass repeats the previous region)
MAX_ITERATIONS = 1000

__all__ = [
    "RegionLeakError",
    "auto_range",
    "confidence_connected",
    "connected_threshold",
    "grow_from_seeds",
    "iter_confidence_connected",
    "iter_connected_threshold",
    "iter_grow_from_seeds",
    "iter_neighborhood_connected",
    "neighborhood_connected",
    "shrunken_labels",
]


def _prepare(
    image: ArrayLike, seeds: ArrayLike, connectivity: int, max_fraction: float | None
) -> tuple[np.ndarray, np.ndarray, int, float | None]:
    arr = check_image(image, allow_nan=True)
    return (
        arr,
        check_seeds(seeds, arr.shape),
        check_connectivity(connectivity, arr.ndim),
        check_max_fraction(max_fraction),
    )


def _multiplier(multiplier: Any) -> float:
    value = check_finite(multiplier, "multiplier", "a non-negative number of sigmas")
    if value < 0:
        raise ValueError(
            f"`multiplier` must be a non-negative number of sigmas; got {multiplier!r}"
        )
    return value


def _radius(radius: Any, ndim: int, name: str) -> tuple[int, ...]:
    values = np.asarray(radius if radius is not None else np.nan)
    if values.ndim > 1 or values.size not in (1, ndim):
        raise ValueError(f"`{name}` needs one value or {ndim} (one per axis); got {radius!r}")
    values = np.broadcast_to(values, (ndim,))
    if not np.issubdtype(values.dtype, np.integer) or (values < 0).any():
        raise ValueError(
            f"`{name}` must be a non-negative voxel count (or one per axis); got {radius!r}"
        )
    return tuple(int(v) for v in values)


def _mean_variance(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample variance with ITK's formula ``(sum(x^2) - sum(x)^2 / n) / (n - 1)``."""
    values = values.astype(np.float64)
    n = float(values.size)
    total = float(values.sum())
    return total / n, (float(np.square(values).sum()) - total * total / n) / (n - 1.0)


def _axis_weights(centre: int, radius: int, length: int) -> tuple[slice, np.ndarray]:
    """Return the voxels of one axis that the box ``centre +/- radius`` reads, and how often.

    Edges are replicated: the first and last voxel count once per box position beyond the edge.

    Python integers keep the count exact for any radius, so a huge box costs no more memory
    than the image axis itself.
    """
    first, last = centre - radius, centre + radius
    start, stop = min(max(first, 0), length - 1), min(max(last, 0), length - 1)
    weights = [1] * (stop - start + 1)
    weights[0] += max(0, min(0, last) - first)  # box positions below 0 read voxel 0
    weights[-1] += max(0, last - max(length - 1, first))  # above the end read the last voxel
    if start == stop:
        weights = [last - first + 1]
    return slice(start, stop + 1), np.asarray(weights, dtype=np.float64)


def _seed_statistics(arr: np.ndarray, idx: np.ndarray, radius: int) -> tuple[float, float]:
    """Mean and variance of the boxes around the seeds, pooled as ITK's ConfidenceConnected does.

    Boxes are ``(2 radius + 1)^ndim`` voxels with the image edges replicated; overlapping boxes
    count their shared voxels twice. Each box is read once, its replicated edge voxels weighted
    by their count, so any radius costs at most the image's own size.
    """
    if radius == 0 and len(idx) < 2:
        raise ValueError(
            "a radius of 0 estimates the spread from the seed values alone; give >= 2 seeds"
        )
    n = total = squares = 0.0
    for seed in idx:
        box = [
            _axis_weights(int(s), radius, size) for s, size in zip(seed, arr.shape, strict=True)
        ]
        values = arr[tuple(where for where, _ in box)].astype(np.float64)
        weight = np.ones((), dtype=np.float64)
        for axis, (_, w) in enumerate(box):
            weight = np.multiply.outer(weight, w) if axis else w
        n += float(weight.sum())
        total += float((weight * values).sum())
        squares += float((weight * np.square(values)).sum())
    mean, variance = total / n, (squares - total * total / n) / (n - 1.0)
    if not np.isfinite(mean):
        raise ValueError("the neighbourhood of the seeds holds NaN voxels; move the seeds")
    return mean, variance


@renamed_keywords(radius="radius_voxels")
def auto_range(
    image: ArrayLike, seeds: ArrayLike, *, radius_voxels: int = 1, multiplier: float = 2.5
) -> tuple[float, float]:
    """Estimate the intensity range ``mean +/- multiplier * sigma`` around the seeds.

    The statistics are those :func:`confidence_connected` starts from.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) integer or float ndarray
        Intensities.
    seeds : (N, ndim) int array
        Seed voxel indices, numpy axis order.
    radius_voxels : int
        Half-width in voxels of the box sampled around each seed (edges replicated).
        Formerly ``radius`` (deprecated).
    multiplier : float
        Number of standard deviations on each side of the mean.

    Returns
    -------
    lower, upper : float
        Range to pass to :func:`connected_threshold`.

    Raises
    ------
    ValueError
        Seeds outside the image or near NaN voxels; ``radius_voxels=0`` with a single seed.

    Examples
    --------
    >>> seeds = [[0, 0], [0, 1], [0, 2]]
    >>> auto_range(np.array([[10, 12, 14, 99]]), seeds, radius_voxels=0, multiplier=2)
    (8.0, 16.0)
    """
    arr = check_image(image, allow_nan=True)
    factor = _multiplier(multiplier)
    mean, variance = _seed_statistics(
        arr, check_seeds(seeds, arr.shape), _radius(radius_voxels, 1, "radius_voxels")[0]
    )
    spread = factor * float(np.sqrt(max(variance, 0.0)))
    return mean - spread, mean + spread


def iter_connected_threshold(
    image: ArrayLike,
    seeds: ArrayLike,
    *,
    lower: float,
    upper: float,
    connectivity: int = 1,
    max_fraction: float | None = 0.5,
) -> ProgressGenerator[np.ndarray]:
    """Grow :func:`connected_threshold`'s region, yielding :class:`Progress` events.

    Parameters, result and errors as :func:`connected_threshold`.

    Examples
    --------
    >>> image = np.zeros((2, 2))
    >>> gen = iter_connected_threshold(image, [[0, 0]], lower=0, upper=0, max_fraction=None)
    >>> [e.message for e in gen]
    ['growing from the seeds', 'done']
    """
    arr, idx, conn, guard = _prepare(image, seeds, connectivity, max_fraction)
    low, high = cast_bounds(lower, upper, arr.dtype)
    check_seed_values(arr, idx, low, high)
    yield Progress(0, 1, "growing from the seeds")
    region = flood(arr, idx, low, high, conn)
    check_leak(region, guard)
    yield Progress(1, 1, "done")
    return region


def connected_threshold(
    image: ArrayLike,
    seeds: ArrayLike,
    *,
    lower: float,
    upper: float,
    connectivity: int = 1,
    max_fraction: float | None = 0.5,
) -> np.ndarray:
    """Grow the voxels in ``[lower, upper]`` connected to the seeds (ITK ConnectedThreshold).

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) integer or float ndarray
        Intensities; NaN voxels never join the region.
    seeds : (N, ndim) int array
        Seed voxel indices in numpy axis order.
    lower, upper : float
        Inclusive intensity range, cast to the image's pixel type as ITK does (integer images
        truncate toward zero: 150.7 acts as 150).
    connectivity : int
        1 = face neighbours (4 in 2-D, 6 in 3-D) ... ``image.ndim`` = all (8 / 26).
    max_fraction : float or None
        Leak guard: raise :class:`RegionLeakError` when the region covers more than this fraction
        of the image. ``None`` disables the guard.

    Returns
    -------
    region : bool ndarray, same shape as ``image``

    Raises
    ------
    ValueError
        Seeds outside the image, on NaN or outside the range; bad range or connectivity.
    RegionLeakError
        The region exceeded ``max_fraction`` of the image.

    Examples
    --------
    >>> img = np.array([[1, 1, 9], [9, 1, 9], [1, 9, 1]])
    >>> connected_threshold(img, [[0, 0]], lower=0, upper=2, max_fraction=None).sum()
    np.int64(3)
    """
    return run_to_completion(
        iter_connected_threshold(
            image,
            seeds,
            lower=lower,
            upper=upper,
            connectivity=connectivity,
            max_fraction=max_fraction,
        )
    )


@renamed_keywords(initial_radius="initial_radius_voxels")
def iter_confidence_connected(
    image: ArrayLike,
    seeds: ArrayLike,
    *,
    multiplier: float = 4.5,
    iterations: int = 4,
    initial_radius_voxels: int = 1,
    connectivity: int = 1,
    max_fraction: float | None = 0.5,
) -> ProgressGenerator[np.ndarray]:
    """Grow :func:`confidence_connected`'s region, yielding one :class:`Progress` per pass.

    Parameters, result and errors as :func:`confidence_connected`.

    Examples
    --------
    >>> img = np.array([[10, 11, 10, 90], [11, 10, 12, 95]])
    >>> gen = iter_confidence_connected(img, [[0, 0]], iterations=1, max_fraction=None)
    >>> [e.message for e in gen]
    ['pass 1 of 2', 'pass 2 of 2']
    """
    arr, idx, conn, guard = _prepare(image, seeds, connectivity, max_fraction)
    factor = _multiplier(multiplier)
    passes = check_integer(iterations, "iterations", minimum=0, maximum=MAX_ITERATIONS) + 1
    check_seed_values(arr, idx, -np.inf, np.inf)
    radius = _radius(initial_radius_voxels, 1, "initial_radius_voxels")[0]
    mean, variance = _seed_statistics(arr, idx, radius)
    seed_values = arr[tuple(idx.T)].astype(np.float64)
    region: np.ndarray | None = None
    for step in range(passes):
        yield Progress(step, passes, f"pass {step + 1} of {passes}")
        if region is not None:
            values = arr[region]
            if values.size < 2:
                break
            mean, variance = _mean_variance(values)
            if variance <= 0.1 * np.finfo(float).eps:  # ITK stops on zero variance
                break
        spread = factor * np.sqrt(max(variance, 0.0))  # rounding may leave -1e-13
        # as ITK, every pass widens the range to hold all seed values
        low = min(mean - spread, seed_values.min())
        high = max(mean + spread, seed_values.max())
        grown = flood(arr, idx, *cast_bounds(low, high, arr.dtype), conn)
        check_leak(grown, guard)
        if region is not None and np.array_equal(grown, region):
            break  # same region -> same statistics -> every later pass repeats it exactly
        region = grown
    assert region is not None  # the loop runs at least once
    return region


@renamed_keywords(initial_radius="initial_radius_voxels")
def confidence_connected(
    image: ArrayLike,
    seeds: ArrayLike,
    *,
    multiplier: float = 4.5,
    iterations: int = 4,
    initial_radius_voxels: int = 1,
    connectivity: int = 1,
    max_fraction: float | None = 0.5,
) -> np.ndarray:
    """Grow within ``mean +/- k sigma``, re-estimated from the region (ITK ConfidenceConnected).

    The first range comes from the pooled mean and variance of the ``(2 r + 1)^ndim`` boxes around
    the seeds (edges replicated); each of the ``iterations`` passes re-estimates them from the
    region. As in ITK, every range is widened to hold all seed values, so seeds always belong.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) integer or float ndarray
        Intensities; NaN voxels never join the region.
    seeds : (N, ndim) int array
        Seed voxel indices in numpy axis order.
    multiplier : float
        Half-width of the range in standard deviations (ITK default 4.5).
    iterations : int
        Number of re-estimation passes (ITK default 4).
    initial_radius_voxels : int
        Half-width in voxels of the box around each seed for the first estimate (ITK default 1).
        Formerly ``initial_radius`` (deprecated).
    connectivity : int
        1 = face neighbours (ITK's only choice) ... ``image.ndim`` = all.
    max_fraction : float or None
        Leak guard checked after every pass; ``None`` disables it.

    Returns
    -------
    region : bool ndarray, same shape as ``image``

    Raises
    ------
    ValueError
        Seeds outside the image, on or next to NaN; ``initial_radius_voxels=0`` with one seed.
    RegionLeakError
        A pass exceeded ``max_fraction`` of the image.

    Notes
    -----
    When a pass leaves a single voxel, its variance is 0/0: ITK then returns an empty region,
    here the iterations stop and the seed voxel is returned.

    Examples
    --------
    >>> img = np.array([[10, 11, 10, 90], [11, 10, 12, 95]])
    >>> confidence_connected(img, [[0, 0]], multiplier=2.5, max_fraction=None).astype(int)
    array([[1, 1, 1, 0],
           [1, 1, 0, 0]])
    """
    return run_to_completion(
        iter_confidence_connected(
            image,
            seeds,
            multiplier=multiplier,
            iterations=iterations,
            initial_radius_voxels=initial_radius_voxels,
            connectivity=connectivity,
            max_fraction=max_fraction,
        )
    )


@renamed_keywords(radius="radius_voxels")
def iter_neighborhood_connected(
    image: ArrayLike,
    seeds: ArrayLike,
    *,
    lower: float,
    upper: float,
    radius_voxels: int | tuple[int, ...] = 1,
    connectivity: int = 1,
    max_fraction: float | None = 0.5,
) -> ProgressGenerator[np.ndarray]:
    """Grow :func:`neighborhood_connected`'s region, yielding :class:`Progress` events.

    Parameters, result and errors as :func:`neighborhood_connected`.

    Examples
    --------
    >>> image = np.zeros((3, 3))
    >>> gen = iter_neighborhood_connected(image, [[1, 1]], lower=0, upper=0, max_fraction=None)
    >>> [e.message for e in gen]
    ['testing neighbourhoods', 'growing from the seeds', 'done']
    """
    from scipy import ndimage as ndi

    arr, idx, conn, guard = _prepare(image, seeds, connectivity, max_fraction)
    # a box reaching past both ends of an axis sees the whole axis: larger radii add nothing
    rad = [
        min(r, n - 1)
        for r, n in zip(_radius(radius_voxels, arr.ndim, "radius_voxels"), arr.shape, strict=True)
    ]
    low, high = cast_bounds(lower, upper, arr.dtype)
    check_seed_values(arr, idx, low, high)
    yield Progress(0, 2, "testing neighbourhoods")
    inside = ndi.minimum_filter(
        (arr >= low) & (arr <= high), size=[2 * r + 1 for r in rad], mode="nearest"
    )
    inside[tuple(idx.T)] = True  # ITK keeps every seed and grows from its passing neighbours
    yield Progress(1, 2, "growing from the seeds")
    region = flood_mask(inside, idx, conn)
    check_leak(region, guard)
    yield Progress(2, 2, "done")
    return region


@renamed_keywords(radius="radius_voxels")
def neighborhood_connected(
    image: ArrayLike,
    seeds: ArrayLike,
    *,
    lower: float,
    upper: float,
    radius_voxels: int | tuple[int, ...] = 1,
    connectivity: int = 1,
    max_fraction: float | None = 0.5,
) -> np.ndarray:
    """Grow the voxels whose whole box neighbourhood lies in ``[lower, upper]`` from the seeds.

    Same result as ITK NeighborhoodConnected: image edges are replicated, and a seed whose own
    value is in range belongs to the region even when its neighbourhood is not, growing on from
    the neighbours that pass.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) integer or float ndarray
        Intensities; NaN voxels never join the region.
    seeds : (N, ndim) int array
        Seed voxel indices in numpy axis order.
    lower, upper : float
        Inclusive intensity range, cast to the pixel type as in :func:`connected_threshold`.
    radius_voxels : int or sequence of int
        Half-width of the box in voxels, one value or one per axis (ITK default 1). Formerly
        ``radius`` (deprecated).
    connectivity : int
        1 = face neighbours (ITK's only choice) ... ``image.ndim`` = all.
    max_fraction : float or None
        Leak guard; ``None`` disables it.

    Returns
    -------
    region : bool ndarray, same shape as ``image``

    Raises
    ------
    ValueError
        Seeds outside the image, on NaN, or with a value outside the range.
    RegionLeakError
        The region exceeded ``max_fraction`` of the image.

    Examples
    --------
    >>> img = np.zeros((5, 5)); img[:, 4] = 9
    >>> neighborhood_connected(img, [[2, 1]], lower=0, upper=1, max_fraction=None).astype(int)[2]
    array([1, 1, 1, 0, 0])
    """
    return run_to_completion(
        iter_neighborhood_connected(
            image,
            seeds,
            lower=lower,
            upper=upper,
            radius_voxels=radius_voxels,
            connectivity=connectivity,
            max_fraction=max_fraction,
        )
    )


def shrunken_labels(
    before: ArrayLike,
    after: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    max_loss_fraction: float = 0.8,
) -> dict[int, tuple[int, int]]:
    """Find labels that lost most of their region between two label images.

    A seed moved across an edge can make competitive growth give a neighbouring label almost
    all of another label's voxels; this names the labels that collapsed so the user is told.

    Parameters
    ----------
    before, after : int ndarray, same shape
        The label image before and after the change (0 = background).
    labels : array of int, optional
        Labels to check (e.g. those that still have seeds); default every label in ``before``.
    max_loss_fraction : float
        Report a label whose voxel count fell by more than this fraction of its previous count
        (0-1); a label that vanished always counts.

    Returns
    -------
    dict of int to (int, int)
        ``{label: (voxels before, voxels after)}`` for every label that shrank too much, in
        label order; empty when none did.

    Raises
    ------
    ValueError
        If the shapes differ or ``max_loss_fraction`` is not in [0, 1].

    Examples
    --------
    >>> before = np.array([1, 1, 1, 1, 1, 1, 2, 2, 2, 2])
    >>> after = np.array([1, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    >>> shrunken_labels(before, after)
    {1: (6, 1)}
    >>> shrunken_labels(before, after, max_loss_fraction=0.9)
    {}
    """
    old = np.asarray(before)
    new = np.asarray(after)
    if old.shape != new.shape:
        raise ValueError(
            f"`before` and `after` must have the same shape; got {old.shape} and {new.shape}"
        )
    if not 0.0 <= float(max_loss_fraction) <= 1.0:
        raise ValueError(f"`max_loss_fraction` must be in [0, 1]; got {max_loss_fraction!r}")
    old = old.astype(np.int64, copy=False).ravel()
    new = new.astype(np.int64, copy=False).ravel()
    size = int(max(old.max(initial=0), new.max(initial=0))) + 1
    count_before = np.bincount(old[old > 0], minlength=size)
    count_after = np.bincount(new[new > 0], minlength=size)
    wanted = np.flatnonzero(count_before) if labels is None else np.unique(np.asarray(labels))
    lost: dict[int, tuple[int, int]] = {}
    for label in wanted.tolist():
        if not 0 < label < size:
            continue
        n_before, n_after = int(count_before[label]), int(count_after[label])
        if n_before and (n_after == 0 or n_after < (1.0 - max_loss_fraction) * n_before):
            lost[label] = (n_before, n_after)
    return lost
