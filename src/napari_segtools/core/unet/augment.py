"""Random realistic variations of a training case: what a real scan differs by.

Smooth non-linear deformations, rotations and scaling (one resampling pass with torch's
``grid_sample``; labels by nearest neighbour, never interpolated), a smooth multiplicative bias
field, a gamma contrast change and Gaussian noise. Training deforms every patch on the fly;
validation and the held-out test use copies drawn from seeds the training never uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._torch import require_torch

require_torch()  # one clear message when the [unet] extra is missing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


@dataclass(frozen=True, kw_only=True)
class AugmentSettings:
    """Ranges of the random variations.

    Attributes
    ----------
    rotation_deg : float
        Rotation about each axis, uniform in +-``rotation_deg`` degrees.
    scaling : float
        Relative scaling per axis, uniform in 1 +- ``scaling``.
    displacement_mm : float
        Largest length of the smooth non-linear displacement, mm.
    control_mm : float
        Spacing of the random control grid the displacement is interpolated from, mm.
    bias : float
        Standard deviation of the log bias field (0.2 ~ +-20 % smooth intensity variation).
    gamma : float
        Contrast: intensities are raised to ``exp(u)``, u uniform in +-``gamma``.
    noise : float
        Largest Gaussian noise sigma, relative to the image's 99th percentile.

    Examples
    --------
    >>> AugmentSettings(rotation_deg=5.0).displacement_mm
    6.0
    """

    rotation_deg: float = 12.0
    scaling: float = 0.1
    displacement_mm: float = 6.0
    control_mm: float = 24.0
    bias: float = 0.2
    gamma: float = 0.3
    noise: float = 0.05


def _smooth_field(
    rng: np.random.Generator, channels: int, shape: Sequence[int], control: tuple[int, ...]
) -> torch.Tensor:
    """(channels, *shape) field interpolated linearly from a coarse standard-normal grid."""
    coarse = torch.from_numpy(rng.standard_normal((1, channels, *control)).astype(np.float32))
    mode = "trilinear" if len(shape) == 3 else "bilinear"
    return F.interpolate(coarse, size=tuple(shape), mode=mode, align_corners=True)[0]


def _rotation(rng: np.random.Generator, ndim: int, max_deg: float) -> np.ndarray:
    if ndim == 2:
        a = np.radians(rng.uniform(-max_deg, max_deg))
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    rot = np.eye(3)
    for axes in ((0, 1), (0, 2), (1, 2)):
        a = np.radians(rng.uniform(-max_deg, max_deg))
        r = np.eye(3)
        r[np.ix_(axes, axes)] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
        rot = r @ rot
    return rot


def random_grid(
    out_shape: Sequence[int],
    centre: Sequence[float],
    in_shape: Sequence[int],
    *,
    spacing: Sequence[float],
    rng: np.random.Generator,
    settings: AugmentSettings,
) -> torch.Tensor:
    """Draw a ``grid_sample`` grid: a randomly rotated, scaled and smoothly deformed window.

    The (1, *out_shape, D) grid samples an input of ``in_shape`` around voxel ``centre`` (the
    output's centre maps there before deformation), in normalised, x-first coordinates.

    Parameters
    ----------
    out_shape : sequence of int
        Shape of the window to sample, voxels.
    centre : sequence of float
        Voxel of the input the window's centre maps to.
    in_shape : sequence of int
        Shape of the input that the grid samples.
    spacing : sequence of float
        Voxel size in mm (numpy order); rotations and displacements are physical.
    rng : numpy.random.Generator
        Source of every random draw.
    settings : AugmentSettings
        Ranges of the variations.

    Returns
    -------
    (1, *out_shape, D) float32 torch.Tensor

    Examples
    --------
    >>> grid = random_grid((4, 6), (5.0, 5.0), (11, 11), spacing=(1.0, 1.0),
    ...                    rng=np.random.default_rng(0), settings=AugmentSettings())
    >>> tuple(grid.shape)
    (1, 4, 6, 2)
    """
    ndim = len(out_shape)
    mm = np.asarray(spacing, float)
    axes = [torch.arange(n, dtype=torch.float32) - (n - 1) / 2.0 for n in out_shape]
    offsets = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1) * torch.tensor(mm).float()
    matrix = _rotation(rng, ndim, settings.rotation_deg) @ np.diag(
        1 + rng.uniform(-settings.scaling, settings.scaling, ndim)
    )
    points = offsets @ torch.from_numpy(matrix.T.astype(np.float32))  # mm from the centre
    control = tuple(
        max(2, int(np.ceil(n * s / settings.control_mm)) + 1)
        for n, s in zip(out_shape, mm, strict=True)
    )
    disp = _smooth_field(rng, ndim, out_shape, control).movedim(0, -1)
    disp *= settings.displacement_mm / max(float(disp.norm(dim=-1).max()), 1e-6)
    voxels = (points + disp) / torch.tensor(mm).float() + torch.tensor(centre).float()
    extent = torch.tensor([max(n - 1, 1) for n in in_shape]).float()
    return (2 * voxels / extent - 1).flip(-1)[None]  # grid_sample wants x first


def warp(
    image: np.ndarray, labels: np.ndarray, grid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample (C, ...) ``image`` linearly and ``labels`` by nearest neighbour on ``grid``.

    Parameters
    ----------
    image : (C, [Z,] Y, X) float ndarray
        Intensities, channel first.
    labels : ([Z,] Y, X) or (K, [Z,] Y, X) integer ndarray
        Class indices, or K masks (one per structure), on the image's grid.
    grid : torch.Tensor
        A grid from :func:`random_grid`.

    Returns
    -------
    image : (C, *window) float32 torch.Tensor
    labels : (*window) or (K, *window) uint8 torch.Tensor

    Examples
    --------
    >>> grid = random_grid((4, 4), (3.5, 3.5), (8, 8), spacing=(1.0, 1.0),
    ...                    rng=np.random.default_rng(0), settings=AugmentSettings())
    >>> x, y = warp(np.ones((1, 8, 8)), np.ones((8, 8), np.uint8), grid)
    >>> tuple(x.shape), y.dtype
    ((1, 4, 4), torch.uint8)
    """
    src = torch.from_numpy(np.ascontiguousarray(image, np.float32))[None]
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0]
    stacked = np.ndim(labels) == np.ndim(image)  # one mask per structure
    lab = torch.from_numpy(np.ascontiguousarray(labels, np.float32))
    lab = lab[None] if stacked else lab[None, None]
    lab = F.grid_sample(lab, grid, mode="nearest", padding_mode="zeros", align_corners=True)[0]
    return out, (lab if stacked else lab[0]).to(torch.uint8)


