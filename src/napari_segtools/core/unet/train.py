"""Training loop behind ``napari-segtools train`` (no Qt), by default Dice + weighted CE.

The loss and the head come from :mod:`.losses` (``loss=`` and ``config.output``): a softmax head
learns K exclusive classes from a class map; a sigmoid head learns one mask per structure, and
the structures may overlap (multilabel: :class:`TrainCase` then carries a (K, ...) stack of
masks).

Every step samples a batch of patches from the normalised training cases, each through its own
random rotation, scaling and smooth deformation (:mod:`.augment`), most of them centred on
foreground, then varies their intensities (bias field, contrast, noise). After each epoch the
model predicts, through the same :class:`~.package.Predictor` users get, whole validation copies
drawn from seeds the training never uses, and the Dice of each structure is recorded; the best
epoch's weights are kept.

The steps of :func:`iter_train`: set up the network, optimiser and patch sampler
(:func:`_setup`), then per epoch take optimiser steps (:func:`_train_step`, learning rate from
:func:`_poly_lr`), recalibrate batch norm, validate (:func:`_validate`) and keep the best
weights; finally restore them (:func:`_finish`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._deprecate import loose_geometry_keywords
from .._types import Progress, ProgressGenerator
from .._validate import check_geometry
from ..geometry import Geometry
from . import _preprocess as pre
from ._torch import require_torch
from .augment import AugmentSettings, random_copy, random_grid, vary_intensity, warp
from .domain import training_statistics
from .losses import WEIGHTED_LOSSES, make_loss
from .model import UNet, UNetSpec
from .package import ModelConfig, Predictor

require_torch()  # one clear message when the [unet] extra is missing

import torch  # noqa: E402

#: validation copies use seeds VALIDATION_SEED + i; training generators never use these
VALIDATION_SEED = 1_000_000


@dataclass(frozen=True)
class TrainCase:
    """A training case in the canonical orientation at the model spacing.

    Attributes
    ----------
    image : (C, [Z,] Y, X) float32 ndarray
        Raw intensities, channel first.
    labels : ([Z,] Y, X) or (K, [Z,] Y, X) uint8 ndarray
        Class indices (a softmax model's target), or one {0, 1} mask per structure, overlaps
        allowed (a sigmoid model's multilabel target).

    Examples
    --------
    >>> case = TrainCase(np.zeros((1, 4, 4), np.float32), np.zeros((4, 4), np.uint8))
    >>> case.image.shape, case.multilabel
    ((1, 4, 4), False)
    """

    image: np.ndarray
    labels: np.ndarray

    @property
    def multilabel(self) -> bool:
        """Whether ``labels`` is a (K, ...) stack of masks rather than a class map."""
        return self.labels.ndim == self.image.ndim


@dataclass(frozen=True)
class TrainResult:
    """The trained module (best validation epoch), its package config and per-epoch history.

    Attributes
    ----------
    module : torch.nn.Module
        The network with the best epoch's weights, on the CPU, in eval mode.
    config : ModelConfig
        The package config; ``config.training`` holds the history and the best epoch.
    history : list of dict
        Per epoch: ``epoch``, mean ``loss`` and per-class ``val_dice``.
    """

    module: torch.nn.Module
    config: ModelConfig
    history: list[dict[str, Any]] = field(default_factory=list)


def labels_from_probability_maps(maps: Sequence[np.ndarray], *, threshold: float) -> np.ndarray:
    """Make hard labels 1..K from K probability maps: the largest map wins where > threshold.

    Ties go to the earlier map (for the MNI152 GM/WM maps x255 and ``threshold=127`` this is
    ``GM = (gm >= wm) & (gm > 127)``, ``WM = (wm > gm) & (wm > 127)``).

    Parameters
    ----------
    maps : sequence of ndarray
        One probability map per foreground class, all of one shape.
    threshold : float
        A class needs its map above this, in the maps' own units.

    Returns
    -------
    uint8 ndarray
        0 where no map exceeds ``threshold``, else 1 + the index of the largest map.

    Examples
    --------
    >>> labels_from_probability_maps([np.array([200, 90, 10]), np.array([50, 100, 20])],
    ...                              threshold=60)
    array([1, 2, 0], dtype=uint8)
    """
    stack = np.stack([np.asarray(m, np.float32) for m in maps])
    winner = stack.argmax(axis=0)
    best = np.take_along_axis(stack, winner[None], axis=0)[0]
    return np.where(best > threshold, winner + 1, 0).astype(np.uint8)


@loose_geometry_keywords(geometry=("", lambda args, kwargs: len(kwargs["target_spacing"])))
def make_case(
    image: np.ndarray,
    labels: np.ndarray | Sequence[np.ndarray],
    *,
    geometry: Geometry,
    target_spacing: Sequence[float],
    map_threshold: float | None = None,
) -> TrainCase:
    """Reorient an image and its labels to canonical and resample them to ``target_spacing``.

    Parameters
    ----------
    image : ([C,] [Z,] Y, X) ndarray
        Intensities (channel axis first, optional for one channel).
    labels : ([Z,] Y, X) or (K, [Z,] Y, X) ndarray, or list of masks or probability maps
        A label image (resampled by nearest neighbour); or K masks, non-zero inside, one per
        structure of a multilabel (sigmoid) model, overlaps allowed (nearest neighbour); or
        with ``map_threshold`` one probability map per foreground class (resampled linearly,
        then :func:`labels_from_probability_maps`).
    geometry : Geometry
        Spacing (mm, numpy order) and direction of ``image`` (``read_image``'s geometry). The
        deprecated ``spacing=``/``direction=`` keywords still work for one release.
    target_spacing : sequence of float
        The model's spacing in mm.
    map_threshold : float, optional
        Probability threshold in the maps' own units (127 for maps stored x255).

    Returns
    -------
    TrainCase

    Raises
    ------
    ValueError
        If the labels' grid differs from the image's.

    Examples
    --------
    >>> case = make_case(np.ones((4, 6)), np.eye(4, 6, dtype=np.uint8),
    ...                  geometry=Geometry((2.0, 1.0)), target_spacing=(1.0, 1.0))
    >>> case.image.shape, case.labels.shape
    ((1, 8, 6), (8, 6))
    >>> outer = np.ones((4, 6), np.uint8)  # two overlapping structures
    >>> make_case(np.ones((4, 6)), [outer, np.eye(4, 6)], geometry=Geometry((2.0, 1.0)),
    ...           target_spacing=(1.0, 1.0)).labels.shape
    (2, 8, 6)
    """
    ndim = len(target_spacing)
    geometry = check_geometry(geometry, ndim)
    image = np.asarray(image, np.float32)
    image = image[None] if image.ndim == ndim else image
    maps: list[np.ndarray] = []  # probability maps, or else one class map or (K, ...) masks
    stack = np.asarray(labels) if map_threshold is None else np.zeros(0)
    if map_threshold is not None:
        maps = [np.asarray(m, np.float32) for m in labels]
        grids = {m.shape for m in maps}
    else:
        grids = {stack.shape[1:] if stack.ndim == ndim + 1 else stack.shape}
    if grids != {image.shape[1:]}:
        raise ValueError(
            f"`labels` must lie on the image's grid {image.shape[1:]}; got shape(s) "
            f"{sorted(grids)}"
        )
    perm, flips = pre.canonical_axes(geometry.direction, ndim)
    spacing = tuple(geometry.spacing[p] for p in perm)
    image = pre.to_canonical(image, perm, flips, leading=1)
    shape = pre.resampled_shape(image.shape[1:], spacing, tuple(target_spacing))
    image = pre.resample(image, shape, order=1, leading=1)
    if map_threshold is not None:
        maps = [pre.resample(pre.to_canonical(m, perm, flips), shape, order=1) for m in maps]
        out = labels_from_probability_maps(maps, threshold=map_threshold)
    elif stack.ndim == ndim + 1:  # one mask per structure
        masks = pre.to_canonical((stack != 0).astype(np.uint8), perm, flips, leading=1)
        out = pre.resample(masks, shape, order=0, leading=1)
    else:
        out = pre.to_canonical(stack.astype(np.uint8), perm, flips)
        out = pre.resample(out, shape, order=0)
    return TrainCase(np.ascontiguousarray(image), np.ascontiguousarray(out))


def validation_copies(
    case: TrainCase, *, spacing: Sequence[float], count: int, start: int = 0
) -> list[TrainCase]:
    """Draw deformed copies of ``case`` from the reserved validation seeds.

    Copy ``i`` comes from seed ``VALIDATION_SEED + i``, i = ``start`` .. ``start + count - 1``,
    so the same copies come back on every call and training never sees them.

    Parameters
    ----------
    case : TrainCase
        Canonical case at the model spacing.
    spacing : sequence of float
        The case's voxel size in mm.
    count : int
        Number of copies.
    start : int
        Index of the first copy.

    Returns
    -------
    list of TrainCase

    Examples
    --------
    >>> case = TrainCase(np.ones((1, 8, 8), np.float32), np.eye(8, dtype=np.uint8))
    >>> len(validation_copies(case, spacing=(1.0, 1.0), count=2))
    2
    """
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


def class_weights(cases: Sequence[TrainCase], *, classes: int) -> np.ndarray:
    """Weigh classes by median-frequency balancing: w_k = median(f) / f_k (rare weigh more).

    For multilabel cases each structure is a two-class problem (absent, present), weighed the
    same way: w = 0.5 / f, one pair per structure.

    Parameters
    ----------
    cases : sequence of TrainCase
        Training cases; their labels are counted.
    classes : int
        Number of classes, background included; for multilabel cases, of structures.

    Returns
    -------
    (classes,) or (classes, 2) float32 ndarray
        One weight per class, or one (absent, present) pair per structure (multilabel): the
        ``class_weights`` of :func:`~.losses.make_loss`.

    Examples
    --------
    >>> case = TrainCase(np.zeros((1, 2, 4)), np.array([[0, 0, 0, 0], [1, 1, 2, 2]], np.uint8))
    >>> class_weights([case], classes=3)
    array([0.5, 1. , 1. ], dtype=float32)
    >>> masks = TrainCase(np.zeros((1, 2, 4)), np.array([[[0, 0, 0, 0], [0, 0, 1, 1]]], np.uint8))
    >>> class_weights([masks], classes=1)
    array([[0.6666667, 2.       ]], dtype=float32)
    """
    if cases[0].multilabel:
        present = sum(c.labels[:classes].reshape(classes, -1).sum(axis=1) for c in cases)
        share = np.asarray(present, np.float64) / sum(c.labels[0].size for c in cases)
        freq = np.maximum(np.stack([1 - share, share], axis=1), 1e-6)
        return (np.median(freq, axis=1, keepdims=True) / freq).astype(np.float32)
    counts = np.zeros(classes, np.int64)
    for case in cases:
        counts += np.bincount(case.labels.ravel(), minlength=classes)[:classes]
    freq = np.maximum(counts / counts.sum(), 1e-6)
    return (np.median(freq) / freq).astype(np.float32)


def dice_per_class(reference: np.ndarray, prediction: np.ndarray, *, classes: int) -> list[float]:
    """Score each foreground class 1..classes-1 with the project's :func:`metrics.dice`.

    Parameters
    ----------
    reference, prediction : integer ndarray
        Label images on one grid.
    classes : int
        Number of classes, background included.

    Returns
    -------
    list of float
        Dice per foreground class; NaN when both masks of a class are empty.

    Examples
    --------
    >>> dice_per_class(np.array([[0, 1, 1, 2]]), np.array([[0, 1, 2, 2]]), classes=3)
    [0.6666666666666666, 0.6666666666666666]
    """
    from ..metrics import dice

    return [float(dice(reference == k, prediction == k)) for k in range(1, classes)]


def structure_dice(
    reference: np.ndarray, prediction: np.ndarray, *, config: ModelConfig
) -> dict[str, float]:
    """Score each structure a model segments (``config.structures``) with the project's Dice.

    Parameters
    ----------
    reference, prediction : ndarray
        Class maps (softmax model), or (K, ...) stacks of masks, one per structure (sigmoid
        model), on one grid.
    config : ModelConfig
        The model's config: its head and names.

    Returns
    -------
    dict of str to float
        Dice per structure name; NaN where both masks are empty.

    Examples
    --------
    >>> config = ModelConfig.from_dict({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["organ", "lesion"],
    ...     "class_colors": ["#0f0", "#f00"], "spacing": [1.0, 1.0], "normalization":
    ...     {"method": "zscore"}, "patch_size": [4, 4], "weights": "w.pt", "output": "sigmoid"})
    >>> structure_dice(np.array([[[1, 1, 1, 0]], [[0, 1, 0, 0]]]),
    ...                np.array([[[1, 1, 0, 0]], [[0, 1, 0, 0]]]), config=config)
    {'organ': 0.8, 'lesion': 1.0}
    """
    if config.output == "sigmoid":
        from ..metrics import dice

        values = [float(dice(r != 0, p != 0)) for r, p in zip(reference, prediction, strict=True)]
    else:
        values = dice_per_class(reference, prediction, classes=len(config.class_names))
    return dict(zip(config.structures, values, strict=True))


def _sample_patches(
    image: np.ndarray,
    labels: np.ndarray,
    patch: tuple[int, ...],
    count: int,
    *,
    spacing: Sequence[float],
    rng: np.random.Generator,
    foreground: float,
    settings: AugmentSettings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` randomly deformed patches of a normalised case, with intensity variations.

    Each patch centre is a random foreground voxel (of any structure) with probability
    ``foreground``, else any voxel. Targets: int64 class maps, or float masks (multilabel).
    """
    stacked = labels.ndim == image.ndim  # one mask per structure
    fg = np.argwhere(labels.any(axis=0) if stacked else labels > 0)
    shape = image.shape[1:]
    xs, ys = [], []
    for _ in range(count):
        if len(fg) and rng.random() < foreground:
            centre = fg[rng.integers(len(fg))]
        else:
            centre = np.array([rng.integers(n) for n in shape])
        grid = random_grid(patch, centre, shape, spacing=spacing, rng=rng, settings=settings)
        x, y = warp(image, labels, grid)
        xs.append(vary_intensity(x, rng=rng, settings=settings, scale=1.0))
        ys.append(y.float() if stacked else y.long())
    return torch.stack(xs), torch.stack(ys)


def _recalibrate_batchnorm(
    module: torch.nn.Module,
    draw: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    *,
    batches: int,
    device: torch.device,
) -> None:
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


# --- the steps of iter_train ---------------------------------------------------------------


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class _Training:
    """What the training steps share: network, optimiser, loss and patch sampler.

    ``record`` says which loss and class weights trained the model (for ``config.training``).
    """

    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss: Loss
    draw: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    device: torch.device
    record: dict[str, Any]


def _check_cases(cases: Sequence[TrainCase], config: ModelConfig, what: str) -> None:
    """Refuse cases whose channels or targets do not fit the config's inputs and head."""
    names = len(config.class_names)
    for i, case in enumerate(cases):
        if case.image.shape[0] != config.in_channels:
            raise ValueError(
                f"{what}[{i}] has {case.image.shape[0]} image channel(s) but the model takes "
                f"{config.in_channels}"
            )
        if config.output == "sigmoid" and (not case.multilabel or len(case.labels) != names):
            raise ValueError(
                f"{what}[{i}]: a sigmoid model with {names} structure(s) needs {names} masks "
                f"(labels of shape ({names}, ...)); got labels of shape {case.labels.shape}"
            )
        if config.output == "softmax" and (case.multilabel or case.labels.max() >= names):
            raise ValueError(
                f"{what}[{i}]: a softmax model with {names} classes needs a class map with "
                f"values 0..{names - 1}; got labels of shape {case.labels.shape} up to "
                f"{case.labels.max()} (masks of overlapping structures need output 'sigmoid')"
            )


def _setup(
    cases: Sequence[TrainCase],
    config: ModelConfig,
    *,
    patch: tuple[int, ...],
    batch_size: int,
    learning_rate: float,
    foreground: float,
    loss: str | Loss,
    weights: np.ndarray | None,
    augment: AugmentSettings,
    seed: int,
    device: torch.device,
) -> _Training:
    """Seed, build the U-Net, AdamW and loss, normalise the cases, make the patch sampler."""
    if config.architecture is None:
        raise ValueError("the model config needs an `architecture` entry to train a U-Net")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module = UNet(UNetSpec(**config.architecture)).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rate, weight_decay=1e-4)
    if callable(loss):
        if weights is not None:
            raise ValueError("with a `loss` function, give the class weights to make_loss")
        loss_fn, record = loss, {"loss": getattr(loss, "__name__", "custom")}
    else:
        if weights is None and loss in WEIGHTED_LOSSES:
            weights = class_weights(cases, classes=len(config.class_names))
        loss_fn = make_loss(loss, output=config.output, class_weights=weights)
        record = {"loss": loss}
        if weights is not None:
            record["class_weights"] = np.asarray(weights, np.float64).round(6).tolist()
    normalized = [
        TrainCase(np.stack([pre.normalize(ch, config.normalization) for ch in c.image]), c.labels)
        for c in cases
    ]
    # what the network saw, for the domain checks of predictions (training["intensity"])
    record.update(training_statistics([c.image for c in normalized], spacing=config.spacing))

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
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

    return _Training(module, optimizer, loss_fn, draw, device, record)


def _poly_lr(base: float, step: int, total: int) -> float:
    """Polynomial (power 0.9) decay of the learning rate from ``base`` to 0 over ``total``."""
    return base * (1 - step / total) ** 0.9


def _train_step(t: _Training, learning_rate: float) -> float:
    """One optimiser step on a freshly drawn batch; returns the loss."""
    x, y = t.draw()
    for group in t.optimizer.param_groups:
        group["lr"] = learning_rate
    loss = t.loss(t.module(x.to(t.device)), y.to(t.device))
    t.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    t.optimizer.step()
    return float(loss.detach())


def _validate(
    module: torch.nn.Module,
    config: ModelConfig,
    val_cases: Sequence[TrainCase],
    device: torch.device,
) -> np.ndarray:
    """(cases, structures) Dice of whole-case predictions through the :class:`Predictor`."""
    predictor = Predictor(config, module)
    geometry = Geometry(config.spacing)
    return np.array(
        [
            list(
                structure_dice(
                    v.labels,
                    predictor.predict(v.image, geometry=geometry, overlap=0.25, device=device),
                    config=config,
                ).values()
            )
            for v in val_cases
        ]
    )


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _finish(
    module: torch.nn.Module,
    best_state: dict[str, torch.Tensor],
    history: list[dict[str, Any]],
    config: ModelConfig,
    record: dict[str, Any],
) -> TrainResult:
    """Restore the best weights and record the loss and history in the config."""
    module.load_state_dict(best_state)
    module.eval()
    best_epoch = max(history, key=lambda h: np.nanmean(list(h["val_dice"].values())))
    training = {
        **config.training,
        **record,
        "history": history,
        "best_epoch": best_epoch["epoch"],
        "validation_dice": best_epoch["val_dice"],
    }
    return TrainResult(module.cpu(), replace(config, training=training), history)


def iter_train(
    cases: Sequence[TrainCase],
    config: ModelConfig,
    *,
    val_cases: Sequence[TrainCase],
    epochs: int = 10,
    steps_per_epoch: int = 20,
    batch_size: int = 2,
    patch_size: Sequence[int] | None = None,
    learning_rate: float = 3e-3,
    foreground: float = 0.67,
    loss: str | Loss = "dice_ce",
    weights: np.ndarray | None = None,
    augment: AugmentSettings | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> ProgressGenerator[TrainResult]:
    """Train a U-Net described by ``config`` (its ``architecture``) on ``cases``.

    Parameters
    ----------
    cases : sequence of TrainCase
        Training cases, canonical, at ``config.spacing``: class maps for a softmax model
        (``config.output``), one mask per structure for a sigmoid (multilabel) one.
    config : ModelConfig
        Package config of the model to train (patch size, spacing, normalisation, classes,
        head).
    val_cases : sequence of TrainCase
        Validation cases (never trained on), canonical, at ``config.spacing``.
    epochs, steps_per_epoch, batch_size : int
        Optimiser steps = epochs x steps_per_epoch, each on ``batch_size`` patches.
    patch_size : sequence of int, optional
        Training patch size in voxels (default: the config's inference ``patch_size``; smaller
        patches train faster, and with batch normalisation inference can use larger ones).
    learning_rate : float
        Initial AdamW learning rate, decayed polynomially (power 0.9) to 0.
    foreground : float
        Fraction of patches centred on a foreground voxel (over-sampling rare classes).
    loss : str or callable
        A name from :data:`~.losses.LOSSES` (default ``"dice_ce"``, Dice + cross-entropy), built
        by :func:`~.losses.make_loss` for the config's head; or a function
        ``loss(logits, target)`` such as ``make_loss("focal", focal_gamma=3.0)``.
    weights : (K,) or (K, 2) float ndarray, optional
        Class weights of a named loss with a cross-entropy term (``ce``, ``bce``, ``dice_ce``,
        ``focal``; see :func:`~.losses.make_loss`); default :func:`class_weights` of the
        training labels. Ignored by the names without one (``dice``, ``tversky``).
    augment : AugmentSettings, optional
        Ranges of the random variations (default :class:`AugmentSettings`).
    seed : int
        Seed of initialisation, augmentation and patch sampling (never a validation seed).
    device : str or torch.device, optional
        Training device (default: CUDA, else MPS, else CPU).

    Yields
    ------
    Progress
        One event per optimiser step and per epoch's validation.

    Returns
    -------
    TrainResult
        The best epoch by mean validation Dice; ``config.training`` holds the history.

    Raises
    ------
    ValueError
        Without training or validation cases, without an ``architecture`` in ``config``, with
        cases whose channels or targets do not fit the config, or a bad loss.

    Examples
    --------
    One step on a 2-D phantom (real training takes hundreds):

    >>> from napari_segtools.core._types import run_to_completion
    >>> config = ModelConfig.from_dict({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "disc"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [16, 16],
    ...     "weights": "weights.pt",
    ...     "architecture": {"spatial_dims": 2, "out_channels": 2, "features": [2, 4]},
    ... })
    >>> yy, xx = np.mgrid[:16, :16]
    >>> disc = (np.hypot(yy - 8, xx - 8) < 5).astype(np.uint8)
    >>> case = TrainCase(disc[None].astype(np.float32) * 100, disc)
    >>> result = run_to_completion(iter_train(
    ...     [case], config, val_cases=[case], epochs=1, steps_per_epoch=1, device="cpu"))
    >>> [h["epoch"] for h in result.history], result.config.training["best_epoch"]
    ([1], 1)
    """
    from .inference import resolve_device

    if not cases or not val_cases:
        raise ValueError("training needs at least one training case and one validation case")
    _check_cases(cases, config, "cases")
    _check_cases(val_cases, config, "val_cases")
    patch = tuple(int(p) for p in (config.patch_size if patch_size is None else patch_size))
    t = _setup(
        cases,
        config,
        patch=patch,
        batch_size=batch_size,
        learning_rate=learning_rate,
        foreground=foreground,
        loss=loss,
        weights=weights,
        augment=augment or AugmentSettings(),
        seed=seed,
        device=resolve_device(device),
    )
    total = epochs * (steps_per_epoch + 1)
    history: list[dict[str, Any]] = []
    best, best_state = -1.0, None
    for epoch in range(epochs):
        t.module.train()
        losses = []
        for step in range(steps_per_epoch):
            lr = _poly_lr(learning_rate, epoch * steps_per_epoch + step, epochs * steps_per_epoch)
            losses.append(_train_step(t, lr))
            yield Progress(
                epoch * (steps_per_epoch + 1) + step + 1,
                total,
                f"epoch {epoch + 1}/{epochs} loss {np.mean(losses):.3f}",
            )
        _recalibrate_batchnorm(t.module, t.draw, batches=8, device=t.device)
        dices = _validate(t.module, config, val_cases, t.device)
        per_class = {
            n: round(float(d), 4)
            for n, d in zip(config.structures, np.nanmean(dices, axis=0), strict=True)
        }
        history.append(
            {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "val_dice": per_class}
        )
        mean = float(np.nanmean(dices))
        if mean > best:
            best, best_state = mean, _snapshot(t.module)
        summary = ", ".join(f"{n} {d:.3f}" for n, d in per_class.items())
        yield Progress(
            (epoch + 1) * (steps_per_epoch + 1),
            total,
            f"epoch {epoch + 1}/{epochs} validation Dice: {summary}",
        )
    if best_state is None:  # no epoch had a finite Dice: keep the last weights
        best_state = _snapshot(t.module)
    return _finish(t.module, best_state, history, config, t.record)
