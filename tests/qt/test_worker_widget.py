"""The shared worker helper: progress, results on the main thread, cancel, error routing."""

from __future__ import annotations

import time

from napari_segtools._qt._worker import RunControls, run_generator
from napari_segtools.core._types import Progress


def _counting(n, fail=False, delay=0.0):
    for i in range(n):
        time.sleep(delay)
        yield Progress(i + 1, n, f"step {i + 1}")
    if fail:
        raise ValueError("`image` must be 2-D or 3-D")
    return n * 10


def test_returns_result_and_resets_buttons(qtbot):
    controls = RunControls()
    results = []
    worker = run_generator(controls, _counting, 3, on_returned=results.append, title="Count")
    assert not controls.run_button.enabled and controls.cancel_button.enabled
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    assert results == [30]
    assert controls.run_button.enabled and not controls.cancel_button.enabled
    assert controls.last_error is None


def test_error_becomes_message_not_traceback(qtbot):
    controls = RunControls()
    results = []
    worker = run_generator(
        controls, _counting, 2, fail=True, on_returned=results.append, title="Count"
    )
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    assert results == []
    assert controls.last_error == "Count failed: `image` must be 2-D or 3-D"


def test_cancel_stops_without_result(qtbot):
    controls = RunControls()
    results = []
    worker = run_generator(
        controls, _counting, 200, delay=0.01, on_returned=results.append, title="Count"
    )
    with qtbot.waitSignal(worker.finished, timeout=5000):
        controls.cancel_button.changed.emit(True)
    assert results == []
    assert "cancelled" in controls.last_error
