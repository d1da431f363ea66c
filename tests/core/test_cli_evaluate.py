"""``napari-segtools evaluate``: pairing, geometry checks per case, dask run, CSV/JSON output."""

import csv
import json
import sys

import numpy as np
import pytest

from napari_segtools import metrics as M
from napari_segtools._cli import main
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.io import write_image

GEO = Geometry(spacing=(2.0, 0.5, 0.75), origin=(10.0, -5.0, 3.0))


def labels_pair():
    ref = np.zeros((8, 14, 12), np.uint8)
    ref[2:6, 3:10, 2:9] = 1
    ref[3:5, 5:8, 4:7] = 2
    return ref, np.roll(ref, 1, axis=2)


def read_csv(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    return comments, list(csv.DictReader(line for line in lines if not line.startswith("#")))


@pytest.fixture
def folders(tmp_path):
    ref, pred = labels_pair()
    (tmp_path / "ref").mkdir()
    (tmp_path / "pred").mkdir()
    write_image(tmp_path / "ref" / "a.nii.gz", ref, GEO)
    write_image(tmp_path / "pred" / "a.nii.gz", pred, GEO)
    write_image(tmp_path / "ref" / "b.nrrd", ref, GEO)
    shifted = Geometry(spacing=GEO.spacing, origin=(10.0, -5.0, 4.0))
    write_image(tmp_path / "pred" / "b.nrrd", pred, shifted)
    write_image(tmp_path / "ref" / "c.mha", ref, GEO)  # no prediction
    (tmp_path / "ref" / "notes.txt").write_text("not an image")
    return tmp_path


def test_folders_in_parallel_with_per_case_errors(folders, capsys):
    out, js = folders / "report.csv", folders / "report.json"
    argv = [
        "evaluate",
        str(folders / "ref"),
        str(folders / "pred"),
        "--out",
        str(out),
        "--json",
        str(js),
        "--tolerance-mm",
        "0.5",
        "--workers",
        "2",
        "--no-cldice",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "case b: prediction grid differs" in err and "origin (10, -5, 3) vs (10, -5, 4)" in err
    assert "case c: no prediction file" in err
    assert "evaluated 1 of 3 cases" in err
    comments, rows = read_csv(out)
    assert "# nsd_tolerance_mm: 0.5" in comments and '# hd_key: "hd95"' in comments
    assert any(c.startswith("# surface_convention:") for c in comments)
    ref, pred = labels_pair()
    expected = M.evaluate(ref, pred, spacing=GEO.spacing, nsd_tolerance_mm=0.5, cldice=False)
    a1 = next(r for r in rows if r["name"] == "a" and r["label"] == "1")
    assert float(a1["hd"]) == pytest.approx(expected.per_label[1]["hd"])
    assert float(a1["nsd"]) == pytest.approx(expected.per_label[1]["nsd"])
    assert [r["name"] for r in rows if r["error"]] == ["b", "c"]
    mean_rows = [r for r in rows if r["name"] == "mean over cases"]
    assert [r["label"] for r in mean_rows] == ["1", "2"]
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["settings"]["surface"] == "voxel" and data["settings"]["cldice"] is False
    case_a = data["cases"][0]
    assert case_a["settings"]["spacing"] == list(GEO.spacing)
    assert case_a["units"]["hd"] == "mm"
    assert data["cases"][1]["error"].startswith("prediction grid differs")


def test_single_files_synchronously(tmp_path):
    ref, pred = labels_pair()
    write_image(tmp_path / "r.nii.gz", ref, GEO)
    write_image(tmp_path / "p.nii.gz", pred, GEO)
    out = tmp_path / "one.csv"
    argv = [
        "evaluate",
        str(tmp_path / "r.nii.gz"),
        str(tmp_path / "p.nii.gz"),
        "--out",
        str(out),
        "--labels",
        "2",
        "--empty",
        "worst",
        "--surface",
        "surfel",
        "--quiet",
        "--workers",
        "1",
    ]
    assert main(argv) == 0
    comments, rows = read_csv(out)
    assert [r["label"] for r in rows] == ["2", "mean", "pooled", "overall", "2"]
    expected = M.evaluate(ref, pred, spacing=GEO.spacing, labels=[2], surface="surfel")
    assert float(rows[0]["hd95"]) == pytest.approx(expected.per_label[2]["hd95"])
    assert '# empty: "worst"' in comments


def test_shape_mismatch_and_bad_arguments(tmp_path, capsys):
    ref, pred = labels_pair()
    write_image(tmp_path / "r.nii.gz", ref, GEO)
    write_image(tmp_path / "p.nii.gz", pred[:, :, :-1], GEO)
    out = tmp_path / "x.csv"
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "r.nii.gz"),
                str(tmp_path / "p.nii.gz"),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 1
    )
    assert "shape (8, 14, 12) vs (8, 14, 11)" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "r.nii.gz"), str(tmp_path), "--out", str(out)]) == 2
    assert "two files or two folders" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing"), str(tmp_path), "--out", str(out)]) == 2


