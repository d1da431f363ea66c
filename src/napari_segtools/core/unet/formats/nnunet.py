"""nnU-Net v2 trained-model folders, predicted through nnunetv2's own predictor.

A trained-model folder (``nnUNet_results/DatasetXXX_Name/Trainer__Plans__configuration``) holds
``dataset.json`` (channel and label names), ``plans.json`` (spacing, window, normalisation,
network) and ``fold_N/checkpoint_final.pth`` (or ``checkpoint_best.pth``), a pickle that
nnunetv2 unpickles in full: loading runs code, so :func:`~.load_path` calls
:func:`load_nnunet` only with ``trusted=True``. Every fold found is used (nnU-Net's ensemble);
``fold_all`` when there is no numbered fold.

Prediction is nnU-Net's own (``nnUNetPredictor.predict_single_npy_array``): its cropping,
normalisation, resampling, Gaussian sliding window (logits accumulated in half precision, as
nnU-Net does) and mirroring; the probabilities come back on the image grid. The image goes in as
nnU-Net's default reader (SimpleITK) gives it, in the image's own axis order and spacing; for a
model trained with ``NibabelIOWithReorient`` it is first turned to RAS as that reader does.
``overlap`` sets nnU-Net's tile step (``1 - overlap``), ``tta`` its mirroring; ``batch_size``
and ``padding`` do not apply (nnU-Net runs one window at a time and pads with zeros). With a
``mask``, nnU-Net runs on the mask's bounding box grown by half a window, and the normalisation
statistics come from that box.

Cascade stages (which need the previous stage's segmentation) are refused.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._types import Progress, ProgressGenerator
from ...geometry import Geometry
from .._torch import require_torch
from ..package import ModelConfig, Predictor, check_predict_options, resolve_inside
from . import register_format, require_module
from ._classes import class_colors, class_names

if TYPE_CHECKING:
    import torch

DATASET = "dataset.json"
PLANS = "plans.json"
CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_best.pth")
NEEDS = (
    f"an nnU-Net v2 model folder needs {DATASET}, {PLANS} and fold_N/{CHECKPOINTS[0]} "
    f"(or {CHECKPOINTS[1]})"
)
#: nnU-Net's normalisation schemes as the nearest of this plugin's (for the dock and the domain
#: checks; prediction runs nnU-Net's own)
_SCHEMES = {"ZScoreNormalization": "zscore", "CTNormalization": "ct_window"}
#: the spacing nnU-Net's readers give the dummy axis of a 2-D image (999 x the largest spacing)
_FLAT_SPACING = 999.0


def is_nnunet_folder(path: Path) -> bool:
    """Say whether ``path`` is an nnU-Net v2 trained-model folder; nothing is read.

    Such a folder has ``dataset.json`` and ``plans.json``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> is_nnunet_folder(folder)
    False
    >>> for name in ("dataset.json", "plans.json"):
    ...     _ = (folder / name).write_text("{}")
    >>> is_nnunet_folder(folder)
    True
    """
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in (DATASET, PLANS))


def find_folds(folder: Path) -> tuple[tuple[int | str, ...], str]:
    """Return the folds to ensemble and the checkpoint name: final if any fold has it, else best.

    Numbered folds ``fold_N`` come first; ``fold_all`` only when there is none.

    Raises
    ------
    FileNotFoundError
        When no fold holds a checkpoint (the message says what the folder needs).

    Examples
    --------
    >>> find_folds(Path("."))
    Traceback (most recent call last):
    ...
    FileNotFoundError: nnU-Net model folder . has no fold_N/checkpoint_final.pth or fold_N/checkpoint_best.pth; an nnU-Net v2 model folder needs dataset.json, plans.json and fold_N/checkpoint_final.pth (or checkpoint_best.pth)
    """
    folder = Path(folder)
    numbered: list[int | str] = sorted(
        int(p.name[5:]) for p in folder.glob("fold_*") if p.is_dir() and p.name[5:].isdigit()
    )
    for checkpoint in CHECKPOINTS:
        for folds in (numbered, ["all"]):
            found = [
                f
                for f in folds
                if resolve_inside(folder, f"fold_{f}/{checkpoint}", "fold").is_file()
            ]
            if found:
                return tuple(found), checkpoint
    raise FileNotFoundError(
        f"nnU-Net model folder {folder} has no fold_N/{CHECKPOINTS[0]} or "
        f"fold_N/{CHECKPOINTS[1]}; {NEEDS}"
    )


def _read_json(folder: Path, name: str) -> dict:
    path = resolve_inside(folder, name, name)
    if not path.is_file():
        raise FileNotFoundError(f"nnU-Net model folder {folder} lacks {name}; {NEEDS}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"nnU-Net {name} in {folder} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"nnU-Net {name} in {folder} must be a JSON object")
    return data


def _require_nnunet() -> None:
    require_torch()
    require_module("nnunetv2", extra="nnunet", what="loading an nnU-Net model")


def read_nnunet_config(path: Path) -> ModelConfig:
    """Return the config of an nnU-Net folder from its JSON files (no checkpoint is unpickled).

    The configuration is the one the folder is named after (``..._3d_fullres``), or the plans'
    only one.
    """
    folder = Path(path)
    _require_nnunet()
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    dataset, plans = _read_json(folder, DATASET), _read_json(folder, PLANS)
    manager = PlansManager(plans)
    available = manager.available_configurations
    named = folder.name.rsplit("__", 1)[-1]
    name = named if named in available else (available[0] if len(available) == 1 else None)
    if name is None:
        raise ValueError(
            f"nnU-Net folder {folder}: which of the configurations {available} it holds shows "
            "once the model is loaded"
        )
    folds, checkpoint = find_folds(folder)
    weights = f"fold_{folds[0]}/{checkpoint}"
    return _model_config(folder, manager, manager.get_configuration(name), dataset, weights)


def _model_config(
    folder: Path, plans: Any, configuration: Any, dataset: dict, weights: str
) -> ModelConfig:
    """Translate nnU-Net's plans, configuration and dataset description into a ModelConfig."""
    labels = plans.get_label_manager(dataset)
    if labels.has_regions:
        output = "sigmoid"
        names = [k for k, v in labels.label_dict.items() if k not in ("background", "ignore")][
            : labels.num_segmentation_heads
        ]
    else:
        output = "softmax"
        by_value = {int(np.ravel(v)[0]): k for k, v in labels.label_dict.items() if k != "ignore"}
        names = [by_value.get(v, "") for v in labels.all_labels]
    count = labels.num_segmentation_heads
    channels = dataset.get("channel_names", dataset.get("modality")) or {"0": "image"}
    channel_names = [str(channels[k]) for k in sorted(channels, key=int)]
    spacing_t, patch_t = list(configuration.spacing), list(configuration.patch_size)
    if len(spacing_t) == 2:  # a 2-D configuration: slices across the first (transposed) axis
        spacing_t = [plans.original_median_spacing_after_transp[0], *spacing_t]
        patch_t = [1, *patch_t]
    back = plans.transpose_backward
    spacing = [float(spacing_t[i]) for i in back]
    patch = [int(patch_t[i]) for i in back]
    flat = plans.original_median_shape_after_transp[0] == 1 and back[0] == 0
    if flat:  # 2-D images, stored with a dummy first axis
        spacing, patch = spacing[1:], patch[1:]
    schemes = list(configuration.normalization_schemes)
    method = _SCHEMES.get(schemes[0], "percentile") if schemes else "zscore"
    normalization: dict[str, Any] = {"method": method}
    if method == "ct_window":
        stats = plans.foreground_intensity_properties_per_channel.get("0", {})
        low, high = stats.get("percentile_00_5", -1000.0), stats.get("percentile_99_5", 1000.0)
        normalization.update(center=(low + high) / 2, width=max(high - low, 1e-3))
    elif method == "percentile":
        normalization.update(lower=0.0, upper=100.0)
    return ModelConfig.from_dict(
        {
            "name": str(plans.plans.get("dataset_name") or folder.name),
            "description": f"nnU-Net v2 model ({folder.name})",
            "spatial_dims": 2 if flat else 3,
            "in_channels": len(channel_names),
            "channel_names": channel_names,
            "class_names": class_names(names, count, output=output),
            "class_colors": class_colors(count, output=output),
            "spacing": spacing,
            "normalization": normalization,
            "patch_size": patch,
            "weights": weights,
            "output": output,
            "padding": "constant",
            "training": {
                "source_format": "nnunet",
                "nnunet": {
                    "plans": plans.plans.get("plans_name", ""),
                    "image_reader_writer": plans.plans.get("image_reader_writer", ""),
                    "normalization_schemes": schemes,
                    "flat_images": bool(flat),
                },
            },
        },
        source=str(folder),
    )


