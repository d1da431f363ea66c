"""``napari-segtools segment``: a folder of cases segmented on dask, resumable, one log row each.

The done-when case runs on a real ``distributed.LocalCluster``: 20 small cases with one corrupt
file give 19 label files on their inputs' grids and one failure row; a rerun skips the 19
without touching them; ``--overwrite`` redoes them. Each method then gets one quick run whose
values are checked against the core function it maps onto.
"""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest

from napari_segtools._cli import main
from napari_segtools.core.geometry import Geometry, grid_differences
from napari_segtools.core.io import read_image, write_image

TILTED = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, -0.6], [0.0, 0.6, 0.8]])
N_CASES, BROKEN = 20, "case07"


def segment(*argv) -> int:
    return main(["segment", *map(str, argv), "--quiet"])


def read_log(out) -> dict[str, dict]:
    with (out / "segment_log.csv").open(encoding="utf-8", newline="") as fh:
        return {row["case"]: row for row in csv.DictReader(fh)}


def cube_case(i: int) -> tuple[np.ndarray, Geometry, np.ndarray]:
    """A 24^3 image: background 0..40, a bright box 100..120; a geometry of its own."""
    rng = np.random.default_rng(i)
    image = rng.integers(0, 41, (24, 24, 24)).astype(np.int16)
    box = np.zeros(image.shape, bool)
    box[4 + i % 5 : 15 + i % 5, 6:18, 3 + i % 7 : 20] = True
    image[box] = rng.integers(100, 121, int(box.sum()))
    geometry = Geometry(
        (1.0 + 0.1 * i, 0.8, 1.2), (float(i), -5.0, 3.0 * i), TILTED if i % 2 else None
    )
    return image, geometry, box


@pytest.fixture
def folder(tmp_path):
    cases = tmp_path / "in"
    cases.mkdir()
    for i in range(N_CASES):
        image, geometry, _ = cube_case(i)
        write_image(cases / f"case{i:02d}.nii.gz", image, geometry)
    (cases / f"{BROKEN}.nii.gz").write_bytes(b"\x1f\x8b not really a gzipped NIfTI")
    (cases / "notes.txt").write_text("not an image", encoding="utf-8")
    return cases


def test_threshold_on_a_local_cluster_resumes_and_overwrites(folder, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "out"
    argv = ["threshold", folder, out, "--lower", 60, "--upper", 200]
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        argv += ["--scheduler", cluster.scheduler_address]
        assert segment(*argv) == 1
        err = capsys.readouterr().err
        assert f"case {BROKEN}: failed: cannot read {BROKEN}.nii.gz" in err
        assert "segmented 19 of 20 cases (0 skipped, 1 failed)" in err
        log = read_log(out)
        assert sorted(log) == [f"case{i:02d}" for i in range(N_CASES)]
        assert {c: r["method"] for c, r in log.items()} == dict.fromkeys(log, "threshold")
        assert log[BROKEN]["status"] == "failed" and log[BROKEN]["output"] == ""
        assert log[BROKEN]["error"].startswith(f"cannot read {BROKEN}.nii.gz: ")
        done = [c for c in log if c != BROKEN]
        assert all(log[c]["status"] == "done" and not log[c]["error"] for c in done)
        for case in done:
            i = int(case[4:])
            image, geometry, box = cube_case(i)
            labels, written = read_image(out / f"{case}.nii.gz")
            assert log[case]["output"] == str(out / f"{case}.nii.gz")
            assert grid_differences(geometry, written, image.shape, labels.shape) == []
            np.testing.assert_array_equal(labels, box.astype(labels.dtype))
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [f"{c}.nii.gz" for c in done] + ["segment_log.csv", "segment_settings.json"]
        )  # no journal, no partial file left
        settings = json.loads((out / "segment_settings.json").read_text(encoding="utf-8"))
        assert settings["software"].startswith("napari-segtools ")
        assert settings["method"] == "threshold" and settings["options"]["lower"] == 60
        assert settings["labels"] == {"1": "threshold"}
        stamps = {c: (out / f"{c}.nii.gz").stat().st_mtime_ns for c in done}

        assert segment(*argv) == 1  # the corrupt case fails again; the 19 are not redone
        assert "segmented 0 of 20 cases (19 skipped, 1 failed)" in capsys.readouterr().err
        log = read_log(out)
        assert [log[c]["status"] for c in done] == ["skipped"] * 19
        assert log[BROKEN]["status"] == "failed"
        assert {c: (out / f"{c}.nii.gz").stat().st_mtime_ns for c in done} == stamps

        assert segment(*argv, "--overwrite") == 1
        assert "segmented 19 of 20 cases (0 skipped, 1 failed)" in capsys.readouterr().err
        assert all(read_log(out)[c]["status"] == "done" for c in done)
        assert all((out / f"{c}.nii.gz").stat().st_mtime_ns > stamps[c] for c in done)


