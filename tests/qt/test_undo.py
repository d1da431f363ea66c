"""Every widget write into a Labels layer is one step of napari's own undo history.

Each widget is driven like a user three times into the same Labels layer; napari's undo then
restores every earlier state bit for bit, and redo re-applies each write.
"""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Labels
from qtpy.QtCore import Qt
from tests.qt.test_region_growing_widget import WM, click_run, pd_slice, press_add_seeds
from tests.qt.test_unet_widget import needs_torch, tiny_package

from napari_segtools._qt._history import changed_message, write_labels
from napari_segtools._qt.atlas_widget import AtlasWidget
from napari_segtools._qt.region_growing_widget import RegionGrowingWidget
from napari_segtools._qt.threshold_widget import ThresholdWidget
from napari_segtools._qt.unet_widget import FROM_FILE, UNetWidget
from napari_segtools.core.region_growing import connected_threshold

__all__ = ["pd_slice"]  # the fixture, shared with the region growing tests


def _snapshot(layer) -> np.ndarray:
    return np.array(layer.data, copy=True)


def _said(status: str, before: np.ndarray, after: np.ndarray) -> int:
    """Assert that ``status`` reports numpy's count of changed voxels; return that count."""
    count = int(np.count_nonzero(before != after))
    assert count > 0
    assert changed_message(count) in status, status
    return count


def _undo_redo_three_deep(layer, states: list[np.ndarray]) -> None:
    """``states``: the layer before the first write and after each of three writes."""
    assert len(states) == 4
    for state in reversed(states[:-1]):
        layer.undo()
        np.testing.assert_array_equal(layer.data, state)
    for state in states[1:]:
        layer.redo()
        np.testing.assert_array_equal(layer.data, state)


# ------------------------------------------------------------------------------ the helper
def test_write_labels_region_mask_and_upcast():
    layer = Labels(np.zeros((3, 4, 5), np.uint8))
    layer.data[0] = 7
    start = _snapshot(layer)
    new = np.full((4, 2), 300)  # does not fit uint8: the layer is widened
    editable = np.zeros((4, 2), bool)
    editable[1:3] = True
    assert (
        write_labels(layer, new, region=(1, slice(None), slice(1, 5, 2)), editable=editable) == 4
    )
    assert layer.data.dtype == np.uint16
    expected = start.astype(np.uint16)
    expected[1, 1:3, 1:5:2] = 300
    np.testing.assert_array_equal(layer.data, expected)
    assert write_labels(layer, layer.data.copy()) == 0  # nothing changed: no undo step
    layer.undo()
    np.testing.assert_array_equal(layer.data, start)
    layer.redo()
    np.testing.assert_array_equal(layer.data, expected)
    with pytest.raises(ValueError, match="new: shape"):
        write_labels(layer, np.ones((2, 2)))
    with pytest.raises(ValueError, match="whole numbers"):
        write_labels(layer, np.full(layer.data.shape, 0.5))


def test_changed_message():
    assert changed_message(12345) == "12 345 voxels changed (Ctrl+Z undoes)"
    assert changed_message(1) == "1 voxel changed (Ctrl+Z undoes)"
    assert changed_message(0) == "no voxel changed"


# ------------------------------------------------------------------------------ threshold
@pytest.fixture
def threshold(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = np.random.default_rng(3).integers(0, 101, (10, 16, 18)).astype(np.float32)
    viewer.add_image(image, name="img", scale=(2.0, 0.5, 0.5))
    widget = ThresholdWidget(viewer)
    widget.scope.value = "volume"
    widget.preview.value = False
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    return viewer, widget, image


def _apply(widget, qtbot):
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    widget.controls.run_button.native.click()
    assert widget.worker is not None, widget.status.value
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=30000)
    assert widget.controls.last_error is None, widget.controls.last_error


