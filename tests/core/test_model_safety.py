"""Model files are code paths: no path leaves the model's folder, no code runs untrusted."""

from __future__ import annotations

import json
import pathlib
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402
from napari_segtools.core.unet.package import ModelConfig, load_model, save_package  # noqa: E402

SPEC = UNetSpec(spatial_dims=2, in_channels=1, out_channels=2, features=(2, 4))
CONFIG = {
    "name": "tiny",
    "spatial_dims": 2,
    "in_channels": 1,
    "class_names": ["background", "cell"],
    "class_colors": ["#000000", "#ff0000"],
    "spacing": [1.0, 1.0],
    "normalization": {"method": "zscore"},
    "patch_size": [8, 8],
    "weights": "weights.pt",
    "architecture": SPEC.to_dict(),
}


class _Touch:
    """Unpickling this creates the marker file: what a hostile checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _payload(path, marker, member=None):
    """Write a torch archive whose unpickling touches ``marker``; add ``member`` to disguise it."""
    torch.save({"weight": _Touch(marker)}, path)
    if member is not None:
        with zipfile.ZipFile(path) as archive:
            prefix = archive.namelist()[0].split("/")[0]
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(f"{prefix}/{member}", "")
    return path


@pytest.fixture
def nothing_opened(monkeypatch):
    """Fail the test if any model file is deserialised or even opened as an archive."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a model file was opened: {args}")

    for target, name in [
        (torch, "load"),
        (torch.jit, "load"),
        (torch.export, "load"),
        (zipfile, "ZipFile"),
        (zipfile, "is_zipfile"),
    ]:
        monkeypatch.setattr(target, name, refuse)
    return monkeypatch


@pytest.mark.parametrize(
    ("suffix", "member", "noun"),
    [
        (".pt", "code/__torch__/payload.py", "a TorchScript program"),
        (".pt2", "archive_format", "a torch.export program"),
    ],
)
def test_untrusted_programs_are_refused_without_executing_anything(
    tmp_path, monkeypatch, suffix, member, noun
):
    marker = tmp_path / "marker"
    model = _payload(tmp_path / f"evil{suffix}", marker, member)
    (tmp_path / "evil.json").write_text(json.dumps({**CONFIG, "weights": model.name}))
    loaded = []
    for target in (torch, torch.jit, torch.export):
        monkeypatch.setattr(target, "load", lambda *a, **k: loaded.append(a) or 1 / 0)
    with pytest.raises(ValueError) as err:
        load_model(model)
    assert str(err.value) == (
        f"{model} is {noun}, which runs code when loaded ("
        + ("its archive holds compiled code" if suffix == ".pt" else "it is a compiled program")
        + "); load it only from a source you trust, with trusted=True or the 'Trust this "
        "model' box"
    )
    with pytest.raises(ValueError, match="runs code when loaded"):
        load_model(tmp_path / "evil.json")  # the config picked instead of the model file
    assert loaded == [] and not marker.exists()
    # trusted=True is what opens the file: the loader is reached (its failure is reported)
    with pytest.raises((ZeroDivisionError, ValueError)):
        load_model(model, trusted=True)
    assert len(loaded) == 1
    # and the payload is real: unpickling it does create the marker
    monkeypatch.undo()
    torch.load(model, weights_only=False)
    assert marker.exists()


def test_a_package_stays_data_only_even_when_trusted(tmp_path):
    """A package's weights are read with weights_only=True: a pickle payload is refused."""
    marker = tmp_path / "marker"
    (tmp_path / "pkg").mkdir()
    _payload(tmp_path / "pkg" / "weights.pt", marker)
    (tmp_path / "pkg" / "config.json").write_text(json.dumps(CONFIG))
    for trusted in (False, True):
        with pytest.raises(ValueError) as err:
            load_model(tmp_path / "pkg", trusted=trusted)
        assert "hold Python objects other than tensors" in str(err.value)
        assert "\n" not in str(err.value)
    assert not marker.exists()


def test_paths_a_config_names_never_leave_the_model_folder(tmp_path, nothing_opened):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = _payload(elsewhere / "w.pt", tmp_path / "marker")
    folder = tmp_path / "models" / "pkg"
    folder.mkdir(parents=True)
    (folder / "link.pt").symlink_to(outside)
    (folder / "linked_dir").symlink_to(elsewhere, target_is_directory=True)
    leaves = "which leaves the model folder"
    cases = {
        "../../elsewhere/w.pt": leaves,
        str(outside): leaves,  # absolute
        "C:\\elsewhere\\w.pt": leaves,
        "sub/../../w.pt": leaves,
        "link.pt": f"resolves to {outside}, outside the model folder",
        "linked_dir/w.pt": f"resolves to {outside}, outside the model folder",
    }
    for entry, message in cases.items():
        (folder / "config.json").write_text(json.dumps({**CONFIG, "weights": entry}))
        for path in (folder, folder / "config.json"):
            with pytest.raises(ValueError) as err:
                load_model(path, trusted=True)
            assert "`weights`" in str(err.value) and repr(entry) in str(err.value)
            assert message in str(err.value), str(err.value)
    # the same guard for a model file with its config beside it
    (folder / "net.pt").write_bytes(b"")
    (folder / "net.json").write_text(json.dumps({**CONFIG, "weights": "../../elsewhere/w.pt"}))
    with pytest.raises(ValueError, match=leaves):
        load_model(folder / "net.pt", trusted=True)
    assert not (tmp_path / "marker").exists()


def test_a_file_in_a_subfolder_of_the_package_loads(tmp_path):
    torch.manual_seed(0)
    net = UNet(SPEC).eval()
    config = ModelConfig.from_dict({**CONFIG, "weights": "models/weights.pt"})
    save_package(tmp_path / "pkg", net, config)
    predictor = load_model(tmp_path / "pkg")
    image = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    probs = predictor.predict_proba(image, geometry=Geometry((1.0, 1.0)), device="cpu")
    z = (image - image.mean()) / image.std()
    with torch.inference_mode():
        expected = torch.softmax(net(torch.from_numpy(z[None, None])), 1)[0].numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_onnx_external_data_must_stay_in_the_model_folder(tmp_path, monkeypatch):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    bias = helper.make_tensor("bias", TensorProto.FLOAT, [1], [0.5])
    bias.ClearField("float_data")
    bias.data_location = TensorProto.EXTERNAL
    entry = bias.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    graph = helper.make_graph(
        [helper.make_node("Add", ["image", "bias"], ["logits"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [bias],
    )
    (tmp_path / "m").mkdir()
    onnx.save(helper.make_model(graph), str(tmp_path / "m" / "net.onnx"))
    (tmp_path / "m" / "net.json").write_text(
        json.dumps(
            {**CONFIG, "weights": "net.onnx", "class_names": ["cell"], "output": "sigmoid"}
            | {"class_colors": ["#ff0000"], "architecture": None}
        )
    )
    sessions = []
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: sessions.append(a))
    with pytest.raises(ValueError) as err:
        load_model(tmp_path / "m" / "net.onnx")
    assert str(err.value) == (
        "`bias.external_data.location` is '../secret.bin', which leaves the model folder; "
        "a model may only name files inside its own folder (no absolute paths, no '..')"
    )
    assert sessions == []
