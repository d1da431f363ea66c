"""The Segments dock on real layers: table edits, statistics, effects with undo, and files."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Labels
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QColorDialog

from napari_segtools._qt.segments_widget import UPDATING, SegmentsWidget
from napari_segtools.core.geometry import Geometry, layer_geometry, layer_kwargs
from napari_segtools.core.io import read_image, write_image
from napari_segtools.core.segments import effects
from napari_segtools.core.segments.editable import editable_area
from napari_segtools.core.segments.mesh import export_meshes
from napari_segtools.core.segments.source_grid import (
    SOURCE_GRID_KEY,
    SourceGrid,
    write_on_source_grid,
)
from napari_segtools.core.segments.statistics import segment_statistics

WM = 2  # MNI152 reference: 1 grey matter, 2 white matter


def _idle(qtbot, widget) -> None:
    """Wait for the dock's workers (and the debounced recount) to finish."""
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)


def _dock(viewer, qtbot, layer) -> SegmentsWidget:
    viewer.layers.selection.active = layer
    widget = SegmentsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Segments")
    qtbot.waitUntil(lambda: not widget.stale, timeout=60_000)
    return widget


@pytest.fixture
def mni(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", "mni152")
    layer = next(layer for layer in viewer.layers if isinstance(layer, Labels))
    return viewer, layer, _dock(viewer, qtbot, layer)


def _small(viewer, qtbot):
    """A 3-label box phantom on an anisotropic grid (0.5 x 1 x 2 mm); label 3 in two islands."""
    labels = np.zeros((12, 16, 20), np.uint8)
    labels[2:10, 3:13, 4:16] = 1
    labels[4:8, 6:10, 8:12] = 2
    labels[0:2, 0:2, 0:2] = 3
    labels[10:12, 14:16, 18:20] = 3  # a second island of label 3
    layer = viewer.add_labels(labels, scale=(0.5, 1.0, 2.0), name="boxes")
    return layer, _dock(viewer, qtbot, layer)


def _select(widget, value: int) -> None:
    widget.table.selectRow(widget.table.row_of(value))


def test_mni152_rename_recolour_statistics_islands_margin_undo(mni, qtbot, monkeypatch):
    viewer, layer, widget = mni
    original = np.array(layer.data, copy=True)
    geometry = layer_geometry(layer)
    assert widget.table.values == [1, WM]
    assert widget.table.text(WM, "Voxels") == f"{int(np.sum(original == WM)):,}".replace(",", " ")
    # rename in place: the hover name follows
    widget.table.item(widget.table.row_of(WM), 1).setText("cerebral white matter")
    voxel = tuple(int(i) for i in np.argwhere(original == WM)[0])
    world = tuple(layer.data_to_world(voxel))
    viewer.dims.set_point(0, world[0])  # the slice of that voxel, as a user hovering it
    assert layer.get_value(world, world=True) == WM
    assert "cerebral white matter" in str(layer.get_status(world, world=True))
    # recolour through the swatch (the colour dialog answers teal)
    monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: QColor(0, 128, 128))
    widget.table.cellWidget(widget.table.row_of(WM), 2).click()
    np.testing.assert_allclose(layer.colormap.color_dict[WM], (0, 128 / 255, 128 / 255, 1), 1e-6)
    # hide then show: alpha 0, then the same colour again
    widget.table.item(widget.table.row_of(WM), 3).setCheckState(Qt.CheckState.Unchecked)
    assert layer.colormap.color_dict[WM][3] == 0
    widget.table.item(widget.table.row_of(WM), 3).setCheckState(Qt.CheckState.Checked)
    np.testing.assert_allclose(layer.colormap.color_dict[WM], (0, 128 / 255, 128 / 255, 1), 1e-6)
    # statistics equal the core's on the same arrays; WM is 632 004 voxels of 1 mm^3
    widget.stats_controls.run_button.native.click()
    _idle(qtbot, widget)
    expected = segment_statistics(original, geometry=geometry)
    assert widget.statistics.row(WM) == expected.row(WM)
    assert widget.statistics.row(WM)["volume_ml"] == pytest.approx(632.004)
    # islands: keep the largest island of WM, as the core does
    _select(widget, WM)
    assert layer.selected_label == WM
    widget.effects.effect.value = "keep_largest"
    widget.controls.run_button.native.click()
    _idle(qtbot, widget)
    after_islands = effects.keep_largest_island(original, WM)
    np.testing.assert_array_equal(layer.data, after_islands)
    changed = int(np.sum(after_islands != original))
    assert widget.status.value == (
        f"keep largest island on 'cerebral white matter': {changed:,} voxels changed "
        "(Ctrl+Z undoes)".replace(",", " ")
    )
    assert widget.table.text(WM, "Islands") == "1"
    # margin +1 mm: the core's margin on the same array
    widget.effects.effect.value = "margin"
    widget.effects.margin_mm.value = 1.0
    widget.controls.run_button.native.click()
    _idle(qtbot, widget)
    after_margin = effects.margin(after_islands, WM, margin_mm=1.0, spacing=geometry.spacing)
    np.testing.assert_array_equal(layer.data, after_margin)
    assert widget.status.value.startswith("margin +1 mm on 'cerebral white matter': ")
    # undo twice (Ctrl+Z): bit for bit the sample again, and the table follows
    layer.undo()
    np.testing.assert_array_equal(layer.data, after_islands)
    layer.undo()
    np.testing.assert_array_equal(layer.data, original)
    qtbot.waitUntil(lambda: widget.table.text(WM, "Islands") != "1", timeout=30_000)
    _idle(qtbot, widget)
    components = {s.value: s.components for s in widget.summary}
    assert widget.table.text(WM, "Islands") == str(components[WM]) != "1"
    assert widget.statistics_stale  # the shown statistics belong to the first array
    assert widget.export_statistics("unused.csv") is None


