"""What a Labels layer says about its segments: names, colours, visibility and locks.

Everything lives with the layer, so napari shows it and saves it: names in ``layer.features``
(columns ``index`` and ``name``, shown on hover), colours in a ``DirectLabelColormap``, a hidden
segment as alpha 0 in that colormap (its colour kept, so showing it restores the colour), and
the locked values in ``layer.metadata["locked_segments"]``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from napari.utils.colormaps import DirectLabelColormap

from .._layer_style import PALETTE, feature_names, hex_rgb, label_features
from ..core.segments.info import SegmentInfo

#: metadata key of the locked label values (list of int)
LOCKED_KEY = "locked_segments"

__all__ = [
    "LOCKED_KEY",
    "locked_segments",
    "segment_color",
    "segment_infos",
    "segment_names",
    "segment_visible",
    "set_locked",
    "set_segment_color",
    "set_segment_name",
    "set_visible",
    "with_colors",
]


def segment_names(layer) -> dict[int, str]:
    """Return value -> name of the layer's segments (from ``layer.features``)."""
    return feature_names(layer.features)


def segment_name(layer, value: int) -> str:
    """Return the segment's name, or ``"label <value>"`` when it has none."""
    return segment_names(layer).get(int(value), f"label {int(value)}")


def set_segment_name(layer, value: int, name: str) -> None:
    """Name segment ``value`` (shown on hover); other names are kept."""
    names = segment_names(layer)
    names[int(value)] = str(name)
    layer.features = label_features(names)


def _color_dict(layer, values: Iterable[int] = ()) -> dict:
    """Return the layer's colours as a direct ``{value: RGBA}`` dict covering ``values``.

    A cyclic colormap (napari's default) is turned into the colours napari shows now.
    """
    cmap = layer.colormap
    if isinstance(cmap, DirectLabelColormap):
        colors = {k: np.asarray(v, float) for k, v in cmap.color_dict.items()}
    else:
        colors = {None: np.zeros(4)}
    for v in values:
        v = int(v)
        if v != 0 and v not in colors:
            rgba = layer.get_color(v) if not isinstance(cmap, DirectLabelColormap) else None
            if rgba is None:  # a direct colormap would draw a new value transparent
                rgba = (*hex_rgb(PALETTE[(v - 1) % len(PALETTE)]), 1.0)
            colors[v] = np.asarray(rgba, float)
    return colors


def with_colors(layer, values: Iterable[int]) -> None:
    """Give every value in ``values`` a colour of its own in a direct colormap (no-op if set)."""
    values = [int(v) for v in values if int(v) != 0]
    cmap = layer.colormap
    if isinstance(cmap, DirectLabelColormap) and all(v in cmap.color_dict for v in values):
        return
    layer.colormap = DirectLabelColormap(color_dict=_color_dict(layer, values))


def segment_color(layer, value: int) -> tuple[float, float, float, float]:
    """Return the RGBA (0..1) of segment ``value`` as stored (alpha 0 when hidden)."""
    rgba = _color_dict(layer, [value])[int(value)]
    return tuple(float(c) for c in rgba)  # type: ignore[return-value]


def _set_rgba(layer, value: int, rgba) -> None:
    colors = _color_dict(layer, [value])
    colors[int(value)] = np.asarray(rgba, float)
    layer.colormap = DirectLabelColormap(color_dict=colors)


def set_segment_color(layer, value: int, rgb) -> None:
    """Colour segment ``value`` with ``rgb`` (0..1); a hidden segment stays hidden."""
    rgb = tuple(float(c) for c in rgb)[:3]
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise ValueError(f"colour must be RGB in 0..1; got {rgb}")
    alpha = segment_color(layer, value)[3]
    _set_rgba(layer, value, (*rgb, alpha))


def segment_visible(layer, value: int) -> bool:
    """Return whether segment ``value`` is drawn (alpha > 0)."""
    return segment_color(layer, value)[3] > 0


def set_visible(layer, value: int, visible: bool) -> None:
    """Show or hide segment ``value``: alpha 1 or 0, its colour kept."""
    r, g, b, _ = segment_color(layer, value)
    _set_rgba(layer, value, (r, g, b, 1.0 if visible else 0.0))


def locked_segments(layer) -> tuple[int, ...]:
    """Return the locked label values of the layer (sorted)."""
    return tuple(sorted(int(v) for v in layer.metadata.get(LOCKED_KEY, ())))


def set_locked(layer, value: int, locked: bool) -> None:
    """Lock or unlock segment ``value``: effects then refuse to change its voxels."""
    values = set(locked_segments(layer))
    if locked:
        values.add(int(value))
    else:
        values.discard(int(value))
    layer.metadata = {**layer.metadata, LOCKED_KEY: sorted(values)}


def segment_infos(layer, values: Iterable[int]) -> tuple[SegmentInfo, ...]:
    """Return the name and colour of each of ``values`` (> 0) as :class:`SegmentInfo`."""
    return tuple(
        SegmentInfo(int(v), segment_name(layer, v), segment_color(layer, v)[:3])
        for v in sorted({int(v) for v in values} - {0})
    )
