"""npe2 sample data "Lessons": the ring task's test images and what each trained network found.

The sample opens a shipped file, ``sample_images/lessons/lessons.npz``: what the receptive-field
and class-imbalance lessons (:mod:`.core.lessons`) give with their default settings, so it opens
at once and without PyTorch. Both lessons score the same test images; the first 24 show here as
one 4 x 6 mosaic, in pixels (no mm): the truth (malignant and benign lesions) and one Labels layer
per network or loss, "malignant" where it calls a pixel a malignant lesion.
``napari-segtools lesson ... --open`` trains live and shows the same layers, built from the same
arrays (:func:`input_arrays`, :func:`receptive_field_arrays`, :func:`class_imbalance_arrays`).
``docs/make_lesson_figures.py`` trains both lessons and writes the file again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from ._layer_style import PALETTE, labels_style
from .core.samples import sample_path

if TYPE_CHECKING:
    from .core.lessons.class_imbalance import ClassImbalanceLesson
    from .core.lessons.receptive_field import ReceptiveFieldLesson
    from .core.lessons.ring_task import RingImages

#: the shipped file, in ``sample_images/``
SAMPLE_FILE = ("lessons", "lessons.npz")
#: test images shown, and the mosaic's columns
SHOWN, COLUMNS = 24, 6
TRUTH = {1: "malignant lesion", 2: "benign lesion"}
#: the gap between tiles: darker than the background, so each image stands apart
_GAP = -0.5


def input_arrays(test: RingImages) -> dict[str, np.ndarray]:
    """Return the first :data:`SHOWN` test images (float16: a small file) and their truth."""
    return {
        "images": test.images[:SHOWN].astype(np.float16),
        "truth": test.lesion_labels()[:SHOWN],
    }


def receptive_field_arrays(lesson: ReceptiveFieldLesson) -> dict[str, np.ndarray]:
    """Return per network: name, field side (pixels), parameters, accuracy, calls shown."""
    results = lesson.results
    return {
        "networks": np.array([r.network for r in results]),
        "field_voxels": np.array([r.field.voxels[0] for r in results]),
        "parameters": np.array([r.parameters for r in results]),
        "accuracy": np.array([r.accuracy for r in results]),
        "network_calls": np.stack([r.segmentation[:SHOWN] for r in results]),
    }


def class_imbalance_arrays(lesson: ClassImbalanceLesson) -> dict[str, np.ndarray]:
    """Return per loss: name, loss and test Dice per epoch, calls shown; the positive fraction."""
    results = lesson.results
    return {
        "loss_runs": np.array([r.name for r in results]),
        "losses": np.array([r.losses for r in results]),
        "dice": np.array([r.dice for r in results]),
        "loss_calls": np.stack([r.segmentation[:SHOWN] for r in results]),
        "positive_fraction": np.array(lesson.positive_fraction),
    }


def _tiles(stack: np.ndarray, gap: float = 0) -> np.ndarray:
    """Tile a (N, Y, X) stack, :data:`COLUMNS` per row, 1 pixel of ``gap`` apart."""
    n, height, width = stack.shape
    rows = -(-n // COLUMNS)
    out = np.full((rows * (height + 1) - 1, COLUMNS * (width + 1) - 1), gap, stack.dtype)
    for i, image in enumerate(stack):
        row, column = divmod(i, COLUMNS)
        top, left = row * (height + 1), column * (width + 1)
        out[top : top + height, left : left + width] = image
    return out


def input_layers(arrays: Mapping[str, np.ndarray]) -> list[tuple]:
    """Return the test images and their truth (1 malignant, 2 benign) as layer data tuples."""
    return [
        (
            _tiles(arrays["images"].astype(np.float32), _GAP),
            {"name": "ring task test images", "colormap": "gray", "contrast_limits": (_GAP, 1.2)},
            "image",
        ),
        (
            _tiles(arrays["truth"]),
            {"name": "ring task truth", "opacity": 0.5, **labels_style(TRUTH)},
            "labels",
        ),
    ]


def _inner_edge(mask: np.ndarray) -> np.ndarray:
    """Return the pixels of a (N, Y, X) mask with a 3x3 neighbour outside it or off the image.

    The same as ``mask & ~scipy.ndimage.binary_erosion(mask, np.ones((1, 3, 3)))``, in numpy:
    importing scipy.ndimage costs 150-200 ms, which the sample would spend on napari's GUI
    thread (measured; napari does not import it at start-up).
    """
    height, width = mask.shape[1:]
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    inside = mask.copy()
    for dy in range(3):
        for dx in range(3):
            inside &= padded[:, dy : dy + height, dx : dx + width]
    return mask & ~inside


def _found(mask: np.ndarray, name: str, colour: int, *, visible: bool) -> tuple:
    """Draw a network's malignant calls as outlines (their inner edge) in one colour."""
    edge = _inner_edge(mask)
    style = labels_style({1: "called malignant"}, colors=(PALETTE[colour],))
    kwargs = {"name": name, "visible": visible, "opacity": 1.0, **style}
    return _tiles(edge.astype(np.uint8)), kwargs, "labels"


def receptive_field_layers(arrays: Mapping[str, np.ndarray]) -> list[tuple]:
    """One Labels layer per network: its malignant calls (outlines), the last (dilated) shown."""
    networks = arrays["networks"]
    return [
        _found(
            calls,
            f"{network} network (field {field} px): malignant",
            2 + i,
            visible=i == len(networks) - 1,
        )
        for i, (network, field, calls) in enumerate(
            zip(networks, arrays["field_voxels"], arrays["network_calls"], strict=True)
        )
    ]


def class_imbalance_layers(
    arrays: Mapping[str, np.ndarray], *, show_last: bool = True
) -> list[tuple]:
    """One Labels layer per loss: its malignant calls and final test Dice; the last shown."""
    runs = arrays["loss_runs"]
    return [
        _found(
            calls,
            f"trained with {run}: malignant (test Dice {dice[-1]:.2f})",
            4 + i,
            visible=show_last and i == len(runs) - 1,
        )
        for i, (run, dice, calls) in enumerate(
            zip(runs, arrays["dice"], arrays["loss_calls"], strict=True)
        )
    ]


def read_lessons_sample() -> dict[str, np.ndarray]:
    """Return the arrays of the shipped file (see ``sample_images/lessons/README.md``)."""
    with sample_path(*SAMPLE_FILE).open("rb") as file, np.load(file) as stored:
        return {key: stored[key] for key in stored.files}


def lessons() -> list[tuple]:
    """Ring task test images, truth, and each lesson network's malignant calls (shipped file)."""
    arrays = read_lessons_sample()
    return [
        *input_layers(arrays),
        *receptive_field_layers(arrays),
        *class_imbalance_layers(arrays, show_last=False),
    ]
