"""The "Lessons" sample opens the shipped default run of both lessons: fast, without PyTorch."""

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

from napari_segtools import _sample_lessons
from napari_segtools.core.lessons.ring_task import ring_images, split_seeds

NAMES = [
    "ring task test images",
    "ring task truth",
    "plain network (field 7 px): malignant",
    "dilated network (field 15 px): malignant",
    "trained with BCE: malignant (test Dice 0.00)",
    "trained with weighted BCE: malignant (test Dice 0.98)",
    "trained with Dice loss: malignant (test Dice 1.00)",
]


@pytest.fixture(scope="module")
def stored():
    return _sample_lessons.read_lessons_sample()


def test_sample_loads_the_file_without_torch_or_training():
    code = (
        "import sys, json, time\n"
        "from napari_segtools._sample_lessons import lessons\n"
        "start = time.perf_counter()\n"
        "layers = lessons()\n"
        "seconds = time.perf_counter() - start\n"
        "print(json.dumps({'seconds': seconds, 'torch': 'torch' in sys.modules,\n"
        "    'layers': [[k['name'], kind, list(d.shape), str(d.dtype), k.get('visible', True)]\n"
        "               for d, k, kind in layers]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8"
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["torch"] is False
    assert result["seconds"] < 1.0  # ~15 ms; training took 7 s
    # 24 test images as 4 rows of 6 tiles of 32 px, 1 px apart; of the results only the
    # dilated network's calls show (the others one click away)
    shape = [4 * 33 - 1, 6 * 33 - 1]
    assert result["layers"] == [
        [NAMES[0], "image", shape, "float32", True],
        [NAMES[1], "labels", shape, "uint8", True],
        *([name, "labels", shape, "uint8", name == NAMES[3]] for name in NAMES[2:]),
    ]


def test_shipped_file_is_the_default_run_of_both_lessons(stored):
    from napari_segtools.core.lessons.class_imbalance import class_imbalance_lesson
    from napari_segtools.core.lessons.receptive_field import receptive_field_lesson

    for lesson in (receptive_field_lesson, class_imbalance_lesson):
        defaults = {k: p.default for k, p in inspect.signature(lesson).parameters.items()}
        assert {key: int(stored[key]) for key in defaults} == defaults
    # the test images the lessons score, regenerated from the stored seed (numpy only)
    test = ring_images(int(stored["test_images"]), seed=split_seeds(int(stored["seed"]))[1])
    np.testing.assert_array_equal(stored["images"], test.images[:24].astype(np.float16))
    np.testing.assert_array_equal(stored["truth"], test.lesion_labels()[:24])
    # the figures the README and the notes give
    assert stored["networks"].tolist() == ["plain", "dilated"]
    assert stored["field_voxels"].tolist() == [7, 15]
    assert stored["parameters"].tolist() == [1257, 1257]
    assert stored["accuracy"].tolist() == [0.5, 1.0]
    assert stored["loss_runs"].tolist() == ["BCE", "weighted BCE", "Dice loss"]
    assert stored["losses"].shape == stored["dice"].shape == (3, 10)
    assert float(stored["positive_fraction"]) == 128 * 9 / (256 * 32 * 32)
    bce_loss, bce_dice = stored["losses"][0, -1], stored["dice"][:, -1]
    assert round(float(bce_loss), 2) == 0.03 and bce_dice[0] == 0.0 and min(bce_dice[1:]) > 0.95


def test_stored_calls_tell_the_lessons_story(stored):
    truth = stored["truth"]
    plain, dilated = stored["network_calls"]
    bce, weighted, dice_loss = stored["loss_calls"]
    assert plain[truth > 0].all()  # every lesion, benign or malignant
    np.testing.assert_array_equal(dilated, truth == 1)  # exactly the malignant ones
    assert not bce.any()  # BCE calls nothing: Dice 0
    for calls in (weighted, dice_loss):
        assert calls[truth == 1].mean() > 0.95 and not calls[truth == 2].any()


def test_inner_edge_is_the_scipy_erosion_edge():
    from scipy import ndimage as ndi

    masks = np.random.default_rng(0).random((3, 9, 11)) > 0.3
    masks[0] = True  # a full image: its edge is its border
    expected = masks & ~ndi.binary_erosion(masks, structure=np.ones((1, 3, 3), bool))
    np.testing.assert_array_equal(_sample_lessons._inner_edge(masks), expected)
    assert _sample_lessons._inner_edge(masks)[0].sum() == 2 * 9 + 2 * 11 - 4
