"""Competitive multi-label growth from labelled seeds (3D Slicer's "Grow from seeds")."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
from numpy.typing import ArrayLike

from ._types import Progress, ProgressGenerator, run_to_completion
from ._validate import (
    check_connectivity,
    check_finite,
    check_image,
    check_seeds,
    check_spacing,
)

#: label dtypes of the result: int32 while the labels fit, else int64
_LABEL_DTYPES = (np.int32, np.int64)
#: voxel count from which the watershed runs on a helper thread, polled every _POLL_S seconds
_POLL_ABOVE = 2**20
_POLL_S = 0.1


def iter_grow_from_seeds(
    image: ArrayLike,
    seeds: ArrayLike,
    seed_labels: ArrayLike,
    *,
    spacing: Sequence[float],
    sigma_mm: float | None = None,
    connectivity: int = 1,
) -> ProgressGenerator[np.ndarray]:
    """Grow :func:`grow_from_seeds`'s labels, yielding :class:`Progress` events.

    Parameters, result and errors as :func:`grow_from_seeds`.

    Examples
    --------
    >>> gen = iter_grow_from_seeds(np.eye(4), [[0, 0], [3, 0]], [1, 2], spacing=(1, 1))
    >>> [e.message for e in gen][-2:]
    ['gradient magnitude', 'competitive growth']
    """
    from skimage.segmentation import watershed

    arr = check_image(image)
    idx = check_seeds(seeds, arr.shape)
    spc = np.asarray(check_spacing(spacing, arr.ndim))
    conn = check_connectivity(connectivity, arr.ndim)
    labels = _seed_labels(seed_labels, len(idx))
    sigma = _sigma(sigma_mm, spc, arr.shape)
    dtype = _LABEL_DTYPES[0] if labels.max() <= np.iinfo(np.int32).max else _LABEL_DTYPES[1]
    markers = np.zeros(arr.shape, dtype=dtype)
    for i, (seed, label) in enumerate(zip(idx, labels, strict=True)):
        if markers[tuple(seed)] not in (0, label):
            raise ValueError(
                f"`seeds`: seed {i} at {tuple(int(s) for s in seed)} has two labels "
                f"({int(markers[tuple(seed)])} and {int(label)})"
            )
        markers[tuple(seed)] = label
    passes = arr.ndim * arr.ndim  # 1-D Gaussian passes; Cancel is honoured between them
    yield Progress(0, passes + 1, "gradient magnitude")
    img = arr.astype(np.float32)
    gradient = np.zeros(arr.shape, dtype=np.float32)
    done = 0
    for axis in range(arr.ndim):
        # the separable derivative-of-Gaussian one axis at a time: the same numbers as
        # ndi.gaussian_filter(img, sigma / spc, order=...) without a long uninterruptible call
        derivative = img
        for along in range(arr.ndim):
            derivative = _smooth1d(derivative, sigma / spc[along], along, int(along == axis))
            done += 1
            if done < passes:
                yield Progress(done, passes + 1, "gradient magnitude")
        gradient += np.square(derivative / spc[axis])
        del derivative
    yield Progress(passes, passes + 1, "competitive growth")
    np.sqrt(gradient, out=gradient)
    if arr.size < _POLL_ABOVE:
        return watershed(gradient, markers, connectivity=conn)
    # scikit-image's watershed is one long call (about 20 s on 256^3): run it on a helper thread
    # and keep yielding, so a consumer can stop waiting (Cancel) at once; an abandoned growth
    # finishes on its daemon thread and its result is dropped
    future: Future = Future()

    def grow() -> None:
        try:
            future.set_result(watershed(gradient, markers, connectivity=conn))
        except BaseException as exc:  # noqa: BLE001 - handed to the generator's consumer
            future.set_exception(exc)

    threading.Thread(target=grow, name="grow_from_seeds watershed", daemon=True).start()
    while True:
        try:
            return future.result(timeout=_POLL_S)
        except FutureTimeout:
            yield Progress(passes, passes + 1, "competitive growth")


def _smooth1d(values: np.ndarray, sigma: float, axis: int, order: int) -> np.ndarray:
    """Smooth with a Gaussian (``order`` 0) or take its derivative (1) along ``axis``.

    Sigma 0 means no smoothing: the values themselves, or a central difference.
    """
    from scipy import ndimage as ndi

    if sigma > 1e-15:
        return ndi.gaussian_filter1d(values, sigma, axis=axis, order=order)
    if order == 0:
        return values
    if values.shape[axis] < 2:
        return np.zeros_like(values)
    return np.gradient(values, axis=axis).astype(values.dtype, copy=False)


def _seed_labels(seed_labels: ArrayLike, count: int) -> np.ndarray:
    """One positive integer label per seed, at least two distinct ones."""
    labels = np.asarray(seed_labels) if seed_labels is not None else np.asarray(None)
    if (
        labels.shape != (count,)
        or not np.issubdtype(labels.dtype, np.integer)
        or (labels < 1).any()
    ):
        raise ValueError(
            f"`seed_labels` must hold one positive integer label per seed ({count}); "
            f"got {seed_labels!r:.80}"
        )
    if labels.max() > np.iinfo(np.int64).max:
        raise ValueError(
            f"`seed_labels` must not exceed {np.iinfo(np.int64).max}; got {labels.max()}"
        )
    if len(np.unique(labels)) < 2:
        raise ValueError(
            "`seed_labels`: competitive growing needs seeds of at least two labels "
            "(e.g. object and background)"
        )
    return labels.astype(np.int64)


def _sigma(sigma_mm: float | None, spacing: np.ndarray, shape: tuple[int, ...]) -> float:
    """Return the gradient's scale in mm: >= 0 and no wider than the image."""
    if sigma_mm is None:
        return float(spacing.min())
    sigma = check_finite(sigma_mm, "sigma_mm", "a non-negative scale in mm")
    extent = float((np.asarray(shape) * spacing).max())
    if not 0 <= sigma <= extent:
        raise ValueError(
            f"`sigma_mm` must be a scale in mm from 0 to the image's extent ({extent:g} mm); "
            f"got {sigma_mm!r}"
        )
    return sigma


