"""The U-Net dock widget: shipped model on the real head sample, a model file, error messages."""

from __future__ import annotations

import hashlib
import json
import sys
import warnings

import numpy as np
import pytest
from napari.layers import Image, Labels
from qtpy.QtCore import Qt

from napari_segtools._qt._history import changed_message
from napari_segtools._qt._unet_inputs import PADDINGS
from napari_segtools._qt.unet_widget import FROM_FILE, FROM_FOLDER, UNetWidget
from napari_segtools.core.io import read_image
from napari_segtools.core.samples import sample_path
from napari_segtools.core.unet._preprocess import PADDING_MODES
from napari_segtools.core.unet._torch import TORCH_MISSING

needs_torch = pytest.mark.usefixtures("torch_single_thread")  # skips when torch is missing


def _run(widget, qtbot, timeout=60_000):
    """Click Run and wait for the worker's ``finished`` handlers (Run is enabled again).

    Waiting on the button rather than on ``worker.finished`` also covers a worker that fails
    at once, before a signal spy could be attached.
    """
    widget.controls.run_button.clicked()
    assert widget.worker is not None
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=timeout)


def tiny_package(tmp_path, seed: int = 0, *, spacing=(1.0, 1.0)):
    """Write a tiny untrained 2-D U-Net package (3 classes) and return its config path."""
    import torch

    from napari_segtools.core.unet.model import UNet, UNetSpec
    from napari_segtools.core.unet.package import ModelConfig, save_package

    spec = UNetSpec(spatial_dims=2, in_channels=1, out_channels=3, features=(4, 8))
    torch.manual_seed(seed)
    config = ModelConfig.from_dict(
        {
            "name": f"tiny2d_{seed}",
            "spatial_dims": 2,
            "in_channels": 1,
            "class_names": ["bg", "a", "b"],
            "class_colors": ["#000000", "#ff0000", "#00ff00"],
            "spacing": list(spacing),
            "normalization": {"method": "zscore"},
            "patch_size": [16, 16],
            "weights": "weights.pt",
            "architecture": spec.to_dict(),
        }
    )
    return save_package(tmp_path / f"tiny2d_{seed}", UNet(spec), config) / "config.json"


