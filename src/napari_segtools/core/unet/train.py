"""Training loop behind ``napari-segtools train`` (no Qt): Dice + weighted cross-entropy.

Every step samples a batch of patches from the normalised training cases, each through its own
random rotation, scaling and smooth deformation (:mod:`.augment`), most of them centred on
foreground, then varies their intensities (bias field, contrast, noise). After each epoch the
model predicts, through the same :class:`~.package.Predictor` users get, whole validation copies
drawn from seeds the training never uses, and the per-class Dice is recorded; the best epoch's
weights are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from .._types import Progress, ProgressGenerator
from . import _preprocess as pre
from .augment import AugmentSettings, random_copy, random_grid, vary_intensity, warp
from .model import UNet, UNetSpec
from .package import ModelConfig, Predictor

#: validation copies use seeds VALIDATION_SEED + i; training generators never use these
VALIDATION_SEED = 1_000_000


@dataclass(frozen=True)
class TrainCase:
    """A training case in the canonical orientation at the model spacing.

    ``image``: (C, [Z,] Y, X) float32 raw intensities; ``labels``: ([Z,] Y, X) uint8 classes.
    """

    image: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class TrainResult:
    """The trained module (best validation epoch), its package config and per-epoch history."""

    module: torch.nn.Module
    config: ModelConfig
    history: list = field(default_factory=list)


def labels_from_probability_maps(maps: list[np.ndarray], *, threshold: float) -> np.ndarray:
    """Hard labels 1..K from K probability maps: the largest map wins where it is > threshold.

    Ties go to the earlier map (for the MNI152 GM/WM maps x255 and ``threshold=127`` this is
    ``GM = (gm >= wm) & (gm > 127)``, ``WM = (wm > gm) & (wm > 127)``).
    """
    stack = np.stack([np.asarray(m, np.float32) for m in maps])
    winner = stack.argmax(axis=0)
    best = np.take_along_axis(stack, winner[None], axis=0)[0]
    return np.where(best > threshold, winner + 1, 0).astype(np.uint8)


def make_case(image, labels, *, spacing, direction=None, target_spacing, map_threshold=None):
    """Reorient an image and its labels to canonical and resample them to ``target_spacing``.

    Parameters
    ----------
    image : ([C,] [Z,] Y, X) ndarray
        Intensities (channel axis first, optional for one channel).
    labels : ([Z,] Y, X) integer ndarray, or list of probability maps
        A label image (resampled by nearest neighbour), or with ``map_threshold`` one
        probability map per foreground class (resampled linearly, then
        :func:`labels_from_probability_maps`).
    spacing : sequence of float
        Voxel size of ``image`` in mm, numpy order.
    direction : (D, D) ndarray, optional
        Direction cosines (``Geometry.direction``); None means canonical already.
    target_spacing : sequence of float
        The model's spacing in mm.
    map_threshold : float, optional
        Probability threshold in the maps' own units (127 for maps stored x255).

    Returns
    -------
    TrainCase
    """
    ndim = len(target_spacing)
    image = np.asarray(image, np.float32)
    image = image[None] if image.ndim == ndim else image
    perm, flips = pre.canonical_axes(direction, ndim)
    spacing = tuple(spacing[p] for p in perm)
    image = pre.to_canonical(image, perm, flips, leading=1)
    shape = pre.resampled_shape(image.shape[1:], spacing, target_spacing)
    image = pre.resample(image, shape, order=1, leading=1)
    if map_threshold is not None:
        maps = [
            pre.resample(pre.to_canonical(np.asarray(m, np.float32), perm, flips), shape, order=1)
            for m in labels
        ]
        out = labels_from_probability_maps(maps, threshold=map_threshold)
    else:
        out = pre.to_canonical(np.asarray(labels, np.uint8), perm, flips)
        out = pre.resample(out, shape, order=0)
    return TrainCase(np.ascontiguousarray(image), np.ascontiguousarray(out))


def validation_copies(case: TrainCase, *, spacing, count: int, start: int = 0) -> list[TrainCase]:
    """Deformed copies of ``case`` drawn from reserved validation seeds (copy ``i`` from seed
    ``VALIDATION_SEED + i``, i = ``start`` .. ``start + count - 1``)."""
    return [
        TrainCase(
            *random_copy(
                case.image,
                case.labels,
                spacing=spacing,
                rng=np.random.default_rng(VALIDATION_SEED + i),
            )
        )
        for i in range(start, start + count)
    ]


def class_weights(cases: list[TrainCase], classes: int) -> np.ndarray:
    """Median-frequency balancing: w_k = median(f) / f_k (rare classes weigh more)."""
    counts = sum(np.bincount(c.labels.ravel(), minlength=classes)[:classes] for c in cases)
    freq = np.maximum(counts / counts.sum(), 1e-6)
    return (np.median(freq) / freq).astype(np.float32)


def dice_per_class(reference: np.ndarray, prediction: np.ndarray, classes: int) -> list[float]:
    """Dice of each foreground class 1..classes-1 (the project's :func:`metrics.dice`; NaN
    when both masks are empty)."""
    from ..metrics import dice

    return [dice(reference == k, prediction == k) for k in range(1, classes)]


def _sample_patches(image, labels, patch, count, *, spacing, rng, foreground, settings):
    """``count`` randomly deformed patches of a normalised case, with intensity variations.

    Each patch centre is a random foreground voxel with probability ``foreground``, else any voxel.
    """
    fg = np.argwhere(labels > 0)
    xs, ys = [], []
    for _ in range(count):
        if len(fg) and rng.random() < foreground:
            centre = fg[rng.integers(len(fg))]
        else:
            centre = [rng.integers(n) for n in labels.shape]
        grid = random_grid(
            patch, centre, labels.shape, spacing=spacing, rng=rng, settings=settings
        )
        x, y = warp(image, labels, grid)
        xs.append(vary_intensity(x, rng, settings, scale=1.0))
        ys.append(y.long())
    return torch.stack(xs), torch.stack(ys)


def _recalibrate_batchnorm(module, draw, *, batches: int, device) -> None:
    """Replace batch-norm running statistics by exact averages over fresh training batches.

    Running averages of a few noisy steps drift; inference (eval mode) then sees other
    statistics than training did ("precise BN"). No-op for other normalisations.
    """
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    module.train()
    with torch.no_grad():
        for _ in range(batches):
            module(draw()[0].to(device))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


def dice_ce_loss(
    logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Weighted cross-entropy plus (1 - soft Dice averaged over the foreground classes)."""
    ce = F.cross_entropy(logits, target, weight=weights)
    probs = torch.softmax(logits, dim=1)
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).float()
    dims = (0, *range(2, logits.ndim))
    inter = (probs * onehot).sum(dims)
    dice = (2 * inter + 1e-5) / (probs.sum(dims) + onehot.sum(dims) + 1e-5)
    return ce + 1 - dice[1:].mean()


