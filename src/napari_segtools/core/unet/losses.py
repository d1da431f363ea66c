"""Training losses and output heads of the U-Net: cross-entropy, Dice, focal and Tversky.

A network ends in one of two heads (:data:`OUTPUTS`):

- ``"softmax"``: K mutually exclusive classes, background first; the K probabilities of a voxel
  sum to 1 (multiclass). The target is an int64 class map (N, *spatial).
- ``"sigmoid"``: one independent probability per channel, so structures may overlap
  (multilabel: a structure inside another, a lesion inside an organ); a single channel is a
  plain binary segmentation. The target is one float {0, 1} mask per channel (N, C, *spatial).

The losses (:data:`LOSSES`), with p the predicted and g the target probability of a class at a
voxel:

- **cross-entropy** (``ce`` for softmax, ``bce`` for sigmoid): the mean over voxels of
  -log p of the true class, or of -g log p - (1 - g) log(1 - p) per channel. With class weights
  w it is the weighted mean sum(w l) / sum(w) (PyTorch's convention), so a rare class counts as
  much as it is weighted. Softmax weights: one per class; sigmoid weights: one (absent, present)
  pair for every channel, or one pair per channel.
- **focal**: cross-entropy times (1 - p_t)^gamma, p_t the probability given to the true answer:
  confidently right voxels, mostly the easy background, fade out (Lin et al., 2017); gamma = 0
  is cross-entropy.
- **Dice**: 1 - (2 sum p g + s) / (sum p + sum g + s), sums over the batch and the voxels,
  s = 1e-5, averaged over the foreground classes (softmax) or over all channels (sigmoid). A ratio
  of overlaps: a class of 0.4 % of the voxels weighs as much as the background.
- **Tversky**: 1 - (TP + s) / (TP + alpha FP + beta FN + s) with the soft counts TP = sum p g,
  FP = sum p (1 - g), FN = sum (1 - p) g; beta > alpha penalises missed voxels more than extra
  ones (recall over precision); alpha = beta = 0.5 is Dice up to the smoothing.
- **Dice + CE** (the default, as in nnU-Net): their sum; the cross-entropy's smooth gradients and
  the Dice's indifference to class frequency.

torch is imported only when a loss is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_choice, check_number
from ._torch import require_torch

if TYPE_CHECKING:
    import torch

#: loss name -> one-line description (the choices of ``napari-segtools train --loss``)
LOSSES: dict[str, str] = {
    "ce": "cross-entropy over softmax classes (class weights optional)",
    "bce": "binary cross-entropy per sigmoid channel (class weights optional)",
    "dice": "1 - soft Dice, averaged over the foreground classes or sigmoid channels",
    "dice_ce": "Dice + cross-entropy (binary for a sigmoid head); the default",
    "focal": "cross-entropy scaled by (1 - p_true)^gamma: confident voxels fade out",
    "tversky": "1 - Tversky index TP / (TP + alpha FP + beta FN): beta > alpha favours recall",
}
#: output heads: mutually exclusive classes, or one independent channel per structure
OUTPUTS = ("softmax", "sigmoid")
#: added to the numerator and denominator of the Dice and Tversky ratios
SMOOTH = 1e-5
#: the losses with a cross-entropy term, the only ones class weights apply to
WEIGHTED_LOSSES = ("ce", "bce", "dice_ce", "focal")


def make_loss(
    name: str,
    *,
    output: str = "softmax",
    class_weights: Sequence[float] | np.ndarray | None = None,
    focal_gamma: float = 2.0,
    tversky_alpha: float = 0.3,
    tversky_beta: float = 0.7,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Build a segmentation loss ``loss(logits, target) -> scalar tensor`` for a network head.

    Parameters
    ----------
    name : str
        One of :data:`LOSSES`: ``"ce"``, ``"bce"``, ``"dice"``, ``"dice_ce"``, ``"focal"``,
        ``"tversky"`` (definitions in the module docstring).
    output : {"softmax", "sigmoid"}
        The head. Softmax: ``logits`` (N, K, *spatial) with K >= 2 and an int64 class map
        ``target`` (N, *spatial). Sigmoid: ``logits`` (N, C, *spatial), C >= 1 structures, and
        a float {0, 1} ``target`` of the same shape. ``"ce"`` needs softmax, ``"bce"`` sigmoid.
    class_weights : array-like, optional
        Weights of the cross-entropy term (``ce``, ``bce``, ``dice_ce``, ``focal``), >= 0.
        Softmax: one per class, background first. Sigmoid: an (absent, present) pair for every
        channel, or a (C, 2) array of one pair per channel. Default: all 1.
    focal_gamma : float
        Focusing exponent of ``"focal"`` (>= 0; 0 is cross-entropy).
    tversky_alpha, tversky_beta : float
        Weights of the false positives and false negatives in ``"tversky"`` (>= 0).

    Returns
    -------
    callable
        ``loss(logits, target)``, a differentiable scalar tensor.

    Raises
    ------
    ValueError
        An unknown name or head, ``ce`` with a sigmoid or ``bce`` with a softmax head, class
        weights for ``dice``/``tversky`` or negative, or (when called) shapes that disagree.

    Examples
    --------
    Two voxels, both predicted at p = 0.5 by a one-channel sigmoid head; the cross-entropy is
    log 2 whatever the targets:

    >>> import torch
    >>> loss = make_loss("bce", output="sigmoid")
    >>> round(float(loss(torch.zeros(1, 1, 2), torch.tensor([[[0.0, 1.0]]]))), 4)
    0.6931
    """
    check_choice(name, "name", tuple(LOSSES))
    check_choice(output, "output", OUTPUTS)
    if (name, output) == ("ce", "sigmoid"):
        raise ValueError(
            "loss 'ce' is categorical cross-entropy over a softmax head; a sigmoid "
            "head (output='sigmoid') uses 'bce'"
        )
    if (name, output) == ("bce", "softmax"):
        raise ValueError(
            "loss 'bce' is binary cross-entropy per sigmoid channel; a softmax "
            "head (output='softmax') uses 'ce'"
        )
    weights = _check_class_weights(class_weights, name=name, output=output)
    gamma = check_number(focal_gamma, "focal_gamma", low=0.0)
    alpha = check_number(tversky_alpha, "tversky_alpha", low=0.0)
    beta = check_number(tversky_beta, "tversky_beta", low=0.0)
    if alpha == beta == 0:
        raise ValueError(
            "`tversky_alpha` and `tversky_beta` must not both be 0 (the loss "
            "would ignore every error)"
        )
    from_numpy = require_torch().from_numpy  # torch is needed from here on
    w = None if weights is None else from_numpy(weights)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pair(logits, target, output=output, weights=w)
        ww = None if w is None else w.to(logits.device)
        if name == "tversky":
            return 1 - _overlap(logits, target, output=output, alpha=alpha, beta=beta)
        if name == "dice":
            return 1 - _overlap(logits, target, output=output)
        ce = _cross_entropy(
            logits, target, output=output, weights=ww, gamma=gamma if name == "focal" else 0.0
        )
        if name == "dice_ce":
            return ce + 1 - _overlap(logits, target, output=output)
        return ce

    loss.__name__ = f"{name}_loss"
    loss.__doc__ = f"{LOSSES[name]} ({output} head)."
    return loss


