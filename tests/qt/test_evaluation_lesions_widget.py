"""Evaluation panel, lesion mode: the real section's buttons, table and layer on known lesions."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_segtools._qt._lesion_panel import LESION_COLOURS, STATUS_COLOURS
from napari_segtools._qt.evaluation_widget import EvaluationWidget

SCALE = (2.5, 0.8, 0.8)
TRANSLATE = (10.0, 5.0, 0.0)


def _lesions():
    """Reference and prediction with 2 found lesions, 1 missed and 1 false alarm.

    Returns the two maps and the status map expected by hand: found lesions (both masks) 1,
    the missed reference lesion 2, the false alarm 3.
    """
    ref = np.zeros((10, 30, 30), np.uint8)
    pred = np.zeros_like(ref)
    ref[2:5, 2:8, 2:8] = 1  # found, one column off: IoU 90 / 126
    pred[2:5, 2:8, 3:9] = 1
    ref[5:8, 15:22, 15:22] = 1  # found exactly
    pred[5:8, 15:22, 15:22] = 1
    ref[6:9, 25:28, 3:6] = 1  # missed: centroid (7, 26, 4), 27 voxels of 1.6 mm^3
    pred[1:3, 20:24, 24:28] = 1  # false alarm
    expected = np.zeros_like(ref)
    expected[(ref > 0) | (pred > 0)] = 1
    expected[6:9, 25:28, 3:6] = 2
    expected[1:3, 20:24, 24:28] = 3
    return ref, pred, expected


@pytest.fixture
def evaluated(make_napari_viewer, qtbot):
    """A panel whose lesion section was run once by pressing its button."""
    viewer = make_napari_viewer()
    ref, pred, expected = _lesions()
    viewer.add_labels(ref, name="reference", scale=SCALE, translate=TRANSLATE)
    viewer.add_labels(pred, name="prediction", scale=SCALE, translate=TRANSLATE)
    widget = EvaluationWidget(viewer)
    _run(widget.lesions, qtbot)
    return viewer, widget, expected


def _run(section, qtbot):
    """Press Evaluate lesions; wait for the result and its layer."""
    section.result = None
    section.controls.run_button.native.click()
    worker = section.worker
    assert worker is not None, section.controls.status.value
    qtbot.waitUntil(
        lambda: section.result is not None or section.controls.last_error is not None,
        timeout=20000,
    )
    qtbot.waitUntil(lambda: not worker.is_running and not section.drawing, timeout=5000)
    assert section.controls.last_error is None, section.controls.last_error
    return section.result


def _click_row(table, row, qtbot):
    item = table.item(row, 1)
    table.scrollToItem(item)
    qtbot.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center()
    )


def test_lesion_layer_table_summary_and_jump_to_a_missed_lesion(evaluated, qtbot):
    viewer, widget, expected = evaluated
    section = widget.lesions
    assert not section.expanded  # closed until wanted: the dock keeps its size
    layer = viewer.layers["prediction lesions"]
    np.testing.assert_array_equal(layer.data, expected)
    assert layer in widget.output_layers() and not layer.editable
    np.testing.assert_allclose(layer.scale, SCALE)
    np.testing.assert_allclose(layer.translate, TRANSLATE)
    for code, colour in ((1, "#39ff14"), (2, "#00b0ff"), (3, "#ff3ec8")):
        assert LESION_COLOURS[code] == colour
        np.testing.assert_allclose(
            layer.colormap.map(np.array([code]))[0][:3],
            [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)],
            atol=1e-6,
        )
    names = dict(zip(layer.features["index"], layer.features["name"], strict=True))
    assert names == {0: "background", 1: "TP: found", 2: "FN: missed", 3: "FP: false alarm"}

    table = section.table
    assert table.rowCount() == 4
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[3] == "ref vol\n[mm³]" and headers[7] == "HD95\n[mm]"
    assert sorted(table.statuses()) == ["FN", "FP", "TP", "TP"]
    rows = section.result.report.per_instance
    ious = sorted(float(r["iou"]) for r in rows if r["status"] == "TP")
    assert ious == pytest.approx([90 / 126, 1.0])
    fn_row = table.statuses().index("FN")
    assert table.item(fn_row, 2).text() == "–"  # no prediction lesion
    assert table.item(fn_row, 0).background().color().name() == STATUS_COLOURS["FN"]
    detection = section.result.report.detection
    assert (detection["tp"], detection["fp"], detection["fn"]) == (2, 1, 1)
    assert detection["precision"] == pytest.approx(2 / 3)
    assert "2 found (TP) · 1 missed (FN) · 1 false alarm (FP)" in section.summary.text()
    assert "precision 0.667 · recall 0.667 · F1 0.667" in section.summary.text()

    # a click on the missed lesion's row: its slice, centred (through scale and translate)
    section.collapsible.expand(animate=False)
    widget.native.show()
    viewer.dims.set_current_step(0, 0)
    _click_row(table, fn_row, qtbot)
    assert viewer.dims.current_step[0] == 7
    assert viewer.dims.point[0] == pytest.approx(7 * 2.5 + 10)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], (26 * 0.8 + 5, 4 * 0.8))
    # the exactly found lesion (reference rows come first, by id): centroid (6, 18, 18)
    assert table.statuses()[1] == "TP" and table.item(1, 1).text() == "2"
    _click_row(table, 1, qtbot)
    assert viewer.dims.current_step[0] == 6
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], (18 * 0.8 + 5, 18 * 0.8))


def test_re_evaluating_replaces_the_layer_and_stale_marks(evaluated, qtbot):
    viewer, widget, _expected = evaluated
    section = widget.lesions
    layer = viewer.layers["prediction lesions"]
    prediction = viewer.layers["prediction"]
    prediction.data[1:3, 20:24, 24:28] = 0  # the false alarm is painted away
    prediction.data = prediction.data
    assert section.stale and section.table.stale
    assert "stale" in section.controls.status.value
    section.iou_threshold.value = 0.8  # the one-column shift (IoU 0.71) is now missed
    _run(section, qtbot)
    assert not section.stale and not section.table.stale
    assert [lay for lay in viewer.layers if lay.name.endswith("lesions")] == [layer]
    assert layer is viewer.layers["prediction lesions"] and not layer.editable
    assert sorted(section.table.statuses()) == ["FN", "FN", "FP", "TP"]
    # the shifted lesion is now a miss and a false alarm; where they overlap, FN wins over FP
    np.testing.assert_array_equal(layer.data[2:5, 2:8, 2:8], 2)
    np.testing.assert_array_equal(layer.data[2:5, 2:8, 8], 3)
    assert not np.any(layer.data[1:3, 20:24, 24:28])  # the painted-away false alarm is gone
    assert section.result.report.settings["iou_threshold"] == 0.8
    # a BraTS preset sets the rules itself: they are greyed; the 43.2 mm^3 miss is left out
    section.preset.value = "brats2023-gli"
    assert not section.matching.enabled and not section.iou_threshold.enabled
    _run(section, qtbot)
    assert section.table.statuses() == ["TP", "TP"]
    assert section.result.report.settings["preset"] == "brats2023-gli"
    assert "lesion-wise Dice" in section.summary.text()
    assert not np.any(layer.data == 2)
    # the main evaluation without overlays keeps the lesion layer, and its visibility
    widget.show_overlays.value = False
    assert layer.visible
    widget.controls.run_button.native.click()
    qtbot.waitUntil(lambda: widget.result is not None and not widget._busy(), timeout=20000)
    qtbot.waitUntil(lambda: not widget.drawing, timeout=5000)
    assert widget.output_layers() == [layer] and layer.visible


def test_a_refused_pair_clears_the_lesions(evaluated, qtbot):
    viewer, widget, _expected = evaluated
    section = widget.lesions
    flat = viewer.add_labels(np.zeros((30, 30), np.uint8), name="flat")
    widget.prediction.value = flat  # 3-D against 2-D: refused
    assert section.result is None and section.table.rowCount() == 0
    assert section.summary.text() == ""
    assert "prediction lesions" not in viewer.layers
    assert not section.controls.run_button.enabled
    assert "Refused" in section.controls.status.value
    widget.prediction.value = viewer.layers["prediction"]  # a valid pair again
    assert section.controls.run_button.enabled and section.controls.status.value == ""


def test_closing_the_dock_mid_run_adds_nothing(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ref, pred, _expected = _lesions()
    viewer.add_labels(ref, name="reference", scale=SCALE)
    viewer.add_labels(pred, name="prediction", scale=SCALE)
    widget = EvaluationWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    section = widget.lesions
    section.controls.run_button.native.click()
    worker = section.worker
    viewer.window.remove_dock_widget(dock)  # before the result is delivered
    qtbot.waitUntil(lambda: not worker.is_running, timeout=20000)
    qtbot.wait(50)
    assert section.result is None
    assert [layer.name for layer in viewer.layers] == ["reference", "prediction"]
