"""Detectors for the metric pitfalls of Reinke et al. (2023), each with a tunable threshold.

Every detector looks at one label's metric values (and a few extra facts measured once by
:func:`napari_segtools.metrics.evaluate`) and returns :class:`PitfallWarning` objects that name
the label, the pitfall, a severity, one sentence saying why the numbers mislead, and what to
look at instead. The texts follow the lessons of the "Metric pitfalls" gallery
(:mod:`napari_segtools.core.pitfall_gallery`), which reproduces each one with numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .report import PitfallWarning


@dataclass(frozen=True)
class PitfallThresholds:
    """Thresholds of the pitfall detectors (pass any of them to ``evaluate`` as keywords).

    Attributes
    ----------
    small_structure_dice_step : float
        Warn when changing one voxel moves Dice by more than this (default 0.05).
    misalignment_ratio : float
        Warn when the centre distance exceeds this fraction of the reference's
        equivalent-sphere (2-D: circle) diameter, and more than one voxel, while Dice is at
        least ``misalignment_min_dice`` (defaults 0.2 and 0.1).
    misalignment_min_dice : float
        See ``misalignment_ratio``.
    bias_ratio : float
        Warn of systematic over-/under-segmentation when |FP - FN| / TP exceeds this
        (default 0.2).
    anisotropy_ratio : float
        Warn when the largest spacing exceeds the smallest by more than this factor (default 3).
    min_hole_voxels : int
        Smallest hole (enclosed background) in one mask but not the other worth a warning
        (default 1).
    cldice_gap : float
        Warn of a missed centreline (thin branches) when clDice is below Dice by more than this
        (default 0.1).
    boundary_min_iou : float
        Warn that overlap hides boundary errors when Mask IoU is at least this while Boundary
        IoU is lower by more than ``boundary_gap`` (defaults 0.9 and 0.3).
    boundary_gap : float
        See ``boundary_min_iou``.
    prediction_spacing : tuple of float or None
        Spacing (mm) of the prediction before it was resampled onto the reference grid, if it
        was; a relative difference above 1 % on any axis raises ``resolution_mismatch``.

    Examples
    --------
    >>> PitfallThresholds(bias_ratio=0.3).as_dict()["bias_ratio"]
    0.3
    """

    small_structure_dice_step: float = 0.05
    misalignment_ratio: float = 0.2
    misalignment_min_dice: float = 0.1
    bias_ratio: float = 0.2
    anisotropy_ratio: float = 3.0
    min_hole_voxels: int = 1
    cldice_gap: float = 0.1
    boundary_min_iou: float = 0.9
    boundary_gap: float = 0.3
    prediction_spacing: tuple[float, ...] | None = None

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> PitfallThresholds:
        """Build from keyword arguments, naming any unknown one in the error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(
                f"unknown keyword argument(s) {unknown}: not an option of evaluate() and not a "
                f"pitfall threshold ({', '.join(sorted(known))})"
            )
        return cls(**kwargs)

    def as_dict(self) -> dict:
        """Return the thresholds as a plain dict (for the report's settings)."""
        return asdict(self)


def _dice_step(tp: int, fp: int, fn: int) -> float:
    """Largest change of Dice caused by moving one voxel across the prediction boundary."""
    den = 2 * tp + fp + fn
    base = 2 * tp / den
    steps = []
    if tp > 0:  # one true-positive voxel lost (becomes FN)
        steps.append(abs(base - 2 * (tp - 1) / (den - 1)))
    if fn > 0:  # one missed voxel recovered
        steps.append(abs(2 * (tp + 1) / (den + 1) - base))
    return max(steps, default=0.0)


def equivalent_diameter(volume: float, ndim: int) -> float:
    """Diameter of the sphere (3-D) or circle (2-D) of the given volume (area).

    Examples
    --------
    >>> round(equivalent_diameter(np.pi, 2), 6)
    2.0
    """
    if ndim == 3:
        return float((6.0 * volume / np.pi) ** (1 / 3))
    return float(2.0 * np.sqrt(volume / np.pi))


