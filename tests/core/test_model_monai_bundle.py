"""MONAI bundles through ``load_model``: tiny bundles made here, checked against MONAI itself.

The reference runs the bundle's own transforms, network and inferer with MONAI on the image as
MONAI's NIfTI readers would give it (x, y, z axes, RAS affine); the plugin's prediction must
equal it on the image grid to 1e-5. The image fills exactly one window and has the bundle's
spacing, so both sides run one forward pass on the same voxels.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

monai = pytest.importorskip("monai")
torch = pytest.importorskip("torch")

from monai.bundle import ConfigParser  # noqa: E402
from monai.data import MetaTensor  # noqa: E402

from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.unet.formats import detect_format  # noqa: E402
from napari_segtools.core.unet.package import load_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")

PIXDIM = [1.0, 1.5, 2.0]  # x, y, z in mm (MONAI's order)
ROI = [8, 12, 6]  # x, y, z voxels
NET_3D = {
    "_target_": "UNet",
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 3,
    "channels": [4, 8],
    "strides": [2],
    "num_res_units": 0,
}


def _pre(*transforms):
    head = [
        {"_target_": "LoadImaged", "keys": "image"},
        {"_target_": "EnsureChannelFirstd", "keys": "image"},
    ]
    tail = [{"_target_": "EnsureTyped", "keys": "image"}]
    return {"_target_": "Compose", "transforms": [*head, *transforms, *tail]}


PRE_3D = _pre(
    {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
    {"_target_": "Spacingd", "keys": "image", "pixdim": PIXDIM, "mode": "bilinear"},
    {"_target_": "NormalizeIntensityd", "keys": "image"},
)
POST_SOFTMAX = {
    "_target_": "Compose",
    "transforms": [
        {"_target_": "Activationsd", "keys": "pred", "softmax": True},
        {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
    ],
}


def make_bundle(
    folder,
    *,
    network=NET_3D,
    preprocessing=PRE_3D,
    postprocessing=POST_SOFTMAX,
    roi=ROI,
    names=("background", "liver", "tumour"),
    extra=None,
    weights=True,
):
    """Write a bundle (configs/ + models/model.pt) of a seeded random network; return the net."""
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    config = {
        "bundle_root": ".",
        "device": "$torch.device('cpu')",
        "network_def": network,
        "network": "$@network_def.to(@device)",
        "preprocessing": preprocessing,
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": roi, "overlap": 0.25},
        "postprocessing": postprocessing,
        **(extra or {}),
    }
    meta = {
        "name": "Toy bundle",
        "version": "0.1.0",
        "description": "made in a test",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "num_channels": 1}},
            "outputs": {
                "pred": {
                    "type": "image",
                    "num_channels": len(names),
                    "channel_def": {str(k): n for k, n in enumerate(names)},
                }
            },
        },
    }
    (folder / "configs" / "inference.json").write_text(json.dumps(config))
    (folder / "configs" / "metadata.json").write_text(json.dumps(meta))
    if not isinstance(network, dict):
        torch.save({}, folder / "models" / "model.pt")
        return None
    parser = ConfigParser()
    parser.read_config(str(folder / "configs" / "inference.json"))
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def").eval()
    if weights:
        torch.save(net.state_dict(), folder / "models" / "model.pt")
    return net


def monai_reference(folder, image_zyx, spacing_zyx, *, skip=2):
    """Run the bundle's transforms (after loading), network and inferer with MONAI itself.

    The numpy (z, y, x) image of identity LPS direction becomes MONAI's (x, y, z) array with
    the RAS affine its readers build (LPS x and y point the other way in RAS).
    """
    parser = ConfigParser()
    parser.read_config(str(folder / "configs" / "inference.json"))
    with warnings.catch_warnings():  # MONAI's notices about its optional readers
        warnings.simplefilter("ignore")
        pre = parser.get_parsed_content("preprocessing")
    post_net = parser.get_parsed_content("network_def")
    post_net.load_state_dict(torch.load(folder / "models" / "model.pt", weights_only=True))
    post_net.eval()
    inferer = parser.get_parsed_content("inferer")
    affine = np.eye(4)
    for axis, step in enumerate(spacing_zyx[::-1]):
        affine[axis, axis] = -step if axis < 2 else step
    data = {"image": MetaTensor(torch.from_numpy(image_zyx.T.copy())[None], affine=affine)}
    for transform in pre.transforms[skip:]:
        data = transform(data)
    with torch.no_grad():
        logits = inferer(data["image"][None].float(), post_net)[0]
    return logits.as_tensor() if isinstance(logits, MetaTensor) else logits, data["image"]


@pytest.fixture
def image():
    rng = np.random.default_rng(3)
    return (rng.normal(size=ROI[::-1]) * 40 + 100).astype(np.float32)


def test_bundle_equals_monai_pipeline(tmp_path, image):
    make_bundle(tmp_path)
    assert detect_format(tmp_path) == "monai-bundle"
    predictor = load_model(tmp_path, trusted=True)
    cfg = predictor.config
    assert (cfg.spatial_dims, cfg.in_channels, cfg.output) == (3, 1, "softmax")
    assert cfg.class_names == ("background", "liver", "tumour")
    assert cfg.spacing == tuple(PIXDIM[::-1])  # numpy order z, y, x
    assert cfg.patch_size == tuple(ROI[::-1])
    assert cfg.normalization == {"method": "zscore"}
    bundle = cfg.training["monai_bundle"]
    assert (bundle["overlap"], bundle["axcodes"], bundle["notes"]) == (0.25, "RAS", [])

    spacing = tuple(PIXDIM[::-1])
    logits, fed = monai_reference(tmp_path, image, spacing)
    assert tuple(fed.shape[1:]) == tuple(ROI)  # one window, nothing resampled
    # MONAI's output runs x, y, z from right, anterior: back to numpy z, y, x from left, posterior
    expected = torch.softmax(logits, 0).numpy()[:, ::-1, ::-1, :].transpose(0, 3, 2, 1)
    got = predictor.predict_proba(image, geometry=Geometry(spacing), device="cpu")
    assert got.shape == (3, *image.shape)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    labels = predictor.predict(image, geometry=Geometry(spacing), device="cpu")
    np.testing.assert_array_equal(labels, expected.argmax(0))


def test_2d_window_range_sigmoid_on_the_image_grid(tmp_path):
    """No Spacingd/Orientationd: the image's own grid; ScaleIntensityRanged to [-1, 1]."""
    net = dict(NET_3D, spatial_dims=2, out_channels=2)
    window = {
        "_target_": "ScaleIntensityRanged",
        "keys": "image",
        "a_min": -50.0,
        "a_max": 150.0,
        "b_min": -1.0,
        "b_max": 1.0,
        "clip": True,
    }
    post = {"_target_": "Activationsd", "keys": "pred", "sigmoid": True}
    make_bundle(
        tmp_path,
        network=net,
        preprocessing=_pre(window),
        postprocessing=post,
        roi=[16, 12],
        names=("vessel", "lesion"),
    )
    with pytest.warns(UserWarning, match="no Spacingd: each image is used on its own grid"):
        predictor = load_model(tmp_path, trusted=True)
    cfg = predictor.config
    assert (cfg.spatial_dims, cfg.output, cfg.class_names) == (2, "sigmoid", ("vessel", "lesion"))
    assert cfg.normalization == {"method": "ct_window", "center": 50.0, "width": 200.0}
    assert cfg.patch_size == (12, 16)
    assert "no Spacingd" in cfg.training["monai_bundle"]["notes"][0]

    image = np.random.default_rng(4).uniform(-120, 220, size=(12, 16)).astype(np.float32)
    logits, fed = monai_reference(tmp_path, image, (0.3, 0.7))
    assert float(fed.min()) == -1.0 and float(fed.max()) == 1.0  # clipped window, range [-1, 1]
    expected = torch.sigmoid(logits).numpy().transpose(0, 2, 1)
    # any spacing: the image is used on its own grid
    got = predictor.predict_proba(image, geometry=Geometry((0.3, 0.7)), device="cpu")
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_wrong_channel_count_says_what_is_expected(tmp_path, image):
    make_bundle(tmp_path)
    predictor = load_model(tmp_path, trusted=True)
    with pytest.raises(ValueError, match=r"expects 3-D images with 1 channel\(s\).* got 2"):
        predictor.predict(np.stack([image, image]), geometry=Geometry((2.0, 1.5, 1.0)))


