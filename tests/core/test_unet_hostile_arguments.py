"""U-Net API: every hostile argument gets a clear error before any inference runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.hostile import assert_clear_error, hostile_cases

from napari_segtools.core.geometry import Geometry
from napari_segtools.core.unet.package import ModelConfig, Predictor, load_model
from napari_segtools.core.unet.predict import predictive_entropy

torch = pytest.importorskip("torch")
from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402

SPEC = UNetSpec(spatial_dims=2, in_channels=1, out_channels=2, features=(2, 4))
CONFIG = {
    "spatial_dims": 2,
    "in_channels": 1,
    "class_names": ["background", "cell"],
    "class_colors": ["#000000", "#ff0000"],
    "spacing": [1.0, 1.0],
    "normalization": {"method": "zscore"},
    "patch_size": [16, 16],
    "weights": "weights.pt",
    "architecture": SPEC.to_dict(),
}
torch.manual_seed(0)
PREDICTOR = Predictor(ModelConfig.from_dict(CONFIG), UNet(SPEC).eval())
IMAGE = np.random.default_rng(0).random((16, 16)).astype(np.float32)
OPTIONS = {
    "geometry": Geometry((1.0, 1.0)),
    "overlap": 0.5,
    "tta": False,
    "device": "cpu",
    "batch_size": 2,
    "mask": IMAGE > 0.3,
    "domain_check": True,
}
PROBS = np.stack([IMAGE, 1 - IMAGE])
CALLS = {
    "Predictor.predict": (PREDICTOR.predict, (IMAGE,), OPTIONS),
    "Predictor.predict_proba": (PREDICTOR.predict_proba, (IMAGE,), OPTIONS),
    "predictive_entropy": (predictive_entropy, (PROBS,), {}),
    "load_model": (load_model, ("mni152-brain-tissue",), {"trusted": False}),
}


@pytest.mark.parametrize(("name", "slot", "label"), list(hostile_cases(CALLS)))
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_hostile_argument_gets_a_clear_error(name, slot, label):
    if (name, label) == ("load_model", "text"):  # a name that is no model: the documented error
        with pytest.raises(FileNotFoundError, match="model 'x' not found; expected"):
            load_model("x")
        return
    assert_clear_error(CALLS, name, slot, label)


@pytest.mark.parametrize("name", ["Predictor.predict_proba", "predictive_entropy"])
def test_foreign_byte_order_and_fortran_layout_give_the_same_result(name):
    func, args, kwargs = CALLS[name]
    odd = np.asfortranarray(args[0].astype(args[0].dtype.newbyteorder(">")))
    np.testing.assert_allclose(func(odd, **kwargs), func(*args, **kwargs), rtol=1e-6)


def test_probabilities_outside_0_1_or_nan_are_refused():
    with pytest.raises(ValueError, match="`probabilities` must lie in \\[0, 1\\]"):
        predictive_entropy(PROBS * 3)
    with pytest.raises(ValueError, match="`probabilities` contains NaN"):
        predictive_entropy(np.where(PROBS > 0.5, np.nan, PROBS))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"in_channels": 0}, "`in_channels` must be >= 1"),
        ({"in_channels": "one"}, "`in_channels` must be an integer"),
        ({"patch_size": [16, 0]}, r"`patch_size\[1\]` must be >= 1"),
        ({"patch_size": [16, 10**9]}, r"`patch_size\[1\]` must be <= 1024"),
        ({"class_names": ["a", "a"]}, "`class_names` must be distinct"),
        ({"class_names": ["a", None]}, "`class_names` must be non-empty text"),
        ({"weights": "../../etc/x.pt"}, "`weights` is '../../etc/x.pt', which leaves the"),
        ({"spacing": [1.0, float("nan")]}, "`spacing`"),
        ({"architecture": [1, 2]}, "`architecture` must be a JSON object"),
        (
            {"class_names": ["bg", "a", "b"], "class_colors": ["#000"] * 3},
            "`architecture.out_channels` is 2 but the config has 3 .class_names.: classes",
        ),
        ({"spatial_dims": 2.0}, "`spatial_dims`"),
    ],
)
def test_an_invalid_config_is_refused_naming_the_key(change, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig.from_dict({**CONFIG, **change}, source="test.json")


def test_a_model_whose_classes_disagree_with_its_weights_is_refused_before_inference(tmp_path):
    from napari_segtools.core.unet.package import save_package

    save_package(tmp_path / "m", UNet(SPEC), ModelConfig.from_dict(CONFIG))
    path = tmp_path / "m" / "config.json"
    data = json.loads(path.read_text())
    data["class_names"], data["class_colors"] = ["bg", "a", "b"], ["#000", "#f00", "#0f0"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="classes and weights disagree"):
        load_model(tmp_path / "m")
