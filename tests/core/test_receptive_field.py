"""Receptive fields: hand-computed answers for plain, dilated, pooled, strided and U-Net stacks,
the gradient probe agreeing with the analytic walk, and the lecture notes' two toy networks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from torch import nn  # noqa: E402

from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402
from napari_segtools.core.unet.receptive_field import (  # noqa: E402
    ReceptiveField,
    probe_receptive_field,
    receptive_field,
)


def _stack(*dilations: int, channels: int = 1) -> nn.Sequential:
    return nn.Sequential(
        *(nn.Conv2d(channels, channels, 3, dilation=d, bias=False) for d in dilations)
    )


class NotesNetwork(nn.Module):
    """The lecture's toy network: padding, three 3x3 layers of 8 filters, 1x1 head, sigmoid."""

    def __init__(self, dilations: tuple[int, ...], n_filter: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ZeroPad2d(sum(dilations))]
        c_in = 1
        for d in dilations:
            layers += [nn.Conv2d(c_in, n_filter, 3, dilation=d), nn.ReLU()]
            c_in = n_filter
        layers += [nn.Conv2d(n_filter, 1, 1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# (network, hand-computed field): each 3x3 layer adds 2 * dilation * jump, a stride multiplies
# the jump (the step between neighbouring units, in input voxels)
STACKS = {
    "plain 3x3 x3": (_stack(1, 1, 1), 7),  # 1 + 2 + 2 + 2
    "dilated 1, 2, 4": (_stack(1, 2, 4), 15),  # 1 + 2 + 4 + 8
    "3x3, maxpool 2, 3x3": (
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Conv2d(2, 1, 3)),
        8,  # 3, +1 (pool, jump 1 -> 2), +2*2
    ),
    "3x3, avgpool 2, 3x3": (
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 1, 3)),
        8,
    ),
    "3x3, strided 3x3, 3x3": (
        nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1),
            nn.Conv2d(2, 2, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(2, 1, 3, padding=1),
        ),
        9,  # 3, +2 (jump 1 -> 2), +2*2
    ),
    "notes plain": (NotesNetwork((1, 1, 1)), 7),
    "notes dilated": (NotesNetwork((1, 2, 4)), 15),
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_analytic_field_and_probe_match_the_hand_computed_value(name):
    net, expected = STACKS[name]
    assert receptive_field(net).voxels == (expected, expected)
    assert probe_receptive_field(net, spatial_dims=2, size_voxels=32) == (expected, expected)


def test_dilation_grows_the_field_not_the_weights():
    plain, dilated = receptive_field(_stack(1, 1, 1)), receptive_field(_stack(1, 2, 4))
    assert (plain.voxels, dilated.voxels) == ((7, 7), (15, 15))
    assert plain.parameters == dilated.parameters == 27  # 3 layers x 3 x 3, one channel pair
    notes = [receptive_field(NotesNetwork(d)) for d in ((1, 1, 1), (1, 2, 4))]
    assert notes[0].parameters == notes[1].parameters == 80 + 2 * 584 + 9


def test_anisotropic_kernels_and_spacing_in_mm():
    net = nn.Sequential(
        nn.Conv3d(1, 2, (1, 3, 3)), nn.Conv3d(2, 2, (1, 3, 3)), nn.Conv3d(2, 1, 3, dilation=2)
    )
    field = receptive_field(net, spacing=(3.0, 0.5, 0.5))
    assert field.voxels == (5, 9, 9)  # z: 1 + 0 + 0 + 4; y, x: 1 + 2 + 2 + 4
    assert field.mm == (15.0, 4.5, 4.5)
    assert str(field) == "5 x 9 x 9 voxels (15 x 4.5 x 4.5 mm)"
    assert receptive_field(net).mm is None
    assert probe_receptive_field(net, spatial_dims=3, size_voxels=12) == (5, 9, 9)


def test_default_unet_spec():
    """Default 4 levels of two 3x3 convolutions, 2x2 max pooling, transposed-convolution decoder.

    Encoder: level 0 adds 2 + 2 (jump 1) -> 5; pool +1 -> 6 (jump 2); level 1 +4 +4 -> 14;
    pool +2 -> 16 (jump 4); level 2 +16 -> 32; pool +4 -> 36 (jump 8); bottleneck +32 -> 68.
    Decoder (2x2 stride-2 transposed convolutions add nothing): +16 (jump 4) -> 84,
    +8 (jump 2) -> 92, +4 (jump 1) -> 96; the 1x1 head adds nothing.
    """
    field = receptive_field(UNetSpec(), spacing=2.0)
    assert field.voxels == (96, 96, 96)
    assert field.mm == (192.0, 192.0, 192.0)
    assert field.parameters == sum(p.numel() for p in UNet(UNetSpec()).parameters())
    assert receptive_field(UNetSpec(spatial_dims=2)).voxels == (96, 96)


