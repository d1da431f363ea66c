"""Case picker of the "Metric pitfalls" gallery: one titled case at a time, centred.

The gallery sample opens every case on its own tile; the picker shows only the chosen case's
two layers, fits the camera on them, writes the case's title on the canvas and its lesson
beside the picker, and hands the case's reference to the Evaluation panel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Container, Label, PushButton

from .._sample_pitfalls import CASE_KEY, ROLE_KEY
from ._common import Section

if TYPE_CHECKING:
    import napari


def gallery_layers(layers) -> list:
    """Return the gallery's own layers (reference and prediction of each case), in layer order."""
    return [
        layer
        for layer in layers
        if CASE_KEY in layer.metadata
        and layer.metadata.get(ROLE_KEY) in ("reference", "prediction")
    ]


class PitfallPicker(Section):
    """Choose a gallery case; only its layers stay visible and the camera fits on them.

    ``on_pick(reference_layer)`` is called after a case is shown, so the panel can take the
    pair. Hidden while the viewer holds no gallery layers.
    """

    def __init__(self, viewer: napari.viewer.Viewer, on_pick: Callable | None = None):
        self.viewer = viewer
        self.on_pick = on_pick
        self.case = ComboBox(
            label="Case",
            choices=self._case_names,
            nullable=True,
            tooltip="Metric pitfall to show: only its reference and prediction stay visible",
        )
        self.previous_button = PushButton(text="◀ Previous", tooltip="Show the previous case")
        self.next_button = PushButton(text="Next ▶", tooltip="Show the next case")
        buttons = Container(
            widgets=[self.previous_button, self.next_button], layout="horizontal", labels=False
        )
        buttons.margins = (0, 0, 0, 0)
        self.title = Label(value="")
        self.title.native.setStyleSheet("font-weight: bold;")
        self.lesson = Label(value="")
        for label in (self.title, self.lesson):
            label.native.setWordWrap(True)
        super().__init__(
            "Metric pitfalls gallery", [self.case, buttons, self.title, self.lesson], expanded=True
        )
        #: name of the case shown last (None before any)
        self.shown: str | None = None
        #: the canvas text overlay's text before the picker wrote a title there
        self._saved_overlay_text: str | None = None
        self.case.changed.connect(self.show_case)
        self.previous_button.changed.connect(lambda: self.step(-1))
        self.next_button.changed.connect(lambda: self.step(+1))
        self.refresh()

    def _case_names(self, _widget=None) -> list[str]:
        names: list[str] = []
        for layer in gallery_layers(self.viewer.layers):
            name = layer.metadata[CASE_KEY]
            if name not in names:
                names.append(name)
        return names

    def refresh(self) -> None:
        """Re-read the cases present; the section shows only when there are any."""
        with self.case.changed.blocked():
            self.case.reset_choices()
            if self.shown in self._case_names():
                self.case.value = self.shown
        #: whether the viewer holds gallery layers (the section is shown only then)
        self.present = bool(self._case_names())
        if self.native.parent() is not None:  # never pop up as a window of its own
            self.native.setVisible(self.present)

    def step(self, delta: int) -> None:
        """Show the case ``delta`` places after (or before) the current one, wrapping round."""
        names = self._case_names()
        if not names:
            return
        current = names.index(self.shown) if self.shown in names else -delta
        self.case.value = names[(current + delta) % len(names)]

    def _layers_of(self, name: str) -> dict[str, object]:
        return {
            layer.metadata[ROLE_KEY]: layer
            for layer in gallery_layers(self.viewer.layers)
            if layer.metadata[CASE_KEY] == name
        }

    def show_case(self, name: str | None = None) -> None:
        """Show only case ``name`` (the picker's value by default), centred, titled, explained."""
        name = self.case.value if name is None else name
        pair = self._layers_of(name) if name is not None else {}
        if not pair:
            return
        if self.case.value != name:
            with self.case.changed.blocked():
                self.case.value = name
        self.shown = name
        for layer in gallery_layers(self.viewer.layers):
            visible = layer.metadata[CASE_KEY] == name
            if layer.visible != visible:
                layer.visible = visible
        self.viewer.fit_to_view(layers=list(pair.values()))
        reference = pair.get("reference") or next(iter(pair.values()))
        title = reference.metadata.get("title") or name
        self.title.value = title
        self.lesson.value = reference.metadata.get("lesson", "")
        self.lesson.tooltip = self.lesson.value
        text = self.viewer.canvas.overlays["text"]
        if self._saved_overlay_text is None:
            self._saved_overlay_text = text.text
        text.text = title
        text.position = "top_center"
        text.visible = True
        if self.on_pick is not None and "reference" in pair:
            self.on_pick(pair["reference"])

    def teardown(self) -> None:
        """Give the canvas text overlay back as it was; drop the callback."""
        self.on_pick = None
        if self._saved_overlay_text is not None:
            text = self.viewer.canvas.overlays["text"]
            if text.text == self.title.value:
                text.text = self._saved_overlay_text
                text.visible = False
            self._saved_overlay_text = None
