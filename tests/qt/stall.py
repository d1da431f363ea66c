"""Measure how long the GUI thread stops answering while a block of widget actions runs.

A Qt timer ticks every few milliseconds on the GUI thread. Whenever the thread is busy (a
histogram computed in a slot, a preview painted synchronously), the next tick comes late: the
largest gap between two ticks is the worst freeze a user would feel. On leaving the block,
events are processed until every background worker has finished and nothing new started for a
short settling time (debounced previews fire then), so stalls caused by results arriving count
too.

Usage (pytest-qt)::

    with StallMeter(qtbot) as meter:
        widget.method.value = "otsu"               # the action, on the GUI thread
        meter.wait_until(lambda: not widget.busy)  # optional: process events until a condition
    assert meter.worst_ms < 150

Without ``qtbot`` (a script such as ``benchmarks/bench_gui_stalls.py``) events are processed
with ``QApplication.processEvents``.
"""

from __future__ import annotations

import time

from qtpy.QtCore import QThreadPool, QTimer
from qtpy.QtWidgets import QApplication


class StallMeter:
    """Context manager recording the gaps between ticks of a fast GUI-thread timer.

    Parameters
    ----------
    qtbot : pytestqt.qtbot.QtBot, optional
        Used to wait while processing events.
    interval_ms : int
        Timer period; a measured gap includes up to one period of scheduling delay.
    settle_ms : int
        Quiet time (no worker running on Qt's global thread pool) that ends the measurement.
    timeout_ms : int
        Longest wait for workers when leaving the block.
    """

    def __init__(
        self,
        qtbot=None,
        *,
        interval_ms: int = 5,
        settle_ms: int = 300,
        timeout_ms: int = 120_000,
    ) -> None:
        self._qtbot = qtbot
        self.interval_ms = interval_ms
        self.settle_ms = settle_ms
        self.timeout_ms = timeout_ms
        #: time the block and the work it started took (ms)
        self.elapsed_ms = 0.0
        self._ticks: list[float] = []
        self._timer: QTimer | None = None

    # ------------------------------------------------------------------ results
    @property
    def gaps_ms(self) -> list[float]:
        """Gaps between successive ticks, in ms."""
        t = self._ticks
        return [(b - a) * 1000.0 for a, b in zip(t, t[1:], strict=False)]

    @property
    def worst_ms(self) -> float:
        """Largest gap between ticks, in ms: the longest the GUI thread was blocked."""
        return max(self.gaps_ms, default=0.0)

    # ------------------------------------------------------------------ waiting
    def wait(self, ms: int) -> None:
        """Process events for ``ms`` milliseconds."""
        if self._qtbot is not None:
            self._qtbot.wait(ms)
            return
        end = time.perf_counter() + ms / 1000.0
        while time.perf_counter() < end:
            QApplication.processEvents()
            time.sleep(0.001)

    def wait_until(self, condition, *, timeout_ms: int = 60_000) -> None:
        """Process events until ``condition()`` is true (e.g. the action's workers are done)."""
        deadline = time.perf_counter() + timeout_ms / 1000.0
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"condition still false after {timeout_ms} ms")
            self.wait(10)

    def wait_until_quiet(self) -> None:
        """Process events until no worker has run for ``settle_ms``."""
        pool = QThreadPool.globalInstance()
        deadline = time.perf_counter() + self.timeout_ms / 1000.0
        quiet_since = None
        while time.perf_counter() < deadline:
            self.wait(10)
            if pool.activeThreadCount():
                quiet_since = None
                continue
            now = time.perf_counter()
            quiet_since = quiet_since or now
            if (now - quiet_since) * 1000.0 >= self.settle_ms:
                return
        raise TimeoutError(f"background work still running after {self.timeout_ms} ms")

    # ------------------------------------------------------------------ context
    def _tick(self) -> None:
        self._ticks.append(time.perf_counter())

    def __enter__(self) -> StallMeter:
        self._ticks = [time.perf_counter()]
        self._timer = QTimer()
        self._timer.setInterval(self.interval_ms)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                self.wait_until_quiet()
        finally:
            self._tick()  # the block itself counts even if no tick came after it
            assert self._timer is not None
            self._timer.stop()
            self.elapsed_ms = (self._ticks[-1] - self._ticks[0]) * 1000.0
