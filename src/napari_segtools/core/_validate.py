"""Input checks shared by every public core function.

Each helper raises ``ValueError`` (bad value or shape) or ``TypeError`` (bad dtype) with a message
that names the argument, the rule, and what was received.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .geometry import Geometry, Spacing


def _describe(arr: np.ndarray) -> str:
    return f"{arr.ndim}-D array of shape {arr.shape} and dtype {arr.dtype}"


def check_image(
    image, name: str = "image", *, ndims=(2, 3), allow_nan: bool = False
) -> np.ndarray:
    """Return ``image`` as a real-valued ndarray after checking dimensionality and values."""
    arr = np.asarray(image)
    if arr.ndim not in ndims:
        raise ValueError(
            f"`{name}` must be {' or '.join(f'{d}-D' for d in ndims)}; got a {_describe(arr)}"
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"`{name}` must hold integer or float intensities; got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape})")
    if not allow_nan and np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(
            f"`{name}` contains {bad} NaN or infinite values; fill or mask them first"
        )
    return arr


def check_labels(labels, name: str = "labels", *, ndims=(2, 3)) -> np.ndarray:
    """Return ``labels`` as a non-negative integer ndarray (bool is accepted and kept)."""
    arr = np.asarray(labels)
    if arr.ndim not in ndims:
        raise ValueError(
            f"`{name}` must be {' or '.join(f'{d}-D' for d in ndims)}; got a {_describe(arr)}"
        )
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise TypeError(
                f"`{name}` must hold integer label ids; got non-integer {arr.dtype} values"
            )
        arr = arr.astype(np.int64)
    elif not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"`{name}` must be an integer or bool label image; got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"`{name}` has negative label ids (min {arr.min()}); labels must be >= 0")
    return arr


def check_mask(mask, name: str = "mask", *, ndims=(2, 3)) -> np.ndarray:
    """Return ``mask`` as a bool ndarray; any non-zero value counts as foreground."""
    return check_labels(mask, name, ndims=ndims).astype(bool, copy=False)


def _real(value) -> float:
    """Return a real number as float; strings, bools and None are a ``TypeError``."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TypeError(value)
    return float(value)


def check_spacing(
    spacing, ndim: int, name: str = "spacing", *, array_name: str = "image"
) -> Spacing:
    """Return ``spacing`` as a tuple of ``ndim`` positive finite floats (mm).

    A single number means the same spacing on every axis.
    """
    if isinstance(spacing, (int, float, np.number)) and not isinstance(spacing, bool):
        spacing = (spacing,) * ndim
    try:
        values = tuple(_real(s) for s in spacing)
    except TypeError:
        raise TypeError(
            f"`{name}` must be {ndim} numbers (mm, numpy axis order); got {spacing!r}"
        ) from None
    if len(values) != ndim:
        raise ValueError(f"`{name}` has {len(values)} values but `{array_name}` is {ndim}-D")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"`{name}` must be positive finite millimetres; got {values}")
    return values


def check_same_shape(
    a: np.ndarray, b: np.ndarray, names: Sequence[str] = ("reference", "prediction")
):
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"`{names[0]}` has shape {a.shape} but `{names[1]}` has shape {b.shape}; "
            "they must lie on the same voxel grid (resample one onto the other first)"
        )


def check_seeds(seeds, shape: tuple[int, ...], name: str = "seeds") -> np.ndarray:
    """Return seeds as an (N, ndim) int array of voxel indices inside ``shape``."""
    arr = np.asarray(seeds, dtype=float)
    if arr.ndim == 1 and arr.size == len(shape):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != len(shape) or len(arr) == 0:
        raise ValueError(
            f"`{name}` must be an (N, {len(shape)}) array of voxel indices; got shape {arr.shape}"
        )
    idx = np.round(arr).astype(np.int64)
    for i, point in enumerate(idx):
        if (point < 0).any() or (point >= np.asarray(shape)).any():
            raise ValueError(
                f"seed {i} at {tuple(int(p) for p in point)} lies outside image shape "
                f"{tuple(shape)}"
            )
    return idx


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` unless it is not one of ``choices`` (then ``ValueError``)."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {sorted(choices)}; got {value!r}")
    return value


def check_connectivity(connectivity, ndim: int) -> int:
    """Return ``connectivity`` as an int in ``1..ndim`` (1 = face neighbours, ndim = all)."""
    if isinstance(connectivity, bool) or not isinstance(connectivity, (int, np.integer)):
        raise TypeError(f"`connectivity` must be an integer 1..{ndim}; got {connectivity!r}")
    if not 1 <= connectivity <= ndim:
        raise ValueError(
            f"`connectivity` must be 1 (face neighbours) to {ndim} (all neighbours) for a "
            f"{ndim}-D image; got {connectivity}"
        )
    return int(connectivity)


def check_max_fraction(max_fraction) -> float | None:
    """Return the leak-guard fraction of the image, ``None`` meaning no guard."""
    if max_fraction is None:
        return None
    value = float(max_fraction)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"`max_fraction` must lie in (0, 1] or be None; got {max_fraction!r}")
    return value


def check_geometry(
    geometry, ndim: int, name: str = "geometry", *, array_name: str = "image"
) -> Geometry:
    """Return ``geometry`` after checking it is a :class:`Geometry` fitting a ``ndim``-D array."""
    if not isinstance(geometry, Geometry):
        raise TypeError(
            f"`{name}` must be a Geometry(spacing, origin, direction) in mm, e.g. "
            f"Geometry(spacing={(1.0,) * ndim}); got {type(geometry).__name__}"
        )
    if geometry.ndim != ndim:
        raise ValueError(f"`{name}` has {geometry.ndim} axes but `{array_name}` is {ndim}-D")
    check_spacing(geometry.spacing, ndim, f"{name}.spacing", array_name=array_name)
    d = geometry.direction
    if not np.allclose(d.T @ d, np.eye(ndim), atol=1e-4):
        raise ValueError(
            f"`{name}.direction` must be orthonormal (a rotation, possibly with flips); a "
            "sheared or scaled matrix cannot describe a voxel grid's axes"
        )
    return geometry


def check_finite(value, name: str, rule: str = "a finite number") -> float:
    """Return ``value`` as a finite float, else raise ``ValueError`` naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise ValueError(f"`{name}` must be {rule}; got {value!r}")
    return number


def check_percentile(value, name: str = "percentile") -> float:
    """Return ``value`` as a float in [0, 100], else raise ``ValueError`` naming it."""
    number = check_finite(value, name, "a percentile in [0, 100]")
    if not 0 <= number <= 100:
        raise ValueError(f"`{name}` must lie in [0, 100]; got {value!r}")
    return number


def check_distance(value, name: str) -> float:
    """Return ``value`` as a finite float >= 0, else raise ``ValueError`` naming it."""
    number = check_finite(value, name, "a finite distance >= 0")
    if number < 0:
        raise ValueError(f"`{name}` must be a finite distance >= 0; got {value!r}")
    return number


def check_beta(value) -> float:
    """Return the F-beta ``beta`` as a positive float, else raise ``ValueError``."""
    number = check_finite(value, "beta", "a positive number")
    if number <= 0:
        raise ValueError(f"`beta` must be a positive number; got {value!r}")
    return number
