"""Layer <-> (array, Geometry) conversion and the widgets' own output layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core._types import Geometry

if TYPE_CHECKING:
    import napari


def layer_geometry(layer) -> Geometry:
    """Spacing (``scale``), origin (``translate``) and direction (metadata) of a layer, in mm."""
    direction = layer.metadata.get("direction") if hasattr(layer, "metadata") else None
    return Geometry(
        spacing=tuple(float(s) for s in layer.scale),
        origin=tuple(float(t) for t in layer.translate),
        direction=None if direction is None else np.asarray(direction, float),
    )


def layer_to_array(layer) -> tuple[np.ndarray, Geometry]:
    """The layer's full data as a numpy array, with its geometry."""
    return np.asarray(layer.data), layer_geometry(layer)


def geometry_kwargs(geometry: Geometry) -> dict[str, Any]:
    """Layer keyword arguments (scale, translate, metadata) placing data at ``geometry``."""
    kwargs: dict[str, Any] = {"scale": geometry.spacing, "translate": geometry.origin}
    if not geometry.is_axis_aligned:
        kwargs["metadata"] = {"direction": geometry.direction.tolist()}
    return kwargs


def current_slice_index(viewer: napari.Viewer, layer) -> tuple[int, ...]:
    """Data indices of the viewer's position on the layer's leading (non-displayed) axes."""
    world = viewer.dims.point[-layer.ndim :]
    data = layer.world_to_data(world)
    leading = layer.ndim - 2
    return tuple(int(np.clip(round(data[i]), 0, layer.data.shape[i] - 1)) for i in range(leading))


def write_output(
    viewer: napari.Viewer,
    name: str,
    data: np.ndarray,
    *,
    source,
    kind: str = "labels",
    **kwargs,
):
    """Show ``data`` in the widget's own output layer ``name``, never in a user's layer.

    The layer is updated in place when it already exists with the same type and shape, else it is
    (re)created; it copies ``source``'s scale, translate, affine and geometry metadata.
    Returns the layer.
    """
    existing = viewer.layers[name] if name in viewer.layers else None
    if (
        existing is not None
        and existing._type_string == kind
        and existing.data.shape == data.shape
    ):
        existing.data = data
        for key, value in kwargs.items():
            setattr(existing, key, value)
        existing.scale = source.scale
        existing.translate = source.translate
        existing.affine = source.affine
        return existing
    if existing is not None:
        viewer.layers.remove(existing)
    add = getattr(viewer, f"add_{kind}")
    return add(
        data,
        name=name,
        scale=source.scale,
        translate=source.translate,
        affine=source.affine,
        metadata={**source.metadata, **kwargs.pop("metadata", {})},
        **kwargs,
    )
