"""Clean-up settings in physical units, turned into steps for ``core.cleanup.iter_clean_mask``."""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, FloatSpinBox

_FILL = [
    ("off", "off"),
    ("3D", "3d"),
    ("per slice, axis 0", 0),
    ("per slice, axis 1", 1),
    ("per slice, axis 2", 2),
]
_KEEP = [
    ("all components", "all"),
    ("largest component", "largest"),
    ("components at points", "touching"),
]


def _radius(label: str, tooltip: str) -> FloatSpinBox:
    return FloatSpinBox(label=label, value=0.0, min=0.0, max=100.0, step=0.1, tooltip=tooltip)


class CleanupOptions(Container):
    """Open, close, median, small-object removal, hole filling and component selection.

    Steps run in that order; 0 mm (or "off") skips a step.
    """

    def __init__(self, viewer, **kwargs):
        self._viewer = viewer
        self.open_mm = _radius(
            "Open radius (mm)",
            "Opening ball radius in mm: removes spurs and thin bridges; 0 = off",
        )
        self.close_mm = _radius(
            "Close radius (mm)", "Closing ball radius in mm: bridges small gaps; 0 = off"
        )
        self.median_mm = _radius(
            "Median radius (mm)", "Median (majority) smoothing radius in mm; 0 = off"
        )
        self.min_size_mm3 = FloatSpinBox(
            label="Remove objects < (mm³)",
            value=0.0,
            min=0.0,
            max=1e9,
            step=1.0,
            tooltip="Remove components smaller than this volume in mm³ (mm² in 2-D); 0 = off",
        )
        self.fill_holes = ComboBox(
            label="Fill holes",
            choices=_FILL,
            value="off",
            tooltip="Fill enclosed background in 3-D, or in each 2-D slice across an axis",
        )
        self.keep = ComboBox(
            label="Keep",
            choices=_KEEP,
            value="all",
            tooltip="Keep every component, the largest, or those holding a point (Points layer)",
        )
        self.points = ComboBox(
            label="Points layer",
            choices=self._points_choices,
            nullable=True,
            visible=False,
            tooltip="Points (click in the viewer) whose components are kept",
        )
        super().__init__(
            widgets=[
                self.open_mm,
                self.close_mm,
                self.median_mm,
                self.min_size_mm3,
                self.fill_holes,
                self.keep,
                self.points,
            ],
            **kwargs,
        )
        self.keep.changed.connect(self._on_keep)
        viewer.layers.events.inserted.connect(self.points.reset_choices)
        viewer.layers.events.removed.connect(self.points.reset_choices)

    def _points_choices(self, _widget=None):
        return [
            (layer.name, layer) for layer in self._viewer.layers if layer._type_string == "points"
        ]

    def _on_keep(self, value):
        self.points.visible = value == "touching"

    def steps(self, ndim: int, points=None) -> list[tuple[str, dict]]:
        """Steps for a ``ndim``-D mask; ``points`` are voxel indices for "components at points"."""
        steps: list[tuple[str, dict]] = []
        for name, widget in (
            ("open", self.open_mm),
            ("close", self.close_mm),
            ("median", self.median_mm),
        ):
            if widget.value > 0:
                steps.append((name, {"radius_mm": widget.value}))
        if self.min_size_mm3.value > 0:
            steps.append(("remove_small", {"min_size_mm3": self.min_size_mm3.value}))
        fill = self.fill_holes.value
        if fill != "off":
            steps.append(("fill_holes", {"axis": None if fill == "3d" or ndim == 2 else fill}))
        if self.keep.value == "largest":
            steps.append(("keep_largest", {}))
        elif self.keep.value == "touching":
            if points is None or len(points) == 0:
                raise ValueError(
                    "'Keep components at points' needs a Points layer with points on the image"
                )
            steps.append(("keep_touching", {"points": points}))
        return steps
