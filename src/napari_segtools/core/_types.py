"""Small shared types of the core: spacing, geometry, progress events."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

#: Voxel spacing in millimetres, in numpy axis order (same order as ``layer.scale``).
Spacing = tuple[float, ...]

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One progress event yielded by an ``iter_*`` core generator.

    ``step`` counts finished units of work out of ``total``; ``message`` says what runs now.
    """

    step: int
    total: int
    message: str = ""


#: A long-running core computation: yields progress, returns its result.
ProgressGenerator = Generator[Progress, None, T]


def run_to_completion(gen: ProgressGenerator[T]) -> T:
    """Drain an ``iter_*`` generator and return its result (the plain, scripting form)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@dataclass(frozen=True)
class Geometry:
    """Physical placement of an array, in numpy axis order.

    Attributes
    ----------
    spacing : tuple of float
        Voxel size per axis in mm.
    origin : tuple of float
        Physical position of voxel (0, ..., 0) in mm.
    direction : (D, D) float ndarray
        Direction cosines; column ``j`` is the physical direction of numpy axis ``j``.
    """

    spacing: Spacing
    origin: tuple[float, ...] = ()
    direction: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        ndim = len(self.spacing)
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        origin = self.origin if len(self.origin) else (0.0,) * ndim
        object.__setattr__(self, "origin", tuple(float(o) for o in origin))
        direction = np.eye(ndim) if self.direction is None else np.asarray(self.direction, float)
        object.__setattr__(self, "direction", direction)

    @property
    def ndim(self) -> int:
        return len(self.spacing)

    @property
    def is_axis_aligned(self) -> bool:
        """True when the direction matrix is the identity (up to 1e-6)."""
        return bool(np.allclose(self.direction, np.eye(self.ndim), atol=1e-6))

    def __eq__(self, other):
        if not isinstance(other, Geometry):
            return NotImplemented
        return (
            np.allclose(self.spacing, other.spacing, rtol=1e-6, atol=1e-9)
            and np.allclose(self.origin, other.origin, rtol=1e-6, atol=1e-6)
            and np.allclose(self.direction, other.direction, atol=1e-6)
        )

    __hash__ = None  # type: ignore[assignment]