def test_interrupted_run_resumes_from_its_journal(tmp_path, capsys):
    """A case finished before an interruption (journal entry, no log yet) is skipped; a case
    whose input changed after its output is redone."""
    from napari_segtools import _cli_segment as cli

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(3):
        image, geometry, _ = cube_case(i)
        write_image(folder / f"c{i}.nii.gz", image, geometry)
    argv = ["threshold", folder, out, "--method", "otsu", "--workers", 1]
    (out / cli.JOURNAL_NAME).mkdir(parents=True)
    args = argparse_namespace(argv)
    method = cli.METHODS["threshold"][1](args)
    cases = cli.find_cases(folder, out, None)
    options = {"threads": None, "journal": out / cli.JOURNAL_NAME}
    row = cli.segment_case(cases[0], method, options)  # then the run "was interrupted"
    assert row["status"] == "done" and row["note"].startswith("otsu threshold ")
    stamp = cases[0].output.stat().st_mtime_ns
    assert segment(*argv) == 0
    log = read_log(out)
    assert [log[f"c{i}"]["status"] for i in range(3)] == ["skipped", "done", "done"]
    assert cases[0].output.stat().st_mtime_ns == stamp
    assert not (out / cli.JOURNAL_NAME).exists()
    # an automatic threshold per case, noted in the log: scikit-image's Otsu value, and the
    # foreground is image > value (scikit-image's rule), which here is exactly the box
    from skimage.filters import threshold_otsu

    image, _, box = cube_case(1)
    assert float(log["c1"]["note"].split()[-1]) == threshold_otsu(image)
    labels = read_image(out / "c1.nii.gz")[0]
    np.testing.assert_array_equal(labels > 0, image > threshold_otsu(image))
    np.testing.assert_array_equal(labels > 0, box)
    image, geometry, _ = cube_case(2)  # a newer input: its case is redone
    write_image(folder / "c2.nii.gz", image + 1, geometry)
    assert segment(*argv) == 0
    assert [read_log(out)[f"c{i}"]["status"] for i in range(3)] == ["skipped", "skipped", "done"]
    # a case redone that fails loses its old output: OUT holds only what the log says is done
    (folder / "c1.nii.gz").write_bytes(b"truncated")
    assert segment(*argv) == 1
    assert read_log(out)["c1"]["status"] == "failed"
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["c0.nii.gz", "c2.nii.gz"]
    capsys.readouterr()


