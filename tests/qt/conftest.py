"""Widget-test fixtures."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import pytest
from qtpy.QtCore import QThreadPool

# napari reads NAPARI_CONFIG once, when ``napari.settings`` is imported (at collection, before
# any fixture can set it), and keeps one settings object per process that saves itself on every
# change. Point that object at a throw-away file before anything creates it, so no test writes
# the user's own napari settings.
_SETTINGS_FILE = Path(tempfile.mkdtemp(prefix="segtools-napari-")) / "settings.yaml"


def _isolate_napari_settings() -> None:
    import napari.settings

    # already created by an earlier import: the fixture below then checks where it saves
    with contextlib.suppress(Exception):
        napari.settings.get_settings(_SETTINGS_FILE)


_isolate_napari_settings()


@pytest.fixture(autouse=True)
def _napari_settings_are_isolated():
    """Fail loudly rather than write the user's napari settings; restore reader preferences."""
    from napari.settings import get_settings

    settings = get_settings()
    assert settings.config_path is None or Path(settings.config_path) == _SETTINGS_FILE, (
        f"napari settings would be written to {settings.config_path}"
    )
    readers = dict(settings.plugins.extension2reader)
    yield
    settings.plugins.extension2reader = readers


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
