"""The class-imbalance lesson: BCE's loss nears zero with Dice 0; Dice loss and weights fix it."""

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_segtools.core.lessons.class_imbalance import class_imbalance_lesson  # noqa: E402


@pytest.fixture(scope="module")
def lesson():
    # 7 epochs (the default is 10): every run has reached its verdict, ~5 s on one thread
    return class_imbalance_lesson(epochs=7, seed=0)


def test_bce_loss_near_zero_while_its_segmentation_is_poor(lesson):
    bce, weighted, dice_loss = lesson.results
    assert [r.name for r in lesson.results] == ["BCE", "weighted BCE", "Dice loss"]
    assert 0.003 < lesson.positive_fraction < 0.005  # 0.4 % of the training pixels
    assert bce.losses[-1] < 0.05 and bce.dice[-1] < 0.3
    assert dice_loss.dice[-1] > 0.7
    assert weighted.dice[-1] > 0.7


def test_bce_learnt_only_the_prior(lesson):
    f = lesson.positive_fraction
    assert f == 128 * 9 / (256 * 32 * 32)  # half of 256 images hold one 3x3 malignant lesion
    # the cross-entropy of predicting p = f at every pixel: what BCE settles near
    prior = -(f * math.log(f) + (1 - f) * math.log(1 - f))
    bce = lesson.results[0]
    assert abs(bce.losses[-1] - prior) < 0.005
    assert bce.probabilities.max() < 0.5 and not bce.segmentation.any()


def test_class_weights_are_inverse_class_frequencies(lesson):
    f = lesson.positive_fraction
    assert lesson.class_weights == (1.0, pytest.approx((1 - f) / f))
    assert lesson.class_weights[1] == pytest.approx(2048 / 9 - 1)


def test_dice_per_epoch_is_the_pooled_test_dice(lesson):
    truth = lesson.test.targets
    for result in lesson.results:
        found = result.segmentation
        tp = np.count_nonzero(found & truth)
        expected = 2 * tp / (np.count_nonzero(found) + np.count_nonzero(truth))
        assert result.dice[-1] == pytest.approx(expected)
        assert len(result.losses) == len(result.dice) == 7


def test_table_has_a_row_per_epoch(lesson):
    lines = lesson.table().splitlines()
    assert lines[0].split() == ["BCE", "weighted", "BCE", "Dice", "loss"]
    assert lines[1].split() == ["epoch"] + ["loss", "Dice"] * 3
    assert len(lines) == 2 + 7
    bce, weighted, dice_loss = lesson.results
    last = [float(v) for v in lines[-1].split()]
    assert last[0] == 7
    np.testing.assert_allclose(
        last[1:],
        [bce.losses[-1], bce.dice[-1], weighted.losses[-1], weighted.dice[-1]]
        + [dice_loss.losses[-1], dice_loss.dice[-1]],
        atol=6e-4,
    )
    rows = lesson.to_rows()
    assert len(rows) == 21
    assert rows[6] == {"run": "BCE", "epoch": 7, "loss": bce.losses[-1], "dice": bce.dice[-1]}


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="`train_images` must be >= 2"):
        class_imbalance_lesson(train_images=1)
    with pytest.raises(TypeError, match="`epochs` must be an integer"):
        class_imbalance_lesson(epochs=None)
