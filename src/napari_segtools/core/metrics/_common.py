"""Input checks and the empty-mask policy shared by every metric function."""

from __future__ import annotations

import numpy as np

from .._validate import check_mask, check_same_shape, check_spacing
from ..geometry import Spacing

EMPTY_POLICIES = {
    "nan": (
        "nan: a value that is undefined (0/0, or a distance to an empty surface) is NaN and "
        "left out of the means, whose not-NaN counts are reported"
    ),
    "worst": (
        "worst: when exactly one of reference/prediction is empty, every undefined value takes "
        "the metric's worst value (0 for ratios, -1 for MCC, the image diagonal for distances); "
        "both empty stays NaN"
    ),
}

#: What a result computed with ``spacing=None`` says about its units.
VOXEL_UNITS_NOTE = (
    "spacing=None: distances are in voxel units (voxel edge = 1) and volumes in voxels, "
    "not mm; pass the image spacing for physical units"
)


def _any_ndim(array) -> tuple[int, ...]:
    return (max(np.ndim(array), 1),)


def check_pair(
    reference, prediction, spacing, *, ndims: tuple[int, ...] | None = (2, 3)
) -> tuple[np.ndarray, np.ndarray, Spacing | None]:
    """Return (reference, prediction) as bool masks and spacing as a tuple, or ``None``.

    ``ndims=None`` accepts masks of any dimension (1-D label vectors included).
    """
    ref = check_mask(reference, "reference", ndims=ndims or _any_ndim(reference))
    pred = check_mask(prediction, "prediction", ndims=ndims or _any_ndim(prediction))
    check_same_shape(ref, pred)
    if spacing is not None:
        spacing = check_spacing(spacing, ref.ndim, array_name="reference")
    return ref, pred, spacing


def unit_spacing(spacing, ndim: int) -> tuple[float, ...]:
    """Return ``spacing`` as floats, or all ones (voxel units) when it is ``None``."""
    return (1.0,) * ndim if spacing is None else tuple(float(s) for s in spacing)


def length_unit(spacing) -> str:
    """Return the unit of distances: ``"mm"``, or ``"voxel"`` when ``spacing`` is None."""
    return "voxel" if spacing is None else "mm"


def diagonal(shape: tuple[int, ...], spacing) -> float:
    """Return the length of the image diagonal in mm (voxel units when ``spacing`` is None)."""
    s = np.asarray(unit_spacing(spacing, len(shape)))
    return float(np.sqrt(np.sum((np.asarray(shape) * s) ** 2)))


def empty_case(ref_voxels: int, pred_voxels: int) -> str:
    """Return ``"both_empty"``, ``"reference_empty"``, ``"prediction_empty"`` or ``"ok"``."""
    if ref_voxels == 0 and pred_voxels == 0:
        return "both_empty"
    if ref_voxels == 0:
        return "reference_empty"
    if pred_voxels == 0:
        return "prediction_empty"
    return "ok"


def apply_empty(value: float, case: str, empty: str, worst: float) -> float:
    """Replace an undefined (NaN or infinite) ``value`` according to the empty policy."""
    value = float(value)
    if np.isfinite(value):
        return value
    if empty == "worst" and case in ("reference_empty", "prediction_empty"):
        return float(worst)
    return float("nan")