def conv_package(tmp_path, name: str, weight, bias, *, class_names, class_colors, **config):
    """Write a one-convolution 2-D TorchScript model and return its ``.pt`` path.

    ``weight`` is ``(out, in, k, k)`` (k odd, zero 'same' padding inside the network), so the
    logits are known exactly: ``conv(z) + bias`` with ``z`` each input channel z-scored. With
    1x1 weights, output channel k thresholds the input channels at a chosen z-value and the
    expected labels or masks are exact. ``config`` adds or overrides config keys (``output``,
    ``padding``, ``in_channels``...).
    """
    import torch

    weight = torch.as_tensor(np.asarray(weight, np.float32))
    out, channels, k, _ = weight.shape
    conv = torch.nn.Conv2d(channels, out, k, padding=k // 2)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(torch.as_tensor(np.asarray(bias, np.float32)))
    path = tmp_path / f"{name}.pt"
    with warnings.catch_warnings():  # TorchScript is deprecated for writing; models still load
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(conv).save(str(path))
    data = {
        "name": name,
        "spatial_dims": 2,
        "in_channels": channels,
        "class_names": list(class_names),
        "class_colors": list(class_colors),
        "spacing": [1.0, 1.0],
        "normalization": {"method": "zscore"},
        "patch_size": [16, 16],
        "weights": path.name,
        **config,
    }
    path.with_suffix(".json").write_text(json.dumps(data))
    return path


@needs_torch
def test_shipped_model_on_the_real_head(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    head, geometry = read_image(
        str(sample_path("itk_t1_head_3d", "KmeansTest_T1UCharRaw.nii.gz")), reorient=True
    )
    crop = head[44:84, 20:44, 44:84]  # 80 x 72 x 80 mm around the centre of the brain
    layer = viewer.add_image(
        crop, name="head", scale=geometry.spacing, translate=(10.0, -5.0, 3.0)
    )
    widget = UNetWidget(viewer)
    assert widget.image.value is layer and widget.model.value == "mni152-brain-tissue"
    widget.device.value = "cpu"
    _run(widget, qtbot)
    # a crop of the brain: the dock says it is smaller than the model's training images
    assert widget.controls.last_error.endswith(
        "Unlike its training data: field of view: 80 x 72 x 80 mm is under half the training "
        "images' (188 x 232 x 196 mm) along axes 0, 1, 2: the model sees less of the "
        "surroundings it learned with"
    )
    out = viewer.layers["head U-Net"]
    assert isinstance(out, Labels) and out.data.shape == crop.shape
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert list(out.features["class"]) == ["background", "grey matter", "white matter"]
    assert list(out.features["name"]) == ["background", "grey matter", "white matter"]
    (z, y, x) = np.argwhere(out.data == 2)[0]
    world = out.data_to_world((z, y, x))
    viewer.dims.set_point(0, world[0])  # show that voxel's slice: hover reads the shown slice
    qtbot.wait(50)
    status = out.get_status((z, y, x))["coordinates"]
    assert "name: white matter" in status
    # white matter is drawn in a saturated colour, not near-white on bright T1 white matter
    rgba = out.colormap.map(np.array([2]))[0]
    assert rgba[:3].max() - rgba[:3].min() > 0.35
    counts = np.bincount(out.data.ravel(), minlength=3)
    assert counts[1] > 1000 and counts[2] > 1000  # grey and white matter both found
    assert "on cpu" in widget.controls.status.value


@needs_torch
def test_model_file_with_probability_and_entropy_layers(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    viewer.add_image(image, name="img", scale=(0.5, 0.5))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    assert not widget.model_file.native.isHidden()
    widget.model_file.value = tiny_package(tmp_path)
    assert not widget.advanced.expanded  # overlap, TTA, batch and device: closed by default
    widget.overlap.value, widget.tta.value, widget.batch_size.value = 0.25, True, 2
    widget.probabilities.value = widget.uncertainty.value = True
    _run(widget, qtbot)
    assert widget.controls.last_error is None
    probs = np.stack([viewer.layers[f"img U-Net P({n})"].data for n in ("a", "b")])
    assert probs.shape == (2, 20, 24) and (probs >= 0).all() and (probs.sum(0) <= 1 + 1e-5).all()
    ent = viewer.layers["img U-Net entropy"].data
    assert ent.shape == (20, 24) and ent.min() >= 0 and ent.max() <= 1 + 1e-6
    full = np.concatenate([(1 - probs.sum(0))[None], probs])
    p = np.clip(full, 1e-12, 1)
    np.testing.assert_allclose(ent, -(p * np.log(p)).sum(0) / np.log(3), atol=1e-4)
    background = 1 - probs.sum(0)
    expected = np.argmax(np.concatenate([background[None], probs]), axis=0)
    assert np.array_equal(viewer.layers["img U-Net"].data, expected)
    np.testing.assert_allclose(viewer.layers["img U-Net"].scale, (0.5, 0.5))


@needs_torch
def test_corrupt_model_file_is_a_one_line_message(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.float32), name="img")
    config = tiny_package(tmp_path)
    config.write_text(json.dumps({"spatial_dims": 2}))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = config
    _run(widget, qtbot)
    assert "lacks required keys" in widget.controls.last_error
    assert widget.controls.last_error.count("\n") == 0  # one line, no traceback
    assert "img U-Net" not in viewer.layers


def test_image_picker_offers_only_grey_images(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="labels")
    viewer.add_image(np.zeros((8, 8, 3), np.uint8), name="rgb", rgb=True)
    grey = viewer.add_image(np.zeros((8, 8), np.float32), name="grey")
    widget = UNetWidget(viewer)
    assert widget.image.choices == (grey,)
    assert isinstance(widget.image.value, Image)


def test_without_torch_the_dock_opens_and_says_how_to_install(make_napari_viewer, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.float32), name="img")
    widget = UNetWidget(viewer)
    assert widget.controls.last_error == TORCH_MISSING
    assert widget.controls.status.value == TORCH_MISSING
    assert not widget.controls.run_button.enabled
    assert "receptive field: needs PyTorch" in widget.info.value  # the rest of the info is there
    widget.run()  # refused inline, no worker started
    assert widget.worker is None and widget.controls.last_error == TORCH_MISSING
    assert "img U-Net" not in viewer.layers


# ------------------------------------------------------------------ cancel, user layers, config
def _mni152_viewer(make_napari_viewer):
    from napari_segtools._sample_data import mni152

    viewer = make_napari_viewer()
    for data, kwargs, kind in mni152():
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    return viewer, viewer.layers["MNI152 T1"]


def _cancel_and_time(widget, qtbot) -> float:
    """Click Cancel; return the seconds until the run has ended (Run enabled again)."""
    import time

    start = time.perf_counter()
    widget.controls.cancel_button.changed.emit(True)
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10_000)
    return time.perf_counter() - start


