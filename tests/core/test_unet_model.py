"""The configurable U-Net: 'same' output size for odd sizes, every architecture option, and the
shipped model still loading and predicting as it did before the options existed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

import napari_segtools.core.unet as unet_package  # noqa: E402
from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402
from napari_segtools.core.unet.package import load_model  # noqa: E402

SHIPPED = Path(unet_package.__file__).parent / "models" / "mni152-brain-tissue"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"residual": True, "decoder": "upsample"},
        {"norm": "batch", "dilated_bottleneck": True},
        {"norm": "group", "residual": True},
        {"norm": "none", "decoder": "upsample", "dilated_bottleneck": True},
        {"downsampling": "avgpool", "context": "dilated"},
        {"downsampling": "strided", "norm": "batch", "context": "aspp"},
        {"downsampling": "strided", "residual": True, "context_dilations": (2, 3)},
    ],
)
@pytest.mark.parametrize("shape", [(13, 7), (5, 9, 11)])
def test_output_size_equals_input_for_odd_sizes(options, shape):
    spec = UNetSpec(
        spatial_dims=len(shape), in_channels=2, out_channels=3, features=(4, 8, 8), **options
    )
    net = UNet(spec).eval()
    with torch.inference_mode():
        out = net(torch.rand(2, 2, *shape))
    assert tuple(out.shape) == (2, 3, *shape)


def test_divisible_input_needs_no_padding_and_matches_odd_crop():
    """An input already a multiple of 2**(levels-1) goes through unpadded."""
    net = UNet(UNetSpec(spatial_dims=2, features=(4, 8, 16))).eval()
    assert net.spec.divisor == 4
    x = torch.rand(1, 1, 16, 12)
    with torch.inference_mode():
        assert net(x).shape[2:] == (16, 12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spatial_dims": 4}, "`spatial_dims` must be 2 or 3"),
        ({"out_channels": 0}, "`out_channels` must be >= 1"),
        ({"features": (8,)}, "`features` needs >= 2"),
        ({"norm": "layer"}, "`norm` must be one of"),
        ({"decoder": "pixelshuffle"}, "`decoder` must be one of"),
        ({"downsampling": "stride"}, "`downsampling` must be one of maxpool, avgpool, strided"),
        ({"context": "pyramid"}, "`context` must be one of none, dilated, aspp"),
        ({"context_dilations": ()}, "`context_dilations` must be one or more integers"),
        ({"context_dilations": (1, 0)}, "`context_dilations` must be >= 1"),
        ({"context_dilations": "124"}, "`context_dilations` must be one or more integers"),
    ],
)
def test_bad_specs_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNetSpec(**kwargs)


def test_spec_round_trips_through_a_dict():
    spec = UNetSpec(spatial_dims=2, features=(4, 8), residual=True)
    assert UNetSpec(**spec.to_dict()) == spec
    spec = UNetSpec(
        spatial_dims=2, downsampling="strided", context="aspp", context_dilations=[1, 3]
    )
    assert spec.context_dilations == (1, 3)
    assert json.loads(json.dumps(spec.to_dict()))["context_dilations"] == [1, 3]
    assert UNetSpec(**json.loads(json.dumps(spec.to_dict()))) == spec


def test_one_output_channel_for_a_sigmoid_head():
    net = UNet(UNetSpec(spatial_dims=2, out_channels=1, features=(2, 4))).eval()
    with torch.inference_mode():
        assert tuple(net(torch.rand(1, 1, 9, 6)).shape) == (1, 1, 9, 6)


def test_new_options_add_their_layers_and_only_them():
    base = UNetSpec(spatial_dims=2, features=(2, 4, 8))
    keys = set(UNet(base).state_dict())
    strided = set(UNet(replace(base, downsampling="strided")).state_dict()) - keys
    assert {k.split(".")[0] for k in strided} == {"downs"}
    assert set(UNet(replace(base, downsampling="avgpool")).state_dict()) == keys
    dilated = UNet(replace(base, context="dilated", context_dilations=(1, 2, 4, 8))).context
    assert [m.dilation for m in dilated.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (1, 1),
        (2, 2),
        (4, 4),
        (8, 8),
    ]
    aspp = UNet(replace(base, context="aspp")).context
    assert [m.dilation[0] for m in aspp.branches.modules() if isinstance(m, torch.nn.Conv2d)] == [
        1,
        1,
        2,
        4,
    ]
    assert aspp.project[0].in_channels == 4 * 8


def test_the_shipped_model_loads_and_predicts_as_before():
    """An old config (no downsampling/context keys) loads with the defaults; logits of a fixed
    input equal those the model gave before the architecture options existed (recorded then)."""
    config = json.loads((SHIPPED / "config.json").read_text(encoding="utf-8"))
    assert not {"downsampling", "context", "context_dilations"} & set(config["architecture"])
    spec = UNetSpec(**config["architecture"])
    assert (spec.downsampling, spec.context) == ("maxpool", "none")
    net = load_model("mni152-brain-tissue").module.eval()
    x = torch.sin(torch.arange(12 * 16 * 20, dtype=torch.float32) * 0.37).reshape(1, 1, 12, 16, 20)
    with torch.inference_mode():
        y = net(x)
    assert y[0, :, 6, 8, 10].tolist() == pytest.approx([13.97965, -3.62388, -10.88646], abs=1e-4)
    assert y[0, :, 0, 0, 0].tolist() == pytest.approx([3.48193, -0.64706, -2.83167], abs=1e-4)
