"""Multilabel U-Nets: a sigmoid head trained on overlapping structures, N input channels, the
masks of a prediction, and ``napari-segtools train --multilabel`` with two contrasts."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools._cli import main  # noqa: E402
from napari_segtools.core._types import run_to_completion  # noqa: E402
from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.unet.augment import warp  # noqa: E402
from napari_segtools.core.unet.losses import make_loss  # noqa: E402
from napari_segtools.core.unet.package import ModelConfig, Predictor, load_model  # noqa: E402
from napari_segtools.core.unet.predict import Prediction  # noqa: E402
from napari_segtools.core.unet.train import (  # noqa: E402
    TrainCase,
    class_weights,
    iter_train,
    make_case,
    structure_dice,
)

MM1 = Geometry((1.0, 1.0))


def _config(**changes) -> ModelConfig:
    data = {
        "spatial_dims": 2,
        "in_channels": 1,
        "class_names": ["organ", "lesion"],
        "class_colors": ["#00ff00", "#ff0000"],
        "spacing": [1.0, 1.0],
        "normalization": {"method": "percentile", "lower": 0.5, "upper": 99.5},
        "patch_size": [32, 32],
        "weights": "weights.pt",
        "output": "sigmoid",
        "architecture": {
            "spatial_dims": 2,
            "in_channels": 1,
            "out_channels": 2,
            "features": [8, 16],
            "norm": "batch",
        },
    }
    data.update(changes)
    return ModelConfig.from_dict(data)


def _nested(seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """An organ (disc of radius 13) holding a lesion (disc of radius 6): the lesion's voxels
    belong to both structures. Intensities 0 / 100 / 200 with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :40]
    cy, cx = 20 + rng.integers(-2, 3), 20 + rng.integers(-2, 3)
    organ = np.hypot(yy - cy, xx - cx) < 13
    lesion = np.hypot(yy - cy - 3, xx - cx + 2) < 6
    image = 100.0 * organ + 100.0 * lesion + rng.normal(0, 10, organ.shape)
    return np.clip(image, 0, None).astype(np.float32), [organ, lesion]


def test_a_multilabel_model_recovers_a_structure_inside_another():
    cases = [make_case(*_nested(s), geometry=MM1, target_spacing=(1, 1)) for s in (0, 1)]
    assert cases[0].multilabel and cases[0].labels.shape == (2, 40, 40)
    assert (cases[0].labels[1] <= cases[0].labels[0]).all()  # the lesion lies in the organ
    val = make_case(*_nested(2), geometry=MM1, target_spacing=(1, 1))
    result = run_to_completion(
        iter_train(
            cases,
            _config(),
            val_cases=[val],
            epochs=6,
            steps_per_epoch=25,
            batch_size=4,
            learning_rate=1e-2,
            device="cpu",
        )
    )
    assert result.config.training["loss"] == "dice_ce"
    assert set(result.config.training["validation_dice"]) == {"organ", "lesion"}
    image, (organ, lesion) = _nested(7)  # never seen
    predictor = Predictor(result.config, result.module)
    masks = predictor.predict(image, geometry=MM1, device="cpu")
    assert masks.dtype == bool and masks.shape == (2, 40, 40)
    dice = structure_dice(np.stack([organ, lesion]), masks, config=result.config)
    assert dice["organ"] >= 0.9 and dice["lesion"] >= 0.9, dice
    assert (masks[0] & masks[1]).sum() > 0.8 * lesion.sum()  # the overlap is predicted


def test_class_weights_of_multilabel_cases_known_answer():
    masks = np.zeros((2, 4, 5), np.uint8)
    masks[0, :2] = 1  # 10 of 20 voxels: absent and present equally frequent
    masks[1, 0, 0] = 1  # 1 of 20
    case = TrainCase(np.zeros((1, 4, 5), np.float32), masks)
    np.testing.assert_allclose(
        class_weights([case], classes=2), [[1.0, 1.0], [0.5 / 0.95, 0.5 / 0.05]], rtol=1e-6
    )


def test_make_case_resamples_masks_by_nearest_neighbour_and_checks_the_grid():
    organ = np.zeros((4, 6), bool)
    organ[1:3] = True
    lesion = np.zeros((4, 6), np.uint8)
    lesion[2, 3] = 7  # non-zero is inside
    case = make_case(
        np.ones((4, 6)), [organ, lesion], geometry=Geometry((2.0, 1.0)), target_spacing=(1, 1)
    )
    assert case.labels.dtype == np.uint8 and set(np.unique(case.labels)) == {0, 1}
    np.testing.assert_array_equal(case.labels[0], np.repeat(organ, 2, axis=0))
    np.testing.assert_array_equal(case.labels[1], np.repeat(lesion > 0, 2, axis=0))
    with pytest.raises(ValueError, match=r"`labels` must lie on the image's grid \(4, 6\)"):
        make_case(np.ones((4, 6)), [organ[:3]], geometry=MM1, target_spacing=(1, 1))