@needs_torch
@pytest.mark.parametrize("when", ["start-up", "mid-inference"])
def test_cancel_on_mni152_is_prompt_and_leaves_no_layer(make_napari_viewer, qtbot, when):
    viewer, image = _mni152_viewer(make_napari_viewer)
    before = [layer.name for layer in viewer.layers]
    widget = UNetWidget(viewer)
    widget.image.value = image
    widget.device.value = "cpu"
    widget.probabilities.value = widget.uncertainty.value = True
    widget.controls.run_button.clicked()
    if when == "mid-inference":
        qtbot.waitUntil(lambda: "window" in (widget.controls.progress.label or ""), timeout=60_000)
        qtbot.wait(300)  # inside a forward pass
        assert widget.worker.is_running
    latency = _cancel_and_time(widget, qtbot)
    print(f"U-Net cancel ({when}) on MNI152: {latency * 1000:.0f} ms")
    assert latency < 2.0
    assert "cancelled" in widget.controls.last_error
    qtbot.wait(200)  # a late result would land now
    assert [layer.name for layer in viewer.layers] == before


@needs_torch
def test_a_user_layer_named_like_the_output_is_never_touched(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    viewer.add_image(image, name="img")
    mine = viewer.add_image(np.full((3, 4), 7.0), name="img U-Net")  # the user's own layer
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = tiny_package(tmp_path)
    widget.image.value = viewer.layers["img"]
    for _ in range(2):  # a second run reuses the dock's own output, never the user's
        _run(widget, qtbot)
        assert widget.controls.last_error is None
    assert viewer.layers["img U-Net"] is mine
    np.testing.assert_array_equal(mine.data, np.full((3, 4), 7.0))
    assert [layer.name for layer in viewer.layers] == ["img", "img U-Net", "img U-Net [2]"]
    out = viewer.layers["img U-Net [2]"]
    assert isinstance(out, Labels) and out.data.shape == image.shape
    assert out.metadata["napari_segtools_output"] == "U-Net inference"


@needs_torch
def test_a_config_whose_classes_disagree_with_the_weights_is_refused_before_inference(
    make_napari_viewer, qtbot, tmp_path
):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.float32), name="img")
    config = tiny_package(tmp_path)
    data = json.loads(config.read_text())
    data["class_names"], data["class_colors"] = ["bg", "a"], ["#000000", "#ff0000"]
    config.write_text(json.dumps(data))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = config
    seen = []
    widget.controls.run_button.clicked()
    widget.worker.yielded.connect(lambda p: seen.append(p.message))
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=60_000)
    assert "classes and weights disagree" in widget.controls.last_error
    assert widget.controls.last_error.count("\n") == 0
    assert not any("window" in m for m in seen)  # refused before any window ran
    assert [layer.name for layer in viewer.layers] == ["img"]


