"""nnU-Net v2 model folders through ``load_model``: a tiny folder made with nnunetv2's own APIs.

The plans and dataset JSON follow nnunetv2's experiment planner; the network is built by
``nnUNetTrainer.build_network_architecture`` (a small ``PlainConvUNet``) and saved in the
checkpoint layout of ``nnUNetTrainer.save_checkpoint``. The reference runs that torch network
the way nnU-Net does: z-score over the image, one Gaussian-weighted window whose logits are
accumulated in half precision (nnU-Net's sliding window), softmax.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

nnunetv2 = pytest.importorskip("nnunetv2")
torch = pytest.importorskip("torch")

from nnunetv2.inference.sliding_window_prediction import compute_gaussian  # noqa: E402
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer  # noqa: E402
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager  # noqa: E402

from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.unet.formats import detect_format, read_model_config  # noqa: E402
from napari_segtools.core.unet.package import load_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SPACING = [2.0, 1.0, 1.5]  # numpy / SimpleITK order z, y, x (nnU-Net's order)
PATCH = [8, 12, 10]
LABELS = {"background": 0, "brain": 1, "lesion": 2}
CONFIGURATION = {False: "3d_fullres", True: "2d"}


def plans(*, flat: bool = False, reader: str = "SimpleITKIO") -> dict:
    """A plan in the layout of nnunetv2's ExperimentPlanner, with a tiny network.

    ``flat``: a 2d configuration of 2-D images (stored by nnU-Net with a dummy first axis).
    """
    d = 2 if flat else 3
    patch, spacing = (PATCH[1:], SPACING[1:]) if flat else (PATCH, SPACING)
    architecture = {
        "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
        "arch_kwargs": {
            "n_stages": 2,
            "features_per_stage": [4, 8],
            "conv_op": f"torch.nn.modules.conv.Conv{d}d",
            "kernel_sizes": [[3] * d, [3] * d],
            "strides": [[1] * d, [2] * d],
            "n_conv_per_stage": [1, 1],
            "n_conv_per_stage_decoder": [1],
            "conv_bias": True,
            "norm_op": f"torch.nn.modules.instancenorm.InstanceNorm{d}d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }
    resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
    configuration = {
        "data_identifier": f"nnUNetPlans_{CONFIGURATION[flat]}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": patch,
        "median_image_size_in_voxels": patch,
        "spacing": spacing,
        "normalization_schemes": ["ZScoreNormalization"],
        "use_mask_for_norm": [False],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": resampling,
        "resampling_fn_seg_kwargs": dict(resampling, is_seg=True, order=1),
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": dict(resampling, order=1),
        "architecture": architecture,
        "batch_dice": False,
    }
    stats = {"max": 300.0, "mean": 100.0, "median": 100.0, "min": -50.0, "std": 40.0}
    return {
        "dataset_name": "Dataset001_Toy",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": [999.0, *SPACING[1:]] if flat else SPACING,
        "original_median_shape_after_transp": [1, *PATCH[1:]] if flat else PATCH,
        "image_reader_writer": reader,
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": {CONFIGURATION[flat]: configuration},
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            "0": dict(stats, percentile_00_5=-40.0, percentile_99_5=250.0)
        },
    }


DATASET = {
    "channel_names": {"0": "T1"},
    "labels": LABELS,
    "numTraining": 1,
    "file_ending": ".nii.gz",
}


def make_folder(root, *, checkpoint=True, flat=False, reader="SimpleITKIO"):
    """Write dataset.json, plans.json and fold_0/checkpoint_final.pth; return the network."""
    name = CONFIGURATION[flat]
    folder = root / "Dataset001_Toy" / f"nnUNetTrainer__nnUNetPlans__{name}"
    (folder / "fold_0").mkdir(parents=True)
    plan = plans(flat=flat, reader=reader)
    (folder / "plans.json").write_text(json.dumps(plan))
    (folder / "dataset.json").write_text(json.dumps(DATASET))
    manager = PlansManager(plan)
    torch.manual_seed(0)
    net = nnUNetTrainer.build_network_architecture(
        manager, manager.get_configuration(name), 1, len(LABELS), False
    ).eval()
    if checkpoint:
        torch.save(
            {
                "network_weights": net.state_dict(),
                "init_args": {"plans": plan, "configuration": name, "fold": 0},
                "trainer_name": "nnUNetTrainer",
                "inference_allowed_mirroring_axes": (0, 1, 2),
                "current_epoch": 1,
            },
            folder / "fold_0" / "checkpoint_final.pth",
        )
    return folder, net


def nnunet_way(net, image):
    """Softmax of the network on one z-scored window, logits weighted and summed as nnU-Net does."""
    x = torch.from_numpy(((image - image.mean()) / image.std()).astype(np.float32))
    with torch.no_grad():
        logits = net(x[None, None])[0]
    gaussian = compute_gaussian(image.shape, 1 / 8, 10, device=torch.device("cpu"))
    summed = torch.zeros((len(LABELS), *image.shape), dtype=torch.half)
    weights = torch.zeros(image.shape, dtype=torch.half)
    summed += logits * gaussian
    weights += gaussian
    return torch.softmax((summed / weights).float(), 0).numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("nnunet"))


@pytest.fixture
def image():
    return (np.random.default_rng(5).normal(size=PATCH) * 40 + 100).astype(np.float32)


def test_folder_equals_the_network_run_the_nnunet_way(trained, image):
    folder, net = trained
    assert detect_format(folder) == "nnunet"
    predictor = load_model(folder, trusted=True)
    cfg = predictor.config
    assert cfg.class_names == ("background", "brain", "lesion")
    assert (cfg.in_channels, cfg.channel_names, cfg.spatial_dims) == (1, ("T1",), 3)
    assert cfg.spacing == tuple(SPACING) and cfg.patch_size == tuple(PATCH)
    assert cfg.normalization == {"method": "zscore"}
    assert read_model_config(folder) == cfg  # from the JSON alone: nothing unpickled

    expected = nnunet_way(net, image)
    got = predictor.predict_proba(image, geometry=Geometry(tuple(SPACING)), device="cpu")
    assert got.shape == (3, *PATCH) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_array_equal(
        predictor.predict(image, geometry=Geometry(tuple(SPACING)), device="cpu"),
        expected.argmax(0),
    )
    # nnU-Net takes the array as its reader gives it: the direction does not reorder it
    flipped = Geometry(tuple(SPACING), direction=np.diag([1.0, -1.0, -1.0]))
    np.testing.assert_allclose(predictor.predict_proba(image, geometry=flipped), got, atol=1e-6)


def test_2d_images_and_the_reorienting_reader(tmp_path, image):
    """A 2d model of 2-D images, and a model trained on nibabel's RAS-reoriented arrays."""
    folder, net = make_folder(tmp_path / "flat", flat=True)
    predictor = load_model(folder, trusted=True)
    cfg = predictor.config
    assert (cfg.spatial_dims, cfg.spacing, cfg.patch_size) == (2, (1.0, 1.5), (12, 10))
    plane = image[0]
    got = predictor.predict_proba(plane, geometry=Geometry((1.0, 1.5)), device="cpu")
    np.testing.assert_allclose(got, nnunet_way(net, plane), atol=1e-5)

    folder, net = make_folder(tmp_path / "ras", reader="NibabelIOWithReorient")
    predictor = load_model(folder, trusted=True)
    # the image's LPS axes y, x run posterior, left: the model reads them anterior, right
    expected = nnunet_way(net, image[:, ::-1, ::-1].copy())[:, :, ::-1, ::-1]
    got = predictor.predict_proba(image, geometry=Geometry(tuple(SPACING)), device="cpu")
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_mask_gives_background_outside(trained, image):
    predictor = load_model(trained[0], trusted=True)
    mask = np.zeros(PATCH, bool)
    mask[3:5, 4:8, 4:6] = True
    probs = predictor.predict_proba(
        image, geometry=Geometry(tuple(SPACING)), mask=mask, device="cpu"
    )
    assert (probs[0, ~mask] == 1).all() and (probs[1:, ~mask] == 0).all()
    np.testing.assert_allclose(probs[:, mask].sum(axis=0), 1.0, atol=1e-5)


