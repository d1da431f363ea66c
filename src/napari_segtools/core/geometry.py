"""Where voxels sit in millimetres: :class:`Geometry`, layer conversion, grids and radii.

One home for geometry. Arrays are in numpy axis order; spacing, origin and every distance are in
mm. A napari layer (or the ``meta`` dict napari hands a writer) maps to a :class:`Geometry` by
composing its ``affine`` with its ``scale`` and ``translate``, and back through
:func:`layer_kwargs`, so the reader, the writer and every widget agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Voxel spacing in millimetres, in numpy axis order (same order as ``layer.scale``).
Spacing = tuple[float, ...]

_RTOL, _ATOL = 1e-6, 1e-6


@dataclass(frozen=True, eq=False)
class Geometry:
    """Physical placement of an array, in numpy axis order.

    Attributes
    ----------
    spacing : tuple of float
        Voxel size per axis in mm.
    origin : tuple of float
        Physical position of the centre of voxel (0, ..., 0) in mm; zeros when not given.
    direction : (D, D) float ndarray
        Direction cosines; column ``j`` is the physical direction of numpy axis ``j``. The
        identity when not given.

    Examples
    --------
    >>> g = Geometry((2.5, 0.8, 0.8), origin=(10.0, 0.0, 0.0))
    >>> g.index_to_physical((2, 0, 10))
    array([15.,  0.,  8.])
    >>> g.is_axis_aligned, g == Geometry((2.5, 0.8, 0.8), (10, 0, 0))
    (True, True)
    """

    spacing: Spacing
    origin: tuple[float, ...] = ()
    direction: np.ndarray = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        ndim = len(self.spacing)
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        origin = tuple(self.origin) if len(self.origin) else (0.0,) * ndim
        if len(origin) != ndim:
            raise ValueError(f"`origin` has {len(origin)} values but `spacing` has {ndim}")
        object.__setattr__(self, "origin", tuple(float(o) for o in origin))
        direction = np.eye(ndim) if self.direction is None else np.asarray(self.direction, float)
        if direction.shape != (ndim, ndim):
            raise ValueError(
                f"`direction` must be a ({ndim}, {ndim}) matrix; got shape {direction.shape}"
            )
        object.__setattr__(self, "direction", direction)
        if not all(np.isfinite(v) and v > 0 for v in self.spacing):
            raise ValueError(f"`spacing` must be positive finite mm; got {self.spacing}")
        if not np.isfinite(self.origin).all():
            raise ValueError(f"`origin` must be finite mm; got {self.origin}")
        if not np.isfinite(direction).all():
            raise ValueError("`direction` must hold finite direction cosines")

    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.spacing)

    @property
    def is_axis_aligned(self) -> bool:
        """Whether the direction matrix is the identity (up to 1e-6)."""
        return bool(np.allclose(self.direction, np.eye(self.ndim), atol=1e-6))

    def index_to_physical(self, index) -> np.ndarray:
        """Physical position in mm of a (fractional) voxel index, numpy axis order."""
        return np.asarray(self.origin) + self.direction @ (np.asarray(index, float) * self.spacing)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Geometry):
            return NotImplemented
        return self.ndim == other.ndim and not grid_differences(self, other)

    __hash__ = None  # type: ignore[assignment]


def grid_differences(
    a: Geometry,
    b: Geometry,
    shape_a: tuple[int, ...] | None = None,
    shape_b: tuple[int, ...] | None = None,
) -> list[str]:
    """Say how two voxel grids differ; an empty list means they are the same grid.

    Spacing and origin are compared to 1e-6 (relative and absolute), direction cosines to 1e-6.

    Examples
    --------
    >>> grid_differences(Geometry((1.0, 1.0)), Geometry((1.0, 2.0)), (4, 4), (4, 2))
    ['shape (4, 4) vs (4, 2)', 'spacing (1, 1) vs (1, 2) mm']
    """
    diffs = []
    if shape_a is not None and shape_b is not None and tuple(shape_a) != tuple(shape_b):
        diffs.append(f"shape {_fmt(shape_a)} vs {_fmt(shape_b)}")
    if a.ndim != b.ndim:
        return [*diffs, f"{a.ndim}-D vs {b.ndim}-D"]
    if not np.allclose(a.spacing, b.spacing, rtol=_RTOL, atol=_ATOL):
        diffs.append(f"spacing {_fmt(a.spacing)} vs {_fmt(b.spacing)} mm")
    if not np.allclose(a.origin, b.origin, rtol=_RTOL, atol=_ATOL):
        diffs.append(f"origin {_fmt(a.origin)} vs {_fmt(b.origin)} mm")
    if not np.allclose(a.direction, b.direction, atol=_ATOL):
        diffs.append("direction (rotation)")
    return diffs


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _get(source: Any, key: str, default: Any = None) -> Any:
    if isinstance(source, Mapping):
        return source.get(key, default)
    return getattr(source, key, default)


def layer_geometry(layer: Any, ndim: int | None = None) -> Geometry:
    """Geometry of a napari layer, or of the ``meta`` dict napari gives a writer.

    The layer's ``affine`` is composed with its ``scale`` and ``translate``: spacing is the
    length of each mapped axis, origin where voxel 0 lands, direction the unit axes. Only the
    last ``ndim`` axes are kept (all by default).

    Parameters
    ----------
    layer : napari layer or mapping
        Anything with ``scale``, ``translate`` and optionally ``affine`` (a napari ``Affine`` or
        a homogeneous matrix), as attributes or keys.
    ndim : int, optional
        Number of trailing spatial axes to keep.

    Examples
    --------
    >>> layer_geometry({"scale": (2.0, 0.5), "translate": (1.0, 0.0)})
    Geometry(spacing=(2.0, 0.5), origin=(1.0, 0.0), direction=array([[1., 0.],
           [0., 1.]]))
    """
    scale = np.asarray(_get(layer, "scale"), float)
    full = len(scale)
    translate = np.asarray(_get(layer, "translate", np.zeros(full)), float)
    affine = _get(layer, "affine")
    matrix = (
        np.eye(full + 1)
        if affine is None
        else np.asarray(getattr(affine, "affine_matrix", affine), float)
    )
    linear = matrix[:-1, :-1] @ np.diag(scale)
    origin = matrix[:-1, :-1] @ translate + matrix[:-1, -1]
    keep = slice(full - (full if ndim is None else ndim), full)
    linear, origin = linear[keep, keep], origin[keep]
    spacing = np.linalg.norm(linear, axis=0)
    return Geometry(tuple(spacing), tuple(origin), linear / spacing)


def layer_kwargs(geometry: Geometry, **extra: Any) -> dict[str, Any]:
    """Layer keyword arguments placing data at ``geometry``: scale, translate and affine.

    A direction other than the identity becomes the layer ``affine``, a rotation about the
    origin, so world coordinates are the file's physical coordinates (mm, numpy axis order);
    ``metadata["direction"]`` records it too. ``extra`` keywords (``name``, ``colormap``, ...)
    are added; an extra ``metadata`` dict is merged.

    Examples
    --------
    >>> kwargs = layer_kwargs(Geometry((2.0, 0.5)), name="ct")
    >>> kwargs["scale"], kwargs["translate"], kwargs["name"]
    ((2.0, 0.5), (0.0, 0.0), 'ct')
    """
    metadata = {"direction": geometry.direction.tolist(), "spacing_unit": "mm"}
    kwargs: dict[str, Any] = {"scale": geometry.spacing, "translate": geometry.origin}
    if not geometry.is_axis_aligned:
        affine = np.eye(geometry.ndim + 1)
        affine[:-1, :-1] = geometry.direction
        affine[:-1, -1] = np.asarray(geometry.origin) - geometry.direction @ geometry.origin
        kwargs["affine"] = affine
    kwargs.update(extra)
    kwargs["metadata"] = {**metadata, **extra.get("metadata", {})}
    return kwargs


def voxel_volume(spacing: Spacing) -> float:
    """Return the volume of one voxel in mm^3 (mm^2 in 2-D)."""
    return float(np.prod(spacing))


def radius_in_voxels(radius_mm: float, spacing: Spacing) -> tuple[int, ...]:
    """Return the per-axis half-width in voxels of a ball of ``radius_mm`` on a grid with ``spacing``."""
    return tuple(int(np.floor(radius_mm / s + 1e-9)) for s in spacing)


def ellipsoid_footprint(radius_mm: float, spacing: Spacing) -> np.ndarray:
    """Return a bool ball footprint: voxels whose centre lies within ``radius_mm`` of the centre.

    Anisotropy is respected: on a (2.5, 0.8, 0.8) mm grid a 2 mm ball is 1 voxel deep along axis 0
    and 5 voxels across the others.
    """
    half = radius_in_voxels(radius_mm, spacing)
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    dist2 = sum((g * s) ** 2 for g, s in zip(grids, spacing, strict=True))
    return np.asarray(dist2 <= radius_mm**2 + 1e-9)


def volume_to_voxels(volume_mm3: float, spacing: Spacing) -> int:
    """Return the number of voxels (rounded up) that make up ``volume_mm3`` on a grid with ``spacing``."""
    return int(np.ceil(volume_mm3 / voxel_volume(spacing) - 1e-9))


def resample_labels_nearest(
    labels: np.ndarray, source: Geometry, target: Geometry, target_shape: tuple[int, ...]
) -> np.ndarray:
    """Resample a label image onto another axis-aligned grid by nearest neighbour.

    ``source`` and ``target`` are :class:`Geometry` objects
    (spacing and origin in mm). Each target voxel takes the label of the source voxel whose
    centre is nearest; target voxels outside the source grid get 0. Labels are never
    interpolated.
    """
    if not (source.is_axis_aligned and target.is_axis_aligned):
        raise ValueError("nearest-neighbour resampling needs axis-aligned grids (no rotation)")
    index, inside = [], []
    for n_src, n_dst, s_src, s_dst, o_src, o_dst in zip(
        labels.shape,
        target_shape,
        source.spacing,
        target.spacing,
        source.origin,
        target.origin,
        strict=True,
    ):
        centres = o_dst + np.arange(n_dst) * s_dst  # target voxel centres in mm
        idx = np.floor((centres - o_src) / s_src + 0.5 + 1e-9).astype(int)
        index.append(np.clip(idx, 0, n_src - 1))
        inside.append((idx >= 0) & (idx < n_src))
    keep = np.ones((1,) * labels.ndim, bool)
    for axis, axis_inside in enumerate(inside):
        other_axes = tuple(a for a in range(labels.ndim) if a != axis)
        keep = keep & np.expand_dims(axis_inside, other_axes)
    return np.where(keep, labels[np.ix_(*index)], 0).astype(labels.dtype, copy=False)