# ------------------------------------------- receptive field, channels, multilabel, padding
@needs_torch
def test_model_info_states_the_receptive_field_in_voxels_and_mm(
    make_napari_viewer, qtbot, tmp_path
):
    widget = UNetWidget(make_napari_viewer())
    # the shipped 3-level model, by hand: 2 + 2 (5), pool +1 (6), 4 + 4 (14), pool +2 (16),
    # bottleneck 8 + 8 (32), decoder 4 + 4 (40) and 2 + 2 (44); trained at 2 mm
    qtbot.waitUntil(lambda: "computing" not in widget.info.value, timeout=20_000)
    assert "receptive field 44 x 44 x 44 voxels (88 x 88 x 88 mm)" in widget.info.value
    widget.model.value = FROM_FILE
    assert "Choose the model file" in widget.info.value
    widget.model_file.value = tiny_package(tmp_path, spacing=(0.5, 0.5))
    # by hand: two 3x3 convolutions (5), a 2x2 max pool (6, then steps of 2), two 3x3
    # convolutions at step 2 (14), a 2x2 stride-2 transposed convolution (adds nothing, step 1),
    # two 3x3 convolutions (18); the model's spacing gives the mm
    qtbot.waitUntil(lambda: "receptive field 18" in widget.info.value, timeout=20_000)
    info = widget.info.value
    assert "receptive field 18 x 18 voxels (9 x 9 mm)" in info
    assert "2-D, 1 channel in; classes (softmax): a, b\ntrained at 0.5 x 0.5 mm" in info
    scripted = conv_package(
        tmp_path,
        "scripted",
        np.ones((2, 1, 1, 1)),
        [0, 0],
        class_names=["bg", "x"],
        class_colors=["#000000", "#ff0000"],
    )
    widget.model_file.value = scripted
    qtbot.waitUntil(lambda: "computing" not in widget.info.value, timeout=20_000)
    assert "not known for a TorchScript, torch.export or ONNX model" in widget.info.value


def _squares(shape=(12, 14)):
    first, second = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    first[2:6, 3:8] = 10.0
    second[7:11, 6:12] = 10.0
    return first, second


def _two_channel_model(tmp_path, **config):
    """Classes A and B: where z-scored channel 1, respectively channel 2, is above its mean."""
    weight = np.zeros((3, 2, 1, 1))
    weight[1, 0] = weight[2, 1] = 10.0
    return conv_package(
        tmp_path,
        "two_channels",
        weight,
        [0, 0, 0],
        class_names=["bg", "A", "B"],
        class_colors=["#000000", "#ff0000", "#00e5ff"],
        **config,
    )


@needs_torch
def test_a_two_channel_model_reads_two_coregistered_image_layers(
    make_napari_viewer, qtbot, tmp_path
):
    viewer = make_napari_viewer()
    first, second = _squares()
    grid = {"scale": (1.0, 1.0), "translate": (5.0, -3.0)}
    t1 = viewer.add_image(first, name="T1", **grid)
    t2 = viewer.add_image(second, name="T2", **grid)
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = _two_channel_model(tmp_path)
    pickers = widget.channel_pickers
    assert [p.label for p in pickers] == ["Channel 1", "Channel 2"]
    assert [p.value for p in pickers] == [t1, t2]  # each channel defaults to its own layer
    # a TorchScript file runs code: refused until the user ticks "Trust this model"
    assert not widget.trust.native.isHidden() and widget.trust.value is False
    _run(widget, qtbot)
    assert "is a TorchScript program, which runs code when loaded" in widget.controls.last_error
    assert "T1 U-Net" not in viewer.layers
    widget.trust.value = True
    _run(widget, qtbot)
    assert widget.controls.last_error is None, widget.controls.last_error
    expected = (first > 0).astype(np.uint8) + 2 * (second > 0)
    out = viewer.layers["T1 U-Net"]
    np.testing.assert_array_equal(out.data, expected)
    np.testing.assert_allclose(out.translate, (5.0, -3.0))
    # swapped inputs swap the classes: the channels reach the network in the pickers' order
    pickers[0].value, pickers[1].value = t2, t1
    _run(widget, qtbot)
    np.testing.assert_array_equal(viewer.layers["T2 U-Net"].data, (second > 0) + 2 * (first > 0))
    # a 1-channel model has one picker again; a package is data only: no trust asked
    widget.model_file.value = tiny_package(tmp_path)
    assert widget.trust.native.isHidden() and widget.trust.value is False
    assert [p.label for p in widget.channel_pickers] == ["Image"]
    assert widget.extra_channels == []


@needs_torch
def test_channels_that_are_not_coregistered_are_refused_inline(
    make_napari_viewer, qtbot, tmp_path
):
    viewer = make_napari_viewer()
    first, second = _squares()
    t1 = viewer.add_image(first, name="T1", scale=(0.5, 0.5))
    moved = viewer.add_image(second, name="T2 moved", scale=(0.5, 0.5), translate=(1.0, 0.0))
    coarse = viewer.add_image(second[::2], name="T2 coarse", scale=(1.0, 0.5))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = _two_channel_model(tmp_path)
    before = [layer.name for layer in viewer.layers]
    cases = [
        (moved, "'T2 moved' is not on the grid of Channel 1 'T1' (origin (0, 0) vs (1, 0) mm)"),
        (coarse, "(shape (12, 14) vs (6, 14); spacing (0.5, 0.5) vs (1, 0.5) mm)"),
        (t1, "Channel 2 and Channel 1 are both 'T1'"),
    ]
    for layer, message in cases:
        widget.extra_channels[0].value = layer
        widget.run()
        assert widget.worker is None  # refused before any work
        problem = widget.controls.last_error
        assert message in problem and problem.count("\n") == 0, problem
    assert [layer.name for layer in viewer.layers] == before


