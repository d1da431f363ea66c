"""Model packages: a JSON config plus weights; ``list_models``, ``load_model`` and the predictor.

A package is a folder holding ``config.json`` and the weights file it names (a state dict of
:class:`~.model.UNet`, saved with :func:`save_package`, read with ``weights_only=True``: data
only). :func:`load_model` also reads the other formats of :mod:`.formats` (TorchScript,
``torch.export`` programs and ONNX files with a JSON of the same stem beside them, ``net.pt`` +
``net.json``; MONAI bundles and nnU-Net folders where their extras are installed). A format
whose loading runs code loads only with ``trusted=True``; every path a config names must stay
inside the model's folder. The config's keys:

``spatial_dims`` (2 or 3), ``in_channels``, ``class_names`` (background first),
``class_colors`` (hex, one per class), ``spacing`` (mm, numpy axis order, the grid the model was
trained on), ``normalization`` (``{"method": "zscore"}``, ``{"method": "percentile", "lower":
0.5, "upper": 99.5}`` or ``{"method": "ct_window", "center": 40, "width": 400}``, each with an
optional ``"masked"``: ``"inside"`` (default) or ``"stripped"``, see ``MASKED_NORMALIZATIONS``),
``patch_size`` (voxels), ``weights`` (file name), and ``architecture`` (a :class:`~.model.UNetSpec`
as a dict; required for state dicts, ignored for TorchScript). Optional: ``name``,
``description``, ``training`` (how it was trained and its held-out Dice), ``output`` (the head:
``"softmax"``, default, K exclusive classes with the background first; or ``"sigmoid"``, one
independent channel per structure, overlaps allowed, ``class_names`` then name the structures
and no background) and ``padding`` (how inference pads an image smaller than the window:
``"edge"``, default, ``"minimum"``, ``"reflect"`` or ``"constant"`` 0; see
:data:`~._preprocess.PADDING_MODES`). Configs without these two keys load with the defaults;
:meth:`ModelConfig.to_dict` writes both. ``channel_names`` (optional, one per input channel,
e.g. ``["T1", "FLAIR"]``) name the inputs in messages and in the dock.
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._deprecate import loose_geometry_keywords
from .._types import Progress, ProgressGenerator, run_to_completion
from .._validate import (
    check_choice,
    check_flag,
    check_geometry,
    check_image,
    check_integer,
    check_number,
    check_spacing,
)
from ..geometry import Geometry
from . import _preprocess as pre
from ._torch import require_torch
from .domain import warn_domain
from .losses import OUTPUTS
from .masking import MaskRegion, mask_region

if TYPE_CHECKING:
    import torch

    from .inference import Output, PaddingMode

CONFIG_NAME = "config.json"
#: a colour in a model config: #rgb, #rrggbb or #rrggbbaa
_HEX_COLOR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")

REQUIRED_KEYS = (
    "spatial_dims",
    "in_channels",
    "class_names",
    "class_colors",
    "spacing",
    "normalization",
    "patch_size",
    "weights",
)
EXPECTED = (
    "a shipped model name, a package folder with config.json, a config .json, or a model file "
    "(TorchScript .pt/.ts, torch.export .pt2, ONNX .onnx) with a .json of the same name beside "
    "it, or a MONAI bundle or nnU-Net model folder"
)


def _models_dir() -> Path:
    return Path(str(resources.files("napari_segtools") / "core" / "unet" / "models"))


def list_models() -> list[str]:
    """List the names of the models shipped with the plugin (usable with :func:`load_model`).

    Works without torch.

    Returns
    -------
    list of str
        Shipped model names, sorted.

    Examples
    --------
    >>> list_models()
    ['mni152-brain-tissue']
    """
    root = _models_dir()
    return (
        sorted(p.name for p in root.iterdir() if (p / CONFIG_NAME).is_file())
        if root.is_dir()
        else []
    )


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """A validated package config (see the module docstring for the meaning of each field).

    Build it with :meth:`from_dict`, which checks every field and names what is wrong.

    Examples
    --------
    >>> cfg = ModelConfig.from_dict({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [0.5, 0.5],
    ...     "normalization": {"method": "zscore"}, "patch_size": [32, 32],
    ...     "weights": "weights.pt",
    ... })
    >>> cfg.spacing, cfg.class_names, cfg.output, cfg.padding
    ((0.5, 0.5), ('background', 'cell'), 'softmax', 'edge')
    """

    spatial_dims: int
    in_channels: int
    class_names: tuple[str, ...]
    class_colors: tuple[str, ...]
    spacing: tuple[float, ...]
    normalization: dict
    patch_size: tuple[int, ...]
    weights: str
    architecture: dict[str, Any] | None = None
    name: str = ""
    description: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    output: str = "softmax"
    padding: str = "edge"
    channel_names: tuple[str, ...] = ()

    @property
    def structures(self) -> tuple[str, ...]:
        """Names of what the model segments, one Dice score and one mask each.

        The classes after the background (softmax head), or every channel (sigmoid head).
        """
        return self.class_names[1:] if self.output == "softmax" else self.class_names

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> ModelConfig:
        """Check ``data`` and build the config; errors name ``source`` and the expected value.

        Parameters
        ----------
        data : dict
            The parsed JSON config (keys in the module docstring).
        source : str
            What the config came from, for error messages (a path, "the command line").

        Returns
        -------
        ModelConfig

        Raises
        ------
        ValueError
            Missing keys, wrong types or lengths, unknown normalisation, output or padding,
        duplicate class names, a window over 1024 voxels, or an ``architecture`` whose
        dimensions, channels or classes disagree with the config (classes vs weights).
        """
        if not isinstance(data, dict):
            raise ValueError(
                f"model config {source} must be a JSON object; got {type(data).__name__}"
            )
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ValueError(
                f"model config {source} lacks required keys {missing}; "
                f"expected {list(REQUIRED_KEYS)}"
            )
        not_lists = [
            k
            for k in ("class_names", "class_colors", "spacing", "patch_size")
            if not isinstance(data[k], list)
        ]
        if not_lists:
            raise ValueError(f"model config {source}: {not_lists} must be JSON lists")
        dims = data["spatial_dims"]
        if dims not in (2, 3):
            raise ValueError(f"model config {source}: `spatial_dims` must be 2 or 3; got {dims!r}")
        names, colors = list(data["class_names"]), list(data["class_colors"])
        output = data.get("output", "softmax")
        if output not in OUTPUTS:
            raise ValueError(
                f"model config {source}: `output` must be one of {OUTPUTS}; got {output!r}"
            )
        least = 2 if output == "softmax" else 1
        if len(names) < least or len(colors) != len(names):
            what = "(background first)" if output == "softmax" else "(one per sigmoid channel)"
            raise ValueError(
                f"model config {source}: expected >= {least} `class_names` {what} and one "
                f"`class_colors` entry each; got {len(names)} names and {len(colors)} colours"
            )
        padding = data.get("padding", "edge")
        if padding not in pre.PADDING_MODES:
            raise ValueError(
                f"model config {source}: `padding` must be one of {pre.PADDING_MODES}; "
                f"got {padding!r}"
            )
        bad = [c for c in colors if not (isinstance(c, str) and _HEX_COLOR.fullmatch(c))]
        if bad:
            raise ValueError(
                f"model config {source}: `class_colors` must be hex colours like '#ff8800'; "
                f"got {bad[0]!r}"
            )
        for key in ("spacing", "patch_size"):
            if len(data[key]) != dims:
                raise ValueError(
                    f"model config {source}: `{key}` must have {dims} values; got {data[key]}"
                )
        try:
            pre.check_normalization(data["normalization"])
            checked = _check_config_rest(data, names)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"model config {source}: {exc}") from None
        return cls(
            spatial_dims=int(dims),
            class_names=tuple(str(n) for n in names),
            class_colors=tuple(str(c) for c in colors),
            normalization=dict(data["normalization"]),
            output=output,
            padding=padding,
            channel_names=tuple(data.get("channel_names") or ()),
            **checked,
            **{
                k: data[k]
                for k in ("weights", "architecture", "name", "description", "training")
                if k in data
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the config as the JSON-ready dict :meth:`from_dict` reads back."""
        return {
            "name": self.name,
            "description": self.description,
            "spatial_dims": self.spatial_dims,
            "in_channels": self.in_channels,
            "class_names": list(self.class_names),
            "class_colors": list(self.class_colors),
            "spacing": list(self.spacing),
            "normalization": self.normalization,
            "patch_size": list(self.patch_size),
            "weights": self.weights,
            "architecture": self.architecture,
            "output": self.output,
            "padding": self.padding,
            "channel_names": list(self.channel_names),
            "training": self.training,
        }


