"""Progress events of the core's long-running ``iter_*`` generators."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One progress event yielded by an ``iter_*`` core generator.

    ``step`` counts finished units of work out of ``total``; ``message`` says what runs now.

    Examples
    --------
    >>> def count_to(n):
    ...     for i in range(n):
    ...         yield Progress(i, n, f"step {i + 1}")
    ...     return n
    >>> run_to_completion(count_to(3))
    3
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