def _nested_image():
    image = np.zeros((12, 14), np.float32)
    image[2:10, 2:12] = 1.0  # outer structure
    image[4:8, 5:9] = 2.0  # inner structure, inside the outer one
    return image


def _multilabel_model(tmp_path, name, image, levels):
    """Sigmoid structures "outer" and "inner": z-scored intensity above the given levels."""
    from napari_segtools.core.unet._preprocess import normalize

    z = np.unique(normalize(image, {"method": "zscore"}))  # the three z-values, ascending
    cuts = [(z[level - 1] + z[level]) / 2 for level in levels]
    return conv_package(
        tmp_path,
        name,
        np.full((2, 1, 1, 1), 10.0),
        [-10.0 * c for c in cuts],
        class_names=["outer", "inner"],
        class_colors=["#39ff14", "#ff3ec8"],
        output="sigmoid",
    )


@needs_torch
def test_a_multilabel_model_gives_one_labels_layer_per_structure(
    make_napari_viewer, qtbot, tmp_path
):
    from napari_segtools._qt.evaluation_widget import EvaluationWidget

    viewer = make_napari_viewer()
    image = _nested_image()
    viewer.add_image(image, name="img", scale=(1.0, 1.0))
    outer, inner = (image >= 1).astype(np.uint8), (image == 2).astype(np.uint8)
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = _multilabel_model(tmp_path, "nested", image, (1, 2))
    widget.trust.value = True  # a TorchScript file made by this test
    assert "multilabel (sigmoid): outer, inner" in widget.info.value
    widget.probabilities.value = widget.uncertainty.value = True
    _run(widget, qtbot)
    assert widget.controls.last_error is None, widget.controls.last_error
    layers = {name: viewer.layers[f"img {name}"] for name in ("outer", "inner")}
    # uncertainty: per voxel the larger of the two structures' binary entropies (in bits)
    p = np.clip([viewer.layers[f"img U-Net P({n})"].data for n in ("outer", "inner")], 1e-12, 1)
    bits = -(p * np.log2(p) + (1 - p) * np.log2(np.clip(1 - p, 1e-12, 1)))
    np.testing.assert_allclose(viewer.layers["img U-Net entropy"].data, bits.max(0), atol=1e-5)
    np.testing.assert_array_equal(layers["outer"].data, outer)  # overlap: both keep the core
    np.testing.assert_array_equal(layers["inner"].data, inner)
    assert "img U-Net" not in viewer.layers
    for (name, layer), colour in zip(layers.items(), ("#39ff14", "#ff3ec8"), strict=True):
        assert list(layer.features["name"]) == ["background", name]  # hover name
        rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
        np.testing.assert_allclose(layer.colormap.map(np.array([1]))[0][:3], rgb, atol=1e-6)
        assert layer.metadata["napari_segtools_output"] == "U-Net inference"
    assert viewer.layers["img U-Net P(inner)"].data[6, 6] > 0.99
    assert "outer 80, inner 16 voxels" in widget.controls.status.value
    assert changed_message(96) in widget.controls.status.value

    # each structure is evaluated on its own in the Evaluation panel
    viewer.add_labels(inner, name="inner reference")
    evaluation = EvaluationWidget(viewer)
    offered = [layer.name for layer in evaluation.prediction.choices if layer is not None]
    assert {"img outer", "img inner"} <= set(offered)
    dice = {}
    for name in ("inner", "outer"):
        evaluation.reference.value = viewer.layers["inner reference"]
        evaluation.prediction.value = layers[name]
        evaluation.controls.run_button.changed.emit(True)
        qtbot.waitUntil(lambda: evaluation.result is not None, timeout=20_000)
        qtbot.waitUntil(lambda: not evaluation.worker.is_running, timeout=5_000)
        dice[name] = evaluation.result.report.per_label[1]["dice"]
        evaluation.result = None
    assert dice == {"inner": 1.0, "outer": pytest.approx(2 * 16 / (16 + 80))}

    # a second run writes the same layers; one Ctrl+Z on each takes it back, the next empties it
    widget.model_file.value = _multilabel_model(tmp_path, "swapped", image, (2, 1))
    widget.trust.value = True
    _run(widget, qtbot)
    np.testing.assert_array_equal(layers["outer"].data, inner)
    np.testing.assert_array_equal(layers["inner"].data, outer)
    canvas = viewer.window._qt_viewer.canvas.native
    for layer, first in ((layers["outer"], outer), (layers["inner"], inner)):
        viewer.layers.selection.active = layer
        qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        np.testing.assert_array_equal(layer.data, first)
        layer.undo()
        assert not layer.data.any()
        layer.redo()
        np.testing.assert_array_equal(layer.data, first)