#: largest window a config may ask for, voxels per axis
MAX_PATCH = 1024


def _check_config_rest(data: dict[str, Any], names: list[Any]) -> dict[str, Any]:
    """Check the fields after the colours; return the converted ones (errors name the key)."""
    dims = data["spatial_dims"]
    if isinstance(dims, bool) or not isinstance(dims, int):
        raise TypeError(f"`spatial_dims` must be the integer 2 or 3; got {dims!r}")
    bad_names = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad_names:
        raise ValueError(f"`class_names` must be non-empty text; got {bad_names[0]!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"`class_names` must be distinct; got {names}")
    in_channels = check_integer(data["in_channels"], "in_channels", minimum=1, maximum=64)
    patch = tuple(
        check_integer(p, f"patch_size[{i}]", minimum=1, maximum=MAX_PATCH)
        for i, p in enumerate(data["patch_size"])
    )
    spacing = check_spacing(data["spacing"], dims, "spacing", array_name="model")
    relative_entry(data["weights"], "weights")
    channel_names = data.get("channel_names") or []
    if channel_names and (
        not isinstance(channel_names, list)
        or len(channel_names) != in_channels
        or any(not isinstance(n, str) or not n.strip() for n in channel_names)
    ):
        raise ValueError(
            f"`channel_names` must list one name (text) per input channel ({in_channels}); "
            f"got {channel_names!r}"
        )
    architecture = data.get("architecture")
    if architecture is not None:
        if not isinstance(architecture, dict):
            raise TypeError(
                f"`architecture` must be a JSON object; got {type(architecture).__name__}"
            )
        expected = {"spatial_dims": dims, "in_channels": in_channels, "out_channels": len(names)}
        for key, value in expected.items():
            if key in architecture and architecture[key] != value:
                what = "class_names" if key == "out_channels" else key
                raise ValueError(
                    f"`architecture.{key}` is {architecture[key]!r} but the config has "
                    f"{value} ({what}): classes and weights disagree"
                )
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise TypeError(f"`{key}` must be text; got {data[key]!r}")
    if "training" in data and not isinstance(data["training"], dict):
        raise TypeError(f"`training` must be a JSON object; got {data['training']!r}")
    return {"in_channels": in_channels, "patch_size": patch, "spacing": spacing}


def relative_entry(entry: Any, key: str) -> PurePosixPath:
    """Return a config entry that names a file as a relative path that cannot leave its folder.

    Text only (nothing is opened): absolute paths, drive letters and ``..`` are refused with a
    message naming ``key``; :func:`resolve_inside` adds the check of links.

    Examples
    --------
    >>> relative_entry("models/model.pt", "weights")
    PurePosixPath('models/model.pt')
    """
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"`{key}` must name a file inside the model folder; got {entry!r}")
    path = PurePosixPath(entry.replace("\\", "/"))
    if path.is_absolute() or PureWindowsPath(entry).drive or ".." in path.parts:
        raise ValueError(
            f"`{key}` is {entry!r}, which leaves the model folder; a model may only name "
            "files inside its own folder (no absolute paths, no '..')"
        )
    return path


