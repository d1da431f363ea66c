r"""``napari-segtools train``: train a U-Net model package from image and label files or folders.

Needs PyTorch (the ``[unet]`` extra). Example (the shipped brain-tissue model; see the README for
the exact command)::

    napari-segtools train --images t1.nii.gz --probability-maps gm.nii.gz wm.nii.gz \\
        --class-names background "grey matter" "white matter" --spacing 2 --output my_model

Several contrasts: give ``--images`` once per input channel; the files of each channel pair up
across channels in sorted order (``--images t1/ --images flair/``). Overlapping structures:
``--multilabel`` trains a sigmoid head with one channel per structure, and ``--labels`` is given
once per structure, each naming one mask per case (non-zero inside), paired in sorted order
(``--multilabel --labels organ/ --labels lesion/``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .core.geometry import Geometry

DEFAULT_COLORS = ["#000000", "#e6a532", "#f0f0f0", "#3c8ce6", "#e63c3c", "#3ce66e", "#a03ce6"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser`` (works without torch)."""
    from .core.unet._preprocess import PADDING_MODES
    from .core.unet.losses import LOSSES

    data = parser.add_argument_group("data")
    data.add_argument(
        "--images",
        nargs="+",
        action="append",
        required=True,
        help="training image files or folders; once per input channel (co-registered files, "
        "paired across channels in sorted order)",
    )
    data.add_argument(
        "--labels",
        nargs="+",
        action="append",
        help="label files or folders, paired with --images in sorted order; with --multilabel "
        "once per structure (one mask per case, non-zero inside)",
    )
    data.add_argument(
        "--multilabel",
        action="store_true",
        help="one sigmoid output channel per structure, overlaps allowed (--labels once per "
        "structure); default: one softmax over classes from a label map",
    )
    data.add_argument(
        "--probability-maps",
        nargs="+",
        metavar="MAP",
        help="instead of --labels (one image): one probability map per foreground class; "
        "hard labels = the largest map where above --probability-threshold",
    )
    data.add_argument(
        "--probability-threshold",
        type=float,
        default=127.0,
        help="a class needs its map above this, in the maps' own units "
        "(default 127, for maps stored x255)",
    )
    data.add_argument(
        "--val-images",
        nargs="+",
        action="append",
        help="validation images, like --images (default: deformed copies of the training cases)",
    )
    data.add_argument(
        "--val-labels", nargs="+", action="append", help="labels of --val-images, like --labels"
    )
    data.add_argument(
        "--validation-copies",
        type=int,
        default=2,
        help="deformed copies per training case used for validation (default 2)",
    )
    data.add_argument(
        "--test-copies",
        type=int,
        default=1,
        help="further held-out copies scored once after training (default 1)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--class-names",
        nargs="+",
        help="class names, background first (with --multilabel: structure names)",
    )
    model.add_argument("--class-colors", nargs="+", help="hex colours, one per name")
    model.add_argument(
        "--spacing",
        nargs="+",
        type=float,
        help="model voxel spacing in mm (numpy order; one value = isotropic; "
        "default: the first image's)",
    )
    model.add_argument(
        "--patch-size",
        nargs="+",
        type=int,
        default=[64],
        help="patch size in voxels (default 64 per axis)",
    )
    model.add_argument(
        "--train-patch-size",
        nargs="+",
        type=int,
        help="training patch size in voxels (default: --patch-size)",
    )
    model.add_argument(
        "--features",
        nargs="+",
        type=int,
        default=[8, 16, 32, 64],
        help="feature maps per level (default 8 16 32 64)",
    )
    model.add_argument(
        "--norm", choices=["instance", "batch", "group", "none"], default="instance"
    )
    model.add_argument("--residual", action="store_true", help="residual convolution blocks")
    model.add_argument("--decoder", choices=["transpose", "upsample"], default="transpose")
    model.add_argument("--dilated-bottleneck", action="store_true")
    model.add_argument(
        "--downsampling",
        default="maxpool",
        help="how the encoder halves the resolution: maxpool (default), avgpool or strided "
        "(a learned 3x3 convolution with stride 2)",
    )
    model.add_argument(
        "--context",
        default="none",
        help="context module after the bottleneck: none (default), dilated (3x3 convolutions "
        "with dilations 1, 2, 4) or aspp (parallel dilated branches)",
    )
    model.add_argument(
        "--padding",
        choices=PADDING_MODES,
        default="edge",
        help="how inference pads an image smaller than the window, stored in the model "
        "(default edge; minimum = constant at the normalised image's minimum; constant = 0)",
    )
    model.add_argument(
        "--normalization", choices=["zscore", "percentile", "ct_window"], default="percentile"
    )
    model.add_argument(
        "--percentiles", nargs=2, type=float, default=[0.5, 99.5], metavar=("LOW", "HIGH")
    )
    model.add_argument(
        "--ct-window",
        nargs=2,
        type=float,
        default=[40.0, 400.0],
        metavar=("CENTER", "WIDTH"),
        help="HU",
    )
    fit = parser.add_argument_group("training")
    fit.add_argument(
        "--loss",
        choices=list(LOSSES),
        default="dice_ce",
        help="; ".join(f"{name}: {text}" for name, text in LOSSES.items()),
    )
    fit.add_argument(
        "--class-weights",
        nargs="+",
        default=["auto"],
        metavar="W",
        help="cross-entropy class weights: auto (default: median-frequency balancing), none "
        "(all 1), or one number per class, background first (with --multilabel: an absent, "
        "present pair, or one pair per structure)",
    )
    fit.add_argument("--epochs", type=int, default=10)
    fit.add_argument("--steps-per-epoch", type=int, default=20)
    fit.add_argument("--batch-size", type=int, default=2)
    fit.add_argument("--lr", type=float, default=3e-3, help="initial learning rate")
    fit.add_argument(
        "--foreground", type=float, default=0.67, help="fraction of patches centred on foreground"
    )
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or mps")
    fit.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument(
        "--output", required=True, help="folder to write config.json and weights.pt into"
    )
    parser.add_argument("--name", help="model name (default: the output folder's name)")
    parser.add_argument("--description", default="", help="what the model segments")


