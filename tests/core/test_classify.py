"""Voxel classification from scribbles: accuracy on real data, exact chunking, safe files."""

from __future__ import annotations

import functools
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from napari_segtools.core._types import Progress, run_to_completion
from napari_segtools.core.classify.apply import sample_features
from napari_segtools.core.classify.classifier import (
    CLASSIFIERS,
    FILE_FORMAT,
    Prediction,
    load_voxel_classifier,
    train_voxel_classifier,
)
from napari_segtools.core.classify.features import PRESETS, FeatureSet, compute_features
from napari_segtools.core.classify.preview import SlicePreview
from napari_segtools.core.phantoms import phantom

SPACING = (2.5, 0.8, 0.8)


def _dice(a, b):
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _random_scribbles(truth, per_class, rng, where=None, offset=1):
    """Scribble ``per_class`` random voxels of each truth label (label value + ``offset``)."""
    scribbles = np.zeros(truth.shape, np.uint8)
    allowed = np.ones(truth.shape, bool) if where is None else where
    for value in np.unique(truth):
        idx = np.flatnonzero((truth == value) & allowed)
        pick = rng.choice(idx, min(per_class, idx.size), replace=False)
        scribbles.flat[pick] = value + offset
    return scribbles


@pytest.fixture(scope="module")
def small():
    image, truth = phantom((16, 48, 48), SPACING, noise=10.0, seed=3)
    scribbles = _random_scribbles(truth, 40, np.random.default_rng(0))
    return image, truth, scribbles


# ---------------------------------------------------------------- done-when figures
def test_phantom_few_hundred_scribbles_dice():
    image, truth = phantom()  # 40 x 128 x 128 at 2.5 x 0.8 x 0.8 mm, exact ground truth
    scribbles = _random_scribbles(truth, 300, np.random.default_rng(1))
    fs = FeatureSet(("intensity", "gaussian", "gradient", "hessian"), (0.5, 1.0, 2.0))
    clf = train_voxel_classifier(image, scribbles, spacing=SPACING, features=fs)
    labels = clf.predict(image) - 1
    dice = [_dice(labels == v, truth == v) for v in range(4)]
    assert min(dice[:3]) >= 0.99  # background, body, core: 0.999, 0.998, 1.000
    assert dice[3] >= 0.88  # the 595-voxel lesion (half of it scribbled): 0.901
    assert _dice(labels > 0, truth > 0) >= 0.99 and np.mean(dice) >= 0.95  # 0.999, 0.975


def test_mni152_three_slices_grey_white_dice():
    from napari_segtools.core.samples import mni152

    t1, truth, geometry = mni152()
    box = tuple(slice(w.min(), w.max() + 1) for w in np.nonzero(truth))  # the brain box
    t1, truth = t1[box], truth[box]
    plane = np.zeros(truth.shape, bool)
    for axis in range(3):  # one axial, one coronal, one sagittal slice through the centre
        index = [slice(None)] * 3
        index[axis] = truth.shape[axis] // 2
        plane[tuple(index)] = True
    rng = np.random.default_rng(0)
    scribbles = _random_scribbles(truth, 1800, rng, where=plane, offset=0)
    scribbles[(scribbles == 0) & (truth == 0) & plane & (rng.random(truth.shape) < 0.02)] = 3
    counts = np.bincount(scribbles.ravel())[1:]
    assert counts.max() <= 2000 and np.all(np.unique(np.nonzero(scribbles)[0]).size > 1)
    clf = train_voxel_classifier(
        t1,
        scribbles,
        spacing=geometry.spacing,
        class_names={1: "grey matter", 2: "white matter", 3: "other"},
        n_estimators=20,
    )
    labels = clf.predict(t1)
    assert _dice(labels == 1, truth == 1) >= 0.85  # 0.96
    assert _dice(labels == 2, truth == 2) >= 0.85  # 0.96
    assert clf.class_names == ("grey matter", "white matter", "other")


def test_ct_depth_one_tree_is_a_threshold():
    from napari_segtools.core.samples import read_sample

    ct, geometry = read_sample("ct_head_invesalius", "ct_head_0051.nii.gz")
    bone, _ = read_sample("ct_head_invesalius", "ct_head_0051_bone_mask.nii.gz")
    slab = np.zeros(ct.shape, bool)
    slab[54] = True
    rng = np.random.default_rng(0)
    scribbles = np.zeros(ct.shape, np.uint8)
    for value, region in ((1, (bone == 0) & (ct > -100)), (2, bone > 0)):
        scribbles.flat[rng.choice(np.flatnonzero(region & slab), 200, replace=False)] = value
    clf = train_voxel_classifier(
        ct,
        scribbles,
        spacing=geometry.spacing,
        features=FeatureSet(("intensity",), ()),
        classifier="decision_tree",
        max_depth=1,
        class_names=("soft tissue", "bone"),
    )
    tree = clf.model.tree_
    assert tree.node_count == 3 and clf.feature_names[tree.feature[0]] == "ch0 intensity"
    assert 150 <= tree.threshold[0] <= 350  # 227 HU; the manual bone threshold is 226 HU
    labels = clf.predict(ct)
    assert np.array_equal(labels == 2, ct > tree.threshold[0])
    assert _dice(labels == 2, bone > 0) > 0.95


