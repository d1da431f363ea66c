"""Intensity thresholds: manual ranges, automatic global thresholds and local (adaptive) ones.

A threshold function returns a value (or a threshold image) and the caller compares, as in
scikit-image. The automatic methods all work on one :class:`Histogram`, so a widget computes the
histogram of a volume once and then switches methods instantly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._deprecate import renamed_keywords
from ._types import Progress, ProgressGenerator, run_to_completion
from ._validate import (
    check_bound,
    check_choice,
    check_finite,
    check_image,
    check_integer,
    check_mask,
    check_same_shape,
    check_spacing,
    native_order,
)

#: automatic global methods understood by :func:`auto_threshold`
METHODS = ("otsu", "multiotsu", "li", "yen", "triangle", "isodata", "mean", "minimum")
#: smoothing of the local threshold image
LOCAL_METHODS = ("gaussian", "mean")

_CHUNK = 1 << 22  # voxels per histogram chunk: bounds memory and paces progress events
_MAX_EXACT_BINS = 1 << 16
#: most histogram bins a caller may ask for
MAX_BINS = 1 << 20
#: label dtypes of :func:`threshold_labels`, narrowest first
_LABEL_DTYPES = (np.uint8, np.uint16, np.uint32, np.uint64)
#: most histogram bins multi-Otsu searches per class count (its cost grows as bins^(classes-1))
_MULTIOTSU_BINS = {2: 1024, 3: 1024, 4: 256, 5: 128}


@dataclass(frozen=True)
class Histogram:
    """Intensity histogram of an image.

    Attributes
    ----------
    counts : (B,) int64 ndarray
        Number of voxels per bin; the first and last bins are never empty.
    centers : (B,) float64 ndarray
        Intensity at the centre of each bin.
    mean : float
        Exact mean intensity of the image.
    exact : bool
        True when every integer value has its own bin (integer images with at most 65,536 values).
    low, high : float
        Smallest and largest intensity in the image.
    """

    counts: np.ndarray
    centers: np.ndarray
    mean: float
    exact: bool
    low: float
    high: float

    def coarsened(self, nbins: int) -> Histogram:
        """Sum adjacent bins into at most ``nbins`` equal groups; returns a new histogram.

        Examples
        --------
        >>> hist = image_histogram(np.arange(10, dtype=np.uint8)[None])
        >>> hist.coarsened(5).counts.tolist()
        [2, 2, 2, 2, 2]
        """
        if len(self.counts) <= nbins:
            return self
        group = -(-len(self.counts) // nbins)
        pad = (-len(self.counts)) % group
        counts = np.pad(self.counts, (0, pad)).reshape(-1, group).sum(axis=1)
        step = self.centers[1] - self.centers[0]
        centers = self.centers[0] + step * (np.arange(len(counts)) * group + (group - 1) / 2)
        keep = slice(0, np.flatnonzero(counts)[-1] + 1)
        return Histogram(counts[keep], centers[keep], self.mean, False, self.low, self.high)


@renamed_keywords(low="lower", high="upper")
def threshold_mask(
    image: ArrayLike, *, lower: float, upper: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Select the voxels whose intensity lies in the closed range ``[lower, upper]``.

    Parameters
    ----------
    image : (Y, X), (Z, Y, X) or (T, Z, Y, X) ndarray
        Intensities (any real dtype); NaN voxels are never inside the range.
    lower, upper : float
        Inclusive bounds, in the image's intensity units (for CT: HU).
    out : bool ndarray of ``image.shape``, optional
        Buffer to write into (saves an allocation in live previews).

    Returns
    -------
    mask : bool ndarray of ``image.shape``

    Raises
    ------
    ValueError
        If ``lower > upper``, a bound is NaN, or ``out`` has the wrong shape or dtype.

    Examples
    --------
    >>> threshold_mask(np.array([[0, 226, 3071, 4000]]), lower=226, upper=3071).astype(int)
    array([[0, 1, 1, 0]])
    """
    arr = native_order(check_image(image, ndims=(2, 3, 4), allow_nan=True))
    low, high = check_bound(lower, "lower"), check_bound(upper, "upper")
    if not (low <= high):
        raise ValueError(f"`lower` must be <= `upper`; got lower={low}, upper={high}")
    if out is None:
        out = np.empty(arr.shape, dtype=bool)
    elif not isinstance(out, np.ndarray) or out.shape != arr.shape or out.dtype != bool:
        raise ValueError(
            f"`out` must be a bool array of shape {arr.shape}; got {getattr(out, 'dtype', out)} "
            f"{getattr(out, 'shape', '')}"
        )
    if np.issubdtype(arr.dtype, np.integer):  # compare in the image's own dtype: no float copy
        info = np.iinfo(arr.dtype)
        # exact integer bounds (Python ints): no float rounding near the dtype's limits
        low_int = info.min if low == -np.inf else low if isinstance(low, int) else None
        high_int = info.max if high == np.inf else high if isinstance(high, int) else None
        if low_int is None:
            low_int = info.max + 1 if low == np.inf else math.ceil(low)
        if high_int is None:
            high_int = info.min - 1 if high == -np.inf else math.floor(high)
        if low_int > info.max or high_int < info.min or low_int > high_int:
            out[...] = False
            return out
        low = arr.dtype.type(max(low_int, info.min))
        high = arr.dtype.type(min(high_int, info.max))
    np.greater_equal(arr, low, out=out)
    out &= arr <= high
    return out