def _files(entries) -> list[Path]:
    from .core.io import is_image_path

    out: list[Path] = []
    for entry in entries or []:
        path = Path(entry)
        if path.is_dir() and not is_image_path(path):
            out += sorted(p for p in path.iterdir() if is_image_path(p))
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return out


def _channel_images(images) -> list[tuple[np.ndarray, Geometry]]:
    """Per case, the (C, ...) image stacked from ``--images`` (once per channel) and its geometry."""
    from .core.io import read_image

    channels = [_files(group) for group in images]
    if len({len(files) for files in channels}) != 1:
        raise ValueError(
            "each --images (one per input channel) must name one file per case; got "
            f"{[len(files) for files in channels]} files"
        )
    out = []
    for files in zip(*channels, strict=True):
        arrays = [read_image(p) for p in files]
        first, geometry = arrays[0]
        for path, (array, _) in zip(files[1:], arrays[1:], strict=True):
            if array.shape != first.shape:
                raise ValueError(
                    f"{path} has shape {array.shape} but {files[0]} has {first.shape}: the "
                    "channels of a case must be co-registered"
                )
        out.append((np.stack([a for a, _ in arrays]), geometry))
    return out


def _targets(labels, count: int, *, multilabel: bool) -> list:
    """Per case: a label map, or with ``multilabel`` a list of masks (one ``--labels`` each)."""
    from .core.io import read_image

    groups = [_files(group) for group in labels]
    if not multilabel and len(groups) > 1:
        raise ValueError(
            f"got --labels {len(groups)} times: one label map per case needs it once; "
            "add --multilabel for one mask file per structure"
        )
    for files in groups:
        if len(files) != count:
            raise ValueError(
                f"got {count} images but {len(files)} label files; they pair up in sorted order"
            )
    per_case = [[read_image(p)[0] for p in files] for files in zip(*groups, strict=True)]
    return per_case if multilabel else [maps[0] for maps in per_case]


def _cases(images, labels, maps, spacing, threshold=None, *, multilabel=False):
    from .core.io import read_image
    from .core.unet.train import make_case

    channel_images = _channel_images(images)
    if maps:
        if len(channel_images) != 1:
            raise ValueError("--probability-maps needs exactly one --images file")
        targets = [[read_image(p)[0] for p in _files(maps)]]
    else:
        targets = _targets(labels, len(channel_images), multilabel=multilabel)
    cases = []
    for (image, geometry), target in zip(channel_images, targets, strict=True):
        if spacing is None:
            spacing = geometry.spacing
        spacing = tuple(spacing) * (geometry.ndim if len(spacing) == 1 else 1)
        cases.append(
            make_case(
                image,
                target,
                geometry=geometry,
                target_spacing=spacing,
                map_threshold=threshold if maps else None,
            )
        )
    return cases, spacing


def _class_weights(values: list[str], *, loss: str, multilabel: bool, classes: int):
    """``--class-weights``: None (auto: median frequency), all 1 (none) or the numbers."""
    from .core.unet.losses import WEIGHTED_LOSSES

    if values == ["auto"] or (values == ["none"] and loss not in WEIGHTED_LOSSES):
        return None
    if values == ["none"]:
        return np.ones(2 if multilabel else classes, np.float32)
    try:
        numbers = np.array([float(v) for v in values], np.float32)
    except ValueError:
        raise ValueError(
            f"--class-weights takes auto, none or numbers; got {' '.join(values)}"
        ) from None
    return numbers.reshape(-1, 2) if multilabel and len(numbers) > 2 else numbers


