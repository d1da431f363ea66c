"""The Segments dock's edit effects: which effect, its settings (mm), and where it may write.

:class:`EffectsSection` holds the choices; :func:`iter_effect` runs the chosen core effect
(``core.segments.effects``, imported in the worker) on a copy of the labels and returns the new
array, which the dock writes as one undo step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, SpinBox

from ..core._types import Progress
from ._common import Section

#: effect key -> (menu text, the settings it shows)
EFFECTS: dict[str, tuple[str, frozenset[str]]] = {
    "margin": ("Margin (grow / shrink)", frozenset({"margin_mm"})),
    "keep_largest": ("Islands: keep largest", frozenset({"connectivity"})),
    "remove_small": ("Islands: remove small", frozenset({"min_size_mm3"})),
    "keep_selected": ("Islands: keep island under cursor", frozenset()),
    "split": ("Islands: split into segments", frozenset()),
    "smooth": ("Smoothing", frozenset({"smooth_method", "kernel_mm"})),
    "smooth_joint": ("Smoothing: joint (all segments)", frozenset({"kernel_mm"})),
    "logical": ("Logical operators", frozenset({"operation", "other"})),
    "hollow": ("Hollow", frozenset({"thickness_mm", "shell"})),
    "fill_holes": ("Fill holes", frozenset()),
    "fill_between": ("Fill between slices", frozenset({"axis"})),
}
#: effects that may create the selected segment from nothing (others need its voxels)
CREATES = frozenset({"logical", "fill_between", "smooth_joint"})
#: effects that edit every segment at once (a locked one is left alone, not refused)
ALL_SEGMENTS = frozenset({"smooth_joint"})
_OPERATIONS = ["copy", "union", "intersect", "subtract", "invert", "clear"]
_AREA_MODES = [
    ("everywhere", "everywhere"),
    ("inside a label", "inside"),
    ("outside a label", "outside"),
    ("empty voxels only", "empty"),
]


@dataclass(frozen=True)
class EffectCall:
    """One effect to run: the core function's name, positional extras and keywords."""

    key: str
    function: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: what the status says it did, e.g. "margin +2 mm"
    description: str = ""


class EffectsSection(Section):
    """Choose an effect and its settings; the editable area sits in :attr:`area` (closed)."""

    def __init__(self, image_choices) -> None:
        self.effect = ComboBox(
            label="Effect",
            choices=[(text, key) for key, (text, _) in EFFECTS.items()],
            value="margin",
            tooltip="The edit applied to the selected segment (the row selected in the table)",
        )
        self.margin_mm = FloatSpinBox(
            label="Margin (mm)",
            value=1.0,
            min=-100.0,
            max=100.0,
            step=0.5,
            tooltip="Grow (positive) or shrink (negative) the segment by this distance in mm",
        )
        self.connectivity = ComboBox(
            label="Islands touch by",
            choices=[("faces", 1), ("faces + edges", 2), ("faces + edges + corners", 3)],
            value=1,
            tooltip="Which neighbouring voxels join one island (6, 18 or 26 neighbours in 3-D)",
        )
        self.min_size_mm3 = FloatSpinBox(
            label="Minimum size (mm³)",
            value=100.0,
            min=0.0,
            max=1e9,
            step=10.0,
            tooltip="Islands smaller than this volume (mm³) are removed",
        )
        self.smooth_method = ComboBox(
            label="Method",
            choices=[
                ("median", "median"),
                ("opening (remove extrusions)", "opening"),
                ("closing (fill holes)", "closing"),
                ("gaussian", "gaussian"),
            ],
            value="median",
            tooltip="Smoothing filter, as in 3D Slicer's Smoothing effect",
        )
        self.kernel_mm = FloatSpinBox(
            label="Kernel size (mm)",
            value=3.0,
            min=0.1,
            max=100.0,
            step=0.5,
            tooltip="Size of the smoothing kernel in mm",
        )
        self.operation = ComboBox(
            label="Operation",
            choices=_OPERATIONS,
            value="union",
            tooltip="copy/union/intersect/subtract the other segment into the selected one; "
            "invert or clear the selected one",
        )
        self.other = SpinBox(
            label="Other segment", value=1, min=0, max=65535, tooltip="Label value of the other"
        )
        self.thickness_mm = FloatSpinBox(
            label="Shell thickness (mm)",
            value=2.0,
            min=0.1,
            max=100.0,
            step=0.5,
            tooltip="Thickness of the wall left by Hollow, in mm",
        )
        self.shell = ComboBox(
            label="Shell",
            choices=["inside", "centered", "outside"],
            value="inside",
            tooltip="Where the wall lies relative to the segment's surface",
        )
        self.axis = SpinBox(
            label="Slice axis",
            value=0,
            min=0,
            max=2,
            tooltip="Axis across which slices are filled (0 = the first axis of the array)",
        )
        self.settings = {
            name: getattr(self, name)
            for name in (
                "margin_mm",
                "connectivity",
                "min_size_mm3",
                "smooth_method",
                "kernel_mm",
                "operation",
                "other",
                "thickness_mm",
                "shell",
                "axis",
            )
        }
        super().__init__("Effects", [self.effect, *self.settings.values()])
        self.area = EditableArea(image_choices)
        self.effect.changed.connect(self._show_settings)
        self._show_settings(self.effect.value)

    def _show_settings(self, key: str) -> None:
        shown = EFFECTS[key][1]
        for name, widget in self.settings.items():
            widget.visible = name in shown

    def call(self, value: int, *, spacing, index: tuple[int, ...] | None = None) -> EffectCall:
        """Return the effect to run on segment ``value`` (``index``: the voxel under the cursor)."""
        key = self.effect.value
        spacing = tuple(float(s) for s in spacing)
        if key == "margin":
            mm = float(self.margin_mm.value)
            return EffectCall(
                key,
                "margin",
                (value,),
                {"margin_mm": mm, "spacing": spacing},
                f"margin {mm:+g} mm",
            )
        if key == "keep_largest":
            connectivity = int(self.connectivity.value)
            return EffectCall(
                key,
                "keep_largest_island",
                (value,),
                {"connectivity": connectivity},
                "keep largest island",
            )
        if key == "remove_small":
            size = float(self.min_size_mm3.value)
            return EffectCall(
                key,
                "remove_small_islands",
                (value,),
                {"min_size_mm3": size, "spacing": spacing},
                f"remove islands under {size:g} mm³",
            )
        if key == "keep_selected":
            return EffectCall(
                key, "keep_selected_island", (value, index), {}, f"keep island at voxel {index}"
            )
        if key == "split":
            return EffectCall(key, "split_islands", (value,), {}, "split islands")
        if key == "smooth":
            method, mm = self.smooth_method.value, float(self.kernel_mm.value)
            return EffectCall(
                key,
                "smooth",
                (value,),
                {"method": method, "kernel_mm": mm, "spacing": spacing},
                f"{method} smoothing {mm:g} mm",
            )
        if key == "smooth_joint":
            mm = float(self.kernel_mm.value)
            return EffectCall(
                key,
                "smooth_joint",
                (),
                {"kernel_mm": mm, "spacing": spacing},
                f"joint smoothing {mm:g} mm",
            )
        if key == "logical":
            operation = self.operation.value
            kwargs = {} if operation in ("invert", "clear") else {"other": int(self.other.value)}
            return EffectCall(key, "logical_operation", (value, operation), kwargs, operation)
        if key == "hollow":
            mm = float(self.thickness_mm.value)
            return EffectCall(
                key,
                "hollow",
                (value,),
                {"thickness_mm": mm, "spacing": spacing, "shell": self.shell.value},
                f"hollow {mm:g} mm ({self.shell.value})",
            )
        if key == "fill_holes":
            return EffectCall(key, "fill_segment_holes", (value,), {}, "fill holes")
        axis = int(self.axis.value)
        return EffectCall(
            key,
            "fill_between_slices",
            (),
            {"axis": axis, "values": (value,)},
            f"fill between slices (axis {axis})",
        )


