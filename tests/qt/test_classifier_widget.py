"""The Voxel classifier dock driven through its controls, checked against the core's results."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from napari.layers import Image, Labels

from napari_segtools._qt.classifier_widget import ClassifierWidget
from napari_segtools.core.classify.classifier import load_voxel_classifier, train_voxel_classifier
from napari_segtools.core.classify.features import PRESETS, FeatureSet
from napari_segtools.core.classify.preview import SlicePreview
from napari_segtools.core.phantoms import phantom

SPACING = (2.5, 0.8, 0.8)


@pytest.fixture
def excepthook_calls(monkeypatch):
    calls: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: calls.append(value))
    return calls


def _idle(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    qtbot.wait(20)  # a new layer is revealed a turn later


def _open(viewer) -> ClassifierWidget:
    _, widget = viewer.window.add_plugin_dock_widget("napari-segtools", "Voxel classifier")
    assert isinstance(widget, ClassifierWidget)
    return widget


def _second(viewer) -> ClassifierWidget:
    """Another dock (napari's menu would show the open one again)."""
    widget = ClassifierWidget(viewer)
    viewer.window.add_dock_widget(widget, name="second classifier")
    return widget


def _scribble(layer: Labels, truth: np.ndarray, classes: dict[int, int], step: int = 40) -> None:
    """Paint every ``step``-th voxel of each truth value as its class, one undo step each."""
    for value, cls in classes.items():
        index = tuple(axis[::step] for axis in np.nonzero(truth == value))
        layer.data_setitem(index, np.full(index[0].size, cls, np.uint8))


def _new_scribbles(widget, qtbot) -> Labels:
    layer = widget.new_scribbles()
    qtbot.waitUntil(lambda: layer.mode == "paint")  # shown and selected a few turns later
    return layer


def _click(button) -> None:
    button.native.click()


@pytest.fixture
def brain(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", "brain_slice")
    image = viewer.layers["brain PD slice"]
    truth = np.asarray(viewer.layers["brain PD slice reference"].data)
    return viewer, image, truth, _open(viewer)


def test_new_scribbles_train_and_preview_match_the_core(brain, qtbot, excepthook_calls):
    viewer, image, truth, widget = brain
    assert widget.images.value == [image]
    _click(widget.new_button)
    layer = viewer.layers["brain PD slice scribbles"]
    qtbot.waitUntil(lambda: layer.mode == "paint")  # shown and selected a few turns later
    assert widget.scribbles.value is layer and viewer.layers.selection.active is layer
    assert layer.visible and layer.mode == "paint" and layer.selected_label == 1
    assert layer.data.shape == image.data.shape and np.allclose(layer.scale, image.scale)
    widget.classes.rename(2, "white matter")  # the table's name cell, as a user edits it
    assert dict(zip(layer.features["index"], layer.features["name"], strict=True)) == {
        0: "background",
        1: "background",
        2: "white matter",
    }
    _scribble(layer, truth, {0: 1, 1: 2})
    _click(widget.train_controls.run_button)
    _idle(qtbot, widget)
    assert widget.train_controls.last_error is None, widget.train_controls.last_error
    classifier = widget.classifier
    assert classifier.class_names == ("background", "white matter")
    assert classifier.spacing == tuple(image.scale)
    # the same training by the core gives the same classifier (random_state 0)
    scribbles = np.asarray(layer.data)
    core = train_voxel_classifier(
        np.asarray(image.data), scribbles, spacing=tuple(image.scale), features="basic"
    )
    np.testing.assert_array_equal(
        classifier.predict(np.asarray(image.data)), core.predict(np.asarray(image.data))
    )
    # a 2-D image's preview is the core's prediction of the whole image
    preview = widget.preview_layer
    assert preview is not None and preview.visible and preview.opacity < 1
    expected = core.predict(np.asarray(image.data))
    np.testing.assert_array_equal(preview.data, expected)
    found = expected == 2
    assert np.count_nonzero(found & (truth == 1)) > 0.8 * np.count_nonzero(truth == 1)
    # the importances table: the top features, largest first, as the classifier says
    top = sorted(classifier.feature_importances.items(), key=lambda kv: -kv[1])[:10]
    shown = widget.importances.shown()
    assert [name for name, _ in shown] == [name for name, _ in top]
    np.testing.assert_allclose([v for _, v in shown], [v for _, v in top], atol=5e-4)
    # a stroke without live update: the preview is cleared, never stale
    layer.data_setitem((np.array([5]), np.array([5])), np.array([2], np.uint8))
    assert not np.any(preview.data)
    assert not excepthook_calls, excepthook_calls


def test_live_update_follows_strokes(brain, qtbot):
    viewer, image, truth, widget = brain
    layer = _new_scribbles(widget, qtbot)
    widget.live.value = True
    _scribble(layer, truth, {0: 1}, step=60)
    _idle(qtbot, widget)
    assert "one class" in (widget.train_controls.status.problem or "")
    _scribble(layer, truth, {1: 2}, step=60)
    _scribble(layer, truth, {2: 2}, step=30)  # a burst of strokes: the last one counts
    _idle(qtbot, widget)
    assert widget.train_controls.last_error is None, widget.train_controls.last_error
    assert widget.classifier is not None and not widget.classifier_stale
    expected = widget.classifier.predict(np.asarray(image.data))
    np.testing.assert_array_equal(widget.preview_layer.data, expected)
    scribbles = np.asarray(layer.data)
    assert np.count_nonzero(scribbles == 2) == len(np.nonzero(truth == 1)[0][::60]) + len(
        np.nonzero(truth == 2)[0][::30]
    )
    # a new setting: the shown preview is of the old classifier, so it goes, then it returns
    widget.preset.value = "edges"
    assert not np.any(widget.preview_layer.data)
    _idle(qtbot, widget)
    assert widget.classifier.feature_set == PRESETS["edges"]
    assert np.any(widget.preview_layer.data)


@pytest.fixture
def phantom_3d(make_napari_viewer):
    viewer = make_napari_viewer()
    image, truth = phantom((10, 40, 40), SPACING, noise=15.0)
    layer = viewer.add_image(image, scale=SPACING, name="phantom")
    return viewer, layer, truth, _open(viewer)


def test_apply_3d_writes_the_core_prediction_undoable_with_maps(phantom_3d, qtbot):
    viewer, image, truth, widget = phantom_3d
    layer = _new_scribbles(widget, qtbot)
    widget.add_class()  # class 3 for the bright core
    widget.classes.rename(3, "core")
    _scribble(layer, truth, {0: 1, 1: 2, 2: 3}, step=25)
    viewer.dims.set_current_step(0, 5)
    widget.n_estimators.value = 20
    _click(widget.train_controls.run_button)
    _idle(qtbot, widget)
    classifier = widget.classifier
    assert classifier.class_names == ("background", "foreground", "core")
    # only the shown slice is previewed, equal to the core's slice preview
    preview = widget.preview_layer.data
    expected = SlicePreview(image.data, spacing=SPACING, feature_set=PRESETS["basic"]).predict(
        classifier, 5
    )
    np.testing.assert_array_equal(preview[5], expected.labels)
    assert not np.any(np.delete(preview, 5, axis=0))
    # another slice shown: the old slice's preview is gone
    viewer.dims.set_current_step(0, 3)
    assert not np.any(widget.preview_layer.data)
    # live: the preview follows the shown slice (predicted, not retrained, on a slice change)
    core_preview = SlicePreview(image.data, spacing=SPACING, feature_set=PRESETS["basic"])
    widget.live.value = True
    _idle(qtbot, widget)
    classifier = widget.classifier
    expected = core_preview.predict(classifier, 3).labels
    np.testing.assert_array_equal(widget.preview_layer.data[3], expected)
    viewer.dims.set_current_step(0, 7)
    _idle(qtbot, widget)
    assert widget.classifier is classifier and not np.any(widget.preview_layer.data[3])
    expected = core_preview.predict(classifier, 7).labels
    np.testing.assert_array_equal(widget.preview_layer.data[7], expected)
    widget.live.value = False

    widget.probabilities.value = widget.uncertainty.value = True
    _click(widget.controls.run_button)
    _idle(qtbot, widget)
    assert widget.controls.last_error is None, widget.controls.last_error
    out = viewer.layers["phantom classifier"]
    full = classifier.iter_predict(image.data, probabilities=True, uncertainty=True)
    try:
        while True:
            next(full)
    except StopIteration as stop:
        result = stop.value
    np.testing.assert_array_equal(out.data, result.labels)
    np.testing.assert_array_equal(out.data, classifier.predict(image.data))
    assert dict(zip(out.features["index"], out.features["name"], strict=True))[3] == "core"
    np.testing.assert_allclose(out.colormap.map(np.array([3]))[0, :3], widget_color(layer, 3))
    for k, name in enumerate(("background", "foreground", "core")):
        p = viewer.layers[f"phantom classifier P({name})"]
        assert isinstance(p, Image) and not p.visible
        np.testing.assert_allclose(p.data, result.probabilities[k], atol=1e-6)
    np.testing.assert_allclose(
        viewer.layers["phantom classifier uncertainty"].data, result.uncertainty, atol=1e-6
    )
    # the status: per-class volume in ml (voxel count x 2.5 x 0.8 x 0.8 mm^3 / 1000)
    ml = np.count_nonzero(result.labels == 3) * np.prod(SPACING) / 1000
    assert f"core {ml:.2f} ml" in widget.status.value
    out.undo()
    assert not np.any(out.data)


def widget_color(layer, value):
    from napari_segtools._qt._segment_layer import segment_color

    return segment_color(layer, value)[:3]


def test_save_then_load_in_a_new_dock_predicts_the_same(phantom_3d, qtbot, tmp_path):
    viewer, image, truth, widget = phantom_3d
    layer = _new_scribbles(widget, qtbot)
    _scribble(layer, truth, {0: 1, 1: 2}, step=30)
    widget.preset.value = "edges"
    widget.balanced.value = True
    _click(widget.train_controls.run_button)
    _idle(qtbot, widget)
    path = tmp_path / "phantom.skops"
    widget.save_classifier(path)
    _idle(qtbot, widget)
    assert path.is_file(), widget.file_controls.status.value
    other = _second(viewer)
    other.load_classifier(path)
    _idle(qtbot, other)
    assert other.file_controls.last_error is None, other.file_controls.last_error
    assert other.preset.value == "edges" and other.classifier.feature_set == PRESETS["edges"]
    np.testing.assert_array_equal(
        other.classifier.predict(image.data), widget.classifier.predict(image.data)
    )
    np.testing.assert_array_equal(
        load_voxel_classifier(path).predict(image.data), widget.classifier.predict(image.data)
    )


def test_untrusted_or_unknown_files_are_refused_in_one_line(phantom_3d, qtbot, tmp_path):
    import fractions

    import skops.io as sio

    viewer, image, truth, widget = phantom_3d
    layer = _new_scribbles(widget, qtbot)
    _scribble(layer, truth, {0: 1, 1: 2}, step=30)
    widget.n_estimators.value = 5
    _click(widget.train_controls.run_button)
    _idle(qtbot, widget)
    good = widget.classifier.save(tmp_path / "good.skops")
    # a type off the allow-list rides along in the model: refused until the user trusts it
    widget.classifier.model.note_ = fractions.Fraction(1, 3)
    odd = widget.classifier.save(tmp_path / "odd.skops")
    other = _second(viewer)
    other.load_classifier(odd)
    _idle(qtbot, other)
    problem = other.file_controls.last_error
    assert other.classifier is None and "fractions.Fraction" in problem, problem
    assert "Trust this file" in problem and not other.trust.native.isHidden()
    other.trust.native.click()  # the user vouches for the file: it loads
    _idle(qtbot, other)
    assert other.file_controls.last_error is None, other.file_controls.last_error
    assert other.trust.native.isHidden() and other.classifier.model.note_ == fractions.Fraction(
        1, 3
    )
    np.testing.assert_array_equal(
        other.classifier.predict(image.data), widget.classifier.predict(image.data)
    )
    # a feature this version does not know: one line naming it, no trust offered
    payload = sio.load(good, trusted=sio.get_untrusted_types(file=good))
    payload["feature_set"]["features"] = ["sobel"]
    sio.dump(payload, tmp_path / "unknown.skops")
    before = other.classifier
    other.load_classifier(tmp_path / "unknown.skops")
    _idle(qtbot, other)
    problem = other.file_controls.last_error
    assert "sobel" in problem and "\n" not in problem and other.trust.native.isHidden()
    assert other.classifier is before


def test_bad_inputs_say_one_line(make_napari_viewer, qtbot, excepthook_calls):
    viewer = make_napari_viewer()
    image, truth = phantom((6, 24, 24), SPACING, noise=5.0)
    layer_a = viewer.add_image(image, scale=SPACING, name="a")
    viewer.add_image(image, scale=(2.0, 0.8, 0.8), name="b")
    viewer.layers.selection.active = layer_a
    widget = _open(viewer)
    status = widget.train_controls.status
    _click(widget.train_controls.run_button)
    assert "scribbles layer" in status.problem
    scribbles = _new_scribbles(widget, qtbot)
    _click(widget.train_controls.run_button)
    assert status.problem.startswith("No scribbles yet")
    _scribble(scribbles, truth, {0: 1}, step=20)
    _click(widget.train_controls.run_button)
    assert "one class" in status.problem and "'background'" in status.problem
    _scribble(scribbles, truth, {1: 2}, step=20)
    widget.images.value = [layer_a, viewer.layers["b"]]
    _click(widget.train_controls.run_button)
    assert "'b' is not on the grid of 'a'" in status.problem and "spacing" in status.problem
    widget.images.value = [layer_a]
    widget.sigmas.value = "1, two"
    assert widget.preset.value == "custom"
    _click(widget.train_controls.run_button)
    assert status.problem.startswith("Scales (mm):")
    for box in widget.feature_boxes.values():
        box.value = False
    _click(widget.train_controls.run_button)
    assert status.problem == "Tick at least one feature."
    _click(widget.controls.run_button)
    assert widget.status.problem == "Train or load a classifier first."
    assert widget.train_controls.current is None and widget.classifier is None
    assert not excepthook_calls, excepthook_calls


def test_feature_set_follows_presets_and_boxes(brain):
    _viewer, _image, _truth, widget = brain
    widget.preset.value = "texture"
    assert widget.feature_set() == PRESETS["texture"]
    widget.feature_boxes["gradient"].value = True
    widget.sigmas.value = "0.5, 3"
    expected = FeatureSet((*PRESETS["texture"].features, "gradient"), (0.5, 3.0))
    assert set(widget.feature_set().features) == set(expected.features)
    assert widget.feature_set().sigmas_mm == (0.5, 3.0)
