"""Losses: known answers on two voxels worked by hand, MONAI's definitions where they match,
the exact loss of earlier releases as the default, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

import torch.nn.functional as F  # noqa: E402

from napari_segtools.core.unet.losses import LOSSES, OUTPUTS, SMOOTH, make_loss  # noqa: E402

# Two voxels, background / foreground. Softmax logits (0, 0) and (0, ln 3) give foreground
# probabilities 0.5 and 0.75; one sigmoid channel with logits 0 and ln 3 gives the same. The
# first voxel is background, the second foreground: the true class has p_t = 0.5 and 0.75.
SOFTMAX_LOGITS = torch.tensor([[[0.0, 0.0], [0.0, math.log(3)]]])  # (N=1, K=2, 2 voxels)
SOFTMAX_TARGET = torch.tensor([[0, 1]])
SIGMOID_LOGITS = torch.tensor([[[0.0, math.log(3)]]])  # (N=1, C=1, 2 voxels)
SIGMOID_TARGET = torch.tensor([[[0.0, 1.0]]])
CE = (math.log(2) + math.log(4 / 3)) / 2  # mean of -log p_t
CE_WEIGHTED = (1 * math.log(2) + 3 * math.log(4 / 3)) / (1 + 3)  # weights 1 (bg), 3 (fg)
# foreground: TP = 0.75, sum p = 1.25, sum g = 1, FP = 0.5, FN = 0.25
DICE = 1 - (2 * 0.75 + SMOOTH) / (1.25 + 1 + SMOOTH)  # ~ 1/3
TVERSKY = 1 - (0.75 + SMOOTH) / (0.75 + 0.3 * 0.5 + 0.7 * 0.25 + SMOOTH)
FOCAL = (0.5**2 * math.log(2) + 0.25**2 * math.log(4 / 3)) / 2  # gamma 2: (1 - p_t)^2 -log p_t

KNOWN = {
    "ce": CE,
    "bce": CE,
    "dice": DICE,
    "dice_ce": CE + DICE,
    "focal": FOCAL,
    "tversky": TVERSKY,
}


@pytest.mark.parametrize(
    ("name", "output"),
    [
        (n, o)
        for n in LOSSES
        for o in OUTPUTS
        if (n, o) not in (("ce", "sigmoid"), ("bce", "softmax"))
    ],
)
def test_known_answers_on_two_voxels(name, output):
    logits, target = (
        (SOFTMAX_LOGITS, SOFTMAX_TARGET)
        if output == "softmax"
        else (SIGMOID_LOGITS, SIGMOID_TARGET)
    )
    assert float(make_loss(name, output=output)(logits, target)) == pytest.approx(
        KNOWN[name], abs=1e-6
    )


@pytest.mark.parametrize("name", ["ce", "dice_ce", "focal"])
def test_class_weights_give_the_weighted_mean(name):
    """Softmax weights (1, 3) and sigmoid (absent, present) = (1, 3) weigh the two voxels 1:3."""
    sigmoid = {"ce": "bce"}.get(name, name)
    soft = make_loss(name, class_weights=[1.0, 3.0])(SOFTMAX_LOGITS, SOFTMAX_TARGET)
    sig = make_loss(sigmoid, output="sigmoid", class_weights=[1.0, 3.0])(
        SIGMOID_LOGITS, SIGMOID_TARGET
    )
    expected = {
        "ce": CE_WEIGHTED,
        "dice_ce": CE_WEIGHTED + DICE,
        "focal": (0.5**2 * math.log(2) + 3 * 0.25**2 * math.log(4 / 3)) / 4,
    }[name]
    assert float(soft) == pytest.approx(expected, abs=1e-6)
    assert float(sig) == pytest.approx(expected, abs=1e-6)


def test_per_channel_weight_pairs_of_a_sigmoid_head():
    """Two channels with their own (absent, present) pairs: channel 1's voxels weigh 0."""
    logits = torch.cat([SIGMOID_LOGITS, torch.full((1, 1, 2), 5.0)], dim=1)
    target = torch.cat([SIGMOID_TARGET, torch.zeros(1, 1, 2)], dim=1)
    loss = make_loss("bce", output="sigmoid", class_weights=[[1.0, 3.0], [0.0, 9.0]])
    assert float(loss(logits, target)) == pytest.approx(CE_WEIGHTED, abs=1e-6)


