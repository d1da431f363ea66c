"""``napari-segtools evaluate REF --methods A B C``: the cohort files, on local processes and on a
``distributed.LocalCluster``; a broken case reported in its row while the others finish."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
from pathlib import Path

import numpy as np
import pytest

from napari_segtools import metrics as M
from napari_segtools._cli import main
from napari_segtools._cli_cohort import write_cohort_files
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.io import write_image

GEO = Geometry(spacing=(2.0, 0.5, 0.75), origin=(10.0, -5.0, 3.0))
METHODS = ("unet", "atlas", "threshold")
CASES = ("c0", "c1", "c2", "c3")


def reference() -> np.ndarray:
    ref = np.zeros((6, 12, 10), np.uint8)
    ref[1:5, 2:9, 2:8] = 1
    ref[2:4, 4:7, 4:6] = 2
    return ref


def prediction(method: int, case: int) -> np.ndarray:
    """Method k's case i: the reference shifted by (i + k) % 3 voxels along x."""
    return np.roll(reference(), (case + method) % 3, axis=2)


def image(case: int) -> np.ndarray:
    return reference().astype(np.float32) * 100 + case


def write_cohort(root: Path) -> list[str]:
    """Write references, images (nnU-Net names) and three methods' predictions; return argv."""
    for folder in ("ref", "images", *METHODS):
        (root / folder).mkdir()
    for i, case in enumerate(CASES):
        write_image(root / "ref" / f"{case}.nii.gz", reference(), GEO)
        write_image(root / "images" / f"{case}_0000.nii.gz", image(i), GEO)
        for k, method in enumerate(METHODS):
            write_image(root / method / f"{case}.nii.gz", prediction(k, i), GEO)
    argv = ["evaluate", str(root / "ref"), "--methods", *(str(root / m) for m in METHODS)]
    return [*argv, "--images", str(root / "images"), "--no-cldice", "--quiet"]


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    return comments, list(csv.DictReader(line for line in lines if not line.startswith("#")))


def outputs(out: Path) -> dict[str, Path]:
    stem = out.with_suffix("")
    return {
        kind: Path(f"{stem}{suffix}")
        for kind, suffix in (
            ("cases", ".csv"),
            ("summary", ".summary.csv"),
            ("comparison", ".comparison.csv"),
            ("ranking", ".ranking.csv"),
        )
    }


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """The cohort with one broken prediction, evaluated once locally.

    One synchronous worker: ``test_cli_evaluate`` covers local processes, and starting them
    costs seconds.
    """
    root = tmp_path_factory.mktemp("cohort")
    argv = write_cohort(root)
    (root / "threshold" / "c2.nii.gz").write_bytes(b"not a gzip stream")  # one broken case
    out = root / "local" / "cases.csv"
    out.parent.mkdir()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([*argv, "--out", str(out), "--workers", "1"])
    return root, argv, out, (code, err.getvalue())


def test_methods_write_cases_summary_comparison_and_ranking(cohort):
    root, argv, out, (code, err) = cohort
    assert code == 1  # one case failed, the others finished
    assert "case threshold c2: cannot read c2.nii.gz" in err
    assert "evaluated 11 of 12 cases" in err
    files = outputs(out)
    comments, rows = read_csv(files["cases"])
    assert '# methods: ["unet", "atlas", "threshold"]' in comments
    assert any(c.startswith('# software: "napari-segtools ') for c in comments)
    # per case and label (the per-case mean, pooled and overall rows aside), and the failure
    cases = [
        r for r in rows if r["name"] != "mean over cases" and (r["label"].isdigit() or r["error"])
    ]
    broken = [r for r in cases if r["error"]]
    assert [(r["method"], r["name"]) for r in broken] == [("threshold", "c2")]
    assert len([r for r in cases if not r["error"]]) == 11 * 2  # two labels per good case
    for r in cases:  # absolute paths of the three files of each case
        i = CASES.index(r["name"])
        assert r["reference"] == str(root / "ref" / f"{r['name']}.nii.gz")
        assert r["prediction"] == str(root / r["method"] / f"{r['name']}.nii.gz")
        assert r["image"] == str(root / "images" / f"{CASES[i]}_0000.nii.gz")
    for r in (r for r in cases if not r["error"]):
        k, i = METHODS.index(r["method"]), CASES.index(r["name"])
        report = M.evaluate(reference(), prediction(k, i), spacing=GEO.spacing, cldice=False)
        assert float(r["dice"]) == pytest.approx(report.per_label[int(r["label"])]["dice"])

    from napari_segtools.core.cohort.summary import summarize
    from napari_segtools.core.cohort.table import read_cohort_table

    table = read_cohort_table(files["cases"])
    assert table.methods == tuple(sorted(METHODS))
    comments, summary = read_csv(files["summary"])
    assert any("napari-segtools" in c for c in comments)
    expected = summarize(table, seed=0)
    dice = {(r["method"], r["label"]): r for r in summary if r["metric"] == "dice"}
    for row in expected.rows:
        if row["metric"] == "dice":
            got = dice[(row["method"], str(row["label"]))]
            assert float(got["mean"]) == pytest.approx(row["mean"])
            assert int(got["n"]) == row["n"]
    assert int(dice[("threshold", "1")]["n"]) == 3  # the broken case has no value
    comments, comparison = read_csv(files["comparison"])
    assert any("napari-segtools" in c for c in comments)
    pairs = {(r["method_a"], r["method_b"]) for r in comparison}
    assert pairs == set(itertools.combinations(METHODS, 2))
    comments, ranking = read_csv(files["ranking"])
    assert any("napari-segtools" in c for c in comments)
    assert {r["method"] for r in ranking} == set(METHODS)


