"""``napari-segtools classify``: a saved classifier applied to folders of cases on dask."""

import csv
import sys

import numpy as np
import pytest

from napari_segtools._cli import main
from napari_segtools.core.classify.classifier import (
    FILE_FORMAT,
    FILE_VERSION,
    load_voxel_classifier,
    train_voxel_classifier,
)
from napari_segtools.core.geometry import Geometry, grid_differences
from napari_segtools.core.io import read_image, write_image
from napari_segtools.core.phantoms import phantom

SPACING = (2.5, 1.0, 1.0)
SHAPE = (10, 24, 24)
TILTED = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, -0.6], [0.0, 0.6, 0.8]])
NAMES = ("air", "tissue", "core", "lesion")


def scribbled(labels):
    """Every 7th voxel of each ground-truth class, in memory order: deterministic scribbles."""
    scribbles = np.zeros_like(labels)
    scribbles.flat[::7] = labels.flat[::7] + 1
    return scribbles


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    image, labels = phantom(SHAPE, SPACING, noise=5.0, seed=0)
    clf = train_voxel_classifier(
        image, scribbled(labels), spacing=SPACING, class_names=NAMES, n_estimators=8
    )
    return clf.save(tmp_path_factory.mktemp("model") / "phantom.skops")


@pytest.fixture
def cases(tmp_path):
    """Case a on the training grid (tilted), b with 3x thicker slices, c a corrupt file."""
    folder = tmp_path / "cases"
    folder.mkdir()
    a = phantom(SHAPE, SPACING, noise=5.0, seed=1)[0]
    write_image(folder / "a.nii.gz", a, Geometry(SPACING, (4.0, -3.0, 7.5), TILTED))
    b = phantom((4, 24, 24), (7.5, 1.0, 1.0), noise=5.0, seed=2)[0].astype(np.int16)
    write_image(folder / "b.nii.gz", b, Geometry((7.5, 1.0, 1.0)))
    (folder / "c.nii.gz").write_bytes(b"\x1f\x8b not really a gzipped NIfTI")
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    (tmp_path / "out").mkdir()
    return folder


def classify(*argv):
    return main(["classify", *map(str, argv), "--quiet"])


def read_summary(path):
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["case"]: row for row in csv.DictReader(fh)}


def test_folder_on_two_workers_with_a_failing_case(model, cases, capsys):
    out, summary = cases.parent / "out", cases.parent / "summary.csv"
    code = classify(model, cases, "--out", out, "--workers", 2, "--summary", summary)
    assert code == 1
    clf = load_voxel_classifier(model)
    rows = read_summary(summary)
    assert [rows[c]["status"] for c in "abc"] == ["done", "done", "failed"]
    for case in "ab":
        image, geometry = read_image(cases / f"{case}.nii.gz")
        labels, out_geometry = read_image(out / f"{case}_classes.nii.gz")
        assert grid_differences(geometry, out_geometry, image.shape, labels.shape) == []
        expected = clf.predict(image, spacing=geometry.spacing)
        np.testing.assert_array_equal(labels, expected)
        assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {1, 2, 3, 4}
        ml = np.prod(geometry.spacing) / 1000
        for value, name in zip(clf.class_values, NAMES, strict=True):
            assert float(rows[case][f"{name} ml"]) == pytest.approx(
                np.count_nonzero(expected == value) * ml, abs=1e-3
            )
    assert not (out / "c_classes.nii.gz").exists()
    assert sorted(p.name for p in out.iterdir()) == ["a_classes.nii.gz", "b_classes.nii.gz"]
    assert rows["a"]["message"] == ""
    assert (
        "spacing (7.5, 1, 1) mm differs from the classifier's (2.5, 1, 1) mm"
        in (rows["b"]["message"])
    )
    captured = capsys.readouterr()
    failure = [line for line in captured.err.splitlines() if line.startswith("case c:")]
    assert failure == [f"case c: failed: {rows['c']['message']}"]
    assert "cannot read c.nii.gz" in failure[0]
    assert "classified 2 of 3 cases (0 skipped, 1 failed)" in captured.err
    table = captured.out.splitlines()
    assert table[0].split()[:3] == ["case", "status", "seconds"]
    assert [line.split()[:2] for line in table[1:]] == [
        ["a", "done"],
        ["b", "done"],
        ["c", "failed"],
    ]


def test_skip_and_overwrite(model, cases, capsys):
    out = cases.parent / "out"
    a, b = cases / "a.nii.gz", cases / "b.nii.gz"
    assert classify(model, a, b, "--out", out, "--workers", 1) == 0
    target = out / "a_classes.nii.gz"
    good = read_image(target)[0]
    write_image(target, np.zeros_like(good), read_image(target)[1])  # stands for an old result
    summary = cases.parent / "again.csv"
    assert classify(model, a, b, "--out", out, "--workers", 1, "--summary", summary) == 0
    assert {r["status"] for r in read_summary(summary).values()} == {"skipped"}
    assert not read_image(target)[0].any()
    assert "classified 0 of 2 cases (2 skipped, 0 failed)" in capsys.readouterr().err
    assert classify(model, a, "--out", out, "--overwrite", "--workers", 1) == 0
    np.testing.assert_array_equal(read_image(target)[0], good)
    # a case with only part of its outputs is neither skipped nor silently overwritten
    assert classify(model, a, "--out", out, "--probabilities", "--workers", 1) == 1
    assert "a_classes.nii.gz exists but a_prob_air.nii.gz does not; use --overwrite" in (
        capsys.readouterr().err
    )
    assert not (out / "a_prob_air.nii.gz").exists()


