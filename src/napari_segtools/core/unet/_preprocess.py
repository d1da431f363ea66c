"""Pre- and post-processing shared by training and inference: orientation, intensity, resampling.

**Orientation.** A model sees arrays in the *canonical* orientation: numpy axis ``k`` runs along
physical axis ``k`` (numpy order, i.e. ITK's z, y, x = superior, posterior, left in LPS) in the
positive direction. :func:`to_canonical` gets there from any direction matrix by permuting and
flipping axes (the nearest 90-degree orientation; a residual oblique tilt is left as is, the
rotation augmentation of training covers small tilts). With no direction the array is assumed to
be canonical already.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..geometry import Spacing

NORMALIZATIONS = ("zscore", "percentile", "ct_window")
#: how inference pads an image smaller than the window (after normalisation): repeat the border
#: voxels, constant at each channel's minimum, mirror, or constant 0 (the mean of a z-scored
#: image, which the network reads as tissue next to the border)
PADDING_MODES = ("edge", "minimum", "reflect", "constant")
#: how a prediction mask meets the normalisation (the config's ``normalization.masked``):
#: "inside" takes the statistics from the voxels inside the mask and keeps the image around it as
#: context; "stripped" is for a model trained on images whose background is empty (a
#: skull-stripped brain): outside the mask the image is set to its minimum, then normalised over
#: the whole window as in training
MASKED_NORMALIZATIONS = ("inside", "stripped")


def canonical_axes(
    direction: np.ndarray | None, ndim: int
) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Axis permutation and per-axis flips that bring an array to the canonical orientation.

    Parameters
    ----------
    direction : (D, D) float ndarray or None
        Direction cosines in numpy axis order; column ``j`` is the physical direction of numpy
        axis ``j`` (the ``Geometry.direction`` convention).
    ndim : int
        Number of spatial axes.

    Returns
    -------
    perm : tuple of int
        ``array.transpose(perm)`` puts the axis along physical axis ``k`` at position ``k``.
    flips : tuple of bool
        After transposing, flip axis ``k`` when it runs in the negative direction.

    Raises
    ------
    ValueError
        If ``direction`` has the wrong shape or two axes share a dominant physical direction.
    """
    if direction is None:
        return tuple(range(ndim)), (False,) * ndim
    d = np.asarray(direction, float)
    if d.shape != (ndim, ndim):
        raise ValueError(f"`direction` must be a ({ndim}, {ndim}) matrix; got shape {d.shape}")
    dominant = np.abs(d).argmax(axis=0)  # physical axis of each numpy axis
    if sorted(dominant.tolist()) != list(range(ndim)):
        raise ValueError(f"`direction` {d.tolist()} is too oblique to map axes to physical axes")
    perm = tuple(int(np.where(dominant == k)[0][0]) for k in range(ndim))
    flips = tuple(bool(d[k, perm[k]] < 0) for k in range(ndim))
    return perm, flips


def to_canonical(array: np.ndarray, perm, flips, *, leading: int = 0) -> np.ndarray:
    """Apply :func:`canonical_axes`' result to the spatial axes after ``leading`` channel axes."""
    out = array.transpose(*range(leading), *(leading + p for p in perm))
    flip_axes = tuple(leading + k for k, f in enumerate(flips) if f)
    return np.flip(out, flip_axes) if flip_axes else out


def from_canonical(array: np.ndarray, perm, flips, *, leading: int = 0) -> np.ndarray:
    """Undo :func:`to_canonical`."""
    flip_axes = tuple(leading + k for k, f in enumerate(flips) if f)
    out = np.flip(array, flip_axes) if flip_axes else array
    inverse = np.argsort(perm)
    return out.transpose(*range(leading), *(leading + int(p) for p in inverse))


def check_normalization(spec: dict) -> dict:
    """Validate an intensity-normalisation spec (the config's ``"normalization"`` entry)."""
    method = spec.get("method") if isinstance(spec, dict) else None
    if method not in NORMALIZATIONS:
        raise ValueError(
            f"`normalization.method` must be one of {NORMALIZATIONS}; got {method!r} "
            '(e.g. {"method": "percentile", "lower": 0.5, "upper": 99.5})'
        )
    need = {"percentile": ("lower", "upper"), "ct_window": ("center", "width")}.get(method, ())
    missing = [k for k in need if not isinstance(spec.get(k), (int, float))]
    if missing:
        raise ValueError(f"`normalization` method {method!r} needs numbers for {missing}")
    if spec.get("masked", "inside") not in MASKED_NORMALIZATIONS:
        raise ValueError(
            f"`normalization.masked` must be one of {MASKED_NORMALIZATIONS}; "
            f"got {spec.get('masked')!r}"
        )
    return spec


def normalize(image: np.ndarray, spec: dict, *, where: np.ndarray | None = None) -> np.ndarray:
    """Float32 copy of one channel normalised as ``spec`` says.

    - ``zscore``: subtract the mean, divide by the standard deviation (all voxels);
    - ``percentile``: clip to the ``lower``/``upper`` percentiles, scale to [0, 1];
    - ``ct_window``: clip to ``center`` +- ``width``/2 (HU), scale to [0, 1].

    ``where`` (bool, the image's shape, not empty): take the mean, deviation or percentiles
    from these voxels only (a prediction mask); every voxel is still normalised.
    """
    x = np.asarray(image, np.float32)
    sample = x if where is None else x[where]
    method = spec["method"]
    if method == "zscore":
        out = (x - sample.mean()) / max(float(sample.std()), 1e-8)
        return out.astype(np.float32, copy=False)
    if method == "percentile":
        lo, hi = np.percentile(sample, [spec["lower"], spec["upper"]])
    else:
        lo, hi = spec["center"] - spec["width"] / 2, spec["center"] + spec["width"] / 2
    out = (np.clip(x, lo, hi) - lo) / max(float(hi - lo), 1e-8)
    return out.astype(np.float32, copy=False)


def resampled_shape(shape: Sequence[int], spacing: Spacing, target: Spacing) -> tuple[int, ...]:
    """Grid size covering the same extent as ``shape`` x ``spacing`` at ``target`` spacing."""
    return tuple(
        max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target, strict=True)
    )


def resample(
    array: np.ndarray, shape: Sequence[int], *, order: int, leading: int = 0
) -> np.ndarray:
    """Resample the spatial axes (after ``leading`` ones) to ``shape``, voxel edges aligned.

    ``order=1`` is linear (images, probabilities); ``order=0`` nearest (labels, never
    interpolated).
    """
    from scipy import ndimage

    spatial = array.shape[leading:]
    if tuple(spatial) == tuple(shape):
        return array
    factors = (1.0,) * leading + tuple(n / m for n, m in zip(shape, spatial, strict=True))
    dtype = array.dtype if order == 0 else np.float32
    return ndimage.zoom(
        np.asarray(array, dtype), factors, order=order, grid_mode=True, mode="nearest"
    )
