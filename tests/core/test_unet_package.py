"""Model packages: round trips, TorchScript, orientation/spacing handling, clear error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools.core._types import run_to_completion  # noqa: E402
from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.unet import _preprocess as pre  # noqa: E402
from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402
from napari_segtools.core.unet.package import (  # noqa: E402
    ModelConfig,
    Predictor,
    list_models,
    load_model,
    save_package,
)

SPEC = UNetSpec(spatial_dims=3, in_channels=1, out_channels=3, features=(4, 8))
MM2 = Geometry((2.0, 2.0, 2.0))


def _config(**changes) -> ModelConfig:
    data = {
        "name": "tiny",
        "spatial_dims": 3,
        "in_channels": 1,
        "class_names": ["background", "a", "b"],
        "class_colors": ["#000000", "#ff0000", "#00ff00"],
        "spacing": [2.0, 2.0, 2.0],
        "normalization": {"method": "zscore"},
        "patch_size": [8, 8, 8],
        "weights": "weights.pt",
        "architecture": SPEC.to_dict(),
    }
    data.update(changes)
    return ModelConfig.from_dict(data)


@pytest.fixture
def tiny_package(tmp_path):
    torch.manual_seed(0)
    net = UNet(SPEC).eval()
    save_package(tmp_path / "tiny", net, _config())
    return tmp_path / "tiny", net


def test_round_trip_predicts_like_the_module(tiny_package):
    folder, net = tiny_package
    predictor = load_model(folder)
    image = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32) * 100
    probs = predictor.predict_proba(image, geometry=MM2, device="cpu")
    z = (image - image.mean()) / image.std()
    with torch.inference_mode():
        expected = torch.softmax(net(torch.from_numpy(z[None, None])), 1)[0].numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    labels = predictor.predict(image, geometry=MM2, device="cpu")
    assert labels.dtype == np.uint8 and np.array_equal(labels, expected.argmax(0))
    assert load_model(folder / "config.json").config == predictor.config


def test_result_comes_back_on_the_image_grid(tiny_package):
    """A 1 mm image is resampled to the model's 2 mm and the probabilities back to 1 mm."""
    predictor = load_model(tiny_package[0])
    image = np.random.default_rng(1).random((10, 12, 7)).astype(np.float32)
    probs = predictor.predict_proba(image, geometry=Geometry((1.0, 1.0, 1.0)), device="cpu")
    assert probs.shape == (3, 10, 12, 7)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)


def test_direction_is_undone_after_prediction(tiny_package):
    """The coronal test head's direction: predicting the permuted/flipped array with its
    direction gives the canonical prediction permuted/flipped the same way."""
    predictor = load_model(tiny_package[0])
    canonical = np.random.default_rng(2).random((8, 8, 8)).astype(np.float32)
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    stored = np.flip(canonical.transpose(1, 0, 2), 0)  # the file's voxel order
    perm, flips = pre.canonical_axes(direction, 3)
    assert perm == (1, 0, 2) and flips == (False, True, False)
    assert np.array_equal(pre.to_canonical(stored, perm, flips), canonical)
    expected = predictor.predict(canonical, geometry=MM2, device="cpu")
    got = predictor.predict(
        stored, geometry=Geometry((2, 2, 2), direction=direction), device="cpu"
    )
    assert np.array_equal(got, np.flip(expected.transpose(1, 0, 2), 0))


@pytest.mark.filterwarnings("ignore")  # torch's tracer and jit deprecation notes
def test_torchscript_file_with_json_beside_it(tiny_package, tmp_path):
    folder, net = tiny_package
    traced = torch.jit.trace(net, torch.zeros(1, 1, 8, 8, 8))
    traced.save(str(tmp_path / "net.pt"))
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    del config["architecture"]
    (tmp_path / "net.json").write_text(json.dumps(config))
    image = np.random.default_rng(3).random((8, 8, 8)).astype(np.float32)
    scripted = load_model(tmp_path / "net.pt", trusted=True).predict_proba(
        image, geometry=MM2, device="cpu"
    )
    original = load_model(folder).predict_proba(image, geometry=MM2, device="cpu")
    np.testing.assert_allclose(scripted, original, atol=1e-5)


def test_shipped_models_are_listed_and_small():
    assert "mni152-brain-tissue" in list_models()
    predictor = load_model("mni152-brain-tissue")
    cfg = predictor.config
    assert cfg.class_names == ("background", "grey matter", "white matter")
    assert cfg.spacing == (2.0, 2.0, 2.0)
    size = sum(p.stat().st_size for p in Path(predictor.source).parent.iterdir())
    assert size < 10 * 2**20


def test_normalizations_known_answers():
    x = np.array([0.0, 50.0, 100.0, 1000.0])
    np.testing.assert_allclose(
        pre.normalize(x, {"method": "ct_window", "center": 50, "width": 100}), [0, 0.5, 1, 1]
    )
    z = pre.normalize(x, {"method": "zscore"})
    assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-5
    p = pre.normalize(np.arange(101.0), {"method": "percentile", "lower": 10, "upper": 90})
    assert p[10] == 0 and p[90] == 1 and p[50] == pytest.approx(0.5)


