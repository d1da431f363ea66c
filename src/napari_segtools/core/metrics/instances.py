"""Object- and lesion-level evaluation: instances, matching, detection, panoptic quality.

Instances come from connected components of the foreground (or are given as instance maps).
Reference and predicted instances are matched (see :data:`INSTANCE_MATCHINGS`) from one table
of overlapping pairs; each matched pair, missed reference (FN) and unmatched prediction (FP)
gets a row of volumes, overlap and boundary metrics, computed on the instances' own boxes.
Detection counts give precision, recall, F1 and panoptic quality:
PQ = (sum of matched IoU) / (TP + FP/2 + FN/2) = SQ x RQ, with SQ the mean matched IoU and RQ
= F1. A preset (:data:`INSTANCE_PRESETS`) reproduces a published lesion-wise protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from .._types import Progress, ProgressGenerator, run_to_completion
from .._validate import (
    check_choice,
    check_connectivity,
    check_labels,
    check_number,
    check_same_shape,
    check_spacing,
)
from ._common import VOXEL_UNITS_NOTE, length_unit, unit_spacing
from ._matching import (
    Matches,
    Overlaps,
    match_assignment,
    match_dilated,
    match_iou,
    match_merge,
    merge_by_dilation,
    overlap_table,
    union_box,
)
from .overlap import Confusion, overlap_ratios
from .report import json_safe
from .surface import SURFACE_CONVENTIONS, compute_surface_distances, crop_distances
from .topology import centroid_mm

#: Value of each status in :meth:`InstanceReport.status_map`.
STATUS_CODES = {"TP": 1, "FN": 2, "FP": 3}

#: Matching name -> one-line statement of the rule.
INSTANCE_MATCHINGS = {
    "iou": (
        "iou: one-to-one; pairs with IoU >= iou_threshold are matched greedily, highest IoU "
        "first (panoptica NaiveThresholdMatching; the PQ of Kirillov et al. needs IoU > 0.5)"
    ),
    "assignment": (
        "assignment: one-to-one maximising the summed IoU of pairs with IoU >= iou_threshold "
        "(Hungarian algorithm; panoptica MaxBipartiteMatching)"
    ),
    "merge": (
        "merge: many-to-one; greedy by IoU, a reference takes its first prediction with IoU "
        ">= iou_threshold, then any further one that raises the IoU of the union "
        "(panoptica MaximizeMergeMatching)"
    ),
}

_BRATS_SOURCE = (
    "BraTS-2023 lesion-wise metrics script, rachitsaluja/BraTS-2023-Metrics on GitHub, "
    "metrics.py (get_LesionWiseScores / get_LesionWiseResults)"
)
#: challenge -> (name, dilation iterations, lesion volume threshold in mm^3), from that script
_BRATS = {
    "gli": ("adult glioma", 3, 50.0),
    "ssa": ("sub-Saharan Africa glioma", 3, 50.0),
    "men": ("meningioma", 1, 50.0),
    "ped": ("paediatric tumours", 3, 50.0),
    "met": ("brain metastases", 1, 2.0),
}
#: HD95 (mm) given to a missed or false lesion by the BraTS-2023 script (its image diagonal)
BRATS_UNMATCHED_HD95_MM = 374.0


@dataclass(frozen=True)
class _Preset:
    dilation_iterations: int
    min_volume_mm3: float
    description: str


_PRESETS = {
    f"brats2023-{key}": _Preset(
        dilation,
        threshold,
        f"BraTS-2023 {name} lesion-wise: 26-connected components; reference components whose "
        f"dilation ({dilation} iterations, 18-neighbourhood) touches are one lesion; a "
        f"prediction matches every lesion it touches dilated the same way; lesions of at most "
        f"{threshold:g} mm^3 are left out; surfel HD95; a missed or false lesion scores Dice 0 "
        f"and HD95 {BRATS_UNMATCHED_HD95_MM:g} mm. Source: {_BRATS_SOURCE}",
    )
    for key, (name, dilation, threshold) in _BRATS.items()
}

#: Preset name -> what it sets, with its source.
INSTANCE_PRESETS = {name: preset.description for name, preset in _PRESETS.items()}

_UNMATCHED_NAN = "unmatched instances: IoU, Dice, HD95, MASD and centre distance are NaN"
_UNMATCHED_BRATS = (
    f"unmatched instances: Dice and IoU 0, HD95 {BRATS_UNMATCHED_HD95_MM:g} mm (BraTS-2023); "
    "MASD and centre distance NaN"
)
_VALUES = ("iou", "dice", "hd95", "masd", "center_distance")


@dataclass(frozen=True, eq=False)
class InstanceReport:
    """Result of :func:`evaluate_instances`: per-instance rows, detection scores, size bins.

    Attributes
    ----------
    per_instance : tuple of dict
        One row per matched pair (``"TP"``), missed reference (``"FN"``) and unmatched
        prediction (``"FP"``): ``status``, ``reference_id``, ``prediction_id`` (0 when none;
        with merge matching also ``prediction_ids``, space-separated), ``reference_volume``,
        ``prediction_volume``, ``iou``, ``dice``, ``hd95``, ``masd``, ``center_distance`` and
        ``centroid`` (voxel coordinates, numpy axis order, of the reference instance, or of
        the prediction for an FP). Reference rows come first, by id, then FP rows.
    detection : dict
        ``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1``, ``pq``, ``sq``, ``rq``; a
        BraTS preset adds ``lesionwise_dice``, ``lesionwise_hd95``, ``legacy_dice`` and
        ``legacy_hd95``.
    recall_by_size : tuple of dict
        Per reference-volume bin ``[min_mm3, max_mm3)``: ``n_reference``, ``detected``,
        ``recall``.
    reference_instances, prediction_instances : int32 ndarray
        The instance maps evaluated (after component labelling, preset merge and volume
        threshold).
    settings : dict
        Every option, the matching rule, surface convention, unmatched-value policy, preset.
    units : dict
        Unit of each column (``"mm"``, ``"mm^3"``, ``""``; ``"voxel"`` without spacing).

    Examples
    --------
    >>> ref = np.zeros((8, 8), np.uint8); ref[1:3, 1:3] = 1; ref[5:7, 5:7] = 1
    >>> pred = np.zeros_like(ref); pred[1:3, 1:3] = 1; pred[5:7, 0:2] = 1
    >>> report = evaluate_instances(ref, pred, spacing=(1.0, 1.0))
    >>> report.detection["tp"], report.status_map()[5].tolist()
    (1, [3, 3, 0, 0, 0, 2, 2, 0])
    """

    per_instance: tuple[dict, ...]
    detection: dict
    recall_by_size: tuple[dict, ...]
    reference_instances: np.ndarray
    prediction_instances: np.ndarray
    settings: dict
    units: dict

    def to_rows(self) -> list[dict]:
        """Per-instance rows for a CSV: the centroid as ``centroid_z/y/x`` (2-D: ``y/x``)."""
        axes = "zyx"[-self.reference_instances.ndim :]
        rows = []
        for row in self.per_instance:
            flat = {k: v for k, v in row.items() if k != "centroid"}
            flat.update({f"centroid_{a}": c for a, c in zip(axes, row["centroid"], strict=True)})
            rows.append(flat)
        return rows

    def to_dict(self) -> dict:
        """JSON-ready dict of everything but the maps (NaN and infinity become None)."""
        return json_safe(
            {
                "per_instance": list(self.per_instance),
                "detection": self.detection,
                "recall_by_size": list(self.recall_by_size),
                "settings": self.settings,
                "units": self.units,
            }
        )

    def status_map(self) -> np.ndarray:
        """Map each voxel to its status (:data:`STATUS_CODES`; 0 background), uint8.

        TP: voxels of matched reference and predicted instances; FN: of missed references;
        FP: of unmatched predictions. Where statuses overlap, TP wins over FN over FP.
        """
        ref_lut = np.zeros(int(self.reference_instances.max(initial=0)) + 1, np.uint8)
        pred_lut = np.zeros(int(self.prediction_instances.max(initial=0)) + 1, np.uint8)
        for row in self.per_instance:
            code = STATUS_CODES[row["status"]]
            ref_lut[row["reference_id"]] = code
            for p in str(row.get("prediction_ids", row["prediction_id"])).split():
                pred_lut[int(p)] = code
        ref_lut[0] = pred_lut[0] = 0
        ref, pred = ref_lut[self.reference_instances], pred_lut[self.prediction_instances]
        out = np.where(pred == STATUS_CODES["FP"], pred, 0).astype(np.uint8)
        out[ref == STATUS_CODES["FN"]] = STATUS_CODES["FN"]
        out[(ref == STATUS_CODES["TP"]) | (pred == STATUS_CODES["TP"])] = STATUS_CODES["TP"]
        return out


@dataclass(frozen=True)
class _Options:
    spacing: tuple[float, ...] | None
    labels: tuple[int, ...] | None
    instances: str
    connectivity: int
    matching: str
    iou_threshold: float
    bins: tuple[float, ...]
    min_volume: float
    preset: _Preset | None
    surface: str


def _check_ids(value, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    values = np.atleast_1d(np.asarray(value, dtype=object)).ravel().tolist()
    if not values or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(f"`{name}` must be a positive label id or a list of them; got {value!r}")
    return tuple(sorted({int(v) for v in values}))


def _check_bins(value) -> tuple[float, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or np.ndim(value) != 1:
        raise TypeError(f"`size_bins_mm3` must be a list of bin edges (mm^3); got {value!r:.80}")
    edges = tuple(check_number(v, "size_bins_mm3", low=0, open_low=True) for v in value)
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"`size_bins_mm3` must increase strictly; got {edges}")
    return edges


def _check_options(ndim: int, spacing, kw: dict) -> _Options:
    check_choice(kw["instances"], "instances", ("components", "given"))
    check_choice(kw["matching"], "matching", INSTANCE_MATCHINGS)
    check_choice(kw["surface"], "surface", SURFACE_CONVENTIONS)
    labels = _check_ids(kw["label"], "label")
    if labels is not None and kw["instances"] == "given":
        raise ValueError("`label` selects a label of a label map; with instances='given' omit it")
    connectivity = ndim if kw["connectivity"] is None else kw["connectivity"]
    options = _Options(
        spacing=spacing,
        labels=labels,
        instances=kw["instances"],
        connectivity=check_connectivity(connectivity, ndim),
        matching=kw["matching"],
        iou_threshold=check_number(kw["iou_threshold"], "iou_threshold", low=0, high=1),
        bins=_check_bins(kw["size_bins_mm3"]),
        min_volume=check_number(kw["min_volume_mm3"], "min_volume_mm3", low=0),
        preset=None,
        surface=kw["surface"],
    )
    if kw["preset"] is None:
        return options
    preset = _PRESETS[check_choice(kw["preset"], "preset", INSTANCE_PRESETS)]
    if ndim != 3:
        raise ValueError(f"`preset` {kw['preset']!r} is defined for 3-D images; got {ndim}-D")
    fixed: dict[str, Any] = {"instances": "components", "connectivity": None, "matching": "iou"}
    fixed.update(iou_threshold=0.5, min_volume_mm3=0.0, surface="voxel")
    for key, default in fixed.items():
        if kw[key] != default:
            raise ValueError(f"`{key}` is set by `preset` {kw['preset']!r}; leave it unset")
    return replace(
        options,
        connectivity=3,
        matching="merge",
        min_volume=preset.min_volume_mm3,
        preset=preset,
        surface="surfel",
    )


def _instance_map(array: np.ndarray, name: str, opts: _Options) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ids, original ids)``: instances numbered 1..n and the id each stands for."""
    if opts.instances == "components":
        if opts.labels is None:
            fg = array != 0
        elif len(opts.labels) == 1:
            fg = array == opts.labels[0]
        else:
            fg = np.isin(array, opts.labels)
        structure = ndimage.generate_binary_structure(array.ndim, opts.connectivity)
        ids, n = ndimage.label(fg, structure=structure)
        return ids.astype(np.int32, copy=False), np.arange(n + 1)
    fg = array != 0
    present = np.unique(array[fg])
    if len(present) and int(present[-1]) >= 2**31:
        raise ValueError(f"`{name}` instance ids must be below 2**31; got {int(present[-1])}")
    ids = np.zeros(array.shape, np.int32)
    ids[fg] = np.searchsorted(present, array[fg]) + 1
    return ids, np.concatenate([[0], present]).astype(np.int64)


