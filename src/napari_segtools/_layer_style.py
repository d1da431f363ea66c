"""How the plugin's Labels layers look: value names shown on hover, colours that stand out.

Qt-free: the reader, the samples and the docks all style their layers through these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: saturated colours that stand out on grey CT/MR intensities (no near-white, no grey)
PALETTE = (
    "#ff3ec8",  # magenta
    "#00e5ff",  # cyan
    "#ffd400",  # yellow
    "#ff7a00",  # orange
    "#39ff14",  # green
    "#7b61ff",  # violet
    "#ff1744",  # red
    "#00b0ff",  # blue
)

#: the one colour of every live preview: never used for results
PREVIEW_COLOR = "#00ff9c"


def label_features(names: Mapping[int, str]) -> dict[str, list]:
    """Return a napari ``features`` table naming each label value, shown on hover.

    Examples
    --------
    >>> label_features({1: "bone"})
    {'index': [0, 1], 'name': ['background', 'bone']}
    """
    table = {0: "background", **{int(k): str(v) for k, v in names.items()}}
    values = sorted(table)
    return {"index": values, "name": [table[v] for v in values]}


def label_colormap(values, *, colors=PALETTE) -> dict[Any, str]:
    """Return a napari Labels ``colormap`` dict: each value a palette colour, 0 transparent.

    Examples
    --------
    >>> label_colormap([1, 2])
    {1: '#ff3ec8', 2: '#00e5ff', None: 'transparent'}
    """
    mapping: dict[Any, str] = {
        int(v): colors[i % len(colors)] for i, v in enumerate(sorted(set(values) - {0}))
    }
    mapping[None] = "transparent"
    return mapping


def labels_style(names: Mapping[int, str], *, colors=PALETTE) -> dict[str, Any]:
    """Return Labels layer keywords: hover names and contrasting colours for ``names``.

    Examples
    --------
    >>> sorted(labels_style({1: "grey matter", 2: "white matter"}))
    ['colormap', 'features']
    """
    return {"features": label_features(names), "colormap": label_colormap(names, colors=colors)}


def feature_names(features) -> dict[int, str]:
    """Return value -> name from a Labels ``features`` table (DataFrame or dict of columns).

    Background (0) is left out; a table without ``index`` and ``name`` columns gives ``{}``.

    Examples
    --------
    >>> feature_names(label_features({1: "bone"}))
    {1: 'bone'}
    """
    if features is None or "index" not in features or "name" not in features:
        return {}
    return {
        int(i): str(n)
        for i, n in zip(list(features["index"]), list(features["name"]), strict=True)
        if int(i) != 0
    }


def hex_rgb(color: str) -> tuple[float, float, float]:
    """Return the red, green, blue of ``#rgb``/``#rrggbb``/``#rrggbbaa`` in [0, 1].

    Examples
    --------
    >>> hex_rgb("#ff0000")
    (1.0, 0.0, 0.0)
    """
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    r, g, b = (int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def contrasting_colors(class_colors) -> tuple[str, ...]:
    """Return the model's colours for classes 1.. with greys and near-whites swapped out.

    A near-white or grey class (white matter drawn ``#f0f0f0``) vanishes on a bright T1; such a
    colour is replaced by a saturated :data:`PALETTE` colour not already used.

    Examples
    --------
    >>> contrasting_colors(["#000000", "#ff0000", "#f5f5f5"])
    ('#ff0000', '#ff3ec8')
    """
    chosen: list[str] = []
    spare = iter(PALETTE)
    for color in list(class_colors)[1:]:
        rgb = hex_rgb(color)
        if max(rgb) - min(rgb) < 0.35:  # unsaturated: grey, white or black
            color = next(c for c in spare if c not in chosen)
        chosen.append(str(color))
    return tuple(chosen)
