"""``evaluate``: every metric of every label in one pass, with pitfall warnings and settings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from .._deprecate import renamed_keywords
from .._types import Progress, ProgressGenerator, run_to_completion
from .._validate import (
    check_beta,
    check_choice,
    check_distance,
    check_labels,
    check_number,
    check_percentile,
    check_same_shape,
    check_spacing,
)
from ._common import (
    EMPTY_POLICIES,
    VOXEL_UNITS_NOTE,
    apply_empty,
    diagonal,
    empty_case,
    length_unit,
)
from ._surfels import crop_box
from .boundary import boundary_iou_of_masks
from .overlap import (
    DENSE_IDS,
    WORST,
    Confusion,
    agreement_scores,
    class_totals,
    counts_of,
    overlap_ratios,
)
from .pitfalls import PitfallThresholds, image_pitfalls, label_pitfalls
from .report import (
    AGGREGATION,
    OVERALL_NAMES,
    POOLED_NAMES,
    EvaluationReport,
    hd_key,
    metric_names,
)
from .surface import HD_VARIANTS, SURFACE_CONVENTIONS, crop_distances
from .topology import center_distance_of_masks, cldice_of_masks, count_components, holes

_DISTANCES = ("hd", "hd95", "assd", "masd", "center_distance")
_COUNTS = ("tp", "fp", "fn", "tn", "reference_components", "prediction_components")


def _units(spacing, ndim: int, names: tuple[str, ...], key: str) -> dict[str, str]:
    length = length_unit(spacing)
    volume = f"{length}^{ndim}"
    units = dict.fromkeys((*names, *OVERALL_NAMES), "")
    units.update(dict.fromkeys(_DISTANCES, length))
    units.pop("hd95")
    units[key] = length
    units.update(reference_volume=volume, prediction_volume=volume)
    return units


def _check_labels_arg(labels) -> list[int] | None:
    if labels is None:
        return None
    values: list = np.atleast_1d(np.asarray(labels, dtype=object)).ravel().tolist()
    if not values or any(int(v) != v or v <= 0 for v in values):
        raise ValueError(f"`labels` must be positive integer label ids; got {labels!r}")
    return sorted({int(v) for v in values})


def _compact_index(ids: np.ndarray, label: int) -> int:
    """Return 1 + the position of ``label`` in the sorted ``ids``, or 0 when it is absent."""
    i = int(np.searchsorted(ids, label))
    return i + 1 if i < len(ids) and int(ids[i]) == label else 0


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
    arrays = [a.view(np.uint8) if a.dtype == bool else a for a in (ref, pred)]
    ids = None
    if max(int(a.max(initial=0)) for a in arrays) > DENSE_IDS:
        # find_objects keeps one slot per id up to the largest: number the ids present 1..n
        # first, so cost follows the number of labels, not the largest id (up to 2**64 - 1)
        ids = np.union1d(*[np.unique(a) for a in arrays])
        ids = ids[ids != 0]
        arrays = [np.where(a == 0, 0, np.searchsorted(ids, a) + 1) for a in arrays]
    found = [ndimage.find_objects(a) for a in arrays]
    if labels is None:
        present = sorted({i + 1 for f in found for i, b in enumerate(f) if b is not None})
        labels = present if ids is None else [int(ids[i - 1]) for i in present]
    boxes = {}
    for label in labels:
        index = label if ids is None else _compact_index(ids, label)
        hits = [f[index - 1] for f in found if 0 < index <= len(f) and f[index - 1] is not None]
        boxes[label] = (
            tuple(
                slice(min(b[ax].start for b in hits), max(b[ax].stop for b in hits))
                for ax in range(ref.ndim)
            )
            if hits
            else None
        )
    return boxes


@dataclass(frozen=True)
class _LabelOptions:
    """The per-label settings of one evaluation (checked once, shared by every label)."""

    spacing: tuple[float, ...] | None
    surface: str
    nsd_tolerance_mm: float
    beta: float
    hd_percentile: float
    hd_key: str
    hd_variant: str
    boundary_band_mm: float
    empty: str
    diagonal: float
    cldice: bool
    single_slice: bool  # a 3-D image of one plane (Lee's thinning then skips two directions)


def _iter_label_values(r, p, offset, total, opts: _LabelOptions, progress: Progress):
    """Every metric of one label from its cropped masks, plus the facts the pitfalls need.

    Yields ``progress`` (relabelled) between the expensive stages, so a cancel is prompt.
    """
    c = counts_of(r, p, total)
    case = empty_case(c.tp + c.fn, c.tp + c.fp)
    voxel_volume = float(np.prod(opts.spacing)) if opts.spacing is not None else 1.0
    yield Progress(progress.step, progress.total, f"{progress.message}: surface distances")
    sd = crop_distances(r, p, offset, spacing=opts.spacing, surface=opts.surface)
    if opts.cldice:
        yield Progress(progress.step, progress.total, f"{progress.message}: clDice")
    raw = {
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
        "tn": c.tn,
        **overlap_ratios(c, beta=opts.beta),
        "reference_volume": (c.tp + c.fn) * voxel_volume,
        "prediction_volume": (c.tp + c.fp) * voxel_volume,
        "hd": sd.hausdorff(percentile=100),
        opts.hd_key: sd.hausdorff(percentile=opts.hd_percentile, variant=opts.hd_variant),
        "assd": sd.assd(),
        "masd": sd.masd(),
        "nsd": sd.nsd(tolerance_mm=opts.nsd_tolerance_mm),
        "boundary_iou": boundary_iou_of_masks(r, p, opts.spacing, opts.boundary_band_mm),
        "cldice": (
            cldice_of_masks(r, p, single_slice=opts.single_slice) if opts.cldice else float("nan")
        ),
        "center_distance": center_distance_of_masks(r, p, opts.spacing),
        "reference_components": count_components(r),
        "prediction_components": count_components(p),
    }
    distances = {*_DISTANCES, opts.hd_key}
    values = {
        k: int(v)
        if k in _COUNTS
        else apply_empty(
            v, case, opts.empty, opts.diagonal if k in distances else WORST.get(k, 0.0)
        )
        for k, v in raw.items()
    }
    facts = {"ndim": r.ndim, "holes_pred_only": 0, "holes_ref_only": 0}
    if case == "ok":
        facts["holes_pred_only"] = int(np.count_nonzero(holes(p) & r))
        facts["holes_ref_only"] = int(np.count_nonzero(holes(r) & p))
    return values, case, facts


def _pooled(values: Iterable[dict]) -> dict[str, float]:
    """TP, FP, FN summed over the labels and the ratios of those sums (voxel-weighted)."""
    rows = list(values)
    counts = {k: sum(int(v[k]) for v in rows) for k in ("tp", "fp", "fn")}
    ratios = overlap_ratios(Confusion(**counts, tn=0))  # TN is not used by these ratios
    return {name: counts[name] if name in counts else ratios[name] for name in POOLED_NAMES}


def _overall(ref: np.ndarray, pred: np.ndarray, per_label: dict | None) -> dict[str, float]:
    """Pixel accuracy and Cohen's kappa of the whole label maps.

    With ``per_label`` holding every label present, the class totals are its counts (the
    background's is the rest); otherwise the maps are counted.
    """
    agree = int(np.count_nonzero(ref == pred))
    if per_label is None:
        return agreement_scores(agree, *class_totals(ref, pred))
    totals = np.array([[v["tp"] + v["fn"], v["tp"] + v["fp"]] for v in per_label.values()])
    totals = totals.reshape(-1, 2)
    background = ref.size - totals.sum(axis=0)
    return agreement_scores(agree, [background[0], *totals[:, 0]], [background[1], *totals[:, 1]])


@renamed_keywords(nsd_tolerance="nsd_tolerance_mm")
def iter_evaluate(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    labels: int | Iterable[int] | None = None,
    nsd_tolerance_mm: float = 1.0,
    beta: float = 1.0,
    hd_percentile: float = 95,
    hd_variant: str = "directed_max",
    boundary_band_mm: float = 1.0,
    surface: str = "voxel",
    empty: str = "nan",
    cldice: bool = True,
    **pitfall_thresholds,
) -> ProgressGenerator[EvaluationReport]:
    """Evaluate step by step: one ``Progress`` per label, then return the report.

    The generator form of :func:`evaluate` (same parameters), for progress bars and
    cancellation.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) integer or bool ndarray
        Label images on the same grid (0 = background).
    spacing : sequence of float or None
        Voxel size in mm; required. An explicit None means voxel units.
    labels, nsd_tolerance_mm, beta, hd_percentile, hd_variant, boundary_band_mm
        As :func:`evaluate`.
    surface, empty, cldice, **pitfall_thresholds
        As :func:`evaluate`.

    Yields
    ------
    Progress
        One per label, then a final one.

    Returns
    -------
    EvaluationReport
        The generator's return value (``StopIteration.value``).

    Examples
    --------
    >>> from napari_segtools.core._types import run_to_completion
    >>> ref = np.zeros((8, 8), np.uint8); ref[2:6, 2:6] = 1
    >>> run_to_completion(iter_evaluate(ref, ref, spacing=None)).units["hd"]
    'voxel'
    """
    ref = check_labels(reference, "reference")
    pred = check_labels(prediction, "prediction")
    check_same_shape(ref, pred)
    if spacing is not None:
        spacing = check_spacing(spacing, ref.ndim, array_name="reference")
    check_choice(surface, "surface", SURFACE_CONVENTIONS)
    check_choice(empty, "empty", EMPTY_POLICIES)
    check_choice(hd_variant, "hd_variant", HD_VARIANTS)
    opts = _LabelOptions(
        spacing=spacing,
        surface=surface,
        nsd_tolerance_mm=check_distance(nsd_tolerance_mm, "nsd_tolerance_mm"),
        beta=check_beta(beta),
        hd_percentile=check_percentile(hd_percentile, "hd_percentile"),
        hd_key=hd_key(hd_percentile),
        hd_variant=hd_variant,
        boundary_band_mm=check_number(boundary_band_mm, "boundary_band_mm", low=0, open_low=True),
        empty=empty,
        diagonal=diagonal(ref.shape, spacing),
        cldice=bool(cldice),
        single_slice=ref.ndim == 3 and ref.shape[0] == 1,
    )
    names = metric_names(hd_percentile=opts.hd_percentile)
    thresholds = PitfallThresholds.from_kwargs(pitfall_thresholds)
    label_arg = _check_labels_arg(labels)
    boxes = _label_boxes(ref, pred, label_arg)
    label_ids = list(boxes)
    prose_unit = "voxels" if spacing is None else "mm"
    per_label, cases, warnings = {}, {}, list(image_pitfalls(spacing, thresholds))
    for i, (label, box) in enumerate(boxes.items()):
        yield Progress(i, len(label_ids), f"label {label}")
        if box is None:  # both empty: a one-voxel crop holds no foreground and no surface
            box = (slice(0, 1),) * ref.ndim
        r, p = ref[box] == label, pred[box] == label
        offset = np.array([s.start for s in box], float)
        values, case, facts = yield from _iter_label_values(
            r, p, offset, ref.size, opts, Progress(i, len(label_ids), f"label {label}")
        )
        per_label[label], cases[label] = values, case
        warnings += label_pitfalls(label, values, case, facts, thresholds, prose_unit)
    mean, not_nan = {}, {}
    for name in names:
        column = np.array([per_label[lb][name] for lb in label_ids], float)
        finite = column[np.isfinite(column)]
        mean[name] = float(finite.mean()) if len(finite) else float("nan")
        not_nan[name] = int(len(finite))
    pooled = _pooled(per_label.values())
    overall = _overall(ref, pred, per_label if label_arg is None else None)
    settings = {
        "spacing": None if spacing is None else list(spacing),
        "labels": label_ids,
        "nsd_tolerance_mm": opts.nsd_tolerance_mm,
        "beta": opts.beta,
        "hd_percentile": opts.hd_percentile,
        "hd_key": opts.hd_key,
        "hd_variant": hd_variant,
        "hd_variant_definition": HD_VARIANTS[hd_variant],
        "boundary_band_mm": opts.boundary_band_mm,
        "surface": surface,
        "surface_convention": SURFACE_CONVENTIONS[surface],
        "empty": empty,
        "empty_policy": EMPTY_POLICIES[empty],
        "distance_unit": length_unit(spacing),
        "cldice": opts.cldice,
        "pitfall_thresholds": thresholds.as_dict(),
        "aggregation": AGGREGATION,
    }
    if spacing is None:
        settings["units_note"] = VOXEL_UNITS_NOTE
    yield Progress(len(label_ids), len(label_ids), "done")
    return EvaluationReport(
        per_label=per_label,
        mean=mean,
        not_nan_count=not_nan,
        cases=cases,
        units=_units(spacing, ref.ndim, names, opts.hd_key),
        warnings=tuple(warnings),
        settings=settings,
        metric_names=names,
        pooled=pooled,
        overall=overall,
    )


@renamed_keywords(nsd_tolerance="nsd_tolerance_mm")
def evaluate(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    labels: int | Iterable[int] | None = None,
    nsd_tolerance_mm: float = 1.0,
    beta: float = 1.0,
    hd_percentile: float = 95,
    hd_variant: str = "directed_max",
    boundary_band_mm: float = 1.0,
    surface: str = "voxel",
    empty: str = "nan",
    cldice: bool = True,
    **pitfall_thresholds,
) -> EvaluationReport:
    """Evaluate a segmentation against a reference: every metric per label, and summaries.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) integer or bool ndarray
        Label images on the same grid (0 = background).
    spacing : sequence of float or None
        Voxel size in mm, numpy axis order; required. An explicit None reports distances in
        voxel units and volumes in voxel^ndim (never mm): ``report.units`` says ``"voxel"`` and
        ``report.settings["units_note"]`` states it.
    labels : int or sequence of int, optional
        Label ids to evaluate; default every non-zero id present in either image.
    nsd_tolerance_mm : float
        NSD tolerance in mm (voxels when ``spacing`` is None). The old name ``nsd_tolerance``
        is a deprecated alias.
    beta : float
        Beta of the F-beta score (> 1 weighs recall more).
    hd_percentile : float
        Percentile of the robust Hausdorff distance; its column is named for it by
        :func:`hd_key` (``hd95`` at 95, ``hd90`` at 90, ``hd99_5`` at 99.5).
    hd_variant : {"directed_max", "pooled"}
        Robust Hausdorff variant (see ``HD_VARIANTS``): the larger of the two directed
        percentiles (MONAI, MetricsReloaded), or the percentile of both directions pooled
        (medpy's ``hd95``, seg-metrics). Named in ``settings["hd_variant"]``.
    boundary_band_mm : float
        Band width d (> 0) of Boundary IoU in mm (voxels when ``spacing`` is None): each mask's
        voxels within d of its outside, and at least its face-connected rim.
    surface : {"voxel", "surfel"}
        Surface convention for HD, HDp, ASSD, MASD and NSD (see ``SURFACE_CONVENTIONS``).
    empty : {"nan", "worst"}
        Empty-mask policy (see ``EMPTY_POLICIES``).
    cldice : bool
        Compute clDice. Skeletonising a large 3-D structure takes seconds; False leaves it NaN.
    **pitfall_thresholds
        Any field of :class:`PitfallThresholds` (for example ``bias_ratio=0.3`` or
        ``prediction_spacing=(1, 1, 3)``); any other keyword is a ``TypeError`` naming it.

    Returns
    -------
    EvaluationReport
        ``per_label`` values keyed by ``report.metric_names``; ``mean``, their unweighted means
        over labels (undefined values excluded, with the counts in ``not_nan_count``);
        ``pooled``, the ratios of the counts summed over labels (voxel-weighted); ``overall``,
        pixel accuracy and Cohen's kappa of the whole label maps (background included); the
        empty case per label, units, pitfall warnings and the settings, which state the
        aggregation (``settings["aggregation"]``).

    Raises
    ------
    ValueError
        If the shapes differ, ``spacing`` does not fit, or an option is out of range.
    TypeError
        If an image is not an integer/bool label image, an option is passed positionally, or
        a keyword is unknown.

    Notes
    -----
    Each label is cropped to the bounding box of its union in both images; its surfaces and
    their nearest-neighbour distances are computed once and every surface metric derives from
    them. With ``empty="nan"`` an undefined value is NaN; with ``"worst"`` a label present in
    only one image scores 0 for undefined ratios (-1 for MCC) and the image diagonal for
    distances. Both empty always gives NaN (case ``"both_empty"``).

    A label row is that label against everything else: its ``binary_accuracy`` counts the
    other labels' voxels as true negatives, so its mean over labels is not the accuracy of a
    multi-label map; that is ``overall["pixel_accuracy"]``. The mean gives a small structure
    the weight of a large one, the pooled row weighs voxels, so comparing the two shows whether
    large structures dominate. Per-component (lesion-wise) scores are the business of
    ``evaluate_instances`` (``core.metrics.instances``), not of this function.

    Examples
    --------
    >>> ref = np.zeros((8, 8), np.uint8); ref[2:6, 2:6] = 1
    >>> report = evaluate(ref, np.roll(ref, 1, axis=1), spacing=(1.0, 1.0), hd_percentile=90)
    >>> report.per_label[1]["dice"], report.per_label[1]["hd"], report.hd_key
    (0.75, 1.0, 'hd90')
    >>> report.pooled["dice"], report.overall["pixel_accuracy"]
    (0.75, 0.875)
    """
    return run_to_completion(
        iter_evaluate(
            reference,
            prediction,
            spacing=spacing,
            labels=labels,
            nsd_tolerance_mm=nsd_tolerance_mm,
            beta=beta,
            hd_percentile=hd_percentile,
            hd_variant=hd_variant,
            boundary_band_mm=boundary_band_mm,
            surface=surface,
            empty=empty,
            cldice=cldice,
            **pitfall_thresholds,
        )
    )
