"""Model formats behind :func:`~..package.load_model`: which files make a model, and who may run it.

Each format registers how to recognise it from the files present and how to load it into a
:class:`~..package.Predictor` (:func:`register_format`). :func:`detect_format` asks the formats in
their registration order; :func:`load_path` refuses a format whose loading runs code unless the
caller trusts the source, before anything is read from the model's files.

Data only: a package (``config.json`` + a state dict read with ``weights_only=True``) and ONNX
(a graph of standard operators that onnxruntime interprets). Code-running: TorchScript and
``torch.export`` programs (compiled programs), MONAI bundles (their config instantiates Python
classes) and nnU-Net checkpoints (pickles).

The formats with a JSON config of their own (package, TorchScript, ``torch.export``, ONNX) share
the "sidecar" layout: a folder with ``config.json``, a config ``.json``, or a model file with a
``.json`` of the same stem beside it; the config's ``weights`` names the model file.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

from ..package import (
    CONFIG_NAME,
    EXPECTED,
    ModelConfig,
    Predictor,
    _load_state_dict,
    _read_config,
    resolve_inside,
)

#: format name -> what it is, the extra it needs, and whether loading it only reads data
MODEL_FORMATS: dict[str, str] = {
    "package": "a folder with config.json and the state-dict weights it names (torch.save, "
    "read with weights_only=True): data only",
    "torchscript": "a TorchScript .pt/.ts file (torch.jit.save) with a .json config of the same "
    "name beside it: runs code: needs trusted=True",
    "torch-export": "a torch.export program .pt2 (torch.export.save) with a .json config of the "
    "same name beside it: runs code: needs trusted=True",
    "onnx": "an ONNX .onnx file with a .json config of the same name beside it or in its "
    "metadata, extra [onnx] (onnxruntime): data only",
    "monai-bundle": "a MONAI bundle folder (configs/ and models/model.pt), extra [monai]: runs "
    "code (its config instantiates Python classes): needs trusted=True",
    "nnunet": "an nnU-Net v2 trained-model folder (dataset.json, plans.json, fold_N/), extra "
    "[nnunet]: runs code (a pickled checkpoint): needs trusted=True",
}
#: how a refusal names each code-running format, and why loading it runs code
_RUNS_CODE = {
    "torchscript": ("a TorchScript program", "its archive holds compiled code"),
    "torch-export": ("a torch.export program", "it is a compiled program"),
    "monai-bundle": ("a MONAI bundle", "its config instantiates Python classes"),
    "nnunet": ("an nnU-Net model folder", "its checkpoint is a Python pickle"),
}
#: file names of model files a sidecar config may sit beside
MODEL_SUFFIXES = (".pt", ".pth", ".ts", ".pt2", ".onnx")


@dataclass(frozen=True)
class _Format:
    name: str
    detect: Callable[[Path], bool]
    load: Callable[[Path], Predictor]
    data_only: bool
    extra: str | None
    read_config: Callable[[Path], ModelConfig] | None


_REGISTRY: dict[str, _Format] = {}


def register_format(
    name: str,
    *,
    detect: Callable[[Path], bool],
    load: Callable[..., Predictor],
    data_only: bool,
    extra: str | None,
    read_config: Callable[[Path], ModelConfig] | None = None,
) -> None:
    """Make :func:`~..package.load_model` read one more model format.

    Parameters
    ----------
    name : str
        The format's name (a key of :data:`MODEL_FORMATS`; a new name gets a generated line).
    detect : callable
        ``detect(path) -> bool``: whether ``path`` (a file or folder that exists) holds a model
        of this format, from file names and headers only (nothing deserialised).
    load : callable
        ``load(path) -> Predictor``, called only after the trust check; each path the model's
        files name must go through :func:`~..package.resolve_inside` before it is opened.
    data_only : bool
        ``False`` when loading may run code: then :func:`load_path` refuses the format unless
        the caller passes ``trusted=True``.
    extra : str or None
        The pip extra the format needs (``"onnx"``), for messages and listings.
    read_config : callable, optional
        ``read_config(path) -> ModelConfig`` without loading the network (the dock's info);
        ``None`` when only loading tells the classes and channels.

    Raises
    ------
    ValueError
        If ``data_only`` contradicts the format's line in :data:`MODEL_FORMATS`.

    Examples
    --------
    >>> register_format("package", detect=bool, load=print, data_only=False, extra=None)
    Traceback (most recent call last):
    ...
    ValueError: format 'package': data_only=False contradicts MODEL_FORMATS, which says data only
    """
    line = MODEL_FORMATS.get(name)
    if line is not None and ("data only" in line) != bool(data_only):
        says = "data only" if "data only" in line else "it runs code"
        raise ValueError(
            f"format {name!r}: data_only={data_only} contradicts MODEL_FORMATS, which says {says}"
        )
    if line is None:
        needs = f", extra [{extra}]" if extra else ""
        safety = "data only" if data_only else "runs code: needs trusted=True"
        MODEL_FORMATS[name] = f"a {name} model{needs}: {safety}"
    _REGISTRY[name] = _Format(name, detect, load, bool(data_only), extra, read_config)


def detect_format(path: str | Path) -> str:
    """Name the format of the model at ``path`` from the files present (nothing is run).

    Parameters
    ----------
    path : str or Path
        A model folder or file.

    Returns
    -------
    str
        A key of :data:`MODEL_FORMATS`.

    Raises
    ------
    FileNotFoundError
        If nothing exists at ``path``.
    ValueError
        If no format recognises it (the message lists what each format needs), or its config
        names a path outside the model's folder.

    Examples
    --------
    >>> from napari_segtools.core.unet.package import _models_dir
    >>> detect_format(_models_dir() / "mni152-brain-tissue")
    'package'
    """
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise TypeError(f"`path` must be a model folder or file; got {path!r}")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model {path} not found; expected {EXPECTED}")
    for fmt in _REGISTRY.values():
        if fmt.detect(path):
            return fmt.name
    formats = "; ".join(f"{name}: {line}" for name, line in MODEL_FORMATS.items())
    raise ValueError(f"{path} is not a model this plugin reads; expected one of: {formats}")


def runs_code(name: str) -> bool:
    """Whether loading a model of format ``name`` runs code (the dock's "Trust" box)."""
    return not _REGISTRY[name].data_only


def load_path(path: Path, *, trusted: bool) -> Predictor:
    """Detect the format of ``path``, refuse untrusted code-running formats, load the rest."""
    name = detect_format(path)
    fmt = _REGISTRY[name]
    if not (fmt.data_only or trusted):
        noun, why = _RUNS_CODE.get(name, (f"a {name} model", "its format runs code"))
        raise ValueError(
            f"{path} is {noun}, which runs code when loaded ({why}); load it only from a "
            "source you trust, with trusted=True or the 'Trust this model' box"
        )
    return fmt.load(path)


def read_model_config(path: Path) -> ModelConfig:
    """Return the config of the model at ``path`` without loading its network (nothing runs)."""
    name = detect_format(path)
    reader = _REGISTRY[name].read_config
    if reader is None:
        raise ValueError(f"{path} is a {name} model: its classes and channels show once loaded")
    return reader(path)


def require_module(module: str, *, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise one ``ImportError`` naming the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{what} needs {module}: pip install 'napari-segtools[{extra}]'", name=module
        ) from None


# --- the sidecar layout: a JSON config beside (or around) one model file ----------------------


def sidecar_paths(path: Path) -> tuple[Path, Path] | None:
    """Return (config .json, model file) of a sidecar-layout model, or None for other paths.

    The config may be missing (a model file alone); a config that exists is read, and its
    ``weights`` entry must stay inside its folder even when the model file is given directly.
    """
    if path.is_dir():
        config = path / CONFIG_NAME
        return (config, _named_model(config)) if config.is_file() else None
    if path.suffix == ".json":
        return path, _named_model(path)
    if path.suffix in MODEL_SUFFIXES:
        config = path.with_suffix(".json")
        if config.is_file():
            _named_model(config)
        return config, path
    return None


def _named_model(config: Path) -> Path:
    return resolve_inside(config.parent, _read_config(config).weights, "weights")


def _file_kind(model: Path) -> str:
    """Name the format of a model file from its suffix or the member names of its archive."""
    if model.suffix in (".onnx", ".pt2"):
        return "onnx" if model.suffix == ".onnx" else "torch-export"
    try:
        with zipfile.ZipFile(model) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return "package"  # missing or damaged: the package loader says which
    if any("/code/" in n for n in names):
        return "torchscript"
    if any(n.rsplit("/", 1)[-1] == "archive_format" for n in names):
        return "torch-export"
    return "package"


def is_sidecar_kind(kind: str, path: Path) -> bool:
    """Whether ``path`` is a sidecar-layout model whose model file is of format ``kind``."""
    paths = sidecar_paths(path)
    return paths is not None and _file_kind(paths[1]) == kind


def sidecar_config(path: Path) -> tuple[ModelConfig, Path, Path]:
    """Return (config, config path, model file) of a sidecar-layout model."""
    paths = sidecar_paths(path)
    if paths is None:
        raise ValueError(f"{path} is no model folder or model file; expected {EXPECTED}")
    config, model = paths
    if not config.is_file():
        raise FileNotFoundError(
            f"model file {model} has no config {config.name} beside it; expected {EXPECTED}"
        )
    return _read_config(config), config, model


def sidecar_model_config(path: Path) -> ModelConfig:
    """Return the config of a sidecar-layout model (its JSON only)."""
    return sidecar_config(path)[0]


def _load_package(path: Path) -> Predictor:
    config, source, weights = sidecar_config(path)
    return Predictor(config, _load_state_dict(weights, config), source=str(source))


register_format(
    "package",
    detect=partial(is_sidecar_kind, "package"),
    load=_load_package,
    data_only=True,
    extra=None,
    read_config=sidecar_model_config,
)

# each module registers its formats on import, after "package"; their detectors look for
# different files, so their order does not matter
from . import monai_bundle, nnunet, onnx_format, torch_formats  # noqa: E402, F401