def test_probabilities_and_glob(model, cases):
    out = cases.parent / "out"
    code = classify(
        model, cases / "a*", "--out", out, "--probabilities", "--output-suffix", "_seg.nrrd"
    )
    assert code == 0
    clf = load_voxel_classifier(model)
    image, geometry = read_image(cases / "a.nii.gz")
    expected = clf.predict_proba(image, spacing=geometry.spacing)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "a_prob_air.nrrd",
        "a_prob_core.nrrd",
        "a_prob_lesion.nrrd",
        "a_prob_tissue.nrrd",
        "a_seg.nrrd",
    ]
    for index, name in enumerate(NAMES):
        proba, proba_geometry = read_image(out / f"a_prob_{name}.nrrd")
        assert proba.dtype == np.float32 and grid_differences(geometry, proba_geometry) == []
        np.testing.assert_array_equal(proba, expected[index])
    # outputs written next to the inputs are not taken for new cases on the next run
    together = cases.parent / "together"
    together.mkdir()
    (together / "a.nii.gz").write_bytes((cases / "a.nii.gz").read_bytes())
    summary = cases.parent / "summary.csv"
    for status in ("done", "skipped"):
        argv = [together, "--out", together, "--probabilities", "--summary", summary]
        assert classify(model, *argv) == 0
        assert {c: r["status"] for c, r in read_summary(summary).items()} == {"a": status}


def test_channels_matched_by_case_id(tmp_path, capsys):
    t1, labels = phantom(SHAPE, SPACING, noise=5.0, seed=3)
    t2 = 300.0 - t1  # a second contrast with the opposite weighting
    clf = train_voxel_classifier(
        [t1, t2], scribbled(labels), spacing=SPACING, features="basic", n_estimators=6
    )
    model = clf.save(tmp_path / "two.skops")
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    geometry = Geometry(SPACING)
    write_image(data / "001_T1.nii.gz", t1, geometry)
    write_image(data / "001_T2.nii.gz", t2, geometry)
    write_image(data / "002_T1.nii.gz", t1, geometry)  # no T2
    write_image(data / "003_T1.nii.gz", t1, geometry)
    write_image(data / "003_T2.nii.gz", t2[:, :, :-1], geometry)  # another grid
    channels = ["--channel", "t1=*_T1.nii.gz", "--channel", "t2=*_T2.nii.gz"]
    assert classify(model, data, "--out", out, "--workers", 1, *channels) == 1
    np.testing.assert_array_equal(read_image(out / "001_classes.nii.gz")[0], clf.predict([t1, t2]))
    err = capsys.readouterr().err
    assert "case 002: failed: no t2 file (*_T2.nii.gz) for this case" in err
    assert "case 003: failed: 003_T2.nii.gz is not on the grid of 003_T1.nii.gz: shape" in err
    assert sorted(p.name for p in out.iterdir()) == ["001_classes.nii.gz"]
    # one contrast short of the model: refused before any case runs
    assert classify(model, data, "--out", out, *channels[:2]) == 2
    assert "trained on 2 contrast(s); give one --channel NAME=PATTERN per contrast" in (
        capsys.readouterr().err
    )
    assert (
        classify(model, data, "--out", out, "--channel", "t1=T1.nii.gz", "--channel", "x=*") == 2
    )
    assert "use NAME=PATTERN with one *" in capsys.readouterr().err


def test_scheduler_without_distributed(model, cases, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails like a missing package
    out = cases.parent / "out"
    assert classify(model, cases, "--out", out, "--scheduler", "tcp://127.0.0.1:8786") == 2
    assert "--scheduler needs the `distributed` package" in capsys.readouterr().err
    assert not any(out.iterdir())


class Payload:
    """A type outside the allow-list whose restoring has a side effect (stands for an exploit)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __setstate__(self, state):
        with open(state["marker"], "w", encoding="utf-8") as fh:
            fh.write("code from the file ran")
        self.__dict__.update(state)


def test_untrusted_file_is_refused_before_anything_runs(tmp_path, cases, capsys):
    import skops.io as sio

    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.skops"
    sio.dump({"format": FILE_FORMAT, "version": FILE_VERSION, "model": Payload(marker)}, evil)
    out = cases.parent / "out"
    assert classify(evil, cases, "--out", out) == 2
    err = capsys.readouterr().err
    assert "refusing to load evil.skops: it holds types outside the allow-list" in err
    assert "test_cli_classify.Payload" in err
    assert not marker.exists() and not any(out.iterdir())
    # the same file with --trusted does run its code: the refusal above is what protects
    assert classify(evil, cases, "--out", out, "--trusted") == 2
    assert marker.exists() and not any(out.iterdir())


def test_bad_arguments(model, cases, tmp_path, capsys):
    out = cases.parent / "out"
    assert classify(model, cases, "--out", tmp_path / "missing") == 2
    assert "does not exist" in capsys.readouterr().err
    assert classify(model, cases, "--out", out, "--output-suffix", "_x.png") == 2
    assert "--output-suffix must end in one of" in capsys.readouterr().err
    assert classify(model, tmp_path / "nothing*.nii.gz", "--out", out) == 2
    assert "no image file matches" in capsys.readouterr().err
    assert classify(tmp_path / "none.skops", cases, "--out", out) == 2
    assert "no such file" in capsys.readouterr().err
    assert classify(model, cases, "--out", out, "--workers", 0) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    image, labels = phantom(SHAPE, SPACING, noise=5.0, seed=4)
    prior = (labels > 0).astype(np.float32)  # an atlas-like probability map
    with_prior = train_voxel_classifier(
        image, scribbled(labels), spacing=SPACING, priors=prior, n_estimators=2
    ).save(tmp_path / "prior.skops")
    assert classify(with_prior, cases, "--out", out) == 2
    assert "trained with 1 prior map(s); the classify verb does not supply priors" in (
        capsys.readouterr().err
    )
    assert not any(out.iterdir())
