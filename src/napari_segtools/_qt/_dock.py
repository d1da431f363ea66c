"""Dock plumbing: a scroll area that survives napari's docking; connections that end with it.

napari docks a magicgui widget's ``.native``; for ``Container(scrollable=True)`` that is the
widget *inside* magicgui's scroll area, so the scroll area is dropped. :class:`ScrollDock` puts
its own :class:`~qtpy.QtWidgets.QScrollArea` inside ``.native`` instead.

:class:`Connections` records every ``(emitter, callback)`` a dock connects to the viewer and
its layers, and disconnects them all when the dock is taken out of the window (napari's
``remove_dock_widget`` un-parents it) or its Qt widget is deleted (the viewer closed), so no
callback reaches a deleted Qt object afterwards.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable
from typing import Any

from magicgui.widgets import Container
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QFrame, QScrollArea


def _weak(callback: Callable) -> Callable[[], Callable | None]:
    """Refer to ``callback`` without keeping its widget alive (bound methods weakly)."""
    if inspect.ismethod(callback):
        return weakref.WeakMethod(callback)
    return lambda: callback


class Connections:
    """Connections a dock made, undone together by :meth:`close` (at most once).

    Bound methods are held weakly, so the record never keeps a closed dock alive.
    """

    def __init__(self, on_close: Callable[[], None] | None = None) -> None:
        self._pairs: list[tuple[Any, Callable[[], Callable | None]]] = []
        self._on_close = None if on_close is None else _weak(on_close)
        #: False once the dock was closed: late worker results must not touch the viewer
        self.alive = True

    def connect(self, emitter, callback: Callable) -> None:
        """Connect ``callback`` to ``emitter`` (a napari EventEmitter or a Qt signal)."""
        emitter.connect(callback)
        self._pairs.append((emitter, _weak(callback)))

    def close(self, *, clean_up: bool = True) -> None:
        """Disconnect everything; first run the dock's own clean-up when ``clean_up``."""
        if not self.alive:
            return
        self.alive = False
        on_close = None if self._on_close is None else self._on_close()
        if clean_up and on_close is not None:
            with contextlib.suppress(RuntimeError):  # Qt parts may be half deleted
                on_close()
        for emitter, ref in self._pairs:
            callback = ref()
            if callback is not None:
                with contextlib.suppress(TypeError, RuntimeError, ValueError):
                    emitter.disconnect(callback)
        self._pairs.clear()


class _Undocked(QObject):
    """Event filter: the watched widget lost its parent (napari removed the dock)."""

    def __init__(self, parent, connections: Connections) -> None:
        super().__init__(parent)
        self._connections = connections

    def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.ParentChange and obj.parent() is None:
            self._connections.close()
        return False


class _VerticalScroll(QScrollArea):
    """A scroll area as wide as its contents' minimum: it scrolls up and down, never clips."""

    def minimumSizeHint(self):  # noqa: N802 (Qt's name)
        hint = super().minimumSizeHint()
        inner = self.widget()
        if inner is not None:
            bar = self.verticalScrollBar().sizeHint().width()
            hint.setWidth(inner.minimumSizeHint().width() + bar)
        return hint


class ScrollDock(Container):
    """A dock Container whose contents scroll vertically, never horizontally.

    Parameters
    ----------
    widgets : list of magicgui widgets
        The dock's contents, top to bottom (Sections, the run controls...).
    on_close : callable, optional
        The dock's clean-up, run once when it is closed (before events are disconnected).
    """

    def __init__(self, widgets, *, on_close: Callable[[], None] | None = None) -> None:
        #: the dock's contents (inside the scroll area)
        self.content = Container(widgets=widgets, labels=False)
        self.content.native.layout().addStretch(1)  # spare height goes below, not between groups
        super().__init__(labels=False)
        self.margins = (0, 0, 0, 0)
        self.scroll = _VerticalScroll()
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.content.native)
        self.native.layout().addWidget(self.scroll)
        self.connections = Connections(on_close)
        self._undocked = _Undocked(self.native, self.connections)
        self.native.installEventFilter(self._undocked)
        connections = self.connections  # the slot must not hold the dock itself
        # deleted with the viewer's window: only disconnect (the widget may be half gone)
        self.native.destroyed.connect(lambda *_: connections.close(clean_up=False))

    def reset_choices(self, *_: Any) -> None:
        """Refresh every layer picker in the contents (nothing once the dock is closed)."""
        if not self.connections.alive:
            return
        for widget in self.content:
            # a Section keeps its fields in `.body`, outside its own widget list
            target = getattr(widget, "body", widget)
            if hasattr(target, "reset_choices"):
                target.reset_choices()

    def close_dock(self) -> None:
        """Disconnect the dock's events and remove its empty helper layers (idempotent)."""
        self.connections.close()