def load_nnunet(path: Path) -> Predictor:
    """Load an nnU-Net v2 trained-model folder through ``nnUNetPredictor`` (unpickles: trusted only).

    Parameters
    ----------
    path : Path
        The folder holding ``dataset.json``, ``plans.json`` and ``fold_N/``.

    Returns
    -------
    Predictor
        A :class:`NNUNetModel`: its config gives the label names (``dataset.json``), spacing and
        window (the plans' configuration), and the input channels (``channel_names``).

    Raises
    ------
    ImportError
        Without nnunetv2 (the ``[nnunet]`` extra).
    FileNotFoundError
        If ``dataset.json``, ``plans.json`` or every fold's checkpoint is missing.
    ValueError
        Broken JSON, a checkpoint nnunetv2 cannot load, or a cascade stage.

    Examples
    --------
    >>> load_nnunet(Path("no-such-folder"))
    Traceback (most recent call last):
    ...
    FileNotFoundError: nnU-Net model folder no-such-folder lacks dataset.json; an nnU-Net v2 model folder needs dataset.json, plans.json and fold_N/checkpoint_final.pth (or checkpoint_best.pth)
    """
    folder = Path(path)
    for name in (DATASET, PLANS):
        _read_json(folder, name)
    folds, checkpoint = find_folds(folder)
    _require_nnunet()
    torch = require_torch()
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    with contextlib.redirect_stdout(io.StringIO()):  # nnU-Net prints its CPU notice
        runner = nnUNetPredictor(
            device=torch.device("cpu"), perform_everything_on_device=False, allow_tqdm=False
        )
        try:
            runner.initialize_from_trained_model_folder(
                str(folder.resolve()), use_folds=folds, checkpoint_name=checkpoint
            )
        except Exception as exc:  # noqa: BLE001 - a pickle and nnunetv2 may raise anything
            raise ValueError(
                f"nnU-Net model folder {folder} cannot be loaded with {checkpoint} of folds "
                f"{list(folds)} ({type(exc).__name__}: {exc})"
            ) from None
    if runner.configuration_manager.previous_stage_name is not None:
        raise ValueError(
            f"nnU-Net model folder {folder} is a cascade stage: it needs the segmentation of "
            f"the stage {runner.configuration_manager.previous_stage_name!r}, which this plugin "
            "does not run; use the 3d_fullres or 2d model"
        )
    config = _model_config(
        folder,
        runner.plans_manager,
        runner.configuration_manager,
        runner.dataset_json,
        f"fold_{folds[0]}/{checkpoint}",
    )
    return NNUNetModel(config, runner, source=str(folder))