def test_locked_segment_is_refused_and_editable_area_honoured(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer, widget = _small(viewer, qtbot)
    before = np.array(layer.data, copy=True)
    _select(widget, 2)
    widget.table.item(widget.table.row_of(2), 4).setCheckState(Qt.CheckState.Checked)
    assert layer.metadata["locked_segments"] == [2]
    widget.effects.effect.value = "margin"
    widget.effects.margin_mm.value = 2.0
    assert widget.apply() is None
    assert "locked" in widget.status.problem and "Nothing was changed" in widget.status.problem
    np.testing.assert_array_equal(layer.data, before)
    # label 1 grown where an image on the same grid is bright (the left part) only
    bright = np.zeros(before.shape, np.float32)
    bright[..., :10] = 1.0
    viewer.add_image(bright, scale=(0.5, 1.0, 2.0), name="bright left")
    _select(widget, 1)
    area = widget.effects.area
    area.use_intensity.value = True
    area.image.reset_choices()
    area.image.value = viewer.layers["bright left"]
    area.low.value, area.high.value = 0.5, 2.0
    widget.controls.run_button.native.click()
    _idle(qtbot, widget)
    spacing = (0.5, 1.0, 2.0)
    editable = editable_area(before, image=bright, intensity_range=(0.5, 2.0), locked=(2,))
    expected = effects.margin(before, 1, margin_mm=2.0, spacing=spacing, editable=editable)
    np.testing.assert_array_equal(layer.data, expected)
    grown = (np.asarray(layer.data) == 1) & (before == 0)
    assert grown.any() and not grown[..., 10:].any()
    everywhere = effects.margin(before, 1, margin_mm=2.0, spacing=spacing)
    assert ((everywhere == 1) & (before == 0))[..., 10:].any()  # the area did hold it back
    # an unknown label, a wrong-grid image, a cursor off the segment: one line each
    layer.selected_label = 7
    assert widget.apply() is None
    assert widget.status.problem.startswith("Label 7 has no voxels in 'boxes'")
    viewer.add_image(np.zeros((5, 5, 5), np.float32), name="other grid")
    widget.stats_image.reset_choices()
    widget.stats_image.value = viewer.layers["other grid"]
    assert widget.compute_statistics() is None
    assert "shape (5, 5, 5)" in widget.stats_controls.status.problem
    layer.selected_label = 3
    area.use_intensity.value = False
    widget.effects.effect.value = "keep_selected"
    viewer.cursor.position = tuple(layer.data_to_world((6, 8, 10)))  # inside label 2
    assert widget.apply() is None
    assert widget.status.problem.startswith("Point the mouse at an island of 'label 3'")
    viewer.cursor.position = tuple(layer.data_to_world((1, 1, 1)))
    kept = np.array(layer.data, copy=True)
    widget.controls.run_button.native.click()
    _idle(qtbot, widget)
    np.testing.assert_array_equal(layer.data, effects.keep_selected_island(kept, 3, (1, 1, 1)))
    assert widget.status.value == (
        "keep island at voxel (1, 1, 1) on 'label 3': 8 voxels changed (Ctrl+Z undoes)"
    )
    assert widget.table.text(3, "Islands") == "1"


def test_save_on_source_grid_equals_core_and_dicom_seg_refused(
    make_napari_viewer, qtbot, tmp_path
):
    # a NIfTI whose file grid differs from the display grid (axes flipped by the reader)
    stored = Geometry((2.0, 1.0, 0.5), origin=(10.0, -5.0, 3.0), direction=np.diag([1, -1, 1]))
    image = np.arange(6 * 8 * 10, dtype=np.int16).reshape(6, 8, 10)
    write_image(tmp_path / "head.nii.gz", image, stored)
    viewer = make_napari_viewer()
    (head,) = viewer.open(tmp_path / "head.nii.gz", plugin="napari-segtools")
    assert SOURCE_GRID_KEY in head.metadata
    geometry = layer_geometry(head)
    labels = np.zeros(head.data.shape, np.uint8)
    labels[1:3, 2:5, 3:9] = 1
    labels[3:5, 1:2, 0:4] = 2
    layer = viewer.add_labels(labels, name="mask", **layer_kwargs(geometry))
    widget = _dock(viewer, qtbot, layer)
    widget.set_color(1, (1.0, 0.0, 0.0))
    widget.rename(1, "tumour")
    assert widget.files.source.value is head  # the image the mask was drawn on, by default
    widget.save_on_source_grid(tmp_path / "mask.nii.gz")
    _idle(qtbot, widget)
    assert widget.file_controls.status.problem is None, widget.file_controls.status.problem
    expected = write_on_source_grid(
        tmp_path / "expected.nii.gz",
        labels,
        geometry,
        source=SourceGrid.from_metadata(head.metadata[SOURCE_GRID_KEY]),
        segments=widget._segments(),
    )
    ours, our_grid = read_image(tmp_path / "mask.nii.gz")
    theirs, their_grid = read_image(expected)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.shape == image.shape and our_grid.spacing == their_grid.spacing
    np.testing.assert_allclose(our_grid.direction, stored.direction)
    label_file = (tmp_path / "mask.label.txt").read_text(encoding="utf-8")
    (line,) = [line for line in label_file.splitlines() if line.endswith('"tumour"')]
    assert line.split()[:4] == ["1", "255", "0", "0"]
    # meshes: the core's files, byte for byte
    for folder in ("ours", "core"):
        (tmp_path / folder).mkdir()
    widget.export_meshes(tmp_path / "ours", fmt="obj", coordinates="RAS")
    _idle(qtbot, widget)
    core = export_meshes(
        tmp_path / "core",
        labels,
        geometry=geometry,
        fmt="obj",
        coordinates="RAS",
        segments=widget._segments(),
    )
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == sorted(p.name for p in core)
    assert sorted(p.name for p in core) == ["label_2.obj", "tumour.obj"]
    for path in core:
        assert (tmp_path / "ours" / path.name).read_bytes() == path.read_bytes()
    # DICOM SEG from a NIfTI source: one clear line, no file, button disabled
    assert not widget.files.dicom_button.enabled
    assert widget.save_dicom_seg(tmp_path / "mask.dcm") is None
    assert widget.file_controls.status.problem == (
        "DICOM SEG needs an image read from DICOM, but 'head' came from the file head.nii.gz; "
        "use Save on source grid instead."
    )
    assert not (tmp_path / "mask.dcm").exists()


def test_table_is_marked_updating_until_recounted(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    layer, widget = _small(viewer, qtbot)
    assert widget.table.text(1, "Voxels") == str(8 * 10 * 12 - 4 * 4 * 4)
    layer.paint((6, 8, 10), 1, refresh=True)  # a brush stroke (radius 1) over label 2
    assert widget.stale and widget.count_controls.status.value == UPDATING
    _idle(qtbot, widget)
    assert widget.table.text(2, "Voxels") == str(int(np.sum(np.asarray(layer.data) == 2)))
    assert widget.table.text(2, "ml") == f"{np.sum(np.asarray(layer.data) == 2) * 1e-3:.2f}"


def test_dicom_seg_of_a_dicom_source_equals_core(make_napari_viewer, qtbot, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    pytest.importorskip("highdicom")
    from napari_segtools.core.samples import sample_path
    from napari_segtools.core.segments.dicom_seg import write_dicom_seg

    viewer = make_napari_viewer()
    source = sample_path("dicom_pydicom", "CT_small.dcm")
    (ct,) = viewer.open(str(source), plugin="napari-segtools")
    labels = np.zeros(ct.data.shape, np.uint8)
    labels[..., 30:60, 40:90] = 1
    layer = viewer.add_labels(labels, name="lesion", **layer_kwargs(layer_geometry(ct)))
    widget = _dock(viewer, qtbot, layer)
    widget.rename(1, "lesion")
    assert widget.files.source.value is ct
    assert widget.files.dicom_button.enabled
    widget.save_dicom_seg(tmp_path / "ours.dcm")
    _idle(qtbot, widget)
    assert widget.file_controls.status.problem is None, widget.file_controls.status.problem
    core = write_dicom_seg(
        tmp_path / "core.dcm",
        labels,
        source=str(source),
        geometry=layer_geometry(layer),
        segments=widget._segments(),
    )
    ours, theirs = pydicom.dcmread(tmp_path / "ours.dcm"), pydicom.dcmread(core)
    np.testing.assert_array_equal(ours.pixel_array, theirs.pixel_array)
    assert int(np.count_nonzero(ours.pixel_array)) == 30 * 50
    assert [s.SegmentLabel for s in ours.SegmentSequence] == ["lesion"]


def test_statistics_with_an_image_export_the_core_csv(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    layer, widget = _small(viewer, qtbot)
    assert widget.export_statistics(tmp_path / "early.csv") is None  # nothing computed yet
    assert widget.stats_controls.status.problem.startswith("Nothing to export yet")
    ramp = np.arange(layer.data.size, dtype=np.float32).reshape(layer.data.shape)
    viewer.add_image(ramp, scale=(0.5, 1.0, 2.0), name="ramp")
    widget.stats_image.reset_choices()
    widget.stats_image.value = viewer.layers["ramp"]
    widget.compute_statistics()
    _idle(qtbot, widget)
    expected = segment_statistics(
        np.asarray(layer.data), geometry=layer_geometry(layer), image=ramp
    )
    assert widget.statistics.row(2)["mean"] == pytest.approx(np.mean(ramp[layer.data == 2]))
    assert widget.statistics.row(2)["volume_ml"] == pytest.approx(4 * 4 * 4 * 0.5 * 1 * 2 / 1000)
    assert widget.stats_table.rowCount() == 3
    written = widget.export_statistics(tmp_path / "stats.csv")
    core = expected.write_csv(tmp_path / "core.csv")
    assert written.read_text(encoding="utf-8") == core.read_text(encoding="utf-8")
    assert widget.stats_controls.status.value == f"Saved {written}"
