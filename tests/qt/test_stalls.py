"""No widget action on the shipped samples freezes the GUI thread for longer than 150 ms.

Each scenario opens a sample, then performs a dock's actions one by one as a user would, each
inside a :class:`~stall.StallMeter` that also waits for the work the action started (workers,
debounced previews). ``benchmarks/bench_gui_stalls.py`` prints the same figures as a table.

The limit is the issue's 150 ms; the machine's own noise (a shared CI box) is a few tens of ms.
A stall known to come from a dock still being reworked is listed in :data:`KNOWN_STALLS` and
turns the scenario into an expected failure (non-strict) with the measured figure.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from napari.layers import Image, Labels
from tests.qt.stall import StallMeter

LIMIT_MS = 150.0
#: actions that measure napari alone (switching to 3-D, one redraw): figures, not asserted
NAPARI = "napari: "
#: actions in the 3-D view: allowed the limit plus napari's own redraw time measured just before
#: (software OpenGL under Xvfb takes seconds to draw a CT volume; a GPU takes milliseconds)
IN_3D = "3-D: "
#: a 3-D and a 2-D sample; the head CT (a 3-D volume of the MNI152's size) adds a minute to the
#: suite and no new kind of stall, so only benchmarks/bench_gui_stalls.py measures it
SAMPLES = ("mni152", "brain_slice")

#: (dock, action) -> worst stall measured on a loaded 2-core machine (any of the three shipped
#: samples) while the dock's owner reworks it; the scenario is then an expected failure
KNOWN_STALLS: dict[tuple[str, str], str] = {
    ("Threshold", "open dock"): "worst 918 ms with the first import, 200-710 ms after",
    ("Threshold", "choose image"): "worst 469 ms",
    ("Threshold", "live preview on"): "worst 282 ms",
    ("Threshold", "method otsu"): "worst 369 ms",
    ("Threshold", "method li"): "worst 192 ms",
    ("Threshold", "method triangle"): "worst 160 ms",
    ("Threshold", "method multi-otsu"): "worst 426 ms",
    ("Threshold", "method local"): "worst 156 ms",
    ("Threshold", "block size"): "worst 188 ms",
    ("Threshold", "next slice"): "worst 203 ms",
    ("Threshold", "apply"): "worst 195 ms in 2-D",
    ("Region growing", "open dock"): "worst 177 ms",
    ("Region growing", "seed mode"): "worst 190 ms: napari adds the seeds Points layer",
    ("Region growing", "run again"): "worst 217 ms",
    ("Atlas", "open dock"): "worst 190 ms",
    ("U-Net", "open dock"): "worst 407 ms",
    ("U-Net", "run"): "worst 274 ms (MNI152): torch import holds the GIL, napari adds layers",
    ("Evaluation", "open dock"): "worst 442 ms",
    ("Evaluation", "evaluate"): "worst 180 ms (was 500) since each layer is drawn in a turn",
    ("Evaluation", "overlay label"): "worst 930 ms",
    ("Evaluation", "jump to Hausdorff"): "worst 130-400 ms (was 774): napari's first draw "
    "of the new markers (Points shaders, ~100 ms on software OpenGL)",
    ("Evaluation", "plot kind"): "worst 923 ms",
    ("Evaluation", "evaluate lesions"): "worst 252 ms on a loaded machine (157 ms quiet): "
    "napari's first draw of the new lesions Labels layer",
    ("Evaluation", "jump to a lesion"): "worst 226 ms on a loaded machine (105 ms quiet): napari "
    "redraws every layer at the lesion's slice",
    ("Segments", "open dock"): "worst 260 ms: ~120 magicgui widgets built (~150 ms) and "
    "napari's addDockWidget (~110 ms)",
    # Voxel classifier: figures of a 2-core machine shared with other test runs (the quiet
    # figure in brackets); every computation runs in a worker, napari's layer updates are split
    # over turns 30 ms apart, so what is left is one napari layer update per turn
    ("Voxel classifier", "open dock"): "worst 320 ms with the first import (95-140 ms after)",
    ("Voxel classifier", "new scribbles"): "worst 710 ms (90 ms): napari adds two Labels "
    "layers, the scribbles and (a turn later) the empty preview, 100-300 ms each on software "
    "OpenGL; first draw and labels controls follow in turns of their own",
    ("Voxel classifier", "train"): "worst 650 ms (70 ms): napari's first draw of the preview",
    ("Voxel classifier", "apply"): "worst 1.6 s (440 ms) on MNI152/CT head: "
    "_history.write_labels diffs and writes the whole-volume result (8.7 M voxels changed) on "
    "the GUI thread; needs write_labels to accept changes computed in the worker",
    ("Voxel classifier", "undo"): "worst 166 ms: napari undoes a whole-volume write",
}


# ----------------------------------------------------------------------------- helpers
def _image(viewer) -> Image:
    return next(layer for layer in viewer.layers if isinstance(layer, Image))


def _reference(viewer) -> Labels:
    return next(layer for layer in viewer.layers if isinstance(layer, Labels))


def _choice(combo, wanted):
    """``wanted`` if the combo box offers it, else ``None``."""
    values = list(getattr(combo, "choices", ()))
    return wanted if wanted in values else None


def _click(button) -> None:
    button.native.click()


def _middle_step(viewer) -> None:
    if viewer.dims.ndim > 2:
        viewer.dims.set_current_step(0, viewer.dims.nsteps[0] // 2)


def _seed_index(reference: Labels, value: int) -> tuple[int, ...]:
    """A voxel of ``value`` near the centre of the reference, on the slice shown."""
    found = np.argwhere(np.asarray(reference.data) == value)
    centre = np.asarray(reference.data.shape) / 2
    return tuple(int(v) for v in found[np.argmin(((found - centre) ** 2).sum(axis=1))])


# --------------------------------------------------------------------------- scenarios
Action = tuple[str, Callable]


def threshold_actions(viewer) -> list[Action]:
    state: dict = {}

    def open_dock():
        state["w"] = viewer.window.add_plugin_dock_widget("napari-segtools", "Threshold")[1]

    def choose_image():
        w = state["w"]
        w.image.value = viewer.layers["copy"]
        w.image.value = _image(viewer)

    def method(name):
        def act():
            w = state["w"]
            if _choice(w.method, name):
                w.method.value = name

        return act

    def preview_on():
        w = state["w"]
        w.preview.value = False
        w.preview.value = True

    def view_3d():
        if viewer.dims.ndim > 2:
            viewer.dims.ndisplay = 3

    def redraw():
        _image(viewer).refresh()

    def local_3d():
        w = state["w"]
        if viewer.dims.ndisplay == 3:
            w.method.value = "otsu"
            w.method.value = "local"

    def offset_3d():
        w = state["w"]
        if viewer.dims.ndisplay == 3:
            w.offset.value = w.offset.value + 5.0

    def block_size():
        w = state["w"]
        w.block_mm.value = w.block_mm.value + 2.0

    def next_slice():
        if viewer.dims.ndim > 2:
            viewer.dims.set_current_step(0, viewer.dims.current_step[0] + 3)

    def apply():
        w = state["w"]
        w.method.value = "otsu"
        _click(w.controls.run_button)

    in_3d = [
        (f"{NAPARI}3-D view", view_3d),
        (f"{NAPARI}redraw", redraw),
        (f"{IN_3D}otsu then local", local_3d),
        (f"{IN_3D}offset", offset_3d),
        (f"{NAPARI}2-D view", lambda: setattr(viewer.dims, "ndisplay", 2)),
    ]
    return [
        ("open dock", open_dock),
        ("choose image", choose_image),
        ("live preview on", preview_on),
        ("method otsu", method("otsu")),
        ("method li", method("li")),
        ("method triangle", method("triangle")),
        ("method multi-otsu", method("multiotsu")),
        ("method local", method("local")),
        ("block size", block_size),
        ("next slice", next_slice),
        *(in_3d if viewer.dims.ndim > 2 else []),
        ("apply", apply),
    ]


def region_growing_actions(viewer) -> list[Action]:
    state: dict = {}
    reference = _reference(viewer)
    # where the user clicks is known before the click: the search is not the dock's work
    seeds = {value: _seed_index(reference, value) for value in (0, 1)}

    def open_dock():
        state["w"] = viewer.window.add_plugin_dock_widget("napari-segtools", "Region growing")[1]

    def seed_mode():
        w = state["w"]
        if not w.add_seeds.value:
            _click(w.add_seeds)

    def add_seed(value):
        def act():
            index = seeds[value]
            if viewer.dims.ndim > 2:
                viewer.dims.set_current_step(0, index[0])
            state["w"].seeds_layer.add([index])

        return act

    def run():
        _click(state["w"].controls.run_button)

    def method():
        w = state["w"]
        for choice in w.method.choices:
            if choice != w.method.value:
                w.method.value = choice
                break

    return [
        ("open dock", open_dock),
        ("seed mode", seed_mode),  # the button, then a click on the canvas: two actions
        ("add seed", add_seed(1)),
        ("run", run),
        ("change method", method),
        ("add second seed", add_seed(0)),  # background: competing labels
        ("run again", run),
    ]


def atlas_actions(viewer) -> list[Action]:
    state: dict = {}

    def open_dock():
        state["w"] = viewer.window.add_plugin_dock_widget("napari-segtools", "Atlas propagation")[
            1
        ]

    def choose_pair():
        w = state["w"]
        w.reset_choices()
        w.atlas_image.value = viewer.layers["copy"]
        w.atlas_labels.value = _reference(viewer)
        _click(w.add_pair)

    def preset():
        w = state["w"]
        for choice in w.preset.choices:
            if choice != w.preset.value:
                w.preset.value = choice
                break

    if viewer.dims.ndim == 2:  # atlases are 3-D only
        return [("open dock", open_dock)]
    # propagation (registration of a 3-D sample) takes minutes here: not measured
    return [("open dock", open_dock), ("add atlas pair", choose_pair), ("preset", preset)]


def unet_actions(viewer) -> list[Action]:
    state: dict = {}

    def open_dock():
        state["w"] = viewer.window.add_plugin_dock_widget("napari-segtools", "U-Net inference")[1]

    def choose_image():
        w = state["w"]
        w.image.value = viewer.layers["copy"]
        w.image.value = _image(viewer)

    def advanced():
        w = state["w"]
        if getattr(w, "show_advanced", None) is not None:
            w.show_advanced.value = not w.show_advanced.value

    def run():
        w = state["w"]
        w.device.value = "cpu"
        _click(w.controls.run_button)

    actions = [("open dock", open_dock), ("choose image", choose_image), ("advanced", advanced)]
    if "MNI152 T1" in viewer.layers:
        actions.append(("run", run))
    return actions


def evaluation_actions(viewer) -> list[Action]:
    state: dict = {}
    reference = _reference(viewer)

    def open_dock():
        state["w"] = viewer.window.add_plugin_dock_widget("napari-segtools", "Evaluation")[1]

    def choose_pair():
        w = state["w"]
        w.reference.value = reference
        w.prediction.value = viewer.layers["prediction"]

    def evaluate():
        _click(state["w"].controls.run_button)

    def overlay_label():
        w = state["w"]
        labels = [c for c in w.overlay_label.choices if c is not None]
        if labels:
            w.overlay_label.value = labels[-1]

    def jump():
        w = state["w"]
        if w.jump_button.enabled:
            _click(w.jump_button)

    def plot_kind():
        w = state["w"]
        w.plot_kind.value = "CDF" if w.plot_kind.value != "CDF" else "histogram"

    def evaluate_lesions():
        _click(state["w"].lesions.controls.run_button)

    def jump_to_lesion():
        lesions = state["w"].lesions
        if lesions.table.rowCount():
            lesions.jump_to(lesions.table.rowCount() - 1)

    return [
        ("open dock", open_dock),
        ("choose pair", choose_pair),
        ("evaluate", evaluate),
        ("overlay label", overlay_label),
        ("jump to Hausdorff", jump),
        ("plot kind", plot_kind),
        ("evaluate lesions", evaluate_lesions),
        ("jump to a lesion", jump_to_lesion),
    ]


def segments_actions(viewer) -> list[Action]:
    state: dict = {}
    reference = _reference(viewer)
    value = int(np.max(reference.data))  # a segment every sample has

    def open_dock():
        viewer.layers.selection.active = reference
        state["w"] = viewer.window.add_plugin_dock_widget("napari-segtools", "Segments")[1]

    def rename():
        w = state["w"]
        w.table.item(w.table.row_of(value), 1).setText("renamed")

    def recolour():
        state["w"].set_color(value, (0.2, 0.4, 0.6))

    def hide_and_show():
        w = state["w"]
        w.set_visible(value, False)
        w.set_visible(value, True)

    def statistics():
        _click(state["w"].stats_controls.run_button)

    def margin():
        w = state["w"]
        w.select(value)
        w.effects.effect.value = "margin"
        w.effects.margin_mm.value = 1.0
        _click(w.controls.run_button)

    def undo():
        reference.undo()

    def choose_other_layer():
        viewer.layers.selection.active = viewer.layers["prediction"]

    return [
        ("open dock", open_dock),
        ("rename", rename),
        ("recolour", recolour),
        ("hide and show", hide_and_show),
        ("statistics", statistics),
        ("margin", margin),
        ("undo", undo),
        ("choose other layer", choose_other_layer),
    ]


def classifier_actions(viewer) -> list[Action]:
    state: dict = {}
    reference = _reference(viewer)
    image = _image(viewer)
    lead = tuple(viewer.dims.current_step[: image.ndim - 2])
    truth = np.asarray(reference.data[lead])  # the shown slice, where the user scribbles
    strokes = {}
    for value, cls in ((0, 1), (int(np.max(truth)), 2)):
        where = np.nonzero(truth == value)
        strokes[cls] = (
            *(np.full(where[0][::97].size, i) for i in lead),
            *(w[::97] for w in where),
        )

    def open_dock():
        viewer.layers.selection.active = image
        state["w"] = viewer.window.add_plugin_dock_widget("napari-segtools", "Voxel classifier")[1]

    def new_scribbles():
        state["layer"] = state["w"].new_scribbles()

    def stroke(cls):
        def act():
            index = strokes[cls]
            state["layer"].data_setitem(index, np.full(index[0].size, cls, np.uint8))

        return act

    def train():
        _click(state["w"].train_controls.run_button)

    def live_on():
        state["w"].live.value = True

    def next_slice():
        if viewer.dims.ndim > 2:
            viewer.dims.set_current_step(0, viewer.dims.current_step[0] + 2)

    def preset():
        state["w"].preset.value = "edges"

    def apply():
        w = state["w"]
        w.live.value = False
        w.uncertainty.value = True
        _click(w.controls.run_button)

    def undo():
        viewer.layers[f"{image.name} classifier"].undo()

    return [
        ("open dock", open_dock),
        ("new scribbles", new_scribbles),
        ("stroke class 1", stroke(1)),
        ("stroke class 2", stroke(2)),
        ("train", train),
        ("live update on", live_on),
        ("live stroke", stroke(2)),
        ("next slice", next_slice),
        ("preset", preset),
        ("apply", apply),
        ("undo", undo),
    ]


DOCKS: dict[str, Callable] = {
    "Threshold": threshold_actions,
    "Region growing": region_growing_actions,
    "Atlas": atlas_actions,
    "U-Net": unet_actions,
    "Evaluation": evaluation_actions,
    "Segments": segments_actions,
    "Voxel classifier": classifier_actions,
}


def prepare(viewer, sample: str) -> None:
    """Open ``sample`` plus what the actions pick: a second image and a perturbed reference."""
    viewer.open_sample("napari-segtools", sample)
    image, reference = _image(viewer), _reference(viewer)
    viewer.add_image(image.data, scale=image.scale, translate=image.translate, name="copy")
    shifted = np.roll(np.asarray(reference.data), 2, axis=-1)
    viewer.add_labels(
        shifted, scale=reference.scale, translate=reference.translate, name="prediction"
    )
    image.visible = True
    viewer.layers["copy"].visible = viewer.layers["prediction"].visible = False
    viewer.layers.selection.active = image
    _middle_step(viewer)


def measure(viewer, actions: list[Action], qtbot=None) -> list[tuple[str, float, float]]:
    """Run each action inside a StallMeter; return ``(action, worst_ms, elapsed_ms)``."""
    rows = []
    for name, act in actions:
        with StallMeter(qtbot) as meter:
            act()
        rows.append((name, meter.worst_ms, meter.elapsed_ms))
    return rows


def table(rows, title: str = "") -> str:
    """Format measured rows as a text table."""
    lines = [title] if title else []
    lines += [
        f"  {name:<22} worst {worst:7.0f} ms   total {total:8.0f} ms"
        for name, worst, total in rows
    ]
    return "\n".join(lines)


# -------------------------------------------------------------------------------- test
@pytest.mark.parametrize("dock", DOCKS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_no_action_stalls_the_gui(make_napari_viewer, qtbot, sample, dock):
    # an unknown stall is measured again once in a fresh viewer: another process on one of the
    # two cores shows as one slow run, a stall of the dock's own as two
    for attempt in (1, 2):
        viewer = make_napari_viewer(show=True)
        viewer.window.resize(1600, 1000)
        prepare(viewer, sample)
        qtbot.wait(50)
        rows = measure(viewer, DOCKS[dock](viewer), qtbot)
        report = table(rows, f"{dock} on {sample} (run {attempt})")
        print(report)
        slow = _over_the_limit(rows)
        if all((dock, name) in KNOWN_STALLS for name, _ in slow):
            break
        viewer.close()
    known = [KNOWN_STALLS.get((dock, name)) for name, _ in slow]
    if slow and all(known):
        pytest.xfail(
            "; ".join(f"{n}: {w:.0f} ms ({k})" for (n, w), k in zip(slow, known, strict=True))
        )
    assert not slow, f"GUI stalls over {LIMIT_MS:.0f} ms:\n{report}"


def _over_the_limit(rows) -> list[tuple[str, float]]:
    """The measured actions over the limit (3-D ones: over the limit plus napari's redraw)."""
    redraw = max([w for n, w, _ in rows if n == f"{NAPARI}redraw"], default=0.0)
    return [
        (name, worst)
        for name, worst, _ in rows
        if not name.startswith(NAPARI)
        and worst > LIMIT_MS + (redraw if name.startswith(IN_3D) else 0.0)
    ]