def vary_intensity(
    image: torch.Tensor,
    *,
    rng: np.random.Generator,
    settings: AugmentSettings,
    scale: float = 1.0,
) -> torch.Tensor:
    """Vary (C, ...) intensities by a bias field, a gamma contrast change and noise.

    Parameters
    ----------
    image : (C, [Z,] Y, X) torch.Tensor
        Non-negative intensities.
    rng : numpy.random.Generator
        Source of every random draw.
    settings : AugmentSettings
        Ranges of the variations.
    scale : float
        Typical intensity range (the image's 99th percentile for raw intensities, 1 when
        normalised); gamma acts on ``image / scale`` and the noise sigma is relative to it.

    Returns
    -------
    torch.Tensor
        Same shape, non-negative.

    Examples
    --------
    >>> out = vary_intensity(torch.ones(1, 4, 4), rng=np.random.default_rng(0),
    ...                      settings=AugmentSettings())
    >>> tuple(out.shape), bool((out >= 0).all())
    ((1, 4, 4), True)
    """
    shape = image.shape[1:]
    bias = torch.exp(settings.bias * _smooth_field(rng, 1, shape, (3,) * len(shape)))
    gamma = float(np.exp(rng.uniform(-settings.gamma, settings.gamma)))
    out = scale * (image.clamp(min=0) / scale) ** gamma * bias
    sigma = rng.uniform(0, settings.noise) * scale
    out += torch.from_numpy(rng.standard_normal(tuple(out.shape)).astype(np.float32)) * sigma
    return out.clamp(min=0)


def random_copy(
    image: np.ndarray,
    labels: np.ndarray,
    *,
    spacing: Sequence[float],
    rng: np.random.Generator,
    settings: AugmentSettings = AugmentSettings(),
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one randomly deformed whole copy of ``image`` (raw intensities) and its labels.

    Parameters
    ----------
    image : (C, [Z,] Y, X) float ndarray
        Raw (non-negative) intensities, channel first.
    labels : ([Z,] Y, X) or (K, [Z,] Y, X) integer ndarray
        Class indices, or K masks (one per structure), on the same grid.
    spacing : sequence of float
        Voxel size in mm (numpy order); rotations and displacements are physical.
    rng : numpy.random.Generator
        Source of every random draw (a seeded generator gives a reproducible copy).
    settings : AugmentSettings
        Ranges of the variations.

    Returns
    -------
    image : (C, [Z,] Y, X) float32 ndarray
    labels : ([Z,] Y, X) or (K, [Z,] Y, X) uint8 ndarray

    Examples
    --------
    >>> image, labels = np.ones((1, 8, 8), np.float32), np.eye(8, dtype=np.uint8)
    >>> out, lab = random_copy(image, labels, spacing=(1.0, 1.0), rng=np.random.default_rng(0))
    >>> out.shape, lab.shape, set(np.unique(lab).tolist()) <= {0, 1}
    ((1, 8, 8), (8, 8), True)
    """
    shape = image.shape[1:]
    centre = [(n - 1) / 2.0 for n in shape]
    grid = random_grid(shape, centre, shape, spacing=spacing, rng=rng, settings=settings)
    out, lab = warp(image, labels, grid)
    scale = max(float(np.percentile(image, 99)), 1e-6)
    return vary_intensity(out, rng=rng, settings=settings, scale=scale).numpy(), lab.numpy()