# a 3-level 2-D U-Net (features 2, 4, 8): the plain one has 5, +1, +8, +2, +16 (bottleneck at
# jump 4), then +8, +4 up the decoder = 44
UNETS = {
    "maxpool": ({}, 44),
    "avgpool": ({"downsampling": "avgpool"}, 44),
    # stride-2 3x3 instead of the 2x2 pooling: +2 and +4 instead of +1 and +2
    "strided": ({"downsampling": "strided"}, 47),
    # dilations 1, 2, 4 at jump 4 after the bottleneck: + 2 * 4 * (1 + 2 + 4)
    "dilated context": ({"context": "dilated"}, 100),
    # widest ASPP branch: one 3x3 of dilation 4 at jump 4
    "aspp": ({"context": "aspp"}, 76),
    # bilinear upsampling reads 2 units (+jump), then a 3x3 before each decoder block
    "upsample decoder": ({"decoder": "upsample"}, 56),
    # bottleneck convolutions with dilation 2: +32 instead of +16
    "dilated bottleneck": ({"dilated_bottleneck": True, "residual": True}, 60),
}


@pytest.mark.parametrize("name", sorted(UNETS))
def test_unet_field_is_its_deepest_path_and_the_probe_agrees(name):
    options, expected = UNETS[name]
    net = UNet(UNetSpec(spatial_dims=2, features=(2, 4, 8), norm="instance", **options))
    assert receptive_field(net).voxels == (expected, expected)
    assert receptive_field(net.spec).voxels == (expected, expected)
    assert probe_receptive_field(net, spatial_dims=2, size_voxels=112) == (expected, expected)


def test_probe_ignores_instance_norm_statistics_and_max_pool_winners():
    """With the network's own layers the gradient covers the whole image (instance norm
    statistics) or misses voxels (max pooling passes it to one voxel per window); the probe
    reports the architecture's field."""
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2), nn.MaxPool2d(2), nn.Conv2d(2, 1, 3)
    )
    assert probe_receptive_field(net, spatial_dims=2, size_voxels=20) == (8, 8)
    x = torch.rand(1, 1, 20, 20, requires_grad=True)
    net(x)[0, 0, 4, 4].backward()
    assert bool((x.grad[0, 0] != 0).all())  # instance norm: every voxel has a gradient

    pooled = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    x = torch.zeros(1, 1, 12, 12)
    x[..., ::2, ::2] = 1.0  # each window's maximum sits in its first corner
    x.requires_grad_(True)
    pooled(x)[0, 0, 2, 2].backward()
    rows = torch.nonzero(x.grad[0, 0].any(dim=1)).flatten().tolist()
    assert rows == [4, 6, 8]  # 5 rows apart, though the field is 6 (windows 4-5, 6-7, 8-9)
    assert receptive_field(pooled).voxels == (6, 6)
    assert probe_receptive_field(pooled, spatial_dims=2, size_voxels=12) == (6, 6)


def test_probe_too_small_and_bad_arguments():
    with pytest.raises(ValueError, match="increase `size_voxels`"):
        probe_receptive_field(_stack(1, 2, 4), spatial_dims=2, size_voxels=15)
    with pytest.raises(ValueError, match="`size_voxels` must be >= 3"):
        probe_receptive_field(_stack(1), spatial_dims=2, size_voxels=2)
    with pytest.raises(ValueError, match="`spatial_dims` must be <= 3"):
        probe_receptive_field(_stack(1), spatial_dims=4)
    with pytest.raises(TypeError, match="`module` must be a torch.nn.Module"):
        probe_receptive_field(UNetSpec(), spatial_dims=3)


def test_unknown_layers_and_inputs_are_refused():
    with pytest.raises(TypeError, match="AdaptiveAvgPool2d is not known"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(1)))
    with pytest.raises(TypeError, match="`model_or_spec` must be a UNetSpec"):
        receptive_field("unet")
    with pytest.raises(TypeError, match="has no convolution"):
        receptive_field(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="`spacing` has 2 values"):
        receptive_field(UNetSpec(), spacing=(1.0, 1.0))
    with pytest.raises(TypeError, match="nn.Upsample a `scale_factor`"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(size=(8, 8))))


def test_str_without_spacing():
    assert str(ReceptiveField((7, 7))) == "7 x 7 voxels"
