"""Threshold widget driven through its real controls on the real head CT and on phantoms."""

from __future__ import annotations

import importlib.resources
import weakref

import numpy as np
import pytest
from napari.layers import Labels
from tests.qt.stall import StallMeter  # shared with the cross-widget stall test

from napari_segtools._layer_style import PREVIEW_COLOR
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
def ct_widget(make_napari_viewer, ct_head, qtbot):
    ct, _, spacing = ct_head
    viewer = make_napari_viewer()
    viewer.add_image(ct, scale=spacing, translate=(5.0, -3.0, 2.0), name="ct")
    widget = ThresholdWidget(viewer)
    _settle(widget, qtbot)  # the histogram is computed in a worker
    return viewer, widget


def _settle(widget, qtbot):
    """Wait for the histogram, automatic threshold and preview workers."""
    qtbot.waitUntil(lambda: not widget.busy, timeout=60000)


def _apply(widget, qtbot):
    _settle(widget, qtbot)
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
    _settle(widget, qtbot)
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
    _settle(widget, qtbot)
    assert widget.preview.value and "ct threshold preview" in viewer.layers  # preview stays on


def test_preview_shows_the_current_slice(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    ct, bone, _ = ct_head
    _settle(widget, qtbot)
    viewer.dims.set_current_step(0, 60)
    widget.range.value = (226.0, 2986.0)
    _settle(widget, qtbot)
    preview = viewer.layers["ct threshold preview"]
    np.testing.assert_array_equal(preview.data[60], bone[60])
    assert preview.data.sum() == bone[60].sum()  # only the slice on screen is computed
    viewer.dims.set_current_step(0, 20)
    _settle(widget, qtbot)
    assert preview.data.sum() == bone[20].sum() and not preview.data[60].any()


def test_local_preview_slab_equals_the_volume_result(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    _settle(widget, qtbot)
    ct, _, spacing = ct_head
    viewer.dims.set_current_step(0, 54)
    widget.method.value = "local"
    assert not widget.block_mm.native.isHidden() and not widget.offset.native.isHidden()
    widget.block_mm.value = 12.0
    widget.offset.value = -20.0
    widget.range.value = (-200.0, 2986.0)
    _settle(widget, qtbot)
    expected = (ct > local_threshold(ct, spacing=spacing, block_size_mm=12.0, offset=-20.0)) & (
        ct >= -200
    )
    np.testing.assert_array_equal(viewer.layers["ct threshold preview"].data[54], expected[54])


def test_otsu_on_current_slice_writes_only_that_slice(ct_widget, ct_head, qtbot):
    viewer, widget = ct_widget
    ct, _, _ = ct_head
    viewer.dims.set_current_step(0, 50)
    widget.scope.value = "slice"
    widget.histogram_from.value = "image"
    widget.method.value = "otsu"
    _settle(widget, qtbot)
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
    widget.histogram_from.value = "image"
    widget.method.value = "multiotsu"
    assert not widget.classes.native.isHidden()
    widget.classes.value = 3
    _settle(widget, qtbot)
    thresholds = auto_threshold(ct, method="multiotsu", classes=3)
    assert widget.histogram.drawn == thresholds
    widget.output.label_value.value = 2
    _apply(widget, qtbot)
    out = viewer.layers["ct threshold"]
    # the darkest class (air) is background: classes 2 and 3 become labels 2 and 3
    expected = threshold_labels(ct, thresholds, first_label=1)
    expected = np.where(expected > 1, expected, 0).astype(np.uint8)
    np.testing.assert_array_equal(out.data, expected)
    assert set(np.unique(out.data)) == {0, 2, 3}
    names = dict(zip(out.features["index"], out.features["name"], strict=True))
    assert names[2] == "class 1" and names[3] == "class 2"


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
    changed = int(np.count_nonzero(expected != existing))
    assert f"{changed:,} voxels changed".replace(",", " ") in widget.status.value
    seg.undo()  # napari's own history (Ctrl+Z)
    np.testing.assert_array_equal(seg.data, existing)
    seg.redo()
    np.testing.assert_array_equal(seg.data, expected)


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
    _settle(widget, qtbot)
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
    _settle(widget, qtbot)
    small = viewer.add_labels(np.zeros((4, 4), np.uint8), name="small")
    widget.output.target.value = small
    widget.controls.run_button.native.click()
    assert widget.worker is None
    assert "has shape (4, 4)" in widget.status.value
    assert widget.controls.last_error == widget.status.value  # said inline, as a user mistake
    widget.output.target.value = None
    widget.histogram_from.value = "image"
    widget.method.value = "minimum"
    _settle(widget, qtbot)
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


# ------------------------------------------------------------------ issue 11: point-and-click
def test_dock_scrolls_in_groups_and_fits_small_screens(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.window.resize(1600, 1000)
    viewer.add_image(np.random.default_rng(0).random((20, 64, 64)), name="img")
    widget = ThresholdWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Threshold")
    _settle(widget, qtbot)
    assert widget.cleanup.expanded is False and widget.advanced.expanded is False
    assert widget.output.expanded
    print("minimum size: widget", widget.native.minimumSizeHint(), "dock", dock.minimumSizeHint())
    for hint in (widget.native.minimumSizeHint(), dock.minimumSizeHint()):
        assert hint.height() <= 600 and hint.width() <= 450, hint
    # a very long message wraps inside the dock: it never widens it
    before = dock.minimumSizeHint().width()
    widget.status.refuse("a very long refusal " * 40)
    assert dock.minimumSizeHint().width() <= max(before, 450)
    # picking the local method opens the Advanced group where its block size lives
    widget.method.value = "local"
    assert widget.advanced.expanded and not widget.block_mm.native.isHidden()


def test_preview_colour_and_result_names_differ(ct_widget, qtbot):
    viewer, widget = ct_widget
    widget.range.value = (226.0, 2986.0)
    _apply(widget, qtbot)
    _settle(widget, qtbot)
    preview = viewer.layers["ct threshold preview"]
    result = viewer.layers["ct threshold"]
    preview_rgba = preview.colormap.map(np.array([1]))[0]
    result_rgba = result.colormap.map(np.array([1]))[0]
    np.testing.assert_allclose(
        preview_rgba[:3], [int(PREVIEW_COLOR[i : i + 2], 16) / 255 for i in (1, 3, 5)], atol=0.01
    )
    assert not np.allclose(preview_rgba[:3], result_rgba[:3])
    names = dict(zip(result.features["index"], result.features["name"], strict=True))
    assert names[1] == "threshold"
    assert viewer.layers.selection.active is not preview


def test_preview_equals_apply_with_cleanup(ct_widget, qtbot):
    viewer, widget = ct_widget
    viewer.dims.set_current_step(0, 60)
    widget.range.value = (226.0, 2986.0)
    widget.cleanup.open_mm.value = 1.0
    widget.cleanup.min_size_mm3.value = 500.0
    widget.cleanup.fill_holes.value = "3d"
    _settle(widget, qtbot)
    shown = np.array(viewer.layers["ct threshold preview"].data[60])
    _apply(widget, qtbot)
    _settle(widget, qtbot)
    applied = viewer.layers["ct threshold"].data[60]
    assert shown.any()
    np.testing.assert_array_equal(shown > 0, applied > 0)
    assert widget.preview.value  # the live preview stays on after Apply
    np.testing.assert_array_equal(viewer.layers["ct threshold preview"].data[60] > 0, applied > 0)


def test_head_ct_sample_bone_in_two_clicks(make_napari_viewer, qtbot):
    from napari_segtools._sample_data import ct_head

    viewer = make_napari_viewer()
    for data, kwargs, kind in ct_head():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    reference = viewer.layers["head CT bone reference"].data > 0
    widget = ThresholdWidget(viewer)
    assert widget.image.value.name == "head CT"
    assert widget.histogram_from.value == "body"  # default: air does not dominate
    widget.method.value = "yen"  # the one choice (two clicks: open the list, pick Yen)
    _apply(widget, qtbot)
    mask = viewer.layers["head CT threshold"].data > 0
    dice = 2 * np.count_nonzero(mask & reference) / (mask.sum() + reference.sum())
    print(f"head CT bone Dice (Yen on the body histogram): {dice:.4f}")
    assert dice >= 0.90


def test_histogram_follows_the_theme(make_napari_viewer, qtbot):
    from napari.utils.theme import get_theme

    viewer = make_napari_viewer()
    viewer.add_image(np.arange(64.0).reshape(8, 8), name="img")
    widget = ThresholdWidget(viewer)
    _settle(widget, qtbot)

    def background():
        return widget.histogram.figure.get_facecolor()[:3]

    def expected(name):
        from matplotlib.colors import to_rgb

        return to_rgb(get_theme(name).canvas.as_hex())

    np.testing.assert_allclose(background(), expected(viewer.theme), atol=0.01)
    viewer.theme = "light"
    np.testing.assert_allclose(background(), expected("light"), atol=0.01)


def _owner(callback):
    """The object a napari EventEmitter callback is bound to (weakly or not)."""
    if isinstance(callback, tuple):
        ref = callback[0]
        return ref() if isinstance(ref, weakref.ref) else ref
    return getattr(callback, "__self__", None)


def test_closing_the_viewer_disconnects_everything(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(1).random((10, 32, 32)), name="img")
    widget = ThresholdWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Threshold")
    _settle(widget, qtbot)
    assert widget.connections.alive
    viewer.close()
    qtbot.waitUntil(lambda: not widget.connections.alive, timeout=10000)
    # none of the dock's slots is left on the old viewer model's events
    ours = {id(w) for w in (widget, widget.histogram, widget.cleanup.points, widget.output.target)}
    for emitter in (
        viewer.layers.events.inserted,
        viewer.layers.events.removed,
        viewer.dims.events.current_step,
        viewer.dims.events.ndisplay,
        viewer.events.theme,
    ):
        left = {
            id(_owner(callback))
            for callback in emitter.callbacks
            # napari's own add_dock_widget hook (guarded: it does nothing once closed)
            if not (isinstance(callback, tuple) and callback[1] == "reset_choices")
        }
        assert not ours & left
    # a scripted session goes on in a new viewer
    second = make_napari_viewer()
    layer = second.add_image(np.zeros((8, 8)), name="x")
    second.layers.remove(layer)
    other = ThresholdWidget(second)
    second.window.add_dock_widget(other, name="Threshold")
    second.add_image(np.arange(64.0).reshape(8, 8), name="y")
    _settle(other, qtbot)
    assert other.image.value.name == "y"
    assert "y threshold preview" in second.layers


def test_removing_the_dock_removes_its_preview(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.arange(256.0).reshape(16, 16), name="img")
    widget = ThresholdWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Threshold")
    _settle(widget, qtbot)
    assert "img threshold preview" in viewer.layers
    viewer.window.remove_dock_widget(dock)
    qtbot.waitUntil(lambda: not widget.connections.alive, timeout=10000)
    assert "img threshold preview" not in viewer.layers
    viewer.add_image(np.zeros((4, 4)), name="after")  # no slot of the closed dock runs


# the head CT repeats the MNI152 volume's figures; test_stalls.py covers all three samples
@pytest.mark.parametrize("sample", ["mni152", "brain_slice"])
def test_no_action_blocks_the_gui_thread(make_napari_viewer, qtbot, sample):
    from napari_segtools import _sample_data

    viewer = make_napari_viewer()
    for data, kwargs, kind in getattr(_sample_data, sample)():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    worst: dict[str, float] = {}

    def measure(name, action):
        with StallMeter(qtbot) as meter:
            action()
            meter.wait_until(lambda: not widget.busy)
        worst[name] = meter.worst_ms

    widget = None

    def open_dock():
        nonlocal widget
        widget = ThresholdWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Threshold")

    measure("open dock", open_dock)
    assert widget is not None
    low, high = widget.range.range
    measure("range drag", lambda: setattr(widget.range, "value", (low + (high - low) / 3, high)))
    if viewer.layers[0].ndim == 3:
        measure("slice change", lambda: viewer.dims.set_current_step(0, 40))
        widget.cleanup.min_size_mm3.value = 50.0
        measure("slice change, clean-up on", lambda: viewer.dims.set_current_step(0, 45))
        widget.cleanup.min_size_mm3.value = 0.0
    measure("method otsu", lambda: setattr(widget.method, "value", "otsu"))
    measure("method minimum", lambda: setattr(widget.method, "value", "minimum"))
    measure(
        "multi-otsu 5",
        lambda: (
            setattr(widget.method, "value", "multiotsu"),
            setattr(widget.classes, "value", 5),
        ),
    )
    measure("method local", lambda: setattr(widget.method, "value", "local"))
    if viewer.layers[0].ndim == 3:
        measure("local preview 3-D", lambda: setattr(viewer.dims, "ndisplay", 3))
    measure("block size", lambda: setattr(widget.block_mm, "value", 9.0))
    measure("apply", widget.controls.run_button.native.click)
    print(sample, {k: round(v) for k, v in worst.items()})
    # the limit is 150 ms; on a shared 2-core test machine allow scheduling noise
    assert max(worst.values()) < 150 * float(__import__("os").environ.get("STALL_MARGIN", "2"))


# --- issue 12: prompt Cancel, the user's layers untouched, one-line messages --------------------


def test_cancel_stops_a_large_opening_within_2_s_and_leaves_no_layer(make_napari_viewer, qtbot):
    import time

    from scipy import ndimage as ndi

    viewer = make_napari_viewer()
    volume = ndi.gaussian_filter(np.random.default_rng(0).random((128, 128, 128)), 3)
    viewer.add_image(volume, name="noise")
    widget = ThresholdWidget(viewer)
    widget.preview.value = False
    _settle(widget, qtbot)
    widget.range.value = (0.5, float(volume.max()))
    widget.cleanup.open_mm.value = 12.0  # once 17.6 s in one uninterruptible step
    before = [layer.name for layer in viewer.layers]
    _settle(widget, qtbot)
    widget.controls.run_button.native.click()
    assert widget.worker is not None
    qtbot.wait(700)  # well inside the opening
    assert not widget.controls.run_button.enabled
    start = time.perf_counter()
    widget.controls.cancel_button.native.click()
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=5000)
    elapsed = time.perf_counter() - start
    print(f"cancel latency {elapsed:.2f} s")
    assert elapsed < 2.0, f"Cancel took {elapsed:.2f} s"
    assert [layer.name for layer in viewer.layers] == before
    assert "cancelled" in widget.status.value


@pytest.mark.parametrize("kind", ["image", "labels"])
def test_a_user_layer_named_like_the_output_is_never_written(make_napari_viewer, qtbot, kind):
    viewer = make_napari_viewer()
    image = np.zeros((20, 20), np.int16)
    image[5:15, 5:15] = 100
    viewer.add_image(image, name="img")
    user = np.full((20, 20), 7, np.uint16)
    theirs = getattr(viewer, f"add_{kind}")(user.copy(), name="img threshold")
    widget = ThresholdWidget(viewer)
    _settle(widget, qtbot)
    widget.image.value = viewer.layers["img"]
    widget.range.value = (50.0, 100.0)
    _apply(widget, qtbot)
    assert theirs in viewer.layers
    np.testing.assert_array_equal(theirs.data, user)
    own = [layer for layer in viewer.layers if layer.metadata.get("napari_segtools_output")]
    own = [layer for layer in own if layer.metadata["napari_segtools_output"] == "threshold"]
    assert len(own) == 1 and own[0] is not theirs
    assert own[0].name == "img threshold [2]"
    assert int(own[0].data.sum()) == 100
    _apply(widget, qtbot)  # a second Apply re-uses the own layer, still not the user's
    names = [layer.name for layer in viewer.layers]
    assert names.count("img threshold") == 1 and names.count("img threshold [2]") == 1
    np.testing.assert_array_equal(theirs.data, user)


@pytest.mark.parametrize(
    "data",
    [
        np.where(np.eye(12, dtype=bool), np.nan, 1.0),
        np.eye(12, dtype=bool),
    ],
    ids=["nan", "bool"],
)
def test_a_nan_or_bool_image_added_while_docked_is_a_one_line_message(
    make_napari_viewer, qtbot, data
):
    viewer = make_napari_viewer()
    widget = ThresholdWidget(viewer)
    _settle(widget, qtbot)
    viewer.add_image(data, name="odd")  # must not raise (EmitLoopError)
    widget.image.value = viewer.layers["odd"]
    _settle(widget, qtbot)
    message = widget.status.value
    assert message and "\n" not in message
    assert widget.controls.last_error == message
    widget.controls.run_button.native.click()
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10000)
    assert "\n" not in widget.status.value