def test_configs_without_output_or_padding_load_with_the_defaults_and_save_both(tmp_path):
    old = _config().to_dict()
    del old["output"], old["padding"]
    config = ModelConfig.from_dict(old)
    assert (config.output, config.padding) == ("softmax", "edge")
    assert config.structures == ("a", "b")
    assert config.to_dict()["output"] == "softmax" and config.to_dict()["padding"] == "edge"
    assert ModelConfig.from_dict(config.to_dict()) == config
    shipped = load_model("mni152-brain-tissue").config
    assert (shipped.output, shipped.padding) == ("softmax", "edge")
    sigmoid = _config(
        output="sigmoid",
        class_names=["lesion"],
        class_colors=["#f00"],
        architecture=None,
        padding="minimum",
    )
    assert sigmoid.structures == ("lesion",) and sigmoid.padding == "minimum"


def _bright_border_package():
    """A 4 x 4 image whose border is bright (10) around a dark centre (0), a 3 x 3 mean filter
    as the network and a sigmoid head, in 8 x 8 windows: two voxels of padding each side."""
    image = np.full((4, 4), 10.0, np.float32)
    image[1:3, 1:3] = 0.0
    net = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    torch.nn.init.constant_(net.weight, 1 / 9)
    config = {
        "spatial_dims": 2,
        "class_names": ["bright"],
        "class_colors": ["#fff"],
        "spacing": [1.0, 1.0],
        "patch_size": [8, 8],
        "output": "sigmoid",
        "architecture": None,
    }
    return image, net.eval(), config


def test_edge_padding_repeats_a_bright_border_where_constant_0_pads_the_mean():
    """After z-scoring, the border is b = 2.5 / sd and the centre c = -7.5 / sd. A corner voxel's
    3 x 3 mean covers 3 border voxels, the centre voxel and 5 padded ones: constant-0 padding
    gives (3b + c) / 9 = 0, the image mean, hence a probability of exactly 0.5; edge padding
    repeats the border and gives (8b + c) / 9 > 0. The centre voxels never see the padding."""
    image, net, changes = _bright_border_package()
    z = (image - image.mean()) / image.std()
    b, c = z[0, 0], z[1, 1]
    probs = {}
    for mode in ("edge", "constant", "minimum", "reflect"):
        predictor = Predictor(_config(**changes, padding=mode), net)
        probs[mode] = predictor.predict_proba(image, geometry=Geometry((1, 1)), device="cpu")[0]
        override = Predictor(_config(**changes), net).predict_proba(
            image, geometry=Geometry((1, 1)), device="cpu", padding=mode
        )
        np.testing.assert_array_equal(override[0], probs[mode])  # the keyword wins
        padded = np.pad(z, 3, mode="constant")  # the window's own zero ring, then the image's
        padded[1:-1, 1:-1] = (
            np.pad(z, 2, constant_values=z.min()) if mode == "minimum" else np.pad(z, 2, mode=mode)
        )
        box = sum(padded[i : i + 8, j : j + 8] for i in range(3) for j in range(3)) / 9
        np.testing.assert_allclose(probs[mode], 1 / (1 + np.exp(-box[2:6, 2:6])), atol=1e-6)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert probs["constant"][0, 0] == pytest.approx(0.5, abs=1e-6)
    assert probs["edge"][0, 0] == pytest.approx(sigmoid((8 * b + c) / 9), abs=1e-6)
    assert probs["minimum"][0, 0] == pytest.approx(sigmoid((3 * b + c + 5 * c) / 9), abs=1e-6)
    border = np.ones((4, 4), bool)
    border[1:3, 1:3] = False
    assert (probs["edge"][border] > probs["constant"][border] + 0.04).all()
    np.testing.assert_array_equal(probs["edge"][~border], probs["constant"][~border])
    with pytest.raises(ValueError, match="`padding` must be one of"):
        predictor.predict(image, geometry=Geometry((1, 1)), padding="wrap")


# --- error messages -------------------------------------------------------------------------


def test_unknown_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found; expected a shipped model name"):
        load_model("no-such-model")


def test_corrupt_json(tiny_package):
    folder, _ = tiny_package
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_model(folder)


def test_missing_config_keys(tiny_package):
    folder, _ = tiny_package
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    del config["spacing"], config["patch_size"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"lacks required keys \['spacing', 'patch_size'\]"):
        load_model(folder)


def test_corrupt_weights(tiny_package):
    folder, _ = tiny_package
    (folder / "weights.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="corrupt or not a PyTorch file"):
        load_model(folder)


def test_weights_that_do_not_fit_the_architecture(tiny_package):
    folder, _ = tiny_package
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["architecture"]["features"] = [6, 12]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match the architecture in the config"):
        load_model(folder)


def test_weights_file_without_config_beside_it(tmp_path):
    (tmp_path / "lonely.pt").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="has no config lonely.json beside it"):
        load_model(tmp_path / "lonely.pt")