def test_the_default_is_the_exact_loss_of_earlier_releases():
    """dice_ce with class weights, bit for bit the formula trained before losses were chosen."""
    rng = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 6, generator=rng)
    target = torch.randint(0, 3, (2, 5, 6), generator=rng)
    weights = torch.tensor([0.5, 1.0, 2.0])
    probs = torch.softmax(logits, dim=1)
    onehot = F.one_hot(target, 3).movedim(-1, 1).float()
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    dice = (2 * inter + 1e-5) / (probs.sum(dims) + onehot.sum(dims) + 1e-5)
    before = F.cross_entropy(logits, target, weight=weights) + 1 - dice[1:].mean()
    assert torch.equal(make_loss("dice_ce", class_weights=weights.numpy())(logits, target), before)


def test_focal_with_gamma_0_is_cross_entropy():
    rng = torch.Generator().manual_seed(1)
    logits, target = torch.randn(2, 3, 4, 4, generator=rng), torch.randint(0, 3, (2, 4, 4))
    focal = make_loss("focal", focal_gamma=0.0, class_weights=[1.0, 2.0, 5.0])
    ce = make_loss("ce", class_weights=[1.0, 2.0, 5.0])
    assert float(focal(logits, target)) == pytest.approx(float(ce(logits, target)), rel=1e-6)


def test_a_binary_sigmoid_head_equals_a_two_class_softmax():
    """sigmoid(z) = softmax(0, z)[1]: BCE, focal, Dice and Tversky agree between the heads."""
    rng = torch.Generator().manual_seed(2)
    z = torch.randn(2, 1, 5, 5, generator=rng)
    target = torch.randint(0, 2, (2, 5, 5), generator=rng)
    pairs = {"bce": "ce", "focal": "focal", "dice": "dice", "tversky": "tversky"}
    for sigmoid, softmax in pairs.items():
        weights = [0.7, 2.5] if sigmoid in ("bce", "focal") else None
        a = make_loss(sigmoid, output="sigmoid", class_weights=weights)(z, target[:, None].float())
        b = make_loss(softmax, class_weights=weights)(
            torch.cat([torch.zeros_like(z), z], 1), target
        )
        assert float(a) == pytest.approx(float(b), abs=1e-6), sigmoid


def _random(seed, channels=3):
    rng = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, channels, 6, 5, generator=rng)
    labels = torch.randint(0, channels, (2, 6, 5), generator=rng)
    masks = (torch.rand(2, channels, 6, 5, generator=rng) > 0.6).float()
    return logits, labels, masks


def test_dice_and_tversky_match_monai():
    monai = pytest.importorskip("monai.losses")
    logits, labels, masks = _random(3)
    common = {"batch": True, "smooth_nr": SMOOTH, "smooth_dr": SMOOTH}
    softmax = {"include_background": False, "to_onehot_y": True, "softmax": True, **common}
    sigmoid = {"sigmoid": True, **common}
    tversky = {"alpha": 0.3, "beta": 0.7}
    cases = [
        ("dice", "softmax", monai.DiceLoss(**softmax), labels, labels[:, None]),
        ("dice", "sigmoid", monai.DiceLoss(**sigmoid), masks, masks),
        ("tversky", "softmax", monai.TverskyLoss(**softmax, **tversky), labels, labels[:, None]),
        ("tversky", "sigmoid", monai.TverskyLoss(**sigmoid, **tversky), masks, masks),
    ]
    for name, output, theirs, ours_target, their_target in cases:
        ours = make_loss(name, output=output)(logits, ours_target)
        assert float(ours) == pytest.approx(float(theirs(logits, their_target)), abs=1e-6)


