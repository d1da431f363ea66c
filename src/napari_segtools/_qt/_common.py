"""Small parts every dock shares: layer pickers on napari's public API and the status line.

User mistakes (bad settings, wrong layers, a file that is not a model) are said inline on the
dock's :class:`StatusLine`; anything else is a bug and also goes to napari's notifications with
its traceback. :data:`USER_ERRORS` draws that line, for the worker and the run handlers alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import Container, Label
from napari.layers import Image, Labels, Layer, Points
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QSizePolicy
from superqt import QCollapsible

#: Exceptions the cores raise for bad input: shown inline, never as a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    FileNotFoundError,
    ImportError,
)

_KINDS: dict[str, type[Layer]] = {"image": Image, "labels": Labels, "points": Points}


def layer_choices(
    layers,
    kind: str,
    *,
    ndim: tuple[int, ...] | None = None,
    where: Callable[[Any], bool] | None = None,
) -> list[tuple[str, Layer]]:
    """List ``(name, layer)`` choices of one kind for a magicgui ComboBox.

    Parameters
    ----------
    layers : napari LayerList
        The viewer's layers.
    kind : {"image", "labels", "points"}
        Layer class to offer; RGB images are never offered as ``"image"``.
    ndim : tuple of int, optional
        Accepted dimensionalities; all when not given.
    where : callable, optional
        Further filter taking the layer.
    """
    cls = _KINDS[kind]
    return [
        (layer.name, layer)
        for layer in layers
        if isinstance(layer, cls)
        and not (kind == "image" and layer.rgb)
        and (ndim is None or layer.ndim in ndim)
        and (where is None or where(layer))
    ]


class StatusLine(Label):
    """The one line under a dock's controls that says what happened or what is wrong."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(value="", **kwargs)
        # a long message wraps and never widens the dock; the full text is also the tooltip
        self.native.setWordWrap(True)
        policy = self.native.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.native.setSizePolicy(policy)
        #: last problem said (a user mistake or a failure), for the user and for tests
        self.problem: str | None = None

    def _show(self, message: str, style: str) -> None:
        self.native.setStyleSheet(style)
        self.value = message
        self.tooltip = message
        # a wrapped label with an ignored width policy is not grown by the layout: ask for the
        # height its text needs at the width it has, so no line is cut off
        label = self.native
        if label.width() > 0:
            label.setMinimumHeight(label.heightForWidth(label.width()))

    def say(self, message: str) -> None:
        """Show an ordinary message (a result, a hint) and clear any problem."""
        self.problem = None
        self._show(message, "")

    def refuse(self, message: str) -> None:
        """Show a user mistake inline, in the theme's warning colour; no notification."""
        self.problem = message
        self._show(message, "color: #e6a23c;")

    def fail(self, message: str, exc: BaseException | None = None) -> None:
        """Report a failure: inline for :data:`USER_ERRORS`, else also via napari's notifications."""
        if exc is None or isinstance(exc, USER_ERRORS):
            self.refuse(message)
            return
        self.refuse(message)
        show_error(message)


class Section(Container):
    """A titled group of settings that folds away; Advanced groups start closed.

    The fields live in ``self.body`` (a labelled magicgui Container); the widget keeps its own
    attributes for them as usual.
    """

    def __init__(self, title: str, widgets, *, expanded: bool = True, **kwargs: Any) -> None:
        self.body = Container(widgets=widgets)
        self.body.margins = (0, 0, 0, 0)
        super().__init__(labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)
        self.collapsible = QCollapsible(title)
        self.collapsible.addWidget(self.body.native)
        self.native.layout().addWidget(self.collapsible)
        if expanded:
            self.collapsible.expand(animate=False)
        else:
            self.collapsible.collapse(animate=False)

    @property
    def expanded(self) -> bool:
        """Whether the group is open."""
        return self.collapsible.isExpanded()

    def reset_choices(self, *args: Any) -> None:
        """Refresh the pickers inside the group (magicgui does not see through the fold)."""
        super().reset_choices(*args)
        self.body.reset_choices(*args)


def themed(figure, viewer) -> None:
    """Colour a matplotlib ``figure`` with the viewer's napari theme (background, text, axes)."""
    from napari.utils.theme import get_theme

    theme = get_theme(viewer.theme)
    background = theme.canvas.as_hex()
    text = theme.text.as_hex()
    figure.set_facecolor(background)
    for axes in figure.axes:
        axes.set_facecolor(background)
        axes.tick_params(colors=text, which="both")
        axes.xaxis.label.set_color(text)
        axes.yaxis.label.set_color(text)
        axes.title.set_color(text)
        for spine in axes.spines.values():
            spine.set_color(text)
