"""The one check for PyTorch, an optional dependency (the ``[unet]`` extra).

Everything torch-free (``list_models``, model configs, the dock) works without it; whatever
needs torch calls :func:`require_torch` first and gets one clear ``ImportError`` instead of a
bare ``No module named 'torch'``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

#: What to do when torch is missing: one line, naming the extra.
TORCH_MISSING = (
    "the U-Net needs PyTorch: pip install 'napari-segtools[unet]' "
    "(install torch==2.13.0 first for the CPU build)"
)


def torch_available() -> bool:
    """Say whether torch can be imported, without importing it (cheap; for the dock).

    Returns
    -------
    bool
        ``True`` when ``import torch`` would find the package.

    Examples
    --------
    >>> isinstance(torch_available(), bool)
    True
    """
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    return importlib.util.find_spec("torch") is not None


def require_torch() -> ModuleType:
    """Import and return torch, or raise one ``ImportError`` that names the ``[unet]`` extra.

    Returns
    -------
    module
        The ``torch`` module.

    Raises
    ------
    ImportError
        If PyTorch is not installed; the message is :data:`TORCH_MISSING`.

    Examples
    --------
    >>> try:
    ...     torch = require_torch()
    ... except ImportError as exc:
    ...     assert "napari-segtools[unet]" in str(exc)
    """
    try:
        import torch
    except ImportError:
        raise ImportError(TORCH_MISSING, name="torch") from None
    return torch