def threshold_labels(
    image: ArrayLike, thresholds: Sequence[float] | ArrayLike, *, first_label: int = 1
) -> np.ndarray:
    """Split intensities into ``len(thresholds) + 1`` classes, lowest class -> ``first_label``.

    Class ``i`` holds ``thresholds[i-1] <= value < thresholds[i]``, so the result of
    ``auto_threshold(image, method="multiotsu", classes=k)`` gives ``k`` labels.

    Parameters
    ----------
    image : ndarray
        Intensities.
    thresholds : sequence of float
        Increasing class boundaries (intensity units).
    first_label : int
        Label of the darkest class (>= 1).

    Returns
    -------
    labels : uint8, uint16, uint32 or uint64 ndarray of ``image.shape``
        The narrowest dtype that holds ``first_label + len(thresholds)``.

    Raises
    ------
    ValueError
        If ``thresholds`` is empty, decreasing or not finite, or ``first_label < 1``.

    Examples
    --------
    >>> threshold_labels(np.array([[0, 9]]), [5], first_label=70_000).dtype
    dtype('uint32')
    >>> threshold_labels(np.array([[0, 5, 10, 20]]), [5, 15], first_label=2)
    array([[2, 3, 3, 4]], dtype=uint8)
    """
    arr = native_order(check_image(image, ndims=(2, 3, 4)))
    bounds = _check_thresholds(thresholds)
    first = check_integer(first_label, "first_label", minimum=1)
    top = first + bounds.size
    dtype = next((d for d in _LABEL_DTYPES if top <= np.iinfo(d).max), None)
    if dtype is None:
        raise ValueError(
            f"`first_label` {first} + {bounds.size} classes exceeds the largest label id "
            f"{np.iinfo(np.uint64).max}"
        )
    labels = np.digitize(arr, bounds).astype(dtype)
    labels += dtype(first)
    return labels


def _check_thresholds(thresholds) -> np.ndarray:
    """Return class boundaries as a 1-D float array of finite increasing values."""
    if isinstance(thresholds, (str, bytes)) or thresholds is None:
        raise TypeError(f"`thresholds` must be a sequence of numbers; got {thresholds!r}")
    try:
        raw = np.asarray(thresholds)
        if raw.dtype.kind not in "biuf":
            raise TypeError
        bounds = raw.astype(float).ravel()
    except (TypeError, ValueError):
        raise TypeError(
            f"`thresholds` must be a sequence of real numbers; got {thresholds!r}"
        ) from None
    if raw.ndim > 1:
        raise ValueError(f"`thresholds` must be a flat sequence; got shape {raw.shape}")
    if bounds.size == 0 or not np.isfinite(bounds).all() or np.any(np.diff(bounds) < 0):
        raise ValueError(
            f"`thresholds` must be one or more finite increasing values; got {bounds.tolist()}"
        )
    return bounds


