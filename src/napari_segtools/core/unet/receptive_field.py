"""Receptive fields of convolutional networks: analytic from the layers, and an empirical probe.

The receptive field of an output voxel is the block of input voxels that can change it. It grows
in three ways, each a rule applied layer by layer along a path from input to output, per axis,
with ``jump`` the distance between neighbouring units of the current layer in input voxels
(1 at the input):

- a convolution or pooling with kernel ``k``, dilation ``d`` and stride ``s`` adds
  ``(k - 1) * d * jump`` voxels, then ``jump *= s`` (pooling and strided convolutions add little
  themselves but widen every later layer's step);
- a transposed convolution or an upsampling by ``s`` adds ``(taps - 1) * jump`` with ``taps`` the
  largest number of its input units one output unit reads (1 for a stride-2 2x2 transposed
  convolution and for nearest upsampling, 2 for (bi/tri)linear), then ``jump /= s``;
- normalisation, activations, dropout and padding layers add nothing (normalisation statistics,
  which tie every voxel to the whole image, are not counted).

A network with parallel paths (residual shortcuts, skip connections, ASPP branches) has the field
of its widest path. In a U-Net that is the deepest one -- down the encoder through the
bottleneck and the context module, then up through every decoder block -- because each skip
path runs through a subset of the same layers and no layer shrinks the field.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .._validate import check_integer, check_spacing
from ._torch import require_torch

if TYPE_CHECKING:
    from torch import nn

    from .model import UNetSpec

__all__ = ["ReceptiveField", "probe_receptive_field", "receptive_field"]

#: input units one output unit of an upsampling mode reads along an axis (at most)
_UPSAMPLE_TAPS = {
    "nearest": 1,
    "nearest-exact": 1,
    "linear": 2,
    "bilinear": 2,
    "trilinear": 2,
    "bicubic": 4,
}


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a network's output voxel, per spatial axis.

    Attributes
    ----------
    voxels : tuple of int
        Extent in input voxels per spatial axis, numpy order.
    mm : tuple of float or None
        ``voxels * spacing`` when a spacing was given, else ``None``.
    parameters : int or None
        Learnable parameters of the network (weights and biases), when known.

    Examples
    --------
    >>> str(ReceptiveField((15, 15), (7.5, 7.5), 27))
    '15 x 15 voxels (7.5 x 7.5 mm)'
    """

    voxels: tuple[int, ...]
    mm: tuple[float, ...] | None = None
    parameters: int | None = None

    def __str__(self) -> str:
        text = " x ".join(str(v) for v in self.voxels) + " voxels"
        if self.mm is not None:
            text += " (" + " x ".join(f"{v:g}" for v in self.mm) + " mm)"
        return text


