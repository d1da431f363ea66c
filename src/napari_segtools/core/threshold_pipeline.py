"""Threshold -> clean-up -> write: the Threshold dock's computation, without Qt.

:class:`ThresholdSettings` says what to segment (a range, multi-Otsu class boundaries, or a local
threshold inside a range); :func:`threshold_segment` turns an image into a mask or class labels;
:func:`threshold_into_labels` also cleans each label up (:mod:`~napari_segtools.core.cleanup`)
and paints the result into an existing label image with 3D Slicer's masking modes.
:func:`threshold_slice` gives one slice of a volume exactly as the whole volume would, for a
live preview.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._types import Progress, ProgressGenerator, run_to_completion
from ._validate import check_bound, check_choice, check_finite, check_integer, check_spacing
from .cleanup import Step, iter_clean_mask, paint_labels
from .threshold import (
    _LABEL_DTYPES,
    METHODS,
    Histogram,
    _check_thresholds,
    block_size_voxels,
    iter_body_mask,
    iter_histogram,
    iter_local_threshold,
    threshold_labels,
    threshold_mask,
)

#: methods of :class:`ThresholdSettings`: a manual range, the automatic ones, a local threshold
SETTINGS_METHODS = ("manual", *METHODS, "local")
#: where automatic methods take their histogram from (see :func:`iter_histograms`)
HISTOGRAM_FROM = ("image", "body", "mask")
#: gaussian filters reach this many sigmas (scipy's default ``truncate``)
_TRUNCATE = 4.0


@dataclass(frozen=True)
class ThresholdSettings:
    """What to segment: a range, multi-Otsu class boundaries, or a local threshold in a range.

    Attributes
    ----------
    method : str
        One of :data:`SETTINGS_METHODS`. "multiotsu" gives class labels from ``thresholds``
        (the darkest class is background and gets no label);
        "local" keeps the voxels in ``[lower, upper]`` above the local threshold; every other
        method (an automatic one has already filled in the range) keeps ``[lower, upper]``.
    lower, upper : float
        Inclusive intensity range.
    thresholds : tuple of float
        Increasing class boundaries, for "multiotsu".
    block_size_mm : float
        Local threshold: width of the neighbourhood in mm.
    offset : float
        Local threshold: subtracted from the local mean (intensity units).

    Examples
    --------
    >>> ThresholdSettings("manual", lower=226, upper=3071).upper
    3071
    """

    method: str
    lower: float
    upper: float
    thresholds: tuple[float, ...] = ()
    block_size_mm: float = 15.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        check_choice(self.method, "method", SETTINGS_METHODS)
        low, high = check_bound(self.lower, "lower"), check_bound(self.upper, "upper")
        if not low <= high:
            raise ValueError(f"`lower` must be <= `upper`; got lower={low}, upper={high}")
        if self.method == "multiotsu" and not len(self.thresholds):
            raise ValueError("method 'multiotsu' needs its class boundaries in `thresholds`")
        if len(self.thresholds):
            _check_thresholds(self.thresholds)
        width = check_finite(self.block_size_mm, "block_size_mm", "a positive width in mm")
        if width <= 0:
            raise ValueError(f"`block_size_mm` must be > 0 mm; got {self.block_size_mm!r}")
        check_finite(self.offset, "offset", "a finite number (intensity units)")

    @property
    def n_labels(self) -> int:
        """Number of labels a segmentation writes (classes above the darkest for multi-Otsu, else 1)."""
        return len(self.thresholds) if self.method == "multiotsu" else 1


def iter_threshold_segment(
    image: ArrayLike,
    *,
    settings: ThresholdSettings,
    spacing: Sequence[float],
    first_label: int = 1,
) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`threshold_segment`, yielding :class:`Progress` events.

    Parameters, result and errors as :func:`threshold_segment`.

    Examples
    --------
    >>> settings = ThresholdSettings("manual", lower=1, upper=2)
    >>> [e.message for e in iter_threshold_segment(np.eye(2), settings=settings, spacing=(1, 1))]
    ['threshold']
    """
    data = np.asarray(image)
    spacing = check_spacing(spacing, data.ndim)
    if not isinstance(settings, ThresholdSettings):
        raise TypeError(f"`settings` must be a ThresholdSettings; got {type(settings).__name__}")
    first_label = check_integer(first_label, "first_label", minimum=1)
    if settings.method == "multiotsu":
        yield Progress(0, 1, "multi-Otsu classes")
        # class 0 (the darkest: air, background) stays 0; class i >= 1 gets first_label + i - 1
        classes = threshold_labels(data, settings.thresholds, first_label=first_label)
        classes[classes == first_label] = 0
        classes[classes > 0] -= 1
        return classes
    mask = threshold_mask(data, lower=settings.lower, upper=settings.upper)
    if settings.method == "local":
        local = yield from iter_local_threshold(
            data, spacing=spacing, block_size_mm=settings.block_size_mm, offset=settings.offset
        )
        mask &= data > local
    yield Progress(1, 1, "threshold")
    return mask


