"""Evaluation panel inputs: pick layers by name, bring the prediction onto the reference grid.

No Qt here: layers are read through their public attributes (data, scale, translate, affine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..core._geometry import resample_labels_nearest
from ..core._types import Spacing
from ._layers import layer_geometry, layer_to_array

_REFERENCE = re.compile(r"reference|ground[ _-]?truth|\bgt\b|manual", re.IGNORECASE)
_PREDICTION = re.compile(r"prediction|segmentation|\bpred\b|\bseg\b|automatic", re.IGNORECASE)


def default_reference(names: list[str]) -> str | None:
    """First name that reads like a reference (reference, ground truth, GT, manual)."""
    return next((n for n in names if _REFERENCE.search(n)), None)


def default_prediction(names: list[str], reference: str | None) -> str | None:
    """The prediction paired with ``reference`` by name, else the first prediction-like name.

    ``"liver reference"`` pairs with ``"liver prediction"`` (or ``"liver segmentation"``).
    """
    matches = [] if reference is None else list(_REFERENCE.finditer(reference))
    if matches:  # replace the last reference-like word: "empty reference reference" pairs too
        start, end = matches[-1].span()
        for word in ("prediction", "segmentation"):
            paired = reference[:start] + word + reference[end:]
            if paired in names:
                return paired
    return next((n for n in names if _PREDICTION.search(n) and n != reference), None)


@dataclass(frozen=True)
class EvaluationInputs:
    """Reference and prediction on one voxel grid, ready for the engine."""

    reference: np.ndarray
    prediction: np.ndarray
    spacing: Spacing
    #: what was done to reach one grid ("" when nothing was needed)
    note: str = ""
    #: spacing (mm) of the prediction before resampling; None when it was not resampled
    prediction_spacing: Spacing | None = None


def grid_differences(reference, prediction) -> list[str]:
    """Human-readable differences between two layers' voxel grids (empty when identical)."""
    diffs = []
    pairs = [
        ("shape", reference.data.shape, prediction.data.shape),
        ("scale (mm)", tuple(reference.scale), tuple(prediction.scale)),
        ("translate (mm)", tuple(reference.translate), tuple(prediction.translate)),
    ]
    for what, ref, pred in pairs:
        if what == "shape":
            same = ref == pred
        else:
            same = np.allclose(ref, pred, rtol=1e-6, atol=1e-6)
        if not same:
            diffs.append(f"{what} {_fmt(ref)} vs {_fmt(pred)}")
    if not np.allclose(reference.affine.affine_matrix, prediction.affine.affine_matrix):
        diffs.append("affine transform")
    return diffs


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def pair_problem(reference, prediction, *, resample: bool) -> tuple[str, str]:
    """Why two Labels layers cannot be evaluated together, and what will be done to them.

    Returns ``(problem, note)``, each ``""`` when there is none: 2-D against 3-D, other than
    2-D/3-D, grids that differ while ``resample`` is False, or a rotated or sheared layer
    (only axis-aligned grids are resampled here) are problems; resampling and a scale of 1 on
    every axis (distances then assume 1 mm voxels) are notes.
    """
    ref_name, pred_name = reference.name, prediction.name
    if reference.ndim != prediction.ndim:
        return (
            f"'{ref_name}' is {reference.ndim}-D but '{pred_name}' is {prediction.ndim}-D; "
            "compare a 2-D layer only with a 2-D layer and a 3-D one with a 3-D one"
        ), ""
    if reference.ndim not in (2, 3):
        return f"only 2-D or 3-D layers can be evaluated; '{ref_name}' is {reference.ndim}-D", ""
    diffs = grid_differences(reference, prediction)
    if diffs and not resample:
        return f"'{ref_name}' and '{pred_name}' lie on different grids: " + "; ".join(diffs), ""
    rotated = not (layer_geometry(reference).is_axis_aligned and
                   layer_geometry(prediction).is_axis_aligned)  # fmt: skip
    if diffs and ("affine transform" in diffs or rotated):
        return (
            f"'{pred_name}' cannot be resampled onto '{ref_name}': rotated or sheared layers "
            "are not supported; resample them with the atlas tools first"
        ), ""
    notes = []
    if diffs:
        notes.append(
            f"'{pred_name}' is resampled (nearest neighbour) onto the grid of '{ref_name}': "
            + "; ".join(diffs)
        )
    if np.allclose(reference.scale, 1.0):
        notes.append(f"'{ref_name}' has scale 1: distances are mm only if its voxels are 1 mm.")
    return "", "\n".join(notes)


def prepare_inputs(reference, prediction, *, resample: bool) -> EvaluationInputs:
    """Arrays and spacing for :func:`~napari_segtools.metrics.evaluate` from two Labels layers.

    The arrays are copies, so painting during the evaluation cannot change what is measured.

    Parameters
    ----------
    reference, prediction : napari Labels layers
    resample : bool
        When the grids differ, resample the prediction onto the reference grid (nearest
        neighbour) instead of refusing.

    Raises
    ------
    ValueError
        With the message of :func:`pair_problem` when the pair cannot be evaluated.
    """
    problem, note = pair_problem(reference, prediction, resample=resample)
    if problem:
        raise ValueError(problem)
    ref, ref_geom = layer_to_array(reference)
    pred, pred_geom = layer_to_array(prediction)
    if not grid_differences(reference, prediction):
        return EvaluationInputs(ref.copy(), pred.copy(), ref_geom.spacing, note)
    resampled = resample_labels_nearest(pred, pred_geom, ref_geom, ref.shape)
    return EvaluationInputs(ref.copy(), resampled, ref_geom.spacing, note, pred_geom.spacing)


def error_map(reference: np.ndarray, prediction: np.ndarray, labels=None) -> np.ndarray:
    """Per-voxel outcome: 0 background, 1 true positive, 2 false positive, 3 false negative.

    Only the label ids in ``labels`` count (all non-zero ids when None). A voxel carrying
    different labels in the two maps counts as a false negative (the reference label was
    missed there).
    """
    if labels is None:
        ref_in, pred_in = reference > 0, prediction > 0
    else:
        ref_in, pred_in = np.isin(reference, labels), np.isin(prediction, labels)
    out = np.zeros(reference.shape, np.uint8)
    tp = ref_in & (prediction == reference)
    out[pred_in & ~tp] = 2
    out[ref_in & ~tp] = 3
    out[tp] = 1
    return out


def present_labels(*arrays: np.ndarray) -> list[int]:
    """Sorted non-zero label ids found in any of ``arrays``."""
    found: set[int] = set()
    for arr in arrays:
        if arr.dtype == bool:
            found.update([1] if arr.any() else [])
        elif arr.size and arr.max() < 2**16 and arr.min() >= 0:
            found.update(np.flatnonzero(np.bincount(arr.ravel().astype(np.intp))).tolist())
        else:
            found.update(np.unique(arr).tolist())
    found.discard(0)
    return sorted(int(v) for v in found)
