"""U-Net prediction inside a mask: same answer inside, background outside, fewer windows."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools.core._types import Progress, run_to_completion  # noqa: E402
from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402
from napari_segtools.core.unet.package import ModelConfig, Predictor, save_package  # noqa: E402
from napari_segtools.core.unet.predict import iter_predict  # noqa: E402

#: a fixed window: normalisation without statistics, so masked and unmasked runs compare exactly
WINDOW = {"method": "ct_window", "center": 50.0, "width": 100.0}


def _config(dims=2, *, classes=("background", "a"), output="softmax", **changes) -> ModelConfig:
    colors = ["#000000", "#ff0000", "#00ff00"][: len(classes)]
    data = {
        "spatial_dims": dims,
        "in_channels": 1,
        "class_names": list(classes),
        "class_colors": colors,
        "spacing": [1.0] * dims,
        "normalization": WINDOW,
        "patch_size": [16] * dims,
        "weights": "weights.pt",
        "output": output,
        **changes,
    }
    return ModelConfig.from_dict(data)


def _conv(dims: int, out: int, kernel: int, seed: int = 0) -> torch.nn.Module:
    """A one-layer network: 1x1 reads each voxel alone, 3x3 its neighbours too."""
    torch.manual_seed(seed)
    conv = (torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d)(1, out, kernel, padding=kernel // 2)
    with torch.no_grad():
        conv.weight.mul_(8.0)  # steep enough that the classes differ clearly
    return conv.eval()


def _events(gen) -> tuple[int, np.ndarray]:
    """Run a prediction generator: (number of window events, result)."""
    count = 0
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return count, stop.value
        count += isinstance(event, Progress) and "window" in event.message


def _blob(shape, centre, radius) -> np.ndarray:
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


def test_inside_the_mask_equals_the_unmasked_prediction_and_background_outside():
    """A voxel-wise network on a turned, anisotropic 3-D grid: equal inside, class 0 outside."""
    config = _config(3, classes=("background", "a", "b"), spacing=[2.0, 1.0, 1.0])
    predictor = Predictor(config, _conv(3, 3, 1))
    image = np.random.default_rng(0).uniform(0, 100, (14, 24, 10)).astype(np.float32)
    # numpy axis 0 runs along physical x: the model sees the array transposed and flipped
    direction = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    geometry = Geometry((1.0, 1.0, 2.0), direction=direction)
    mask = _blob(image.shape, (7, 12, 5), 4)
    plain = predictor.predict_proba(image, geometry=geometry, device="cpu")
    masked = predictor.predict_proba(image, geometry=geometry, device="cpu", mask=mask)
    np.testing.assert_allclose(masked[:, mask], plain[:, mask], atol=1e-6)
    assert (masked[0, ~mask] == 1).all() and (masked[1:, ~mask] == 0).all()
    labels = predictor.predict(image, geometry=geometry, device="cpu", mask=mask)
    np.testing.assert_array_equal(labels[mask], plain.argmax(0)[mask])
    assert (labels[~mask] == 0).all() and len(np.unique(labels[mask])) > 1


def test_sigmoid_structures_are_absent_outside_the_mask():
    config = _config(2, classes=("a", "b"), output="sigmoid")
    predictor = Predictor(config, _conv(2, 2, 1))
    image = np.random.default_rng(1).uniform(0, 100, (20, 20)).astype(np.float32)
    mask = _blob(image.shape, (10, 10), 5)
    plain = predictor.predict_proba(image, geometry=Geometry((1.0, 1.0)), device="cpu")
    masked = predictor.predict_proba(image, geometry=Geometry((1.0, 1.0)), device="cpu", mask=mask)
    np.testing.assert_allclose(masked[:, mask], plain[:, mask], atol=1e-6)
    assert (masked[:, ~mask] == 0).all()
    assert not predictor.predict(image, geometry=Geometry((1.0, 1.0)), mask=mask)[:, ~mask].any()


def test_the_network_sees_the_bounding_box_plus_half_a_window_of_real_image():
    """A 3x3 network on a 200 x 200 image, mask 4 x 4: it runs on the 20 x 20 box around it.

    The masked run equals, voxel for voxel and window for window, an unmasked run on that
    crop (8 voxels = half a 16-voxel window on each side), and takes far fewer windows.
    """
    predictor = Predictor(_config(2, classes=("background", "a", "b")), _conv(2, 3, 3))
    image = np.random.default_rng(2).uniform(0, 100, (200, 200)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[98:102, 120:124] = True
    grid = Geometry((1.0, 1.0))
    n_masked, masked = _events(
        predictor.iter_predict_proba(image, geometry=grid, device="cpu", mask=mask)
    )
    crop = image[90:110, 112:132]
    n_crop, on_crop = _events(predictor.iter_predict_proba(crop, geometry=grid, device="cpu"))
    n_plain, _ = _events(predictor.iter_predict_proba(image, geometry=grid, device="cpu"))
    np.testing.assert_array_equal(masked[:, 98:102, 120:124], on_crop[:, 8:12, 8:12])
    assert n_masked == n_crop == 4 and n_plain == 24 * 24


def test_a_mask_whose_margin_covers_the_image_changes_nothing_inside():
    """Context unchanged (the box plus margin is the whole image): the 3x3 network agrees."""
    predictor = Predictor(_config(2, classes=("background", "a", "b")), _conv(2, 3, 3, seed=3))
    image = np.random.default_rng(3).uniform(0, 100, (24, 28)).astype(np.float32)
    mask = _blob(image.shape, (12, 14), 6)  # box 6..18 x 8..20, margin 8: all of it
    grid = Geometry((1.0, 1.0))
    plain = predictor.predict_proba(image, geometry=grid, device="cpu")
    masked = predictor.predict_proba(image, geometry=grid, device="cpu", mask=mask)
    np.testing.assert_array_equal(masked[:, mask], plain[:, mask])


def test_zscore_statistics_come_from_inside_the_mask():
    """logit_k = w_k * (x - mean_in) / std_in + b_k, by hand; what lies outside does not matter."""
    config = _config(2, normalization={"method": "zscore"})
    net = _conv(2, 2, 1, seed=4)
    predictor = Predictor(config, net)
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 100, (18, 18)).astype(np.float32)
    mask = _blob(image.shape, (9, 9), 4)
    inside = image[mask].astype(np.float64)
    z = (image - inside.mean()) / inside.std()
    w = net.weight.detach().numpy().ravel()
    b = net.bias.detach().numpy()
    logits = w[:, None, None] * z + b[:, None, None]
    expected = np.exp(logits) / np.exp(logits).sum(0)
    masked = predictor.predict_proba(image, geometry=Geometry((1.0, 1.0)), mask=mask)
    np.testing.assert_allclose(masked[:, mask], expected[:, mask], atol=1e-5)
    brighter = np.where(mask, image, image + 5000)  # a bright "skull" around it
    again = predictor.predict_proba(brighter, geometry=Geometry((1.0, 1.0)), mask=mask)
    np.testing.assert_allclose(again, masked, atol=1e-6)


class _NeverRun(torch.nn.Module):
    def forward(self, x):
        raise AssertionError("the network ran on an empty mask")


def test_an_empty_mask_is_background_without_running_the_network():
    predictor = Predictor(_config(2), _NeverRun())
    probs = predictor.predict_proba(
        np.ones((10, 12)), geometry=Geometry((1.0, 1.0)), mask=np.zeros((10, 12), bool)
    )
    assert probs.shape == (2, 10, 12) and (probs[0] == 1).all() and (probs[1] == 0).all()


@pytest.mark.parametrize(
    ("mask", "error", "match"),
    [
        (
            np.ones((9, 12), bool),
            ValueError,
            r"`mask` must lie on the image grid, shape \(10, 12\)",
        ),
        (np.full((10, 12), 0.5), TypeError, "`mask` must hold integer label ids"),
        (np.ones((10, 12, 2), bool), ValueError, "`mask` must be 2-D"),
    ],
)
def test_a_bad_mask_is_named(mask, error, match):
    predictor = Predictor(_config(2), _NeverRun())
    with pytest.raises(error, match=match):
        predictor.predict(np.ones((10, 12)), geometry=Geometry((1.0, 1.0)), mask=mask)


def test_iter_predict_takes_the_mask(tmp_path):
    spec = UNetSpec(spatial_dims=2, out_channels=2, features=(2, 4))
    torch.manual_seed(0)
    folder = save_package(tmp_path / "tiny", UNet(spec), _config(2, architecture=spec.to_dict()))
    image = np.random.default_rng(5).uniform(0, 100, (20, 20)).astype(np.float32)
    mask = _blob(image.shape, (10, 10), 4)
    result = run_to_completion(
        iter_predict(folder, image, geometry=Geometry((1.0, 1.0)), device="cpu", mask=mask)
    )
    assert (result.probabilities[0, ~mask] == 1).all() and (result.labels[~mask] == 0).all()
    assert result.domain_warnings == ()  # no training statistics: only the spacing is checked