def resolve_inside(folder: Path, entry: Any, key: str) -> Path:
    """Return the real path of ``entry`` in ``folder``, refusing one that ends up outside it.

    Checked before any file is opened: the entry's text (:func:`relative_entry`), then its
    resolved path, so a link inside the folder that points out is refused too. Every loader
    of :mod:`.formats` passes each path a model's config names through this.

    Parameters
    ----------
    folder : Path
        The model's folder.
    entry : str
        The path as the config writes it.
    key : str
        The config entry, for the message (``"weights"``).

    Returns
    -------
    Path
        The resolved path (it may not exist yet).

    Raises
    ------
    ValueError
        If the entry is absolute, uses ``..``, or resolves outside ``folder``.

    Examples
    --------
    >>> resolve_inside(Path("."), "/etc/passwd", "weights")
    Traceback (most recent call last):
    ...
    ValueError: `weights` is '/etc/passwd', which leaves the model folder; a model may only name files inside its own folder (no absolute paths, no '..')
    """
    root = Path(folder).resolve()
    target = (root / relative_entry(entry, key)).resolve()
    if not target.is_relative_to(root):
        raise ValueError(
            f"`{key}` {entry!r} resolves to {target}, outside the model folder {root} (a link "
            "pointing out of it); a model may only name files inside its own folder"
        )
    return target


