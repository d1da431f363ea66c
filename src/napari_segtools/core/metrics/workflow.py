"""What the evaluation panel computes, without Qt: layer pairing by name and the worker steps.

The panel turns two layers into :class:`EvaluationInputs` and runs :func:`iter_evaluation`
(the report, then the error map and one label's boundary distances) in a worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._types import Progress, ProgressGenerator
from ..geometry import Spacing
from .evaluate import iter_evaluate
from .maps import BoundaryOverlay, boundary_overlay, error_map
from .report import EvaluationReport

_REFERENCE = re.compile(r"reference|ground[ _-]?truth|\bgt\b|manual", re.IGNORECASE)
_PREDICTION = re.compile(r"prediction|segmentation|\bpred\b|\bseg\b|automatic", re.IGNORECASE)
#: names of the plugin's own segmentations: ``"<image> threshold"``, ``"<image> U-Net"``,
#: ``"<image> region growing"``, ``"<target> atlas labels"``
_OUTPUT = re.compile(r"\s(threshold|u-?net|region growing|atlas labels)$", re.IGNORECASE)


def is_segmentation_output(name: str) -> bool:
    """Return whether ``name`` is one of the plugin's own segmentation outputs.

    Previews, probabilities and other by-products are not.

    Examples
    --------
    >>> [is_segmentation_output(n) for n in ("CT threshold", "CT threshold preview", "T1 U-Net")]
    [True, False, True]
    """
    return _OUTPUT.search(name) is not None


def default_reference(names: Sequence[str]) -> str | None:
    """Return the first name that reads like a reference (reference, ground truth, GT, manual).

    Examples
    --------
    >>> default_reference(["image", "liver seg", "liver GT"])
    'liver GT'
    """
    return next((n for n in names if _REFERENCE.search(n) and not is_segmentation_output(n)), None)


def _shared_words(a: str, b: str) -> int:
    """Count the leading words two names share ("MNI152 T1 x" and "MNI152 ref": 1)."""
    count = 0
    for x, y in zip(a.lower().split(), b.lower().split(), strict=False):
        if x != y:
            break
        count += 1
    return count


def default_prediction(names: Sequence[str], reference: str | None) -> str | None:
    """Return the prediction to pair with ``reference`` by name, or None.

    In order: the reference's name with its reference word replaced (``"liver reference"``
    pairs with ``"liver prediction"`` or ``"liver segmentation"``); the plugin's own output
    (see :func:`is_segmentation_output`) sharing the most leading words with the reference,
    the newest (last) on a tie; the first prediction-like name; any plugin output.

    Examples
    --------
    >>> default_prediction(["a prediction", "liver prediction"], "liver reference")
    'liver prediction'
    >>> names = ["MNI152 reference", "CT threshold", "MNI152 T1 threshold", "MNI152 T1 U-Net"]
    >>> default_prediction(names, "MNI152 reference")
    'MNI152 T1 U-Net'
    >>> default_prediction(["bone", "CT head threshold"], "bone")
    'CT head threshold'
    """
    matches = [] if reference is None else list(_REFERENCE.finditer(reference))
    if reference is not None and matches:  # replace the last reference-like word
        start, end = matches[-1].span()
        for word in ("prediction", "segmentation"):
            paired = reference[:start] + word + reference[end:]
            if paired in names:
                return paired
    others = [n for n in names if n != reference]
    outputs = [n for n in others if is_segmentation_output(n)]
    if reference is not None and outputs:
        best = max(_shared_words(n, reference) for n in outputs)
        if best > 0:
            return [n for n in outputs if _shared_words(n, reference) == best][-1]
    predicted = next((n for n in others if _PREDICTION.search(n)), None)
    if predicted is not None:
        return predicted
    return outputs[-1] if outputs else None


@dataclass(frozen=True)
class EvaluationInputs:
    """Reference and prediction on one voxel grid, ready for the engine.

    Attributes
    ----------
    reference, prediction : ndarray
        Label images of the same shape.
    spacing : tuple of float or None
        Voxel size in mm (None: voxel units).
    note : str
        What was done to reach one grid ("" when nothing was needed).
    prediction_spacing : tuple of float or None
        Spacing (mm) of the prediction before resampling; None when it was not resampled.
    """

    reference: np.ndarray
    prediction: np.ndarray
    spacing: Spacing | None
    note: str = ""
    prediction_spacing: Spacing | None = None


@dataclass(frozen=True)
class EvaluationOptions:
    """The options of one evaluation, under :func:`~napari_segtools.metrics.evaluate`'s names.

    Examples
    --------
    >>> EvaluationOptions(hd_percentile=90).as_kwargs()["hd_percentile"]
    90
    """

    nsd_tolerance_mm: float = 1.0
    beta: float = 1.0
    hd_percentile: float = 95
    hd_variant: str = "directed_max"
    boundary_band_mm: float = 1.0
    surface: str = "voxel"
    empty: str = "nan"
    cldice: bool = True
    #: pitfall detector thresholds as ``(name, value)`` pairs (see ``PitfallThresholds``)
    thresholds: tuple[tuple[str, float], ...] = ()

    def as_kwargs(self) -> dict:
        """Return the options as keyword arguments of ``evaluate`` (thresholds flattened).

        Examples
        --------
        >>> EvaluationOptions(thresholds=(("bias_ratio", 0.3),)).as_kwargs()["bias_ratio"]
        0.3
        """
        kwargs = asdict(self)
        kwargs.update(dict(kwargs.pop("thresholds")))
        return kwargs


@dataclass(frozen=True)
class EvaluationResult:
    """Everything one evaluation shows: report, error map and the overlay label's distances."""

    report: EvaluationReport
    #: None when overlays were not asked for
    error_map: np.ndarray | None
    overlay: BoundaryOverlay | None


