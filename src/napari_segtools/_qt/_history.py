"""Every widget write into a Labels layer as one step of napari's own undo history."""

from __future__ import annotations

import numpy as np

__all__ = ["changed_message", "write_labels"]


def _holding_dtype(dtype: np.dtype, values: np.ndarray) -> np.dtype:
    """Return ``dtype``, or the smallest integer dtype holding both it and ``values``' range."""
    if values.size == 0:
        return dtype
    whole = np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_
    if not whole and not np.array_equal(values, np.round(values)):
        raise ValueError("new: label values must be whole numbers")
    low, high = int(values.min()), int(values.max())
    info = np.iinfo(dtype)
    if info.min <= low and high <= info.max:
        return dtype
    return np.result_type(dtype, np.min_scalar_type(low), np.min_scalar_type(high))


def _full_region(region, shape: tuple[int, ...]) -> tuple:
    """Return ``region`` (ints, slices; leading axes) as an int or (start, stop, step) per axis."""
    region = () if region is None else region if isinstance(region, tuple) else (region,)
    if len(region) > len(shape):
        raise ValueError(f"region: {len(region)} indices for a {len(shape)}-D layer")
    full = []
    for key, n in zip(region + (slice(None),) * (len(shape) - len(region)), shape, strict=True):
        if isinstance(key, slice):
            full.append(key.indices(n))
        elif isinstance(key, (int, np.integer)) and -n <= key < n:
            full.append(int(key) % n)
        else:
            raise ValueError(f"region: {key!r} is not a slice or an index within 0..{n - 1}")
    return tuple(full)


def _as_index(region: tuple) -> tuple:
    """Return the numpy index of a :func:`_full_region`."""
    return tuple(key if isinstance(key, int) else slice(*key) for key in region)


def write_labels(layer, new, *, region=None, editable=None) -> int:
    """Write ``new`` into Labels ``layer`` as one napari undo step; return the voxels changed.

    Only the voxels whose value differs are recorded (their indices and old values), so
    napari's Ctrl+Z (``layer.undo()``) restores the layer bit for bit and Ctrl+Shift+Z
    (``layer.redo()``) re-applies the write. A write that changes nothing adds no step.

    Parameters
    ----------
    layer : napari.layers.Labels
        Single-scale Labels layer written in place.
    new : array-like of int
        New label values: the layer's shape, or ``region``'s shape when ``region`` is given.
    region : tuple of int and slice, optional
        Basic numpy index of the part of the layer that ``new`` covers, leading axes first
        (e.g. ``(12,)`` for slice 12 of a volume; default: the whole layer).
    editable : array-like of bool, optional
        Same shape as ``new``; voxels where it is False keep their value.

    Returns
    -------
    int
        Number of voxels whose value changed.

    Notes
    -----
    When ``new`` holds values the layer's integer dtype cannot (e.g. 300 in a ``uint8``
    layer) the layer data is first widened to the smallest integer dtype holding both. That
    widening is not an undo step (undo restores the values, not the narrower dtype); earlier
    undo steps stay valid because they only store indices and values.
    """
    if getattr(layer, "multiscale", False):
        raise TypeError(f"layer: '{layer.name}' is multiscale; write into a single-scale layer")
    new = np.asarray(new)
    data = np.asarray(layer.data)
    region = _full_region(region, data.shape)
    old = data[_as_index(region)]
    if old.ndim == 0:
        raise ValueError("region: must keep at least one axis (use a slice, not only indices)")
    if new.shape != old.shape:
        raise ValueError(
            f"new: shape {new.shape} does not match the written region's shape {old.shape}"
        )
    changed = old != new
    if editable is not None:
        editable = np.asarray(editable, dtype=bool)
        if editable.shape != new.shape:
            raise ValueError(f"editable: shape {editable.shape} does not match new {new.shape}")
        changed &= editable
    local = np.nonzero(changed)
    count = int(local[0].size)
    if count == 0:
        return 0
    values = new[local]
    dtype = _holding_dtype(data.dtype, values)
    if dtype != data.dtype:
        layer.data = data.astype(dtype)
    # napari keeps these index arrays in its history: uint16 instead of int64 takes a full-volume
    # MNI152 GM+WM write (1.7 M voxels changed) from 42 to 13 MiB per undo step (measured)
    index_dtype = np.uint16 if max(data.shape) <= 65536 else np.intp
    kept = iter(local)  # one array per axis that the region keeps (its slices)
    indices = tuple(
        np.full(count, key, index_dtype)
        if isinstance(key, int)
        else (key[0] + next(kept) * key[2]).astype(index_dtype, copy=False)
        for key in region
    )
    with layer.block_history():
        layer.data_setitem(indices, values.astype(dtype, copy=False))
    return count


def changed_message(count: int) -> str:
    """Return the status text for a write that changed ``count`` voxels."""
    if count == 0:
        return "no voxel changed"
    return f"{count:,} voxel{'s' if count != 1 else ''} changed (Ctrl+Z undoes)".replace(",", " ")