def check_predict_options(
    *, overlap: Any, tta: Any, batch_size: Any, padding: Any = None
) -> tuple[float, bool, int, str | None]:
    """Check the inference options before any work; return them converted.

    ``overlap`` in [0, 0.9], ``tta`` a bool, ``batch_size`` an integer 1..1024, ``padding``
    None (the config's) or one of :data:`~._preprocess.PADDING_MODES`.
    """
    return (
        check_number(overlap, "overlap", low=0.0, high=0.9),
        check_flag(tta, "tta"),
        check_integer(batch_size, "batch_size", minimum=1, maximum=1024),
        None if padding is None else check_choice(padding, "padding", pre.PADDING_MODES),
    )


def save_package(folder: str | Path, module: torch.nn.Module, config: ModelConfig) -> Path:
    """Write ``config.json`` and the state dict of ``module`` (a UNet) into ``folder``.

    Parameters
    ----------
    folder : str or Path
        Package folder, created when missing.
    module : torch.nn.Module
        The network; its state dict goes to ``config.weights``.
    config : ModelConfig
        Written as ``config.json``.

    Returns
    -------
    Path
        ``folder``, loadable with :func:`load_model`.

    Raises
    ------
    ImportError
        Without PyTorch (the ``[unet]`` extra).
    """
    torch = require_torch()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    weights = resolve_inside(folder, config.weights, "weights")
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, weights)
    (folder / CONFIG_NAME).write_text(
        json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8"
    )
    return folder


def _locate(name_or_path) -> Path:
    """Return a model's path: a shipped folder, the existing path given, or a registry model's."""
    text = str(name_or_path)
    if text in list_models():
        return _models_dir() / text
    path = Path(text).expanduser()
    if path.exists():
        return path
    from .registry import registered_model_path  # registry imports this module

    registered = registered_model_path(text)
    if registered is not None:
        return registered
    raise FileNotFoundError(
        f"model {text!r} not found; expected {EXPECTED} (shipped: {list_models()})"
    )


def _read_config(path: Path) -> ModelConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"model config {path} is not valid JSON ({exc}); "
            f"expected a JSON object with keys {list(REQUIRED_KEYS)}"
        ) from None
    return ModelConfig.from_dict(data, source=str(path))


def _existing(model: Path) -> Path:
    """Return ``model``, or say that the model file the config names is missing."""
    if not model.is_file():
        raise FileNotFoundError(f"model file {model} named in the config does not exist")
    return model


