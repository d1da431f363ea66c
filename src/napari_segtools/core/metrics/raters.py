"""Agreement between raters: pairwise Dice and HD95, a STAPLE consensus, repeatability.

A gold standard drawn by hand varies from one expert to the next (inter-rater variability) and
from one session to the next for the same expert (intra-rater variability). This module
measures both, and scores a method against each rater and against their consensus with the
raters' own spread beside it, so a method is judged against how far experts disagree.

- :func:`rater_agreement`: Dice and HD95 between every pair of raters, and the binary STAPLE
  consensus (Warfield, Zou and Wells 2004, IEEE TMI 23:903) with each rater's estimated
  sensitivity and specificity.
- :func:`repeatability`: one rater's two sessions on the same case.
- :func:`score_against_raters`: a method against each rater and the consensus.

Dice and HD95 come from :func:`~napari_segtools.metrics.dice` and
:func:`~napari_segtools.metrics.hausdorff_distance` (``percentile=95``, voxel surface
convention, empty policy ``"nan"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

from .._validate import check_integer, check_labels, check_same_shape, check_spacing
from ._common import VOXEL_UNITS_NOTE, length_unit
from .overlap import dice
from .report import json_safe
from .surface import SURFACE_CONVENTIONS, hausdorff_distance

#: STAPLE packs each voxel's votes into one integer of this many bits at most
MAX_RATERS = 20

_STAPLE_NOTE = (
    "binary STAPLE (Warfield et al. 2004): expectation-maximisation of each rater's "
    "sensitivity and specificity, the foreground prior fixed at the raters' mean foreground "
    "fraction (as SimpleITK's STAPLEImageFilter); consensus = posterior > 0.5"
)


def _check_label(label) -> int | None:
    return None if label is None else check_integer(label, "label", minimum=1)


def _to_mask(segmentation, name: str, label: int | None) -> np.ndarray:
    seg = check_labels(segmentation, name)
    return seg != 0 if label is None else seg == label


def _masks(segmentations, label: int | None) -> list[np.ndarray]:
    """Validate ``segmentations`` (at least two, same shape) and return their bool masks."""
    if isinstance(segmentations, (str, bytes)) or not hasattr(segmentations, "__len__"):
        raise TypeError(
            "`segmentations` must be a list of label images, one per rater; got "
            f"{type(segmentations).__name__}"
        )
    if len(segmentations) < 2:
        raise ValueError(
            f"`segmentations` holds {len(segmentations)} image(s); give at least two raters"
        )
    if len(segmentations) > MAX_RATERS:
        raise ValueError(
            f"`segmentations` holds {len(segmentations)} images; at most {MAX_RATERS} raters"
        )
    masks = [_to_mask(s, f"segmentations[{i}]", label) for i, s in enumerate(segmentations)]
    for i, m in enumerate(masks[1:], 1):
        check_same_shape(masks[0], m, ("segmentations[0]", f"segmentations[{i}]"))
    return masks


def _names(names, count: int) -> tuple[str, ...]:
    if names is None:
        return tuple(f"rater {i + 1}" for i in range(count))
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"`names` must be a list of {count} strings; got {names!r:.80}")
    names = tuple(names)
    if len(names) != count or len(set(names)) != count:
        raise ValueError(
            f"`names` must be {count} distinct names, one per segmentation; got {names!r:.80}"
        )
    return names


def _pair(a: np.ndarray, b: np.ndarray, spacing) -> tuple[float, float]:
    """Dice and HD95 of two masks (NaN where undefined)."""
    return dice(a, b), hausdorff_distance(a, b, spacing=spacing, percentile=95)


def _staple(masks: list[np.ndarray], max_iterations: int, tolerance: float = 1e-10):
    """Binary STAPLE by EM over the distinct vote patterns.

    Every voxel with the same votes has the same posterior, so the EM runs on the (at most
    2**R) vote patterns and their counts instead of on every voxel: measured on 200**3 voxels
    and three raters, 0.1 s against 4 s for SimpleITK's STAPLEImageFilter, with the same
    estimates (the tests compare the two).

    Returns (posterior per voxel, sensitivity (R,), specificity (R,), iterations run).
    """
    raters = len(masks)
    dtype = np.uint8 if raters <= 8 else np.uint16 if raters <= 16 else np.uint32
    code = np.zeros(masks[0].shape, dtype)
    for j, m in enumerate(masks):
        code |= np.left_shift(m.astype(dtype), j, dtype=dtype)
    counts = np.bincount(code.ravel(), minlength=1 << raters)
    present = np.flatnonzero(counts)
    votes = ((present[:, None] >> np.arange(raters)) & 1).astype(bool)  # (P, R)
    n = counts[present].astype(np.float64)
    prior = float(n @ votes.sum(axis=1)) / (n.sum() * raters)
    table = np.zeros(1 << raters)  # posterior per vote pattern
    if prior in (0.0, 1.0):  # every rater empty (or full): the consensus is the same
        table[:] = prior
        undefined = np.full(raters, np.nan)
        ones = np.ones(raters)
        sens, spec = (undefined, ones) if prior == 0.0 else (ones, undefined)
        return table[code], sens, spec, 0
    lo, hi = 1e-12, 1.0 - 1e-12  # keeps log() finite when a rater is perfect

    def posterior(sens: np.ndarray, spec: np.ndarray) -> np.ndarray:
        p, q = np.clip(sens, lo, hi), np.clip(spec, lo, hi)
        log_fg = np.log(prior) + np.where(votes, np.log(p), np.log1p(-p)).sum(axis=1)
        log_bg = np.log1p(-prior) + np.where(votes, np.log1p(-q), np.log(q)).sum(axis=1)
        return expit(log_fg - log_bg)

    sens = np.full(raters, 0.99)
    spec = np.full(raters, 0.99)
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        fg = posterior(sens, spec) * n
        bg = n - fg
        new_sens, new_spec = (fg @ votes) / fg.sum(), (bg @ ~votes) / bg.sum()
        change = max(np.abs(new_sens - sens).max(), np.abs(new_spec - spec).max())
        sens, spec = new_sens, new_spec
        if change < tolerance:
            break
    table[present] = posterior(sens, spec)
    return table[code], sens, spec, iterations


def _units(spacing, ndim: int) -> dict[str, str]:
    length = length_unit(spacing)
    return {"dice": "", "hd95": length, "volume": f"{length}^{ndim}"}


def _settings(spacing, label, **extra) -> dict:
    settings = {
        "spacing": None if spacing is None else list(spacing),
        "label": label,
        "foreground": "any non-zero voxel" if label is None else f"voxels == {label}",
        "hd95": "95th-percentile Hausdorff distance, " + SURFACE_CONVENTIONS["voxel"],
        "empty": "Dice and HD95 are NaN where undefined (an empty mask)",
        **extra,
    }
    if spacing is None:
        settings["units_note"] = VOXEL_UNITS_NOTE
    return settings


@dataclass(frozen=True, eq=False)
class RaterAgreement:
    """Result of :func:`rater_agreement`.

    Attributes
    ----------
    raters : tuple of str
        Rater names, in input order (rows and columns of the matrices).
    dice : (R, R) float ndarray
        Pairwise Dice; symmetric, 1 on the diagonal (NaN for an empty mask).
    hd95 : (R, R) float ndarray
        Pairwise 95th-percentile Hausdorff distance in ``units["hd95"]``; symmetric, 0 on the
        diagonal; NaN where a mask is empty.
    consensus : bool ndarray
        STAPLE consensus: voxels whose posterior foreground probability exceeds 0.5.
    consensus_probability : float32 ndarray
        STAPLE posterior probability of foreground per voxel.
    sensitivity, specificity : (R,) float ndarray
        Each rater's STAPLE estimate (NaN when the consensus has no foreground, resp. no
        background).
    settings : dict
        Options, conventions and the STAPLE iterations run.
    units : dict of str
        Unit of each quantity: ``"mm"`` (``"voxel"`` when ``spacing`` was None) or ``""``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((6, 6), bool); a[1:5, 1:5] = True
    >>> result = rater_agreement([a, a, a], spacing=(1.0, 1.0))
    >>> float(result.dice[0, 1]), result.raters[2]
    (1.0, 'rater 3')
    """

    raters: tuple[str, ...]
    dice: np.ndarray
    hd95: np.ndarray
    consensus: np.ndarray
    consensus_probability: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    settings: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)

    def pairwise(self, metric: str) -> np.ndarray:
        """Return the values of ``metric`` (``"dice"`` or ``"hd95"``) over distinct pairs."""
        matrix = {"dice": self.dice, "hd95": self.hd95}[metric]
        return matrix[np.triu_indices(len(self.raters), k=1)]

    def to_dict(self) -> dict:
        """JSON-ready dict: raters, matrices, per-rater STAPLE estimates, settings, units.

        NaN becomes ``None``; the consensus image is summarised by its voxel count.
        """
        return json_safe(
            {
                "raters": list(self.raters),
                "dice": self.dice.tolist(),
                "hd95": self.hd95.tolist(),
                "sensitivity": dict(zip(self.raters, self.sensitivity.tolist(), strict=True)),
                "specificity": dict(zip(self.raters, self.specificity.tolist(), strict=True)),
                "consensus_voxels": int(np.count_nonzero(self.consensus)),
                "settings": self.settings,
                "units": self.units,
            }
        )


def _agreement(masks, spacing, names, label, max_iterations) -> RaterAgreement:
    count = len(masks)
    dice_matrix = np.full((count, count), np.nan)
    hd_matrix = np.full((count, count), np.nan)
    for i in range(count):
        if masks[i].any():
            dice_matrix[i, i], hd_matrix[i, i] = 1.0, 0.0
        for j in range(i + 1, count):
            d, h = _pair(masks[i], masks[j], spacing)
            dice_matrix[i, j] = dice_matrix[j, i] = d
            hd_matrix[i, j] = hd_matrix[j, i] = h
    posterior, sens, spec, iterations = _staple(masks, max_iterations)
    return RaterAgreement(
        raters=names,
        dice=dice_matrix,
        hd95=hd_matrix,
        consensus=posterior > 0.5,
        consensus_probability=posterior.astype(np.float32),
        sensitivity=sens,
        specificity=spec,
        settings=_settings(
            spacing,
            label,
            staple=_STAPLE_NOTE,
            max_iterations=max_iterations,
            staple_iterations=iterations,
        ),
        units=_units(spacing, masks[0].ndim),
    )


def rater_agreement(
    segmentations: Sequence[ArrayLike],
    *,
    spacing: Sequence[float] | None,
    names: Sequence[str] | None = None,
    label: int | None = None,
    max_iterations: int = 1000,
) -> RaterAgreement:
    """Measure how far raters agree: pairwise Dice and HD95, and their STAPLE consensus.

    Parameters
    ----------
    segmentations : sequence of (Y, X) or (Z, Y, X) int or bool ndarray
        One segmentation of the same case per rater (2 to 20), all on one grid.
    spacing : sequence of float or None
        Voxel size in mm, numpy axis order; required. An explicit None gives HD95 in voxel
        units (``units["hd95"] == "voxel"``).
    names : sequence of str, optional
        One distinct name per rater; default ``"rater 1"``, ``"rater 2"``, ...
    label : int, optional
        Label id to compare; default any non-zero voxel is foreground.
    max_iterations : int
        Limit of STAPLE expectation-maximisation iterations (it stops earlier once no
        estimate changes by more than 1e-10).

    Returns
    -------
    RaterAgreement
        Dice and HD95 matrices, consensus mask and posterior, each rater's sensitivity and
        specificity, settings and units.

    Raises
    ------
    ValueError
        If fewer than two or more than 20 segmentations are given, their shapes differ,
        ``spacing`` does not fit, ``names`` does not give one distinct name per rater, or
        ``label``/``max_iterations`` is not a positive integer.
    TypeError
        If a segmentation is not an integer/bool label image or ``names`` are not strings.

    Notes
    -----
    STAPLE estimates each rater's sensitivity p and specificity q and the posterior
    probability that each voxel is truly foreground, by expectation-maximisation; the
    foreground prior is held at the raters' mean foreground fraction, as SimpleITK's
    ``STAPLEImageFilter`` does, and the estimates equal that filter's. Specificity counts every
    background voxel of the grid, so it depends on the field of view: compare it across raters,
    not across images. An empty mask makes its Dice and HD95 NaN.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:6, 2:6] = True
    >>> result = rater_agreement([a, np.roll(a, 1, axis=1), a], spacing=(1.0, 1.0))
    >>> float(result.dice[0, 1]), float(result.hd95[0, 1]), bool((result.consensus == a).all())
    (0.75, 1.0, True)
    """
    label = _check_label(label)
    masks = _masks(segmentations, label)
    if spacing is not None:
        spacing = check_spacing(spacing, masks[0].ndim, array_name="segmentations[0]")
    max_iterations = check_integer(max_iterations, "max_iterations", minimum=1)
    return _agreement(masks, spacing, _names(names, len(masks)), label, max_iterations)


@dataclass(frozen=True)
class Repeatability:
    """Result of :func:`repeatability`: one rater's two sessions on the same case.

    Attributes
    ----------
    dice, hd95 : float
        Agreement of the two sessions (HD95 in ``units["hd95"]``; NaN where undefined).
    volume_first, volume_second : float
        Foreground volume of each session in ``units["volume"]`` (mm^3, or voxels when
        ``spacing`` was None).
    volume_difference : float
        ``volume_second - volume_first``, same unit.
    volume_difference_percent : float
        The difference relative to the mean of the two volumes, in percent (NaN when both are
        empty).
    units : dict of str
        Unit of each quantity.
    settings : dict
        Options and conventions.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((6, 6), bool); a[1:5, 1:5] = True
    >>> repeatability(a, a, spacing=(0.5, 0.5)).volume_first
    4.0
    """

    dice: float
    hd95: float
    volume_first: float
    volume_second: float
    volume_difference: float
    volume_difference_percent: float
    units: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (NaN becomes ``None``)."""
        return json_safe(dict(self.__dict__))


