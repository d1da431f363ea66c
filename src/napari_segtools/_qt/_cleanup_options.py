"""Clean-up controls in physical units, read into a ``core.cleanup.CleanupSettings``."""

from __future__ import annotations

from magicgui.widgets import ComboBox, FloatSpinBox

from ..core.cleanup import CleanupSettings
from ._common import Section, layer_choices

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


class CleanupOptions(Section):
    """Open, close, median, small-object removal, hole filling and component selection.

    Steps run in that order; 0 mm (or "off") skips a step. A collapsible "Clean-up" group,
    closed by default (every step starts off). The dock calls :meth:`connect_viewer` with its
    :class:`~napari_segtools._qt._dock.Connections`, so closing the dock disconnects them.
    """

    def __init__(self, viewer, *, expanded: bool = False, **kwargs):
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
        #: the setting widgets whose change alters the result
        self.fields = [
            self.open_mm,
            self.close_mm,
            self.median_mm,
            self.min_size_mm3,
            self.fill_holes,
            self.keep,
            self.points,
        ]
        super().__init__("Clean-up", list(self.fields), expanded=expanded, **kwargs)
        self.keep.changed.connect(self._on_keep)

    def connect_viewer(self, connections) -> None:
        """Refresh the Points picker on layer changes, through the dock's ``connections``."""
        layers = self._viewer.layers
        connections.connect(layers.events.inserted, self.points.reset_choices)
        connections.connect(layers.events.removed, self.points.reset_choices)

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
