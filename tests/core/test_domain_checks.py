"""Domain checks: the shipped model warns on a head, a CT and a crop, not on its own template."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools.core._types import run_to_completion  # noqa: E402
from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.io import read_image  # noqa: E402
from napari_segtools.core.samples import (  # noqa: E402
    MNI152_FOLDER,
    MNI152_GM,
    MNI152_T1,
    MNI152_WM,
    read_sample,
    sample_path,
)
from napari_segtools.core.unet import _preprocess as pre  # noqa: E402
from napari_segtools.core.unet.domain import (  # noqa: E402
    DomainWarning,
    check_domain,
    training_statistics,
)
from napari_segtools.core.unet.package import (  # noqa: E402
    CONFIG_NAME,
    ModelConfig,
    Predictor,
    _models_dir,
    _read_config,
)
from napari_segtools.core.unet.train import TrainCase, iter_train, make_case  # noqa: E402

HEAD = ("itk_t1_head_3d", "KmeansTest_T1UCharRaw.nii.gz")
STRIPPED = ("itk_t1_head_3d", "KmeansTest_T1RawSkullStrip.nii.gz")
CT = ("ct_head_invesalius", "ct_head_0051.nii.gz")


@pytest.fixture(scope="module")
def shipped() -> ModelConfig:
    return _read_config(_models_dir() / "mni152-brain-tissue" / CONFIG_NAME)


@pytest.fixture(scope="module")
def head():
    image, geometry = read_sample(*HEAD)
    brain = read_sample(*STRIPPED)[0] > 0
    return image, geometry, brain


def _distance(message: str) -> float:
    return float(re.search(r"distance ([0-9.]+)", message).group(1))


def test_the_shipped_model_is_quiet_on_its_own_training_image(shipped):
    image, geometry = read_sample(MNI152_FOLDER, MNI152_T1)  # 1 mm; the model works at 2 mm
    assert check_domain(image, geometry=geometry, config=shipped) == []


def test_the_unstripped_head_is_far_from_the_training_intensities(shipped, head):
    image, geometry, brain = head
    (message,) = check_domain(image, geometry=geometry, config=shipped)
    assert message.startswith("intensity: the histogram is far") and 0.3 < _distance(message) < 0.4
    # skull-stripped, or masked to its brain, the same head is training-like
    assert check_domain(image * brain, geometry=geometry, config=shipped) == []
    assert check_domain(image, geometry=geometry, config=shipped, mask=brain) == []


def test_a_ct_is_far_from_the_training_intensities(shipped):
    image, geometry = read_sample(*CT)
    (message,) = check_domain(image, geometry=geometry, config=shipped)
    assert message.startswith("intensity:") and 0.3 < _distance(message) < 0.4


def test_the_shipped_model_warns_on_the_head_and_not_on_the_template(shipped, head):
    """Predictor.predict warns before the network runs (a 1x1 stand-in keeps it fast)."""
    image, geometry, _ = head
    predictor = Predictor(shipped, torch.nn.Conv3d(1, 3, 1))
    with pytest.warns(DomainWarning, match="^intensity: the histogram is far"):
        predictor.predict(image, geometry=geometry, device="cpu")
    template, grid = read_sample(MNI152_FOLDER, MNI152_T1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainWarning)
        predictor.predict(template[::2, ::2, ::2], geometry=Geometry((2.0,) * 3), device="cpu")
        predictor.predict(image, geometry=geometry, device="cpu", domain_check=False)


def test_the_shipped_statistics_are_those_of_its_training_image(shipped):
    """Recomputed as `napari-segtools train` saw the template: read, 2 mm, normalised."""
    t1, geometry = read_image(str(sample_path(MNI152_FOLDER, MNI152_T1)))
    maps = [read_image(str(sample_path(MNI152_FOLDER, m)))[0] for m in (MNI152_GM, MNI152_WM)]
    case = make_case(t1, maps, geometry=geometry, target_spacing=(2.0,) * 3, map_threshold=127)
    normalised = np.stack([pre.normalize(c, shipped.normalization) for c in case.image])
    stats = training_statistics([normalised], spacing=shipped.spacing)
    assert (
        stats["extent_mm"]
        == shipped.training["extent_mm"]
        == {
            "min": [188.0, 232.0, 196.0],
            "max": [188.0, 232.0, 196.0],
        }
    )
    for key in ("foreground_above", "range", "quantiles"):
        np.testing.assert_allclose(
            stats["intensity"][key], shipped.training["intensity"][key], atol=1e-6
        )


def _phantom(seed: int, shift: float = 0.0) -> np.ndarray:
    """40 x 60 x 80 mm at 2 mm: half background at -250 HU, half tissue of 0-500 HU + shift."""
    rng = np.random.default_rng(seed)
    tissue = rng.uniform(0, 500, (20, 30, 40)) + shift
    return np.where(rng.random((20, 30, 40)) < 0.5, -250.0, tissue).astype(np.float32)


def _synthetic(**changes) -> ModelConfig:
    """A 3-D model at 2 mm trained on :func:`_phantom` with a fixed HU window."""
    hu = _phantom(0)[None]
    spec = {"method": "ct_window", "center": 250.0, "width": 1000.0}
    stats = training_statistics([pre.normalize(hu, spec)], spacing=(2.0, 2.0, 2.0))
    data = {
        "spatial_dims": 3,
        "in_channels": 1,
        "class_names": ["background", "a"],
        "class_colors": ["#000000", "#ff0000"],
        "spacing": [2.0, 2.0, 2.0],
        "normalization": spec,
        "patch_size": [16, 16, 16],
        "weights": "weights.pt",
        "training": stats,
        **changes,
    }
    return ModelConfig.from_dict(data)


def test_a_shifted_histogram_is_its_shift_away():
    """The Wasserstein distance of a shift is the shift: tissue +200 HU = 0.2 of the window.

    In units of the training range (0.5th to 99.5th percentile: background 0 to tissue 0.75).
    """
    config = _synthetic()
    spread = config.training["intensity"]["range"][0]
    assert spread == pytest.approx(0.75, abs=0.005)
    grid = Geometry((2.0, 2.0, 2.0))
    assert check_domain(_phantom(1, 20.0), geometry=grid, config=config) == []
    (message,) = check_domain(_phantom(1, 200.0), geometry=grid, config=config)
    assert _distance(message) == pytest.approx(0.2 / spread, abs=0.01)


def test_field_of_view_and_spacing_outside_their_bands():
    config = _synthetic()
    hu = _phantom(2)
    small = check_domain(hu[:8], geometry=Geometry((2.0, 2.0, 2.0)), config=config)
    assert small == [
        (
            "field of view: 16 x 60 x 80 mm is under half the training images' (40 x 60 x 80 "
            "mm) along axis 0: the model sees less of the surroundings it learned with"
        )
    ]
    odd = check_domain(hu, geometry=Geometry((5.0, 2.0, 0.25)), config=config)
    assert [m.split(":")[0] for m in odd] == ["field of view"] * 2 + ["spacing"] * 2
    assert (
        "100 x 60 x 10 mm is under half the training images' (40 x 60 x 80 mm) along axis 2"
        in odd[0]
    )
    assert "over twice the training images' (40 x 60 x 80 mm) along axis 0" in odd[1]
    assert "5 mm along axis 0 is 2.5 times the model's 2 mm" in odd[2]
    assert "0.25 mm along axis 2 is 0.12 times the model's 2 mm" in odd[3]
    # axes are named in the image's order, also for a transposed grid
    turned = Geometry((2.0, 2.0, 2.0), direction=np.eye(3)[:, [2, 1, 0]])
    (fov,) = check_domain(np.moveaxis(hu, 0, 2)[..., :8], geometry=turned, config=config)
    assert "16 mm is under half the training images' (80 x 60 x 40 mm) along axis 2" in fov


def test_training_records_the_statistics():
    config = ModelConfig.from_dict(
        {
            "spatial_dims": 2,
            "in_channels": 1,
            "class_names": ["background", "disc"],
            "class_colors": ["#000000", "#ff0000"],
            "spacing": [1.0, 1.0],
            "normalization": {"method": "zscore"},
            "patch_size": [16, 16],
            "weights": "weights.pt",
            "architecture": {"spatial_dims": 2, "out_channels": 2, "features": [2, 4]},
        }
    )
    yy, xx = np.mgrid[:16, :16]
    disc = (np.hypot(yy - 8, xx - 8) < 5).astype(np.uint8)
    case = TrainCase(disc[None].astype(np.float32) * 100, disc)
    result = run_to_completion(
        iter_train([case], config, val_cases=[case], epochs=1, steps_per_epoch=1, device="cpu")
    )
    z = pre.normalize(case.image[0], config.normalization)[None]
    expected = training_statistics([z], spacing=(1.0, 1.0))
    assert result.config.training["intensity"] == expected["intensity"]
    assert result.config.training["extent_mm"] == {"min": [16.0, 16.0], "max": [16.0, 16.0]}
    # the disc itself is training-like; its inverse is not
    grid = Geometry((1.0, 1.0))
    assert check_domain(case.image, geometry=grid, config=result.config) == []
    assert check_domain(100 - case.image, geometry=grid, config=result.config)


def test_malformed_statistics_and_inputs_are_named(shipped):
    bad = ModelConfig.from_dict({**shipped.to_dict(), "training": {"intensity": {"range": 1}}})
    grid = Geometry((2.0, 2.0, 2.0))
    with pytest.raises(ValueError, match="`training.intensity` must hold"):
        check_domain(np.ones((4, 4, 4)), geometry=grid, config=bad)
    with pytest.raises(ValueError, match="`image` has 2 channel"):
        check_domain(np.ones((2, 4, 4, 4)), geometry=grid, config=shipped)
    with pytest.raises(ValueError, match="`mask` must lie on the image grid"):
        check_domain(np.ones((4, 4, 4)), geometry=grid, config=shipped, mask=np.ones((4, 4, 3)))