# ---------------------------------------------------------------- chunked = whole
def test_chunked_equals_whole_volume(small):
    image, _, scribbles = small
    clf = train_voxel_classifier(
        image, scribbles, spacing=SPACING, features="all", n_estimators=10
    )
    events, result = [], None
    gen = clf.iter_predict(image, probabilities=True, uncertainty=True, chunk_mm=9.0)
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    reference = run_to_completion(
        clf.iter_predict(image, probabilities=True, uncertainty=True, chunk_mm=np.inf)
    )
    assert isinstance(result, Prediction)
    assert all(isinstance(e, Progress) for e in events) and events[-1].step == events[-1].total
    # 9 mm blocks: 4 slices (2.5 mm) x 12 x 12 voxels (0.8 mm) -> 4 x 4 x 4 blocks
    assert events[-1].total == 64 and events[-1].message == "block 64 of 64"
    np.testing.assert_array_equal(result.labels, reference.labels)
    np.testing.assert_array_equal(result.probabilities, reference.probabilities)
    np.testing.assert_array_equal(result.uncertainty, reference.uncertainty)
    # ... and both equal plain scikit-learn on the whole-volume features
    feats = compute_features(image, spacing=SPACING, feature_set=clf.feature_set)
    direct = clf.model.predict(feats.reshape(-1, feats.shape[-1])).reshape(image.shape)
    np.testing.assert_array_equal(result.labels, direct)
    assert result.probabilities.shape == (4, *image.shape)
    assert result.uncertainty.min() >= 0 and result.uncertainty.max() <= 1
    np.testing.assert_array_equal(clf.predict_proba(image), reference.probabilities)


def test_training_samples_equal_whole_volume_features(small):
    image, _, scribbles = small
    fs = PRESETS["edges"]
    rows, targets = sample_features([image], [], scribbles, SPACING, fs)
    whole = compute_features(image, spacing=SPACING, feature_set=fs)
    where = np.nonzero(scribbles)
    order = np.lexsort(rows.T)
    expected = whole[where]
    np.testing.assert_array_equal(rows[order], expected[np.lexsort(expected.T)])
    assert sorted(targets.tolist()) == sorted(scribbles[where].tolist())


def test_other_spacing_at_predict_time(small):
    image, truth, scribbles = small
    clf = train_voxel_classifier(image, scribbles, spacing=SPACING, n_estimators=10)
    default = clf.predict(image)
    assert np.array_equal(default, clf.predict(image, spacing=SPACING))
    assert not np.array_equal(default, clf.predict(image, spacing=(0.3, 0.3, 0.3)))


# ---------------------------------------------------------------- classifiers
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_classifier_learns_the_phantom(small, name):
    image, truth, scribbles = small
    clf = train_voxel_classifier(
        image, scribbles, spacing=SPACING, classifier=name, class_weight="balanced",
        n_estimators=10,
    )  # fmt: skip
    labels = clf.predict(image) - 1
    assert _dice(labels > 0, truth > 0) > 0.95
    importances = clf.feature_importances
    if name in ("knn", "svm"):
        assert importances == {}
    else:
        assert set(importances) == set(clf.feature_names)
        assert np.isclose(sum(importances.values()), 1.0)


def test_priors_and_channels(small):
    image, truth, scribbles = small
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 1, image.shape).astype(np.float32)
    # the core (2) is only visible in the prior channel, the body (1) only in the second contrast
    contrast = np.where(truth >= 1, 100.0, 0.0).astype(np.float32) + noise
    prior = (truth == 2).astype(np.float32)
    fs = FeatureSet(("intensity",), ())
    clf = train_voxel_classifier(
        [noise, contrast], scribbles, spacing=SPACING, features=fs, priors=prior
    )
    assert clf.feature_names == ("ch0 intensity", "ch1 intensity", "prior0")
    labels = clf.predict([noise, contrast], priors=prior) - 1
    assert _dice(labels == 2, truth == 2) > 0.99 and _dice(labels >= 1, truth >= 1) > 0.99
    with pytest.raises(ValueError, match="trained with 1"):
        clf.predict([noise, contrast])