@needs_torch
def test_the_padding_choice_shows_at_the_image_border(make_napari_viewer, qtbot, tmp_path):
    from scipy import ndimage

    from napari_segtools.core.unet._preprocess import normalize

    viewer = make_napari_viewer()
    image = np.random.default_rng(3).random((6, 7)).astype(np.float32)  # smaller than a window
    viewer.add_image(image, name="img")
    # one 3x3 box filter: a border voxel's output sums the padded values next to it
    model = conv_package(
        tmp_path,
        "box",
        np.ones((1, 1, 3, 3)),
        [0.0],
        class_names=["bright"],
        class_colors=["#ff0000"],
        output="sigmoid",
        padding="reflect",
    )
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = model
    widget.trust.value = True  # a TorchScript file made by this test
    assert widget.padding.value == "reflect"  # the model config's choice is the default
    assert [value for _, value in PADDINGS] == list(PADDING_MODES)
    widget.probabilities.value = True
    z = normalize(image, {"method": "zscore"})
    pads = {
        "edge": np.pad(z, 1, mode="edge"),
        "minimum": np.pad(z, 1, constant_values=z.min()),
        "reflect": np.pad(z, 1, mode="reflect"),
        "constant": np.pad(z, 1),  # 0: the image mean after z-scoring
    }
    seen = {}
    for mode, padded in pads.items():
        widget.padding.value = mode
        _run(widget, qtbot)
        assert widget.controls.last_error is None, widget.controls.last_error
        seen[mode] = viewer.layers["img U-Net P(bright)"].data.copy()
        box = ndimage.correlate(padded, np.ones((3, 3)), mode="constant")[1:-1, 1:-1]
        np.testing.assert_allclose(seen[mode], 1 / (1 + np.exp(-box)), atol=1e-5)
    inside = (slice(1, -1), slice(1, -1))
    for mode in ("minimum", "reflect", "constant"):
        np.testing.assert_allclose(seen[mode][inside], seen["edge"][inside], atol=1e-5)
        assert np.abs(seen[mode] - seen["edge"]).max() > 0.01  # the border tells them apart


