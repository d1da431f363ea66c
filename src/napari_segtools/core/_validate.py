"""Input checks shared by every public core function.

Each helper raises ``ValueError`` (bad value or shape) or ``TypeError`` (bad dtype) with a message
that names the argument, the rule, and what was received.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .geometry import Geometry, Spacing

#: the largest voxel size accepted (mm): beyond it distances overflow, and no scanner makes it
MAX_SPACING_MM = 1e6


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
    if not all(np.isfinite(v) and 0 < v <= MAX_SPACING_MM for v in values):
        raise ValueError(
            f"`{name}` must be positive finite millimetres (at most {MAX_SPACING_MM:g}); "
            f"got {values}"
        )
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
    """Return seeds as an (N, ndim) int array of voxel indices inside ``shape``.

    Text, None, complex and NaN or infinite coordinates are refused.
    """
    arr = np.asarray(seeds) if seeds is not None else np.asarray(None)
    if (
        arr.dtype == object
        or not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number))
        or np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise TypeError(
            f"`{name}` must be an (N, {len(shape)}) array of voxel indices (numbers); "
            f"got {seeds!r:.80}"
        )
    arr = arr.astype(float)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"`{name}` must be finite voxel indices; got NaN or infinite values")
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
    """Return ``value`` if it is one of ``choices``, else a clear ``TypeError``/``ValueError``."""
    options = ", ".join(str(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be one of {options}; got {value!r:.80}")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {options}; got {value!r}")
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


def check_max_fraction(max_fraction, name: str = "max_fraction") -> float | None:
    """Return the leak-guard fraction of the image in (0, 1], ``None`` meaning no guard."""
    if max_fraction is None:
        return None
    value = check_finite(max_fraction, name, "a fraction in (0, 1] or None")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"`{name}` must lie in (0, 1] or be None; got {max_fraction!r}")
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


# ---- atlas / fusion / U-Net validators (appended block; check_integer and check_choice,
# shared with thresholding, are defined further down) -----------------------------------------
def check_number(
    value, name: str, *, low: float | None = None, high: float | None = None, open_low=False
) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` (``(low, high]`` if ``open_low``)."""
    if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
        raise TypeError(f"`{name}` must be a number; got {value!r}")
    number = check_finite(value, name)
    below = low is not None and (number <= low if open_low else number < low)
    if below or (high is not None and number > high):
        if high is None:
            rule = f"be {'>' if open_low else '>='} {low:g}"
        elif low is None:
            rule = f"be <= {high:g}"
        else:
            rule = f"lie in {'(' if open_low else '['}{low:g}, {high:g}]"
        raise ValueError(f"`{name}` must {rule}; got {value!r}")
    return number


def check_flag(value, name: str) -> bool:
    """Return ``value`` as a bool; only bools (and the ints 0 and 1) are accepted."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (int, np.integer)) and value in (0, 1)
    ):
        return bool(value)
    raise TypeError(f"`{name}` must be True or False; got {value!r}")


def compact_labels(maps, name: str = "label_maps") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ids, compact)``: the label ids present (0 first) and their stacked index image.

    ``ids[compact] == maps``; ids up to ``2**64 - 1`` keep their exact value: ``ids`` is uint64
    when an id does not fit int64, else int64.
    """
    wide = any(m.dtype == np.uint64 for m in maps)
    dtype = np.uint64 if wide else np.int64
    stacked = np.stack([np.asarray(m).astype(dtype, copy=False) for m in maps])
    ids, inverse = np.unique(
        np.concatenate([np.zeros(1, dtype), stacked.ravel()]), return_inverse=True
    )
    if not wide and ids[-1] <= np.iinfo(np.int64).max:
        ids = ids.astype(np.int64)
    index_dtype = np.uint16 if len(ids) <= np.iinfo(np.uint16).max else np.int64
    return ids, inverse[1:].reshape(stacked.shape).astype(index_dtype)


# --- thresholding and clean-up validators (threshold, cleanup, threshold_pipeline) -----------


def check_integer(value, name: str, *, minimum: int | None = None, maximum: int | None = None):
    """Return ``value`` as a Python int in ``[minimum, maximum]``, else a clear error.

    Integral floats (``3.0``) are accepted; bools, text, None, arrays and fractions are not.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be an integer; got {value!r}")
    if isinstance(value, (int, np.integer)):
        number = int(value)
    else:
        try:
            real = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"`{name}` must be an integer; got {value!r}") from None
        if not np.isfinite(real) or real != int(real):
            raise ValueError(f"`{name}` must be a finite integer; got {value!r}")
        number = int(real)
    if minimum is not None and number < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}; got {number}")
    return number


def check_bound(value, name: str):
    """Return an intensity bound: a Python int kept exact, or a float; ±inf allowed, NaN not."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be a number (intensity units); got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number (intensity units); got {value!r}") from None
    if np.isnan(number):
        raise ValueError(f"`{name}` must be a number, not NaN")
    return number


def native_order(arr: np.ndarray) -> np.ndarray:
    """Return ``arr`` in the machine's byte order (a copy only when it is foreign)."""
    if arr.dtype.byteorder not in ("=", "|"):
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


# --- end of thresholding and clean-up validators ---------------------------------------------
