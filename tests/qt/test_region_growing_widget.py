"""Region growing widget: seeds through the Points layer, real controls, a real sample slice."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from qtpy.QtTest import QTest
from tests.qt.stall import StallMeter

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


def press_add_seeds(widget):
    """Press "Add seeds" like a user; return the image's seeds layer."""
    widget.add_seeds.native.click()
    assert widget.add_seeds.value
    points = widget.seeds_layer
    for _ in range(200):  # a new seeds layer is shown (and put in add mode) a turn later
        if points.visible:
            break
        QTest.qWait(5)
    assert points.visible
    return points


def test_connected_threshold_on_the_pd_slice(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD", scale=(0.9, 1.2), translate=(4.0, -2.0))
    widget = RegionGrowingWidget(viewer)
    points = press_add_seeds(widget)
    assert points.name == "PD seeds"
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
    assert "segment 1: 8998 voxels" in widget.status.value

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
    press_add_seeds(widget).add([VENTRICLE])
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
    press_add_seeds(widget).add([WM])  # one label only; the automatic re-run refuses too
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
    points = press_add_seeds(widget)
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
    press_add_seeds(widget).add([(6, 15, 15)])
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
    press_add_seeds(widget).add([WM])
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


# ------------------------------------------------------------- point-and-click quality


def _brain_slice_viewer(make_napari_viewer, **kwargs):
    from napari_segtools._sample_data import brain_slice

    viewer = make_napari_viewer(**kwargs)
    for data, meta, kind in brain_slice():
        getattr(viewer, f"add_{kind}")(data, **meta)
    return viewer, viewer.layers["brain PD slice"]


def test_opening_changes_no_mode_and_results_go_under_coloured_seeds(make_napari_viewer, qtbot):
    viewer, image = _brain_slice_viewer(make_napari_viewer)
    user = viewer.add_points(np.empty((0, 2)), name="my points")
    assert viewer.layers.selection.active is user and user.mode == "pan_zoom"
    names = [layer.name for layer in viewer.layers]
    widget = RegionGrowingWidget(viewer)
    widget.image.value = image
    assert [layer.name for layer in viewer.layers] == names  # nothing added
    assert viewer.layers.selection.active is user and user.mode == "pan_zoom"
    assert widget.seeds_section.expanded and not widget.advanced.expanded

    points = press_add_seeds(widget)
    assert viewer.layers.selection.active is points and points.mode == "add"
    points.add([WM])
    widget.seed_label.value = 2
    widget.segment.value = "ventricle"
    points.add([VENTRICLE])
    out = wait_for_output(qtbot, widget, "brain PD slice region growing")
    layers = list(viewer.layers)
    assert layers.index(out) < layers.index(points)  # drawn under the seeds
    assert viewer.layers.selection.active is points and points.mode == "add"
    # each seed has its segment's colour in the result
    seed_rgba = points.face_color
    label_rgba = out.colormap.map(np.array([1, 2]))
    np.testing.assert_allclose(seed_rgba[:, :3], label_rgba[:, :3], atol=1e-3)
    assert out.data[WM] == 1 and out.data[VENTRICLE] == 2
    assert "name: segment 1" in out.get_status(WM)["coordinates"]
    assert "name: ventricle" in out.get_status(VENTRICLE)["coordinates"]
    assert "ventricle: " in widget.status.value

    # the seeds belong to the image itself: renaming keeps them
    image.name = "renamed"
    assert widget.seeds_layer is points
    widget.add_seeds.native.click()  # released: the canvas pans again
    assert points.mode == "pan_zoom"


def test_a_collapsed_label_is_reported(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD")
    widget = RegionGrowingWidget(viewer)
    points = press_add_seeds(widget)
    points.add([WM])
    widget.seed_label.value = 2
    points.add([(5, 5)])  # background
    out = wait_for_output(qtbot, widget, "PD region growing")
    before = int((out.data == 1).sum())
    assert before > 5000 and widget.controls.last_error is None
    points.data = np.array([(6, 8), (5, 5)], dtype=float)  # white-matter seed dragged outside
    qtbot.waitUntil(lambda: "lost" in widget.status.value, timeout=10000)
    assert int((viewer.layers["PD region growing"].data == 1).sum()) < 0.2 * before
    assert widget.controls.last_error == widget.status.value
    assert "segment 1 lost" in widget.status.value and "check its seeds" in widget.status.value


def test_closing_the_dock_removes_only_its_empty_seeds_layer(make_napari_viewer, qtbot):
    viewer, image = _brain_slice_viewer(make_napari_viewer)
    user = viewer.add_points(np.empty((0, 2)), name="my points")
    widget = RegionGrowingWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Region growing")
    points = press_add_seeds(widget)
    assert points in viewer.layers
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(10)
    assert points not in viewer.layers and user in viewer.layers and image in viewer.layers
    assert not widget.connections.alive
    viewer.add_image(np.zeros((4, 4)), name="later")  # no slot of the closed dock runs
    assert [c.name for c in widget.image.choices] == ["brain PD slice"]

    # seeds the user placed are theirs: kept on close
    widget = RegionGrowingWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Region growing")
    widget.image.value = image
    points = press_add_seeds(widget)
    points.add([WM])
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(10)
    assert points in viewer.layers and points.mode == "pan_zoom"


def _fits(dock, widget):
    hint = dock.minimumSizeHint()
    assert hint.width() <= 450 and hint.height() <= 600, hint
    inner = widget.native.minimumSizeHint()
    assert inner.width() <= 450 and inner.height() <= 600, inner


def test_docks_fit_and_competitive_message_keeps_the_canvas(make_napari_viewer, qtbot):
    from napari_segtools._qt.atlas_widget import AtlasWidget
    from napari_segtools._qt.unet_widget import UNetWidget

    viewer, image = _brain_slice_viewer(make_napari_viewer, show=True)
    widget = RegionGrowingWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Region growing")
    window = dock.window()
    window.resize(1600, 1000)
    qtbot.wait(50)
    for other in (AtlasWidget(viewer), UNetWidget(viewer)):
        _fits(viewer.window.add_dock_widget(other, name=type(other).__name__, tabify=True), other)
    _fits(dock, widget)
    dock.raise_()
    points = press_add_seeds(widget)
    for label, seed in enumerate([WM, VENTRICLE, (60, 40), (5, 5)], start=1):
        widget.seed_label.value = label
        widget.segment.value = f"a rather long segment name for label {label}"
        points.add([seed])
    out = wait_for_output(qtbot, widget, "brain PD slice region growing")
    qtbot.waitUntil(lambda: "label 4" in widget.status.value, timeout=10000)
    assert set(np.unique(out.data)) == {1, 2, 3, 4}
    qtbot.wait(100)
    _fits(dock, widget)
    assert dock.width() <= 450 and dock.width() <= window.width() / 2, (
        dock.width(),
        window.width(),
    )


def test_no_action_stalls_the_gui_thread(make_napari_viewer, qtbot, capsys):

    viewer, image = _brain_slice_viewer(make_napari_viewer, show=True)
    figures = {}
    with StallMeter(qtbot) as meter:
        widget = RegionGrowingWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Region growing")
    figures["open dock"] = meter.worst_ms
    with StallMeter(qtbot) as meter:
        widget.image.value = image
        points = press_add_seeds(widget)
    figures["choose image + add seeds"] = meter.worst_ms
    points.add([WM])
    widget.seed_label.value = 2
    with StallMeter(qtbot) as meter:
        points.add([VENTRICLE])  # first competitive growth (auto)
        out = wait_for_output(qtbot, widget, "brain PD slice region growing")
    figures["first growth"] = meter.worst_ms
    first = out.data.copy()
    with StallMeter(qtbot) as meter:
        points.data = np.array([WM, (5, 5)], dtype=float)  # seed moved: re-growth
        qtbot.waitUntil(lambda: not np.array_equal(out.data, first), timeout=10000)
    figures["re-growth after a seed move"] = meter.worst_ms
    with StallMeter(qtbot) as meter:
        click_run(widget)
    figures["run"] = meter.worst_ms
    with capsys.disabled():
        print("\nregion growing GUI stalls (ms):", {k: round(v) for k, v in figures.items()})
    # TODO(issue 11, point 7): opening the dock, the first seeds layer (napari's first Points
    # layer builds its vispy node) and writing the result still take ~150-1300 ms on 2 shared
    # cores; only Run meets the 150 ms budget so far.
    assert figures["run"] < 150, figures
    assert max(figures.values()) < 3000, figures


def test_closing_the_viewer_disconnects_the_three_docks(make_napari_viewer, qtbot, pd_slice):
    from napari_segtools._qt.atlas_widget import AtlasWidget
    from napari_segtools._qt.unet_widget import UNetWidget

    viewer, image = _brain_slice_viewer(make_napari_viewer, show=True)
    events = viewer.layers.events
    docks = [RegionGrowingWidget(viewer), AtlasWidget(viewer), UNetWidget(viewer)]
    for widget in docks:
        viewer.window.add_dock_widget(widget, name=type(widget).__name__, tabify=True)
    press_add_seeds(docks[0]).add([WM])
    layers = list(viewer.layers)
    viewer.close()
    qtbot.wait(100)
    assert all(not widget.connections.alive for widget in docks)
    pickers = {id(w.image) for w in docks if hasattr(w, "image")}
    for name in ("inserted", "removed"):
        for callback in getattr(events, name).callbacks:
            owner = callback[0]() if isinstance(callback, tuple) else None
            assert id(owner) not in pickers, (name, callback)
    for layer in layers:  # a script may keep and change layers of the closed viewer
        layer.name = layer.name + " (kept)"
        layer.visible = not layer.visible
    qtbot.wait(50)

    viewer = make_napari_viewer()
    viewer.add_image(pd_slice, name="PD")
    widget = RegionGrowingWidget(viewer)
    widget.method.value = "connected"
    widget.lower.value, widget.upper.value = 150, 180
    press_add_seeds(widget).add([WM])
    click_run(widget)
    out = wait_for_output(qtbot, widget, "PD region growing")
    assert int(out.data.sum()) == 8998


# --- issue 12: the user's edits and layers are safe; Cancel is prompt -------------------------


def _competitive_pd(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    image = viewer.add_image(pd_slice, name="PD", scale=(1.0, 1.0))
    widget = RegionGrowingWidget(viewer)
    points = press_add_seeds(widget)
    points.add([WM])
    widget.seed_label.value = 2
    points.add([(5, 5)])
    qtbot.waitUntil(
        lambda: widget.output_layer(image) is not None and widget.controls.run_button.enabled,
        timeout=10000,
    )
    return viewer, image, widget, points


def test_painted_voxels_survive_an_automatic_rerun(make_napari_viewer, qtbot, pd_slice):
    viewer, image, widget, points = _competitive_pd(make_napari_viewer, qtbot, pd_slice)
    out = widget.output_layer(image)
    first = out.data.copy()
    # the user paints 20 voxels of a third label into the output, inside label 1's region
    painted = np.argwhere(first == 1)[:20]
    data = out.data.copy()
    data[tuple(painted.T)] = 7
    out.data = data
    # moving the background seed re-runs the growth automatically
    points.data = np.array([WM, VENTRICLE], dtype=float)
    qtbot.waitUntil(lambda: "kept 20 voxels you painted" in widget.status.value, timeout=10000)
    assert widget.output_layer(image) is out
    assert (out.data[tuple(painted.T)] == 7).all()  # every painted voxel survived
    unpainted = np.ones(first.shape, bool)
    unpainted[tuple(painted.T)] = False
    assert not np.array_equal(out.data[unpainted], first[unpainted])  # the rest re-grew
    # a second re-run still keeps them (the record is what the dock wrote, not the mix)
    points.data = np.array([WM, (5, 5)], dtype=float)
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10000)
    qtbot.wait(600)
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10000)
    assert (out.data[tuple(painted.T)] == 7).all()


def test_a_user_layer_named_like_the_output_is_untouched(make_napari_viewer, qtbot, pd_slice):
    viewer = make_napari_viewer()
    image = viewer.add_image(pd_slice, name="PD", scale=(1.0, 1.0))
    # the user's own layers with the output's name: one of another shape, one of the same
    mine_small = viewer.add_labels(np.full((5, 5), 9, np.uint8), name="PD region growing")
    mine_same = viewer.add_image(np.full(pd_slice.shape, 3, np.uint16), name="PD region growing")
    before_small, before_same = mine_small.data.copy(), mine_same.data.copy()
    widget = RegionGrowingWidget(viewer)
    widget.image.value = image
    widget.method.value = "connected"
    widget.lower.value, widget.upper.value = 150, 180
    press_add_seeds(widget).add([WM])
    click_run(widget)
    qtbot.waitUntil(lambda: widget.output_layer(image) is not None, timeout=10000)
    out = widget.output_layer(image)
    assert out is not mine_small and out is not mine_same
    assert mine_small in viewer.layers and mine_same in viewer.layers
    np.testing.assert_array_equal(mine_small.data, before_small)
    np.testing.assert_array_equal(mine_same.data, before_same)
    assert out.data[WM] == 1
    # a second run updates the dock's own layer, still not the user's
    click_run(widget)
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10000)
    assert widget.output_layer(image) is out
    np.testing.assert_array_equal(mine_same.data, before_same)