def test_warp_keeps_each_mask_and_their_overlap():
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[0, 2:6, 2:6], masks[1, 3:5, 3:5] = 1, 1
    axes = [torch.linspace(-1, 1, 8)] * 2
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).flip(-1)[None]  # identity
    _, out = warp(np.ones((1, 8, 8)), masks, grid)
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), masks)


def test_training_refuses_targets_that_do_not_fit_the_head():
    image, masks = _nested(0)
    multilabel = make_case(image, masks, geometry=MM1, target_spacing=(1, 1))
    class_map = TrainCase(multilabel.image, multilabel.labels.sum(axis=0).astype(np.uint8))
    with pytest.raises(ValueError, match=r"cases\[0\]: a sigmoid model with 2 structure"):
        next(iter_train([class_map], _config(), val_cases=[multilabel], device="cpu"))
    softmax = _config(output="softmax", class_names=["bg", "a"], class_colors=["#000", "#f00"])
    with pytest.raises(ValueError, match=r"need output 'sigmoid'"):
        next(iter_train([multilabel], softmax, val_cases=[multilabel], device="cpu"))
    two = _config(
        in_channels=2, architecture={"spatial_dims": 2, "in_channels": 2, "features": [4, 8]}
    )
    with pytest.raises(
        ValueError, match=r"cases\[0\] has 1 image channel\(s\) but the model takes 2"
    ):
        next(iter_train([multilabel], two, val_cases=[multilabel]))
    with pytest.raises(ValueError, match=r"`class_weights` apply to the losses"):
        next(
            iter_train(
                [multilabel],
                _config(),
                val_cases=[multilabel],
                loss="dice",
                weights=np.ones(2),
                device="cpu",
            )
        )


def test_training_takes_a_loss_function_and_records_its_name():
    image, masks = _nested(0)
    case = make_case(image, masks, geometry=MM1, target_spacing=(1, 1))
    focal = make_loss("focal", output="sigmoid", focal_gamma=3.0)
    result = run_to_completion(
        iter_train(
            [case],
            _config(),
            val_cases=[case],
            epochs=1,
            steps_per_epoch=1,
            loss=focal,
            device="cpu",
        )
    )
    assert result.config.training["loss"] == "focal_loss"
    assert "class_weights" not in result.config.training
    with pytest.raises(ValueError, match="give the class weights to make_loss"):
        next(iter_train([case], _config(), val_cases=[case], loss=focal, weights=np.ones(2)))


class _Pointwise(torch.nn.Module):
    """out[k] = (k + 1) * (sum of the input channels): each voxel on its own."""

    def __init__(self, out_channels: int):
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x):
        total = x.sum(dim=1, keepdim=True)
        return torch.cat([(k + 1) * total for k in range(self.out_channels)], dim=1)


def test_sigmoid_head_gives_independent_probabilities_and_masks():
    config = _config(architecture=None, normalization={"method": "zscore"}, patch_size=[8, 8])
    image = np.random.default_rng(3).random((6, 9)).astype(np.float32)
    predictor = Predictor(config, _Pointwise(2))
    probs = predictor.predict_proba(image, geometry=MM1, device="cpu")
    z = (image - image.mean()) / image.std()
    expected = 1 / (1 + np.exp(-np.stack([z, 2 * z])))  # a sigmoid per channel, no softmax
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    masks = predictor.predict(image, geometry=MM1, device="cpu")
    np.testing.assert_array_equal(masks, np.stack([z > 0, z > 0]))  # may overlap
    prediction = Prediction(probs, config, "cpu")
    assert prediction.multilabel
    np.testing.assert_array_equal(prediction.masks(), probs > 0.5)
    np.testing.assert_array_equal(prediction.masks(threshold=0.9), probs > 0.9)
    with pytest.raises(ValueError, match=r"use masks\(\)"):
        _ = prediction.labels
    with pytest.raises(ValueError, match="`threshold` must lie in"):
        prediction.masks(threshold=2)