def iter_evaluation(
    inputs: EvaluationInputs,
    *,
    labels: Sequence[int] | None = None,
    overlay_label: int | None = None,
    overlays: bool = True,
    options: EvaluationOptions | None = None,
) -> ProgressGenerator[EvaluationResult]:
    """Evaluate ``inputs``, then draw the error map and one label's boundary distances.

    The engine's per-label progress is passed on; with ``overlays`` the error map and the
    boundary distances of ``overlay_label`` (else the first label present in both maps)
    follow.

    Examples
    --------
    >>> from napari_segtools.core._types import run_to_completion
    >>> ref = np.zeros((6, 6), np.uint8); ref[1:4, 1:4] = 1
    >>> result = run_to_completion(iter_evaluation(EvaluationInputs(ref, ref, (1.0, 1.0))))
    >>> result.report.per_label[1]["dice"], int(result.error_map.max()), result.overlay.label
    (1.0, 1, 1)
    """
    options = options or EvaluationOptions()
    extra: dict[str, Any] = {}
    if inputs.prediction_spacing is not None:  # lets the engine flag a resolution mismatch
        extra["prediction_spacing"] = inputs.prediction_spacing
    report = yield from iter_evaluate(
        inputs.reference,
        inputs.prediction,
        spacing=inputs.spacing,
        labels=labels,
        **options.as_kwargs(),
        **extra,
    )
    n = len(report.per_label)
    if not overlays:
        return EvaluationResult(report, None, None)
    yield Progress(n, n + 2, "error map")
    errors = error_map(inputs.reference, inputs.prediction, labels=list(report.per_label))
    yield Progress(n + 1, n + 2, "boundary distances")
    if overlay_label not in report.per_label:
        ok = [label for label, case in report.cases.items() if case == "ok"]
        overlay_label = ok[0] if ok else None
    overlay = boundary_overlay(
        inputs.reference,
        inputs.prediction,
        overlay_label,
        spacing=inputs.spacing,
        surface=options.surface,
    )
    yield Progress(n + 2, n + 2, "done")
    return EvaluationResult(report, errors, overlay)


def iter_overlay(
    inputs: EvaluationInputs, label: int, *, surface: str = "voxel"
) -> ProgressGenerator[BoundaryOverlay | None]:
    """Measure the boundary distances of one label, as a generator (None when absent).

    Examples
    --------
    >>> from napari_segtools.core._types import run_to_completion
    >>> ref = np.zeros((6, 6), np.uint8); ref[1:4, 1:4] = 1
    >>> run_to_completion(iter_overlay(EvaluationInputs(ref, ref, None), 1)).hd
    0.0
    """
    yield Progress(0, 1, f"boundary distances of label {label}")
    overlay = boundary_overlay(
        inputs.reference, inputs.prediction, label, spacing=inputs.spacing, surface=surface
    )
    yield Progress(1, 1, "done")
    return overlay
