"""Widget-test fixtures."""

from __future__ import annotations

import pytest
from qtpy.QtCore import QThreadPool


@pytest.fixture
def make_napari_viewer(make_napari_viewer, qtbot):
    """Use napari's fixture, closing its viewers only after every background worker finished.

    A worker still running at teardown holds the widget (and so the viewer) through its result
    callback, which napari's leak check reports as an error on a busy machine. Workers run on
    Qt's global thread pool; once it is idle, pending ``finished`` signals are delivered.
    """
    yield make_napari_viewer
    pool = QThreadPool.globalInstance()
    qtbot.waitUntil(lambda: pool.activeThreadCount() == 0, timeout=60_000)
    qtbot.wait(10)