class EditableArea(Section):
    """Where an effect may write, as Slicer's "Masking"; starts closed.

    Everywhere, inside or outside a label, empty voxels only, optionally also limited to an
    intensity range of an image on the same grid.
    """

    def __init__(self, image_choices) -> None:
        self.mode = ComboBox(
            label="Editable area",
            choices=_AREA_MODES,
            value="everywhere",
            tooltip="Voxels an effect may change; the rest keep their label",
        )
        self.area_label = SpinBox(
            label="Label", value=1, min=0, max=65535, visible=False, tooltip="Label value k"
        )
        self.use_intensity = CheckBox(
            text="Only where the image's intensity is in range",
            value=False,
            tooltip="Also restrict edits to voxels whose image intensity lies in [min, max]",
        )
        self.image = ComboBox(
            label="Image", choices=image_choices, nullable=True, visible=False, tooltip="Image"
        )
        self.low = FloatSpinBox(
            label="Min", value=0.0, min=-1e9, max=1e9, visible=False, tooltip="Lowest intensity"
        )
        self.high = FloatSpinBox(
            label="Max", value=1000.0, min=-1e9, max=1e9, visible=False, tooltip="Highest"
        )
        super().__init__(
            "Editable area",
            [self.mode, self.area_label, self.use_intensity, self.image, self.low, self.high],
            expanded=False,
        )
        self.mode.changed.connect(self._update)
        self.use_intensity.changed.connect(self._update)

    def _update(self, _=None) -> None:
        self.area_label.visible = self.mode.value in ("inside", "outside")
        for widget in (self.image, self.low, self.high):
            widget.visible = bool(self.use_intensity.value)

    @property
    def restricted(self) -> bool:
        """Whether the area is less than everywhere."""
        return self.mode.value != "everywhere" or bool(self.use_intensity.value)

    def keywords(self) -> dict[str, Any]:
        """Keywords of ``editable_area`` except ``image`` and ``locked``."""
        options: dict[str, Any] = {"mode": self.mode.value}
        if self.mode.value in ("inside", "outside"):
            options["label"] = int(self.area_label.value)
        if self.use_intensity.value:
            options["intensity_range"] = (float(self.low.value), float(self.high.value))
        return options


def iter_effect(call: EffectCall, labels: np.ndarray, *, area: dict | None, locked: tuple):
    """Run ``call`` on ``labels`` in a worker; return ``(new labels, editable area or None)``.

    ``area`` holds ``editable_area``'s keywords (with ``image``), None for everywhere.
    """
    from ..core.segments import effects
    from ..core.segments.editable import editable_area

    yield Progress(0, 2, "editable area")
    editable = None
    if area is not None:
        editable = editable_area(labels, **area, locked=locked)
    yield Progress(1, 2, call.description)
    function = getattr(effects, call.function)
    new = function(labels, *call.args, **call.kwargs, editable=editable, locked=locked)
    return np.asarray(new), editable
