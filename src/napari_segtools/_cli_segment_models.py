"""The model-based methods of ``napari-segtools segment``: atlas propagation and U-Net.

Same shape as :mod:`napari_segtools._cli_segment_methods`: ``build(args)`` checks the options
and reads what is shared (the atlases, the model) once; the frozen method object goes to the
workers and ``segment(image, geometry, case)`` returns ``(labels, note)``.
"""

from __future__ import annotations

import argparse
import functools
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np


# ----------------------------------------------------------------------------- atlas
def add_atlas_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segment atlas``: the atlas folder and the registration preset."""
    from napari_segtools.core.atlas import FUSIONS
    from napari_segtools.core.registration import PRESETS

    parser.add_argument(
        "--atlas",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder of <name>_image.nii.gz + <name>_labels.nii.gz pairs (any image ending)",
    )
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="cross modality",
        help="registration preset (default 'cross modality': affine, Mattes mutual information)",
    )
    parser.add_argument("--transform", choices=["rigid", "affine", "deformable"])
    parser.add_argument("--metric", choices=["mattes", "mean_squares", "correlation"])
    parser.add_argument("--iterations", type=int, help="optimizer iterations per pyramid level")
    parser.add_argument("--fusion", choices=FUSIONS, default="majority")
    parser.add_argument("--top-k", type=int, help="fuse only the K most similar atlases")


@dataclass(frozen=True)
class AtlasMethod:
    """Register every atlas onto each case, warp the labels (nearest neighbour), fuse them."""

    atlases: tuple = field(repr=False)
    source: str
    settings: Any  # RegistrationSettings
    fusion: str
    top_k: int | None

    name = "atlas"

    def options(self) -> dict:
        from dataclasses import asdict

        return {
            "atlas": self.source,
            "registration": asdict(self.settings),
            "fusion": self.fusion,
            "top_k": self.top_k,
        }

    def label_names(self) -> dict[int, str]:
        values = sorted({int(v) for a in self.atlases for v in np.unique(a.labels)} - {0})
        return {v: f"label {v}" for v in values}

    def segment(self, image, geometry, case: str) -> tuple[np.ndarray, str]:
        from napari_segtools.core.atlas import RegistrationWarning, multi_atlas_propagate

        if image.ndim != 3:
            raise ValueError(f"atlas propagation needs a 3-D image; this one is {image.ndim}-D")
        with warnings.catch_warnings():  # the result carries them: they go to the log
            warnings.simplefilter("ignore", RegistrationWarning)
            result = multi_atlas_propagate(
                image,
                self.atlases,
                geometry=geometry,
                settings=self.settings,
                fusion=self.fusion,
                top_k=self.top_k,
                n_jobs=1,  # cases already run in parallel
            )
        return result.labels, "; ".join(result.warnings)


def build_atlas(args: argparse.Namespace) -> AtlasMethod:
    from napari_segtools.core.atlas import read_atlas_folder
    from napari_segtools.core.registration import PRESETS

    if not args.atlas.is_dir():
        raise FileNotFoundError(f"--atlas {args.atlas}: no such folder")
    atlases = tuple(read_atlas_folder(args.atlas))
    if args.top_k is not None and not 1 <= args.top_k <= len(atlases):
        raise ValueError(f"--top-k must be 1 to {len(atlases)} (the atlases); got {args.top_k}")
    changes = {
        k: getattr(args, k) for k in ("transform", "metric", "iterations") if getattr(args, k)
    }
    settings = replace(PRESETS[args.preset], **changes)  # checks the values
    source = f"{args.atlas} ({len(atlases)} atlas(es))"
    return AtlasMethod(atlases, source, settings, args.fusion, args.top_k)


# ----------------------------------------------------------------------------- U-Net
def add_unet_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segment unet``: the model, trust, device, masks and window options."""
    parser.add_argument(
        "--model",
        required=True,
        metavar="NAME_OR_PATH",
        help="a shipped or registry model name, or a model folder/file",
    )
    parser.add_argument(
        "--trusted",
        action="store_true",
        help="allow model formats that run code when loaded (TorchScript, ...): only for a "
        "source you trust",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda[:N] or mps (every worker process loads the model: with one GPU, "
        "use --workers 1 or a few)",
    )
    parser.add_argument(
        "--mask-dir",
        type=Path,
        metavar="DIR",
        help="one mask per case, named like the case (non-zero inside): the network runs "
        "inside it and the outside is background",
    )
    parser.add_argument("--overlap", type=float, default=0.5, help="window overlap (0-0.9)")
    parser.add_argument("--tta", action="store_true", help="mirroring test-time augmentation")
    parser.add_argument("--batch-size", type=int, default=4, help="windows per forward pass")


@functools.lru_cache(maxsize=2)
def _predictor(model: str, trusted: bool):
    """Load the model once per worker process (a torch module is not shipped by pickle)."""
    from napari_segtools.core.unet.package import load_model

    return load_model(model, trusted=trusted)


def _mask_file(folder: Path, case: str) -> Path:
    from napari_segtools.core.io import image_suffix, strip_image_suffix

    found = [
        p
        for p in sorted(folder.iterdir())
        if image_suffix(p) not in ("", ".dcm") and strip_image_suffix(p) == case
    ]
    if not found:
        raise ValueError(f"no mask named {case}.<nii.gz|nrrd|...> in {folder}")
    return found[0]


@dataclass(frozen=True)
class UNetMethod:
    """A U-Net model package (or other supported format) predicting each case."""

    model: str
    trusted: bool
    device: str
    mask_dir: Path | None
    overlap: float
    tta: bool
    batch_size: int
    class_names: tuple[str, ...]

    name = "unet"

    def options(self) -> dict:
        keys = ("model", "trusted", "mask_dir", "overlap", "tta", "batch_size", "class_names")
        values = {k: getattr(self, k) for k in keys}
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}

    def label_names(self) -> dict[int, str]:
        return dict(enumerate(self.class_names))

    def segment(self, image, geometry, case: str) -> tuple[np.ndarray, str]:
        from napari_segtools.core.geometry import grid_differences
        from napari_segtools.core.io import read_image

        keywords: dict[str, Any] = {}
        if self.mask_dir is not None:
            mask, mask_geometry = read_image(_mask_file(self.mask_dir, case))
            diffs = grid_differences(geometry, mask_geometry, image.shape, mask.shape)
            if diffs:
                raise ValueError("the mask is not on the image's grid: " + "; ".join(diffs))
            keywords["mask"] = mask != 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            labels = _predictor(self.model, self.trusted).predict(
                image,
                geometry=geometry,
                overlap=self.overlap,
                tta=self.tta,
                device=self.device,
                batch_size=self.batch_size,
                **keywords,
            )
        notes = dict.fromkeys(
            str(w.message) for w in caught if issubclass(w.category, UserWarning)
        )
        return labels, "; ".join(notes)


def build_unet(args: argparse.Namespace) -> UNetMethod:
    if args.mask_dir is not None and not args.mask_dir.is_dir():
        raise FileNotFoundError(f"--mask-dir {args.mask_dir}: no such folder")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1; got {args.batch_size}")
    if not 0 <= args.overlap <= 0.9:
        raise ValueError(f"--overlap must be 0 to 0.9; got {args.overlap}")
    from napari_segtools.core.unet.inference import resolve_device

    resolve_device(args.device)  # an unknown or absent device fails now, not once per case
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    config = _predictor(model, args.trusted).config  # loads it once here: errors come now
    if config.output == "sigmoid":
        raise ValueError(
            f"model {args.model}: its structures may overlap (sigmoid head), which one label "
            "file per case cannot hold; predict it with the API (Prediction.masks())"
        )
    if config.in_channels != 1:
        raise ValueError(
            f"model {args.model} expects {config.in_channels} channels; segment reads one "
            "image per case"
        )
    return UNetMethod(
        model,
        args.trusted,
        args.device,
        args.mask_dir.resolve() if args.mask_dir else None,
        args.overlap,
        args.tta,
        args.batch_size,
        tuple(config.class_names),
    )