def _check_class_weights(weights, *, name: str, output: str) -> np.ndarray | None:
    """Class weights as float32 (K,), (2,) or (C, 2), finite, >= 0, not all 0; or None."""
    if weights is None:
        return None
    if name not in WEIGHTED_LOSSES:
        raise ValueError(
            f"`class_weights` apply to the losses with a cross-entropy term {WEIGHTED_LOSSES}; "
            f"{name!r} weighs every class equally by construction"
        )
    try:
        arr = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`class_weights` must be numbers; got {weights!r:.80}") from None
    if output == "softmax":
        ok, rule = arr.ndim == 1 and arr.size >= 2, "one weight per class (K >= 2 values)"
    else:
        ok = (arr.ndim == 1 and arr.size == 2) or (arr.ndim == 2 and arr.shape[1] == 2)
        rule = "an (absent, present) pair, or one pair per channel (C, 2)"
    if not ok:
        raise ValueError(
            f"`class_weights` of a {output} head must be {rule}; got shape {arr.shape}"
        )
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() == 0:
        raise ValueError(f"`class_weights` must be finite, >= 0 and not all 0; got {arr.tolist()}")
    return arr.astype(np.float32)


def _check_pair(
    logits: torch.Tensor, target: torch.Tensor, *, output: str, weights: torch.Tensor | None
) -> None:
    """Refuse shapes, dtypes and weight counts that do not fit the head, naming them."""
    channels = logits.shape[1] if logits.ndim >= 3 else 0
    if logits.ndim < 3 or not logits.is_floating_point():
        raise ValueError(
            f"`logits` must be a float (N, C, *spatial) tensor; got shape "
            f"{tuple(logits.shape)} of {logits.dtype}"
        )
    if output == "softmax":
        expected = (logits.shape[0], *logits.shape[2:])
        if channels < 2:
            raise ValueError(
                f"a softmax head needs >= 2 channels; got {channels} (one "
                "channel: output='sigmoid')"
            )
        if tuple(target.shape) != expected or target.dtype.is_floating_point:
            raise ValueError(
                f"`target` of a softmax head must be an int64 class map of shape "
                f"{expected}; got {tuple(target.shape)} of {target.dtype}"
            )
        if weights is not None and weights.shape != (channels,):
            raise ValueError(
                f"`class_weights` has {weights.numel()} values but the logits "
                f"have {channels} classes"
            )
        return
    if tuple(target.shape) != tuple(logits.shape) or not target.is_floating_point():
        raise ValueError(
            f"`target` of a sigmoid head must be float {{0, 1}} masks of shape "
            f"{tuple(logits.shape)}; got {tuple(target.shape)} of {target.dtype}"
        )
    if weights is not None and weights.ndim == 2 and weights.shape[0] != channels:
        raise ValueError(
            f"`class_weights` has {weights.shape[0]} pairs but the logits have {channels} channels"
        )


