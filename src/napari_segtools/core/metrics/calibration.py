"""Calibration of probability maps: ECE, MCE, ACE, Brier score, NLL and reliability bins.

A probability map is calibrated when, among the voxels given probability p for a class, a
fraction p truly belongs to it. Every quantity here is class-wise (one-vs-rest): each class's
probability map is scored against the indicator ``reference == class``, for softmax outputs,
sigmoid outputs and atlas agreement maps alike.

Let the voxels of one class fall into ``bins`` equal-width bins of probability
``(lower, upper]`` (the first bin also holds 0), with n_b voxels, mean probability conf_b
(confidence) and fraction acc_b truly of the class (accuracy), out of n voxels:

- ECE (expected calibration error) = sum_b n_b / n * |acc_b - conf_b| (Guo et al. 2017);
  MONAI's ``CalibrationErrorMetric(calibration_reduction="expected")``.
- MCE (maximum calibration error) = max over non-empty bins of |acc_b - conf_b|; MONAI's
  ``"maximum"``.
- ACE (adaptive calibration error, Nixon et al. 2019, "Measuring calibration in deep
  learning") = the mean of |acc_r - conf_r| over ``bins`` equal-mass bins r. This is *not*
  MONAI's ``"average"`` reduction, which averages the equal-width bins' errors unweighted.
- Brier score = mean (p - y)^2 over voxels, y the 0/1 indicator.
- NLL = -mean(y log p + (1 - y) log(1 - p)), p clipped to [1e-7, 1 - 1e-7] first.

The bins equal MONAI's ``calibration_binning`` with its default ``right=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_integer, check_labels, check_mask, check_same_shape
from .report import json_safe

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Columns of a calibration row, in display order.
CALIBRATION_METRICS = ("ece", "mce", "ace", "brier", "nll", "n")

#: NLL clips probabilities to [NLL_CLIP, 1 - NLL_CLIP] so a confident miss costs a finite 16.1.
NLL_CLIP = 1e-7

#: Probabilities may overshoot [0, 1] by this much (float32 rounding) and are clipped.
_SLACK = 1e-6

#: The most bins accepted: far more than any reliability diagram shows (the usual 10 to 20),
#: and each bin costs memory in every class's report.
MAX_BINS = 10_000


@dataclass(frozen=True, eq=False)
class ReliabilityBins:
    """Equal-width probability bins of one class (or of all classes pooled).

    Attributes
    ----------
    lower, upper : (B,) float ndarray
        Bin edges; a bin holds probabilities in ``(lower, upper]``, the first also 0.
    confidence : (B,) float ndarray
        Mean predicted probability in each bin (NaN for an empty bin).
    accuracy : (B,) float ndarray
        Fraction of the bin's voxels that truly belong to the class (NaN for an empty bin).
    count : (B,) int ndarray
        Voxels in each bin.

    Examples
    --------
    >>> import numpy as np
    >>> report = calibration(np.array([0.2, 0.9]), np.array([0, 1]), bins=2)
    >>> report.reliability[1].count.tolist()
    [1, 1]
    """

    lower: np.ndarray
    upper: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    def to_dict(self) -> dict:
        """Plain lists per field (NaN becomes ``None``)."""
        return json_safe({k: v.tolist() for k, v in self.__dict__.items()})


@dataclass(frozen=True)
class CalibrationReport:
    """Result of :func:`calibration`.

    Attributes
    ----------
    per_class : dict of int -> dict of str -> float
        Class id -> ``ece``, ``mce``, ``ace``, ``brier``, ``nll`` and ``n`` (voxels scored).
    pooled : dict of str -> float
        The same over every (voxel, class) pair of the reported classes as one set of binary
        predictions (for a single class it equals that class's row). Its Brier score is the
        multi-class Brier score divided by the number of classes.
    reliability : dict of (int or "pooled") -> ReliabilityBins
        The equal-width bins behind ECE and MCE, per class and pooled.
    settings : dict
        Bins, classes, mask use and the stated definitions.

    Examples
    --------
    >>> import numpy as np
    >>> report = calibration(np.array([0.2, 0.9]), np.array([0, 1]), bins=2)
    >>> round(report.pooled["ece"], 6), report.to_rows()[-1]["class"]
    (0.15, 'pooled')
    """

    per_class: dict[int, dict[str, float]]
    pooled: dict[str, float]
    reliability: dict[int | str, ReliabilityBins]
    settings: dict = field(default_factory=dict)

    def to_rows(self) -> list[dict]:
        """One dict per class plus a ``"pooled"`` row: ``class``, then every metric."""
        rows: list[dict] = [{"class": c, **values} for c, values in self.per_class.items()]
        rows.append({"class": "pooled", **self.pooled})
        return rows

    def to_dict(self) -> dict:
        """JSON-ready dict: settings, rows and reliability bins (NaN becomes ``None``)."""
        return json_safe(
            {
                "settings": self.settings,
                "rows": self.to_rows(),
                "reliability": {k: v.to_dict() for k, v in self.reliability.items()},
            }
        )


@dataclass(frozen=True)
class _Sums:
    """Per-bin sums of one set of binary predictions; they add up across classes."""

    count: np.ndarray
    p: np.ndarray
    y: np.ndarray
    squared: float
    log_loss: float

    @classmethod
    def of(cls, p: np.ndarray, y: np.ndarray, bins: int) -> _Sums:
        # bin k holds (k / bins, (k + 1) / bins]; 0 falls in bin 0 (torch.bucketize, right=False)
        index = np.searchsorted(np.arange(1, bins) / bins, p, side="left")
        clipped = np.clip(p, NLL_CLIP, 1.0 - NLL_CLIP)
        return cls(
            count=np.bincount(index, minlength=bins),
            p=np.bincount(index, weights=p, minlength=bins),
            y=np.bincount(index, weights=y, minlength=bins),
            squared=float(np.sum((p - y) ** 2)),
            log_loss=-float(np.sum(np.where(y, np.log(clipped), np.log1p(-clipped)))),
        )

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(
            *(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values(), strict=True))
        )

    def reliability(self) -> ReliabilityBins:
        bins = len(self.count)
        edges = np.arange(bins + 1) / bins
        with np.errstate(invalid="ignore", divide="ignore"):
            confidence = np.where(self.count > 0, self.p / self.count, np.nan)
            accuracy = np.where(self.count > 0, self.y / self.count, np.nan)
        return ReliabilityBins(edges[:-1], edges[1:], confidence, accuracy, self.count.copy())

    def row(self, ace: float) -> dict[str, float]:
        n = int(self.count.sum())
        if n == 0:
            return {**dict.fromkeys(CALIBRATION_METRICS[:-1], float("nan")), "n": 0}
        bins = self.reliability()
        gap = np.abs(bins.accuracy - bins.confidence)[bins.count > 0]
        return {
            "ece": float(np.sum(gap * bins.count[bins.count > 0]) / n),
            "mce": float(gap.max()),
            "ace": ace,
            "brier": self.squared / n,
            "nll": self.log_loss / n,
            "n": n,
        }


def _adaptive_error(pairs: list[tuple[np.ndarray, np.ndarray]], bins: int) -> float:
    """ACE over equal-mass bins of the concatenated (probability, truth) pairs.

    Thresholds are the order statistics at ranks floor(r n / bins), r = 1..bins-1; a voxel's bin
    is the number of thresholds <= its probability, so equal probabilities share a bin (ties
    may leave a bin empty, and an empty bin is left out of the mean).
    """
    n = sum(len(p) for p, _ in pairs)
    if n == 0:
        return float("nan")
    ranks = (np.arange(1, bins) * n) // bins
    values = np.concatenate([p for p, _ in pairs])  # a copy, sorted partly in place
    values.partition(ranks)
    thresholds = values[ranks]
    sums = np.zeros((3, bins))
    for p, y in pairs:
        index = np.searchsorted(thresholds, p, side="right")
        sums += [np.bincount(index, weights=w, minlength=bins) for w in (None, p, y)]
    full = sums[0] > 0
    return float(np.mean(np.abs(sums[2][full] - sums[1][full]) / sums[0][full]))


def _check_probabilities(probabilities) -> np.ndarray:
    prob = np.asarray(probabilities)
    if prob.dtype == bool:
        prob = prob.astype(np.float64)
    if not (np.issubdtype(prob.dtype, np.floating) or np.issubdtype(prob.dtype, np.integer)):
        raise TypeError(f"`probabilities` must hold numbers in [0, 1]; got dtype {prob.dtype}")
    if prob.size and not np.isfinite(prob).all():
        raise ValueError("`probabilities` contains NaN or infinite values")
    if prob.size and (prob.min() < -_SLACK or prob.max() > 1 + _SLACK):
        raise ValueError(
            "`probabilities` must lie in [0, 1] (apply softmax or sigmoid to logits first); "
            f"got values in [{prob.min():g}, {prob.max():g}]"
        )
    return prob


def _class_ids(classes, count: int) -> list[int]:
    if classes is None:
        return list(range(count))
    values = np.atleast_1d(np.asarray(classes, dtype=object)).ravel().tolist()
    ids = [check_integer(v, "classes") for v in values]
    if not ids or not all(0 <= c < count for c in ids):
        raise ValueError(
            f"`classes` must be channel indices in 0..{count - 1}; got {classes!r:.80}"
        )
    return sorted(set(ids))


def _class_pairs(prob, ref, classes, mask) -> tuple[dict, str]:
    """Class id -> (probabilities, truth) 1-D arrays of the voxels scored, and the mode."""
    if prob.shape in (ref.shape, (1, *ref.shape)):
        if classes is None:
            maps = {1: (prob.reshape(ref.shape), ref != 0)}
        else:
            values = np.atleast_1d(np.asarray(classes, dtype=object)).ravel().tolist()
            if len(values) != 1:
                raise ValueError(
                    "`classes` must be one label id for a single probability map; got "
                    f"{classes!r:.80}"
                )
            label = check_integer(values[0], "classes", minimum=0)
            maps = {label: (prob.reshape(ref.shape), ref == label)}
        mode = "foreground probability map"
    elif prob.ndim == ref.ndim + 1 and prob.shape[1:] == ref.shape:
        count = prob.shape[0]
        if ref.size and int(ref.max()) >= count:
            raise ValueError(
                f"`reference` holds label {int(ref.max())} but `probabilities` has {count} "
                f"channels (classes 0..{count - 1})"
            )
        ids = _class_ids(classes, count)
        maps = {c: (prob[c], ref == c) for c in ids}
        mode = f"{count} class channels"
    else:
        raise ValueError(
            f"`probabilities` has shape {prob.shape} but `reference` has shape {ref.shape}; "
            "give (C, *reference.shape) class channels or one map of the reference's shape"
        )
    pairs = {}
    for c, (p, y) in maps.items():
        if mask is not None:
            p, y = p[mask], y[mask]
        p = np.clip(p.astype(np.float64, copy=False).ravel(), 0.0, 1.0)
        pairs[c] = (p, y.ravel())
    return pairs, mode


def calibration(
    probabilities: ArrayLike,
    reference: ArrayLike,
    *,
    bins: int = 15,
    classes: int | Iterable[int] | None = None,
    mask: ArrayLike | None = None,
) -> CalibrationReport:
    """Measure how well a probability map is calibrated against a reference segmentation.

    Parameters
    ----------
    probabilities : (C, ...) or (...) float ndarray
        Per-class probability channels (softmax or sigmoid outputs) on the reference's grid,
        class c in channel c; or one foreground probability map of the reference's shape
        (a (1, ...) map counts as one). Values in [0, 1].
    reference : (...) int or bool ndarray
        Reference label map, 1-D to 3-D: class ids 0..C-1 for channels; for a single map,
        foreground is any non-zero voxel (or ``== classes`` when given).
    bins : int
        Number of equal-width bins for ECE, MCE and the reliability diagram, and of equal-mass
        bins for ACE, 1 to :data:`MAX_BINS` (10000).
    classes : int or sequence of int, optional
        Classes to report (and pool): channel indices, default all; ``range(1, C)`` leaves
        out background, as MONAI's ``include_background=False``. For a single map, the label
        id that counts as foreground (default any non-zero voxel, reported as class 1).
    mask : (...) bool ndarray, optional
        Voxels to score (for example a body mask, so air does not dominate); default all.

    Returns
    -------
    CalibrationReport
        ECE, MCE, ACE, Brier score, NLL and voxel count per class and pooled, reliability
        bins, and the settings.

    Raises
    ------
    ValueError
        If the shapes do not match, a probability lies outside [0, 1] or is not finite, the
        reference holds a class without a channel, ``bins`` is outside 1..10000, or
        ``classes`` names a class that does not exist.
    TypeError
        If ``probabilities`` is not numeric, ``reference`` or ``mask`` is not a label image,
        or ``bins``/``classes`` are not integers.

    Notes
    -----
    ECE and MCE equal MONAI's ``CalibrationErrorMetric`` with ``calibration_reduction``
    ``"expected"`` and ``"maximum"`` (per class: ``metric_reduction="none"``; pooled: the
    selected channels' voxels concatenated into one channel) up to MONAI's float32
    arithmetic. ACE uses equal-mass bins (Nixon et al. 2019) and differs from MONAI's
    ``"average"``. A class with no voxel to score (an empty ``mask``) gets NaN values.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.7, 0.9])
    >>> y = np.array([0, 0, 0, 0, 1, 0, 1, 1])
    >>> row = calibration(p, y, bins=2).per_class[1]
    >>> round(row["ece"], 5), round(row["mce"], 5), round(row["ace"], 5), round(row["brier"], 7)
    (0.05625, 0.2, 0.16875, 0.1034375)
    """
    prob = _check_probabilities(probabilities)
    ref = check_labels(reference, "reference", ndims=(1, 2, 3))
    bins = check_integer(bins, "bins", minimum=1, maximum=MAX_BINS)
    if mask is not None:
        mask = check_mask(mask, "mask", ndims=(ref.ndim,))
        check_same_shape(mask, ref, ("mask", "reference"))
    pairs, mode = _class_pairs(prob, ref, classes, mask)
    per_class, reliability, sums = {}, {}, []
    for c, (p, y) in pairs.items():
        sums.append(_Sums.of(p, y, bins))
        per_class[c] = sums[-1].row(_adaptive_error([(p, y)], bins))
        reliability[c] = sums[-1].reliability()
    pooled = sum(sums[1:], start=sums[0])
    reliability["pooled"] = pooled.reliability()
    settings = {
        "bins": bins,
        "input": mode,
        "classes": list(per_class),
        "mask": mask is not None,
        "binning": "equal-width bins (lower, upper], the first holding 0 (MONAI, right=False)",
        "ace": "adaptive calibration error: mean gap over equal-mass bins (Nixon et al. 2019)",
        "nll_clip": NLL_CLIP,
        "pooled": "every (voxel, class) pair of the reported classes as one binary prediction",
    }
    return CalibrationReport(
        per_class=per_class,
        pooled=pooled.row(_adaptive_error(list(pairs.values()), bins)),
        reliability=reliability,
        settings=settings,
    )


def reliability_diagram(
    report: CalibrationReport,
    *,
    curves: Sequence[int | str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw a reliability diagram: accuracy against confidence per bin, and the diagonal.

    Parameters
    ----------
    report : CalibrationReport
        What :func:`calibration` returned.
    curves : sequence of int or "pooled", optional
        Keys of ``report.reliability`` to draw; default every class and the pooled curve.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; default a new figure (no pyplot, so it works on any backend and
        in headless runs).

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the diagram; each curve's label gives its ECE.

    Raises
    ------
    ValueError
        If ``curves`` names a key the report does not hold.

    Examples
    --------
    >>> import numpy as np
    >>> report = calibration(np.array([0.2, 0.4, 0.9]), np.array([0, 1, 1]), bins=5)
    >>> fig = reliability_diagram(report)
    >>> [line.get_label() for line in fig.axes[0].get_lines()][1:]
    ['class 1 (ECE 0.300)', 'pooled (ECE 0.300)']
    """
    keys = list(report.reliability) if curves is None else list(curves)
    unknown = [k for k in keys if k not in report.reliability]
    if unknown:
        raise ValueError(
            f"`curves` must be keys of the report's reliability bins "
            f"{list(report.reliability)}; got {unknown}"
        )
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4.5, 4.5), layout="constrained").add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="calibrated")
    for key in keys:
        bins = report.reliability[key]
        row = report.pooled if key == "pooled" else report.per_class[int(key)]
        full = bins.count > 0
        name = "pooled" if key == "pooled" else f"class {key}"
        ax.plot(
            bins.confidence[full],
            bins.accuracy[full],
            marker="o",
            linewidth=2.5 if key == "pooled" else 1.5,
            label=f"{name} (ECE {row['ece']:.3f})",
        )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability (confidence)")
    ax.set_ylabel("fraction truly of the class (accuracy)")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize="small")
    return cast("Figure", ax.figure)  # a SubFigure when ``ax`` lies in one
