"""TorchScript and ``torch.export`` models: compiled programs, so loaded only when trusted.

Both sit beside a JSON config of the same stem (``net.pt`` + ``net.json``, ``net.pt2`` +
``net.json``) or are named by a package folder's ``config.json``. Loading either runs code the
file contains, so :func:`~.load_path` calls these loaders only for ``trusted=True``.

- TorchScript (``torch.jit.save``): a ``.pt``/``.ts`` zip archive with a ``code/`` folder; the
  module runs as it is.
- ``torch.export`` (``torch.export.save``): a ``.pt2`` archive; its module may take a fixed
  window size (it must equal the config's ``patch_size``) and a batch of 1 (then windows go one
  at a time).
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

from .._torch import require_torch
from ..package import Predictor, _existing
from . import (
    is_sidecar_kind,
    register_format,
    sidecar_config,
    sidecar_model_config,
)


def load_torchscript(path: Path) -> Predictor:
    """Load a TorchScript model and its config (runs the archive's code: trusted sources only).

    Parameters
    ----------
    path : Path
        The ``.pt``/``.ts`` file, its config ``.json``, or a package folder naming it.

    Returns
    -------
    Predictor

    Raises
    ------
    FileNotFoundError
        Without the config beside it, or when the model file is missing.
    ValueError
        If torch cannot read the archive.

    Examples
    --------
    >>> import json, tempfile, torch
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> torch.jit.script(torch.nn.Conv2d(1, 2, 1)).save(str(folder / "net.pt"))
    >>> (folder / "net.json").write_text(json.dumps({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [8, 8],
    ...     "weights": "net.pt"})) > 0
    True
    >>> load_torchscript(folder / "net.pt").config.class_names
    ('background', 'cell')
    """
    torch = require_torch()
    config, source, model = sidecar_config(path)
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript; its files still load
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(_existing(model)), map_location="cpu")
    except RuntimeError as exc:
        raise ValueError(f"TorchScript file {model} could not be loaded: {exc}") from None
    return Predictor(config, module, source=str(source))


def load_torch_export(path: Path) -> Predictor:
    """Load a ``torch.export`` program and its config (a compiled program: trusted sources only).

    Parameters
    ----------
    path : Path
        The ``.pt2`` file, its config ``.json``, or a package folder naming it.

    Returns
    -------
    Predictor
        Its module runs the program on windows of the config's ``patch_size``, one window at a
        time when the program was exported for a batch of 1.

    Raises
    ------
    FileNotFoundError
        Without the config beside it, or when the model file is missing.
    ValueError
        If torch cannot read the program, or its input shape contradicts the config.

    Examples
    --------
    >>> import json, tempfile, torch
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> program = torch.export.export(torch.nn.Conv2d(1, 2, 1), (torch.zeros(1, 1, 8, 8),))
    >>> torch.export.save(program, folder / "net.pt2")
    >>> (folder / "net.json").write_text(json.dumps({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [8, 8],
    ...     "weights": "net.pt2"})) > 0
    True
    >>> load_torch_export(folder / "net.pt2").module.one_at_a_time
    True
    """
    torch = require_torch()
    from ._shim import WindowModule, one_at_a_time

    config, source, model = sidecar_config(path)
    try:
        program = torch.export.load(str(_existing(model)))
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a foreign archive
        raise ValueError(
            f"torch.export program {model} could not be loaded ({type(exc).__name__}: {exc}); "
            "expected a file written by torch.export.save"
        ) from None
    users = set(program.graph_signature.user_inputs)
    inputs = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in users]
    if len(inputs) != 1:
        raise ValueError(
            f"torch.export program {model} takes {len(inputs)} inputs; expected one batch of "
            "image windows"
        )
    shape = [d if isinstance(d, int) else None for d in inputs[0].meta["val"].shape]
    single = one_at_a_time(shape, config, what=f"torch.export program {model}")
    return Predictor(
        config, WindowModule(program.module(), one_at_a_time=single), source=str(source)
    )


register_format(
    "torchscript",
    detect=partial(is_sidecar_kind, "torchscript"),
    load=load_torchscript,
    data_only=False,
    extra=None,
    read_config=sidecar_model_config,
)
register_format(
    "torch-export",
    detect=partial(is_sidecar_kind, "torch-export"),
    load=load_torch_export,
    data_only=False,
    extra=None,
    read_config=sidecar_model_config,
)
