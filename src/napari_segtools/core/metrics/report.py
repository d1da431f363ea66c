"""The evaluation report: per-label metric values, means over labels, warnings and settings."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Report columns, in display order.
METRIC_NAMES = (
    "tp", "fp", "fn", "tn", "accuracy", "precision", "recall", "specificity", "fbeta", "f1",
    "iou", "dice", "volume_similarity", "reference_volume", "prediction_volume",
    "hd", "hd95", "assd", "masd", "nsd", "cldice", "center_distance",
    "reference_components", "prediction_components",
)  # fmt: skip


@dataclass(frozen=True)
class PitfallWarning:
    """One metric pitfall found in a reference/prediction pair.

    ``pitfall`` is a stable key (``"holes"``, ``"misalignment"``, ``"small_structure"``,
    ``"empty_reference"``, ``"empty_prediction"``, ``"anisotropic_spacing"``,
    ``"resolution_mismatch"``, ``"over_segmentation"``, ``"under_segmentation"``,
    ``"component_count"``); ``severity`` is ``"info"``, ``"warning"`` or ``"critical"``.
    """

    label: int | None
    pitfall: str
    severity: str
    message: str
    look_at: str


@dataclass(frozen=True)
class EvaluationReport:
    """Result of :func:`napari_segtools.metrics.evaluate`.

    Attributes
    ----------
    per_label : dict[int, dict[str, float]]
        Metric name -> value for each evaluated label id.
    mean : dict[str, float]
        Mean over labels of each metric, undefined (NaN) values excluded.
    not_nan_count : dict[str, int]
        Number of labels that contributed to each mean.
    cases : dict[int, str]
        ``"both_empty"``, ``"reference_empty"``, ``"prediction_empty"`` or ``"ok"`` per label.
    units : dict[str, str]
        Unit of each metric: ``"mm"``, ``"mm^3"``, ``"voxels"``, ``"voxels^3"`` or ``""``.
    warnings : tuple of PitfallWarning
    settings : dict
        Every option used, with the stated surface convention.
    """

    per_label: dict[int, dict[str, float]]
    mean: dict[str, float]
    not_nan_count: dict[str, int]
    cases: dict[int, str]
    units: dict[str, str]
    warnings: tuple[PitfallWarning, ...] = ()
    settings: dict = field(default_factory=dict)
