"""Training: labels from probability maps, loss, augmentation, a tiny run, the CLI, and the
shipped model's Dice on its held-out deformed copy."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools._cli import main  # noqa: E402
from napari_segtools.core._types import run_to_completion  # noqa: E402
from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.io import read_image  # noqa: E402
from napari_segtools.core.samples import MNI152_FOLDER, mni152_labels, sample_path  # noqa: E402
from napari_segtools.core.unet.augment import AugmentSettings, random_copy  # noqa: E402
from napari_segtools.core.unet.losses import make_loss  # noqa: E402
from napari_segtools.core.unet.package import ModelConfig, load_model  # noqa: E402
from napari_segtools.core.unet.train import (  # noqa: E402
    TrainCase,
    class_weights,
    dice_per_class,
    iter_train,
    labels_from_probability_maps,
    make_case,
    validation_copies,
)


def test_labels_from_probability_maps_match_the_mni152_rule():
    rng = np.random.default_rng(0)
    gm = rng.integers(0, 256, (6, 7, 8)).astype(np.uint8)
    wm = (rng.random((6, 7, 8)) * (255 - gm)).astype(np.uint8)  # gm + wm <= 255
    gm[0, 0, :2], wm[0, 0, :2] = 128, 128  # a tie goes to grey matter
    ours = labels_from_probability_maps([gm, wm], threshold=127)
    assert np.array_equal(ours, mni152_labels(gm, wm))


def test_class_weights_are_median_frequency_balanced():
    case = TrainCase(np.zeros((1, 2, 4)), np.array([[0, 0, 0, 0], [1, 1, 2, 2]], np.uint8))
    np.testing.assert_allclose(class_weights([case], classes=3), [0.5, 1.0, 1.0])


def test_loss_is_near_zero_for_a_confident_correct_prediction():
    target = torch.tensor([[[0, 1], [2, 1]]])
    logits = 30.0 * torch.nn.functional.one_hot(target, 3).movedim(-1, 1).float()
    loss = make_loss("dice_ce", class_weights=np.ones(3))
    assert float(loss(logits, target)) < 1e-4
    assert float(loss(-logits, target)) > 1.0


def test_dice_per_class_known_answer():
    ref = np.array([[0, 1, 1, 2]])
    pred = np.array([[0, 1, 2, 2]])
    np.testing.assert_allclose(dice_per_class(ref, pred, classes=3), [2 / 3, 2 / 3])


def test_random_copy_without_variation_is_the_identity():
    rng = np.random.default_rng(1)
    image = rng.random((1, 9, 10, 11)).astype(np.float32)
    labels = rng.integers(0, 3, (9, 10, 11)).astype(np.uint8)
    none = AugmentSettings(rotation_deg=0, scaling=0, displacement_mm=0, bias=0, gamma=0, noise=0)
    out, lab = random_copy(image, labels, spacing=(2.0, 1.0, 1.5), rng=rng, settings=none)
    np.testing.assert_allclose(out, image, atol=1e-4)
    assert np.array_equal(lab, labels)


def test_random_copies_are_reproducible_and_keep_label_values():
    rng = np.random.default_rng(2)
    image = rng.random((1, 12, 12, 12)).astype(np.float32)
    labels = (image[0] > 0.5).astype(np.uint8) * 2
    case = TrainCase(image, labels)
    a, b = (
        validation_copies(case, spacing=(2, 2, 2), count=1),
        validation_copies(case, spacing=(2, 2, 2), count=1),
    )
    assert np.array_equal(a[0].image, b[0].image) and np.array_equal(a[0].labels, b[0].labels)
    assert set(np.unique(a[0].labels)) <= {0, 2}
    assert not np.array_equal(a[0].image, image)


def test_make_case_reorients_and_resamples():
    """A 2 x 1 mm image stored with its axes swapped and the first one flipped."""
    rng = np.random.default_rng(7)
    image = rng.random((6, 4)).astype(np.float32)
    labels = (image > 0.5).astype(np.uint8)
    direction = np.array([[0.0, -1.0], [1.0, 0.0]])  # numpy axis 1 runs along -physical axis 0
    case = make_case(
        image, labels, geometry=Geometry((1.0, 2.0), direction=direction), target_spacing=(2, 1)
    )
    assert case.image.shape == (1, 4, 6) and case.labels.shape == (4, 6)
    np.testing.assert_array_equal(case.labels, labels.T[::-1])
    np.testing.assert_allclose(case.image[0], image.T[::-1], atol=1e-6)


def test_make_case_deprecated_spacing_and_direction():
    rng = np.random.default_rng(8)
    image = rng.random((6, 4, 5)).astype(np.float32)
    labels = (image > 0.5).astype(np.uint8)
    direction = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    new = make_case(
        image,
        labels,
        geometry=Geometry((1.0, 2.0, 1.0), direction=direction),
        target_spacing=(2.0, 2.0, 2.0),
    )
    with pytest.warns(
        FutureWarning, match=r"make_case\(\): `spacing`, `direction` are deprecated"
    ):
        old = make_case(
            image,
            labels,
            spacing=(1.0, 2.0, 1.0),
            direction=direction,
            target_spacing=(2.0, 2.0, 2.0),
        )
    np.testing.assert_array_equal(old.image, new.image)
    np.testing.assert_array_equal(old.labels, new.labels)


def test_options_are_keyword_only():
    case = TrainCase(np.zeros((1, 2, 4)), np.array([[0, 0, 0, 0], [1, 1, 2, 2]], np.uint8))
    with pytest.raises(TypeError):
        class_weights([case], 3)
    with pytest.raises(TypeError):
        dice_per_class(case.labels, case.labels, 3)
    with pytest.raises(TypeError):
        make_loss("dice_ce", "softmax")
    with pytest.raises(TypeError):
        make_case(case.image, case.labels, Geometry((1, 1)))
    with pytest.raises(TypeError):
        AugmentSettings(12.0)
    with pytest.raises(TypeError):
        iter_train([case], None, [case])


def _disc_case(seed):
    """A 2-D phantom: a bright disc (class 2) inside a mid-grey ring (class 1), with noise."""
    yy, xx = np.mgrid[:40, :40]
    r = np.hypot(yy - 20 + seed, xx - 19)
    labels = np.where(r < 8, 2, np.where(r < 14, 1, 0)).astype(np.uint8)
    image = np.array([0.0, 100.0, 200.0], np.float32)[labels]
    image += np.random.default_rng(seed).normal(0, 10, image.shape).astype(np.float32)
    return TrainCase(np.clip(image, 0, None)[None], labels)


def test_a_short_2d_training_learns_a_phantom():
    config = ModelConfig.from_dict(
        {
            "spatial_dims": 2,
            "in_channels": 1,
            "class_names": ["bg", "ring", "disc"],
            "class_colors": ["#000", "#f00", "#0f0"],
            "spacing": [1, 1],
            "normalization": {"method": "percentile", "lower": 0.5, "upper": 99.5},
            "patch_size": [32, 32],
            "weights": "weights.pt",
            "architecture": {
                "spatial_dims": 2,
                "in_channels": 1,
                "out_channels": 3,
                "features": [8, 16],
                "norm": "batch",
            },
        }
    )
    result = run_to_completion(
        iter_train(
            [_disc_case(0)],
            config,
            val_cases=[_disc_case(3)],
            epochs=2,
            steps_per_epoch=15,
            batch_size=4,
            learning_rate=1e-2,
            device="cpu",
        )
    )
    assert len(result.history) == 2 and result.config.training["best_epoch"] in (1, 2)
    assert min(result.config.training["validation_dice"].values()) > 0.8


def test_cli_trains_and_writes_a_loadable_package(tmp_path):
    sitk = pytest.importorskip("SimpleITK")
    case = _disc_case(0)
    for name, array in (("img.nii.gz", case.image[0]), ("lab.nii.gz", case.labels)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((1.0, 1.0))
        sitk.WriteImage(image, str(tmp_path / name))
    code = main(
        [
            "train",
            "--images",
            str(tmp_path / "img.nii.gz"),
            "--labels",
            str(tmp_path / "lab.nii.gz"),
            "--patch-size",
            "16",
            "--features",
            "4",
            "8",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--validation-copies",
            "1",
            "--test-copies",
            "1",
            "--output",
            str(tmp_path / "model"),
        ]
    )
    assert code == 0
    predictor = load_model(tmp_path / "model")
    assert predictor.config.class_names == ("background", "class 1", "class 2")
    assert predictor.config.training["held_out"]["copy_indices"] == [1]
    prediction = predictor.predict(case.image[0], geometry=Geometry((1, 1)), device="cpu")
    assert prediction.shape == (40, 40) and prediction.dtype == np.uint8


def test_cli_reports_unpaired_files(tmp_path, capsys):
    (tmp_path / "a.nii.gz").write_bytes(b"")
    code = main(["train", "--images", str(tmp_path / "a.nii.gz"), "--output", str(tmp_path / "m")])
    assert code == 2 and "give --labels or --probability-maps" in capsys.readouterr().err


def test_shipped_model_reaches_its_stated_dice_on_the_held_out_copy():
    """Rebuild the held-out deformed copy the training never saw and score the shipped model
    with the project's Dice; it must reach the Dice stated in its config (and the README)."""
    predictor = load_model("mni152-brain-tissue")
    cfg = predictor.config
    files = {
        k: sample_path(MNI152_FOLDER, f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz")
        for k in ("t1", "gm", "wm")
    }
    t1, geometry = read_image(str(files["t1"]))
    maps = [read_image(str(files[k]))[0] for k in ("gm", "wm")]
    case = make_case(t1, maps, geometry=geometry, target_spacing=cfg.spacing, map_threshold=127)
    held_out = cfg.training["held_out"]
    index = held_out["copy_indices"][0]
    copy = validation_copies(case, spacing=cfg.spacing, count=1, start=index)[0]
    labels = predictor.predict(copy.image, geometry=Geometry(cfg.spacing), device="cpu")
    dices = dice_per_class(copy.labels, labels, classes=len(cfg.class_names))
    for name, value in zip(cfg.class_names[1:], dices, strict=True):
        assert value >= np.floor(held_out["dice"][name] * 100) / 100, name