def test_cancel_of_a_3d_competitive_growth_is_prompt(make_napari_viewer, qtbot, capsys):
    import time

    from napari_segtools.core.samples import mni152

    t1, _, geometry = mni152()
    viewer = make_napari_viewer()
    image = viewer.add_image(t1, name="T1", scale=geometry.spacing)
    widget = RegionGrowingWidget(viewer)
    widget.auto_update.value = False
    widget.mode.value = 3
    centre = tuple(s // 2 for s in t1.shape)
    points = press_add_seeds(widget)
    points.add([centre])
    widget.seed_label.value = 2
    points.add([(2, 2, 2)])
    layers_before = list(viewer.layers)
    latencies = {}
    for stage in ("gradient magnitude", "competitive growth"):
        click_run(widget)
        qtbot.waitUntil(lambda s=stage: widget.controls.progress.label == s, timeout=60000)
        start = time.perf_counter()
        widget.controls.cancel_button.native.click()
        qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10000)
        latencies[stage] = time.perf_counter() - start
        assert "cancelled" in widget.status.value
        assert list(viewer.layers) == layers_before  # no layer created
        assert widget.output_layer(image) is None
    with capsys.disabled():
        rounded = {k: round(v, 2) for k, v in latencies.items()}
        print(f"\ncancel latency on MNI152 3-D (s): {rounded}")
    assert max(latencies.values()) < 2.0, latencies