def _load_state_dict(weights: Path, config: ModelConfig) -> torch.nn.Module:
    """Rebuild the config's U-Net and load a state dict into it (``weights_only``: data only)."""
    torch = require_torch()
    from .model import UNet, UNetSpec

    if not zipfile.is_zipfile(_existing(weights)):
        raise ValueError(
            f"model weights {weights} are corrupt or not a PyTorch file; "
            "expected a state dict saved with torch.save"
        )
    if config.architecture is None:
        raise ValueError(
            f"model config for {weights} needs an `architecture` entry to rebuild the U-Net "
            "from a state dict"
        )
    try:
        spec = UNetSpec(**config.architecture)
    except TypeError as exc:
        raise ValueError(
            f"model config `architecture` is invalid ({exc}); "
            f"expected keys {list(UNetSpec.__dataclass_fields__)}"
        ) from None
    if (spec.spatial_dims, spec.in_channels, spec.out_channels) != (
        config.spatial_dims,
        config.in_channels,
        len(config.class_names),
    ):
        raise ValueError(
            f"model config `architecture` ({spec.spatial_dims}-D, {spec.in_channels} channels in, "
            f"{spec.out_channels} out) "
            f"disagrees with spatial_dims={config.spatial_dims}, "
            f"in_channels={config.in_channels} and {len(config.class_names)} class_names"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"model weights {weights} hold Python objects other than tensors; a package's "
            "weights must be a plain state dict (torch.save(module.state_dict())), and "
            "anything else is refused: loading it could run code"
        ) from None
    except Exception as exc:  # noqa: BLE001 - torch raises several types for damaged archives
        raise ValueError(
            f"model weights {weights} are corrupt ({type(exc).__name__}: {exc})"
        ) from None
    module = UNet(spec)
    try:
        module.load_state_dict(state)
    except (RuntimeError, AttributeError, TypeError) as exc:
        first = str(exc).splitlines()[1:3] if "\n" in str(exc) else [str(exc)]
        raise ValueError(
            f"model weights {weights} do not match the architecture in the config: "
            f"{' '.join(s.strip() for s in first)}"
        ) from None
    return module


def load_model(name_or_path: str | Path, *, trusted: bool = False) -> Predictor:
    """Load a model by shipped name or path, in any format of :mod:`.formats`; return its predictor.

    Parameters
    ----------
    name_or_path : str or Path
        A name from :func:`list_models`, a package folder holding ``config.json``, a config
        ``.json``, a model file (TorchScript ``.pt``/``.ts``, ``torch.export`` ``.pt2``, ONNX
        ``.onnx``) with a ``.json`` of the same name beside it, or a folder of another format
        (:data:`~.formats.MODEL_FORMATS`).
    trusted : bool
        Whether you trust the source of the file. Formats whose loading runs code
        (TorchScript, ``torch.export``, MONAI bundles, nnU-Net checkpoints) are refused without
        it, before anything is read from them; packages and ONNX files are data only.

    Returns
    -------
    Predictor
        The loaded network with its config (classes, spacing, input channels).

    Raises
    ------
    ImportError
        Without PyTorch (the ``[unet]`` extra) or the format's own extra.
    FileNotFoundError
        Unknown name, or a path without its config or weights.
    ValueError
        A code-running format without ``trusted=True``; a path in the config that leaves the
        model's folder; corrupt JSON or weights, missing config keys, weights that do not fit
        the architecture.

    Examples
    --------
    >>> predictor = load_model("mni152-brain-tissue")
    >>> predictor.config.class_names
    ('background', 'grey matter', 'white matter')
    """
    require_torch()
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise TypeError(
            f"`name_or_path` must be a model name or a path; got {name_or_path!r}; expected "
            f"{EXPECTED}"
        )
    trusted = check_flag(trusted, "trusted")
    from .formats import load_path

    return load_path(_locate(name_or_path), trusted=trusted)


def _spatial_dims(args: tuple, kwargs: dict) -> int:
    """Spatial axes of the model a Predictor method is called on (for a scalar old spacing)."""
    return int(args[0].config.spatial_dims)