class NNUNetModel(Predictor):
    """A loaded nnU-Net model: :class:`~..package.Predictor`'s methods, run by nnunetv2.

    Parameters
    ----------
    config : ModelConfig
        Classes, channels, spacing and window read from the folder.
    runner : nnunetv2.inference.predict_from_raw_data.nnUNetPredictor
        Initialised from the folder.
    source : str
        The folder, for messages.
    """

    def __init__(self, config: ModelConfig, runner: Any, *, source: str = "") -> None:
        super().__init__(config, runner.network, source=source)
        self.runner = runner
        reader = runner.plans_manager.plans.get("image_reader_writer")
        #: 2-D images, which nnU-Net stores with a dummy first axis
        self.flat = bool(config.training.get("nnunet", {}).get("flat_images"))
        #: nnU-Net's PNG reader gives every image the spacing 1
        self.plain = reader == "NaturalImage2DIO"
        #: nibabel's reorienting reader: the array turned to RAS first
        self.ras = reader == "NibabelIOWithReorient" and not self.flat

    def iter_predict_proba(
        self,
        image: np.ndarray,
        *,
        geometry: Geometry,
        overlap: float = 0.5,
        tta: bool = False,
        device: str | torch.device | None = None,
        batch_size: int = 4,
        padding: str | None = None,
        mask: np.ndarray | None = None,
        domain_check: bool = True,
    ) -> ProgressGenerator[np.ndarray]:
        """Predict class probabilities with nnU-Net; arguments as :meth:`Predictor.predict_proba`.

        ``overlap`` sets nnU-Net's tile step (``1 - overlap``, at least 0.1), ``tta`` its
        mirroring; ``batch_size`` and ``padding`` are checked but do not apply.

        Yields
        ------
        Progress
            Before and after nnU-Net's prediction.

        Returns
        -------
        (K, [Z,] Y, X) float32 ndarray
            Probabilities on the image grid.
        """
        from ..inference import resolve_device

        cfg = self.config
        overlap, tta, _, _ = check_predict_options(
            overlap=overlap, tta=tta, batch_size=batch_size, padding=padding
        )
        dev = resolve_device(device)
        arr, geometry, perm, flips = self._check_input(image, geometry)
        if not self.ras:  # nnU-Net takes the array as it is: its axes are the model's
            geometry = Geometry(geometry.spacing, geometry.origin)
            perm, flips = tuple(range(cfg.spatial_dims)), (False,) * cfg.spatial_dims
        region = self._mask_and_check(
            arr, mask, geometry=geometry, perm=perm, domain_check=domain_check
        )
        if region is not None:
            if region.empty:
                yield Progress(1, 1, "the mask is empty: background everywhere")
                return region.paste(None, output=cfg.output, classes=len(cfg.class_names))
            arr = region.crop(arr, leading=1)
        data, spacing = self._to_nnunet(arr, geometry, perm, flips)
        runner = self.runner
        runner.device = dev
        runner.perform_everything_on_device = dev.type == "cuda"
        runner.tile_step_size = max(1.0 - overlap, 0.1)
        runner.use_mirroring = tta
        yield Progress(0, 1, "nnU-Net: predicting")
        with contextlib.redirect_stdout(io.StringIO()):
            _, probs = runner.predict_single_npy_array(
                data, {"spacing": spacing}, None, None, True
            )
        probs = self._from_nnunet(np.asarray(probs, np.float32), perm, flips)
        if probs.shape[0] != len(cfg.class_names):
            raise ValueError(
                f"nnU-Net produced {probs.shape[0]} channels but dataset.json names "
                f"{len(cfg.class_names)} classes"
            )
        yield Progress(1, 1, "nnU-Net: done")
        return probs if region is None else region.paste(probs, output=cfg.output)

    def _to_nnunet(
        self, arr: np.ndarray, geometry: Geometry, perm: tuple, flips: tuple
    ) -> tuple[np.ndarray, list[float]]:
        """Return the (C, Z, Y, X) float32 array and spacing nnU-Net's reader would give."""
        from .. import _preprocess as pre

        data = pre.to_canonical(arr, perm, flips, leading=1)
        spacing = [float(geometry.spacing[p]) for p in perm]
        if self.flat:
            data = data[:, None]
            spacing = (
                [_FLAT_SPACING, 1.0, 1.0]
                if self.plain
                else [_FLAT_SPACING * max(spacing), *spacing]
            )
        elif self.ras:
            data = data[:, :, ::-1, ::-1]  # canonical runs S, P, L; nibabel's RAS runs S, A, R
        return np.ascontiguousarray(data, np.float32), spacing

    def _from_nnunet(self, probs: np.ndarray, perm: tuple, flips: tuple) -> np.ndarray:
        """Undo :meth:`_to_nnunet` on nnU-Net's (K, Z, Y, X) probabilities."""
        from .. import _preprocess as pre

        if self.flat:
            probs = probs[:, 0]
        elif self.ras:
            probs = probs[:, :, ::-1, ::-1]
        return np.ascontiguousarray(pre.from_canonical(probs, perm, flips, leading=1))


register_format(
    "nnunet",
    detect=is_nnunet_folder,
    load=load_nnunet,
    data_only=False,
    extra="nnunet",
    read_config=read_nnunet_config,
)
