"""Region growing widget: seeds through the Points layer, real controls, a real sample slice."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest

from napari_segtools._qt.region_growing_widget import RegionGrowingWidget
from napari_segtools.core.region_growing import (
    auto_range,
    confidence_connected,
    connected_threshold,
)

SLICES = importlib.resources.files("napari_segtools") / "sample_images" / "itk_brain_slices"
WM, VENTRICLE = (116, 60), (112, 81)  # the ITK guide's seeds (x, y) = (60, 116), (81, 112)


@pytest.fixture
def pd_slice():
    from PIL import Image

    return np.array(Image.open(SLICES / "BrainProtonDensitySlice.png"))


def wait_for_output(qtbot, widget, name, timeout=10000):
    """Wait until the widget's worker has finished and its output layer exists."""
    viewer = widget.viewer
    qtbot.waitUntil(
        lambda: (
            widget.worker is not None
            and widget.controls.run_button.enabled
            and name in viewer.layers
        ),
        timeout=timeout,
    )
    return viewer.layers[name]


def click_run(widget):
    widget.controls.run_button.native.click()


def test_connected_threshold_on_the_pd_slice(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD", scale=(0.9, 1.2), translate=(4.0, -2.0))
    widget = RegionGrowingWidget(viewer)
    points = viewer.layers["PD seeds"]
    assert viewer.layers.selection.active is points and points.mode == "add"
    widget.method.value = "connected"
    assert not widget.lower.native.isHidden() and widget.sigma_mm.native.isHidden()
    widget.lower.value, widget.upper.value = 150, 180
    points.add([WM])
    assert list(points.features["label"]) == [1]
    click_run(widget)
    out = wait_for_output(qtbot, widget, "PD region growing")
    expected = connected_threshold(pd_slice, [WM], lower=150, upper=180)
    np.testing.assert_array_equal(out.data, expected.astype(np.uint8))
    assert int(out.data.sum()) == 8998  # the data README's unsmoothed white-matter count
    np.testing.assert_allclose(out.scale, (0.9, 1.2))
    np.testing.assert_allclose(out.translate, (4.0, -2.0))
    assert "label 1: 8998 voxels" in widget.status.value

    # a second label keeps the first: ventricle as label 2
    widget.seed_label.value = 2
    points.add([VENTRICLE])
    assert list(points.features["label"]) == [1, 2]
    widget.lower.value, widget.upper.value = 210, 250
    click_run(widget)
    qtbot.waitUntil(lambda: (viewer.layers["PD region growing"].data == 2).any(), timeout=10000)
    out = viewer.layers["PD region growing"]
    assert (out.data == 1).sum() == 8998 and (out.data == 2).sum() == 1272


def test_seed_outside_range_and_leak_guard_are_messages(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD")
    widget = RegionGrowingWidget(viewer)
    widget.method.value = "connected"
    viewer.layers["PD seeds"].add([VENTRICLE])
    widget.lower.value, widget.upper.value = 150, 180
    click_run(widget)
    qtbot.waitUntil(lambda: "outside the range" in widget.status.value, timeout=10000)
    assert "PD region growing" not in viewer.layers
    widget.lower.value, widget.upper.value = 0, 255
    widget.max_fraction.value = 0.3
    click_run(widget)
    qtbot.waitUntil(lambda: "leak guard" in widget.status.value, timeout=10000)
    assert "above the limit of 30%" in widget.status.value
    assert widget.controls.last_error == widget.status.value  # inline, as a user mistake
    assert "PD region growing" not in viewer.layers


def test_missing_seeds_are_refused_inline(make_napari_viewer, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD")
    widget = RegionGrowingWidget(viewer)
    assert widget.method.value == "competitive"
    viewer.layers["PD seeds"].add([WM])  # one label only; the automatic re-run refuses too
    click_run(widget)
    assert widget.worker is None
    assert (
        widget.controls.last_error
        == "Add seeds of at least two labels in the image (e.g. background)."
    )
    widget.method.value = "connected"
    widget.seed_label.value = 4
    click_run(widget)
    assert widget.controls.last_error == "Add a seed of label 4 in the image."
    assert "PD region growing" not in viewer.layers


def test_competitive_growth_reruns_when_seeds_change(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD", scale=(1.0, 1.0))
    widget = RegionGrowingWidget(viewer)
    assert widget.method.value == "competitive"
    points = viewer.layers["PD seeds"]
    points.add([WM])
    widget.seed_label.value = 2
    points.add([VENTRICLE])
    widget.seed_label.value = 3
    points.add([(5, 5)])  # background
    out = wait_for_output(qtbot, widget, "PD region growing")
    assert out.data[WM] == 1 and out.data[VENTRICLE] == 2 and out.data[0, 0] == 3
    first = out.data.copy()
    # moving the background seed into the ventricle re-runs automatically
    points.data = np.array([WM, VENTRICLE, (112, 84)], dtype=float)
    qtbot.waitUntil(
        lambda: not np.array_equal(viewer.layers["PD region growing"].data, first), timeout=10000
    )
    assert viewer.layers["PD region growing"].data[0, 0] != 3


def test_3d_mode_and_current_slice_on_anisotropic_volume(make_napari_viewer, qtbot, make_ball):
    spacing = (2.5, 0.8, 0.8)
    inner = make_ball((12, 30, 30), (6, 15, 15), 6.0, spacing)
    volume = np.where(inner, 100, 0).astype(np.int16)
    viewer = make_napari_viewer()
    viewer.add_image(volume, name="vol", scale=spacing)
    widget = RegionGrowingWidget(viewer)
    widget.method.value = "connected"
    widget.mode.value = 3
    assert widget.connectivity.choices == (1, 2, 3)
    widget.connectivity.value = 3
    widget.lower.value, widget.upper.value = 50, 150
    viewer.layers["vol seeds"].add([(6, 15, 15)])
    click_run(widget)
    out = wait_for_output(qtbot, widget, "vol region growing")
    np.testing.assert_array_equal(out.data, inner.astype(np.uint8))
    np.testing.assert_allclose(out.scale, spacing)

    # 2D mode: only the slice shown in the viewer changes
    viewer.layers.remove(out)
    widget.mode.value = 2
    viewer.dims.set_current_step(0, 6)
    click_run(widget)
    out = wait_for_output(qtbot, widget, "vol region growing")
    expected = np.zeros_like(inner)
    expected[6] = inner[6]
    np.testing.assert_array_equal(out.data, expected.astype(np.uint8))


def test_confidence_and_auto_range_methods(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD")
    widget = RegionGrowingWidget(viewer)
    viewer.layers["PD seeds"].add([WM])
    widget.method.value = "confidence"
    assert widget.iterations.native.isHidden() is False
    widget.multiplier.value, widget.iterations.value, widget.radius.value = 2.5, 5, 2
    click_run(widget)
    out = wait_for_output(qtbot, widget, "PD region growing")
    expected = confidence_connected(
        pd_slice, [WM], multiplier=2.5, iterations=5, initial_radius_voxels=2, max_fraction=None
    )
    np.testing.assert_array_equal(out.data, expected.astype(np.uint8))

    widget.method.value = "connected"
    widget.auto_range.value = True
    assert not widget.lower.enabled
    widget.radius.value, widget.multiplier.value = 2, 1.5
    before = out.data.copy()
    click_run(widget)
    qtbot.waitUntil(
        lambda: not np.array_equal(viewer.layers["PD region growing"].data, before), timeout=10000
    )
    low, high = auto_range(pd_slice, [WM], radius_voxels=2, multiplier=1.5)
    assert widget.lower.value == pytest.approx(low, abs=0.01)
    expected = connected_threshold(
        pd_slice, [WM], lower=widget.lower.value, upper=widget.upper.value
    )
    np.testing.assert_array_equal(
        viewer.layers["PD region growing"].data, expected.astype(np.uint8)
    )
