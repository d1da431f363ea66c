"""Public home of the evaluation engine: ``napari_segtools.metrics.evaluate`` and each metric.

A thin re-export of :mod:`napari_segtools.core.metrics`.
"""

from .core.metrics import *  # noqa: F401,F403
from .core.metrics import __all__  # noqa: F401