def repeatability(
    first: ArrayLike,
    second: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    label: int | None = None,
) -> Repeatability:
    """Measure intra-rater repeatability: one rater's two segmentations of the same case.

    Parameters
    ----------
    first, second : (Y, X) or (Z, Y, X) int or bool ndarray
        The same rater's segmentations from two sessions, on one grid.
    spacing : sequence of float or None
        Voxel size in mm, numpy axis order; required. An explicit None gives HD95 in voxel
        units and volumes in voxels.
    label : int, optional
        Label id to compare; default any non-zero voxel is foreground.

    Returns
    -------
    Repeatability
        Dice, HD95, both volumes and their difference in mm^3 and in percent of their mean.

    Raises
    ------
    ValueError
        If the shapes differ, ``spacing`` does not fit, or ``label`` is not a positive integer.
    TypeError
        If an input is not an integer/bool label image.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:6, 2:6] = True
    >>> b = a.copy(); b[2:6, 6] = True
    >>> r = repeatability(a, b, spacing=(1.0, 2.0))
    >>> r.dice, r.volume_difference, r.volume_difference_percent, r.units["volume"]
    (0.8888888888888888, 8.0, 22.22222222222222, 'mm^2')
    """
    label = _check_label(label)
    a = _to_mask(first, "first", label)
    b = _to_mask(second, "second", label)
    check_same_shape(a, b, ("first", "second"))
    if spacing is not None:
        spacing = check_spacing(spacing, a.ndim, array_name="first")
    voxel = 1.0 if spacing is None else float(np.prod(spacing))
    v1, v2 = int(np.count_nonzero(a)) * voxel, int(np.count_nonzero(b)) * voxel
    mean = (v1 + v2) / 2
    d, h = _pair(a, b, spacing)
    return Repeatability(
        dice=d,
        hd95=h,
        volume_first=v1,
        volume_second=v2,
        volume_difference=v2 - v1,
        volume_difference_percent=100.0 * (v2 - v1) / mean if mean else float("nan"),
        units=_units(spacing, a.ndim),
        settings=_settings(spacing, label),
    )


