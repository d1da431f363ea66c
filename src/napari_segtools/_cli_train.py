r"""``napari-segtools train``: train a U-Net model package from image and label files or folders.

Needs PyTorch (the ``[unet]`` extra). Example (the shipped brain-tissue model; see the README for the exact command)::

    napari-segtools train --images t1.nii.gz --probability-maps gm.nii.gz wm.nii.gz \\
        --class-names background "grey matter" "white matter" --spacing 2 --output my_model
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path

DEFAULT_COLORS = ["#000000", "#e6a532", "#f0f0f0", "#3c8ce6", "#e63c3c", "#3ce66e", "#a03ce6"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser`` (works without torch)."""
    data = parser.add_argument_group("data")
    data.add_argument("--images", nargs="+", required=True, help="training image files or folders")
    data.add_argument(
        "--labels", nargs="+", help="label files or folders, paired with --images in sorted order"
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
        help="validation images (default: deformed copies of the training cases)",
    )
    data.add_argument("--val-labels", nargs="+", help="labels of --val-images")
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
    model.add_argument("--class-names", nargs="+", help="class names, background first")
    model.add_argument("--class-colors", nargs="+", help="hex colours, one per class")
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


def _cases(images, labels, maps, spacing, threshold=None):
    from .core.io import read_image
    from .core.unet.train import make_case

    images = _files(images)
    if maps:
        if len(images) != 1:
            raise ValueError("--probability-maps needs exactly one --images file")
        targets = [[read_image(p)[0] for p in _files(maps)]]
    else:
        labels = _files(labels)
        if len(labels) != len(images):
            raise ValueError(
                f"got {len(images)} images but {len(labels)} label files; "
                "they pair up in sorted order"
            )
        targets = [read_image(p)[0] for p in labels]
    cases = []
    for path, target in zip(images, targets, strict=True):
        image, geometry = read_image(path)
        if spacing is None:
            spacing = geometry.spacing
        spacing = tuple(spacing) * (image.ndim if len(spacing) == 1 else 1)
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


def run(args: argparse.Namespace) -> int:
    """Train the model described by ``args`` and write its package; return the exit code."""
    from .core.unet._torch import require_torch

    torch = require_torch()
    import numpy as np
    from tqdm import tqdm

    from .core.geometry import Geometry
    from .core.unet.package import ModelConfig, save_package
    from .core.unet.train import dice_per_class, iter_train, validation_copies

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.labels and not args.probability_maps:
        raise ValueError("give --labels or --probability-maps")
    cases, spacing = _cases(
        args.images, args.labels, args.probability_maps, args.spacing, args.probability_threshold
    )
    ndim = len(spacing)
    if args.val_images:
        val_cases, _ = _cases(args.val_images, args.val_labels, None, spacing)
    else:
        val_cases = [
            v
            for c in cases
            for v in validation_copies(c, spacing=spacing, count=args.validation_copies)
        ]
    classes = 1 + int(max(c.labels.max() for c in cases))
    names = args.class_names or ["background", *(f"class {k}" for k in range(1, classes))]
    colors = args.class_colors or DEFAULT_COLORS[: len(names)]
    patch = tuple(args.patch_size) * (ndim if len(args.patch_size) == 1 else 1)
    train_patch = args.train_patch_size or list(patch)
    train_patch = tuple(train_patch) * (ndim if len(train_patch) == 1 else 1)
    norm = {"method": args.normalization}
    if args.normalization == "percentile":
        norm.update(lower=args.percentiles[0], upper=args.percentiles[1])
    elif args.normalization == "ct_window":
        norm.update(center=args.ct_window[0], width=args.ct_window[1])
    architecture = {
        "spatial_dims": ndim,
        "in_channels": int(cases[0].image.shape[0]),
        "out_channels": len(names),
        "features": list(args.features),
        "norm": args.norm,
        "residual": args.residual,
        "decoder": args.decoder,
        "dilated_bottleneck": args.dilated_bottleneck,
    }
    output = Path(args.output)
    config = ModelConfig.from_dict(
        {
            "name": args.name or output.name,
            "description": args.description,
            "spatial_dims": ndim,
            "in_channels": architecture["in_channels"],
            "class_names": names,
            "class_colors": colors,
            "spacing": list(spacing),
            "normalization": norm,
            "patch_size": list(patch),
            "weights": "weights.pt",
            "architecture": architecture,
            "training": {
                "command": "napari-segtools train "
                + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["train"] else [])
            },
        },
        source="from the command line",
    )
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
                dice_per_class(
                    t.labels, predictor.predict(t.image, geometry=geometry), classes=len(names)
                )
                for t in tests
            ]
        )
        held_out = {
            n: round(float(d), 4) for n, d in zip(names[1:], dices.mean(axis=0), strict=True)
        }
        held = {"copy_indices": list(range(start, start + args.test_copies)), "dice": held_out}
        config = replace(config, training={**config.training, "held_out": held})
        print(f"held-out Dice (copies {start}..{start + args.test_copies - 1}): {held_out}")
    save_package(output, result.module, config)
    print(f"model package written to {output}")
    return 0
