"""What a file or a layer says about each segment: its label value, name and colour."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a label map.

    Attributes
    ----------
    value : int
        The label value of the segment's voxels (> 0).
    name : str
        Its name, as shown on hover and written into files.
    color : tuple of float
        RGB in 0..1.

    Examples
    --------
    >>> SegmentInfo(2, "white matter", (0.9, 0.9, 0.6)).name
    'white matter'
    """

    value: int
    name: str
    color: tuple[float, float, float] = (1.0, 1.0, 0.0)

    def __post_init__(self) -> None:
        if int(self.value) <= 0:
            raise ValueError(f"a segment's label value must be > 0; got {self.value}")
        rgb = tuple(float(c) for c in self.color)[:3]
        if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
            raise ValueError(f"a segment's colour must be RGB in 0..1; got {self.color}")
        object.__setattr__(self, "value", int(self.value))
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "color", rgb)