def test_missing_weights_is_one_message(tmp_path):
    make_bundle(tmp_path, weights=False)
    with pytest.raises(FileNotFoundError) as info:
        load_model(tmp_path, trusted=True)
    assert str(info.value) == (
        f"MONAI bundle {tmp_path} lacks models/model.pt; a MONAI bundle needs "
        "configs/metadata.json, configs/inference.json (or .yaml) and models/model.pt"
    )


def test_weights_of_another_network_are_refused(tmp_path):
    make_bundle(tmp_path)
    other = dict(NET_3D, channels=[2, 4])
    torch.save(
        ConfigParser({"n": other}).get_parsed_content("n").state_dict(),
        tmp_path / "models" / "model.pt",
    )
    with pytest.raises(ValueError, match="do not fit `network_def`: .*size mismatch"):
        load_model(tmp_path, trusted=True)


def test_untrusted_bundle_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"
    make_bundle(
        tmp_path,
        network="$open(@marker, 'w').close()",
        extra={"marker": str(marker)},
    )
    with pytest.raises(ValueError, match="is a MONAI bundle, which runs code when loaded"):
        load_model(tmp_path)
    assert not marker.exists()
    # the same bundle, trusted, does run its config: the refusal above is what kept it out
    with pytest.raises(ValueError, match="built NoneType, not a torch network"):
        load_model(tmp_path, trusted=True)
    assert marker.exists()


def test_approximations_warn_and_unknown_processing_is_refused(tmp_path):
    pre = _pre(
        {"_target_": "Spacingd", "keys": "image", "pixdim": PIXDIM},
        {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True},
        {"_target_": "GaussianSmoothd", "keys": "image", "sigma": 1.0},
    )
    make_bundle(tmp_path / "approx", preprocessing=pre)
    with pytest.warns(UserWarning) as record:
        predictor = load_model(tmp_path / "approx", trusted=True)
    text = str(record[-1].message)
    assert "NormalizeIntensityd(nonzero=True) approximated" in text
    assert "GaussianSmooth not applied" in text and "no Orientationd" in text
    assert predictor.config.training["monai_bundle"]["axcodes"] == "RAS"

    fixed = _pre({"_target_": "NormalizeIntensityd", "keys": "image", "subtrahend": 10.0})
    make_bundle(tmp_path / "fixed", preprocessing=fixed)
    with pytest.raises(ValueError, match="fixed subtrahend or divisor cannot be expressed"):
        load_model(tmp_path / "fixed", trusted=True)


def test_without_monai_the_message_names_the_extra(tmp_path, monkeypatch):
    make_bundle(tmp_path)
    monkeypatch.setitem(sys.modules, "monai", None)
    with pytest.raises(ImportError, match=r"pip install 'napari-segtools\[monai\]'"):
        load_model(tmp_path, trusted=True)
