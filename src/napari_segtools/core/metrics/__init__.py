"""Segmentation metrics: exact to stated definitions, spacing-aware, fast.

``evaluate`` computes every metric of every label in one pass; each metric is also a plain
function of two masks. Surface metrics follow one of two stated conventions
(``SURFACE_CONVENTIONS``) and empty masks follow a stated policy (``EMPTY_POLICIES``).
"""

from ._common import EMPTY_POLICIES
from .accumulate import MetricAccumulator
from .evaluate import evaluate, iter_evaluate
from .overlap import (
    Confusion,
    accuracy,
    confusion_matrix,
    dice,
    f1_score,
    fbeta_score,
    jaccard,
    precision,
    recall,
    specificity,
    volume_similarity,
)
from .pitfalls import PitfallThresholds
from .report import METRIC_NAMES, EvaluationReport, PitfallWarning
from .surface import (
    SURFACE_CONVENTIONS,
    SurfaceDistances,
    average_symmetric_surface_distance,
    compute_assd,
    compute_hausdorff,
    compute_masd,
    compute_nsd,
    compute_surface_distances,
    hausdorff_distance,
    hausdorff_location,
    mean_average_surface_distance,
    normalized_surface_distance,
)
from .topology import center_distance, cldice

__all__ = [
    "EMPTY_POLICIES", "METRIC_NAMES", "SURFACE_CONVENTIONS",
    "Confusion", "EvaluationReport", "MetricAccumulator", "PitfallThresholds", "PitfallWarning",
    "SurfaceDistances",
    "evaluate", "iter_evaluate",
    "confusion_matrix", "accuracy", "precision", "recall", "specificity", "fbeta_score",
    "f1_score", "jaccard", "dice", "volume_similarity",
    "compute_surface_distances", "hausdorff_location", "compute_hausdorff", "compute_assd",
    "compute_masd", "compute_nsd", "hausdorff_distance", "average_symmetric_surface_distance",
    "mean_average_surface_distance", "normalized_surface_distance",
    "cldice", "center_distance",
]  # fmt: skip
