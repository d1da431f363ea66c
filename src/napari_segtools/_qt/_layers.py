"""The one layer <-> array glue: layer -> (array, Geometry), points -> voxel indices, result -> layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import napari.layers
import numpy as np

from ..core.geometry import Geometry, layer_geometry
from ._history import write_labels

if TYPE_CHECKING:
    import napari

__all__ = [
    "add_labels_written",
    "current_slice_index",
    "OUTPUT_KEY",
    "find_layer",
    "is_output_of",
    "owned_name",
    "write_owned",
    "layer_to_array",
    "points_to_indices",
    "write_output",
]


def layer_to_array(layer) -> tuple[np.ndarray, Geometry]:
    """Return the layer's full data as a numpy array, with its geometry."""
    return np.asarray(layer.data), layer_geometry(layer)


def current_slice_index(viewer: napari.Viewer, layer) -> tuple[int, ...]:
    """Return the data indices of the viewer's position on the layer's leading (non-displayed) axes."""
    world = viewer.dims.point[-layer.ndim :]
    data = layer.world_to_data(world)
    leading = layer.ndim - 2
    return tuple(int(np.clip(round(data[i]), 0, layer.data.shape[i] - 1)) for i in range(leading))


def points_to_indices(points, layer, lead: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Map a Points layer onto ``layer``'s voxel grid, keeping the points at ``lead``.

    Returns the rounded voxel indices of the kept points on the axes after ``lead`` (an
    ``(N, layer.ndim - len(lead))`` int array) and the bool selection of kept points, so callers
    can pick the matching features.
    """
    if points is None or len(points.data) == 0:
        return np.empty((0, layer.ndim - len(lead)), int), np.zeros(0, bool)
    world = [points.data_to_world(p) for p in points.data]
    index = np.round(np.array([layer.world_to_data(w) for w in world], dtype=float)).astype(int)
    keep = np.all(index[:, : len(lead)] == np.asarray(lead, int), axis=1)
    return index[keep, len(lead) :], keep


def find_layer(viewer: napari.Viewer, name: str):
    """Return the viewer's layer called ``name``, or None."""
    return next((layer for layer in viewer.layers if layer.name == name), None)


def add_labels_written(viewer: napari.Viewer, data: np.ndarray, **kwargs) -> tuple:
    """Add an empty Labels layer shaped like ``data``, then write ``data`` as one undo step.

    Ctrl+Z on the new layer empties it. ``kwargs`` go to ``viewer.add_labels``. Returns the
    layer and the number of voxels written (non-zero voxels of ``data``).
    """
    data = np.asarray(data)
    layer = viewer.add_labels(np.zeros(data.shape, data.dtype), **kwargs)
    return layer, write_labels(layer, data)


def write_output(
    viewer: napari.Viewer,
    name: str,
    data: np.ndarray,
    *,
    source,
    kind: str = "labels",
    **kwargs,
) -> tuple:
    """Show ``data`` in the widget's own output layer ``name``, never in a user's layer.

    The layer is updated in place when it already exists with the same type and shape, else it is
    (re)created; it copies ``source``'s scale, translate, affine and geometry metadata.
    A Labels output is written as one napari undo step (:func:`._history.write_labels`; a new
    layer starts empty, so Ctrl+Z empties it). Returns the layer and the number of voxels changed
    (None for other kinds, which napari keeps no history of).
    """
    layer_class = getattr(napari.layers, kind.title())
    existing = find_layer(viewer, name)
    if isinstance(existing, layer_class) and existing.data.shape == data.shape:
        if kind == "labels":
            changed = write_labels(existing, data)
        else:
            existing.data = data
            changed = None
        for key, value in kwargs.items():
            setattr(existing, key, value)
        existing.scale = source.scale
        existing.translate = source.translate
        existing.affine = source.affine
        return existing, changed
    if existing is not None:
        viewer.layers.remove(existing)
    options = dict(
        name=name,
        scale=source.scale,
        translate=source.translate,
        affine=source.affine,
        metadata={**source.metadata, **kwargs.pop("metadata", {})},
        **kwargs,
    )
    if kind == "labels":
        return add_labels_written(viewer, data, **options)
    return getattr(viewer, f"add_{kind}")(data, **options), None


#: metadata key naming the widget that made an output layer (its value: the widget's name)
OUTPUT_KEY = "napari_segtools_output"


def is_output_of(layer, owner: str) -> bool:
    """Return whether ``layer`` is an output made by the widget ``owner``."""
    return layer is not None and layer.metadata.get(OUTPUT_KEY) == owner


def owned_name(viewer: napari.Viewer, name: str, owner: str) -> str:
    """Return ``name`` if it is free or ``owner``'s output, else the first such ``"name [k]"``."""
    k = 1
    candidate = name
    while True:
        layer = find_layer(viewer, candidate)
        if layer is None or is_output_of(layer, owner):
            return candidate
        k += 1
        candidate = f"{name} [{k}]"


def write_owned(
    viewer: napari.Viewer, name: str, data, *, source, owner: str, kind: str = "labels", **kwargs
) -> tuple:
    """Write ``data`` into ``owner``'s output layer ``name`` (see :func:`owned_name`).

    Returns the layer and the voxels changed, as :func:`write_output`. The layer's metadata is
    ``source``'s plus ``OUTPUT_KEY: owner``.
    """
    metadata = {**source.metadata, OUTPUT_KEY: owner}
    return write_output(
        viewer,
        owned_name(viewer, name, owner),
        data,
        source=source,
        kind=kind,
        metadata=metadata,
        **kwargs,
    )