def iter_histogram(
    image: ArrayLike, *, nbins: int = 256, mask: ArrayLike | None = None
) -> ProgressGenerator[Histogram]:
    """Compute :func:`image_histogram`, yielding one :class:`Progress` per chunk of voxels.

    Parameters and result as :func:`image_histogram`; the generator returns the histogram.

    Examples
    --------
    >>> from napari_segtools.core._types import run_to_completion
    >>> gen = iter_histogram(np.array([[1, 1, 3]], dtype=np.uint8))
    >>> run_to_completion(gen).counts.tolist()
    [2, 0, 1]
    """
    arr = native_order(check_image(image, ndims=(2, 3, 4)))
    nbins = check_integer(nbins, "nbins", minimum=2, maximum=MAX_BINS)
    if mask is None:
        flat = arr.reshape(-1)
    else:
        inside = check_mask(mask, "mask", ndims=(arr.ndim,))
        check_same_shape(arr, inside, ("image", "mask"))
        flat = arr[inside]
        if flat.size == 0:
            raise ValueError("`mask` selects no voxel; nothing to count")
    lo, hi = flat.min(), flat.max()
    if lo == hi:
        yield Progress(1, 1, "histogram")
        value = float(lo)
        return Histogram(np.array([flat.size]), np.array([value]), value, True, value, value)
    exact = np.issubdtype(arr.dtype, np.integer) and int(hi) - int(lo) < _MAX_EXACT_BINS
    size = int(hi) - int(lo) + 1 if exact else nbins
    counts = np.zeros(size, dtype=np.int64)
    total = 0.0
    n_chunks = -(-flat.size // _CHUNK)
    for i in range(n_chunks):
        chunk = flat[i * _CHUNK : (i + 1) * _CHUNK]
        if exact and arr.dtype.itemsize <= 2:
            # offsets in unsigned arithmetic wrap to the right bin index without a 64-bit copy
            unsigned = np.dtype(f"u{arr.dtype.itemsize}")
            counts += np.bincount(
                chunk.view(unsigned) - np.asarray(lo).view(unsigned), minlength=size
            )
        elif exact:
            counts += np.bincount(chunk.astype(np.int64) - int(lo), minlength=size)
        else:
            counts += np.histogram(chunk, bins=nbins, range=(float(lo), float(hi)))[0]
            total += float(chunk.sum(dtype=np.float64))
        yield Progress(i + 1, n_chunks, "histogram")
    if exact:
        centers = np.arange(int(lo), int(hi) + 1, dtype=np.float64)
        total = float(counts @ centers)
    else:
        edges = np.linspace(float(lo), float(hi), nbins + 1)
        centers = (edges[:-1] + edges[1:]) / 2
    return Histogram(counts, centers, total / flat.size, bool(exact), float(lo), float(hi))


def image_histogram(
    image: ArrayLike, *, nbins: int = 256, mask: ArrayLike | None = None
) -> Histogram:
    """Count the voxels: one bin per value for integer images, else ``nbins`` equal bins.

    Parameters
    ----------
    image : ndarray
        Finite intensities, 2-D to 4-D.
    nbins : int
        Number of equal bins between min and max for float images (and for integer images that
        span more than 65,536 values).
    mask : bool ndarray of ``image.shape``, optional
        Count only the voxels inside (for example :func:`body_mask`, so that the air around a
        patient does not dominate the automatic thresholds).

    Returns
    -------
    Histogram

    Raises
    ------
    ValueError
        If ``nbins < 2``, the image holds NaN or infinite values, or ``mask`` has another shape
        or selects nothing.

    Examples
    --------
    >>> hist = image_histogram(np.array([[0.0, 0.5, 1.0, 1.0]]), nbins=2)
    >>> hist.counts.tolist(), hist.centers.tolist()
    ([1, 3], [0.25, 0.75])
    >>> image_histogram(np.array([[0, 7, 9]]), mask=np.array([[0, 1, 1]])).low
    7.0
    """
    return run_to_completion(iter_histogram(image, nbins=nbins, mask=mask))


def iter_body_mask(image: ArrayLike) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`body_mask`, yielding one :class:`Progress` per stage.

    Parameters, result and errors as :func:`body_mask`.

    Examples
    --------
    >>> [e.message for e in iter_body_mask(np.eye(4))]
    ['histogram', 'foreground', 'largest component', 'fill holes']
    """
    from scipy import ndimage as ndi

    arr = check_image(image)
    hist = yield from iter_histogram(arr)
    if len(hist.counts) < 2:
        raise ValueError(f"the image holds a single value ({hist.low}); it has no body")
    from skimage import filters

    level = float(filters.threshold_otsu(hist=(hist.counts, hist.centers)))
    yield Progress(0, 3, "foreground")
    labels, n = ndi.label(arr > level)
    yield Progress(1, 3, "largest component")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    del labels
    yield Progress(2, 3, "fill holes")
    return ndi.binary_fill_holes(body)


def body_mask(image: ArrayLike) -> np.ndarray:
    """Return the body: the largest bright connected component, its holes filled.

    Foreground is ``image > Otsu(image)`` (on CT this separates the patient from the air around
    it); the largest face-connected component of it is kept (the table and noise go) and its
    enclosed holes are filled (the dark inside of the skull, the lungs). The histogram of the
    voxels inside is what an automatic threshold should split when the question is about
    tissues: on a head CT the air outside dominates the whole image's histogram.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Finite intensities; the body is brighter than its surroundings.

    Returns
    -------
    body : bool ndarray of ``image.shape``

    Raises
    ------
    ValueError
        If the image is constant.

    Examples
    --------
    >>> image = np.zeros((7, 7)); image[1:6, 1:6] = 10; image[3, 3] = 0; image[0, 0] = 9
    >>> body = body_mask(image)
    >>> int(body.sum()), bool(body[3, 3]), bool(body[0, 0])
    (25, True, False)
    >>> auto_threshold(image, method="mean", mask=body)  # the hole counts, the corner does not
    9.6
    """
    return run_to_completion(iter_body_mask(image))


def _li(hist: Histogram) -> float:
    """Li's iterative minimum cross-entropy threshold, computed on the histogram."""
    c = hist.centers - hist.centers[0]
    n = hist.counts.astype(np.float64)
    cum_n, cum_s = np.cumsum(n), np.cumsum(n * c)
    tolerance = 0.5 if hist.exact else np.min(np.diff(c[n > 0])) / 2
    t_next, t_curr = hist.mean - hist.centers[0], -np.inf
    while abs(t_next - t_curr) > tolerance:
        t_curr = t_next
        k = np.searchsorted(c, t_curr, side="right") - 1  # last bin <= t (background)
        mean_back = cum_s[k] / cum_n[k]
        mean_fore = (cum_s[-1] - cum_s[k]) / (cum_n[-1] - cum_n[k])
        if mean_back == 0:
            break
        t_next = (mean_back - mean_fore) / (np.log(mean_back) - np.log(mean_fore))
    return float(t_next + hist.centers[0])


def _triangle(hist: Histogram) -> float:
    """Zack's triangle threshold: the bin farthest below the line from the peak to the far tail."""
    counts = hist.counts.astype(np.float64)
    last = len(counts) - 1
    peak = int(np.argmax(counts))
    flip = peak < last - peak  # the longer tail lies above the peak: mirror the histogram
    if flip:
        counts, peak = counts[::-1], last - peak
    x = np.arange(peak)
    # distance below the chord from (0, 0) to (peak, counts[peak]), up to a positive factor
    level = int(np.argmax(counts[peak] * x - peak * counts[x]))
    if flip:
        level = last - level
    return float(hist.centers[level])


def _minimum(hist: Histogram, max_iterations: int = 10_000) -> float:
    """Prewitt-Mendelsohn minimum: smooth until two peaks remain, take the valley between them."""
    from scipy import ndimage as ndi

    smooth = hist.counts.astype(np.float64)
    peaks = np.array([], dtype=int)
    for _ in range(max_iterations):
        smooth = ndi.uniform_filter1d(smooth, 3)
        steps = np.sign(np.diff(smooth))
        moving = np.flatnonzero(steps)  # plateaus keep the last direction
        rising_before = np.concatenate(([1.0], steps[moving][:-1])) > 0
        peaks = moving[(steps[moving] < 0) & rising_before]
        if len(peaks) < 3:
            break
    if len(peaks) != 2:
        raise ValueError("the histogram is not bimodal; the Minimum method finds no valley")
    return float(hist.centers[peaks[0] + np.argmin(smooth[peaks[0] : peaks[1] + 1])])


def threshold_from_histogram(
    hist: Histogram, *, method: str = "otsu", classes: int = 3
) -> float | tuple[float, ...]:
    """Compute an automatic threshold from a :class:`Histogram`.

    The widget computes the histogram once and then switches methods with this function.

    Parameters
    ----------
    hist : Histogram
        From :func:`image_histogram`.
    method, classes
        As in :func:`auto_threshold`.

    Returns
    -------
    threshold : float, or tuple of ``classes - 1`` floats for "multiotsu"

    Raises
    ------
    ValueError
        As :func:`auto_threshold`.

    Examples
    --------
    >>> hist = image_histogram(np.array([[0, 0, 10, 10]], dtype=np.uint8))
    >>> threshold_from_histogram(hist, method="mean")
    5.0
    """
    from skimage import filters

    check_choice(method, "method", METHODS)
    classes = check_integer(classes, "classes", minimum=2, maximum=max(_MULTIOTSU_BINS))
    if len(hist.counts) < 2:
        raise ValueError(
            f"the image holds a single value ({hist.centers[0]}); nothing to threshold"
        )
    pair = (hist.counts, hist.centers)
    if method == "multiotsu":
        if classes not in _MULTIOTSU_BINS:
            raise ValueError(f"`classes` must be 2 to {max(_MULTIOTSU_BINS)}; got {classes}")
        small = hist.coarsened(_MULTIOTSU_BINS[classes])
        if np.count_nonzero(small.counts) < classes:
            raise ValueError(
                f"the image holds fewer than {classes} distinct values for {classes} classes"
            )
        values = filters.threshold_multiotsu(classes=classes, hist=(small.counts, small.centers))
        return tuple(float(v) for v in values)
    if method == "mean":
        return float(hist.mean)
    if method == "li":
        return _li(hist)
    if method == "triangle":
        return _triangle(hist)
    if method == "minimum":
        return _minimum(hist)
    func = {
        "otsu": filters.threshold_otsu,
        "yen": filters.threshold_yen,
        "isodata": filters.threshold_isodata,
    }
    return float(func[method](hist=pair))


def auto_threshold(
    image: ArrayLike,
    *,
    method: str = "otsu",
    classes: int = 3,
    nbins: int = 256,
    mask: ArrayLike | None = None,
) -> float | tuple[float, ...]:
    """Compute an automatic global threshold of an image.

    Parameters
    ----------
    image : ndarray
        Finite intensities, 2-D to 4-D.
    method : {"otsu", "multiotsu", "li", "yen", "triangle", "isodata", "mean", "minimum"}
        Thresholding rule; all but "mean" work on the image histogram.
    classes : int
        Number of classes for "multiotsu" (2 to 5).
    nbins : int
        Histogram bins for float images.
    mask : bool ndarray of ``image.shape``, optional
        Compute the threshold from the voxels inside only, e.g. ``mask=body_mask(image)``: on a
        head CT, Yen's threshold of the body finds bone (about 170 HU) where the whole image's
        Otsu threshold (about -400 HU) only separates air from the head.

    Returns
    -------
    threshold : float, or tuple of ``classes - 1`` floats for "multiotsu"
        Intensity value(s); the foreground is ``image > threshold`` (or
        :func:`threshold_labels` for several values).

    Raises
    ------
    ValueError
        For an unknown method, a constant image, or a histogram the method cannot split.

    Notes
    -----
    Integer images use one histogram bin per value, as scikit-image does, so results equal
    ``skimage.filters.threshold_<method>(image)``; float images use ``nbins`` bins between min
    and max (Li then works on bin centres rather than on every voxel). To bound its cost
    (bins^(classes-1)), multi-Otsu sums adjacent bins down to 1024 bins for 2-3 classes, 256 for
    4 and 128 for 5.

    Examples
    --------
    >>> auto_threshold(np.array([[0, 0, 10, 10]], dtype=np.uint8))
    0.0
    """
    check_choice(method, "method", METHODS)
    classes = check_integer(classes, "classes", minimum=2, maximum=max(_MULTIOTSU_BINS))
    hist = image_histogram(image, nbins=nbins, mask=mask)
    return threshold_from_histogram(hist, method=method, classes=classes)


def block_size_voxels(block_size_mm: float, spacing: Sequence[float]) -> tuple[int, ...]:
    """Convert a block width in mm to an odd voxel count per axis (at least 3).

    Parameters
    ----------
    block_size_mm : float
        Width of the neighbourhood in mm.
    spacing : sequence of float
        Voxel size in mm, numpy axis order.

    Returns
    -------
    sizes : tuple of int
        Odd width per axis, >= 3 voxels.

    Examples
    --------
    >>> block_size_voxels(15.0, (2.5, 0.8, 0.8))
    (7, 19, 19)
    """
    sizes = (max(3, int(round(block_size_mm / s))) for s in spacing)
    return tuple(n + 1 - n % 2 for n in sizes)


def check_block_size(block_size_mm, shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Return a local-threshold block width in mm, refusing one wider than twice the image.

    A block wider than twice the image's largest extent averages the (mirrored) image with
    itself; it is refused before any filter weights are allocated.

    Examples
    --------
    >>> check_block_size(15, (10, 10), (1.0, 1.0))
    15.0
    """
    width = check_finite(block_size_mm, "block_size_mm", "a positive width in mm")
    extent = max(n * s for n, s in zip(shape, spacing, strict=True))
    if not 0 < width <= 2 * extent:
        raise ValueError(
            f"`block_size_mm` must be > 0 and at most twice the image's largest extent "
            f"({2 * extent:g} mm); got {block_size_mm!r}"
        )
    return width


def iter_local_threshold(
    image: ArrayLike,
    *,
    spacing: Sequence[float],
    block_size_mm: float,
    method: str = "gaussian",
    offset: float = 0.0,
) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`local_threshold`, yielding one :class:`Progress` per axis filtered.

    Parameters, result and errors as :func:`local_threshold`.

    Examples
    --------
    >>> gen = iter_local_threshold(np.ones((4, 4)), spacing=(1, 1), block_size_mm=3)
    >>> [event.step for event in gen]
    [1, 2]
    """
    from scipy import ndimage as ndi

    arr = native_order(check_image(image))
    spacing = check_spacing(spacing, arr.ndim)
    check_choice(method, "method", LOCAL_METHODS)
    block_size_mm = check_block_size(block_size_mm, arr.shape, spacing)
    offset = check_finite(offset, "offset", "a finite number (intensity units)")
    sizes = block_size_voxels(block_size_mm, spacing)
    wide = arr.dtype.itemsize >= 8 or (arr.dtype.kind in "iu" and arr.dtype.itemsize >= 4)
    dtype = np.float64 if wide else np.float32
    out = arr.astype(dtype)
    for axis, size in enumerate(sizes):
        if method == "gaussian":
            ndi.gaussian_filter1d(out, (size - 1) / 6.0, axis=axis, output=out, mode="reflect")
        else:
            ndi.uniform_filter1d(out, size, axis=axis, output=out, mode="reflect")
        yield Progress(axis + 1, arr.ndim, f"local {method} along axis {axis}")
    np.subtract(out, offset, out=out)
    return out


def local_threshold(
    image: ArrayLike,
    *,
    spacing: Sequence[float],
    block_size_mm: float,
    method: str = "gaussian",
    offset: float = 0.0,
) -> np.ndarray:
    """Compute a local (adaptive) threshold image: the weighted mean of a block around each voxel.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Finite intensities.
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    block_size_mm : float
        Width of the neighbourhood in mm; per axis it becomes an odd number of voxels (>= 3),
        so anisotropic grids get the same physical block.
    method : {"gaussian", "mean"}
        Gaussian weights (sigma = (block - 1) / 6 voxels) or a flat box.
    offset : float
        Subtracted from the local mean (intensity units).

    Returns
    -------
    threshold : float ndarray of ``image.shape``
        Foreground is ``image > threshold``. Equals ``skimage.filters.threshold_local`` with the
        per-axis block sizes of :func:`block_size_voxels`.

    Raises
    ------
    ValueError
        For an unknown method, ``block_size_mm <= 0`` or a spacing of the wrong length.

    Examples
    --------
    >>> image = np.zeros((5, 5)); image[2, 2] = 9
    >>> mask = image > local_threshold(image, spacing=(1, 1), block_size_mm=3, method="mean")
    >>> int(mask.sum())
    1
    """
    return run_to_completion(
        iter_local_threshold(
            image, spacing=spacing, block_size_mm=block_size_mm, method=method, offset=offset
        )
    )
