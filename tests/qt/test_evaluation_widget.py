"""Evaluation panel: real combo boxes and buttons, values checked against the engine."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from napari_segtools._qt.evaluation_widget import ERROR_COLOURS, EvaluationWidget
from napari_segtools._sample_pitfalls import metric_pitfalls
from napari_segtools.core.metrics.report import metric_names
from napari_segtools.core.pitfall_gallery import pitfall_cases
from napari_segtools.metrics import evaluate

SPACING = (2.5, 0.8, 0.8)


def _run(widget, qtbot):
    """Press Evaluate and wait until the worker has delivered its result and stopped."""
    widget.result = None
    widget.controls.run_button.changed.emit(True)
    worker = widget.worker
    assert worker is not None, widget.status.value
    qtbot.waitUntil(
        lambda: widget.result is not None or widget.controls.last_error is not None, timeout=20000
    )
    qtbot.waitUntil(lambda: not worker.is_running and not widget.drawing, timeout=5000)
    assert widget.controls.last_error is None
    return widget.result


def _two_label_volumes():
    ref = np.zeros((8, 24, 24), np.uint8)
    ref[2:6, 4:12, 4:12] = 1
    ref[1:7, 14:22, 12:20] = 2
    pred = np.zeros_like(ref)
    pred[2:6, 5:13, 4:12] = 1  # shifted one row
    pred[1:6, 14:22, 12:21] = 2  # one slice short, one column wide
    return ref, pred


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


def test_layers_default_by_name_and_pair_in_the_gallery(viewer):
    viewer.add_image(np.zeros((4, 4)), name="image")
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="segmentation")
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="ground truth")
    widget = EvaluationWidget(viewer)
    assert widget.reference.value.name == "ground truth"
    assert widget.prediction.value.name == "segmentation"
    assert [name for name, _ in widget._layer_choices()] == ["segmentation", "ground truth"]
    for data, meta, _ in metric_pitfalls():
        if meta["name"].startswith(("holes", "empty")):
            viewer.add_labels(data, **meta)
    assert widget.reference.value.name == "ground truth"  # a new layer does not override it
    widget.reference.value = viewer.layers["holes reference"]
    assert widget.prediction.value.name == "holes prediction"
    assert "hole inside the prediction" in widget.picker.lesson.value  # the case's lesson
    assert "scale 1" not in widget.status.value  # the gallery declares its 1 mm grid
    widget.reference.value = viewer.layers["empty reference reference"]
    assert widget.prediction.value.name == "empty reference prediction"
    widget.reference.value = viewer.layers["empty prediction reference"]
    assert widget.prediction.value.name == "empty prediction prediction"


def test_table_values_units_and_tooltips_match_engine(viewer, qtbot):
    ref, pred = _two_label_volumes()
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    widget.nsd_tolerance_mm.value = 2.0
    widget.hd_percentile.value = 90.0
    widget.beta.value = 2.0
    widget.hd_variant.value = "pooled"
    widget.boundary_band_mm.value = 2.0
    result = _run(widget, qtbot)
    expected = evaluate(
        ref,
        pred,
        spacing=SPACING,
        nsd_tolerance_mm=2.0,
        hd_percentile=90,
        beta=2,
        hd_variant="pooled",
        boundary_band_mm=2.0,
    )
    assert result.report.settings["nsd_tolerance_mm"] == 2.0
    assert result.report.settings["hd_variant"] == "pooled"
    assert expected.metric_names == metric_names(hd_percentile=90)
    table = widget.table
    assert table.rowCount() == 4  # two labels, the mean and the pooled row
    for row, values in [
        ("1", expected.per_label[1]),
        ("2", expected.per_label[2]),
        ("mean", expected.mean),
        ("pooled", expected.pooled),
    ]:
        for metric in values:
            ml = 1e-3 if metric.endswith("_volume") else 1.0  # mm^3 shown in ml
            np.testing.assert_allclose(table.cell_value(row, metric), values[metric] * ml)
    assert table.cell_value("1", "dice") == pytest.approx(2 * 224 / 512)
    assert table.cell_value("1", "hd") == pytest.approx(0.8)
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert "hd [mm]" in headers and "reference_volume [ml]" in headers and "dice" in headers
    assert "hd90 [mm]" in headers and not any(h.startswith("hd95") for h in headers)
    hd90_col = headers.index("hd90 [mm]")
    assert "90th percentile" in table.horizontalHeaderItem(hd90_col).toolTip()
    assert "pooled" in table.horizontalHeaderItem(hd90_col).toolTip()
    assert np.isnan(table.cell_value("pooled", "hd")) and table.item(3, hd90_col).text() == ""
    kappa = f"{expected.overall['cohen_kappa']:.4g}"
    assert f"Cohen's kappa {kappa}" in table.summary.text()
    assert widget.results_section.native.isAncestorOf(table.summary)  # shown under the table
    overlay_values = expected.per_label[result.overlay.label]
    assert widget.plot.markers["hd90"] == pytest.approx(overlay_values["hd90"])
    assert "hd95" not in widget.plot.markers
    for col in range(table.columnCount()):
        assert table.horizontalHeaderItem(col).toolTip().endswith(
            ")"
        ) or table.horizontalHeaderItem(col).toolTip().endswith(".")
    widget.copy_button.changed.emit(True)
    clip = QApplication.clipboard().text().splitlines()
    assert clip[0].split("\t")[:4] == ["label", "case", "dice", "iou"]
    assert clip[1].split("\t")[0] == "1" and len(clip) == 6  # header, 4 rows, summary


def test_label_choice_evaluates_only_chosen_labels(viewer, qtbot):
    ref, pred = _two_label_volumes()
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    widget.all_labels.value = False
    assert list(widget.label_ids.choices) == [1, 2]
    widget.label_ids.value = [2]
    widget.reset_choices()  # what napari does on every layer change once docked
    assert list(widget.label_ids.choices) == [1, 2] and widget.label_ids.value == [2]
    result = _run(widget, qtbot)
    assert list(result.report.per_label) == [2]
    assert widget.table.rowCount() == 3
    assert widget.overlay_label.value == 2


def test_error_map_voxels_and_fixed_colours(viewer, qtbot):
    ref = np.zeros((10, 10), np.uint8)
    ref[2:6, 2:6] = 1
    pred = np.zeros_like(ref)
    pred[2:6, 3:7] = 1
    viewer.add_labels(ref, name="reference", scale=(0.5, 0.7), translate=(3, 4))
    viewer.add_labels(pred, name="prediction", scale=(0.5, 0.7), translate=(3, 4))
    widget = EvaluationWidget(viewer)
    _run(widget, qtbot)
    layer = viewer.layers["prediction error map"]
    expected = np.zeros_like(ref)
    expected[2:6, 3:6] = 1  # TP
    expected[2:6, 6] = 2  # FP
    expected[2:6, 2] = 3  # FN
    np.testing.assert_array_equal(layer.data, expected)
    np.testing.assert_allclose(layer.scale, (0.5, 0.7))
    np.testing.assert_allclose(layer.translate, (3, 4))
    for value in (1, 2, 3):
        np.testing.assert_allclose(layer.colormap.map([value])[0], layer.colormap.map([value])[0])
        assert layer.colormap.color_dict[value] is not None
    assert layer.colormap.map([1])[0][1] > 0.7  # TP green
    assert ERROR_COLOURS[2] != ERROR_COLOURS[3]
    assert "error map" not in [name for name, _ in widget._layer_choices()]
    distance = viewer.layers["prediction boundary distance"]
    np.testing.assert_allclose(np.nanmax(distance.data), 0.7)  # one column of 0.7 mm
    assert widget.plot.markers == {"hd95": pytest.approx(0.7), "tolerance": 1.0}
    # hovering a voxel names its class
    for (y, x), name in [((3, 4), "TP"), ((3, 6), "FP"), ((3, 2), "FN")]:
        world = layer.data_to_world((y, x))
        status = layer.get_status(world, world=True)["coordinates"]
        assert f"name: {name}" in status, (name, status)
    colours = {tuple(np.round(layer.colormap.map([v])[0], 3)) for v in (1, 2, 3)}
    assert len(colours) == 3


def test_jump_to_hausdorff_location_sets_current_step(viewer, qtbot):
    ref = np.zeros((10, 16, 16), np.uint8)
    ref[2:5, 4:10, 4:10] = 1
    pred = ref.copy()
    pred[8, 13, 13] = 1  # a spurious voxel far from the reference
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    result = _run(widget, qtbot)
    np.testing.assert_allclose(result.overlay.hd_location, (8, 13, 13))
    assert result.overlay.hd == pytest.approx(result.report.per_label[1]["hd"])
    assert widget.jump_button.enabled
    viewer.dims.set_current_step(0, 0)
    widget.jump_button.changed.emit(True)
    assert viewer.dims.current_step[0] == 8
    np.testing.assert_allclose(viewer.dims.point[0], 8 * 2.5)
    qtbot.wait(300)  # the markers follow


def test_csv_and_json_export(viewer, qtbot, tmp_path):
    ref, pred = _two_label_volumes()
    viewer.add_labels(ref, name="liver reference", scale=SPACING)
    viewer.add_labels(pred, name="liver prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    result = _run(widget, qtbot)
    path = widget.export_report(tmp_path / "report.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = {
        line[2:].split(": ", 1)[0]: line.split(": ", 1)[1]
        for line in lines
        if line.startswith("# ")
    }
    assert json.loads(comments["reference_layer"]) == "liver reference"
    assert json.loads(comments["prediction_layer"]) == "liver prediction"
    assert json.loads(comments["spacing"]) == list(SPACING)
    assert json.loads(comments["nsd_tolerance_mm"]) == 1.0
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert [r["label"] for r in rows] == ["1", "2", "mean", "pooled", "overall"]
    assert float(rows[0]["dice"]) == pytest.approx(result.report.per_label[1]["dice"])
    assert float(rows[4]["pixel_accuracy"]) == result.report.overall["pixel_accuracy"]
    assert json.loads(comments["hd_variant"]) == "directed_max"
    assert json.loads(comments["boundary_band_mm"]) == 1.0
    assert float(rows[2]["hd95"]) == pytest.approx(result.report.mean["hd95"])
    data = json.loads(widget.export_report(tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["metadata"]["prediction_layer"] == "liver prediction"
    assert data["rows"][1]["hd"] == pytest.approx(result.report.per_label[2]["hd"])


def test_2d_against_3d_is_refused(viewer):
    viewer.add_labels(np.ones((3, 8, 8), np.uint8), name="reference")
    viewer.add_labels(np.ones((8, 8), np.uint8), name="prediction")
    widget = EvaluationWidget(viewer)
    assert widget.prediction.value.name == "prediction"
    assert "3-D" in widget.status.value and "2-D" in widget.status.value
    assert widget.status.problem == widget.controls.last_error == widget.status.value
    assert not widget.controls.run_button.enabled
    assert widget.evaluate() is None and widget.result is None


def test_different_grids_refused_or_resampled(viewer, qtbot):
    ref = np.zeros((20, 20), np.uint8)
    ref[4:16, 4:16] = 1
    coarse = ref[::2, ::2]  # the same square on a 2 mm grid
    viewer.add_labels(ref, name="reference", scale=(1.0, 1.0))
    viewer.add_labels(coarse, name="prediction", scale=(2.0, 2.0), translate=(0.5, 0.5))
    widget = EvaluationWidget(viewer)
    widget.grids.value = "refuse"
    assert "spacing (1, 1) vs (2, 2) mm" in widget.status.value
    assert "origin" in widget.status.value and "shape" in widget.status.value
    assert widget.evaluate() is None
    widget.grids.value = "resample prediction"
    result = _run(widget, qtbot)
    assert "resampled (nearest neighbour)" in widget.status.value
    assert result.report.per_label[1]["dice"] == 1.0  # pixel centres map back exactly
    assert "resolution_mismatch" in {w.pitfall for w in result.report.warnings}


def test_auto_update_after_painting(viewer, qtbot):
    ref = np.zeros((12, 12), np.uint8)
    ref[3:9, 3:9] = 1
    viewer.add_labels(ref, name="reference")
    pred_layer = viewer.add_labels(ref.copy(), name="prediction")
    widget = EvaluationWidget(viewer)
    first = _run(widget, qtbot)
    assert first.report.per_label[1]["dice"] == 1.0
    widget.auto_update.value = True
    pred_layer.paint((10, 10), 1, refresh=True)
    qtbot.waitUntil(
        lambda: widget.result is not first and widget.result is not None, timeout=10000
    )
    qtbot.waitUntil(lambda: not widget.worker.is_running, timeout=5000)
    assert widget.result.report.per_label[1]["fp"] > 0


def test_overlay_label_switch_and_cdf_plot(viewer, qtbot):
    ref, pred = _two_label_volumes()
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    result = _run(widget, qtbot)
    assert result.overlay.label == 1
    widget.reset_choices()  # what napari does on every layer change once docked
    assert widget.overlay_label.value == 1 and 2 in widget.overlay_label.choices
    widget.overlay_label.value = 2
    qtbot.waitUntil(lambda: widget.result.overlay.label == 2, timeout=10000)
    qtbot.waitUntil(lambda: not widget.worker.is_running and not widget.drawing, timeout=5000)
    distance = viewer.layers["prediction boundary distance"]
    label2 = widget.result.report.per_label[2]
    sd = widget.result.overlay.distances
    assert max(sd.distances_pred_to_ref.max(), sd.distances_ref_to_pred.max()) == label2["hd"]
    assert widget.result.overlay.hd == label2["hd"] == pytest.approx(2.5)  # the missing slice
    drawn = ~np.isnan(distance.data)
    assert np.all((ref[drawn] == 2) | (pred[drawn] == 2))  # only label 2's boundaries
    # both directions: the reference's missing slice 6 shows on the reference boundary
    assert np.nanmax(distance.data[6]) == pytest.approx(2.5) and not np.any(pred[6] == 2)
    widget.plot_kind.value = "CDF"
    xs = [line.get_xdata()[0] for line in widget.plot.axes.get_lines()[-2:]]
    assert xs == pytest.approx([label2["hd95"], 1.0])


# ---- point-and-click quality (issue 11) --------------------------------------------------
def test_docked_panel_fits_with_advanced_closed(viewer, qtbot):
    viewer.add_labels(np.zeros((4, 8, 8), np.uint8), name="reference")
    widget = EvaluationWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    qtbot.wait(10)
    for hint in (dock.minimumSizeHint(), widget.native.minimumSizeHint()):
        assert hint.height() <= 600 and hint.width() <= 450, hint
    assert not widget.advanced.expanded and widget.inputs_section.expanded
    assert widget.beta in widget.advanced.body and widget.surface in widget.advanced.body


def test_table_opens_on_read_metrics_and_marks_stale_then_clears_on_refusal(viewer, qtbot):
    ref, pred = _two_label_volumes()
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="flat prediction")
    widget = EvaluationWidget(viewer)
    result = _run(widget, qtbot)
    table = widget.table
    assert table.visible_metrics() == [
        "dice", "iou", "boundary_iou", "hd95", "masd", "nsd", "reference_volume",
        "prediction_volume"
    ]  # fmt: skip
    assert table.cell_value("1", "reference_volume") == pytest.approx(
        result.report.per_label[1]["reference_volume"] / 1000
    )
    widget.show_all.value = True
    assert {"tp", "fp", "fn", "tn", "binary_accuracy", "mcc"} <= set(table.visible_metrics())
    widget.show_all.value = False
    assert not table.stale and "stale" not in widget.status.value
    widget.nsd_tolerance_mm.value = 2.0  # an input changes: the numbers are stale
    assert table.stale and "stale: inputs changed" in widget.status.value
    assert table.item(0, 2).foreground().color().name() == "#808080"
    widget.prediction.value = viewer.layers["flat prediction"]  # 3-D vs 2-D: refused
    assert widget.status.problem and "Refused" in widget.status.value
    assert widget.result is None and table.rowCount() == 0  # old numbers are gone
    assert not widget.jump_button.enabled


def test_plugin_outputs_pair_automatically(viewer):
    viewer.add_image(np.zeros((4, 4)), name="MNI152 T1")
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="MNI152 reference")
    widget = EvaluationWidget(viewer)
    assert widget.reference.value.name == "MNI152 reference"
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="MNI152 T1 threshold preview")
    assert widget.prediction.value is None or "preview" not in widget.prediction.value.name
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="MNI152 T1 threshold")
    assert widget.prediction.value.name == "MNI152 T1 threshold"
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="MNI152 T1 U-Net")
    assert widget.prediction.value.name == "MNI152 T1 U-Net"  # the newest result
    widget.prediction.value = viewer.layers["MNI152 T1 threshold"]  # the user's choice stays
    viewer.add_labels(np.zeros((4, 4), np.uint8), name="MNI152 T1 region growing")
    assert widget.prediction.value.name == "MNI152 T1 threshold"


def test_jump_zooms_and_marks_both_surface_points(viewer, qtbot):
    ref = np.zeros((10, 40, 40), np.uint8)
    ref[2:5, 4:12, 4:12] = 1
    ref[7, 16:19, 16:19] = 1  # a structure the prediction misses
    pred = ref.copy()
    pred[7] = 0
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    viewer.window.add_dock_widget(widget)
    result = _run(widget, qtbot)
    overlay = result.overlay
    assert overlay.hd_side == "reference" and overlay.hd_location[0] == 7
    # both directions drawn: the missed structure's boundary carries the Hausdorff distance
    distance = viewer.layers["prediction boundary distance"]
    assert np.nanmax(distance.data[7]) == pytest.approx(overlay.hd)
    viewer.dims.set_current_step(0, 0)
    zoom_before = viewer.scene.camera.zoom
    widget.jump_button.changed.emit(True)
    assert viewer.dims.current_step[0] == 7
    far = np.asarray(overlay.hd_location) * SPACING
    near = np.asarray(overlay.hd_partner) * SPACING
    # the segment fills 2/3 of the canvas, with at least 20 voxels in view
    span = max(1.5 * np.linalg.norm((far - near)[1:]), 20 * 0.8)
    assert viewer.scene.camera.zoom == pytest.approx(min(viewer.canvas.size) / span)
    assert viewer.scene.camera.zoom > zoom_before
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], ((far + near) / 2)[1:])
    # the markers follow in the next turns of the event loop
    qtbot.waitUntil(lambda: "prediction Hausdorff points" in viewer.layers, timeout=5000)
    points = viewer.layers["prediction Hausdorff points"]
    np.testing.assert_allclose(points.data, [overlay.hd_location, overlay.hd_partner])
    assert list(points.features["boundary"]) == ["reference", "prediction"]
    assert pred[tuple(np.round(overlay.hd_partner).astype(int))] == 1  # on the prediction
    qtbot.waitUntil(lambda: points.visible, timeout=5000)
    line = viewer.layers["prediction Hausdorff line"]  # napari vectors: start, projection
    np.testing.assert_allclose(line.data[0, 0], overlay.hd_location)
    np.testing.assert_allclose(line.data[0, 0] + line.data[0, 1], overlay.hd_partner)
    np.testing.assert_allclose(points.scale, SPACING)
    np.testing.assert_allclose(line.scale, SPACING)


def test_gallery_picker_shows_one_titled_case_and_replaces_overlays(viewer, qtbot):
    viewer.open_sample("napari-segtools", "metric_pitfalls")
    widget = EvaluationWidget(viewer)
    viewer.window.add_dock_widget(widget)
    picker = widget.picker
    assert picker.present and picker.shown == "size"

    def visible_cases():
        return {layer.metadata["pitfall_case"] for layer in viewer.layers if layer.visible}

    assert visible_cases() == {"size"}
    picker.case.value = "holes"
    assert visible_cases() == {"holes"}
    assert picker.title.value == "Holes: boundary metrics miss them"
    assert "hole inside the prediction" in picker.lesson.value
    assert viewer.canvas.overlays["text"].text == picker.title.value
    assert viewer.canvas.overlays["text"].visible
    assert widget.reference.value.name == "holes reference"
    assert widget.prediction.value.name == "holes prediction"
    assert "scale 1" not in widget.status.value
    # the camera is centred on the case
    holes = viewer.layers["holes reference"]
    centre = np.mean(holes.extent.world, axis=0)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], centre, atol=1.0)
    _run(widget, qtbot)
    count = len(viewer.layers)
    assert count == 2 * len(pitfall_cases()) + 2  # the error map and the boundary distance
    picker.next_button.changed.emit(True)
    assert picker.shown == "annotation noise" and visible_cases() == {"annotation noise"}
    _run(widget, qtbot)
    assert len(viewer.layers) == count  # the last case's overlays were replaced
    assert "holes prediction error map" not in viewer.layers
    for case in ("resolution", "anisotropy"):
        picker.case.value = case
        assert "scale 1" not in widget.status.value


def test_plot_follows_napari_theme(viewer, qtbot):
    from matplotlib.colors import to_rgb
    from napari.utils.theme import get_theme

    viewer.theme = "dark"
    widget = EvaluationWidget(viewer)
    for theme in ("dark", "light"):
        viewer.theme = theme
        canvas = to_rgb(get_theme(theme).canvas.as_hex())
        assert widget.plot.figure.get_facecolor()[:3] == pytest.approx(canvas, abs=0.01)
    assert to_rgb(get_theme("dark").canvas.as_hex()) != to_rgb(get_theme("light").canvas.as_hex())


def test_closing_the_dock_disconnects_every_event(viewer, qtbot):
    ref = np.zeros((12, 12), np.uint8)
    ref[3:9, 3:9] = 1
    viewer.add_labels(ref, name="reference")
    pred = viewer.add_labels(ref.copy(), name="prediction")
    emitters = [
        viewer.layers.events.inserted,
        viewer.layers.events.removed,
        viewer.layers.events.reordered,
        viewer.events.theme,
        pred.events.paint,
        pred.events.data,
        pred.events.name,
    ]
    before = [len(e.callbacks) for e in emitters]
    widget = EvaluationWidget(viewer)
    dock = viewer.window.add_dock_widget(widget)
    _run(widget, qtbot)
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(10)
    # napari's own reset_choices hook is napari's; every connection the panel made is gone
    after = [
        len([cb for cb in e.callbacks if getattr(cb, "__self__", None) is not widget])
        for e in emitters
    ]
    own = [
        len([cb for cb in e.callbacks if getattr(cb, "__self__", None) is widget])
        for e in emitters
    ]
    assert own == [0] * len(emitters), own
    assert after[-4:] == before[-4:]
    viewer.add_labels(ref, name="another")  # nothing raises afterwards
    viewer.theme = "light"
    pred.paint((10, 10), 1, refresh=True)
    pred.name = "renamed"


# ---- nothing silent, nothing lost (issue 12) ---------------------------------------------
def _evaluated_widget(viewer, qtbot):
    ref, pred = _two_label_volumes()
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    _run(widget, qtbot)
    return widget


def test_export_into_a_missing_folder_or_onto_a_folder_is_one_line(viewer, qtbot, tmp_path):
    widget = _evaluated_widget(viewer, qtbot)
    missing = tmp_path / "no such folder" / "report.csv"
    assert widget.save_report(missing) is None
    message = widget.status.problem
    assert message is not None and "\n" not in message
    assert str(missing) in message and "does not exist" in message
    folder = tmp_path / "report.json"
    folder.mkdir()
    assert widget.save_report(folder) is None
    assert str(folder) in widget.status.problem and "folder" in widget.status.problem
    assert folder.is_dir() and not any(folder.iterdir())
    written = widget.save_report(tmp_path / "ok.csv")
    assert written == tmp_path / "ok.csv" and widget.status.problem is None
    assert "Saved" in widget.status.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.csv", "report.json"]  # no partial


def test_export_into_a_read_only_folder_is_one_line(viewer, qtbot, tmp_path):
    import os

    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    widget = _evaluated_widget(viewer, qtbot)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert widget.save_report(locked / "report.csv") is None
        assert (
            "permission denied" in widget.status.problem and str(locked) in widget.status.problem
        )
        assert not any(locked.iterdir())
    finally:
        locked.chmod(0o700)


def test_cancel_of_the_mni152_sample_returns_within_2_s_and_adds_no_layer(viewer, qtbot):
    import time

    viewer.open_sample("napari-segtools", "mni152")
    reference = next(layer for layer in viewer.layers if layer.name.endswith("reference"))
    viewer.add_labels(
        np.roll(np.asarray(reference.data), 2, axis=-1),
        name="prediction",
        scale=reference.scale,
        translate=reference.translate,
    )
    widget = EvaluationWidget(viewer)
    widget.reference.value = reference
    widget.prediction.value = viewer.layers["prediction"]
    before = list(viewer.layers)
    widget.controls.run_button.native.click()
    worker = widget.worker
    assert worker is not None and widget.controls.cancel_button.enabled
    qtbot.wait(300)  # inside the engine's first label
    assert worker.is_running
    start = time.perf_counter()
    widget.controls.cancel_button.native.click()
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=2000)
    latency_s = time.perf_counter() - start
    print(f"cancel latency {1000 * latency_s:.0f} ms")
    assert latency_s < 2.0
    assert not widget._busy() and "cancelled" in widget.status.value
    qtbot.waitUntil(lambda: not worker.is_running, timeout=60000)  # its step, then it stops
    qtbot.wait(50)
    assert list(viewer.layers) == before and widget.result is None
    assert widget.output_layers() == []


def test_a_users_layer_named_like_an_overlay_is_never_touched(viewer, qtbot):
    ref, pred = _two_label_volumes()
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    painted = np.zeros((4, 4), np.uint16)
    painted[1, 1] = 7
    users = [
        viewer.add_labels(painted.copy(), name="prediction error map"),
        viewer.add_image(np.ones((3, 5), np.float32), name="prediction boundary distance"),
        viewer.add_points([[1.0, 2.0]], name="prediction Hausdorff points"),
    ]
    widget = EvaluationWidget(viewer)
    for _ in range(2):  # a first evaluation and a re-run that updates its own layers
        _run(widget, qtbot)
        widget.jump_button.changed.emit(True)
        qtbot.waitUntil(lambda: len(widget.output_layers()) == 4, timeout=5000)
    own = widget.output_layers()
    assert not any(layer in own for layer in users)
    assert {layer.name for layer in own} == {
        "prediction error map [1]",
        "prediction boundary distance [1]",
        "prediction Hausdorff points [1]",
        "prediction Hausdorff line",
    }
    widget.show_overlays.value = False
    _run(widget, qtbot)  # without overlays the panel removes its own layers only
    assert widget.output_layers() == []
    assert all(layer in viewer.layers for layer in users)
    np.testing.assert_array_equal(users[0].data, painted)
    np.testing.assert_array_equal(users[1].data, np.ones((3, 5), np.float32))
    np.testing.assert_array_equal(users[2].data, [[1.0, 2.0]])
    assert users[0].visible and users[1].visible and users[2].visible


def test_overlays_are_updated_in_place_on_a_re_run(viewer, qtbot):
    widget = _evaluated_widget(viewer, qtbot)
    widget.jump_button.changed.emit(True)
    qtbot.waitUntil(lambda: len(widget.output_layers()) == 4, timeout=5000)
    first = widget.output_layers()
    viewer.layers["prediction"].data[:] = 0  # a new prediction: empty
    viewer.layers["prediction"].data = viewer.layers["prediction"].data
    viewer.layers["prediction"].data[2:6, 4:12, 4:12] = 1
    _run(widget, qtbot)
    assert widget.output_layers() == first  # the same layer objects
    assert not viewer.layers["prediction Hausdorff points"].visible  # of the earlier overlay
    np.testing.assert_array_equal(viewer.layers["prediction error map"].data[2:6, 4:12, 4:12], 1)


@pytest.mark.parametrize(
    ("dtype", "big"), [(np.int32, 2**31 - 1), (np.uint64, 2**64 - 1)], ids=["int32", "uint64"]
)
def test_label_ids_of_any_size(viewer, qtbot, dtype, big):
    ref = np.zeros((6, 12, 12), dtype)
    ref[1:5, 2:8, 2:8] = big
    ref[2:4, 9:11, 9:11] = 3
    pred = np.roll(ref, 1, axis=-1)
    viewer.add_labels(ref, name="reference", scale=SPACING)
    viewer.add_labels(pred, name="prediction", scale=SPACING)
    widget = EvaluationWidget(viewer)
    widget.all_labels.value = False
    assert list(widget.label_ids.choices) == [3, big]
    widget.all_labels.value = True
    result = _run(widget, qtbot)
    expected = evaluate(ref, pred, spacing=SPACING)
    assert list(result.report.per_label) == [3, big]
    assert result.report.per_label[big]["dice"] == pytest.approx(expected.per_label[big]["dice"])
    errors = viewer.layers["prediction error map"].data
    assert errors.dtype == np.uint8 and errors[2, 4, 4] == 1 and errors[2, 4, 2] == 3
    widget.overlay_label.value = big
    qtbot.waitUntil(lambda: widget.result.overlay.label == big, timeout=10000)
    assert widget.result.overlay.hd == pytest.approx(expected.per_label[big]["hd"])
    widget.jump_button.changed.emit(True)
    qtbot.waitUntil(lambda: "prediction Hausdorff points" in viewer.layers, timeout=5000)