def test_wrong_channel_count_says_what_is_expected(trained, image):
    predictor = load_model(trained[0], trusted=True)
    with pytest.raises(ValueError, match=r"1 channel\(s\) \(T1\) first; got 2 channel"):
        predictor.predict(np.stack([image, image]), geometry=Geometry(tuple(SPACING)))


def test_missing_checkpoint_is_one_message(tmp_path):
    folder, _ = make_folder(tmp_path, checkpoint=False)
    with pytest.raises(FileNotFoundError) as info:
        load_model(folder, trusted=True)
    assert str(info.value) == (
        f"nnU-Net model folder {folder} has no fold_N/checkpoint_final.pth or "
        "fold_N/checkpoint_best.pth; an nnU-Net v2 model folder needs dataset.json, plans.json "
        "and fold_N/checkpoint_final.pth (or checkpoint_best.pth)"
    )


class _Touch:
    """Pickles as a call that creates a file: what a hostile checkpoint could do instead."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_untrusted_folder_is_refused_before_unpickling(tmp_path):
    folder, _ = make_folder(tmp_path, checkpoint=False)
    marker = tmp_path / "ran"
    torch.save({"payload": _Touch(marker)}, folder / "fold_0" / "checkpoint_final.pth")
    with pytest.raises(
        ValueError, match="is an nnU-Net model folder, which runs code when loaded"
    ):
        load_model(folder)
    assert not marker.exists()
    # trusted, the pickle does run: the refusal above is what kept it out
    with pytest.raises(ValueError, match="cannot be loaded with checkpoint_final.pth"):
        load_model(folder, trusted=True)
    assert marker.exists()


def test_without_nnunetv2_the_message_names_the_extra(trained, monkeypatch):
    monkeypatch.setitem(sys.modules, "nnunetv2", None)
    with pytest.raises(ImportError, match=r"pip install 'napari-segtools\[nnunet\]'"):
        load_model(trained[0], trusted=True)