def _strip_paths(lines: list[str], folder: Path) -> list[str]:
    return [line.replace(str(folder), "<out>") for line in lines]


def test_local_cluster_writes_the_same_files(cohort, tmp_path):
    distributed = pytest.importorskip("distributed")
    root, argv, local, _ = cohort
    remote = tmp_path / "cases.csv"
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        assert main([*argv, "--out", str(remote), "--scheduler", cluster.scheduler_address]) == 1
    for kind, path in outputs(local).items():
        there = outputs(remote)[kind].read_text(encoding="utf-8").splitlines()
        here = path.read_text(encoding="utf-8").splitlines()
        assert _strip_paths(here, local.parent) == _strip_paths(there, remote.parent), kind
    _, rows = read_csv(remote)
    assert [(r["method"], r["name"]) for r in rows if r["error"]] == [("threshold", "c2")]


def test_baseline_compares_each_method_with_it(cohort, tmp_path):
    _, _, local, _ = cohort
    out = tmp_path / "cases.csv"
    out.write_bytes(local.read_bytes())
    args = argparse.Namespace(
        baseline="atlas", rank_by="hd95", seed=0, scheduler=None, workers=1, quiet=True
    )
    written = write_cohort_files(out, args)
    assert [p.name for p in written] == [
        "cases.summary.csv",
        "cases.comparison.csv",
        "cases.comparison_bland_altman.csv",
        "cases.comparison_influential.csv",
        "cases.ranking.csv",
    ]
    comments, comparison = read_csv(outputs(out)["comparison"])
    assert '# baseline: "atlas"' in comments
    assert {(r["method_a"], r["method_b"]) for r in comparison} == {
        ("atlas", "unet"),
        ("atlas", "threshold"),
    }
    comments, ranking = read_csv(outputs(out)["ranking"])
    assert '# metric: "hd95"' in comments and '# direction: "lower is better"' in comments
    # the hand-made cohort: unet's shifts are (0,1,2,0), atlas (1,2,0,1), threshold (2,0,1,2)
    # voxels; c2 is left out (threshold's file is broken), so unet is best on c0, c1, c3
    best = [r for r in ranking if r["scheme"] == "aggregate-then-rank" and r["rank"] == "1"]
    assert {r["method"] for r in best} == {"unet"}


def test_cohort_argument_mistakes(tmp_path, capsys):
    argv = write_cohort(tmp_path)
    out = ["--out", str(tmp_path / "x.csv")]
    ref, unet = str(tmp_path / "ref"), str(tmp_path / "unet")
    mistakes = {
        "give PRED or --methods, not both": ["evaluate", ref, unet, "--methods", unet, *out],
        "give PRED (a file or folder) or --methods": ["evaluate", ref, *out],
        "--baseline 'nnunet' is not one of the methods": [*argv, *out, "--baseline", "nnunet"],
        "--images needs --methods": ["evaluate", ref, unet, "--images", ref, *out],
        "two folders are named 'unet'": ["evaluate", ref, "--methods", unet, unet, *out],
        "--rank-by: `metric` 'tp' has no known direction": [*argv, *out, "--rank-by", "tp"],
        "--rank-by 'hd95' is not a column": [
            *argv,
            *out,
            "--rank-by",
            "hd95",
            "--percentile",
            "90",
        ],
        "REF must be the folder": [
            "evaluate",
            str(tmp_path / "ref" / "c0.nii.gz"),
            "--methods",
            unet,
            *out,
        ],
    }
    for message, bad in mistakes.items():
        assert main(bad) == 2, message
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