def _cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    output: str,
    weights: torch.Tensor | None,
    gamma: float,
) -> torch.Tensor:
    """(Weighted) mean cross-entropy, each voxel's term times (1 - p_t)^gamma (focal)."""
    import torch.nn.functional as F

    if output == "softmax":
        if gamma == 0:  # the exact training loss of earlier releases
            return F.cross_entropy(logits, target, weight=weights)
        per_voxel = F.cross_entropy(logits, target, reduction="none")  # -log p_t
        w = None if weights is None else weights[target]
    else:
        per_voxel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        w = None
        if weights is not None:
            pairs = weights.reshape(-1, 2)
            shape = (1, -1) + (1,) * (logits.ndim - 2)
            absent, present = pairs[:, 0].reshape(shape), pairs[:, 1].reshape(shape)
            w = absent + (present - absent) * target
    if gamma:
        # (1 - p_t)^gamma with p_t = exp(-per_voxel); expm1 stays exact for confident voxels
        per_voxel = per_voxel * (-(-per_voxel).expm1()) ** gamma
    return per_voxel.mean() if w is None else (w * per_voxel).sum() / w.sum()


def _overlap(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    output: str,
    alpha: float | None = None,
    beta: float | None = None,
) -> torch.Tensor:
    """Mean soft Dice (``alpha`` None) or Tversky index over the foreground classes/channels."""
    import torch.nn.functional as F

    if output == "softmax":
        probs = logits.softmax(dim=1)
        onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).float()
        first = 1  # the background class is not scored
    else:
        probs, onehot, first = logits.sigmoid(), target, 0
    dims = (0, *range(2, logits.ndim))
    inter = (probs * onehot).sum(dims)
    if alpha is None or beta is None:
        score = (2 * inter + SMOOTH) / (probs.sum(dims) + onehot.sum(dims) + SMOOTH)
    else:
        fp = (probs * (1 - onehot)).sum(dims)
        fn = ((1 - probs) * onehot).sum(dims)
        score = (inter + SMOOTH) / (inter + alpha * fp + beta * fn + SMOOTH)
    return score[first:].mean()