def test_softmax_masks_are_the_one_hot_of_the_labels():
    config = _config(
        output="softmax",
        class_names=["bg", "a", "b"],
        class_colors=["#000", "#f00", "#0f0"],
        architecture=None,
    )
    probs = np.random.default_rng(4).dirichlet(np.ones(3), size=(5, 4)).transpose(2, 0, 1)
    prediction = Prediction(probs.astype(np.float32), config, "cpu")
    masks = prediction.masks()
    assert not prediction.multilabel and masks.shape == (3, 5, 4)
    np.testing.assert_array_equal(masks.argmax(axis=0), prediction.labels)
    np.testing.assert_array_equal(masks.sum(axis=0), 1)


def test_n_input_channels_are_normalised_one_by_one():
    config = _config(
        in_channels=2,
        architecture=None,
        class_names=["x"],
        class_colors=["#fff"],
        normalization={"method": "zscore"},
        patch_size=[8, 8],
    )
    rng = np.random.default_rng(5)
    image = np.stack([rng.random((8, 8)) * 1000 + 500, rng.random((8, 8))]).astype(np.float32)
    probs = Predictor(config, _Pointwise(1)).predict_proba(image, geometry=MM1, device="cpu")
    z = sum((c - c.mean()) / c.std() for c in image)
    np.testing.assert_allclose(probs[0], 1 / (1 + np.exp(-z)), atol=1e-5)
    with pytest.raises(ValueError, match=r"expects 2-D images with 2 channel\(s\) first"):
        Predictor(config, _Pointwise(1)).predict(image[0], geometry=MM1)


def _write(path, array):
    sitk = pytest.importorskip("SimpleITK")
    image = sitk.GetImageFromArray(np.asarray(array, np.float32))
    image.SetSpacing((1.0, 1.0))
    sitk.WriteImage(image, str(path))


def test_cli_trains_a_two_contrast_multilabel_model(tmp_path, capsys):
    for name in ("t1", "t2", "organ", "lesion"):
        (tmp_path / name).mkdir()
    for case in range(2):
        image, (organ, lesion) = _nested(case)
        _write(tmp_path / "t1" / f"c{case}.nii.gz", image)
        _write(tmp_path / "t2" / f"c{case}.nii.gz", 300.0 - image)  # another contrast
        _write(tmp_path / "organ" / f"c{case}.nii.gz", organ)
        _write(tmp_path / "lesion" / f"c{case}.nii.gz", lesion)
    args = ["train", "--images", str(tmp_path / "t1"), "--images", str(tmp_path / "t2")]
    args += ["--multilabel", "--labels", str(tmp_path / "organ"), "--labels"]
    args += [str(tmp_path / "lesion"), "--class-names", "organ", "lesion"]
    args += ["--loss", "bce", "--class-weights", "1", "4", "--padding", "minimum"]
    args += ["--patch-size", "16", "--features", "4", "8", "--epochs", "1"]
    args += ["--steps-per-epoch", "1", "--validation-copies", "1", "--test-copies", "1"]
    args += ["--downsampling", "strided", "--context", "dilated"]
    assert main([*args, "--output", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out
    assert "receptive field: " in out and "voxels (" in out and "held-out Dice" in out
    predictor = load_model(tmp_path / "model")
    cfg = predictor.config
    assert (cfg.output, cfg.padding, cfg.in_channels, cfg.class_names) == (
        "sigmoid",
        "minimum",
        2,
        ("organ", "lesion"),
    )
    assert cfg.architecture["downsampling"] == "strided"
    assert cfg.training["loss"] == "bce" and cfg.training["class_weights"] == [1.0, 4.0]
    assert set(cfg.training["held_out"]["dice"]) == {"organ", "lesion"}
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["output"] == "sigmoid" and saved["padding"] == "minimum"
    image = _nested(5)[0]
    masks = predictor.predict(np.stack([image, 300 - image]), geometry=MM1, device="cpu")
    assert masks.shape == (2, 40, 40) and masks.dtype == bool


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--loss", "bce"], "--loss bce trains a sigmoid head: add --multilabel"),
        (["--labels", "x"], "got --labels 2 times"),
        (["--multilabel", "--loss", "ce"], "--loss ce is categorical"),
    ],
)
def test_cli_refuses_a_head_that_does_not_fit(tmp_path, capsys, extra, message):
    image, (organ, _) = _nested(0)
    _write(tmp_path / "img.nii.gz", image)
    _write(tmp_path / "lab.nii.gz", organ)
    args = ["train", "--images", str(tmp_path / "img.nii.gz"), "--labels"]
    args += [str(tmp_path / "lab.nii.gz"), *extra, "--output", str(tmp_path / "m")]
    if "x" in extra:
        args[args.index("x")] = str(tmp_path / "lab.nii.gz")
    assert main(args) == 2
    assert message in capsys.readouterr().err
