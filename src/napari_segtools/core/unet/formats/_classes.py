"""Class names and colours for model formats that carry no colours of their own (MONAI, nnU-Net)."""

from __future__ import annotations

from collections.abc import Sequence

from ...._layer_style import PALETTE


def class_names(names: Sequence[object], count: int, *, output: str) -> list[str]:
    """Return ``count`` distinct, non-empty class names, filling gaps with ``class k``.

    A softmax head's first class is the background.

    Examples
    --------
    >>> class_names(["background", "", "liver", "liver"], 4, output="softmax")
    ['background', 'class 1', 'liver', 'liver 3']
    """
    out: list[str] = []
    for k in range(count):
        name = str(names[k]).strip() if k < len(names) and names[k] is not None else ""
        if not name:
            name = "background" if k == 0 and output == "softmax" else f"class {k}"
        out.append(name if name not in out else f"{name} {k}")
    return out


def class_colors(count: int, *, output: str) -> list[str]:
    """Return one hex colour per class: black for a softmax background, then the plugin's palette.

    Examples
    --------
    >>> class_colors(3, output="softmax")
    ['#000000', '#ff3ec8', '#00e5ff']
    """
    first = ["#000000"] if output == "softmax" else []
    rest = count - len(first)
    return first + [PALETTE[k % len(PALETTE)] for k in range(rest)]
