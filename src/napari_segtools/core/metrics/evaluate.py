"""``evaluate``: every metric of every label in one pass, with pitfall warnings and settings."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._types import Progress, ProgressGenerator, run_to_completion
from .._validate import check_labels, check_same_shape, check_spacing
from ._common import EMPTY_POLICIES, apply_empty, check_choice, diagonal, empty_case
from ._surfels import crop_box
from .overlap import (
    compute_accuracy,
    compute_dice,
    compute_fbeta,
    compute_jaccard,
    compute_precision,
    compute_recall,
    compute_specificity,
    compute_volume_similarity,
    counts_of,
)
from .pitfalls import PitfallThresholds, image_pitfalls, label_pitfalls
from .report import METRIC_NAMES, EvaluationReport
from .surface import (
    SURFACE_CONVENTIONS,
    compute_assd,
    compute_hausdorff,
    compute_masd,
    compute_nsd,
    crop_distances,
)
from .topology import compute_center_distance, compute_cldice, count_components, holes

_DISTANCES = ("hd", "hd95", "assd", "masd", "center_distance")
_COUNTS = ("tp", "fp", "fn", "tn", "reference_components", "prediction_components")


def _units(spacing, ndim: int) -> dict[str, str]:
    length = "voxels" if spacing is None else "mm"
    volume = f"{length}^{ndim}"
    units = dict.fromkeys(METRIC_NAMES, "")
    units.update(dict.fromkeys(_DISTANCES, length))
    units.update(reference_volume=volume, prediction_volume=volume)
    return units


def _check_labels_arg(labels) -> list[int] | None:
    if labels is None:
        return None
    values = [labels] if np.isscalar(labels) else list(labels)
    if not values or any(int(v) != v or v <= 0 for v in values):
        raise ValueError(f"`labels` must be positive integer label ids; got {labels!r}")
    return sorted({int(v) for v in values})


def _label_boxes(ref: np.ndarray, pred: np.ndarray, labels: list[int] | None) -> dict:
    """Label id -> bounding box (slices) of that label in either image, None if in neither.

    ``labels=None`` means every non-zero id present. Binary inputs (bool, or one-byte 0/1
    images) are boxed by projections; label images by one ``find_objects`` pass per image.
    """
    binary = all(
        a.dtype == bool or (a.itemsize == 1 and a.max(initial=0) <= 1) for a in (ref, pred)
    )
    if binary and labels in (None, [1]):
        box = crop_box(ref.view(bool), pred.view(bool))
        return {} if labels is None and box is None else {1: box}
    found = [ndimage.find_objects(a.view(np.uint8) if a.dtype == bool else a) for a in (ref, pred)]
    if labels is None:
        labels = sorted({i + 1 for f in found for i, b in enumerate(f) if b is not None})
    boxes = {}
    for label in labels:
        hits = [f[label - 1] for f in found if label <= len(f) and f[label - 1] is not None]
        boxes[label] = tuple(
            slice(min(b[ax].start for b in hits), max(b[ax].stop for b in hits))
            for ax in range(ref.ndim)
        ) if hits else None  # fmt: skip
    return boxes


def _label_values(r, p, offset, total, *, spacing, surface, tol, beta, percentile, empty, diag,
                  cldice):  # fmt: skip
    """Every metric of one label from its cropped masks, plus the facts the pitfalls need."""
    c = counts_of(r, p, total)
    case = empty_case(c.tp + c.fn, c.tp + c.fp)
    voxel_volume = float(np.prod(spacing)) if spacing is not None else 1.0
    sd = crop_distances(r, p, offset, spacing=spacing, surface=surface)
    raw = {
        "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn,
        "accuracy": compute_accuracy(c), "precision": compute_precision(c),
        "recall": compute_recall(c), "specificity": compute_specificity(c),
        "fbeta": compute_fbeta(c, beta=beta), "f1": compute_dice(c),
        "iou": compute_jaccard(c), "dice": compute_dice(c),
        "volume_similarity": compute_volume_similarity(c),
        "reference_volume": (c.tp + c.fn) * voxel_volume,
        "prediction_volume": (c.tp + c.fp) * voxel_volume,
        "hd": compute_hausdorff(sd, percentile=100),
        "hd95": compute_hausdorff(sd, percentile=percentile),
        "assd": compute_assd(sd), "masd": compute_masd(sd),
        "nsd": compute_nsd(sd, tolerance=tol),
        "cldice": compute_cldice(r, p) if cldice else float("nan"),
        "center_distance": compute_center_distance(r, p, spacing),
        "reference_components": count_components(r),
        "prediction_components": count_components(p),
    }  # fmt: skip
    values = {
        k: int(v)
        if k in _COUNTS
        else apply_empty(v, case, empty, diag if k in _DISTANCES else 0.0)
        for k, v in raw.items()
    }
    facts = {"ndim": r.ndim, "holes_pred_only": 0, "holes_ref_only": 0}
    if case == "ok":
        facts["holes_pred_only"] = int(np.count_nonzero(holes(p) & r))
        facts["holes_ref_only"] = int(np.count_nonzero(holes(r) & p))
    return values, case, facts


def iter_evaluate(
    reference, prediction, spacing=None, labels=None, nsd_tolerance=1.0, beta=1.0,
    hd_percentile=95, surface="voxel", empty="nan", cldice=True, **pitfall_thresholds,
) -> ProgressGenerator[EvaluationReport]:  # fmt: skip
    """Generator form of :func:`evaluate`: one ``Progress`` per label, returns the report."""
    ref = check_labels(reference, "reference")
    pred = check_labels(prediction, "prediction")
    check_same_shape(ref, pred)
    if spacing is not None:
        spacing = check_spacing(spacing, ref.ndim, array_name="reference")
    check_choice(surface, "surface", SURFACE_CONVENTIONS)
    check_choice(empty, "empty", EMPTY_POLICIES)
    if not (np.isfinite(nsd_tolerance) and nsd_tolerance >= 0):
        raise ValueError(f"`nsd_tolerance` must be a finite distance >= 0; got {nsd_tolerance!r}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"`beta` must be a positive number; got {beta!r}")
    if not 0 <= hd_percentile <= 100:
        raise ValueError(f"`hd_percentile` must lie in [0, 100]; got {hd_percentile!r}")
    thresholds = PitfallThresholds.from_kwargs(pitfall_thresholds)
    boxes = _label_boxes(ref, pred, _check_labels_arg(labels))
    label_ids = list(boxes)
    unit = "voxels" if spacing is None else "mm"
    diag = diagonal(ref.shape, spacing)
    per_label, cases, warnings = {}, {}, list(image_pitfalls(spacing, thresholds))
    for i, (label, box) in enumerate(boxes.items()):
        yield Progress(i, len(label_ids), f"label {label}")
        if box is None:  # both empty: a one-voxel crop holds no foreground and no surface
            box = (slice(0, 1),) * ref.ndim
        r, p = ref[box] == label, pred[box] == label
        offset = np.array([s.start for s in box], float)
        values, case, facts = _label_values(
            r, p, offset, ref.size, spacing=spacing, surface=surface, tol=nsd_tolerance,
            beta=beta, percentile=hd_percentile, empty=empty, diag=diag, cldice=cldice,
        )  # fmt: skip
        per_label[label], cases[label] = values, case
        warnings += label_pitfalls(label, values, case, facts, thresholds, unit)
    mean, not_nan = {}, {}
    for name in METRIC_NAMES:
        column = np.array([per_label[lb][name] for lb in label_ids], float)
        finite = column[np.isfinite(column)]
        mean[name] = float(finite.mean()) if len(finite) else float("nan")
        not_nan[name] = int(len(finite))
    settings = {
        "spacing": None if spacing is None else list(spacing),
        "labels": label_ids,
        "nsd_tolerance": float(nsd_tolerance),
        "beta": float(beta),
        "hd_percentile": float(hd_percentile),
        "surface": surface,
        "surface_convention": SURFACE_CONVENTIONS[surface],
        "empty": empty,
        "empty_policy": EMPTY_POLICIES[empty],
        "distance_unit": unit,
        "cldice": bool(cldice),
        "pitfall_thresholds": thresholds.as_dict(),
    }
    yield Progress(len(label_ids), len(label_ids), "done")
    return EvaluationReport(
        per_label=per_label, mean=mean, not_nan_count=not_nan, cases=cases,
        units=_units(spacing, ref.ndim), warnings=tuple(warnings), settings=settings,
    )  # fmt: skip


def evaluate(
    reference, prediction, spacing=None, labels=None, nsd_tolerance=1.0, beta=1.0,
    hd_percentile=95, surface="voxel", empty="nan", cldice=True, **pitfall_thresholds,
) -> EvaluationReport:  # fmt: skip
    """Evaluate a segmentation against a reference: every metric, per label and averaged.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) integer or bool ndarray
        Label images on the same grid (0 = background).
    spacing : sequence of float, optional
        Voxel size in mm, numpy axis order. None reports distances in voxels and volumes in
        voxels^ndim (never mm).
    labels : int or sequence of int, optional
        Label ids to evaluate; default every non-zero id present in either image.
    nsd_tolerance : float
        NSD tolerance in mm (voxels when ``spacing`` is None).
    beta : float
        Beta of the F-beta score (> 1 weighs recall more).
    hd_percentile : float
        Percentile of the robust Hausdorff distance reported as ``hd95``.
    surface : {"voxel", "surfel"}
        Surface convention for HD, HDp, ASSD, MASD and NSD (see ``SURFACE_CONVENTIONS``).
    empty : {"nan", "worst"}
        Empty-mask policy (see ``EMPTY_POLICIES``).
    cldice : bool
        Compute clDice. Skeletonising a large 3-D structure takes seconds; False leaves it NaN.
    **pitfall_thresholds
        Any field of :class:`PitfallThresholds` (for example ``bias_ratio=0.3`` or
        ``prediction_spacing=(1, 1, 3)``).

    Returns
    -------
    EvaluationReport
        ``per_label`` values keyed by ``METRIC_NAMES``, their means over labels (undefined values
        excluded, with the counts in ``not_nan_count``), the empty case per label, units,
        pitfall warnings and the settings.

    Raises
    ------
    ValueError
        If the shapes differ, ``spacing`` does not fit, or an option is out of range.
    TypeError
        If an image is not an integer/bool label image, or a pitfall threshold is unknown.

    Notes
    -----
    Each label is cropped to the bounding box of its union in both images; its surfaces and
    their nearest-neighbour distances are computed once and every surface metric derives from
    them. With ``empty="nan"`` an undefined value is NaN; with ``"worst"`` a label present in
    only one image scores 0 for undefined ratios and the image diagonal for distances. Both
    empty always gives NaN (case ``"both_empty"``).

    Examples
    --------
    >>> ref = np.zeros((8, 8), np.uint8); ref[2:6, 2:6] = 1
    >>> report = evaluate(ref, np.roll(ref, 1, axis=1), spacing=(1.0, 1.0))
    >>> report.per_label[1]["dice"], report.per_label[1]["hd"]
    (0.75, 1.0)
    """
    return run_to_completion(iter_evaluate(
        reference, prediction, spacing, labels, nsd_tolerance, beta, hd_percentile, surface,
        empty, cldice, **pitfall_thresholds,
    ))  # fmt: skip