def test_focal_matches_monai():
    """MONAI averages over classes x voxels; ours over voxels (a class-weighted mean), so the
    softmax figures differ by the factor K, or K * voxels / sum of weights when weighted."""
    monai = pytest.importorskip("monai.losses")
    logits, labels, masks = _random(4)
    voxels = labels.numel()
    theirs = monai.FocalLoss(gamma=2.0, use_softmax=True, to_onehot_y=True)(
        logits, labels[:, None]
    )
    ours = make_loss("focal")(logits, labels)
    assert float(ours) == pytest.approx(3 * float(theirs), rel=1e-5)
    weights = torch.tensor([0.5, 1.0, 4.0])
    theirs = monai.FocalLoss(gamma=2.0, use_softmax=True, to_onehot_y=True, weight=weights)(
        logits, labels[:, None]
    )
    ours = make_loss("focal", class_weights=weights.numpy())(logits, labels)
    factor = 3 * voxels / float(weights[labels].sum())
    assert float(ours) == pytest.approx(factor * float(theirs), rel=1e-5)
    theirs = monai.FocalLoss(gamma=2.0)(logits, masks)  # sigmoid: both average every element
    assert float(make_loss("focal", output="sigmoid")(logits, masks)) == pytest.approx(
        float(theirs), rel=1e-5
    )


def test_losses_are_near_zero_for_a_confident_correct_answer_and_differentiable():
    target = torch.tensor([[[0, 1], [2, 1]]])
    logits = 30.0 * F.one_hot(target, 3).movedim(-1, 1).float()
    masks = (F.one_hot(target, 3).movedim(-1, 1) > 0).float()
    for name in LOSSES:
        output = "sigmoid" if name == "bce" else "softmax"
        x = (60.0 * masks - 30.0 if output == "sigmoid" else logits).requires_grad_()
        y = masks if output == "sigmoid" else target
        value = make_loss(name, output=output)(x, y)
        assert float(value.detach()) < 1e-4, name
        value.backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: make_loss("ce", output="sigmoid"), ValueError, "a sigmoid head .* uses 'bce'"),
        (lambda: make_loss("bce"), ValueError, "a softmax head .* uses 'ce'"),
        (lambda: make_loss("hinge"), ValueError, "`name` must be one of ce, bce"),
        (lambda: make_loss("dice", output="linear"), ValueError, "`output` must be one of"),
        (lambda: make_loss("dice", class_weights=[1, 2]), ValueError, "weighs every class"),
        (lambda: make_loss("ce", class_weights=[1, -2]), ValueError, "finite, >= 0"),
        (lambda: make_loss("ce", class_weights=[[1, 2]]), ValueError, "one weight per class"),
        (lambda: make_loss("bce", output="sigmoid", class_weights=[1, 2, 3]), ValueError, "pair"),
        (lambda: make_loss("focal", focal_gamma=-1), ValueError, "`focal_gamma` must be >= 0"),
        (lambda: make_loss("tversky", tversky_alpha=0, tversky_beta=0), ValueError, "both be 0"),
        (lambda: make_loss("ce", class_weights="heavy"), TypeError, "must be numbers"),
    ],
)
def test_heads_and_losses_that_do_not_fit(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_tensors_that_do_not_fit_the_head_are_named():
    logits = torch.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError, match=r"`target` of a softmax head must be an int64 class map"):
        make_loss("ce")(logits, torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match=r"`target` of a sigmoid head must be float \{0, 1\}"):
        make_loss("bce", output="sigmoid")(logits, torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="`class_weights` has 3 values but the logits have 2"):
        make_loss("ce", class_weights=[1, 1, 1])(logits, torch.zeros(1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="`class_weights` has 3 pairs but the logits have 2"):
        make_loss("bce", output="sigmoid", class_weights=np.ones((3, 2)))(
            logits, torch.zeros_like(logits)
        )
    with pytest.raises(ValueError, match="a softmax head needs >= 2 channels"):
        make_loss("dice")(torch.zeros(1, 1, 3), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(TypeError):
        make_loss("dice", "softmax")
