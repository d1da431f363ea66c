"""Evaluation panel inputs: two Labels layers -> arrays on one grid (layer <-> array glue only).

The name pairing, the error map and the worker steps live in
:mod:`napari_segtools.core.metrics.workflow` and :mod:`napari_segtools.core.metrics.maps`; the
grid comparison is :func:`napari_segtools.core.geometry.grid_differences`.
"""

from __future__ import annotations

import numpy as np

from ..core.geometry import grid_differences, layer_geometry, resample_labels_nearest
from ..core.metrics.workflow import EvaluationInputs


def _differences(reference, prediction) -> list[str]:
    return grid_differences(
        layer_geometry(reference),
        layer_geometry(prediction),
        reference.data.shape,
        prediction.data.shape,
    )


def declares_mm(layer) -> bool:
    """Whether the layer's scale is a declared grid in mm (read from a file or a sample).

    The reader and the samples record ``metadata["spacing_unit"] = "mm"``; a scale of 1 is then
    a real 1 mm grid, not napari's default.
    """
    return layer.metadata.get("spacing_unit") == "mm"


def pair_problem(reference, prediction, *, resample: bool) -> tuple[str, str]:
    """Say why two Labels layers cannot be evaluated together, and what will be done to them.

    Returns ``(problem, note)``, each ``""`` when there is none: 2-D against 3-D, other than
    2-D/3-D, grids that differ while ``resample`` is False, or a rotated or sheared layer
    (only axis-aligned grids are resampled here) are problems; resampling and a scale of 1 on
    every axis that no file or sample declared (distances then assume 1 mm voxels) are notes.
    """
    ref_name, pred_name = reference.name, prediction.name
    if reference.ndim != prediction.ndim:
        return (
            f"'{ref_name}' is {reference.ndim}-D but '{pred_name}' is {prediction.ndim}-D; "
            "compare a 2-D layer only with a 2-D layer and a 3-D one with a 3-D one"
        ), ""
    if reference.ndim not in (2, 3):
        return f"only 2-D or 3-D layers can be evaluated; '{ref_name}' is {reference.ndim}-D", ""
    diffs = _differences(reference, prediction)
    if diffs and not resample:
        return f"'{ref_name}' and '{pred_name}' lie on different grids: " + "; ".join(diffs), ""
    aligned = (
        layer_geometry(reference).is_axis_aligned and layer_geometry(prediction).is_axis_aligned
    )
    if diffs and not aligned:
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
    if np.allclose(layer_geometry(reference).spacing, 1.0) and not declares_mm(reference):
        notes.append(f"'{ref_name}' has scale 1: distances are mm only if its voxels are 1 mm.")
    return "", "\n".join(notes)


def prepare_inputs(reference, prediction, *, resample: bool) -> EvaluationInputs:
    """Arrays and spacing for :func:`~napari_segtools.metrics.evaluate` from two Labels layers.

    The arrays are copies, so painting during the evaluation cannot change what is measured.

    Parameters
    ----------
    reference, prediction : napari Labels layers
        The layer taken as the truth and the layer scored against it.
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
    ref, ref_geom = np.asarray(reference.data), layer_geometry(reference)
    pred, pred_geom = np.asarray(prediction.data), layer_geometry(prediction)
    if not _differences(reference, prediction):
        return EvaluationInputs(ref.copy(), pred.copy(), ref_geom.spacing, note)
    resampled = resample_labels_nearest(pred, pred_geom, ref_geom, ref.shape)
    return EvaluationInputs(ref.copy(), resampled, ref_geom.spacing, note, pred_geom.spacing)
