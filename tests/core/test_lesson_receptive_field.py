"""The receptive-field lesson: with the same weights, only the dilated network learns the ring task."""

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_segtools.core.lessons.receptive_field import (  # noqa: E402
    lesion_accuracy,
    receptive_field_lesson,
)
from napari_segtools.core.lessons.ring_task import ring_images  # noqa: E402
from napari_segtools.core.unet.receptive_field import probe_receptive_field  # noqa: E402


@pytest.fixture(scope="module")
def lesson():
    # 6 epochs (the default is 10): enough for the dilated network, ~3 s on one thread
    return receptive_field_lesson(epochs=6, seed=0)


def test_plain_network_stays_at_chance_and_dilated_learns_the_ring(lesson):
    plain, dilated = lesson.results
    assert (plain.network, dilated.network) == ("plain", "dilated")
    assert plain.parameters == dilated.parameters == 1257  # 80 + 584 + 584 + 9
    assert plain.field.voxels == (7, 7) and dilated.field.voxels == (15, 15)
    assert lesson.test.malignant.mean() == 0.5  # balanced: chance is 0.5
    assert plain.accuracy <= 0.65
    assert dilated.accuracy >= 0.95


def test_plain_network_cannot_tell_benign_from_malignant(lesson):
    labels = lesson.test.lesion_labels()
    plain, dilated = (r.probabilities for r in lesson.results)
    # the plain network gives benign and malignant lesions the same probability; the dilated
    # one separates them
    assert abs(plain[labels == 1].mean() - plain[labels == 2].mean()) < 0.05
    assert dilated[labels == 1].mean() > 0.9 > 0.1 > dilated[labels == 2].mean()
    # so the plain network marks nearly every lesion pixel, the dilated one the malignant only
    found = {r.network: r.segmentation for r in lesson.results}
    assert found["plain"][labels > 0].mean() > 0.95
    assert (
        found["dilated"][labels == 1].mean() > 0.95 > 0.01 > found["dilated"][labels == 2].mean()
    )
    assert np.count_nonzero(found["dilated"][labels == 0]) < 0.01 * np.count_nonzero(labels == 1)


def test_accuracy_is_the_fraction_of_lesions_called_right(lesson):
    test, dilated = lesson.test, lesson.results[1]
    for result in lesson.results:
        calls = [
            result.probabilities[i, y - 1 : y + 2, x - 1 : x + 2].mean() >= 0.5
            for i, (y, x) in enumerate(test.centres)
        ]
        assert result.accuracy == np.mean(np.array(calls) == test.malignant)
    # flipping the class of four lesions costs exactly four calls
    flipped = type(test)(test.images, test.targets, test.malignant.copy(), test.centres)
    flipped.malignant[:4] ^= True
    assert lesion_accuracy(dilated.probabilities, flipped) == dilated.accuracy - 4 / 200


def test_analytic_fields_match_the_gradient_probe(lesson):
    for result in lesson.results:
        assert probe_receptive_field(result.model, spatial_dims=2, size_voxels=24) == (
            result.field.voxels
        )


def test_table_lists_field_parameters_and_accuracy(lesson):
    lines = lesson.table().splitlines()
    assert lines[0].split() == ["network", "field", "(pixels)", "parameters", "accuracy"]
    plain, dilated = lesson.results
    assert lines[1].split() == ["plain", "7", "x", "7", "1257", f"{plain.accuracy:.3f}"]
    assert lines[2].split() == ["dilated", "15", "x", "15", "1257", f"{dilated.accuracy:.3f}"]
    assert lesson.to_rows()[1] == {
        "network": "dilated",
        "field_voxels": 15,
        "parameters": 1257,
        "accuracy": dilated.accuracy,
    }


def test_the_ring_lies_outside_the_plain_field_and_inside_the_dilated_one():
    data = ring_images(40, seed=3)
    labels = data.lesion_labels()
    assert data.malignant.sum() == 20
    np.testing.assert_array_equal(data.targets, labels == 1)
    assert labels.reshape(40, -1).astype(bool).sum(axis=1).tolist() == [9] * 40
    ring = (data.images > 0.5) & (labels == 0)
    for i, (y, x) in enumerate(data.centres):
        rows, cols = np.nonzero(ring[i])
        if not data.malignant[i]:
            assert rows.size == 0
            continue
        reach = np.maximum(abs(rows - y), abs(cols - x))  # along an axis, from the centre
        # a lesion pixel is at most 1 from the centre: the plain field (3 more) ends at 4,
        # the dilated one (7 more) reaches every ring pixel from the nearest lesion pixel
        assert reach.min() == 5 and reach.max() == 7
        distance = np.hypot(rows - y, cols - x)  # from the centre: 1.5 + 5 to 2.5 + 5
        assert distance.min() >= 6.5 and distance.max() < 7.5


def test_same_seed_same_lesson_and_another_seed_other_images():
    first = receptive_field_lesson(train_images=16, test_images=4, epochs=1, seed=5)
    again = receptive_field_lesson(train_images=16, test_images=4, epochs=1, seed=5)
    for a, b in zip(first.results, again.results, strict=True):
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
    other = ring_images(4, seed=6)
    assert not np.array_equal(other.images, ring_images(4, seed=5).images)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "`epochs` must be >= 1"),
        ({"test_images": 1}, ValueError, "`test_images` must be >= 2"),
        ({"seed": -1}, ValueError, "`seed` must be >= 0"),
        ({"train_images": "many"}, TypeError, "`train_images` must be an integer"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        receptive_field_lesson(**kwargs)


def test_ring_images_refuses_an_image_too_small_for_the_ring():
    with pytest.raises(ValueError, match="`size_voxels` must be >= 15"):
        ring_images(2, size_voxels=14)
    with pytest.raises(ValueError, match="`n_images` must be >= 1"):
        ring_images(0)