def _spread(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return dict.fromkeys(("min", "median", "max"), float("nan"))
    return {
        "min": float(finite.min()),
        "median": float(np.median(finite)),
        "max": float(finite.max()),
    }


@dataclass(frozen=True)
class RaterScores:
    """Result of :func:`score_against_raters`: a method against raters and their consensus.

    Attributes
    ----------
    per_rater : dict of str -> dict of str -> float
        Rater name -> ``{"dice": ..., "hd95": ...}`` of the method against that rater.
    consensus : dict of str -> float
        The method against the STAPLE consensus.
    inter_rater : dict of str -> dict of str -> float
        ``"dice"`` and ``"hd95"`` -> ``{"min", "median", "max"}`` over the distinct rater
        pairs (NaN values left out): the spread among experts to read the method against.
    agreement : RaterAgreement
        The raters' own agreement and STAPLE estimates.
    units : dict of str
        Unit of each metric.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((6, 6), bool); a[1:5, 1:5] = True
    >>> scores = score_against_raters(a, [a, a], spacing=(1.0, 1.0))
    >>> scores.consensus["dice"], scores.inter_rater["dice"]["min"]
    (1.0, 1.0)
    """

    per_rater: dict[str, dict[str, float]]
    consensus: dict[str, float]
    inter_rater: dict[str, dict[str, float]]
    agreement: RaterAgreement
    units: dict = field(default_factory=dict)

    def to_rows(self) -> list[dict]:
        """Table rows: one per rater, ``"consensus"``, then the inter-rater min/median/max.

        Each row has ``reference``, ``dice`` and ``hd95``.
        """
        rows = [{"reference": name, **values} for name, values in self.per_rater.items()]
        rows.append({"reference": "consensus", **self.consensus})
        for stat in ("min", "median", "max"):
            rows.append(
                {"reference": f"inter-rater {stat}"}
                | {metric: spread[stat] for metric, spread in self.inter_rater.items()}
            )
        return rows

    def to_dict(self) -> dict:
        """JSON-ready dict: rows, units and the raters' agreement (NaN becomes ``None``)."""
        return json_safe(
            {"rows": self.to_rows(), "units": self.units, "agreement": self.agreement.to_dict()}
        )


def score_against_raters(
    prediction: ArrayLike,
    segmentations: Sequence[ArrayLike],
    *,
    spacing: Sequence[float] | None,
    names: Sequence[str] | None = None,
    label: int | None = None,
    max_iterations: int = 1000,
) -> RaterScores:
    """Score a segmentation against each rater and their STAPLE consensus.

    The raters' pairwise spread is reported beside the scores: a method whose Dice against
    the raters falls inside the inter-rater range disagrees with them no more than they
    disagree with each other.

    Parameters
    ----------
    prediction : (Y, X) or (Z, Y, X) int or bool ndarray
        The method's segmentation.
    segmentations : sequence of int or bool ndarray
        One segmentation per rater (2 to 20), same grid as ``prediction``.
    spacing : sequence of float or None
        Voxel size in mm, numpy axis order; required. An explicit None gives HD95 in voxel
        units.
    names : sequence of str, optional
        One distinct name per rater; default ``"rater 1"``, ``"rater 2"``, ...
    label : int, optional
        Label id to compare; default any non-zero voxel is foreground.
    max_iterations : int
        Limit of STAPLE iterations (see :func:`rater_agreement`).

    Returns
    -------
    RaterScores
        Dice and HD95 against each rater and the consensus, the inter-rater spread, and the
        :class:`RaterAgreement` behind them.

    Raises
    ------
    ValueError, TypeError
        As :func:`rater_agreement`, and when ``prediction`` is not a label image on the
        raters' grid.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool); a[2:6, 2:6] = True
    >>> raters = [a, np.roll(a, 1, axis=1), a]
    >>> scores = score_against_raters(np.roll(a, 1, axis=0), raters, spacing=(1.0, 1.0))
    >>> scores.per_rater["rater 1"]["dice"], scores.inter_rater["dice"]["median"]
    (0.75, 0.75)
    """
    label = _check_label(label)
    masks = _masks(segmentations, label)
    pred = _to_mask(prediction, "prediction", label)
    check_same_shape(pred, masks[0], ("prediction", "segmentations[0]"))
    if spacing is not None:
        spacing = check_spacing(spacing, pred.ndim, array_name="prediction")
    max_iterations = check_integer(max_iterations, "max_iterations", minimum=1)
    names = _names(names, len(masks))
    agreement = _agreement(masks, spacing, names, label, max_iterations)
    per_rater = {}
    for name, mask in zip(names, masks, strict=True):
        d, h = _pair(pred, mask, spacing)
        per_rater[name] = {"dice": d, "hd95": h}
    d, h = _pair(pred, agreement.consensus, spacing)
    return RaterScores(
        per_rater=per_rater,
        consensus={"dice": d, "hd95": h},
        inter_rater={m: _spread(agreement.pairwise(m)) for m in ("dice", "hd95")},
        agreement=agreement,
        units={"dice": "", "hd95": length_unit(spacing)},
    )