#: the empty-mask cases: (pitfall, severity, message after "label N ", what to look at)
_EMPTY = {
    "both_empty": (
        "empty_reference",
        "warning",
        (
            "is absent from both reference and prediction, so every overlap and distance metric "
            "is undefined and left out of the means."
        ),
        "whether this label should be evaluated at all (the labels list)",
    ),
    "reference_empty": (
        "empty_reference",
        "critical",
        (
            "is empty in the reference but the prediction has {fp} voxels: recall and the "
            "distance metrics are undefined, not 0 or 1, and Dice is 0 whatever the prediction's "
            "size."
        ),
        (
            "the spurious prediction (false positives in the error map), counted as a "
            "false-positive detection"
        ),
    ),
    "prediction_empty": (
        "empty_prediction",
        "critical",
        (
            "is missing from the prediction: Dice is 0 and the distance metrics are undefined "
            "(NaN) or set to the image diagonal, depending on the empty policy; a mean that skips "
            "NaN hides the miss."
        ),
        "the missed structure (false negatives in the error map), counted as a missed detection",
    ),
}


def label_pitfalls(label, values: dict, case: str, facts: dict, th: PitfallThresholds, unit: str):
    """Pitfall warnings of one label.

    ``values`` holds the label's metrics (names of ``METRIC_NAMES``); ``facts`` holds
    ``ndim`` and the hole voxel counts ``holes_pred_only`` / ``holes_ref_only``.
    """
    out = []

    def warn(pitfall, severity, message, look_at):
        out.append(PitfallWarning(label, pitfall, severity, message, look_at))

    if case in _EMPTY:
        pitfall, severity, message, look_at = _EMPTY[case]
        warn(pitfall, severity, f"label {label} " + message.format(fp=int(values["fp"])), look_at)
        return out

    tp, fp, fn = int(values["tp"]), int(values["fp"]), int(values["fn"])
    ref_voxels = tp + fn
    step = _dice_step(tp, fp, fn)
    if step > th.small_structure_dice_step:
        warn(
            "small_structure",
            "warning",
            f"label {label} is small ({ref_voxels} reference voxels): moving one voxel changes "
            f"Dice by {step:.3f}, so Dice and IoU punish one-voxel boundary differences harshly; "
            "for a structure this small, whether it was found matters more than its overlap.",
            "detection (is each structure found? hits and misses per component) and Boundary "
            "IoU, which depends far less on size, rather than Dice",
        )
    if fn or fp:
        size = equivalent_diameter(values["reference_volume"], facts["ndim"])
        voxel = (values["reference_volume"] / ref_voxels) ** (1 / facts["ndim"])
        distance = values["center_distance"]
        ratio = distance / size if size else 0.0
        if (
            values["dice"] >= th.misalignment_min_dice
            and ratio > th.misalignment_ratio
            and distance > voxel * (1 + 1e-9)  # a one-voxel shift is the grid's own limit
        ):
            warn(
                "misalignment",
                "warning",
                f"label {label}'s centres are {distance:.3g} {unit} apart, {ratio:.0%} of its "
                f"size, although Dice is {values['dice']:.2f}: counting metrics (Dice, IoU) and "
                "boundary metrics (HD, Boundary IoU) are poor proxies for where a structure lies.",
                "the centre distance against a localisation tolerance, and the overlay of both "
                "outlines",
            )
    if tp and abs(fp - fn) / tp > th.bias_ratio:
        over = fp > fn
        lean = (
            "it favours over-segmentation (one layer too many costs less than one too few)"
            if over
            else "it punishes under-segmentation more than an over-segmentation of the same size"
        )
        warn(
            "over_segmentation" if over else "under_segmentation",
            "warning",
            f"label {label}'s prediction is systematically {'larger' if over else 'smaller'} "
            f"than the reference (FP {fp} vs FN {fn}, {abs(fp - fn) / tp:.0%} of TP): Dice does "
            f"not say which way the error goes, and {lean}.",
            "precision vs recall, F-beta with beta 0.5 (punishes over-segmentation) or 2 "
            "(punishes under-segmentation), and the error map's FP/FN colours",
        )
    for key, which, other in (
        ("holes_pred_only", "prediction", "reference"),
        ("holes_ref_only", "reference", "prediction"),
    ):
        if facts[key] >= th.min_hole_voxels:
            warn(
                "holes",
                "warning",
                f"label {label}'s {which} has {facts[key]} enclosed hole voxels "
                f"({facts[key] / ref_voxels:.0%} of the reference's size) that the {other} "
                "fills: Dice and the volume count them, but distance metrics of the outline do "
                "not see a hole, and with the voxel or surfel surface (which keep the hole's "
                "wall) HD and NSD see only how far that wall lies from the outline.",
                f"the volume difference, Dice and the interior of the {which} (error map), "
                "not HD or NSD",
            )
    cl = values["cldice"]
    if np.isfinite(cl) and cl < values["dice"] - th.cldice_gap and not facts["holes_pred_only"]:
        # a hole at the centre also empties the centreline; the holes warning explains that
        warn(
            "thin_structure",
            "warning",
            f"label {label}'s clDice ({cl:.2f}) is well below its Dice ({values['dice']:.2f}): "
            "the prediction misses part of the reference's centreline (thin branches or small "
            "structures), which area-based Dice barely counts.",
            "clDice and both masks' skeletons (missing branches), not Dice",
        )
    iou, biou = values["iou"], values["boundary_iou"]
    if iou >= th.boundary_min_iou and biou < iou - th.boundary_gap:
        warn(
            "boundary_error",
            "info",
            f"label {label}'s Mask IoU is {iou:.2f} but its Boundary IoU only {biou:.2f}: on a "
            "large structure the interior swamps the outline, so overlap metrics hardly register "
            "boundary errors.",
            "Boundary IoU and the boundary distances (NSD, the distance overlay), not Mask IoU "
            "or Dice alone",
        )
    n_ref, n_pred = int(values["reference_components"]), int(values["prediction_components"])
    if n_ref != n_pred:
        kind = (
            f"{n_pred - n_ref} more: spurious objects"
            if n_pred > n_ref
            else f"{n_ref - n_pred} fewer: missed or merged objects"
        )
        warn(
            "component_count",
            "warning",
            f"label {label} has {n_pred} connected components in the prediction and {n_ref} in "
            f"the reference ({kind}): a per-label score weighs objects by their size, so a large "
            "one dominates it and small objects missed or added barely move Dice or HD.",
            "each component separately: detection counts (found, missed, spurious) and the score "
            "without the largest structure",
        )
    return out


def image_pitfalls(spacing, th: PitfallThresholds):
    """Warnings that concern the whole image grid (label ``None``)."""
    out: list[PitfallWarning] = []
    if spacing is None:
        return out
    ratio = max(spacing) / min(spacing)
    if ratio > th.anisotropy_ratio:
        out.append(
            PitfallWarning(
                None,
                "anisotropic_spacing",
                "info",
                f"voxels are {ratio:.1f} times longer along one axis: voxel-counting metrics and "
                "surface distances depend strongly on the direction of the error.",
                "distances in mm (not voxels) and the errors along the coarse axis",
            )
        )
    if th.prediction_spacing is not None:
        pred = np.asarray(th.prediction_spacing, float)
        if pred.shape != (len(spacing),) or not np.allclose(pred, spacing, rtol=0.01):
            out.append(
                PitfallWarning(
                    None,
                    "resolution_mismatch",
                    "warning",
                    f"the prediction was made on a {tuple(pred.tolist())} mm grid but is scored on "
                    f"the reference's {tuple(spacing)} mm grid: resampling alone changes the "
                    "metrics.",
                    "the resampled prediction's outline against the original",
                )
            )
    return out
