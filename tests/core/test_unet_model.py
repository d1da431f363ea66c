"""The configurable U-Net: 'same' output size for odd sizes, every architecture option."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"residual": True, "decoder": "upsample"},
        {"norm": "batch", "dilated_bottleneck": True},
        {"norm": "group", "residual": True},
        {"norm": "none", "decoder": "upsample", "dilated_bottleneck": True},
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
        ({"out_channels": 1}, "`out_channels` >= 2"),
        ({"features": (8,)}, "`features` needs >= 2"),
        ({"norm": "layer"}, "`norm` must be one of"),
        ({"decoder": "pixelshuffle"}, "`decoder` must be one of"),
    ],
)
def test_bad_specs_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNetSpec(**kwargs)


def test_spec_round_trips_through_a_dict():
    spec = UNetSpec(spatial_dims=2, features=(4, 8), residual=True)
    assert UNetSpec(**spec.to_dict()) == spec
