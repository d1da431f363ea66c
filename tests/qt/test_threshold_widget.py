"""Threshold widget driven through its real controls on the real head CT and on phantoms."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from napari.layers import Labels

from napari_segtools._qt.threshold_widget import ThresholdWidget
from napari_segtools.core.cleanup import clean_mask
from napari_segtools.core.phantoms import phantom
from napari_segtools.core.threshold import auto_threshold, local_threshold, threshold_labels


@pytest.fixture(scope="module")
def ct_head():
    from napari_segtools.core.io import read_image

    folder = importlib.resources.files("napari_segtools") / "sample_images" / "ct_head_invesalius"
    ct, geometry = read_image(folder / "ct_head_0051.nii.gz")
    bone, _ = read_image(folder / "ct_head_0051_bone_mask.nii.gz")
    return ct, bone.astype(bool), geometry.spacing


@pytest.fixture
def ct_widget(make_napari_viewer, ct_head):
    ct, _, spacing = ct_head
    viewer = make_napari_viewer()
    viewer.add_image(ct, scale=spacing, translate=(5.0, -3.0, 2.0), name="ct")
    return viewer, ThresholdWidget(viewer)


def _apply(widget, qtbot):
    widget.controls.run_button.native.click()
    assert widget.worker is not None, widget.status.value
    # the Run button comes back in the worker's `finished` handler (after `returned`); waiting on
    # it cannot miss a fast worker the way connecting to `finished` after start() can
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=30000)
    assert widget.controls.last_error is None, widget.controls.last_error


def test_manual_range_gives_the_exact_invesalius_bone_mask(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    ct, bone, spacing = ct_head
    assert widget.image.value.name == "ct"
    assert widget.range.range == (-1024.0, 2986.0)  # follows the image
    widget.range.value = (226.0, 2986.0)  # 2986 is the CT's maximum, so this is 226..3071
    assert widget.histogram.drawn == (226.0, 2986.0)
    _apply(widget, qtbot)
    out = viewer.layers["ct threshold"]
    assert isinstance(out, Labels) and out.data.dtype == np.uint8
    np.testing.assert_array_equal(out.data, bone.astype(np.uint8))
    np.testing.assert_allclose(out.scale, spacing)
    np.testing.assert_allclose(out.translate, (5.0, -3.0, 2.0))
    assert "475759 labelled voxels" in widget.status.value
    assert "ct threshold preview" not in viewer.layers  # preview switched off after Apply


def test_preview_shows_the_current_slice(ct_widget, ct_head):
    viewer, widget = ct_widget
    ct, bone, _ = ct_head
    viewer.dims.set_current_step(0, 60)
    widget.range.value = (226.0, 2986.0)
    widget.update_preview()
    preview = viewer.layers["ct threshold preview"]
    np.testing.assert_array_equal(preview.data[60], bone[60])
    assert preview.data.sum() == bone[60].sum()  # only the slice on screen is computed
    viewer.dims.set_current_step(0, 20)
    widget.update_preview()
    assert preview.data.sum() == bone[20].sum() and not preview.data[60].any()


def test_local_preview_slab_equals_the_volume_result(ct_widget, ct_head):
    viewer, widget = ct_widget
    ct, _, spacing = ct_head
    viewer.dims.set_current_step(0, 54)
    widget.method.value = "local"
    assert not widget.block_mm.native.isHidden() and not widget.offset.native.isHidden()
    widget.block_mm.value = 12.0
    widget.offset.value = -20.0
    widget.range.value = (-200.0, 2986.0)
    widget.update_preview()
    expected = (ct > local_threshold(ct, spacing=spacing, block_size_mm=12.0, offset=-20.0)) & (
        ct >= -200
    )
    np.testing.assert_array_equal(viewer.layers["ct threshold preview"].data[54], expected[54])


def test_otsu_on_current_slice_writes_only_that_slice(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    ct, _, _ = ct_head
    viewer.dims.set_current_step(0, 50)
    widget.scope.value = "slice"
    widget.method.value = "otsu"
    t = auto_threshold(ct[50], method="otsu")
    assert widget.range.value == (t, 2986.0) or widget.range.value[0] == pytest.approx(t)
    assert "otsu threshold" in widget.status.value
    widget.output.label_value.value = 7
    _apply(widget, qtbot)
    out = viewer.layers["ct threshold"].data
    high = widget.range.value[1]
    np.testing.assert_array_equal(out[50], np.where((ct[50] >= t) & (ct[50] <= high), 7, 0))
    assert out.sum() == out[50].sum()


def test_multi_otsu_gives_k_labels(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    ct, _, _ = ct_head
    widget.method.value = "multiotsu"
    assert not widget.classes.native.isHidden()
    widget.classes.value = 3
    thresholds = auto_threshold(ct, method="multiotsu", classes=3)
    assert widget.histogram.drawn == thresholds
    widget.output.label_value.value = 2
    _apply(widget, qtbot)
    out = viewer.layers["ct threshold"].data
    np.testing.assert_array_equal(out, threshold_labels(ct, thresholds, first_label=2))
    assert set(np.unique(out)) == {2, 3, 4}


def test_write_into_chosen_layer_only_empty_then_undo(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    ct, bone, _ = ct_head
    existing = np.zeros(ct.shape, np.uint8)
    existing[40:60] = 9
    seg = viewer.add_labels(existing.copy(), name="seg", scale=viewer.layers["ct"].scale)
    widget.output.target.value = seg
    widget.output.mode.value = "empty"
    widget.range.value = (226.0, 2986.0)
    _apply(widget, qtbot)
    expected = existing.copy()
    expected[bone & (existing == 0)] = 1
    np.testing.assert_array_equal(seg.data, expected)
    assert "ct threshold" not in viewer.layers
    assert widget.output.undo_button.enabled
    widget.output.undo_button.native.click()
    np.testing.assert_array_equal(seg.data, existing)
    assert not widget.output.undo_button.enabled


def test_cleanup_options_match_the_core(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    ct, bone, spacing = ct_head
    widget.range.value = (226.0, 2986.0)
    widget.cleanup.min_size_mm3.value = 50.0
    widget.cleanup.fill_holes.value = 0
    widget.cleanup.keep.value = "largest"
    _apply(widget, qtbot)
    steps = [
        ("remove_small", {"min_size_mm3": 50.0}),
        ("fill_holes", {"axis": 0}),
        ("keep_largest", {}),
    ]
    expected = clean_mask(bone, spacing=spacing, steps=steps)
    np.testing.assert_array_equal(viewer.layers["ct threshold"].data, expected.astype(np.uint8))


def test_keep_components_at_points_on_a_phantom(make_napari_viewer, qtbot):
    image, truth = phantom(shape=(12, 48, 48), spacing=(2.5, 0.8, 0.8), noise=0.0)
    viewer = make_napari_viewer()
    viewer.add_image(image, scale=(2.5, 0.8, 0.8), name="phantom")
    widget = ThresholdWidget(viewer)
    widget.range.value = (40.0, 60.0)  # the lesion (label 3) only... plus nothing else at 0 noise
    widget.cleanup.keep.value = "touching"
    assert not widget.cleanup.points.native.isHidden()
    centre = np.argwhere(truth == 3).mean(axis=0)
    points = viewer.add_points([centre * (2.5, 0.8, 0.8)], name="keep")  # world coordinates
    points.scale = (1, 1, 1)
    widget.cleanup.points.value = points
    _apply(widget, qtbot)
    np.testing.assert_array_equal(
        viewer.layers["phantom threshold"].data, (truth == 3).astype(np.uint8)
    )


def test_errors_are_one_line_messages(ct_widget, qtbot):
    viewer, widget = ct_widget
    small = viewer.add_labels(np.zeros((4, 4), np.uint8), name="small")
    widget.output.target.value = small
    widget.controls.run_button.native.click()
    assert widget.worker is None
    assert "has shape (4, 4)" in widget.status.value
    assert widget.controls.last_error == widget.status.value  # said inline, as a user mistake
    widget.output.target.value = None
    widget.method.value = "minimum"
    assert "not bimodal" in widget.status.value
    widget.method.value = "manual"
    widget.cleanup.keep.value = "touching"  # no Points layer yet
    widget.controls.run_button.native.click()
    assert widget.worker is None
    assert "needs at least one point" in widget.status.value


def test_pickers_offer_layers_by_type(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.float32), name="img")
    viewer.add_image(np.zeros((8, 8, 3), np.uint8), name="rgb", rgb=True)
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="seg")
    viewer.add_points([[1, 1]], name="pts")
    widget = ThresholdWidget(viewer)
    assert [layer.name for layer in widget.image.choices] == ["img"]
    assert [c.name for c in widget.output.target.choices if c is not None] == ["seg"]
    assert [layer.name for layer in widget.cleanup.points.choices if layer is not None] == ["pts"]
