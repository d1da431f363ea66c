"""Segmentation metrics: exact to stated definitions, spacing-aware, fast.

``evaluate`` computes every metric of every label in one pass; each metric is also a plain
function of two masks, ``metric(reference, prediction, *, spacing=..., ...)``, with every option
keyword-only. Distance metrics take ``spacing`` as a required keyword (an explicit None means
voxel units). Surface metrics follow one of two stated conventions (``SURFACE_CONVENTIONS``)
and empty masks follow a stated policy (``EMPTY_POLICIES``). To derive several boundary metrics
from one distance computation, call :func:`compute_surface_distances` and the methods of the
:class:`SurfaceDistances` it returns.
"""

from ..cohort import (
    CohortSummary,
    CohortTable,
    PairedComparison,
    Ranking,
    compare_paired,
    higher_is_better,
    rank_methods,
    read_cohort_table,
    summarize,
)
from ._common import EMPTY_POLICIES
from .accumulate import MetricAccumulator
from .boundary import boundary_iou
from .calibration import (
    CALIBRATION_METRICS,
    CalibrationReport,
    ReliabilityBins,
    calibration,
    reliability_diagram,
)
from .evaluate import evaluate, iter_evaluate
from .instances import (
    INSTANCE_MATCHINGS,
    INSTANCE_PRESETS,
    STATUS_CODES,
    InstanceReport,
    evaluate_instances,
    iter_evaluate_instances,
)
from .overlap import (
    Confusion,
    accuracy,
    cohen_kappa,
    confusion_matrix,
    dice,
    f1_score,
    fbeta_score,
    jaccard,
    matthews_correlation,
    pixel_accuracy,
    precision,
    recall,
    specificity,
    volume_similarity,
)
from .pitfalls import PitfallThresholds
from .raters import (
    RaterAgreement,
    RaterScores,
    Repeatability,
    rater_agreement,
    repeatability,
    score_against_raters,
)
from .report import (
    METRIC_NAMES,
    EvaluationReport,
    PitfallWarning,
    hd_key,
    metric_names,
    write_report,
)
from .surface import (
    HD_VARIANTS,
    SURFACE_CONVENTIONS,
    SurfaceDistances,
    average_symmetric_surface_distance,
    compute_surface_distances,
    hausdorff_distance,
    mean_average_surface_distance,
    normalized_surface_distance,
)
from .topology import center_distance, cldice

__all__ = [
    "EMPTY_POLICIES",
    "METRIC_NAMES",
    "SURFACE_CONVENTIONS",
    "Confusion",
    "EvaluationReport",
    "MetricAccumulator",
    "PitfallThresholds",
    "PitfallWarning",
    "SurfaceDistances",
    "evaluate",
    "iter_evaluate",
    "hd_key",
    "metric_names",
    "write_report",
    "confusion_matrix",
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "fbeta_score",
    "f1_score",
    "jaccard",
    "dice",
    "volume_similarity",
    "compute_surface_distances",
    "hausdorff_distance",
    "average_symmetric_surface_distance",
    "mean_average_surface_distance",
    "normalized_surface_distance",
    "cldice",
    "center_distance",
    # new in this release
    "HD_VARIANTS",
    "boundary_iou",
    "matthews_correlation",
    "pixel_accuracy",
    "cohen_kappa",
    # objects and lesions
    "INSTANCE_MATCHINGS",
    "INSTANCE_PRESETS",
    "STATUS_CODES",
    "InstanceReport",
    "evaluate_instances",
    "iter_evaluate_instances",
    # cohorts
    "CohortTable",
    "CohortSummary",
    "PairedComparison",
    "Ranking",
    "read_cohort_table",
    "higher_is_better",
    "summarize",
    "compare_paired",
    "rank_methods",
    # raters and calibration
    "RaterAgreement",
    "RaterScores",
    "Repeatability",
    "rater_agreement",
    "repeatability",
    "score_against_raters",
    "CALIBRATION_METRICS",
    "CalibrationReport",
    "ReliabilityBins",
    "calibration",
    "reliability_diagram",
]

#: Old public names kept one release; each warns FutureWarning and names its replacement.
DEPRECATED_NAMES = (
    "compute_hausdorff",
    "compute_assd",
    "compute_masd",
    "compute_nsd",
    "hausdorff_location",
)


def __getattr__(name: str):
    """Resolve a deprecated name (it warns when called); anything else is an AttributeError."""
    if name in DEPRECATED_NAMES:
        from . import surface

        return getattr(surface, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
