"""ONNX models (the ``[onnx]`` extra): data only, run by onnxruntime inside the torch predictor.

An ONNX file is a graph of standard operators that onnxruntime interprets; loading it runs no
Python. Its config is a JSON of the same stem beside it (``net.onnx`` + ``net.json``, or a
package folder whose ``config.json`` names it), or, for a file alone, the JSON text of its
metadata entry :data:`METADATA_KEY`. The network takes float32 ``(batch, channels, *window)``;
the batch axis may be dynamic or 1 (then windows go one at a time), a fixed window must equal
the config's ``patch_size``. Tensors stored in external data files must stay in the model's
folder. onnxruntime runs on the CPU, with as many threads as torch uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._torch import require_torch
from ..package import EXPECTED, ModelConfig, Predictor, _existing, resolve_inside
from . import (
    is_sidecar_kind,
    register_format,
    require_module,
    sidecar_model_config,
    sidecar_paths,
)

if TYPE_CHECKING:
    import torch

#: the metadata entry of an ONNX file that holds its config as JSON text
METADATA_KEY = "napari_segtools.config"


def _proto(model: Path) -> Any:
    """Parse the ONNX file (graph and metadata; external tensor data is not read)."""
    onnx = require_module("onnx", extra="onnx", what="an ONNX model")
    _existing(model)
    try:
        return onnx.load(str(model), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own types for a foreign file
        raise ValueError(
            f"ONNX model {model} could not be read ({type(exc).__name__}: {exc})"
        ) from None


def _paths(path: Path) -> tuple[Path, Path]:
    paths = sidecar_paths(path)
    if paths is None:
        raise ValueError(f"{path} is no ONNX model; expected {EXPECTED}")
    return paths


def _config(config_path: Path, model: Path, proto: Any = None) -> ModelConfig:
    """Read the config: the JSON beside the file, else the JSON text of its metadata entry."""
    if config_path.is_file():
        return sidecar_model_config(config_path)
    meta = {p.key: p.value for p in (proto if proto is not None else _proto(model)).metadata_props}
    if METADATA_KEY not in meta:
        raise FileNotFoundError(
            f"ONNX model {model} has no config: expected {config_path.name} beside it or a "
            f"{METADATA_KEY!r} metadata entry holding the config as JSON"
        )
    source = f"{model} metadata {METADATA_KEY!r}"
    try:
        data = json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise ValueError(f"model config {source} is not valid JSON ({exc})") from None
    if isinstance(data, dict):
        data.setdefault("weights", model.name)
    return ModelConfig.from_dict(data, source=source)


def read_onnx_config(path: Path) -> ModelConfig:
    """Return the config of an ONNX model without starting onnxruntime."""
    return _config(*_paths(path))


def _tensors(nodes: Any) -> Iterator[Any]:
    """Every tensor stored in node attributes, subgraphs included."""
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for graph in [attr.g] * attr.HasField("g") + list(attr.graphs):
                yield from _graph_tensors(graph)


def _graph_tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    yield from _tensors(graph.node)


def _check_external_data(proto: Any, model: Path) -> None:
    """Refuse an external-data location outside the model's folder, before anything reads it."""
    tensors = [*_graph_tensors(proto.graph)]
    for function in proto.functions:
        tensors.extend(_tensors(function.node))
    for tensor in tensors:
        entries = {e.key: e.value for e in tensor.external_data}
        if tensor.data_location == 1 or "location" in entries:  # TensorProto.EXTERNAL
            resolve_inside(
                model.parent, entries.get("location"), f"{tensor.name}.external_data.location"
            )


def load_onnx(path: Path) -> Predictor:
    """Load an ONNX model and its config; onnxruntime runs it behind a torch module.

    Parameters
    ----------
    path : Path
        The ``.onnx`` file, its config ``.json``, or a package folder naming it.

    Returns
    -------
    Predictor
        Its module hands each batch of windows (float32) to the onnxruntime session.

    Raises
    ------
    ImportError
        Without onnx and onnxruntime (the ``[onnx]`` extra).
    FileNotFoundError
        Without a config beside the file or in its metadata, or when the file is missing.
    ValueError
        An unreadable file, external data outside the folder, not exactly one float32 input,
        or an input shape that contradicts the config.

    Examples
    --------
    >>> import json, tempfile, torch, warnings
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     torch.onnx.export(torch.nn.Conv2d(1, 2, 1), (torch.zeros(1, 1, 8, 8),),
    ...                       str(folder / "net.onnx"), dynamo=False)
    >>> (folder / "net.json").write_text(json.dumps({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [8, 8],
    ...     "weights": "net.onnx"})) > 0
    True
    >>> load_onnx(folder / "net.onnx").module.one_at_a_time  # exported for a batch of 1
    True
    """
    ort = require_module("onnxruntime", extra="onnx", what="an ONNX model")
    torch = require_torch()
    from ._shim import WindowModule, one_at_a_time

    config_path, model = _paths(path)
    proto = _proto(model)
    config = _config(config_path, model, proto)
    _check_external_data(proto, model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its notes on unused initialisers are noise
    try:
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise ValueError(
            f"ONNX model {model} could not be loaded ({type(exc).__name__}: {exc})"
        ) from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        found = ", ".join(f"{i.name!r} {i.type}" for i in inputs)
        raise ValueError(
            f"ONNX model {model} takes {found}; expected one float32 (tensor(float)) input, "
            "a batch of image windows"
        )
    name = inputs[0].name
    shape = [d if isinstance(d, int) else None for d in inputs[0].shape]
    single = one_at_a_time(shape, config, what=f"ONNX model {model}")
    run = partial(_run_session, session, name, session.get_outputs()[0].name)
    source = config_path if config_path.is_file() else model
    return Predictor(config, WindowModule(run, one_at_a_time=single), source=str(source))


def _run_session(session: Any, name: str, output: str, batch: torch.Tensor) -> torch.Tensor:
    """Run the session on a batch of windows; return the logits on the batch's device."""
    torch = require_torch()
    array = np.ascontiguousarray(batch.detach().to("cpu", torch.float32).numpy())
    (logits,) = session.run([output], {name: array})
    return torch.from_numpy(logits).to(batch.device)


register_format(
    "onnx",
    detect=partial(is_sidecar_kind, "onnx"),
    load=load_onnx,
    data_only=True,
    extra="onnx",
    read_config=read_onnx_config,
)
