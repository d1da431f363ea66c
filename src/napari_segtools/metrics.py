"""Public home of the evaluation engine: ``napari_segtools.metrics.evaluate`` and each metric.

A thin re-export of :mod:`napari_segtools.core.metrics` (its ``__all__``, plus the deprecated
spellings listed in ``DEPRECATED_NAMES``, which warn when called).
"""

from .core import metrics as _core
from .core.metrics import *  # noqa: F403
from .core.metrics import DEPRECATED_NAMES, __all__  # noqa: F401


def __getattr__(name: str):
    """Resolve a deprecated name of the engine (it warns when called)."""
    if name in DEPRECATED_NAMES:
        return getattr(_core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
