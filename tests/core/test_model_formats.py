"""One network in every format load_model reads: the same probabilities, one clear message each."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.unet.formats import MODEL_FORMATS, detect_format  # noqa: E402
from napari_segtools.core.unet.formats.onnx_format import METADATA_KEY  # noqa: E402
from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402
from napari_segtools.core.unet.package import ModelConfig, load_model, save_package  # noqa: E402

SPEC = UNetSpec(spatial_dims=2, in_channels=2, out_channels=3, features=(4, 8))
WINDOW = (1, 2, 16, 16)
MM1 = Geometry((1.0, 1.0))
CONFIG = {
    "name": "tiny",
    "spatial_dims": 2,
    "in_channels": 2,
    "channel_names": ["T1", "FLAIR"],
    "class_names": ["background", "a", "b"],
    "class_colors": ["#000000", "#ff0000", "#00ff00"],
    "spacing": [1.0, 1.0],
    "normalization": {"method": "zscore"},
    "patch_size": [16, 16],
    "weights": "weights.pt",
}
#: two channels, 20 x 26 voxels: 2 x 3 windows of 16, so batches of 4 and 2 windows
IMAGE = (np.random.default_rng(0).random((2, 20, 26)) * [[[100.0]], [[1.0]]]).astype(np.float32)


def _write(folder, name, weights, **changes):
    """Write ``name`` (a config .json) naming ``weights``; return its path."""
    data = {key: value for key, value in CONFIG.items() if key != "weights"}
    data.update(weights=weights, **changes)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def _onnx(net, path, *, dynamic: bool, metadata: dict | None = None):
    with warnings.catch_warnings():  # the TorchScript-based exporter is deprecated, still fine
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(WINDOW),),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}} if dynamic else None,
        )
    if metadata is not None:
        proto = onnx.load(str(path))
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
        onnx.save(proto, str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The same random U-Net as a package, TorchScript, torch.export and ONNX files."""
    folder = tmp_path_factory.mktemp("formats")
    torch.manual_seed(0)
    net = UNet(SPEC).eval()
    config = ModelConfig.from_dict({**CONFIG, "architecture": SPEC.to_dict()})
    paths = {"package": save_package(folder / "package", net, config)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated; the tracer's notes too
        torch.jit.trace(net, torch.zeros(WINDOW)).save(str(folder / "scripted.pt"))
    _write(folder, "scripted.json", "scripted.pt")
    paths["torchscript"] = folder / "scripted.pt"
    program = torch.export.export(net, (torch.zeros(WINDOW),))  # fixed batch of 1
    torch.export.save(program, folder / "exported.pt2")
    paths["torch-export"] = _write(folder, "exported.json", "exported.pt2")  # the config picked
    (folder / "onnx").mkdir()
    _onnx(net, folder / "onnx" / "net.onnx", dynamic=True)
    paths["onnx"] = folder / "onnx"  # a package folder whose config.json names the file
    _write(folder / "onnx", "config.json", "net.onnx")
    # a file alone, batch 1, its config in the metadata
    paths["onnx metadata"] = _onnx(net, folder / "alone.onnx", dynamic=False, metadata=CONFIG)
    with torch.inference_mode():
        x = torch.from_numpy(IMAGE[:, :16, :16].copy())
        z = (x - x.mean(dim=(1, 2), keepdim=True)) / x.std(dim=(1, 2), keepdim=True)
        direct = torch.softmax(net(z[None]), 1)[0].numpy()
    return paths, direct


def test_every_format_predicts_like_the_torch_original(models):
    paths, direct = models
    original = load_model(paths["package"])
    # the package itself is the torch network: one window by hand (z-score per channel)
    window = original.predict_proba(IMAGE[:, :16, :16], geometry=MM1, device="cpu")
    np.testing.assert_allclose(window, direct, atol=2e-5)
    expected = original.predict_proba(IMAGE, geometry=MM1, device="cpu", batch_size=4)
    assert expected.shape == (3, 20, 26)
    for label, path in paths.items():
        predictor = load_model(path, trusted=True)
        assert predictor.config.class_names == ("background", "a", "b"), label
        assert predictor.config.channel_names == ("T1", "FLAIR"), label
        assert (predictor.config.spacing, predictor.config.in_channels) == ((1.0, 1.0), 2)
        probs = predictor.predict_proba(IMAGE, geometry=MM1, device="cpu", batch_size=4)
        np.testing.assert_allclose(probs, expected, atol=1e-5, err_msg=label)
    # fixed batch 1 (torch.export, the metadata ONNX) goes window by window; dynamic in one call
    assert load_model(paths["torch-export"], trusted=True).module.one_at_a_time
    assert load_model(paths["onnx metadata"]).module.one_at_a_time
    assert not load_model(paths["onnx"]).module.one_at_a_time


def test_detect_format_names_each_and_lists_what_each_needs(models, tmp_path):
    paths, _ = models
    found = {label: detect_format(path) for label, path in paths.items()}
    assert found == {
        "package": "package",
        "torchscript": "torchscript",
        "torch-export": "torch-export",
        "onnx": "onnx",
        "onnx metadata": "onnx",
    }
    assert detect_format(paths["package"] / "config.json") == "package"
    assert set(MODEL_FORMATS) >= {"package", "torchscript", "torch-export", "onnx"}
    assert {n for n, line in MODEL_FORMATS.items() if line.endswith("data only")} >= {
        "package",
        "onnx",
    }
    (tmp_path / "notes.txt").write_text("no model")
    with pytest.raises(ValueError, match="is not a model this plugin reads") as err:
        detect_format(tmp_path)
    for name in ("package", "torchscript", "torch-export", "onnx"):
        assert f"{name}: " in str(err.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        detect_format(tmp_path / "missing.onnx")


@pytest.mark.parametrize("label", ["package", "torchscript", "torch-export", "onnx"])
def test_a_wrong_channel_count_says_what_the_model_expects(models, label):
    predictor = load_model(models[0][label], trusted=True)
    with pytest.raises(ValueError) as err:
        predictor.predict(IMAGE[0], geometry=MM1, device="cpu")
    assert str(err.value) == (
        "model 'tiny' expects 2-D images with 2 channel(s) (T1, FLAIR) first; got 1 channel(s): "
        "an array of shape (20, 26)"
    )


def test_a_network_that_contradicts_its_config_is_refused_on_loading(models, tmp_path):
    paths, _ = models
    onnx_file = paths["onnx metadata"]  # fixed (1, 2, 16, 16) input
    (tmp_path / "m.onnx").write_bytes(onnx_file.read_bytes())
    cases = [
        ({"patch_size": [32, 32]}, r"takes windows of \(16, 16\) voxels only, but its config's "),
        (
            {"in_channels": 1, "channel_names": []},
            "takes 2 input channel(s), but its config says in_channels=1",
        ),
        ({"spatial_dims": 3, "spacing": [1, 1, 1], "patch_size": [16, 16, 16]}, "4 axes"),
    ]
    for changes, message in cases:
        _write(tmp_path, "m.json", "m.onnx", **changes)
        with pytest.raises(ValueError, match=message.replace("(s)", r"\(s\)")):
            load_model(tmp_path / "m.onnx")


def test_a_missing_config_or_model_file_is_one_clear_message(models, tmp_path):
    paths, _ = models
    bare = _onnx(UNet(SPEC).eval(), tmp_path / "bare.onnx", dynamic=True)
    with pytest.raises(FileNotFoundError) as err:
        load_model(bare)
    assert str(err.value) == (
        f"ONNX model {bare} has no config: expected bare.json beside it or a "
        f"'{METADATA_KEY}' metadata entry holding the config as JSON"
    )
    (tmp_path / "lone.pt2").write_bytes(paths["torch-export"].with_suffix(".pt2").read_bytes())
    with pytest.raises(FileNotFoundError, match="lone.pt2 has no config lone.json beside it"):
        load_model(tmp_path / "lone.pt2", trusted=True)
    for name, weights in [("gone_onnx", "gone.onnx"), ("gone_ts", "gone.ts")]:
        (tmp_path / name).mkdir()
        _write(tmp_path / name, "config.json", weights)
        with pytest.raises(FileNotFoundError, match=f"{weights} named in the config does not"):
            load_model(tmp_path / name, trusted=True)


def test_onnx_needs_its_extra_and_says_so(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'napari-segtools\[onnx\]'"):
        load_model(models[0]["onnx"])