def argparse_namespace(argv):
    import argparse

    from napari_segtools import _cli_segment as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def test_grow_from_physical_seeds(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    centres = {}
    for i in range(3):
        image, geometry, box = cube_case(i)
        image[0, 0, :3] = 110  # a bright speck apart from the box: not connected to the seed
        write_image(folder / f"g{i}.nii.gz", image, geometry)
        centres[f"g{i}"] = geometry.index_to_physical(np.argwhere(box).mean(axis=0).round())
    seeds = tmp_path / "seeds.csv"
    rows = [f"g{i},{','.join(map(str, centres[f'g{i}']))}\n" for i in range(2)]  # none for g2
    seeds.write_text("case,z_mm,y_mm,x_mm\n" + "".join(rows), encoding="utf-8")
    argv = ["grow", folder, out, "--seeds", seeds, "--algorithm", "connected", "--workers", 1]
    assert segment(*argv, "--lower", 90, "--upper", 130, "--label", 3, "--suffix", "_r.nrrd") == 1
    log = read_log(out)
    assert log["g2"]["status"] == "failed"
    assert log["g2"]["error"] == "no seed for this case in seeds.csv"
    for i in range(2):
        labels, _ = read_image(out / f"g{i}_r.nrrd")
        np.testing.assert_array_equal(labels, np.where(cube_case(i)[2], 3, 0))
    # one seed for every case (confidence connected): g0 and its copy grow the box; a case
    # placed far away in space has the seed outside its image
    same, out2 = tmp_path / "same", tmp_path / "out2"
    same.mkdir()
    image, geometry, box = cube_case(0)
    for name in ("s1", "s2"):
        write_image(same / f"{name}.nii.gz", image, geometry)
    far = Geometry(geometry.spacing, (500.0, 0.0, 0.0))
    write_image(same / "far.nii.gz", image, far)
    seed = [str(v) for v in centres["g0"]]
    assert segment("grow", same, out2, "--seed-mm", *seed, "--workers", 1) == 1
    log = read_log(out2)
    assert log["far"]["error"].startswith(
        f"seed ({', '.join(f'{v:g}' for v in centres['g0'])}) mm"
    )
    assert "lies outside the image" in log["far"]["error"]
    for name in ("s1", "s2"):
        np.testing.assert_array_equal(read_image(out2 / f"{name}.nii.gz")[0] > 0, box)
    capsys.readouterr()


def test_classifier_matches_the_api(tmp_path, capsys):
    from napari_segtools.core.classify.classifier import train_voxel_classifier
    from napari_segtools.core.phantoms import phantom

    spacing = (2.0, 1.0, 1.0)
    image, labels = phantom((8, 20, 20), spacing, noise=5.0, seed=0)
    scribbles = np.zeros_like(labels)
    scribbles.flat[::7] = labels.flat[::7] + 1
    clf = train_voxel_classifier(image, scribbles, spacing=spacing, n_estimators=4)
    model = clf.save(tmp_path / "phantom.skops")
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    a = phantom((8, 20, 20), spacing, noise=5.0, seed=1)[0]
    write_image(folder / "a.nii.gz", a, Geometry(spacing, (3.0, 1.0, -2.0)))
    b = phantom((4, 20, 20), (6.0, 1.0, 1.0), noise=5.0, seed=2)[0]
    write_image(folder / "b.mha", b, Geometry((6.0, 1.0, 1.0)))
    assert segment("classifier", folder, out, "--classifier", model, "--workers", 1) == 0
    log = read_log(out)
    np.testing.assert_array_equal(read_image(out / "a.nii.gz")[0], clf.predict(a, spacing=spacing))
    expected_b = clf.predict(b, spacing=(6.0, 1.0, 1.0))
    np.testing.assert_array_equal(read_image(out / "b.mha")[0], expected_b)
    assert log["a"]["note"] == "" and "differs from the classifier's" in log["b"]["note"]
    capsys.readouterr()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_unet_package_matches_the_predictor(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from napari_segtools.core.unet.model import UNet, UNetSpec
    from napari_segtools.core.unet.package import ModelConfig, load_model, save_package

    spec = UNetSpec(spatial_dims=3, in_channels=1, out_channels=3, features=(4, 8))
    config = ModelConfig.from_dict(
        {
            "name": "tiny",
            "spatial_dims": 3,
            "in_channels": 1,
            "class_names": ["background", "a", "b"],
            "class_colors": ["#000000", "#ff0000", "#00ff00"],
            "spacing": [2.0, 2.0, 2.0],
            "normalization": {"method": "zscore"},
            "patch_size": [8, 8, 8],
            "weights": "weights.pt",
            "architecture": spec.to_dict(),
        }
    )
    torch.manual_seed(0)
    package = save_package(tmp_path / "tiny", UNet(spec).eval(), config)
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    images = {}
    for i in range(2):
        image, geometry, _ = cube_case(i)
        images[f"u{i}"] = (image[:12, :10, :14], geometry)
        write_image(folder / f"u{i}.nii.gz", *images[f"u{i}"])
    argv = ["unet", folder, out, "--model", package, "--device", "cpu", "--workers", 1]
    assert segment(*argv) == 0
    predictor = load_model(package)
    for case, (image, geometry) in images.items():
        labels, written = read_image(out / f"{case}.nii.gz")
        expected = predictor.predict(image, geometry=geometry, device="cpu")
        assert len(np.unique(expected)) > 1  # the check below can tell classes apart
        np.testing.assert_array_equal(labels, expected)
        assert grid_differences(geometry, written, image.shape, labels.shape) == []
    settings = json.loads((out / "segment_settings.json").read_text(encoding="utf-8"))
    assert settings["labels"] == {"0": "background", "1": "a", "2": "b"}
    # masks: the network runs inside, the outside is background
    masks, masked = tmp_path / "masks", tmp_path / "masked"
    masks.mkdir()
    for case, (image, geometry) in images.items():
        inside = np.zeros(image.shape, np.uint8)
        inside[2:9, 1:8, 3:12] = 1
        write_image(masks / f"{case}.nrrd", inside, geometry)
    assert segment(*argv[:2], masked, *argv[3:], "--mask-dir", masks) == 0
    for case, (image, geometry) in images.items():
        inside = read_image(masks / f"{case}.nrrd")[0] > 0
        labels = read_image(masked / f"{case}.nii.gz")[0]
        expected = predictor.predict(image, geometry=geometry, device="cpu", mask=inside)
        np.testing.assert_array_equal(labels, expected)
        assert not labels[~inside].any() and labels[inside].any()
    # a TorchScript program runs code when loaded: refused unless --trusted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warnings; TorchScript is deprecated
        torch.jit.trace(predictor.module, torch.zeros(1, 1, 8, 8, 8)).save(tmp_path / "ts.pt")
    (tmp_path / "ts.json").write_text(
        json.dumps({**config.to_dict(), "weights": "ts.pt"}), encoding="utf-8"
    )
    scripted = ["unet", folder, tmp_path / "ts_out", "--model", tmp_path / "ts.pt"]
    assert segment(*scripted, "--device", "cpu", "--workers", 1) == 2
    assert "runs code when loaded" in capsys.readouterr().err
    assert not (tmp_path / "ts_out").exists()
    assert segment(*scripted, "--trusted", "--device", "cpu", "--workers", 1) == 0
    for case in images:
        np.testing.assert_array_equal(
            read_image(tmp_path / "ts_out" / f"{case}.nii.gz")[0],
            read_image(out / f"{case}.nii.gz")[0],
        )
    capsys.readouterr()


def test_atlas_propagates_labels(tmp_path, capsys):
    z, y, x = np.mgrid[:16, :16, :16]
    blob = 100 * np.exp(-((z - 8) ** 2 / 18 + (y - 7) ** 2 / 10 + (x - 9) ** 2 / 14))
    labels = (blob > 40).astype(np.uint8) + (blob > 80)
    atlas, folder, out = tmp_path / "atlas", tmp_path / "in", tmp_path / "out"
    atlas.mkdir()
    folder.mkdir()
    grid = Geometry((1.5, 1.0, 1.0))
    write_image(atlas / "a_image.nii.gz", blob.astype(np.float32), grid)
    write_image(atlas / "a_labels.nii.gz", labels, grid)
    # the same anatomy placed elsewhere in space: registration must find the 3 mm shift
    moved = Geometry((1.5, 1.0, 1.0), origin=(3.0, -2.0, 1.0))
    write_image(folder / "t.nii.gz", blob.astype(np.float32), moved)
    argv = ["atlas", folder, out, "--atlas", atlas, "--preset", "same modality, fast"]
    assert segment(*argv, "--transform", "rigid", "--iterations", 40, "--workers", 1) == 0
    result, geometry = read_image(out / "t.nii.gz")
    assert geometry == moved
    np.testing.assert_array_equal(result, labels)
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["threshold"], "threshold: give --lower and/or --upper, or an automatic --method"),
        (["threshold", "--method", "otsu", "--lower", "3"], "finds the lower bound; drop --lower"),
        (["threshold", "--lower", "1", "--fill-holes", "9"], "--fill-holes must be off, 3d"),
        (["threshold", "--lower", "1", "--workers", "0"], "--workers must be at least 1"),
        (["threshold", "--lower", "1", "--suffix", ".png"], "--suffix must end in one of"),
        (["grow", "--seed-mm", "1", "2", "3", "4"], "--seed-mm takes Z Y X"),
        (["atlas", "--atlas", "nowhere"], "--atlas nowhere: no such folder"),
        (["classifier", "--classifier", "none.skops"], "cannot load none.skops: no such file"),
    ],
)
def test_bad_arguments_give_one_clear_message(
    argv, message, folder, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    method, *rest = argv
    assert segment(method, folder, tmp_path / "out", *rest) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_other_refusals(folder, tmp_path, capsys):
    assert segment("threshold", folder, folder, "--lower", 60) == 2
    assert "OUT is IN: give --suffix" in capsys.readouterr().err
    assert segment("threshold", tmp_path / "none", tmp_path / "out", "--lower", 60) == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: a seed source is required
        segment("grow", folder, tmp_path / "out")
    assert "one of the arguments --seeds --seed-mm is required" in capsys.readouterr().err
    # settings changed between runs into the same OUT: refused, --overwrite redoes
    small = tmp_path / "small"
    small.mkdir()
    write_image(small / "a.nii.gz", *cube_case(0)[:2])
    assert segment("threshold", small, tmp_path / "o", "--lower", 60, "--workers", 1) == 0
    assert segment("threshold", small, tmp_path / "o", "--lower", 70, "--workers", 1) == 2
    assert "holds results made with other settings (lower)" in capsys.readouterr().err
    argv = ["threshold", small, tmp_path / "o", "--lower", 70, "--overwrite", "--workers", 1]
    assert segment(*argv) == 0
    assert read_log(tmp_path / "o")["a"]["status"] == "done"