def _published(ids: np.ndarray, keep: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Return the reported int32 map: the original id of each instance kept, else 0."""
    if keep[1:].all() and np.array_equal(original, np.arange(len(original))):
        return ids  # already numbered as reported (and our own array)
    lut = np.where(keep, original, 0).astype(np.int32)
    fg = ids != 0
    out = np.zeros(ids.shape, np.int32)  # calloc: untouched pages cost nothing
    out[fg] = lut[ids[fg]]  # the foreground only: a gather over the whole grid costs seconds
    return out


def _row_values(ref, pred, rid, pids, boxes, ov: Overlaps, opts: _Options) -> dict:
    """Overlap, boundary and centre metrics of reference ``rid`` against predictions ``pids``."""
    ref_boxes, pred_boxes = boxes
    box = union_box([ref_boxes[rid - 1], *(pred_boxes[p - 1] for p in pids)])
    offset = np.array([s.start for s in box], float)
    r = ref[box] == rid
    p = pred[box] == pids[0] if len(pids) == 1 else np.isin(pred[box], pids)
    shared = ov.shared(rid, pids)
    volume = int(ov.pred_voxels[pids].sum())
    ratios = overlap_ratios(
        Confusion(shared, volume - shared, int(ov.ref_voxels[rid]) - shared, 0)
    )
    sd = crop_distances(r, p, offset, spacing=opts.spacing, surface=opts.surface)
    c_ref, c_pred = centroid_mm(r, None), centroid_mm(p, None)
    scale = np.asarray(unit_spacing(opts.spacing, r.ndim))
    return {
        "iou": ratios["iou"],
        "dice": ratios["dice"],
        "hd95": sd.hausdorff(percentile=95),
        "masd": sd.masd(),
        "center_distance": float(np.linalg.norm((c_ref - c_pred) * scale)),
        "centroid": tuple(float(c) for c in c_ref + offset),
    }


def _centroid(ids: np.ndarray, i: int, box) -> tuple[float, ...]:
    """Centroid (voxel coordinates) of instance ``i`` found in ``box``."""
    offset = np.array([s.start for s in box], float)
    return tuple(float(c) for c in centroid_mm(ids[box] == i, None) + offset)


def _reference_row(ref, pred, rid: int, pids: list[int], boxes, ov, ids, opts) -> dict:
    """Row of reference instance ``rid``: TP with predictions ``pids``, else FN."""
    voxel = _voxel_volume(opts.spacing)
    ref_orig, pred_orig = ids
    row: dict[str, Any] = {"status": "TP" if pids else "FN", "reference_id": int(ref_orig[rid])}
    row["prediction_id"] = int(pred_orig[pids[0]]) if pids else 0
    if opts.matching == "merge":
        row["prediction_ids"] = " ".join(str(int(pred_orig[p])) for p in pids)
    row["reference_volume"] = float(ov.ref_voxels[rid] * voxel)
    row["prediction_volume"] = float(ov.pred_voxels[pids].sum() * voxel)
    if pids:
        row.update(_row_values(ref, pred, rid, pids, boxes, ov, opts))
    else:
        row.update(_unmatched(opts))
        row["centroid"] = _centroid(ref, rid, boxes[0][rid - 1])
    return row


def _false_row(pred, pid: int, box, ov: Overlaps, pred_orig, opts: _Options) -> dict:
    """Row of prediction ``pid`` matched to no reference (FP)."""
    row: dict[str, Any] = {"status": "FP", "reference_id": 0, "prediction_id": int(pred_orig[pid])}
    if opts.matching == "merge":
        row["prediction_ids"] = str(row["prediction_id"])
    row["reference_volume"] = 0.0
    row["prediction_volume"] = float(ov.pred_voxels[pid] * _voxel_volume(opts.spacing))
    row.update(_unmatched(opts))
    row["centroid"] = _centroid(pred, pid, box)
    return row


def _voxel_volume(spacing) -> float:
    return float(np.prod(spacing)) if spacing is not None else 1.0


def _unmatched(opts: _Options) -> dict[str, float]:
    values = dict.fromkeys(_VALUES, float("nan"))
    if opts.preset is not None:
        values.update(iou=0.0, dice=0.0, hd95=BRATS_UNMATCHED_HD95_MM)
    return values


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _detection(rows: list[dict]) -> dict:
    tp = sum(r["status"] == "TP" for r in rows)
    fp = sum(r["status"] == "FP" for r in rows)
    fn = sum(r["status"] == "FN" for r in rows)
    iou_sum = sum(r["iou"] for r in rows if r["status"] == "TP")
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "pq": _ratio(iou_sum, tp + 0.5 * fp + 0.5 * fn),
        "sq": _ratio(iou_sum, tp),
        "rq": _ratio(tp, tp + 0.5 * fp + 0.5 * fn),
    }


def _lesionwise(rows: list[dict], ref_fg, pred_fg, opts: _Options) -> dict:
    """BraTS-2023 case scores: lesion-wise means with FP penalties, and the legacy scores."""
    lesions = [r for r in rows if r["status"] != "FP"]
    n_fp, n = len(rows) - len(lesions), len(rows)
    worst = BRATS_UNMATCHED_HD95_MM
    dice = sum(r["dice"] for r in lesions) / n if n else 1.0
    hd95 = (sum(r["hd95"] for r in lesions) + n_fp * worst) / n if n else 0.0
    counts = [int(np.count_nonzero(m)) for m in (ref_fg, pred_fg)]
    if counts == [0, 0]:
        legacy_dice, legacy_hd95 = 1.0, 0.0
    else:
        shared = int(np.count_nonzero(ref_fg & pred_fg))
        legacy_dice = 2 * shared / sum(counts)
        sd = compute_surface_distances(ref_fg, pred_fg, spacing=opts.spacing, surface="surfel")
        legacy_hd95 = sd.hausdorff(percentile=95) if sd.defined else worst
    return {
        "lesionwise_dice": dice,
        "lesionwise_hd95": hd95,
        "legacy_dice": legacy_dice,
        "legacy_hd95": legacy_hd95,
    }


def _recall_by_size(rows: list[dict], edges: tuple[float, ...]) -> tuple[dict, ...]:
    bounds = [0.0, *edges, float("inf")]
    refs = [r for r in rows if r["status"] != "FP"]
    out = []
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):
        inside = [r for r in refs if low <= r["reference_volume"] < high]
        detected = sum(r["status"] == "TP" for r in inside)
        out.append(
            {
                "min_mm3": low,
                "max_mm3": high,
                "n_reference": len(inside),
                "detected": detected,
                "recall": _ratio(detected, len(inside)),
            }
        )
    return tuple(out)


def _match(ref, pred, boxes, ov: Overlaps, opts: _Options) -> Matches:
    if opts.preset is not None:
        structure = ndimage.generate_binary_structure(3, 2)
        return match_dilated(ref, pred, boxes[0], opts.preset.dilation_iterations, structure)
    rule = {"iou": match_iou, "assignment": match_assignment, "merge": match_merge}
    return rule[opts.matching](ov, opts.iou_threshold)


def _settings(opts: _Options, kw: dict) -> dict:
    settings = {
        "spacing": None if opts.spacing is None else list(opts.spacing),
        "label": None if opts.labels is None else list(opts.labels),
        "instances": opts.instances,
        "connectivity": opts.connectivity,
        "matching": opts.matching,
        "matching_rule": INSTANCE_MATCHINGS[opts.matching],
        "iou_threshold": opts.iou_threshold,
        "size_bins_mm3": list(opts.bins),
        "min_volume_mm3": opts.min_volume,
        "preset": kw["preset"],
        "surface": opts.surface,
        "surface_convention": SURFACE_CONVENTIONS[opts.surface],
        "hd_percentile": 95.0,
        "unmatched_values": _UNMATCHED_NAN if opts.preset is None else _UNMATCHED_BRATS,
        "status_codes": dict(STATUS_CODES),
        "distance_unit": length_unit(opts.spacing),
    }
    if opts.preset is not None:
        iterations = opts.preset.dilation_iterations
        settings.update(
            matching_rule=(
                f"BraTS-2023: a prediction matches every reference lesion that it touches "
                f"dilated {iterations} times (18-neighbourhood); IoU threshold unused"
            ),
            iou_threshold=None,
            dilation_iterations=iterations,
            preset_description=opts.preset.description,
            preset_source=_BRATS_SOURCE,
        )
    if opts.spacing is None:
        settings["units_note"] = VOXEL_UNITS_NOTE
    return settings


def _units(spacing, ndim: int) -> dict[str, str]:
    length = length_unit(spacing)
    volume = f"{length}^{ndim}"
    units = dict.fromkeys(("status", "reference_id", "prediction_id", "prediction_ids"), "")
    units.update(reference_volume=volume, prediction_volume=volume, iou="", dice="")
    units.update(hd95=length, masd=length, center_distance=length, centroid="voxel")
    units.update(dict.fromkeys(("tp", "fp", "fn", "precision", "recall", "f1"), ""))
    units.update(pq="", sq="", rq="", lesionwise_dice="", legacy_dice="")
    units.update(lesionwise_hd95=length, legacy_hd95=length, min_mm3=volume, max_mm3=volume)
    units.update(n_reference="", detected="")
    return units


def iter_evaluate_instances(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    label: int | Sequence[int] | None = None,
    instances: str = "components",
    connectivity: int | None = None,
    matching: str = "iou",
    iou_threshold: float = 0.5,
    size_bins_mm3: Sequence[float] | None = None,
    min_volume_mm3: float = 0.0,
    preset: str | None = None,
    surface: str = "voxel",
) -> ProgressGenerator[InstanceReport]:
    """Evaluate instances step by step: ``Progress`` per stage and instance, then the report.

    The generator form of :func:`evaluate_instances` (same parameters), for progress bars and
    cancellation.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) integer or bool ndarray
        Label maps (or instance maps with ``instances="given"``) on the same grid.
    spacing : sequence of float or None
        Voxel size in mm; required. An explicit None means voxel units.
    label, instances, connectivity, matching, iou_threshold, size_bins_mm3, min_volume_mm3, preset, surface
        As :func:`evaluate_instances`.

    Yields
    ------
    Progress
        One per stage and per evaluated instance.

    Returns
    -------
    InstanceReport
        The generator's return value (``StopIteration.value``).

    Examples
    --------
    >>> ref = np.zeros((6, 6), np.uint8); ref[1:3, 1:3] = 1
    >>> run_to_completion(iter_evaluate_instances(ref, ref, spacing=None)).detection["pq"]
    1.0
    """
    ref_arr = check_labels(reference, "reference")
    pred_arr = check_labels(prediction, "prediction")
    check_same_shape(ref_arr, pred_arr)
    if spacing is not None:
        spacing = check_spacing(spacing, ref_arr.ndim, array_name="reference")
    kw: dict[str, Any] = {"label": label, "instances": instances, "connectivity": connectivity}
    kw.update(matching=matching, iou_threshold=iou_threshold, size_bins_mm3=size_bins_mm3)
    kw.update(preset=preset, min_volume_mm3=min_volume_mm3, surface=surface)
    opts = _check_options(ref_arr.ndim, spacing, kw)
    yield Progress(0, 4, "reference instances")
    ref, ref_orig = _instance_map(ref_arr, "reference", opts)
    yield Progress(1, 4, "predicted instances")
    pred, pred_orig = _instance_map(pred_arr, "prediction", opts)
    ref_fg, pred_fg = ref != 0, pred != 0
    ref_boxes = ndimage.find_objects(ref)
    if opts.preset is not None:
        yield Progress(1, 4, "merging reference components by dilation")
        structure = ndimage.generate_binary_structure(3, 2)
        ref, n = merge_by_dilation(ref, ref_boxes, opts.preset.dilation_iterations, structure)
        ref_orig, ref_boxes = np.arange(n + 1), ndimage.find_objects(ref)
    yield Progress(2, 4, "matching")
    boxes = (ref_boxes, ndimage.find_objects(pred))
    ov = overlap_table(ref, pred, ref_fg, pred_fg, len(boxes[0]), len(boxes[1]))
    matches = _match(ref, pred, boxes, ov, opts)
    ref_volume = ov.ref_voxels * _voxel_volume(opts.spacing)
    # a reference at or below the volume threshold leaves the report, and so do the
    # predictions that match it only: they are neither TP nor FP (BraTS-2023)
    keep_ref = ref_volume > opts.min_volume
    matched_pred = {p for r, ps in matches.items() if keep_ref[r] for p in ps}
    keep_pred = np.ones(len(ov.pred_voxels), bool)
    keep_pred[[p for ps in matches.values() for p in ps if p not in matched_pred]] = False
    rows: list[dict[str, Any]] = []
    n_rows = int(keep_ref[1:].sum()) + int(keep_pred[1:].sum()) - len(matched_pred)
    ids = (ref_orig, pred_orig)
    for rid in (np.flatnonzero(keep_ref[1:]) + 1).tolist():
        yield Progress(len(rows), n_rows, f"reference instance {len(rows) + 1} of {n_rows}")
        rows.append(_reference_row(ref, pred, rid, matches.get(rid, []), boxes, ov, ids, opts))
    for pid in (np.flatnonzero(keep_pred[1:]) + 1).tolist():
        if pid not in matched_pred:
            yield Progress(len(rows), n_rows, f"unmatched prediction {len(rows) + 1} of {n_rows}")
            rows.append(_false_row(pred, pid, boxes[1][pid - 1], ov, pred_orig, opts))
    detection = _detection(rows)
    if opts.preset is not None:
        detection.update(_lesionwise(rows, ref_fg, pred_fg, opts))
    yield Progress(n_rows, n_rows, "done")
    return InstanceReport(
        per_instance=tuple(rows),
        detection=detection,
        recall_by_size=_recall_by_size(rows, opts.bins),
        reference_instances=_published(ref, keep_ref, ref_orig),
        prediction_instances=_published(pred, keep_pred, pred_orig),
        settings=_settings(opts, kw),
        units=_units(opts.spacing, ref_arr.ndim),
    )


def evaluate_instances(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    label: int | Sequence[int] | None = None,
    instances: str = "components",
    connectivity: int | None = None,
    matching: str = "iou",
    iou_threshold: float = 0.5,
    size_bins_mm3: Sequence[float] | None = None,
    min_volume_mm3: float = 0.0,
    preset: str | None = None,
    surface: str = "voxel",
) -> InstanceReport:
    """Evaluate a segmentation object by object: matching, per-instance metrics, PQ, recall.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) integer or bool ndarray
        Label maps on the same grid (0 = background), or instance maps (one id per object)
        with ``instances="given"``.
    spacing : sequence of float or None
        Voxel size in mm, numpy axis order; required. An explicit None gives distances in
        voxel units and volumes in voxels (``report.units`` says ``"voxel"``).
    label : int or sequence of int, optional
        Label id(s) that form the foreground (several ids: their union, e.g. ``(1, 2, 3)``
        for the BraTS whole tumour); default every non-zero voxel.
    instances : {"components", "given"}
        Objects are the connected components of the foreground, or the ids of the inputs.
    connectivity : int, optional
        Neighbourhood of the components, 1 (faces) to ndim (all neighbours, the default:
        8 in 2-D, 26 in 3-D).
    matching : {"iou", "assignment", "merge"}
        How predictions are paired with references (see :data:`INSTANCE_MATCHINGS`).
    iou_threshold : float
        Least IoU, in [0, 1], of a matched pair (for merge: of the first prediction).
    size_bins_mm3 : sequence of float, optional
        Increasing reference-volume bin edges (mm^3; voxels without spacing) of the recall
        table; n edges give n + 1 bins ``[0, e1), ..., [en, inf)``. Default one bin.
    min_volume_mm3 : float
        Reference instances of at most this volume leave the report after matching, with the
        predictions matched to them only (they count as neither TP nor FP).
    preset : str, optional
        A published protocol (see :data:`INSTANCE_PRESETS`, e.g. ``"brats2023-gli"``); it
        sets ``instances``, ``connectivity``, ``matching``, ``iou_threshold``,
        ``min_volume_mm3`` and ``surface``, which must then be left at their defaults.
    surface : {"voxel", "surfel"}
        Surface convention of HD95 and MASD (see ``SURFACE_CONVENTIONS``).

    Returns
    -------
    InstanceReport
        Per-instance rows, detection scores (precision, recall, F1, PQ, SQ, RQ), recall by
        size, the instance maps used, settings and units.

    Raises
    ------
    ValueError
        If the shapes differ, ``spacing`` does not fit, an option is out of range, a preset
        meets a 2-D image or an option it sets, or given instance ids reach 2**31.
    TypeError
        If an input is not an integer or bool image, or an option has the wrong type.

    Notes
    -----
    Unmatched instances get NaN for IoU, Dice, HD95, MASD and centre distance (a BraTS preset:
    Dice 0 and HD95 374 mm, as its script). Precision, recall, F1, SQ, RQ and PQ are NaN when
    their denominator is 0 (both maps empty; SQ also with no match). HD95 is the larger of the
    two directed 95th percentiles (``surface="voxel"``; panoptica pools both directions first).

    Examples
    --------
    >>> ref = np.zeros((10, 10), np.uint8); ref[1:4, 1:4] = 1; ref[6:9, 6:9] = 1
    >>> pred = np.zeros_like(ref); pred[1:4, 2:5] = 1; pred[6:8, 0:2] = 1
    >>> report = evaluate_instances(ref, pred, spacing=(1.0, 1.0))
    >>> [(r["status"], r["reference_id"], r["prediction_id"]) for r in report.per_instance]
    [('TP', 1, 1), ('FN', 2, 0), ('FP', 0, 2)]
    >>> report.detection["f1"], report.detection["sq"], report.detection["pq"]
    (0.5, 0.5, 0.25)
    """
    return run_to_completion(
        iter_evaluate_instances(
            reference,
            prediction,
            spacing=spacing,
            label=label,
            instances=instances,
            connectivity=connectivity,
            matching=matching,
            iou_threshold=iou_threshold,
            size_bins_mm3=size_bins_mm3,
            min_volume_mm3=min_volume_mm3,
            preset=preset,
            surface=surface,
        )
    )
