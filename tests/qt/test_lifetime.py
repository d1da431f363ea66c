"""Closing a viewer with the docks open leaves nothing behind that can fire; a script goes on.

pytest-qt fails a test when an exception reaches Qt's event loop (a slot or a virtual method);
the hook below also catches anything that reaches ``sys.excepthook`` directly.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from qtpy.QtCore import QThreadPool

DOCKS = (
    "Threshold",
    "Region growing",
    "Atlas propagation",
    "U-Net inference",
    "Evaluation",
    "Segments",
    "Voxel classifier",
    "Cohort evaluation",
)


@pytest.fixture
def excepthook_calls(monkeypatch):
    """Exceptions that reached ``sys.excepthook`` during the test."""
    calls: list[BaseException] = []

    def hook(kind, value, tb):
        calls.append(value)

    monkeypatch.setattr(sys, "excepthook", hook)
    return calls


def _open_with_docks(make_napari_viewer, qtbot, docks, sample="brain_slice"):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-segtools", sample)
    for name in docks:
        viewer.window.add_plugin_dock_widget("napari-segtools", name, tabify=True)
    qtbot.wait(50)
    return viewer


def _use_after_close(viewer, qtbot):
    """Close ``viewer`` and poke what a closed viewer's model can still emit."""
    layers = list(viewer.layers)
    viewer.close()
    qtbot.wait(100)
    for layer in layers:  # a script may keep layers of a closed viewer and change them
        layer.name = layer.name + " (kept)"
        layer.visible = not layer.visible
    if viewer.dims.ndim > 2:
        viewer.dims.set_current_step(0, 1)
    viewer.layers.selection.clear()
    viewer.layers.clear()  # every dock's layer-list handlers fire once more
    qtbot.wait(50)


def _threshold_apply_works(make_napari_viewer, qtbot):
    from napari_segtools._qt.threshold_widget import ThresholdWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", "brain_slice")
    _, widget = viewer.window.add_plugin_dock_widget("napari-segtools", "Threshold")
    assert isinstance(widget, ThresholdWidget)
    pool = QThreadPool.globalInstance()  # the dock computes its histogram in a worker first
    qtbot.waitUntil(lambda: pool.activeThreadCount() == 0, timeout=30_000)
    qtbot.wait(50)
    widget.controls.run_button.native.click()
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=30_000)
    assert widget.controls.last_error is None, widget.controls.last_error
    (result,) = [layer for layer in viewer.layers if layer.name.endswith("threshold")]
    assert np.count_nonzero(result.data) > 0
    return viewer


@pytest.mark.parametrize("sample", ["brain_slice", "phantom_3d"])
@pytest.mark.parametrize("dock", DOCKS)
def test_closing_a_viewer_with_one_dock_open_raises_nothing(
    make_napari_viewer, qtbot, excepthook_calls, dock, sample
):
    viewer = _open_with_docks(make_napari_viewer, qtbot, [dock], sample)
    _use_after_close(viewer, qtbot)
    assert not excepthook_calls, excepthook_calls


def test_a_script_closes_a_viewer_with_every_dock_and_opens_another(
    make_napari_viewer, qtbot, excepthook_calls
):
    viewer = _open_with_docks(make_napari_viewer, qtbot, DOCKS)
    _use_after_close(viewer, qtbot)
    _threshold_apply_works(make_napari_viewer, qtbot)
    assert not excepthook_calls, excepthook_calls


def test_removing_layers_and_closing_docks_then_the_viewer(
    make_napari_viewer, qtbot, excepthook_calls
):
    viewer = _open_with_docks(make_napari_viewer, qtbot, DOCKS)
    viewer.window.remove_dock_widget("all")
    qtbot.wait(50)
    viewer.layers.clear()
    viewer.open_sample("napari-segtools", "brain_slice")
    qtbot.wait(50)
    _use_after_close(viewer, qtbot)
    assert not excepthook_calls, excepthook_calls
