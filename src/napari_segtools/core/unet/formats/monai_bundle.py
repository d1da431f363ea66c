"""MONAI bundles: a folder with ``configs/`` and ``models/model.pt``, read through MONAI itself.

A bundle (https://docs.monai.io/en/stable/mb_specification.html) holds
``configs/metadata.json`` (what goes in and comes out: channels, class names),
``configs/inference.json`` or ``.yaml`` (the network, the pre- and post-processing and the
inferer, as Python classes named by ``_target_``) and ``models/model.pt`` (the state dict).
MONAI's ``ConfigParser`` builds ``network_def``, so loading a bundle runs code its config names:
:func:`~.load_path` calls :func:`load_monai_bundle` only with ``trusted=True``. The weights are
read with ``weights_only=True``.

The bundle's own processing becomes the predictor's config where this plugin can do the same:

- ``Orientationd`` axcodes: the windows are turned into the network's axis order and
  directions (without ``Orientationd``: RAS, the NIfTI convention of MONAI's readers, for 3-D;
  the image as it is for 2-D);
- ``Spacingd`` pixdim: the model's spacing (without it the image is used on its own grid);
- intensities: ``NormalizeIntensityd`` -> z-score, ``ScaleIntensityRanged`` -> a window
  (``ct_window``), ``ScaleIntensityd`` -> min-max (percentiles 0 and 100),
  ``ScaleIntensityRangePercentilesd`` -> percentiles; an output range other than [0, 1]
  (``b_min``/``b_max``, ``minv``/``maxv``) is applied to each window before the network, so it
  is exact. A variant this plugin can only approximate (no clipping, ``nonzero`` voxels, joint
  statistics over several channels) loads with a warning that says so; one it cannot express
  is refused;
- the inferer's ``roi_size``: the window (the plugin's own Gaussian-blended sliding window
  runs it; the bundle's overlap is kept in ``config.training``);
- ``Activationsd`` sigmoid or softmax: the head; metadata ``channel_def``: the class names;
  metadata ``num_channels``: the input channels.

Transforms the plugin does itself or that only shape data (loading, channel-first, types,
inverting, saving, argmax) pass silently; any other is listed in the warning as not applied.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._torch import require_torch
from ..package import ModelConfig, Predictor, resolve_inside
from . import register_format, require_module
from ._classes import class_colors, class_names

if TYPE_CHECKING:
    import torch

    from ...geometry import Geometry

#: where a bundle keeps its files
METADATA = "configs/metadata.json"
INFERENCE = ("configs/inference.json", "configs/inference.yaml", "configs/inference.yml")
WEIGHTS = "models/model.pt"
NEEDS = f"a MONAI bundle needs {METADATA}, {INFERENCE[0]} (or .yaml) and {WEIGHTS}"
#: transforms that only load, type or move data, or that the predictor does itself
_PASSIVE = {
    "LoadImage",
    "EnsureChannelFirst",
    "EnsureType",
    "CastToType",
    "ToTensor",
    "ToNumpy",
    "ToDevice",
    "Identity",
    "DeleteItems",
    "SelectItems",
    "CopyItems",
    "SpatialPad",
    "DivisiblePad",
    "AsChannelFirst",
    "AddChannel",
    "Invert",
    "SaveImage",
    "AsDiscrete",
    "SqueezeDim",
    "FromMetaTensor",
    "ToMetaTensor",
}
#: the intensity normalisations the plugin can express (one per bundle)
_NORMALIZING = (
    "NormalizeIntensity",
    "ScaleIntensityRange",
    "ScaleIntensity",
    "ScaleIntensityRangePercentiles",
)
#: the letter each canonical numpy axis runs towards (LPS, numpy order), and the opposite
_CANONICAL = {3: "SPL", 2: "PL"}
_OPPOSITE = {"L": "R", "R": "L", "P": "A", "A": "P", "S": "I", "I": "S"}
#: the window when the bundle's inferer names none (a multiple of 16 and 32)
DEFAULT_WINDOW = 96


def is_monai_bundle(path: Path) -> bool:
    """Say whether ``path`` is a MONAI bundle folder; nothing is read.

    A bundle folder has ``configs/metadata.json`` or an inference config.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> is_monai_bundle(folder)
    False
    >>> (folder / "configs").mkdir()
    >>> (folder / "configs" / "metadata.json").write_text("{}")
    2
    >>> is_monai_bundle(folder)
    True
    """
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in (METADATA, *INFERENCE))


def bundle_files(folder: Path) -> tuple[Path, Path, Path]:
    """Return (metadata, inference config, weights) of a bundle, each checked to stay inside it.

    Raises
    ------
    FileNotFoundError
        Naming every missing file and what a bundle needs.
    ValueError
        If a file is a link that leaves the bundle folder.
    """
    folder = Path(folder)
    meta = resolve_inside(folder, METADATA, "metadata")
    configs = [resolve_inside(folder, name, "inference config") for name in INFERENCE]
    weights = resolve_inside(folder, WEIGHTS, "weights")
    inference = next((c for c in configs if c.is_file()), configs[0])
    missing = [
        str(p.relative_to(folder.resolve())) for p in (meta, inference, weights) if not p.is_file()
    ]
    if missing:
        raise FileNotFoundError(f"MONAI bundle {folder} lacks {', '.join(missing)}; {NEEDS}")
    return meta, inference, weights


def load_monai_bundle(path: Path) -> Predictor:
    """Build a bundle's network from its config, load its weights, and read its processing.

    Runs the code the bundle's config names (``network_def``, the transforms and the inferer):
    :func:`~napari_segtools.core.unet.package.load_model` calls this only with ``trusted=True``.

    Parameters
    ----------
    path : Path
        The bundle folder.

    Returns
    -------
    Predictor
        Its config names the bundle's classes, spacing, window, normalisation and channels;
        ``config.training["monai_bundle"]`` keeps the bundle's name, version, inferer settings
        and the notes on anything approximated or not applied.

    Raises
    ------
    ImportError
        Without MONAI (the ``[monai]`` extra).
    FileNotFoundError
        If a bundle file is missing (the message names it).
    ValueError
        If the config cannot be built, the weights do not fit the network, or the processing
        cannot be expressed (a fixed subtrahend, a scaling factor, pixdim <= 0).

    Examples
    --------
    >>> load_monai_bundle(Path("no-such-bundle"))
    Traceback (most recent call last):
    ...
    FileNotFoundError: MONAI bundle no-such-bundle lacks configs/metadata.json, configs/inference.json, models/model.pt; a MONAI bundle needs configs/metadata.json, configs/inference.json (or .yaml) and models/model.pt
    """
    folder = Path(path)
    meta_file, config_file, weights = bundle_files(folder)
    torch = require_torch()
    require_module("monai", extra="monai", what="loading a MONAI bundle")
    from monai.bundle import ConfigParser

    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"MONAI bundle metadata {meta_file} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"MONAI bundle metadata {meta_file} must be a JSON object")
    parser = ConfigParser()
    try:
        parser.read_config(str(config_file))
    except Exception as exc:  # noqa: BLE001 - JSON and YAML parsers raise several types
        raise ValueError(f"MONAI bundle config {config_file} cannot be read ({exc})") from None
    parser.read_meta(str(meta_file))
    parser["bundle_root"] = str(folder.resolve())

    def build(key: str) -> Any:
        if key not in parser:
            return None
        try:
            with warnings.catch_warnings():  # MONAI's notices about its own optional readers
                warnings.filterwarnings("ignore", module=r"monai\.")
                return parser.get_parsed_content(key)
        except Exception as exc:  # noqa: BLE001 - the config may run any code
            raise ValueError(
                f"MONAI bundle {folder}: `{key}` in {config_file.name} cannot be built "
                f"({type(exc).__name__}: {exc})"
            ) from None

    network = build("network_def") if "network_def" in parser else build("network")
    if not isinstance(network, torch.nn.Module):
        raise ValueError(
            f"MONAI bundle {folder}: `network_def` in {config_file.name} built "
            f"{type(network).__name__}, not a torch network"
        )
    _load_weights(network, weights, torch)
    reading = _Reading(meta, network)
    reading.read_preprocessing(build("preprocessing"))
    reading.read_inferer(build("inferer"))
    reading.read_postprocessing(build("postprocessing"))
    config = reading.config(folder)
    if reading.notes:
        warnings.warn(
            f"MONAI bundle {folder}: {'; '.join(reading.notes)}", UserWarning, stacklevel=3
        )
    module = bundle_network(
        network, axes=reading.axes, flips=reading.flips, scale=reading.scale, offset=reading.offset
    )
    predictor_class = Predictor if reading.pixdim is not None else NativeGridPredictor
    return predictor_class(config, module, source=str(folder))


def _load_weights(network: torch.nn.Module, weights: Path, torch: Any) -> None:
    """Load ``models/model.pt`` (a state dict, or a checkpoint holding one) into ``network``."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for damaged archives
        raise ValueError(
            f"MONAI bundle weights {weights} are corrupt or not a state dict "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(state, dict) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        state = next(
            (
                state[k]
                for k in ("model", "state_dict", "network")
                if isinstance(state.get(k), dict)
            ),
            state,
        )
    if not isinstance(state, dict):
        raise ValueError(
            f"MONAI bundle weights {weights} hold {type(state).__name__}, no state dict"
        )
    if state and all(str(k).startswith("module.") for k in state):
        state = {str(k)[len("module.") :]: v for k, v in state.items()}  # saved from DataParallel
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
        raise ValueError(
            f"MONAI bundle weights {weights} do not fit `network_def`: {' '.join(lines[:3])}"
        ) from None
    network.eval()


def _flatten(transforms: Any) -> Iterator[Any]:
    """Yield the transforms of a (nested) Compose, or of a list of them."""
    if transforms is None:
        return
    inner = getattr(transforms, "transforms", None)
    if inner is not None:
        for t in inner:
            yield from _flatten(t)
    elif isinstance(transforms, (list, tuple)):
        for t in transforms:
            yield from _flatten(t)
    else:
        yield transforms


def _kind(transform: Any) -> tuple[str, Any]:
    """Return the array transform's class name (``...d`` wrappers unwrapped) and the transform."""
    for attr in ("spacing_transform", "ornt_transform", "normalizer", "scaler", "converter"):
        inner = getattr(transform, attr, None)
        if inner is not None and not isinstance(inner, (bool, str)):
            return type(inner).__name__, inner
    name = type(transform).__name__
    mapped = hasattr(transform, "keys") and name.endswith("d")
    return (name[:-1] if mapped else name), transform


def _setting(transform: Any, inner: Any, attr: str) -> Any:
    """Return a setting of a dictionary transform (one per key), else of its array transform."""
    value = getattr(transform, attr, None)
    return getattr(inner, attr, None) if value is None else value


def _first(value: Any) -> Any:
    """Return the first of a dictionary transform's per-key settings (the image's)."""
    return value[0] if isinstance(value, (tuple, list)) and value else value


class _Reading:
    """What a bundle's metadata, transforms and inferer say, in the plugin's terms."""

    def __init__(self, meta: dict, network: Any) -> None:
        data = meta.get("network_data_format") if isinstance(meta, dict) else None
        data = data if isinstance(data, dict) else {}
        self.meta = meta
        self.inputs: dict = next(iter((data.get("inputs") or {}).values()), {}) or {}
        self.outputs: dict = next(iter((data.get("outputs") or {}).values()), {}) or {}
        self.input_key = next(iter(data.get("inputs") or {"image": None}))
        self.network = network
        self.notes: list[str] = []
        self.axcodes: str | None = None
        self.pixdim: tuple[float, ...] | None = None
        self.normalization: dict | None = None
        self.scale, self.offset = 1.0, 0.0
        self.roi: tuple[int, ...] | None = None
        self.inferer: dict[str, Any] = {}
        self.output: str | None = None

    # --- preprocessing ---------------------------------------------------------------------

    def read_preprocessing(self, transforms: Any) -> None:
        for transform in _flatten(transforms):
            keys = getattr(transform, "keys", None)
            if isinstance(keys, tuple) and self.input_key not in keys:
                continue  # acts on labels or other inputs only
            name, t = _kind(transform)
            if name == "Orientation":
                self.axcodes = str(t.axcodes)
            elif name == "Spacing":
                self._spacing(np.asarray(t.pixdim, float))
            elif name in _NORMALIZING:
                if self.normalization is not None:
                    raise ValueError(
                        f"the bundle's preprocessing normalises intensities twice (then {name}); "
                        "this plugin applies one normalisation"
                    )
                getattr(self, f"_{name}")(t)
            elif name == "CropForeground":
                self.notes.append("CropForeground not applied: the whole image is predicted")
            elif name not in _PASSIVE:
                self.notes.append(f"{name} not applied")
        if self.normalization is None:
            raise ValueError(
                "the bundle's preprocessing has no intensity normalisation this plugin can "
                "apply (NormalizeIntensityd, ScaleIntensityRanged, ScaleIntensityd or "
                "ScaleIntensityRangePercentilesd)"
            )

    def _spacing(self, pixdim: np.ndarray) -> None:
        if pixdim.size == 0 or (pixdim <= 0).any():
            raise ValueError(
                f"Spacingd pixdim {pixdim.tolist()} keeps some of each image's own spacing "
                "(values <= 0); this plugin needs one spacing per axis"
            )
        self.pixdim = tuple(float(p) for p in pixdim)

    def _NormalizeIntensity(self, t: Any) -> None:  # noqa: N802 - named after MONAI's class
        if t.subtrahend is not None or t.divisor is not None:
            raise ValueError(
                "NormalizeIntensityd with a fixed subtrahend or divisor cannot be expressed "
                "(this plugin's z-score uses each image's own mean and deviation)"
            )
        self.normalization = {"method": "zscore"}
        if t.nonzero:
            self.notes.append(
                "NormalizeIntensityd(nonzero=True) approximated: mean and deviation are taken "
                "over all voxels (or inside the prediction mask), not the non-zero ones"
            )
        if not t.channel_wise:
            self._joint_note("NormalizeIntensityd")

    def _ScaleIntensityRange(self, t: Any) -> None:  # noqa: N802
        low, high = float(t.a_min), float(t.a_max)
        if high <= low:
            raise ValueError(f"ScaleIntensityRanged has a_max {high:g} <= a_min {low:g}")
        self.normalization = {
            "method": "ct_window",
            "center": (low + high) / 2,
            "width": high - low,
        }
        self._output_range(t.b_min, t.b_max, clip=bool(t.clip), name="ScaleIntensityRanged")

    def _ScaleIntensity(self, t: Any) -> None:  # noqa: N802
        if t.minv is None and t.maxv is None:
            raise ValueError(
                "ScaleIntensityd with a `factor` (v * (1 + factor)) cannot be expressed; "
                "this plugin normalises with a z-score, a window or percentiles"
            )
        self.normalization = {"method": "percentile", "lower": 0.0, "upper": 100.0}
        self._output_range(t.minv, t.maxv, clip=True, name="ScaleIntensityd")
        if not t.channel_wise:
            self._joint_note("ScaleIntensityd")

    def _ScaleIntensityRangePercentiles(self, t: Any) -> None:  # noqa: N802
        b_min, b_max = t.b_min, t.b_max
        if t.relative and b_min is not None and b_max is not None:
            b_min, b_max = (
                (b_max - b_min) * t.lower / 100.0 + b_min,
                (b_max - b_min) * t.upper / 100.0 + b_min,
            )
        self.normalization = {
            "method": "percentile",
            "lower": float(t.lower),
            "upper": float(t.upper),
        }
        self._output_range(b_min, b_max, clip=bool(t.clip), name="ScaleIntensityRangePercentilesd")
        if not t.channel_wise:
            self._joint_note("ScaleIntensityRangePercentilesd")

    def _output_range(self, low: Any, high: Any, *, clip: bool, name: str) -> None:
        """Map the plugin's [0, 1] onto the bundle's output range, in each window (exact)."""
        if low is not None and high is not None:
            self.scale, self.offset = float(high) - float(low), float(low)
        if not clip:
            self.notes.append(
                f"{name}(clip=False) approximated: intensities outside the range are clipped"
            )

    def _joint_note(self, name: str) -> None:
        if self.in_channels > 1:
            self.notes.append(
                f"{name} over all channels together approximated: each channel is normalised "
                "on its own"
            )

    # --- inferer and postprocessing --------------------------------------------------------

    def read_inferer(self, inferer: Any) -> None:
        name = type(inferer).__name__ if inferer is not None else "none"
        roi = getattr(inferer, "roi_size", None)
        if roi is not None:
            roi = tuple(int(r) for r in np.atleast_1d(roi))
            if any(r <= 0 for r in roi):
                raise ValueError(
                    f"the bundle's inferer roi_size {list(roi)} takes the whole image along some "
                    "axis; this plugin needs a window size per axis"
                )
            self.roi = roi
            self.inferer = {
                "inferer": name,
                "roi_size": list(roi),
                "overlap": float(_first(getattr(inferer, "overlap", 0.25))),
                "mode": str(getattr(inferer, "mode", "constant")),
            }
            return
        self.inferer = {"inferer": name}
        shape = self.inputs.get("spatial_shape")
        if isinstance(shape, list) and shape and all(isinstance(s, int) and s > 0 for s in shape):
            self.roi = tuple(shape)
        self.notes.append(
            f"the bundle's inferer ({name}) names no window: windows of "
            f"{list(self.roi) if self.roi else DEFAULT_WINDOW} voxels are used"
        )

    def read_postprocessing(self, transforms: Any) -> None:
        for transform in _flatten(transforms):
            name, t = _kind(transform)
            if name == "Activations":
                if any(np.atleast_1d(_setting(transform, t, "sigmoid"))):
                    self.output = "sigmoid"
                elif any(np.atleast_1d(_setting(transform, t, "softmax"))):
                    self.output = "softmax"
            elif name == "AsDiscrete" and self.output is None:
                if any(np.atleast_1d(_setting(transform, t, "argmax"))):
                    self.output = "softmax"
                elif any(
                    v is not None for v in np.atleast_1d(_setting(transform, t, "threshold"))
                ):
                    self.output = "sigmoid"
            elif name not in _PASSIVE:
                self.notes.append(f"postprocessing {name} not applied")
        if self.output is None:
            self.output = "softmax"
            self.notes.append("no Activationsd in the postprocessing: softmax assumed")

    # --- the result ------------------------------------------------------------------------

    @property
    def in_channels(self) -> int:
        n = self.inputs.get("num_channels", getattr(self.network, "in_channels", 1))
        return int(n) if isinstance(n, int) and n > 0 else 1

    @property
    def spatial_dims(self) -> int:
        for source in (self.roi, self.pixdim, self.inputs.get("spatial_shape")):
            if isinstance(source, (list, tuple)) and len(source) in (2, 3):
                return len(source)
        dims = getattr(self.network, "spatial_dims", getattr(self.network, "dimensions", 3))
        if dims not in (2, 3):
            raise ValueError(f"the bundle's network is {dims}-D; this plugin runs 2-D and 3-D")
        return int(dims)

    @property
    def axes(self) -> tuple[int, ...]:
        return network_axes(self.axcodes or _default_axcodes(self.spatial_dims))[0]

    @property
    def flips(self) -> tuple[bool, ...]:
        return network_axes(self.axcodes or _default_axcodes(self.spatial_dims))[1]

    def _canonical(self, values: tuple, what: str) -> list:
        """Reorder per-network-axis values into the canonical numpy axis order."""
        dims = self.spatial_dims
        if len(values) < dims:
            raise ValueError(f"the bundle's {what} {list(values)} has fewer than {dims} values")
        out = [None] * dims
        for j, axis in enumerate(self.axes):
            out[axis] = values[j]
        return out

    def config(self, folder: Path) -> ModelConfig:
        dims = self.spatial_dims
        if self.axcodes is None and dims == 3:
            self.notes.append("no Orientationd: the network is given the image in RAS order")
        count = self.outputs.get("num_channels", getattr(self.network, "out_channels", None))
        channel_def = self.outputs.get("channel_def") or {}
        if not isinstance(count, int) or count < 1:
            count = len(channel_def)
        if count < (2 if self.output != "sigmoid" else 1):
            raise ValueError(
                f"MONAI bundle {folder}: its metadata names {count} output channel(s); "
                "expected network_data_format.outputs.<key>.num_channels"
            )
        output = self.output or "softmax"
        names = class_names(
            [channel_def.get(str(k), channel_def.get(k)) for k in range(count)],
            count,
            output=output,
        )
        roi = self.roi or (DEFAULT_WINDOW,) * dims
        spacing = self._canonical(self.pixdim, "Spacingd pixdim") if self.pixdim else [1.0] * dims
        if self.pixdim is None:
            self.notes.append("no Spacingd: each image is used on its own grid")
        meta = self.meta
        bundle = {
            "name": meta.get("name", folder.name),
            "version": meta.get("version", ""),
            **self.inferer,
            "axcodes": self.axcodes or _default_axcodes(dims),
            "input_range": [self.offset, self.offset + self.scale],
            "notes": list(self.notes),
        }
        return ModelConfig.from_dict(
            {
                "name": str(meta.get("name") or folder.name),
                "description": str(meta.get("description", "")),
                "spatial_dims": dims,
                "in_channels": self.in_channels,
                "class_names": names,
                "class_colors": class_colors(count, output=output),
                "spacing": spacing,
                "normalization": self.normalization,
                "patch_size": self._canonical(roi, "roi_size"),
                "weights": WEIGHTS,
                "output": output,
                "training": {"source_format": "monai-bundle", "monai_bundle": bundle},
            },
            source=str(folder),
        )


def _default_axcodes(dims: int) -> str:
    """RAS (MONAI's NIfTI readers) for 3-D; for 2-D the image's own axes, reversed."""
    return "RAS" if dims == 3 else "LP"


def network_axes(axcodes: str) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """Map the network's axes (MONAI ``axcodes``) onto the predictor's canonical numpy axes.

    MONAI arrays run x, y[, z]; the predictor's canonical arrays run [z,] y, x towards
    [S,] P, L (see :func:`~.._preprocess.canonical_axes`).

    Returns
    -------
    axes : tuple of int
        Network axis ``j`` reads canonical axis ``axes[j]``.
    flips : tuple of bool
        ...flipped where True.

    Examples
    --------
    >>> network_axes("RAS")
    ((2, 1, 0), (True, True, False))
    >>> network_axes("LP")
    ((1, 0), (False, False))
    """
    codes = str(axcodes).upper()
    canonical = _CANONICAL.get(len(codes), "")
    axes, flips = [], []
    for code in codes:
        for axis, letter in enumerate(canonical):
            if code in (letter, _OPPOSITE[letter]):
                axes.append(axis)
                flips.append(code != letter)
    if sorted(axes) != list(range(len(codes))) or not canonical:
        raise ValueError(
            f"Orientationd axcodes {axcodes!r} must name each of 2 or 3 axes once "
            "(letters L/R, P/A, S/I)"
        )
    return tuple(axes), tuple(flips)


@functools.cache
def _bundle_network_class() -> type:
    """Return the wrapper class, defined on first use: importing this module needs no torch."""
    torch: Any = require_torch()

    class BundleNetwork(torch.nn.Module):
        """The bundle's network, fed windows in its own axis order, directions and range."""

        def __init__(self, network, *, axes, flips, scale, offset) -> None:
            super().__init__()
            self.network = network
            self.axes = tuple(axes)
            self.flipped = [2 + j for j, f in enumerate(flips) if f]
            self.inverse = tuple(int(j) for j in np.argsort(axes))
            self.scale, self.offset = float(scale), float(offset)

        def forward(self, x):
            x = x.permute(0, 1, *(2 + a for a in self.axes))
            if self.flipped:
                x = x.flip(self.flipped)
            if (self.scale, self.offset) != (1.0, 0.0):
                x = x * self.scale + self.offset
            out = self.network(x)
            if isinstance(out, (list, tuple)):  # deep supervision heads: the full-size one
                out = out[0]
            if self.flipped:
                out = out.flip(self.flipped)
            return out.permute(0, 1, *(2 + j for j in self.inverse))

    return BundleNetwork


def bundle_network(
    network: torch.nn.Module,
    *,
    axes: tuple[int, ...],
    flips: tuple[bool, ...],
    scale: float = 1.0,
    offset: float = 0.0,
) -> torch.nn.Module:
    """Wrap a bundle's network so the sliding window's canonical windows reach it as MONAI's.

    Each window (N, C, [Z,] Y, X) is permuted and flipped into the network's axes
    (:func:`network_axes`), mapped to the bundle's intensity range (``x * scale + offset``),
    run, and its logits turned back.

    Examples
    --------
    >>> import torch
    >>> net = bundle_network(torch.nn.Identity(), axes=(1, 0), flips=(True, False), scale=2.0)
    >>> net(torch.arange(6.0).reshape(1, 1, 2, 3))[0, 0].tolist()
    [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]
    """
    return _bundle_network_class()(network, axes=axes, flips=flips, scale=scale, offset=offset)


class NativeGridPredictor(Predictor):
    """A predictor for a bundle without ``Spacingd``: each image is used on its own grid.

    The image's geometry is given the model's nominal spacing, so nothing is resampled; the
    window (and a mask's margin) count voxels of the image.
    """

    def iter_predict_proba(self, image: np.ndarray, *, geometry: Geometry, **options: Any):
        """As :meth:`Predictor.iter_predict_proba`, without resampling."""
        from ..._validate import check_geometry

        geometry = check_geometry(geometry, self.config.spatial_dims)
        nominal = dataclasses.replace(geometry, spacing=self.config.spacing)
        return (yield from super().iter_predict_proba(image, geometry=nominal, **options))


register_format(
    "monai-bundle", detect=is_monai_bundle, load=load_monai_bundle, data_only=False, extra="monai"
)
