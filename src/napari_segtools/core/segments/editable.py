"""Where an edit may change a label map: 3D Slicer's editable area, intensity range and locks.

:func:`editable_area` builds the bool mask of voxels an effect may change; :func:`restrict`
keeps an edit inside it. Every effect of :mod:`~napari_segtools.core.segments.effects` takes the
same ``editable`` mask and ``locked`` label values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .._validate import (
    check_bound,
    check_choice,
    check_image,
    check_integer,
    check_labels,
    check_mask,
    check_same_shape,
)

#: choices of :func:`editable_area`'s ``mode``
EDITABLE_MODES = ("everywhere", "inside", "outside", "empty")


def label_map(labels: ArrayLike, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as a non-empty 2-D or 3-D integer ndarray (bool and float refused)."""
    arr = np.asarray(labels)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"`{name}` must be an integer label map; got dtype {arr.dtype}")
    arr = check_labels(arr, name)
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape})")
    return arr


def check_value(labels: np.ndarray, value, name: str = "value", *, present: bool = True) -> int:
    """Return a label value > 0 that fits ``labels``' dtype (and, if ``present``, occurs in it)."""
    number = check_integer(value, name, minimum=1)
    if number > np.iinfo(labels.dtype).max:
        raise ValueError(f"`{name}` {number} does not fit the label map's dtype {labels.dtype}")
    if present and not (labels == number).any():
        raise ValueError(f"label {number} is not in the label map (`{name}`)")
    return number


def check_locked(locked, name: str = "locked") -> tuple[int, ...]:
    """Return the locked label values as a tuple of ints >= 1."""
    if isinstance(locked, (str, bytes)) or locked is None or np.ndim(locked) > 1:
        raise TypeError(f"`{name}` must be a sequence of label values; got {locked!r:.80}")
    return tuple(check_integer(v, name, minimum=1) for v in np.atleast_1d(locked).tolist())


def check_editable(editable, labels: np.ndarray, name: str = "editable") -> np.ndarray | None:
    """Return ``editable`` as a bool mask of ``labels``' shape, or None (everywhere)."""
    if editable is None:
        return None
    mask = check_mask(editable, name)
    check_same_shape(labels, mask, ("labels", name))
    return mask


def editable_area(
    labels: ArrayLike,
    *,
    mode: str = "everywhere",
    label: int | None = None,
    image: ArrayLike | None = None,
    intensity_range: tuple[float, float] | None = None,
    locked: Sequence[int] = (),
) -> np.ndarray:
    """Return the voxels an edit may change, as 3D Slicer's "Masking" section sets them.

    Parameters
    ----------
    labels : (Y, X) or (Z, Y, X) int ndarray
        The label map being edited.
    mode : {"everywhere", "inside", "outside", "empty"}
        Every voxel; the voxels of label ``label``; every voxel but those of ``label``; the
        voxels of no label (value 0, Slicer's "outside all segments").
    label : int, optional
        The label of modes "inside" and "outside".
    image : ndarray of ``labels.shape``, optional
        Intensities, with ``intensity_range``.
    intensity_range : (low, high), optional
        Also limit the area to ``low <= image <= high`` (inclusive, intensity units).
    locked : sequence of int
        Label values whose voxels are never editable.

    Returns
    -------
    editable : bool ndarray of ``labels.shape``

    Raises
    ------
    ValueError
        An unknown mode, a missing or absent ``label``, a range without an image (or the
        reverse), ``low > high``, or an image of another shape.

    Examples
    --------
    >>> labels = np.array([[0, 1, 1, 2]])
    >>> editable_area(labels, mode="outside", label=1).astype(int)
    array([[1, 0, 0, 1]])
    >>> image = np.array([[5, 10, 20, 30]])
    >>> editable_area(labels, image=image, intensity_range=(8, 25), locked=[2]).astype(int)
    array([[0, 1, 1, 0]])
    """
    labels = label_map(labels)
    check_choice(mode, "mode", EDITABLE_MODES)
    if mode in ("inside", "outside"):
        if label is None:
            raise ValueError(f"`label` is required when mode={mode!r}")
        inside = labels == check_value(labels, label, "label")
        area = inside if mode == "inside" else ~inside
    elif mode == "empty":
        area = labels == 0
    else:
        area = np.ones(labels.shape, bool)
    if (image is None) != (intensity_range is None):
        raise ValueError("`image` and `intensity_range` must be given together")
    if image is not None and intensity_range is not None:
        data = check_image(image, "image")
        check_same_shape(labels, data, ("labels", "image"))
        try:
            low, high = intensity_range
        except (TypeError, ValueError):
            raise TypeError(
                f"`intensity_range` must be (low, high); got {intensity_range!r:.80}"
            ) from None
        low = check_bound(low, "intensity_range")
        high = check_bound(high, "intensity_range")
        if not low <= high:
            raise ValueError(f"`intensity_range` must have low <= high; got ({low}, {high})")
        area &= (data >= low) & (data <= high)
    for value in check_locked(locked):
        area &= labels != value
    return area


def restrict(old: ArrayLike, new: ArrayLike, editable: ArrayLike | None) -> np.ndarray:
    """Return ``new`` where ``editable`` is set and ``old`` elsewhere (a new array).

    Parameters
    ----------
    old, new : int ndarray
        The label map before and after an edit (same shape).
    editable : bool ndarray or None
        The voxels that may change; None means every voxel.

    Returns
    -------
    labels : ndarray of ``old``'s shape and dtype

    Raises
    ------
    ValueError
        On a shape mismatch.

    Examples
    --------
    >>> restrict(np.array([[0, 0, 1]]), np.array([[2, 2, 2]]), np.array([[1, 0, 1]])).tolist()
    [[2, 0, 2]]
    """
    before = label_map(old, "old")
    after = label_map(new, "new")
    check_same_shape(before, after, ("old", "new"))
    mask = check_editable(editable, before)
    if mask is None:
        return after.astype(before.dtype, copy=True)
    return np.where(mask, after, before).astype(before.dtype, copy=False)