# ---- masks, brain extraction and domain warnings ---------------------------------------------
@needs_torch
def test_a_mask_layer_keeps_the_prediction_inside_it(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = np.random.default_rng(3).random((20, 24)).astype(np.float32)
    viewer.add_image(image, name="img", scale=(0.5, 0.5))
    yy, xx = np.mgrid[:20, :24]
    disc = np.hypot(yy - 10, xx - 12) < 6
    viewer.add_labels(disc.astype(np.uint8), name="roi", scale=(0.5, 0.5))
    viewer.add_labels(np.ones((20, 24), np.uint8), name="elsewhere", scale=(1.0, 0.5))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = tiny_package(tmp_path)
    assert widget.mask.value is None  # optional: no mask by default
    _run(widget, qtbot)
    everywhere = viewer.layers["img U-Net"].data.copy()
    assert everywhere[~disc].any()  # the untrained model labels voxels outside the disc
    widget.mask.value = viewer.layers["elsewhere"]
    widget.controls.run_button.clicked()
    assert "Mask 'elsewhere' is not on the grid of 'img'" in widget.controls.last_error
    widget.mask.value = viewer.layers["roi"]
    _run(widget, qtbot)
    inside = viewer.layers["img U-Net"].data
    assert not inside[~disc].any() and inside[disc].any()


@needs_torch
def test_the_brain_mask_action_makes_the_mask_layer(make_napari_viewer, qtbot, monkeypatch):
    """The real extraction is napari_segtools.brain_mask; a fast stand-in checks the wiring."""
    import types

    calls = []

    def fake_brain_mask(image, *, spacing):
        calls.append(spacing)
        return image > 0.5

    fake = types.ModuleType("napari_segtools.core.brain_mask")
    fake.brain_mask = fake_brain_mask
    monkeypatch.setitem(sys.modules, "napari_segtools.core.brain_mask", fake)
    viewer = make_napari_viewer()
    head = np.random.default_rng(4).random((6, 8, 10)).astype(np.float32)
    layer = viewer.add_image(head, name="head", scale=(2.0, 3.0, 2.0), translate=(1.0, 0.0, 5.0))
    widget = UNetWidget(viewer)
    widget.brain_mask.clicked()
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=30_000)
    out = viewer.layers["head brain mask"]
    assert isinstance(out, Labels) and calls == [(2.0, 3.0, 2.0)]
    np.testing.assert_array_equal(out.data, (head > 0.5).astype(np.uint8))
    np.testing.assert_allclose(out.translate, layer.translate)
    assert widget.mask.value is out
    volume = np.count_nonzero(head > 0.5) * 12 / 1000
    assert widget.controls.status.value == f"brain mask: {volume:.0f} ml; it is now the Mask"


@needs_torch
def test_a_ct_gets_the_brain_models_domain_warning_in_the_dock(
    make_napari_viewer, qtbot, tmp_path
):
    """The shipped model's config and training statistics, a tiny network: the CT is flagged."""
    import torch

    from napari_segtools.core.unet.model import UNet, UNetSpec
    from napari_segtools.core.unet.package import ModelConfig, save_package

    shipped = read_config_of_shipped()
    spec = UNetSpec(spatial_dims=3, in_channels=1, out_channels=3, features=(2, 4))
    torch.manual_seed(0)
    config = ModelConfig.from_dict({**shipped.to_dict(), "architecture": spec.to_dict()})
    folder = save_package(tmp_path / "brain-like", UNet(spec), config)
    ct, geometry = read_image(
        str(sample_path("ct_head_invesalius", "ct_head_0051.nii.gz")), reorient=True
    )
    viewer = make_napari_viewer()
    viewer.add_image(ct[:, ::2, ::2], name="CT", scale=np.multiply(geometry.spacing, (1, 2, 2)))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = folder / "config.json"
    widget.device.value = "cpu"
    _run(widget, qtbot)
    status = widget.controls.status.value
    assert "CT U-Net" in viewer.layers and status.startswith("mni152-brain-tissue on cpu")
    assert "\nUnlike its training data: intensity: the histogram is far" in status


def read_config_of_shipped():
    from napari_segtools._qt._unet_inputs import read_config

    return read_config("mni152-brain-tissue")


# ---- models from the registry, and model folders ----------------------------------------------
def _expected_labels(folder, image, spacing):
    """The labels the core predicts with the dock's defaults (overlap 0.5, the model's padding)."""
    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.unet.package import load_model

    return load_model(folder).predict(image, geometry=Geometry(spacing), device="cpu")