def run(args: argparse.Namespace) -> int:
    """Train the model described by ``args`` and write its package; return the exit code."""
    from .core.unet._torch import require_torch

    torch = require_torch()
    from tqdm import tqdm

    from .core.geometry import Geometry
    from .core.unet.model import UNetSpec
    from .core.unet.package import ModelConfig, save_package
    from .core.unet.receptive_field import receptive_field
    from .core.unet.train import iter_train, structure_dice, validation_copies

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.labels and not args.probability_maps:
        raise ValueError("give --labels or --probability-maps")
    if args.multilabel and args.probability_maps:
        raise ValueError("--multilabel takes one --labels per structure, not --probability-maps")
    if args.loss == "ce" and args.multilabel:
        raise ValueError("--loss ce is categorical (softmax); --multilabel trains with bce")
    if args.loss == "bce" and not args.multilabel:
        raise ValueError(
            "--loss bce trains a sigmoid head: add --multilabel (one --labels per structure)"
        )
    cases, spacing = _cases(
        args.images,
        args.labels,
        args.probability_maps,
        args.spacing,
        args.probability_threshold,
        multilabel=args.multilabel,
    )
    ndim = len(spacing)
    if args.val_images:
        val_cases, _ = _cases(
            args.val_images, args.val_labels, None, spacing, multilabel=args.multilabel
        )
    else:
        val_cases = [
            v
            for c in cases
            for v in validation_copies(c, spacing=spacing, count=args.validation_copies)
        ]
    if args.multilabel:
        structures = len(args.labels)
        names = args.class_names or [f"structure {k}" for k in range(1, structures + 1)]
        colors = args.class_colors or DEFAULT_COLORS[1 : len(names) + 1]
    else:
        classes = 1 + int(max(c.labels.max() for c in cases))
        names = args.class_names or ["background", *(f"class {k}" for k in range(1, classes))]
        colors = args.class_colors or DEFAULT_COLORS[: len(names)]
    weights = _class_weights(
        args.class_weights, loss=args.loss, multilabel=args.multilabel, classes=len(names)
    )
    patch = tuple(args.patch_size) * (ndim if len(args.patch_size) == 1 else 1)
    train_patch = args.train_patch_size or list(patch)
    train_patch = tuple(train_patch) * (ndim if len(train_patch) == 1 else 1)
    norm = {"method": args.normalization}
    if args.normalization == "percentile":
        norm.update(lower=args.percentiles[0], upper=args.percentiles[1])
    elif args.normalization == "ct_window":
        norm.update(center=args.ct_window[0], width=args.ct_window[1])
    spec = UNetSpec(
        spatial_dims=ndim,
        in_channels=int(cases[0].image.shape[0]),
        out_channels=len(names),
        features=tuple(args.features),
        norm=args.norm,
        residual=args.residual,
        decoder=args.decoder,
        dilated_bottleneck=args.dilated_bottleneck,
        downsampling=args.downsampling,
        context=args.context,
    )
    output = Path(args.output)
    config = ModelConfig.from_dict(
        {
            "name": args.name or output.name,
            "description": args.description,
            "spatial_dims": ndim,
            "in_channels": spec.in_channels,
            "class_names": names,
            "class_colors": colors,
            "spacing": list(spacing),
            "normalization": norm,
            "patch_size": list(patch),
            "weights": "weights.pt",
            "architecture": spec.to_dict(),
            "output": "sigmoid" if args.multilabel else "softmax",
            "padding": args.padding,
            "training": {
                "command": "napari-segtools train "
                + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["train"] else [])
            },
        },
        source="from the command line",
    )
    print(f"receptive field: {receptive_field(spec, spacing=spacing)}")
    gen = iter_train(
        cases,
        config,
        val_cases=val_cases,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        patch_size=train_patch,
        learning_rate=args.lr,
        foreground=args.foreground,
        loss=args.loss,
        weights=weights,
        seed=args.seed,
        device=args.device,
    )
    with tqdm(total=args.epochs * (args.steps_per_epoch + 1), unit="step", file=sys.stderr) as bar:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            bar.update(event.step - bar.n)
            bar.set_description(event.message)
            if "validation" in event.message:
                bar.write(event.message)
    config = result.config
    if args.test_copies and not args.val_images:
        from .core.unet.package import Predictor

        predictor = Predictor(config, result.module)
        geometry = Geometry(spacing)
        start = args.validation_copies
        tests = [
            t
            for c in cases
            for t in validation_copies(c, spacing=spacing, count=args.test_copies, start=start)
        ]
        dices = np.array(
            [
                list(
                    structure_dice(
                        t.labels, predictor.predict(t.image, geometry=geometry), config=config
                    ).values()
                )
                for t in tests
            ]
        )
        held_out = {
            n: round(float(d), 4)
            for n, d in zip(config.structures, dices.mean(axis=0), strict=True)
        }
        held = {"copy_indices": list(range(start, start + args.test_copies)), "dice": held_out}
        config = replace(config, training={**config.training, "held_out": held})
        print(f"held-out Dice (copies {start}..{start + args.test_copies - 1}): {held_out}")
    save_package(output, result.module, config)
    print(f"model package written to {output}")
    return 0
