"""Widget-test fixtures."""

from __future__ import annotations

import pytest
from superqt.utils._qthreading import WorkerBase


@pytest.fixture
def make_napari_viewer(make_napari_viewer, qtbot):
    """napari's fixture, closing its viewers only after every background worker has finished.

    A worker still running at teardown holds the widget (and so the viewer) through its result
    callback, which napari's leak check reports as an error on a busy machine.
    """
    yield make_napari_viewer
    qtbot.waitUntil(lambda: not WorkerBase._worker_set, timeout=60_000)