def iter_train(
    cases: list[TrainCase],
    config: ModelConfig,
    *,
    val_cases: list[TrainCase],
    epochs: int = 10,
    steps_per_epoch: int = 20,
    batch_size: int = 2,
    patch_size=None,
    learning_rate: float = 3e-3,
    foreground: float = 0.67,
    weights: np.ndarray | None = None,
    augment: AugmentSettings | None = None,
    seed: int = 0,
    device=None,
) -> ProgressGenerator[TrainResult]:
    """Train a U-Net described by ``config`` (its ``architecture``) on ``cases``.

    Parameters
    ----------
    cases, val_cases : list of TrainCase
        Training cases and (never-trained-on) validation cases, canonical, at ``config.spacing``.
    config : ModelConfig
        Package config of the model to train (patch size, spacing, normalisation, classes).
    epochs, steps_per_epoch, batch_size : int
        Optimiser steps = epochs x steps_per_epoch, each on ``batch_size`` patches.
    patch_size : sequence of int, optional
        Training patch size in voxels (default: the config's inference ``patch_size``; smaller
        patches train faster, and with batch normalisation inference can use larger ones).
    learning_rate : float
        Initial AdamW learning rate, decayed polynomially (power 0.9) to 0.
    foreground : float
        Fraction of patches centred on a foreground voxel (over-sampling rare classes).
    weights : (K,) float ndarray, optional
        Cross-entropy class weights; default :func:`class_weights` of the training labels.
    augment : AugmentSettings, optional
        Ranges of the random variations (default :class:`AugmentSettings`).
    seed : int
        Seed of initialisation, augmentation and patch sampling (never a validation seed).
    device : str, optional
        Training device (default: CUDA, else MPS, else CPU).

    Yields
    ------
    Progress
        One event per optimiser step and per epoch's validation.

    Returns
    -------
    TrainResult
        The best epoch by mean validation Dice; ``config.training`` holds the history.
    """
    from .inference import resolve_device

    if not cases or not val_cases:
        raise ValueError("training needs at least one training case and one validation case")
    classes = len(config.class_names)
    augment = augment or AugmentSettings()
    patch = tuple(config.patch_size if patch_size is None else patch_size)
    device = resolve_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module = UNet(UNetSpec(**config.architecture)).to(device)
    opt = torch.optim.AdamW(module.parameters(), lr=learning_rate, weight_decay=1e-4)
    w = torch.from_numpy(
        class_weights(cases, classes) if weights is None else np.asarray(weights, np.float32)
    ).to(device)
    normalized = [
        TrainCase(np.stack([pre.normalize(ch, config.normalization) for ch in c.image]), c.labels)
        for c in cases
    ]

    def draw():
        case = normalized[int(rng.integers(len(cases)))]
        return _sample_patches(
            case.image,
            case.labels,
            patch,
            batch_size,
            spacing=config.spacing,
            rng=rng,
            foreground=foreground,
            settings=augment,
        )

    total = epochs * (steps_per_epoch + 1)
    history, best, best_state = [], -1.0, None
    for epoch in range(epochs):
        module.train()
        losses = []
        for step in range(steps_per_epoch):
            x, y = draw()
            it = epoch * steps_per_epoch + step
            for group in opt.param_groups:
                group["lr"] = learning_rate * (1 - it / (epochs * steps_per_epoch)) ** 0.9
            loss = dice_ce_loss(module(x.to(device)), y.to(device), w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            yield Progress(
                epoch * (steps_per_epoch + 1) + step + 1,
                total,
                f"epoch {epoch + 1}/{epochs} loss {np.mean(losses):.3f}",
            )
        _recalibrate_batchnorm(module, draw, batches=8, device=device)
        predictor = Predictor(config, module)
        dices = np.array(
            [
                dice_per_class(
                    v.labels,
                    predictor.predict(
                        v.image, spacing=config.spacing, overlap=0.25, device=device
                    ),
                    classes,
                )
                for v in val_cases
            ]
        )
        per_class = {
            n: round(float(d), 4)
            for n, d in zip(config.class_names[1:], np.nanmean(dices, axis=0), strict=False)
        }
        history.append(
            {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "val_dice": per_class}
        )
        mean = float(np.nanmean(dices))
        if mean > best:
            best, best_state = (
                mean,
                {k: v.detach().clone() for k, v in module.state_dict().items()},
            )
        summary = ", ".join(f"{n} {d:.3f}" for n, d in per_class.items())
        yield Progress(
            (epoch + 1) * (steps_per_epoch + 1),
            total,
            f"epoch {epoch + 1}/{epochs} validation Dice: {summary}",
        )
    module.load_state_dict(best_state)
    module.eval()
    best_epoch = max(history, key=lambda h: np.nanmean(list(h["val_dice"].values())))
    training = {
        **config.training,
        "history": history,
        "best_epoch": best_epoch["epoch"],
        "validation_dice": best_epoch["val_dice"],
    }
    return TrainResult(module.cpu(), replace(config, training=training), history)
