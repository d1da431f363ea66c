"""Hostile inputs get a clear error or the correct result: never a traceback, a silent wrong
number or a lost report. (File truncation and lying headers: tests/core/test_io_integrity.py.)
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_segtools import metrics
from napari_segtools._cli import main
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.io import write_image

GEO = Geometry((2.0, 0.5, 0.75))


def _pair(value=1, shift=1):
    ref = np.zeros((8, 12, 10), np.int64)
    ref[2:6, 3:9, 2:8] = value
    return ref, np.roll(ref, shift, axis=2)


@pytest.mark.parametrize("big", [2**31 - 1, 10**8, 2**63 - 1])
def test_huge_label_ids_cost_what_the_labels_cost(big):
    ref, pred = _pair(big)
    small_ref, small_pred = _pair(1)
    report = metrics.evaluate(ref, pred, spacing=GEO.spacing)
    expected = metrics.evaluate(small_ref, small_pred, spacing=GEO.spacing)
    assert list(report.per_label) == [big]
    np.testing.assert_equal(report.per_label[big], expected.per_label[1])  # NaN equals NaN


def test_uint64_label_ids_up_to_the_largest():
    ref, pred = (a.astype(np.uint64) * np.uint64(2**64 - 1) for a in _pair(1))
    report = metrics.evaluate(ref, pred, spacing=GEO.spacing, labels=[2**64 - 1, 7])
    assert report.cases == {7: "both_empty", 2**64 - 1: "ok"}
    assert report.per_label[2**64 - 1]["dice"] == pytest.approx(2 * 5 / 12)  # 6 wide, shift 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda r, p: metrics.hausdorff_distance(r, p, spacing=(1, 1, 1), percentile=150),
            "percentile",
        ),
        (
            lambda r, p: metrics.normalized_surface_distance(
                r, p, spacing=(1, 1, 1), tolerance_mm=-1
            ),
            "tolerance_mm",
        ),
        (lambda r, p: metrics.evaluate(r, p, spacing=(1, 1, np.nan)), "spacing"),
        (lambda r, p: metrics.evaluate(r, p, spacing=(1, 1)), "spacing"),
        (lambda r, p: metrics.fbeta_score(r, p, beta=0), "beta"),
    ],
)
def test_invalid_options_are_refused_naming_them(call, message):
    ref, pred = _pair()
    with pytest.raises(ValueError, match=message):
        call(ref, pred)


@pytest.mark.parametrize("dtype", [">i4", ">u2", "<u8"])
def test_foreign_byte_order_and_fortran_layout_score_like_native(dtype):
    ref, pred = _pair(3)
    odd = np.asfortranarray(ref.astype(dtype)), np.asfortranarray(pred.astype(dtype))
    np.testing.assert_equal(
        metrics.evaluate(*odd, spacing=GEO.spacing).per_label,
        metrics.evaluate(ref, pred, spacing=GEO.spacing).per_label,
    )


def test_batch_cli_keeps_every_case_and_says_which_failed(tmp_path):
    (tmp_path / "ref").mkdir()
    (tmp_path / "pred").mkdir()
    ref, pred = _pair(1)
    names = [f"case{i:02d}" for i in range(20)]
    for name in names:
        write_image(tmp_path / "ref" / f"{name}.nii.gz", ref.astype(np.uint8), GEO)
        write_image(tmp_path / "pred" / f"{name}.nii.gz", pred.astype(np.uint8), GEO)
    big_ref, big_pred = _pair(2**31 - 1)  # case03: a huge label id, scored
    write_image(tmp_path / "ref" / "case03.nii.gz", big_ref.astype(np.int32), GEO)
    write_image(tmp_path / "pred" / "case03.nii.gz", big_pred.astype(np.int32), GEO)
    late = tmp_path / "pred" / "case17.nii.gz"  # case17: truncated late (95 %)
    late.write_bytes(late.read_bytes()[: int(late.stat().st_size * 0.95)])
    (tmp_path / "pred" / "case09.nii.gz").write_bytes(b"not an image at all")  # unreadable
    out = tmp_path / "report.csv"
    argv = ["evaluate", str(tmp_path / "ref"), str(tmp_path / "pred"), "--out", str(out)]
    status = main([*argv, "--workers", "1", "--no-cldice", "--quiet"])
    rows = list(
        csv.DictReader(
            x for x in out.read_text(encoding="utf-8").splitlines() if not x.startswith("#")
        )
    )
    summaries = ("mean", "pooled", "overall")
    cases = {
        r["name"]: r
        for r in rows
        if r["name"] != "mean over cases" and r["label"] not in summaries
    }
    assert sorted(cases) == names and status == 1
    failed = {name: row["error"] for name, row in cases.items() if row["error"]}
    assert sorted(failed) == ["case09", "case17"]
    assert "truncated" in failed["case17"]
    assert "case09" in failed["case09"] or "not a readable image" in failed["case09"]
    assert cases["case03"]["label"] == str(2**31 - 1)
    assert float(cases["case03"]["dice"]) == pytest.approx(float(cases["case00"]["dice"]))


def test_batch_cli_checks_its_output_before_computing(tmp_path, capsys):
    ref, pred = _pair(1)
    write_image(tmp_path / "r.nrrd", ref.astype(np.uint8), GEO)
    write_image(tmp_path / "p.nrrd", pred.astype(np.uint8), GEO)
    out = tmp_path / "missing" / "report.csv"
    assert (
        main(["evaluate", str(tmp_path / "r.nrrd"), str(tmp_path / "p.nrrd"), "--out", str(out)])
        == 2
    )
    assert "the folder" in capsys.readouterr().err and not out.parent.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spacing": (1.0, 0.0)}, "`spacing` must be positive finite mm"),
        ({"spacing": (1.0, np.inf)}, "`spacing` must be positive finite mm"),
        ({"spacing": (1.0, 1.0), "origin": (np.nan, 0.0)}, "`origin` must be finite"),
        ({"spacing": (1.0, 1.0), "origin": (0.0,)}, "`origin` has 1 values"),
        ({"spacing": (1.0, 1.0), "direction": np.eye(3)}, r"must be a \(2, 2\) matrix"),
    ],
)
def test_a_geometry_that_cannot_place_voxels_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Geometry(**kwargs)


def test_atlas_propagation_refuses_a_nan_origin_instead_of_hanging():
    from napari_segtools import propagate_atlas

    target = np.zeros((6, 6, 6), np.float32)
    with pytest.raises(ValueError, match="`origin` must be finite"):
        propagate_atlas(
            target,
            target,
            target.astype(np.uint8),
            geometry=Geometry((1, 1, 1), (np.nan, 0, 0)),
            atlas_geometry=Geometry((1, 1, 1)),
        )


@pytest.mark.parametrize("colour", ["reddish", "#12345", 255, None])
def test_a_model_config_with_an_invalid_colour_is_refused_before_inference(colour):
    from napari_segtools.core.unet.package import ModelConfig

    config = {
        "spatial_dims": 2,
        "in_channels": 1,
        "class_names": ["background", "cell"],
        "class_colors": ["#000000", colour],
        "spacing": [0.5, 0.5],
        "normalization": {"method": "zscore"},
        "patch_size": [32, 32],
        "weights": "weights.pt",
    }
    with pytest.raises(ValueError, match="`class_colors` must be hex colours"):
        ModelConfig.from_dict(config, source="bad.json")


def test_closing_a_running_atlas_propagation_returns_within_two_seconds():
    import time

    from napari_segtools.core.atlas import iter_propagate_atlases

    rng = np.random.default_rng(0)
    target = rng.normal(100, 20, (48, 64, 64)).astype(np.float32)
    labels = (target > 110).astype(np.uint8)
    gen = iter_propagate_atlases(
        target,
        [(np.roll(target, 2, axis=1), labels, Geometry((2.0, 1.0, 1.0)))],
        geometry=Geometry((2.0, 1.0, 1.0)),
        transform="deformable",
    )
    started = time.perf_counter()
    for _ in range(3):  # registration under way
        next(gen)
    closing = time.perf_counter()
    gen.close()
    assert time.perf_counter() - closing < 2.0
    assert closing - started < 30