def test_threshold_three_writes_undo_redo_and_ctrl_z(threshold, qtbot):
    viewer, widget, image = threshold
    start = np.zeros(image.shape, np.uint8)
    start[:, :4] = 5  # the user's own segment
    seg = viewer.add_labels(start.copy(), name="seg", scale=(2.0, 0.5, 0.5))
    widget.output.target.value = seg
    states = [_snapshot(seg)]
    for (low, high), value in (((60.0, 100.0), 1), ((20.0, 40.0), 2), ((40.0, 70.0), 3)):
        widget.range.value = (low, high)
        widget.output.label_value.value = value
        _apply(widget, qtbot)
        states.append(_snapshot(seg))
        expected = states[-2].copy()
        expected[(image >= low) & (image <= high)] = value
        np.testing.assert_array_equal(seg.data, expected)
        _said(widget.status.value, states[-2], states[-1])
    _undo_redo_three_deep(seg, states)

    # napari's Ctrl+Z / Ctrl+Shift+Z key bindings, pressed on the canvas with the layer selected
    viewer.layers.selection.active = seg
    canvas = viewer.window._qt_viewer.canvas.native
    control = Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(canvas, Qt.Key.Key_Z, control)
    np.testing.assert_array_equal(seg.data, states[2])
    qtbot.keyClick(canvas, Qt.Key.Key_Z, control | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(seg.data, states[3])


def test_threshold_new_layer_starts_empty_so_undo_empties_it(threshold, qtbot):
    viewer, widget, image = threshold
    widget.range.value = (50.0, 100.0)
    _apply(widget, qtbot)
    out = viewer.layers["img threshold"]
    filled = _snapshot(out)
    np.testing.assert_array_equal(filled, (image >= 50) & (image <= 100))
    _said(widget.status.value, np.zeros_like(filled), filled)
    out.undo()
    assert not out.data.any()
    out.redo()
    np.testing.assert_array_equal(out.data, filled)


def test_masking_modes_change_only_allowed_voxels(threshold, qtbot):
    viewer, widget, image = threshold
    start = np.zeros(image.shape, np.uint8)
    start[:5] = 9
    start[:, :3] = 4
    seg = viewer.add_labels(start.copy(), name="seg")
    widget.output.target.value = seg
    widget.range.value = (30.0, 100.0)
    inside = (image >= 30) & (image <= 100)

    widget.output.mode.value = "empty"
    widget.output.label_value.value = 1
    _apply(widget, qtbot)
    empty = _snapshot(seg)
    np.testing.assert_array_equal(empty, np.where(inside & (start == 0), 1, start))
    _said(widget.status.value, start, empty)

    widget.output.mode.value = "inside"
    widget.output.inside_label.value = 9
    widget.output.label_value.value = 2
    _apply(widget, qtbot)
    np.testing.assert_array_equal(seg.data, np.where(inside & (empty == 9), 2, empty))
    _said(widget.status.value, empty, seg.data)

    seg.undo()
    np.testing.assert_array_equal(seg.data, empty)
    seg.undo()
    np.testing.assert_array_equal(seg.data, start)


# ------------------------------------------------------------------------- region growing
def test_region_growing_three_writes_undo_redo(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD")
    widget = RegionGrowingWidget(viewer)
    widget.method.value = "connected"
    press_add_seeds(widget).add([WM])
    states = [np.zeros(pd_slice.shape, np.uint8)]
    out = None
    for low, high in ((150, 180), (140, 190), (160, 175)):
        widget.lower.value, widget.upper.value = low, high
        click_run(widget)
        qtbot.waitUntil(
            lambda: widget.controls.run_button.enabled and "PD region growing" in viewer.layers,
            timeout=10000,
        )
        qtbot.waitUntil(lambda: "changed" in widget.status.value, timeout=10000)
        out = viewer.layers["PD region growing"]
        states.append(_snapshot(out))
        _said(widget.status.value, states[-2], states[-1])
    assert len({s.tobytes() for s in states}) == 4  # every run changed the layer
    _undo_redo_three_deep(out, states)

    # after Ctrl+Z the undone growth is not mistaken for the user's painting on the next run
    out.undo()
    click_run(widget)
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10000)
    qtbot.waitUntil(lambda: "changed" in widget.status.value, timeout=10000)
    assert "you painted" not in widget.status.value
    grown = connected_threshold(pd_slice, [WM], lower=160, upper=175)
    np.testing.assert_array_equal(out.data, grown.astype(np.uint8))


# --------------------------------------------------------------------------------- U-Net
@needs_torch
def test_unet_three_writes_undo_redo(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    viewer.add_image(image, name="img")
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    states = [np.zeros(image.shape, np.uint8)]
    for seed in (0, 1, 2):  # three models: three different results into the same layer
        widget.model_file.value = tiny_package(tmp_path, seed)
        widget.controls.run_button.clicked()
        qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=60000)
        assert widget.controls.last_error is None, widget.controls.last_error
        out = viewer.layers["img U-Net"]
        states.append(_snapshot(out))
        _said(widget.controls.status.value, states[-2], states[-1])
    assert [layer.name for layer in viewer.layers].count("img U-Net") == 1
    _undo_redo_three_deep(out, states)


# --------------------------------------------------------------------------------- atlas
def test_atlas_three_writes_undo_redo(make_napari_viewer, qtbot):
    pytest.importorskip("SimpleITK")
    from tests.atlas_cases import deformed_copy, load_mni152

    template = load_mni152(4)
    target = deformed_copy(template, seed=1)
    viewer = make_napari_viewer()
    viewer.add_image(target.image, name="T1", scale=target.geometry.spacing)
    viewer.add_image(template.image, name="MNI", scale=template.geometry.spacing)
    viewer.add_labels(template.labels, name="MNI labels", scale=template.geometry.spacing)
    widget = AtlasWidget(viewer)
    widget.target.value = viewer.layers["T1"]
    widget.atlas_image.value = viewer.layers["MNI"]
    widget.atlas_labels.value = viewer.layers["MNI labels"]
    widget.add_pair.clicked()
    states = [np.zeros(target.image.shape, np.uint8)]
    # the two fast affine presets, then the first again: three different results, ~1 s each
    for preset in ("same modality, fast", "cross modality", "same modality, fast"):
        widget.preset.value = preset
        if len(states) == 3:
            widget.transform.value = "rigid"  # the third run: rigid only
        widget.controls.run_button.clicked()
        with qtbot.waitSignal(widget.worker.finished, timeout=60000):
            pass
        assert widget.controls.last_error is None, widget.controls.last_error
        out = viewer.layers["T1 atlas labels"]
        states.append(_snapshot(out))
        _said(widget.controls.status.value, states[-2], states[-1])
    _undo_redo_three_deep(out, states)