# ---------------------------------------------------------------- files
def test_save_and_load_in_a_fresh_process(small, tmp_path):
    image, _, scribbles = small
    clf = train_voxel_classifier(
        image,
        scribbles,
        spacing=SPACING,
        features="edges",
        class_names=["bg", "body", "core", "lesion"],
    )
    path = clf.save(tmp_path / "model.skops")
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["model.skops"]
    np.save(tmp_path / "image.npy", image)
    script = (
        "import json, sys, numpy as np\n"
        "from napari_segtools.core.classify.classifier import load_voxel_classifier\n"
        f"clf = load_voxel_classifier({str(path)!r})\n"
        f"labels = clf.predict(np.load({str(tmp_path / 'image.npy')!r}))\n"
        "print(json.dumps({'names': clf.class_names, 'spacing': clf.spacing,"
        " 'features': clf.feature_set.as_dict(), 'counts': np.bincount(labels.ravel()).tolist(),"
        " 'hash': int(np.sum(labels * np.arange(labels.size).reshape(labels.shape) % 9973))}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    labels = clf.predict(image)
    assert got["names"] == ["bg", "body", "core", "lesion"] and got["spacing"] == list(SPACING)
    assert got["features"] == PRESETS["edges"].as_dict()
    assert got["counts"] == np.bincount(labels.ravel()).tolist()
    assert got["hash"] == int(np.sum(labels * np.arange(labels.size).reshape(labels.shape) % 9973))


class _Opener:
    """A pickle payload that creates ``marker`` when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_plain_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.skops"
    evil.write_bytes(pickle.dumps(_Opener(marker)))
    with pytest.raises(ValueError, match=r"refusing to load model\.skops: it is not a skops file"):
        load_voxel_classifier(evil)
    with pytest.raises(ValueError, match="refusing to load"):
        load_voxel_classifier(evil, trusted=True)  # a pickle is never opened
    assert not marker.exists()
    # control: the payload is live (unpickling it does create the marker)
    subprocess.run(
        [sys.executable, "-c", f"import pickle; pickle.load(open({str(evil)!r}, 'rb'))"],
        check=True,
        timeout=60,
    )
    assert marker.exists()


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ("os.system", "system"),
        ("builtins.eval", "builtins.eval"),
        ("partial", "functools.partial"),
    ],
)
def test_skops_file_with_foreign_types_is_refused(tmp_path, payload, named):
    import builtins

    import skops.io as sio

    marker = tmp_path / "pwned"
    func = {
        "os.system": os.system,
        "builtins.eval": builtins.eval,
        "partial": functools.partial(open, str(marker), "w"),
    }[payload]
    evil = tmp_path / "model.skops"
    sio.dump({"format": FILE_FORMAT, "version": 1, "model": func}, evil)
    with pytest.raises(ValueError, match="holds types outside the allow-list") as info:
        load_voxel_classifier(evil)
    assert len(str(info.value).splitlines()) == 1
    assert named in str(info.value)
    assert not marker.exists()


def test_load_refuses_other_skops_contents(tmp_path):
    import skops.io as sio

    other = tmp_path / "other.skops"
    sio.dump({"a": 1}, other)
    with pytest.raises(ValueError, match="not a napari-segtools classifier"):
        load_voxel_classifier(other)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_voxel_classifier(tmp_path / "missing.skops")


# ---------------------------------------------------------------- live preview
def test_slice_preview_equals_whole_volume(small):
    image, _, scribbles = small
    scribbles = scribbles * 0
    truth = phantom((16, 48, 48), SPACING, noise=10.0, seed=3)[1]
    for index in (7, 8):  # scribbles on two displayed slices
        scribbles[index] = np.where(
            np.random.default_rng(index).random((48, 48)) < 0.1, truth[index] + 1, 0
        )
    preview = SlicePreview(image, spacing=SPACING, feature_set="edges")
    whole = compute_features(image, spacing=SPACING, feature_set=PRESETS["edges"])
    np.testing.assert_array_equal(preview.features(8), whole[8])
    rows, targets = preview.scribble_samples(scribbles)
    np.testing.assert_array_equal(rows, whole[np.nonzero(scribbles)])
    np.testing.assert_array_equal(targets, scribbles[np.nonzero(scribbles)])
    clf = preview.train(scribbles, n_estimators=10)
    result = preview.predict(clf, 7)
    np.testing.assert_array_equal(result.labels, clf.predict(image)[7])
    np.testing.assert_array_equal(result.probabilities, clf.predict_proba(image)[:, 7])
    assert result.uncertainty.shape == (48, 48)
    axial = SlicePreview(image, spacing=SPACING, feature_set="edges", axis=2)
    np.testing.assert_array_equal(axial.features(0), whole[:, :, 0])


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"scribbles": "none"}, ValueError, "`scribbles` is empty"),
        ({"scribbles": "one"}, ValueError, "one class only"),
        ({"scribbles": "shape"}, ValueError, "`images` has shape"),
        ({"images": "grids"}, ValueError, "same voxel grid"),
        ({"features": "sobel"}, ValueError, "`features` must be one of"),
        ({"classifier": "xgboost"}, ValueError, "`classifier` must be one of"),
        ({"class_weight": "rare"}, ValueError, "`class_weight` must be one of"),
        ({"class_names": ["a"]}, ValueError, "one name per scribbled class"),
    ],
)
def test_bad_input_one_clear_message(small, change, error, message):
    image, _, scribbles = small
    args = {"images": image, "scribbles": scribbles}
    special = {
        "none": np.zeros_like(scribbles),
        "one": (scribbles > 0).astype(np.uint8),
        "shape": scribbles[:-1],
        "grids": [image, image[:, :-1]],
    }
    options = {}
    for key, value in change.items():
        if key in args:
            args[key] = special[value]
        else:
            options[key] = value
    with pytest.raises(error, match=message) as info:
        train_voxel_classifier(args["images"], args["scribbles"], spacing=SPACING, **options)
    assert len(str(info.value).splitlines()) == 1