def grow_from_seeds(
    image: ArrayLike,
    seeds: ArrayLike,
    seed_labels: ArrayLike,
    *,
    spacing: Sequence[float],
    sigma_mm: float | None = None,
    connectivity: int = 1,
) -> np.ndarray:
    """Grow several labels from labelled seeds at once (like 3D Slicer's "Grow from seeds").

    Every label's seeds flood the gradient-magnitude image at once (marker watershed); a voxel
    joins the label whose front reaches it first, so regions meet at intensity edges.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) integer or float ndarray
        Intensities (no NaN).
    seeds : (N, ndim) int array
        Seed voxel indices in numpy axis order.
    seed_labels : (N,) int array
        Positive label of each seed; at least two distinct labels (add background seeds).
    spacing : sequence of float
        Voxel size in mm, numpy axis order (the gradient is taken in physical units).
    sigma_mm : float or None
        Gaussian scale of the gradient in mm; default the smallest spacing, 0 = no smoothing.
    connectivity : int
        1 = face neighbours ... ``image.ndim`` = all.

    Returns
    -------
    labels : int32 ndarray, same shape as ``image``
        Every voxel carries the label of the seeds that reached it.

    Raises
    ------
    ValueError
        Seeds outside the image, fewer than two labels, a seed with two labels, a bad
        ``sigma_mm`` or connectivity.

    Examples
    --------
    >>> img = np.zeros((5, 8)); img[:, 4:] = 100
    >>> grow_from_seeds(img, [[2, 0], [2, 7]], [1, 2], spacing=(1, 1))[0]
    array([1, 1, 1, 1, 2, 2, 2, 2], dtype=int32)
    """
    return run_to_completion(
        iter_grow_from_seeds(
            image,
            seeds,
            seed_labels,
            spacing=spacing,
            sigma_mm=sigma_mm,
            connectivity=connectivity,
        )
    )
