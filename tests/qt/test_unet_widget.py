"""The U-Net dock widget: shipped model on the real head sample, a model file, error messages."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from napari.layers import Image, Labels

from napari_segtools._qt.unet_widget import FROM_FILE, UNetWidget
from napari_segtools.core.io import read_image
from napari_segtools.core.samples import sample_path
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


def tiny_package(tmp_path, seed: int = 0):
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
            "spacing": [1.0, 1.0],
            "normalization": {"method": "zscore"},
            "patch_size": [16, 16],
            "weights": "weights.pt",
            "architecture": spec.to_dict(),
        }
    )
    return save_package(tmp_path / f"tiny2d_{seed}", UNet(spec), config) / "config.json"


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
    assert widget.controls.last_error is None
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