class Predictor:
    """A loaded model: normalises, reorients and resamples an image, runs sliding windows.

    Parameters
    ----------
    config : ModelConfig
        The package config (classes, spacing, normalisation, patch size).
    module : torch.nn.Module
        The network.
    source : str
        Where the package came from (for messages).

    Examples
    --------
    A tiny untrained 2-D network (any :class:`~.model.UNet` or TorchScript module works):

    >>> import numpy as np
    >>> from napari_segtools.core.geometry import Geometry
    >>> from napari_segtools.core.unet.model import UNet, UNetSpec
    >>> spec = UNetSpec(spatial_dims=2, out_channels=2, features=(2, 4))
    >>> config = ModelConfig.from_dict({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [16, 16],
    ...     "weights": "weights.pt", "architecture": spec.to_dict(),
    ... })
    >>> predictor = Predictor(config, UNet(spec))
    >>> image = np.random.default_rng(0).random((20, 24), dtype=np.float32)
    >>> probs = predictor.predict_proba(image, geometry=Geometry((0.5, 0.5)), device="cpu")
    >>> probs.shape, bool(np.allclose(probs.sum(axis=0), 1.0, atol=1e-5))
    ((2, 20, 24), True)
    """

    def __init__(self, config: ModelConfig, module: torch.nn.Module, *, source: str = "") -> None:
        self.config = config
        self.module = module
        self.source = source

    def _check_input(
        self, image: Any, geometry: Geometry
    ) -> tuple[np.ndarray, Geometry, tuple[int, ...], tuple[bool, ...]]:
        cfg = self.config
        arr = check_image(image, ndims=(cfg.spatial_dims, cfg.spatial_dims + 1))
        if arr.ndim == cfg.spatial_dims:
            arr = arr[None]
        if arr.shape[0] != cfg.in_channels:
            names = f" ({', '.join(cfg.channel_names)})" if cfg.channel_names else ""
            raise ValueError(
                f"model {cfg.name or self.source!r} expects {cfg.spatial_dims}-D images with "
                f"{cfg.in_channels} channel(s){names} first; got {arr.shape[0]} channel(s): "
                f"an array of shape {np.shape(image)}"
            )
        geometry = check_geometry(geometry, cfg.spatial_dims)
        perm, flips = pre.canonical_axes(geometry.direction, cfg.spatial_dims)
        return arr, geometry, perm, flips

    def _mask_and_check(
        self, arr: np.ndarray, mask, *, geometry: Geometry, perm, domain_check: bool
    ) -> MaskRegion | None:
        """Check ``arr`` against the training domain; return the region of ``mask`` (or None)."""
        cfg = self.config
        region = None
        if mask is not None:
            region = mask_region(
                mask,
                arr.shape[1:],
                geometry=geometry,
                patch_size=cfg.patch_size,
                model_spacing=cfg.spacing,
                perm=perm,
            )
        if check_flag(domain_check, "domain_check"):
            warn_domain(
                arr, geometry=geometry, config=cfg, mask=None if region is None else region.mask
            )
        return region

    @loose_geometry_keywords(geometry=("", _spatial_dims))
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
        """Predict class probabilities window by window, yielding Progress events.

        Parameters
        ----------
        image : ([C,] [Z,] Y, X) ndarray
            Intensities; the channel axis (first) may be omitted for 1-channel models.
        geometry : Geometry
            Spacing (mm) and direction of the image; see :meth:`predict_proba`.
        overlap, tta, device, batch_size, padding, mask, domain_check
            As in :meth:`predict_proba`.

        Yields
        ------
        Progress
            One event per window, then one for the resampling back.

        Returns
        -------
        (K, [Z,] Y, X) float32 ndarray
            Class (softmax) or structure (sigmoid) probabilities on the image grid.
        """
        cfg = self.config
        overlap, tta, batch_size, pad = check_predict_options(
            overlap=overlap, tta=tta, batch_size=batch_size, padding=padding
        )
        from .inference import resolve_device

        device = resolve_device(device)
        arr, geometry, perm, flips = self._check_input(image, geometry)
        region = self._mask_and_check(
            arr, mask, geometry=geometry, perm=perm, domain_check=domain_check
        )
        if region is not None:
            if region.empty:
                yield Progress(1, 1, "the mask is empty: background everywhere")
                return region.paste(None, output=cfg.output, classes=len(cfg.class_names))
            arr = region.crop(arr, leading=1)
        stripped = cfg.normalization.get("masked", "inside") == "stripped"
        if region is not None and stripped:  # as the training images: empty outside the mask
            lowest = arr.min(axis=tuple(range(1, arr.ndim)), keepdims=True)
            arr = np.where(region.inside[None], arr, lowest)
        where = (
            None if region is None or stripped else pre.to_canonical(region.inside, perm, flips)
        )
        arr = pre.to_canonical(arr, perm, flips, leading=1)
        spacing = tuple(geometry.spacing[p] for p in perm)
        canon_shape = arr.shape[1:]
        arr = np.stack([pre.normalize(c, cfg.normalization, where=where) for c in arr])
        arr = pre.resample(
            arr, pre.resampled_shape(canon_shape, spacing, cfg.spacing), order=1, leading=1
        )
        from .inference import iter_sliding_window

        probs = yield from iter_sliding_window(
            self.module,
            arr,
            patch_size=cfg.patch_size,
            overlap=overlap,
            tta=tta,
            device=device,
            batch_size=batch_size,
            padding_mode=cast("PaddingMode", pad or cfg.padding),
            output=cast("Output", cfg.output),
        )
        if probs.shape[0] != len(cfg.class_names):
            raise ValueError(
                f"model produced {probs.shape[0]} channels but its config names "
                f"{len(cfg.class_names)} classes"
            )
        yield Progress(1, 1, "resampling to the image grid")
        probs = pre.resample(probs, canon_shape, order=1, leading=1)
        probs = np.ascontiguousarray(pre.from_canonical(probs, perm, flips, leading=1))
        return probs if region is None else region.paste(probs, output=cfg.output)

    @loose_geometry_keywords(geometry=("", _spatial_dims))
    def predict_proba(
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
    ) -> np.ndarray:
        """Predict class probabilities on the image grid.

        Parameters
        ----------
        image : ([C,] [Z,] Y, X) ndarray
            Intensities; the channel axis (first) may be omitted for 1-channel models.
        geometry : Geometry
            The image's voxel spacing in mm (numpy axis order, ``layer.scale``) and direction
            cosines. The image is brought to the canonical orientation the model was trained in
            and resampled to the model's spacing; the result goes back to this grid (linear).
            The deprecated ``spacing=``/``direction=`` keywords still work for one release.
        overlap : float
            Window overlap fraction, 0-0.9.
        tta : bool
            Mirroring test-time augmentation.
        device : str or torch.device, optional
            ``None``/``"auto"``: CUDA, else MPS, else CPU.
        batch_size : int
            Windows per forward pass.
        padding : {"edge", "minimum", "reflect", "constant"}, optional
            How an image smaller than the window is padded after normalisation (see
            :data:`~._preprocess.PADDING_MODES`); ``None``: the config's ``padding``.
        mask : ([Z,] Y, X) bool ndarray, optional
            Predict only here (on the image grid; non-zero counts as inside): the network runs
            on the mask's bounding box grown by half a window, so the mask's edge sees real
            image; normalisation statistics come from inside the mask; outside it the result
            is background (see :mod:`.masking`).
        domain_check : bool
            Warn a :class:`~.domain.DomainWarning` for each way the input differs from the
            training data (intensity histogram, field of view, spacing; see :mod:`.domain`).

        Returns
        -------
        (K, [Z,] Y, X) float32 ndarray
            Probability of each of the K names in ``config.class_names``: classes summing to 1
            (softmax head) or independent structures (sigmoid head).

        Raises
        ------
        TypeError
            If ``geometry`` is not a :class:`~napari_segtools.core.geometry.Geometry`.
        ValueError
            Wrong dimensionality or channel count (a model with C > 1 input channels takes
            (C, [Z,] Y, X), each channel normalised on its own), bad spacing or options, a
            mask not on the image grid.

        Warns
        -----
        DomainWarning
            One per failed domain check (unless ``domain_check=False``).
        """
        return run_to_completion(
            self.iter_predict_proba(
                image,
                geometry=geometry,
                overlap=overlap,
                tta=tta,
                device=device,
                batch_size=batch_size,
                padding=padding,
                mask=mask,
                domain_check=domain_check,
            )
        )

    @loose_geometry_keywords(geometry=("", _spatial_dims))
    def predict(
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
    ) -> np.ndarray:
        """Predict a label image, or one mask per structure; arguments as :meth:`predict_proba`.

        Returns
        -------
        ([Z,] Y, X) uint8 ndarray or (K, [Z,] Y, X) bool ndarray
            Softmax head: the class index (argmax) per voxel. Sigmoid head: one mask per
            structure, probability > 0.5 (masks may overlap). On the image grid.
        """
        probs = self.predict_proba(
            image,
            geometry=geometry,
            overlap=overlap,
            tta=tta,
            device=device,
            batch_size=batch_size,
            padding=padding,
            mask=mask,
            domain_check=domain_check,
        )
        if self.config.output == "sigmoid":
            return probs > 0.5
        return probs.argmax(axis=0).astype(np.uint8)
