"""The U-Net dock widget: shipped model on the real head sample, a model file, error messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools._qt.unet_widget import FROM_FILE, UNetWidget, entropy  # noqa: E402
from napari_segtools.core.io import read_image  # noqa: E402
from napari_segtools.core.samples import sample_path  # noqa: E402


def _run(widget, qtbot, timeout=60_000):
    """Click Run and wait for the worker's ``finished`` handlers (Run is enabled again).

    Waiting on the button rather than on ``worker.finished`` also covers a worker that fails
    at once, before a signal spy could be attached.
    """
    widget.controls.run_button.clicked()
    assert widget.worker is not None
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=timeout)


def _tiny_package(tmp_path):
    import torch

    from napari_segtools.core.unet.model import UNet, UNetSpec
    from napari_segtools.core.unet.package import ModelConfig, save_package

    spec = UNetSpec(spatial_dims=2, in_channels=1, out_channels=3, features=(4, 8))
    torch.manual_seed(0)
    config = ModelConfig.from_dict({
        "name": "tiny2d", "spatial_dims": 2, "in_channels": 1, "class_names": ["bg", "a", "b"],
        "class_colors": ["#000000", "#ff0000", "#00ff00"], "spacing": [1.0, 1.0],
        "normalization": {"method": "zscore"}, "patch_size": [16, 16], "weights": "weights.pt",
        "architecture": spec.to_dict(),
    })  # fmt: skip
    return save_package(tmp_path / "tiny2d", UNet(spec), config) / "config.json"


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
    assert out._type_string == "labels" and out.data.shape == crop.shape
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert list(out.features["class"]) == ["background", "grey matter", "white matter"]
    counts = np.bincount(out.data.ravel(), minlength=3)
    assert counts[1] > 1000 and counts[2] > 1000  # grey and white matter both found
    assert "on cpu" in widget.status.value


def test_model_file_with_probability_and_entropy_layers(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    viewer.add_image(image, name="img", scale=(0.5, 0.5))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    assert not widget.model_file.native.isHidden()
    widget.model_file.value = _tiny_package(tmp_path)
    widget.show_advanced.value = True
    assert not widget.advanced.native.isHidden()
    widget.overlap.value, widget.tta.value, widget.batch_size.value = 0.25, True, 2
    widget.probabilities.value = widget.uncertainty.value = True
    _run(widget, qtbot)
    assert widget.controls.last_error is None
    probs = np.stack([viewer.layers[f"img U-Net P({n})"].data for n in ("a", "b")])
    assert probs.shape == (2, 20, 24) and (probs >= 0).all() and (probs.sum(0) <= 1 + 1e-5).all()
    ent = viewer.layers["img U-Net entropy"].data
    assert ent.shape == (20, 24) and 0 <= ent.min() and ent.max() <= 1 + 1e-6
    background = 1 - probs.sum(0)
    expected = np.argmax(np.concatenate([background[None], probs]), axis=0)
    assert np.array_equal(viewer.layers["img U-Net"].data, expected)
    np.testing.assert_allclose(viewer.layers["img U-Net"].scale, (0.5, 0.5))


def test_corrupt_model_file_is_a_one_line_message(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((8, 8), np.float32), name="img")
    config = _tiny_package(tmp_path)
    config.write_text(json.dumps({"spatial_dims": 2}))
    widget = UNetWidget(viewer)
    widget.model.value = FROM_FILE
    widget.model_file.value = config
    _run(widget, qtbot)
    assert "lacks required keys" in widget.controls.last_error
    assert widget.controls.last_error.count("\n") == 0  # one line, no traceback
    assert "img U-Net" not in viewer.layers


def test_entropy_known_answers():
    assert entropy(np.array([[1.0], [0.0], [0.0]]))[0] == pytest.approx(0, abs=1e-9)
    assert entropy(np.full((3, 1), 1 / 3))[0] == pytest.approx(1)
