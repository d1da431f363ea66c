"""Detectors for the metric pitfalls of Reinke et al. (2023), each with a tunable threshold.

Every detector looks at one label's metric values (and a few extra facts measured once by
:func:`napari_segtools.metrics.evaluate`) and returns :class:`PitfallWarning` objects that name
the label, the pitfall, a severity, one sentence saying why the numbers mislead, and what to
look at instead.
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
        equivalent-sphere (2-D: circle) diameter while Dice is at least
        ``misalignment_min_dice`` (defaults 0.2 and 0.1).
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
    """Diameter of the sphere (3-D) or circle (2-D) of the given volume (area)."""
    if ndim == 3:
        return float((6.0 * volume / np.pi) ** (1 / 3))
    return float(2.0 * np.sqrt(volume / np.pi))


def label_pitfalls(label, values: dict, case: str, facts: dict, th: PitfallThresholds, unit: str):
    """Pitfall warnings of one label.

    ``values`` holds the label's metrics (names of ``METRIC_NAMES``); ``facts`` holds
    ``ndim`` and the hole voxel counts ``holes_pred_only`` / ``holes_ref_only``.
    """
    out = []

    def warn(pitfall, severity, message, look_at):
        out.append(PitfallWarning(label, pitfall, severity, message, look_at))

    if case == "both_empty":
        warn(
            "empty_reference",
            "warning",
            f"label {label} is absent from both reference and prediction, so every overlap and "
            "distance metric is undefined and left out of the means.",
            "whether this label should be evaluated at all (the labels list)",
        )
        return out
    if case == "reference_empty":
        warn(
            "empty_reference",
            "critical",
            f"label {label} is empty in the reference but the prediction has "
            f"{int(values['fp'])} voxels: recall and the distance metrics are undefined, and "
            "Dice is 0 whatever the prediction's size.",
            "the spurious prediction (false positives in the error map)",
        )
        return out
    if case == "prediction_empty":
        warn(
            "empty_prediction",
            "critical",
            f"label {label} is missing from the prediction: Dice is 0 and the distance metrics "
            "are undefined (NaN) or set to the image diagonal, depending on the empty policy.",
            "the missed structure (false negatives in the error map)",
        )
        return out

    tp, fp, fn = int(values["tp"]), int(values["fp"]), int(values["fn"])
    step = _dice_step(tp, fp, fn)
    if step > th.small_structure_dice_step:
        warn(
            "small_structure",
            "warning",
            f"label {label} is small ({tp + fn} reference "
            f"voxels): one voxel moves Dice by {step:.3f}, so Dice punishes "
            "tiny boundary differences harshly.",
            "distance metrics (HD95, NSD) and the error map rather than Dice",
        )
    if fn or fp:
        size = equivalent_diameter(values["reference_volume"], facts["ndim"])
        ratio = values["center_distance"] / size if size else 0.0
        if values["dice"] >= th.misalignment_min_dice and ratio > th.misalignment_ratio:
            warn(
                "misalignment",
                "warning",
                f"label {label}'s centres are {values['center_distance']:.3g} {unit} apart, "
                f"{ratio:.0%} of its size, although Dice is {values['dice']:.2f}: overlap "
                "metrics hide a shifted structure.",
                "the centre distance and HD, and the overlay of both outlines",
            )
    if tp and abs(fp - fn) / tp > th.bias_ratio:
        over = fp > fn
        warn(
            "over_segmentation" if over else "under_segmentation",
            "warning",
            f"label {label}'s prediction is systematically "
            f"{'larger' if over else 'smaller'} than the reference (FP {fp} vs FN {fn}, "
            f"{abs(fp - fn) / tp:.0%} of TP): Dice does not tell the direction of the error.",
            "precision vs recall, the volume difference and the error map's FP/FN colours",
        )
    for key, which, other in (
        ("holes_pred_only", "prediction", "reference"),
        ("holes_ref_only", "reference", "prediction"),
    ):
        if facts[key] >= th.min_hole_voxels:
            warn(
                "holes",
                "warning",
                f"label {label}'s {which} has {facts[key]} enclosed hole voxels that the {other} "
                "fills: Dice barely moves and boundary metrics see only a small inner surface.",
                f"the interior of the {which} (the error map inside the structure)",
            )
    n_ref, n_pred = int(values["reference_components"]), int(values["prediction_components"])
    if n_ref != n_pred:
        kind = "spurious objects" if n_pred > n_ref else "missed or merged objects"
        warn(
            "component_count",
            "warning",
            f"label {label} has {n_pred} connected components in the prediction and {n_ref} in "
            f"the reference ({kind}), which per-label Dice and HD do not reveal.",
            "each component separately (object-level detection metrics)",
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
