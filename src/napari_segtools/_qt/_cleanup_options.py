"""Clean-up controls in physical units, read into a ``core.cleanup.CleanupSettings``."""

from __future__ import annotations

from magicgui.widgets import ComboBox, Container, FloatSpinBox

from ..core.cleanup import CleanupSettings
from ._common import layer_choices

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
        return layer_choices(self._viewer.layers, "points")

    def _on_keep(self, value):
        self.points.visible = value == "touching"

    def settings(self) -> CleanupSettings:
        """Return the clean-up the controls describe."""
        return CleanupSettings(
            open_radius_mm=self.open_mm.value,
            close_radius_mm=self.close_mm.value,
            median_radius_mm=self.median_mm.value,
            min_size_mm3=self.min_size_mm3.value,
            fill_holes=self.fill_holes.value,
            keep=self.keep.value,
        )