def threshold_segment(
    image: ArrayLike,
    *,
    settings: ThresholdSettings,
    spacing: Sequence[float],
    first_label: int = 1,
) -> np.ndarray:
    """Segment an image by its :class:`ThresholdSettings`.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Intensities.
    settings : ThresholdSettings
        What to segment.
    spacing : sequence of float
        Voxel size in mm, numpy axis order (used by the local threshold).
    first_label : int
        Label of the second-darkest multi-Otsu class (the darkest one is background, 0).

    Returns
    -------
    result : bool ndarray, or uint8/uint16 class labels for "multiotsu"
        Same shape as ``image``.

    Raises
    ------
    ValueError
        Bad range, spacing or block size (see :func:`threshold_mask`, :func:`local_threshold`).

    Examples
    --------
    >>> settings = ThresholdSettings("multiotsu", lower=0, upper=9, thresholds=(3.0, 6.0))
    >>> threshold_segment(np.array([[1, 4, 7]]), settings=settings, spacing=(1, 1), first_label=3)
    array([[0, 3, 4]], dtype=uint8)
    """
    return run_to_completion(
        iter_threshold_segment(image, settings=settings, spacing=spacing, first_label=first_label)
    )


def local_threshold_reach(block_size_mm: float, *, spacing: Sequence[float]) -> int:
    """Return how many voxels along axis 0 the local threshold of a voxel depends on.

    Parameters
    ----------
    block_size_mm : float
        Width of the local threshold's neighbourhood in mm.
    spacing : sequence of float
        Voxel size in mm, numpy axis order.

    Returns
    -------
    reach : int
        Voxels on each side along axis 0 (one more than the Gaussian's reach, for safety).

    Examples
    --------
    >>> local_threshold_reach(15.0, spacing=(2.5, 0.8, 0.8))
    5
    """
    size = block_size_voxels(block_size_mm, spacing)[0]
    return int(np.ceil(_TRUNCATE * (size - 1) / 6.0)) + 1


def threshold_slice(
    volume: ArrayLike,
    index: int,
    *,
    settings: ThresholdSettings,
    spacing: Sequence[float],
    first_label: int = 1,
) -> np.ndarray:
    """Segment slice ``index`` (axis 0) of a volume exactly as the whole volume would be.

    A local threshold reads a slab as thick as the filter's reach, so the slice gets the same
    voxels as ``threshold_segment(volume, ...)[index]`` at a fraction of the cost: the live
    preview of one slice. ``volume`` may be any array supporting slicing (dask, zarr); only the
    needed slices are read.

    Parameters
    ----------
    volume : (Z, Y, X) array
        Intensities.
    index : int
        Slice along axis 0.
    settings : ThresholdSettings
        What to segment.
    spacing : sequence of float
        Voxel size in mm of the volume, numpy axis order (3 values).
    first_label : int
        Label of the second-darkest multi-Otsu class (the darkest one is background).

    Returns
    -------
    result : (Y, X) bool ndarray, or class labels for "multiotsu"

    Raises
    ------
    ValueError
        If ``index`` is outside the volume, or as :func:`threshold_segment`.

    Examples
    --------
    >>> vol = np.arange(27.0).reshape(3, 3, 3)
    >>> settings = ThresholdSettings("manual", lower=10, upper=12)
    >>> threshold_slice(vol, 1, settings=settings, spacing=(1, 1, 1)).sum()
    np.int64(3)
    """
    depth = np.shape(volume)[0]
    if not -depth <= index < depth:
        raise ValueError(f"`index` {index} is outside the volume's {depth} slices")
    index %= depth
    spacing = check_spacing(spacing, len(np.shape(volume)), array_name="volume")
    if settings.method != "local":
        return threshold_segment(
            np.asarray(volume[index]),  # type: ignore[index]
            settings=settings,
            spacing=spacing[1:],
            first_label=first_label,
        )
    reach = local_threshold_reach(settings.block_size_mm, spacing=spacing)
    z0, z1 = max(index - reach, 0), min(index + reach + 1, depth)
    slab = np.asarray(volume[z0:z1])  # type: ignore[index]
    return threshold_segment(slab, settings=settings, spacing=spacing)[index - z0]