def test_bad_output_and_padding_in_a_config():
    with pytest.raises(ValueError, match=r"`output` must be one of \('softmax', 'sigmoid'\)"):
        _config(output="relu")
    with pytest.raises(ValueError, match="`padding` must be one of"):
        _config(padding="zero")
    with pytest.raises(ValueError, match=r"expected >= 2 `class_names` \(background first\)"):
        _config(class_names=["a"], class_colors=["#f00"], architecture=None)


def test_bad_normalization_and_class_colours():
    with pytest.raises(ValueError, match="`normalization.method` must be one of"):
        _config(normalization={"method": "minmax"})
    with pytest.raises(ValueError, match="one `class_colors` entry each"):
        _config(class_colors=["#000000"])
    with pytest.raises(ValueError, match="`patch_size` must have 3 values"):
        _config(patch_size=[8, 8])


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        (
            (2, 8, 8, 8),
            (
                r"expects 3-D images with 1 channel\(s\) first; got 2 channel\(s\): an array "
                r"of shape \(2, 8, 8, 8\)"
            ),
        ),
        ((8, 8), "`image` must be 3-D or 4-D"),
    ],
)
def test_channel_and_dimension_mismatch(tiny_package, shape, match):
    predictor = load_model(tiny_package[0])
    with pytest.raises(ValueError, match=match):
        predictor.predict(np.zeros(shape, np.float32), geometry=MM2)


def test_geometry_is_required_and_checked(tiny_package):
    predictor = load_model(tiny_package[0])
    image = np.zeros((8, 8, 8), np.float32)
    with pytest.raises(TypeError, match="geometry"):
        predictor.predict(image)  # no silent 1 mm default
    with pytest.raises(ValueError, match="`geometry` has 2 axes but `image` is 3-D"):
        predictor.predict(image, geometry=Geometry((1, 1)))
    with pytest.raises(
        TypeError,
        match=r"`geometry` must be a Geometry\(spacing, origin, direction\) in mm.*got tuple",
    ):
        predictor.predict(image, geometry=(2, 2, 2))  # a bare spacing is not a geometry


def test_options_are_keyword_only(tiny_package):
    predictor = load_model(tiny_package[0])
    image = np.zeros((8, 8, 8), np.float32)
    for method in (predictor.predict, predictor.predict_proba, predictor.iter_predict_proba):
        with pytest.raises(TypeError):
            method(image, MM2)
    with pytest.raises(TypeError):
        ModelConfig.from_dict(_config().to_dict(), "positional source")
    with pytest.raises(TypeError):
        Predictor(predictor.config, predictor.module, "positional source")
    with pytest.raises(TypeError):
        UNetSpec(3, 1, 3)


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_deprecated_spacing_and_direction_warn_and_give_equal_results(tiny_package, method):
    predictor = load_model(tiny_package[0])
    image = np.random.default_rng(5).random((8, 6, 10)).astype(np.float32)
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    call = getattr(predictor, method)
    new = call(image, geometry=Geometry((1.0, 2.0, 1.5), direction=direction), device="cpu")
    with pytest.warns(
        FutureWarning, match=f"{method}\\(\\): `spacing`, `direction` are deprecated"
    ):
        old = call(image, spacing=(1.0, 2.0, 1.5), direction=direction, device="cpu")
    np.testing.assert_array_equal(old, new)
    with pytest.warns(FutureWarning):
        isotropic = call(image, spacing=2.0, device="cpu")  # an old scalar spacing still works
    np.testing.assert_array_equal(isotropic, call(image, geometry=MM2, device="cpu"))


def test_deprecated_spacing_on_the_generator_and_conflicts(tiny_package):
    predictor = load_model(tiny_package[0])
    image = np.random.default_rng(6).random((8, 8, 8)).astype(np.float32)
    with pytest.warns(FutureWarning):
        gen = predictor.iter_predict_proba(image, spacing=(2, 2, 2), device="cpu")
    np.testing.assert_array_equal(
        run_to_completion(gen), predictor.predict_proba(image, geometry=MM2, device="cpu")
    )
    with pytest.raises(TypeError, match="got both `geometry` and spacing"):
        predictor.predict(image, geometry=MM2, spacing=(2, 2, 2))


def test_predictor_reports_class_count_mismatch(tiny_package):
    folder, net = tiny_package
    # a TorchScript package has no architecture to check against: the run-time check catches it
    config = _config(class_names=["bg", "a"], class_colors=["#000", "#f00"], architecture=None)
    predictor = Predictor(config, net)
    with pytest.raises(
        ValueError, match="model produced 3 channels but its config names 2 classes"
    ):
        predictor.predict(np.zeros((8, 8, 8), np.float32), geometry=MM2, device="cpu")
