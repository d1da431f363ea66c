"""A configurable 2-D/3-D U-Net with 'same'-size output (torch ``nn.Module``).

Modern U-Nets (nnU-Net, MONAI's ``BasicUNet``) pad instead of cropping, so the output has the
input's spatial size. Inputs whose size is not a multiple of ``2 ** (levels - 1)`` are padded
internally (edge replication) and the logits are cropped back.

The encoder halves the resolution by max pooling, average pooling or a learned strided 3x3
convolution; an optional context module after the bottleneck widens the receptive field at the
coarsest resolution: stacked 3x3 convolutions with growing dilation (Yu & Koltun, "Multi-scale
context aggregation by dilated convolutions", ICLR 2016) or atrous spatial pyramid pooling (Chen
et al., "Rethinking atrous convolution for semantic image segmentation", 2017). See
:func:`~.receptive_field.receptive_field` for what each option does to the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .._validate import check_choice, check_integer
from ._torch import require_torch

require_torch()  # one clear message when the [unet] extra is missing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

NORMS = ("instance", "batch", "group", "none")
DECODERS = ("transpose", "upsample")
DOWNSAMPLINGS = ("maxpool", "avgpool", "strided")
CONTEXTS = ("none", "dilated", "aspp")


@dataclass(frozen=True, kw_only=True)
class UNetSpec:
    """Architecture of a :class:`UNet` (stored as ``"architecture"`` in a package's JSON config).

    Attributes
    ----------
    spatial_dims : int
        2 or 3.
    in_channels, out_channels : int
        Input channels (image modalities) and output channels: classes with the background for a
        softmax head, or one channel per structure for a sigmoid head (1 = binary).
    features : tuple of int
        Feature maps per resolution level, finest first; ``len(features)`` levels, the last one is
        the bottleneck. At least 2 levels.
    norm : {"instance", "batch", "group", "none"}
        Normalisation after each convolution.
    residual : bool
        Residual (ResNet-style) convolution blocks with a 1x1 projection shortcut.
    decoder : {"transpose", "upsample"}
        Transposed convolution, or (bi/tri)linear upsampling followed by a 3x3 convolution.
    dilated_bottleneck : bool
        Use dilation 2 in the bottleneck convolutions (a larger receptive field, same size).
    downsampling : {"maxpool", "avgpool", "strided"}
        How the encoder halves the resolution: 2x2 max or average pooling, or a learned 3x3
        convolution with stride 2 (followed by normalisation and LeakyReLU).
    context : {"none", "dilated", "aspp"}
        Context module after the bottleneck, at the coarsest resolution: ``"dilated"`` stacks
        3x3 convolutions with the dilations ``context_dilations``; ``"aspp"`` runs a 1x1 and one
        3x3 convolution per dilation in parallel, concatenates them and projects back by a 1x1
        convolution (no image-pooling branch, so the field stays finite).
    context_dilations : tuple of int
        Dilation rates of the context module, e.g. ``(1, 2, 4)``: three 3x3 layers whose field
        is 15 voxels of the bottleneck's grid, from 27 weights per channel pair.

    Examples
    --------
    >>> spec = UNetSpec(spatial_dims=2, out_channels=3, features=(4, 8, 16))
    >>> spec.divisor, UNetSpec(**spec.to_dict()) == spec
    (4, True)
    >>> UNetSpec(spatial_dims=2, out_channels=1, downsampling="strided", context="aspp").context
    'aspp'
    """

    spatial_dims: int = 3
    in_channels: int = 1
    out_channels: int = 2
    features: tuple[int, ...] = (8, 16, 32, 64)
    norm: str = "instance"
    residual: bool = False
    decoder: str = "transpose"
    dilated_bottleneck: bool = False
    downsampling: str = "maxpool"
    context: str = "none"
    context_dilations: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(int(f) for f in self.features))
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"`spatial_dims` must be 2 or 3; got {self.spatial_dims}")
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(
                f"`in_channels` and `out_channels` must be >= 1; "
                f"got {self.in_channels} and {self.out_channels}"
            )
        if len(self.features) < 2 or min(self.features) < 1:
            raise ValueError(f"`features` needs >= 2 positive levels; got {self.features}")
        check_choice(self.norm, "norm", NORMS)
        check_choice(self.decoder, "decoder", DECODERS)
        check_choice(self.downsampling, "downsampling", DOWNSAMPLINGS)
        check_choice(self.context, "context", CONTEXTS)
        if isinstance(self.context_dilations, (str, bytes)) or not self.context_dilations:
            raise ValueError(
                f"`context_dilations` must be one or more integers >= 1; "
                f"got {self.context_dilations!r}"
            )
        dilations = tuple(
            check_integer(d, "context_dilations", minimum=1) for d in self.context_dilations
        )
        object.__setattr__(self, "context_dilations", dilations)

    @property
    def divisor(self) -> int:
        """Spatial sizes that are a multiple of this need no internal padding."""
        return 2 ** (len(self.features) - 1)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-ready dict (the ``architecture`` entry of a config)."""
        return {
            **asdict(self),
            "features": list(self.features),
            "context_dilations": list(self.context_dilations),
        }


def _layers(dims: int):
    conv = nn.Conv3d if dims == 3 else nn.Conv2d
    up = nn.ConvTranspose3d if dims == 3 else nn.ConvTranspose2d
    return conv, up


def _norm(kind: str, dims: int, channels: int) -> nn.Module:
    if kind == "instance":
        return (nn.InstanceNorm3d if dims == 3 else nn.InstanceNorm2d)(channels, affine=True)
    if kind == "batch":
        return (nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d)(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ConvBlock(nn.Module):
    """Two 3x3 convolutions with normalisation and LeakyReLU; optionally residual."""

    def __init__(self, spec: UNetSpec, c_in: int, c_out: int, *, dilation: int = 1) -> None:
        super().__init__()
        conv, _ = _layers(spec.spatial_dims)
        pad = dilation  # 'same' padding for a 3x3 kernel
        self.body = nn.Sequential(
            conv(c_in, c_out, 3, padding=pad, dilation=dilation),
            _norm(spec.norm, spec.spatial_dims, c_out),
            nn.LeakyReLU(0.01, inplace=True),
            conv(c_out, c_out, 3, padding=pad, dilation=dilation),
            _norm(spec.norm, spec.spatial_dims, c_out),
        )
        self.skip = (
            (conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()) if spec.residual else None
        )
        self.act = nn.LeakyReLU(0.01, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (N, c_in, ...) to (N, c_out, ...), same spatial size."""
        y = self.body(x)
        if self.skip is not None:
            y = y + self.skip(x)
        return self.act(y)


def _conv_norm_act(
    spec: UNetSpec, c_in: int, c_out: int, kernel: int, *, dilation: int = 1, stride: int = 1
) -> nn.Sequential:
    """One convolution ('same' padding for odd kernels), normalisation and LeakyReLU."""
    conv, _ = _layers(spec.spatial_dims)
    return nn.Sequential(
        conv(
            c_in, c_out, kernel, stride=stride, padding=dilation * (kernel // 2), dilation=dilation
        ),
        _norm(spec.norm, spec.spatial_dims, c_out),
        nn.LeakyReLU(0.01, inplace=True),
    )


def _downsample(spec: UNetSpec, channels: int) -> nn.Module:
    """Halve the resolution: 2x2 max/average pooling or a learned stride-2 3x3 convolution."""
    dims = spec.spatial_dims
    if spec.downsampling == "maxpool":
        return (nn.MaxPool3d if dims == 3 else nn.MaxPool2d)(2)
    if spec.downsampling == "avgpool":
        return (nn.AvgPool3d if dims == 3 else nn.AvgPool2d)(2)
    return _conv_norm_act(spec, channels, channels, 3, stride=2)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: a 1x1 and dilated 3x3 convolutions side by side.

    The branches (one per ``spec.context_dilations``) see the same input at growing scales;
    their outputs are concatenated and projected back to ``channels`` by a 1x1 convolution.
    """

    def __init__(self, spec: UNetSpec, channels: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [
                _conv_norm_act(spec, channels, channels, 1),
                *(
                    _conv_norm_act(spec, channels, channels, 3, dilation=d)
                    for d in spec.context_dilations
                ),
            ]
        )
        self.project = _conv_norm_act(spec, channels * len(self.branches), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the projected multi-scale features of ``x``, same shape as ``x``."""
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


def _context(spec: UNetSpec, channels: int) -> nn.Module:
    """Build the bottleneck context module of ``spec.context`` (identity for ``"none"``)."""
    if spec.context == "dilated":
        return nn.Sequential(
            *(
                _conv_norm_act(spec, channels, channels, 3, dilation=d)
                for d in spec.context_dilations
            )
        )
    if spec.context == "aspp":
        return ASPP(spec, channels)
    return nn.Identity()


class UpBlock(nn.Module):
    """Double the resolution, concatenate the skip connection, convolve."""

    def __init__(self, spec: UNetSpec, c_in: int, c_skip: int) -> None:
        super().__init__()
        conv, up = _layers(spec.spatial_dims)
        if spec.decoder == "transpose":
            self.up: nn.Module = up(c_in, c_skip, 2, stride=2)
        else:
            mode = "trilinear" if spec.spatial_dims == 3 else "bilinear"
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=mode, align_corners=False),
                conv(c_in, c_skip, 3, padding=1),
            )
        self.block = ConvBlock(spec, 2 * c_skip, c_skip)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample ``x``, join it with the encoder's ``skip`` and convolve."""
        return self.block(torch.cat([self.up(x), skip], dim=1))


class UNet(nn.Module):
    """U-Net for (N, C, [Z,] Y, X) tensors; returns logits (N, classes, [Z,] Y, X).

    Parameters
    ----------
    spec : UNetSpec
        The architecture.

    Examples
    --------
    >>> net = UNet(UNetSpec(spatial_dims=2, features=(4, 8)))
    >>> tuple(net(torch.zeros(1, 1, 13, 7)).shape)
    (1, 2, 13, 7)
    """

    def __init__(self, spec: UNetSpec) -> None:
        super().__init__()
        self.spec = spec
        feats = spec.features
        self.downs = nn.ModuleList(_downsample(spec, c) for c in feats[:-1])
        self.encoders = nn.ModuleList()
        c_in = spec.in_channels
        for level, c_out in enumerate(feats):
            last = level == len(feats) - 1
            dilation = 2 if (last and spec.dilated_bottleneck) else 1
            self.encoders.append(ConvBlock(spec, c_in, c_out, dilation=dilation))
            c_in = c_out
        self.context = _context(spec, feats[-1])
        self.decoders = nn.ModuleList(
            UpBlock(spec, feats[lvl + 1], feats[lvl]) for lvl in reversed(range(len(feats) - 1))
        )
        conv, _ = _layers(spec.spatial_dims)
        self.head = conv(feats[0], spec.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute logits (N, classes, [Z,] Y, X) of ``x`` (N, C, [Z,] Y, X), any spatial size."""
        size = x.shape[2:]
        if x.ndim == 5:  # oneDNN's fast 3-D convolutions want channels-last memory
            x = x.contiguous(memory_format=torch.channels_last_3d)
        pads = _pad_amounts(size, self.spec.divisor)
        if any(pads):
            x = F.pad(x, pads, mode="replicate")
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level:
                x = self.downs[level - 1](x)
            x = encoder(x)
            skips.append(x)
        x = self.context(skips.pop())
        for decoder in self.decoders:
            x = decoder(x, skips.pop())
        x = self.head(x)
        crop: tuple[Any, ...] = (Ellipsis, *(slice(0, n) for n in size))
        return x[crop]


def _pad_amounts(size: Sequence[int], divisor: int) -> list[int]:
    """F.pad amounts (last axis first) that bring every size up to a multiple of ``divisor``."""
    pads: list[int] = []
    for n in reversed(size):
        pads += [0, (-int(n)) % divisor]
    return pads