class _Path:
    """Field size and jump per axis along one path (exact fractions: upsampling divides)."""

    def __init__(self, ndim: int) -> None:
        self.size = [Fraction(1)] * ndim
        self.jump = [Fraction(1)] * ndim

    def copy(self) -> _Path:
        other = _Path(0)
        other.size, other.jump = list(self.size), list(self.jump)
        return other

    def down(self, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> None:
        for ax, (k, s, d) in enumerate(zip(kernel, stride, dilation, strict=True)):
            self.size[ax] += (k - 1) * d * self.jump[ax]
            self.jump[ax] *= s

    def up(self, taps: Sequence[int], factor: Sequence[Fraction]) -> None:
        for ax, (t, f) in enumerate(zip(taps, factor, strict=True)):
            self.size[ax] += (t - 1) * self.jump[ax]
            self.jump[ax] /= f

    def widest(self, others: Sequence[_Path]) -> None:
        """Keep the larger field of this path and ``others`` (parallel branches, same grid)."""
        for other in others:
            self.size = [max(a, b) for a, b in zip(self.size, other.size, strict=True)]


def _per_axis(value: Any, ndim: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, Sequence) else (int(value),) * ndim


def _walk(module: nn.Module, path: _Path, ndim: int) -> None:
    """Advance ``path`` through ``module`` (a layer, a known block, or a chain of layers)."""
    from torch import nn

    from .model import ASPP, ConvBlock, UNet, UpBlock

    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        stride = _per_axis(module.stride, ndim)
        taps = [
            -(-((k - 1) * d + 1) // s)
            for k, d, s in zip(module.kernel_size, module.dilation, stride, strict=True)
        ]
        path.up(taps, [Fraction(s) for s in stride])
    elif isinstance(module, nn.modules.conv._ConvNd):
        path.down(module.kernel_size, module.stride, module.dilation)
    elif isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        kernel = _per_axis(module.kernel_size, ndim)
        stride = _per_axis(module.stride or module.kernel_size, ndim)
        path.down(kernel, stride, _per_axis(getattr(module, "dilation", 1), ndim))
    elif isinstance(module, nn.Upsample):
        if module.scale_factor is None or module.mode not in _UPSAMPLE_TAPS:
            raise TypeError(
                f"the receptive field of {module} is not known: give nn.Upsample a "
                f"`scale_factor` and one of the modes {sorted(_UPSAMPLE_TAPS)}"
            )
        factor = module.scale_factor
        factors = factor if isinstance(factor, Sequence) else (factor,) * ndim
        path.up([_UPSAMPLE_TAPS[module.mode]] * ndim, [Fraction(f) for f in factors])
    elif isinstance(module, UNet):  # the deepest path: encoder, context, decoder, head
        for level, encoder in enumerate(module.encoders):
            if level:
                _walk(module.downs[level - 1], path, ndim)
            _walk(encoder, path, ndim)
        for part in (module.context, *module.decoders, module.head):
            _walk(part, path, ndim)
    elif isinstance(module, ConvBlock):  # the residual 1x1 shortcut is a shorter path
        _walk(module.body, path, ndim)
    elif isinstance(module, UpBlock):
        _walk(module.up, path, ndim)
        _walk(module.block, path, ndim)
    elif isinstance(module, ASPP):
        branches = [path.copy() for _ in module.branches]
        for branch, layer in zip(branches, module.branches, strict=True):
            _walk(layer, branch, ndim)
        path.widest(branches)
        _walk(module.project, path, ndim)
    elif isinstance(module, nn.Sequential) or len(list(module.children())) == 1:
        for child in module.children():
            _walk(child, path, ndim)
    elif not _is_pointwise(module):
        raise TypeError(
            f"the receptive field of layer {type(module).__name__} is not known (layers are read "
            "from nn.Sequential chains, convolutions, pooling, upsampling, normalisation and "
            "activations); measure it with probe_receptive_field"
        )


def _is_pointwise(module: nn.Module) -> bool:
    """Layers that act on each voxel alone (or only pad): they leave the field as it is."""
    from torch import nn

    kinds = (
        nn.Identity,
        nn.modules.batchnorm._NormBase,  # batch and instance norm
        nn.GroupNorm,
        nn.LayerNorm,
        nn.modules.dropout._DropoutNd,
    )
    if isinstance(module, kinds) or type(module).__module__ == "torch.nn.modules.padding":
        return True
    return type(module).__module__ == "torch.nn.modules.activation" and not isinstance(
        module, nn.MultiheadAttention
    )


def _spatial_dims(module: nn.Module) -> int:
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, nn.modules.conv._ConvNd):
            return len(layer.kernel_size)
    raise TypeError(
        f"`model_or_spec` ({type(module).__name__}) has no convolution to read the number of "
        "spatial axes from"
    )


def receptive_field(
    model_or_spec: nn.Module | UNetSpec, *, spacing: float | Sequence[float] | None = None
) -> ReceptiveField:
    """Return the receptive field of a network's output voxel, computed from its layers.

    Walks the layers along the network's widest path, per axis: a layer with kernel ``k``,
    dilation ``d`` and stride ``s`` adds ``(k - 1) * d * jump`` input voxels and multiplies the
    ``jump`` by ``s``; upsampling divides it. A U-Net's field is that of its deepest path
    (encoder, bottleneck, context module, decoder). See the module docstring for every rule.

    Parameters
    ----------
    model_or_spec : torch.nn.Module or UNetSpec
        A :class:`~.model.UNet`, its :class:`~.model.UNetSpec`, or a network of
        ``nn.Sequential`` chains of convolutions, pooling, upsampling, transposed convolutions,
        normalisation and activations (a module holding one such chain counts as the chain).
    spacing : float or sequence of float, optional
        Voxel size in mm (numpy order) to express the field in mm; ``None`` gives voxels only.

    Returns
    -------
    ReceptiveField
        Extent per spatial axis in voxels (and mm with a spacing) and the parameter count.

    Raises
    ------
    TypeError
        For a layer whose field is unknown (e.g. global pooling or a custom ``forward``).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(*(nn.Conv2d(1, 1, 3, dilation=d, bias=False) for d in (1, 2, 4)))
    >>> field = receptive_field(net, spacing=0.5)
    >>> print(field, field.parameters)
    15 x 15 voxels (7.5 x 7.5 mm) 27
    """
    torch = require_torch()
    from torch import nn

    from .model import UNet, UNetSpec

    if isinstance(model_or_spec, UNetSpec):
        with torch.device("meta"):  # only the layer shapes are needed: no memory, no init
            module: nn.Module = UNet(model_or_spec)
    elif isinstance(model_or_spec, nn.Module) and not isinstance(
        model_or_spec, torch.jit.ScriptModule
    ):
        module = model_or_spec
    else:
        raise TypeError(
            "`model_or_spec` must be a UNetSpec or a torch.nn.Module (not TorchScript); "
            f"got {type(model_or_spec).__name__}"
        )
    ndim = _spatial_dims(module)
    path = _Path(ndim)
    _walk(module, path, ndim)
    voxels = tuple(math.ceil(s) for s in path.size)
    mm = None
    if spacing is not None:
        steps = check_spacing(spacing, ndim, array_name="model_or_spec")
        mm = tuple(v * s for v, s in zip(voxels, steps, strict=True))
    return ReceptiveField(voxels, mm, sum(p.numel() for p in module.parameters()))


def probe_receptive_field(
    module: nn.Module, *, spatial_dims: int, size_voxels: int = 64
) -> tuple[int, ...]:
    """Measure a network's receptive field from the gradient of its centre output voxel.

    A copy of ``module`` gets positive weights (each convolution averages its inputs), zero
    biases, no normalisation and average instead of max pooling, in float64 and eval mode; on an
    all-ones input every path then adds a positive amount, so the input voxels with a non-zero
    gradient are exactly those some path reaches -- nothing cancels, no ReLU is dead, no max
    pooling drops its losers, and no instance norm ties the voxel to the whole image. It checks
    :func:`receptive_field` against the network's actual ``forward``; it says nothing about how
    the trained weights use the field (the effective receptive field).

    Parameters
    ----------
    module : torch.nn.Module
        The network; its first convolution's ``in_channels`` sets the input channels.
    spatial_dims : int
        Spatial axes of the input, 1 to 3.
    size_voxels : int
        Side of the probe's cubic input, in voxels; must exceed the field.

    Returns
    -------
    tuple of int
        Extent of the non-zero gradient per spatial axis, in voxels.

    Raises
    ------
    ValueError
        If the field reaches the probe's border (then ``size_voxels`` is too small).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 1, 3))
    >>> probe_receptive_field(net, spatial_dims=2, size_voxels=16)
    (8, 8)
    """
    torch = require_torch()
    from torch import nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be a torch.nn.Module; got {type(module).__name__}")
    dims = check_integer(spatial_dims, "spatial_dims", minimum=1, maximum=3)
    size = check_integer(size_voxels, "size_voxels", minimum=3)
    from .model import UNet

    convs = [m for m in module.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    if not convs:
        raise TypeError(f"`module` ({type(module).__name__}) has no convolution to probe")
    channels = module.spec.in_channels if isinstance(module, UNet) else convs[0].in_channels
    probe = _positive_copy(module, dims)
    x = torch.ones((1, channels, *(size,) * dims), dtype=torch.float64)
    x.requires_grad_(True)
    out = probe(x)
    centre = tuple(n // 2 for n in out.shape[2:])
    out[(0, slice(None), *centre)].sum().backward()
    assert x.grad is not None
    reached = (x.grad[0] != 0).any(dim=0)
    extent = []
    for ax in range(dims):
        hits = reached.any(dim=tuple(a for a in range(dims) if a != ax)) if dims > 1 else reached
        index = torch.nonzero(hits).flatten().tolist()
        if index[0] == 0 or index[-1] == size - 1:
            raise ValueError(
                f"the receptive field reaches the border of the {size}-voxel probe; "
                "increase `size_voxels`"
            )
        extent.append(index[-1] - index[0] + 1)
    return tuple(extent)


def _positive_copy(module: nn.Module, dims: int) -> nn.Module:
    """Copy ``module`` with averaging weights, no biases, no normalisation, average pooling."""
    torch = require_torch()
    from torch import nn

    probe = copy.deepcopy(module).to(device="cpu", dtype=torch.float64).eval()
    for parent in probe.modules():
        for name, child in parent.named_children():
            if isinstance(child, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.modules.pooling._MaxPoolNd):
                setattr(parent, name, _mean_pool(child, dims))
    with torch.no_grad():
        for layer in probe.modules():
            if isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear)):
                layer.weight.fill_(1.0 / layer.weight[0].numel())
                if layer.bias is not None:
                    layer.bias.zero_()
    return probe


def _mean_pool(pool: nn.modules.pooling._MaxPoolNd, dims: int) -> nn.Module:
    """Return an average pooling over the same window as ``pool`` (probe stand-in)."""
    from torch import nn

    if _per_axis(pool.dilation, dims) != (1,) * dims:
        raise TypeError(f"probe_receptive_field does not handle a dilated max pooling ({pool})")
    avg: Any = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[dims - 1]  # one class per rank
    return avg(pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode)