def iter_threshold_labels(
    image: ArrayLike,
    *,
    settings: ThresholdSettings,
    spacing: Sequence[float],
    steps: Sequence[Step] = (),
    first_label: int = 1,
) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`threshold_labels_cleaned`, yielding :class:`Progress` events.

    Parameters, result and errors as :func:`threshold_labels_cleaned`.

    Examples
    --------
    >>> settings = ThresholdSettings("manual", lower=5, upper=9)
    >>> [e.message for e in iter_threshold_labels(np.eye(2), settings=settings, spacing=(1, 1))]
    ['threshold', 'clean-up done']
    """
    data = np.asarray(image)
    first_label = check_integer(first_label, "first_label", minimum=1)
    top = first_label + settings.n_labels - 1
    dtype = next((d for d in _LABEL_DTYPES[1:] if top <= np.iinfo(d).max), None)
    if dtype is None:
        raise ValueError(f"`first_label` {first_label} leaves no room for {settings.n_labels} ids")
    result = yield from iter_threshold_segment(
        data, settings=settings, spacing=spacing, first_label=first_label
    )
    labels = np.zeros(data.shape, dtype)
    for value in range(first_label, first_label + settings.n_labels):
        mask = result if result.dtype == bool else result == value
        cleaned = yield from iter_clean_mask(mask, spacing=spacing, steps=steps)
        labels[cleaned] = value
    return labels


def threshold_labels_cleaned(
    image: ArrayLike,
    *,
    settings: ThresholdSettings,
    spacing: Sequence[float],
    steps: Sequence[Step] = (),
    first_label: int = 1,
) -> np.ndarray:
    """Threshold an image and clean each label up: the labels an Apply paints.

    The Threshold dock's live preview shows this result (on the slice in view), so the preview
    and the written labels are the same voxels, clean-up included.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Intensities.
    settings : ThresholdSettings
        What to segment.
    spacing : sequence of float
        Voxel size in mm, numpy axis order.
    steps : sequence of (name, params)
        Clean-up run on each label's mask (see :func:`~napari_segtools.core.cleanup.clean_mask`).
    first_label : int
        Label of the mask, or of the lowest painted multi-Otsu class.

    Returns
    -------
    labels : uint16 (or wider, for ids above 65535) ndarray of ``image.shape``
        0 where nothing is written.

    Raises
    ------
    ValueError
        Bad settings or clean-up steps.

    Examples
    --------
    >>> settings = ThresholdSettings("manual", lower=5, upper=9)
    >>> steps = [("remove_small", {"min_size_mm3": 2.0})]
    >>> threshold_labels_cleaned(
    ...     np.array([[7, 0, 7, 7]]), settings=settings, spacing=(1, 1), steps=steps
    ... ).tolist()
    [[0, 0, 1, 1]]
    """
    return run_to_completion(
        iter_threshold_labels(
            image, settings=settings, spacing=spacing, steps=steps, first_label=first_label
        )
    )


def iter_threshold_into_labels(
    image: ArrayLike,
    target: ArrayLike,
    *,
    settings: ThresholdSettings,
    spacing: Sequence[float],
    steps: Sequence[Step] = (),
    first_label: int = 1,
    mode: str = "all",
    inside_label: int | None = None,
) -> ProgressGenerator[np.ndarray]:
    """Run :func:`threshold_into_labels`, yielding :class:`Progress` events.

    Parameters, result and errors as :func:`threshold_into_labels`.

    Examples
    --------
    >>> settings = ThresholdSettings("manual", lower=5, upper=9)
    >>> gen = iter_threshold_into_labels(
    ...     np.array([[1, 7]]), np.zeros((1, 2), np.uint8), settings=settings, spacing=(1, 1)
    ... )
    >>> [e.message for e in gen]
    ['threshold', 'clean-up done']
    """
    source = yield from iter_threshold_labels(
        image, settings=settings, spacing=spacing, steps=steps, first_label=first_label
    )
    return paint_labels(target, source, mode=mode, inside_label=inside_label)


def threshold_into_labels(
    image: ArrayLike,
    target: ArrayLike,
    *,
    settings: ThresholdSettings,
    spacing: Sequence[float],
    steps: Sequence[Step] = (),
    first_label: int = 1,
    mode: str = "all",
    inside_label: int | None = None,
) -> np.ndarray:
    """Threshold an image, clean each label up, and paint the labels into a copy of ``target``.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Intensities.
    target : int ndarray of ``image.shape``
        Existing label image (left unchanged).
    settings : ThresholdSettings
        What to segment.
    spacing : sequence of float
        Voxel size in mm, numpy axis order.
    steps : sequence of (name, params)
        Clean-up run on each label's mask (see :func:`~napari_segtools.core.cleanup.clean_mask`
        and :meth:`~napari_segtools.core.cleanup.CleanupSettings.steps`).
    first_label : int
        Label written for the mask, or for the lowest painted multi-Otsu class.
    mode : {"all", "empty", "inside", "replace"}
        Where labels may be written, as :func:`~napari_segtools.core.cleanup.paint_labels`.
    inside_label : int, optional
        Required for ``mode="inside"``.

    Returns
    -------
    labels : ndarray of ``target``'s shape and dtype

    Raises
    ------
    ValueError
        Bad settings, clean-up steps or paint options; shape mismatch.

    Examples
    --------
    >>> settings = ThresholdSettings("manual", lower=5, upper=9)
    >>> target = np.array([[0, 2, 0, 0]], np.uint8)
    >>> threshold_into_labels(
    ...     np.array([[7, 7, 1, 8]]), target, settings=settings, spacing=(1, 1), mode="empty"
    ... )
    array([[1, 2, 0, 1]], dtype=uint8)
    """
    return run_to_completion(
        iter_threshold_into_labels(
            image,
            target,
            settings=settings,
            spacing=spacing,
            steps=steps,
            first_label=first_label,
            mode=mode,
            inside_label=inside_label,
        )
    )


def iter_histograms(
    image: ArrayLike, *, histogram_from: str = "image", mask: ArrayLike | None = None
) -> ProgressGenerator[tuple[Histogram, Histogram]]:
    """Histogram the whole image and the voxels an automatic threshold should split.

    Parameters
    ----------
    image : (Y, X) or (Z, Y, X) ndarray
        Finite intensities.
    histogram_from : {"image", "body", "mask"}
        The whole image; the body (:func:`~napari_segtools.core.threshold.body_mask`: the
        largest bright component, holes filled), so the air around a patient does not dominate;
        or the non-zero voxels of ``mask``.
    mask : ndarray of ``image.shape``, optional
        Required for ``histogram_from="mask"``.

    Returns
    -------
    whole, source : Histogram
        The image's histogram (its range bounds the dock's slider) and the one the automatic
        methods use (the same object for "image").

    Raises
    ------
    ValueError
        Unknown ``histogram_from``, a missing or mismatched mask, a mask or body with no voxel.

    Examples
    --------
    >>> from napari_segtools.core._types import run_to_completion
    >>> image = np.zeros((6, 6), np.int16); image[1:5, 1:5] = 40; image[2, 2] = 60
    >>> whole, body = run_to_completion(iter_histograms(image, histogram_from="body"))
    >>> int(whole.counts.sum()), int(body.counts.sum()), body.low
    (36, 16, 40.0)
    """
    if histogram_from not in HISTOGRAM_FROM:
        raise ValueError(
            f"`histogram_from` must be one of {', '.join(HISTOGRAM_FROM)}; got {histogram_from!r}"
        )
    data = np.asarray(image)
    whole = yield from iter_histogram(data)
    if histogram_from == "image":
        return whole, whole
    if histogram_from == "body":
        inside = yield from iter_body_mask(data)
    elif mask is None:
        raise ValueError("`histogram_from='mask'` needs a mask; choose a Labels layer")
    else:
        inside = np.asarray(mask)
        if inside.shape != data.shape:
            raise ValueError(
                f"the mask has shape {inside.shape} but the image has shape {data.shape}; "
                "choose a mask on the same grid"
            )
    source = yield from iter_histogram(data, mask=inside)
    return whole, source
