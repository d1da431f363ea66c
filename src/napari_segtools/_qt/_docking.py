"""The docks as napari's menus open them: each joins the plugin's open docks as a tab.

napari's Plugins and Layers menus dock a widget under the ones already open (stacked), which
leaves each a sliver of the window's height. The manifest points at the classes here instead:
the same widgets, which after docking tabify with another visible napari-segtools dock in the
same area. Widgets docked from a script with ``viewer.window.add_dock_widget`` are left alone.
"""

from __future__ import annotations

import importlib
import weakref
from typing import TYPE_CHECKING

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow

if TYPE_CHECKING:
    import napari

#: suffix napari gives the dock title of every widget of this plugin
DOCK_SUFFIX = "(napari-segtools)"

_WIDGETS = {
    "Threshold": ("threshold_widget", "ThresholdWidget"),
    "RegionGrowing": ("region_growing_widget", "RegionGrowingWidget"),
    "Atlas": ("atlas_widget", "AtlasWidget"),
    "UNet": ("unet_widget", "UNetWidget"),
    "Evaluation": ("evaluation_widget", "EvaluationWidget"),
    "Segments": ("segments_widget", "SegmentsWidget"),
    "Classifier": ("classifier_widget", "ClassifierWidget"),
    "Cohort": ("cohort_widget", "CohortWidget"),
}


def dock_of(widget) -> QDockWidget | None:
    """Return the QDockWidget holding ``widget`` (magicgui widget or QWidget), else ``None``."""
    parent = getattr(widget, "native", widget).parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def tab_with_siblings(widget) -> bool:
    """Tabify the dock holding ``widget`` with another visible dock of this plugin.

    Returns whether it was tabified (``False`` when not docked or alone in its area).
    """
    try:
        dock = dock_of(widget)
    except RuntimeError:  # the widget was deleted before it was docked
        return False
    if dock is None:
        return False
    window = dock.parentWidget()
    if not isinstance(window, QMainWindow):
        return False
    area = window.dockWidgetArea(dock)
    siblings = [
        other
        for other in window.findChildren(QDockWidget)
        if other is not dock
        and other.isVisible()
        and not other.isFloating()
        and window.dockWidgetArea(other) == area
        and other.windowTitle().endswith(DOCK_SUFFIX)
    ]
    if not siblings:
        return False
    window.tabifyDockWidget(siblings[-1], dock)
    dock.show()
    dock.raise_()
    return True


def _tab_later(widget) -> None:
    """Tabify once napari has docked ``widget`` (it docks right after constructing it)."""
    ref = weakref.ref(widget)

    def run() -> None:
        alive = ref()
        if alive is not None:
            tab_with_siblings(alive)

    QTimer.singleShot(0, run)


def _tabbed(name: str) -> type:
    module, cls_name = _WIDGETS[name]
    base = getattr(importlib.import_module(f"{__package__}.{module}"), cls_name)

    def __init__(self, viewer: napari.viewer.Viewer) -> None:  # noqa: N807
        base.__init__(self, viewer)
        _tab_later(self)

    namespace = {"__init__": __init__, "__doc__": base.__doc__, "__module__": __name__}
    return type(cls_name, (base,), {**namespace, "__qualname__": name})


def __getattr__(name: str) -> type:
    # built on first use: importing this module must not import every dock
    if name not in _WIDGETS:
        raise AttributeError(name)
    cls = _tabbed(name)
    globals()[name] = cls
    return cls
