"""What the evaluation panel's worker computes: the report, the error map and one label's
boundary distances. No Qt here; the widget runs :func:`iter_evaluation` through run_generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core._types import Progress
from ..core.metrics.report import EvaluationReport
from ._evaluation_inputs import EvaluationInputs, error_map


@dataclass(frozen=True)
class BoundaryOverlay:
    """Boundary distances of one label and where its Hausdorff distance is attained."""

    label: int
    distances: object  # napari_segtools.metrics.SurfaceDistances
    hd_location: tuple[float, ...]  # voxel coordinates on the reference grid
    hd: float


@dataclass(frozen=True)
class EvaluationResult:
    """Everything one evaluation shows: report, error map and the overlay label's distances."""

    report: EvaluationReport
    error_map: np.ndarray | None  # None when overlays were not asked for
    overlay: BoundaryOverlay | None


def boundary_overlay(
    inputs: EvaluationInputs, label: int | None, surface: str
) -> BoundaryOverlay | None:
    """Distances between the boundaries of ``label`` in both maps; None when one is empty."""
    from napari_segtools.metrics import compute_surface_distances, hausdorff_location

    if label is None:
        return None
    ref = inputs.reference == label
    pred = inputs.prediction == label
    if not (ref.any() and pred.any()):
        return None
    sd = compute_surface_distances(ref, pred, spacing=inputs.spacing, surface=surface)
    location, distance = hausdorff_location(sd)
    return BoundaryOverlay(int(label), sd, tuple(float(c) for c in location), float(distance))


def iter_evaluation(
    inputs: EvaluationInputs, *, labels, overlay_label: int | None, overlays: bool, options: dict
):
    """Generator: yields Progress, returns an :class:`EvaluationResult`.

    ``options`` are :func:`~napari_segtools.metrics.evaluate` keywords (nsd_tolerance, beta,
    hd_percentile, surface, empty). The engine's per-label progress is passed on, then the
    error map and the overlay label's boundary distances follow (when ``overlays``).
    """
    from napari_segtools.metrics import iter_evaluate

    if inputs.prediction_spacing is not None:  # lets the engine flag a resolution mismatch
        options = {**options, "prediction_spacing": inputs.prediction_spacing}
    report = yield from iter_evaluate(
        inputs.reference, inputs.prediction, spacing=inputs.spacing, labels=labels, **options
    )
    n = len(report.per_label)
    if not overlays:
        return EvaluationResult(report, None, None)
    yield Progress(n, n + 2, "error map")
    errors = error_map(inputs.reference, inputs.prediction, list(report.per_label))
    yield Progress(n + 1, n + 2, "boundary distances")
    if overlay_label not in report.per_label:
        ok = [label for label, case in report.cases.items() if case == "ok"]
        overlay_label = ok[0] if ok else None
    overlay = boundary_overlay(inputs, overlay_label, options.get("surface", "voxel"))
    yield Progress(n + 2, n + 2, "done")
    return EvaluationResult(report, errors, overlay)


def iter_overlay(inputs: EvaluationInputs, label: int, surface: str):
    """Generator: yields Progress, returns the :class:`BoundaryOverlay` of one label (or None)."""
    yield Progress(0, 1, f"boundary distances of label {label}")
    overlay = boundary_overlay(inputs, label, surface)
    yield Progress(1, 1, "done")
    return overlay


def write_report(report: EvaluationReport, path, metadata: dict) -> Path:
    """Write ``report`` to ``path``: JSON for a ``.json`` suffix, else CSV.

    ``metadata`` (layer names, grid note) is recorded with the settings; the CSV also lists the
    warnings (label and pitfall) in its header, the JSON holds them in full.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        return report.to_json(path, metadata=metadata)
    warnings = [f"label {w.label}: {w.pitfall}" for w in report.warnings]
    return report.to_csv(path, metadata={**metadata, "warnings": warnings})
