"""Overlap metrics: the confusion counts once, every ratio derived from them.

With TP, FP, FN, TN the voxel counts of the confusion matrix (reference = truth):

- accuracy = (TP + TN) / (TP + FP + FN + TN)
- precision = TP / (TP + FP)
- recall (sensitivity) = TP / (TP + FN)
- specificity = TN / (TN + FP)
- F-beta = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP); F1 = Dice = 2 TP / (2 TP + FP + FN)
- IoU (Jaccard) = TP / (TP + FP + FN)
- volume similarity = 1 - |FN - FP| / (2 TP + FP + FN) (Cardenes et al.; *not* the signed
  2 (Vp - Vr) / (Vp + Vr) that SimpleITK and seg-metrics report under that name)

A ratio with a zero denominator is undefined: NaN, or under ``empty="worst"`` 0 when exactly one
mask is empty.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._common import apply_empty, check_choice, check_pair, empty_case


class Confusion(NamedTuple):
    """Voxel counts of the confusion matrix (reference = truth)."""

    tp: int
    fp: int
    fn: int
    tn: int


def counts_of(ref: np.ndarray, pred: np.ndarray, total: int | None = None) -> Confusion:
    """Confusion counts of two bool masks; ``total`` voxels (default ``ref.size``) give TN."""
    tp = int(np.count_nonzero(ref & pred))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(ref)) - tp
    total = ref.size if total is None else total
    return Confusion(tp, fp, fn, total - tp - fp - fn)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def compute_accuracy(c: Confusion) -> float:
    """(TP + TN) / (TP + FP + FN + TN)."""
    return _ratio(c.tp + c.tn, c.tp + c.fp + c.fn + c.tn)


def compute_precision(c: Confusion) -> float:
    """TP / (TP + FP)."""
    return _ratio(c.tp, c.tp + c.fp)


def compute_recall(c: Confusion) -> float:
    """TP / (TP + FN)."""
    return _ratio(c.tp, c.tp + c.fn)


def compute_specificity(c: Confusion) -> float:
    """TN / (TN + FP)."""
    return _ratio(c.tn, c.tn + c.fp)


def compute_fbeta(c: Confusion, *, beta: float = 1.0) -> float:
    """(1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)."""
    b2 = float(beta) ** 2
    return _ratio((1 + b2) * c.tp, (1 + b2) * c.tp + b2 * c.fn + c.fp)


def compute_dice(c: Confusion) -> float:
    """2 TP / (2 TP + FP + FN) (equal to F1)."""
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)


def compute_jaccard(c: Confusion) -> float:
    """TP / (TP + FP + FN) (IoU)."""
    return _ratio(c.tp, c.tp + c.fp + c.fn)


def compute_volume_similarity(c: Confusion) -> float:
    """1 - |FN - FP| / (2 TP + FP + FN)."""
    den = 2 * c.tp + c.fp + c.fn
    return 1.0 - abs(c.fn - c.fp) / den if den else float("nan")


def confusion_matrix(reference, prediction, *, spacing=None) -> Confusion:
    """Count true/false positives/negatives of ``prediction`` against ``reference``.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only; counts are in voxels (multiply by the voxel volume for
        mm^3).

    Returns
    -------
    Confusion
        ``(tp, fp, fn, tn)`` voxel counts.

    Examples
    --------
    >>> confusion_matrix(np.array([[1, 1, 0, 0]]), np.array([[0, 1, 1, 0]]))
    Confusion(tp=1, fp=1, fn=1, tn=1)
    """
    ref, pred, _ = check_pair(reference, prediction, spacing)
    return counts_of(ref, pred)


def _plain(compute, worst=0.0):
    def metric(reference, prediction, *, spacing=None, empty="nan", **options) -> float:
        check_choice(empty, "empty", ("nan", "worst"))
        ref, pred, _ = check_pair(reference, prediction, spacing)
        c = counts_of(ref, pred)
        case = empty_case(c.tp + c.fn, c.tp + c.fp)
        return apply_empty(compute(c, **options), case, empty, worst)

    name = compute.__name__.removeprefix("compute_")
    metric.__doc__ = (
        f"{name.replace('_', ' ').capitalize()} of ``prediction`` against ``reference``: "
        f"{compute.__doc__}\n\n"
        "    Parameters\n    ----------\n"
        "    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray\n"
        "        Masks on the same grid; non-zero is foreground.\n"
        "    spacing : sequence of float, optional\n"
        "        Checked for consistency only: overlap ratios do not depend on voxel size.\n"
        '    empty : {"nan", "worst"}\n'
        "        Undefined (0/0) value: NaN, or 0 when exactly one mask is empty.\n\n"
        "    Returns\n    -------\n    float\n        Value in [0, 1], or NaN when undefined.\n"
    )
    return metric


accuracy = _plain(compute_accuracy)
precision = _plain(compute_precision)
recall = _plain(compute_recall)
specificity = _plain(compute_specificity)
dice = _plain(compute_dice)
jaccard = _plain(compute_jaccard)
volume_similarity = _plain(compute_volume_similarity)
_fbeta = _plain(compute_fbeta)


def fbeta_score(reference, prediction, *, beta=1.0, spacing=None, empty="nan") -> float:
    """F-beta of ``prediction`` against ``reference``: (1+b^2) TP / ((1+b^2) TP + b^2 FN + FP).

    ``beta`` > 1 weighs recall more, < 1 precision more. Other parameters as :func:`dice`.
    """
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"`beta` must be a positive number; got {beta!r}")
    return _fbeta(reference, prediction, spacing=spacing, empty=empty, beta=beta)


def f1_score(reference, prediction, *, spacing=None, empty="nan") -> float:
    """F1 = 2 TP / (2 TP + FP + FN), identical to :func:`dice`."""
    return dice(reference, prediction, spacing=spacing, empty=empty)