@needs_torch
def test_a_registry_model_shows_its_licence_and_is_fetched_by_runs_worker(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import threading
    import zipfile

    from napari_segtools._qt import _unet_output

    cache, user = tmp_path / "cache", tmp_path / "registry"
    user.mkdir()
    monkeypatch.setenv("NAPARI_SEGTOOLS_CACHE", str(cache))
    monkeypatch.setenv("NAPARI_SEGTOOLS_REGISTRY", str(user))
    folder = tiny_package(tmp_path, seed=1, spacing=(0.5, 0.5)).parent
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, "tiny/" + path.relative_to(folder).as_posix())
    entry = {
        "name": "tiny-cells",
        "task": "cells and nuclei",
        "modality": "fluorescence microscopy",
        "spacing": [0.5, 0.5],
        "classes": ["bg", "a", "b"],
        "licence_weights": "MIT",
        "licence_data": "CC0-1.0 (made by this test)",
        "size_bytes": archive.stat().st_size,
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "url": archive.as_uri(),
        "format": "package",
    }
    (user / "mine.json").write_text(json.dumps({"version": 1, "models": [entry]}))
    fetched_on = []
    real_fetch = _unet_output.fetch_model

    def fetch(name, *, entry):
        fetched_on.append(threading.current_thread() is threading.main_thread())
        return real_fetch(name, entry=entry)

    monkeypatch.setattr(_unet_output, "fetch_model", fetch)
    viewer = make_napari_viewer()
    image = np.random.default_rng(5).random((20, 24)).astype(np.float32)
    viewer.add_image(image, name="img", scale=(0.5, 0.5))
    widget = UNetWidget(viewer)
    names = [name for name in widget.model.choices if name not in (FROM_FILE, FROM_FOLDER)]
    assert names == ["mni152-brain-tissue", "tiny-cells"]
    licence = "weights: MIT; training data: CC0-1.0 (made by this test)"
    tooltip = widget.model.native.itemData(1, Qt.ItemDataRole.ToolTipRole)
    assert tooltip == f"tiny-cells: cells and nuclei (fluorescence microscopy)\nlicence: {licence}"
    shipped_tip = widget.model.native.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert "training data: MNI ICBM152 2009a notice" in shipped_tip
    widget.model.value = "tiny-cells"
    size = f"{archive.stat().st_size / 1e3:.1f} kB"
    assert widget.info.value == (
        "cells and nuclei (fluorescence microscopy)\n"
        "spacing 0.5 x 0.5 mm; classes: bg, a, b\n"
        "format: package (data only)\n"
        f"licence: {licence}\n"
        f"not downloaded yet: Run downloads it first ({size}, checked against its sha256) "
        f"into {cache}"
    )
    assert not cache.exists() and fetched_on == []  # choosing it downloads nothing
    widget.device.value = "cpu"
    _run(widget, qtbot)
    assert widget.controls.last_error is None, widget.controls.last_error
    assert fetched_on == [False]  # fetched once, in the worker
    assert sorted(p.name for p in cache.iterdir()) == ["tiny-cells", "tiny-cells.json"]
    out = viewer.layers["img U-Net"].data
    expected = _expected_labels(folder, image, (0.5, 0.5))
    assert len(np.unique(expected)) > 1 and np.array_equal(out, expected)
    # cached now: the info adds what the config says, and the licence stays
    qtbot.waitUntil(lambda: "receptive field 18" in widget.info.value, timeout=20_000)
    assert f"licence: {licence}\n2-D, 1 channel in; classes (softmax): a, b" in widget.info.value
    _run(widget, qtbot)  # a second run uses the cache
    assert fetched_on == [False] and widget.controls.last_error is None


@needs_torch
def test_a_model_folder_is_picked_with_its_format_and_trust(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = np.random.default_rng(6).random((20, 24)).astype(np.float32)
    viewer.add_image(image, name="img", scale=(0.5, 0.5))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FOLDER
    assert widget.model_file.native.isHidden() and not widget.model_folder.native.isHidden()
    assert "Choose the model folder" in widget.info.value
    bundle = tmp_path / "bundle"  # recognised from its files; nothing in it is read or run
    (bundle / "configs").mkdir(parents=True)
    (bundle / "configs" / "metadata.json").write_text("{}")
    widget.model_folder.value = bundle
    assert widget.info.value.startswith("format: monai-bundle (runs code when loaded: tick Trust")
    assert not widget.trust.native.isHidden() and widget.trust.value is False
    widget.controls.run_button.clicked()
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=20_000)
    assert "is a MONAI bundle, which runs code when loaded" in widget.controls.last_error
    folder = tiny_package(tmp_path, seed=2, spacing=(0.5, 0.5)).parent
    widget.model_folder.value = folder
    assert widget.info.value.startswith("format: package (data only)\n2-D, 1 channel in")
    assert widget.trust.native.isHidden()
    widget.device.value = "cpu"
    _run(widget, qtbot)
    assert widget.controls.last_error is None, widget.controls.last_error
    expected = _expected_labels(folder, image, (0.5, 0.5))
    assert len(np.unique(expected)) > 1
    assert np.array_equal(viewer.layers["img U-Net"].data, expected)
