"""npe2 writer: Labels and Image layers to NIfTI/NRRD/MetaImage or Slicer ``.seg.nrrd``.

A layer opened by this plugin's reader (or made from such a layer) remembers its file's voxel
grid in ``metadata[SOURCE_GRID_KEY]``. It is saved on that grid: same size, spacing, origin and
direction as the source file, voxel for voxel, so tools that pair a mask with its image by voxel
index line up. A Labels layer whose grid differs from the file's by more than the reader's
reorientation is resampled (nearest neighbour, with a warning); an Image layer is then kept on
its own grid (intensities are never resampled). A layer without a source grid, or whose labels
do not fit it, is saved on its own grid with a warning naming why.

Segment names (``features``) and colours (``colormap``) go into a ``.seg.nrrd`` header and, for
NIfTI, into an ITK-SNAP label description file ``<name>.label.txt`` beside it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._layer_style import feature_names
from .core.geometry import layer_geometry


def write_layer(path: str, data, meta: dict[str, Any]) -> list[str]:
    """Write one Labels or Image layer with its geometry; voxels are kept exactly.

    The display geometry comes from the layer's scale, translate and affine; the target grid
    from ``meta["metadata"]`` (see the module docstring). Returns the written path in a list,
    as npe2 expects.
    """
    from .core.segments.source_grid import GridMismatchError, SourceGrid

    array = np.asarray(data)
    geometry = layer_geometry(meta, ndim=array.ndim)
    is_labels = "features" in meta  # napari's Labels state has features, its Image state not
    segments = _segments_of(array, meta, path) if is_labels else ()
    own = SourceGrid(array.shape, geometry)
    source = _source_grid(meta, path) or own
    try:
        return [str(_write(path, array, geometry, source, segments, is_labels))]
    except GridMismatchError as exc:
        warnings.warn(f"saving {Path(path).name} on the layer's own grid: {exc}", stacklevel=2)
    return [str(_write(path, array, geometry, own, segments, is_labels))]


def _source_grid(meta: dict[str, Any], path: str):
    """Return the layer's recorded source grid, or None (warning when the record is broken)."""
    from .core.segments.source_grid import SOURCE_GRID_KEY, SourceGrid

    record = (meta.get("metadata") or {}).get(SOURCE_GRID_KEY)
    if record is None:
        return None
    try:
        return SourceGrid.from_metadata(record)
    except ValueError as exc:
        warnings.warn(f"saving {Path(path).name} on the layer's own grid: {exc}", stacklevel=3)
        return None


def _write(path, array, geometry, source, segments, is_labels: bool) -> Path:
    from .core.io import write_image
    from .core.segments.source_grid import to_source_grid, write_on_source_grid

    if is_labels:
        return write_on_source_grid(path, array, geometry, source=source, segments=segments)
    # intensities are never resampled: an Image layer goes on its source grid only exactly
    return write_image(
        path, to_source_grid(array, geometry, source, resample=False), source.geometry
    )


def _segments_of(array: np.ndarray, meta: dict[str, Any], path: str) -> tuple:
    """SegmentInfo for each named value (``features``) and each value in the voxels.

    Empty when the layer names no value, unless the target is a ``.seg.nrrd`` (which always
    carries the layer's colours).
    """
    from .core.segments.info import SegmentInfo

    names = feature_names(meta.get("features"))
    if not names and not str(path).lower().endswith(".seg.nrrd"):
        return ()
    values = set(names) | {int(v) for v in np.unique(array) if v != 0}
    if not values or len(values) > 1000:  # many-valued maps (instances): no segment table
        return ()
    colors = _colors(meta.get("colormap"), sorted(values))
    return tuple(
        SegmentInfo(v, names.get(v, f"Segment_{v}"), colors.get(v, (1.0, 1.0, 0.0)))
        for v in sorted(values)
    )


def _colors(colormap, values: list[int]) -> dict[int, tuple[float, float, float]]:
    """Map value -> RGB 0..1 as the layer shows it (a napari label colormap or a colour dict)."""
    if colormap is None:
        return {}
    if isinstance(colormap, dict):
        from napari.utils.colormaps.standardize_color import transform_color

        return {
            v: tuple(float(c) for c in transform_color(colormap[v])[0][:3])
            for v in values
            if v in colormap
        }
    rgba = np.asarray(colormap.map(np.asarray(values)), float).reshape(len(values), -1)
    return {v: (rgba[i, 0], rgba[i, 1], rgba[i, 2]) for i, v in enumerate(values)}