def test_scheduler_without_distributed(tmp_path, monkeypatch, capsys):
    ref, pred = labels_pair()
    write_image(tmp_path / "r.nii.gz", ref, GEO)
    write_image(tmp_path / "p.nii.gz", pred, GEO)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails like a missing package
    argv = [
        "evaluate",
        str(tmp_path / "r.nii.gz"),
        str(tmp_path / "p.nii.gz"),
        "--out",
        str(tmp_path / "o.csv"),
        "--scheduler",
        "tcp://127.0.0.1:8786",
    ]
    assert main(argv) == 2
    assert "--scheduler needs the `distributed` package" in capsys.readouterr().err


def _two_files(tmp_path):
    ref, pred = labels_pair()
    write_image(tmp_path / "r.nii.gz", ref, GEO)
    write_image(tmp_path / "p.nii.gz", pred, GEO)
    return ref, pred, ["evaluate", str(tmp_path / "r.nii.gz"), str(tmp_path / "p.nii.gz")]


def test_percentile_names_the_column(tmp_path):
    ref, pred, argv = _two_files(tmp_path)
    out = tmp_path / "p90.csv"
    assert main([*argv, "--out", str(out), "--percentile", "90", "--quiet", "--no-cldice"]) == 0
    comments, rows = read_csv(out)
    assert "hd90" in rows[0] and "hd95" not in rows[0]
    expected = M.evaluate(ref, pred, spacing=GEO.spacing, hd_percentile=90, cldice=False)
    assert float(rows[0]["hd90"]) == pytest.approx(expected.per_label[1]["hd90"])
    assert '# hd_key: "hd90"' in comments


def test_deprecated_tolerance_flag_warns_and_gives_equal_results(tmp_path, capsys):
    _, _, argv = _two_files(tmp_path)
    new, old = tmp_path / "new.csv", tmp_path / "old.csv"
    assert main([*argv, "--out", str(new), "--tolerance-mm", "0.3", "--quiet"]) == 0
    with pytest.warns(FutureWarning, match="--tolerance-mm"):
        assert main([*argv, "--out", str(old), "--tolerance", "0.3", "--quiet"]) == 0
    assert read_csv(old)[1] == read_csv(new)[1]
    assert "# nsd_tolerance_mm: 0.3" in read_csv(old)[0]
    assert main([*argv, "--out", str(old), "--tolerance", "1", "--tolerance-mm", "1"]) == 2
    assert "--tolerance-mm only" in capsys.readouterr().err


def test_hd_variant_band_and_summary_rows(tmp_path):
    ref, pred, argv = _two_files(tmp_path)
    out, js = tmp_path / "v.csv", tmp_path / "v.json"
    options = ["--hd-variant", "pooled", "--boundary-band-mm", "2", "--no-cldice", "--quiet"]
    assert main([*argv, "--out", str(out), "--json", str(js), *options]) == 0
    comments, rows = read_csv(out)
    assert '# hd_variant: "pooled"' in comments and "# boundary_band_mm: 2.0" in comments
    assert any(c.startswith("# hd_variant_definition:") and "medpy" in c for c in comments)
    assert any(c.startswith("# aggregation:") for c in comments)
    expected = M.evaluate(
        ref, pred, spacing=GEO.spacing, hd_variant="pooled", boundary_band_mm=2, cldice=False
    )
    one = next(r for r in rows if r["label"] == "1")
    assert float(one["hd95"]) == pytest.approx(expected.per_label[1]["hd95"])
    assert float(one["boundary_iou"]) == pytest.approx(expected.per_label[1]["boundary_iou"])
    overall = next(r for r in rows if r["label"] == "overall")
    assert float(overall["cohen_kappa"]) == pytest.approx(expected.overall["cohen_kappa"])
    assert overall["dice"] == "" and one["pixel_accuracy"] == ""
    pooled = next(r for r in rows if r["label"] == "pooled")
    assert float(pooled["dice"]) == pytest.approx(expected.pooled["dice"])
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["settings"]["hd_variant"] == "pooled"
    assert data["cases"][0]["rows"][-1]["label"] == "overall"
