"""Object- and lesion-level evaluation: hand-computed answers, and two peers' committed values.

The peers' values (``tests/data/instances/*.json``) come from panoptica and from the BraTS-2023
lesion-wise script, each run in its own virtual environment by
``tools/peers/make_instance_expected.py`` on maps that ``tests.instance_cases`` redraws here
from the stored seeds (a checksum tells a changed generator from a changed metric).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from tests.hostile import assert_clear_error, hostile_cases
from tests.instance_cases import checksum, make_lesion_case

from napari_segtools.core._types import Progress, run_to_completion
from napari_segtools.core.metrics.instances import (
    INSTANCE_MATCHINGS,
    INSTANCE_PRESETS,
    STATUS_CODES,
    evaluate_instances,
    iter_evaluate_instances,
)
from napari_segtools.core.metrics.surface import compute_surface_distances

DATA = Path(__file__).resolve().parents[1] / "data" / "instances"
PANOPTICA = json.loads((DATA / "panoptica.json").read_text())["cases"]
BRATS = json.loads((DATA / "brats2023.json").read_text())["cases"]
NAN = float("nan")


def _rows(report, status=None):
    return [r for r in report.per_instance if status is None or r["status"] == status]


def _close(a, b, rel=1e-9, abs_=1e-9):
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


# ---- known answers by hand -----------------------------------------------------------------


def test_two_voxel_bar_shifted_one_row_known_answer_anisotropic_2d():
    ref = np.zeros((6, 8), np.uint8)
    ref[1:3, 1:6] = 1
    pred = np.roll(ref, 1, axis=0)
    report = evaluate_instances(ref, pred, spacing=(2.0, 1.0), iou_threshold=0.3)
    (row,) = report.per_instance
    # every voxel is border; half of each surface is shared (0 mm), half lies one row (2 mm) off
    assert row["status"] == "TP" and row["reference_id"] == row["prediction_id"] == 1
    assert row["reference_volume"] == row["prediction_volume"] == 20.0  # 10 voxels of 2 mm^2
    assert row["iou"] == pytest.approx(1 / 3) and row["dice"] == pytest.approx(0.5)
    assert row["hd95"] == 2.0 and row["masd"] == 1.0 and row["center_distance"] == 2.0
    assert row["centroid"] == (1.5, 3.0)
    assert report.units["reference_volume"] == "mm^2" and report.units["hd95"] == "mm"


def test_box_shifted_along_the_coarse_axis_3d():
    ref = np.zeros((8, 8, 8), bool)
    ref[2:6, 2:6, 2:6] = True
    pred = np.roll(ref, 1, axis=0)
    report = evaluate_instances(ref, pred, spacing=(2.5, 0.8, 0.8))
    (row,) = report.per_instance
    assert row["iou"] == pytest.approx(48 / 80) and row["dice"] == pytest.approx(0.75)
    assert row["center_distance"] == pytest.approx(2.5)
    assert row["reference_volume"] == pytest.approx(64 * 2.5 * 0.64)
    sd = compute_surface_distances(ref, pred, spacing=(2.5, 0.8, 0.8))
    assert row["hd95"] == sd.hausdorff(percentile=95) and row["masd"] == sd.masd()
    assert report.detection == pytest.approx(
        {"tp": 1, "fp": 0, "fn": 0, "precision": 1, "recall": 1, "f1": 1}
        | {"pq": 0.6, "sq": 0.6, "rq": 1}
    )


def _split_case():
    ref = np.zeros((8, 14), np.uint8)
    ref[2:6, 2:12] = 1  # 40 voxels
    pred = np.zeros_like(ref)
    pred[2:6, 2:7] = 1  # 20 voxels: IoU 0.5
    pred[2:6, 8:12] = 1  # 16 voxels: IoU 0.4 (column 7 left out)
    return ref, pred


def test_a_split_lesion_one_to_one_leaves_the_smaller_half_false():
    ref, pred = _split_case()
    for matching, threshold in (("iou", 0.5), ("assignment", 0.3)):
        report = evaluate_instances(
            ref, pred, spacing=(1, 1), matching=matching, iou_threshold=threshold
        )
        tp, fp = _rows(report, "TP"), _rows(report, "FP")
        assert [(r["reference_id"], r["prediction_id"], r["iou"]) for r in tp] == [(1, 1, 0.5)]
        assert [(r["prediction_id"], r["prediction_volume"]) for r in fp] == [(2, 16.0)]
        assert report.detection["f1"] == pytest.approx(2 / 3)


def test_a_split_lesion_merges_into_one_match():
    ref, pred = _split_case()
    report = evaluate_instances(ref, pred, spacing=(1, 1), matching="merge")
    (row,) = report.per_instance
    assert row["status"] == "TP" and row["prediction_id"] == 1 and row["prediction_ids"] == "1 2"
    assert row["iou"] == pytest.approx(36 / 40) and row["dice"] == pytest.approx(72 / 76)
    assert row["prediction_volume"] == 36.0
    assert report.detection["pq"] == pytest.approx(0.9)
    np.testing.assert_array_equal(report.status_map(), np.where(ref | pred, 1, 0))


def test_two_lesions_merged_by_the_prediction():
    ref = np.zeros((6, 12), np.uint8)
    ref[1:5, 1:5] = ref[1:5, 6:10] = 1  # two 4x4 lesions, a one-column gap
    pred = np.zeros_like(ref)
    pred[1:5, 1:10] = 1  # one blob over both: IoU 16/36 with each
    strict = evaluate_instances(ref, pred, spacing=(1, 1))
    assert [r["status"] for r in strict.per_instance] == ["FN", "FN", "FP"]
    assert strict.detection["pq"] == 0.0 and math.isnan(strict.detection["sq"])
    loose = evaluate_instances(ref, pred, spacing=(1, 1), iou_threshold=0.4)
    assert [r["status"] for r in loose.per_instance] == ["TP", "FN"]  # a tie: lower id first
    assert loose.detection["pq"] == pytest.approx((16 / 36) / 1.5)
    status = loose.status_map()
    assert status[1, 2] == STATUS_CODES["TP"] and status[1, 7] == STATUS_CODES["TP"]


@pytest.mark.parametrize("empty", ["both", "reference", "prediction"])
def test_empty_maps(empty):
    lesion = np.zeros((9, 9), np.uint8)
    lesion[2:5, 2:5] = 1
    ref = lesion if empty == "prediction" else np.zeros_like(lesion)
    pred = lesion if empty == "reference" else np.zeros_like(lesion)
    report = evaluate_instances(ref, pred, spacing=(1, 1), size_bins_mm3=[5])
    d = report.detection
    assert (d["tp"], d["fp"], d["fn"]) == {
        "both": (0, 0, 0),
        "reference": (0, 1, 0),
        "prediction": (0, 0, 1),
    }[empty]
    assert math.isnan(d["sq"])
    if empty == "both":
        assert report.per_instance == () and all(math.isnan(d[k]) for k in ("f1", "pq", "rq"))
    else:
        assert d["f1"] == d["pq"] == d["rq"] == 0.0
        assert all(math.isnan(report.per_instance[0][k]) for k in ("iou", "dice", "hd95"))
    assert [b["n_reference"] for b in report.recall_by_size] == [0, int(empty == "prediction")]


def test_given_instances_keep_touching_objects_and_their_ids():
    ref = np.zeros((6, 10), np.int32)
    ref[1:5, 1:4], ref[1:5, 4:8] = 7, 30  # touching: one component, two given instances
    pred = np.where(ref > 0, 5, 0)
    components = evaluate_instances(ref, pred, spacing=(1, 1))
    assert [r["status"] for r in components.per_instance] == ["TP"]
    given = evaluate_instances(ref, pred, spacing=(1, 1), instances="given")
    ids = [(r["status"], r["reference_id"], r["prediction_id"]) for r in given.per_instance]
    assert ids == [("FN", 7, 0), ("TP", 30, 5)]  # IoU 16/28 >= 0.5, 12/28 below
    assert set(np.unique(given.reference_instances)) == {0, 7, 30}
    assert given.status_map()[2, 2] == STATUS_CODES["TP"]  # TP wins where statuses overlap


def test_connectivity_and_label_choose_the_instances():
    ref = np.zeros((6, 6), np.uint8)
    ref[1:3, 1:3], ref[3:5, 3:5] = 1, 2  # diagonal neighbours
    assert evaluate_instances(ref, ref, spacing=None).detection["tp"] == 1
    assert evaluate_instances(ref, ref, spacing=None, connectivity=1).detection["tp"] == 2
    only_two = evaluate_instances(ref, ref, spacing=None, label=2)
    assert only_two.per_instance[0]["centroid"] == (3.5, 3.5)
    union = evaluate_instances(ref, ref, spacing=None, label=[1, 2], connectivity=1)
    assert union.detection["tp"] == 2 and union.settings["label"] == [1, 2]


def test_volume_threshold_and_size_bins():
    ref = np.zeros((10, 20), np.uint8)
    ref[1:3, 1:3] = 1  # 4 voxels = 8 mm^2, below the threshold
    ref[5:9, 2:6] = 1  # 16 voxels = 32 mm^2, found
    ref[5:9, 10:16] = 1  # 24 voxels = 48 mm^2, missed
    pred = np.zeros_like(ref)
    pred[1:3, 1:3] = pred[5:9, 2:6] = 1
    report = evaluate_instances(
        ref, pred, spacing=(2.0, 1.0), min_volume_mm3=10, size_bins_mm3=[20, 40]
    )
    assert [(r["status"], r["reference_volume"]) for r in report.per_instance] == [
        ("TP", 32.0),
        ("FN", 48.0),
    ]  # the small lesion and its prediction left out: not an FP
    assert report.prediction_instances[1, 1] == 0
    bins = [
        (b["min_mm3"], b["max_mm3"], b["n_reference"], b["recall"]) for b in report.recall_by_size
    ]
    assert bins[1:] == [(20, 40, 1, 1.0), (40, math.inf, 1, 0.0)] and bins[0][2] == 0


def test_without_spacing_units_are_voxels():
    ref = np.zeros((5, 5, 5), bool)
    ref[1:3, 1:3, 1:3] = True
    report = evaluate_instances(ref, ref, spacing=None)
    assert report.per_instance[0]["reference_volume"] == 8.0
    assert report.units["hd95"] == "voxel" and report.units["reference_volume"] == "voxel^3"
    assert "voxel units" in report.settings["units_note"]


def test_rows_and_dict_are_flat_and_json_ready():
    ref, pred = _split_case()
    report = evaluate_instances(ref, pred, spacing=(1, 1))
    rows = report.to_rows()
    assert list(rows[0]) == [
        "status", "reference_id", "prediction_id", "reference_volume", "prediction_volume",
        "iou", "dice", "hd95", "masd", "center_distance", "centroid_y", "centroid_x",
    ]  # fmt: skip
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["per_instance"][1]["iou"] is None  # the FP's undefined IoU
    assert data["settings"]["matching_rule"] == INSTANCE_MATCHINGS["iou"]


def test_the_generator_reports_progress_and_the_same_result():
    ref, pred = _split_case()
    gen = iter_evaluate_instances(ref, pred, spacing=(1, 1))
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        report = stop.value
    assert all(isinstance(e, Progress) for e in events) and events[-1].message == "done"
    plain = evaluate_instances(ref, pred, spacing=(1, 1))
    assert _same(report.per_instance, plain.per_instance)
    assert run_to_completion(iter_evaluate_instances(ref, pred, spacing=(1, 1))).detection == (
        plain.detection
    )


def _same(rows_a, rows_b):
    return json.dumps(rows_a, default=str) == json.dumps(rows_b, default=str)


def test_foreign_byte_order_and_fortran_layout_score_like_native():
    case = make_lesion_case(seed=3, shape=(16, 20, 20), n_lesions=4)
    ref, pred = case.reference_ids, case.prediction_ids
    odd = [np.asfortranarray(a.astype(">i4")) for a in (ref, pred)]
    for kw in ({}, {"instances": "given", "matching": "merge"}):
        a = evaluate_instances(ref, pred, spacing=(1.5, 1, 1), **kw)
        b = evaluate_instances(*odd, spacing=(1.5, 1, 1), **kw)
        assert _same(a.per_instance, b.per_instance) and a.detection == b.detection


# ---- the BraTS-2023 preset by hand -----------------------------------------------------------


def test_brats_preset_by_hand():
    ref = np.zeros((20, 30, 30), np.uint8)
    ref[2:7, 2:7, 2:7] = 3  # 125 mm^3, found
    ref[2:7, 2:7, 9:11] = 3  # 50 mm^3, 2 voxels away: one lesion with the first after dilation
    ref[14:16, 20:22, 20:22] = 3  # 8 mm^3: at most 50, left out with its prediction
    ref[10:14, 20:24, 2:6] = 3  # 64 mm^3, missed
    pred = np.zeros_like(ref)
    pred[2:7, 2:7, 3:8] = 3  # shifted: one voxel short of the first lesion's box
    pred[14:16, 20:22, 20:22] = 3
    pred[17:19, 2:4, 25:27] = 3  # a false positive
    report = evaluate_instances(ref, pred, spacing=(1, 1, 1), label=3, preset="brats2023-gli")
    status = [(r["status"], r["reference_volume"]) for r in report.per_instance]
    assert status == [("TP", 175.0), ("FN", 64.0), ("FP", 0.0)]
    tp, fn, fp = report.per_instance
    assert tp["dice"] == pytest.approx(2 * 100 / (175 + 125))
    assert fn["dice"] == fp["dice"] == 0.0 and fn["hd95"] == fp["hd95"] == 374.0
    d = report.detection
    assert d["lesionwise_dice"] == pytest.approx(tp["dice"] / 3)
    assert d["lesionwise_hd95"] == pytest.approx((tp["hd95"] + 2 * 374) / 3)
    assert d["legacy_dice"] == pytest.approx(2 * 108 / (247 + 141))
    assert report.settings["surface"] == "surfel" and report.settings["dilation_iterations"] == 3
    assert "rachitsaluja/BraTS-2023-Metrics" in report.settings["preset_source"]


def test_brats_preset_on_empty_maps_follows_the_script():
    empty = np.zeros((6, 6, 6), np.uint8)
    d = evaluate_instances(empty, empty, spacing=(1, 1, 1), preset="brats2023-met").detection
    assert (d["lesionwise_dice"], d["lesionwise_hd95"], d["legacy_dice"], d["legacy_hd95"]) == (
        1.0,
        0.0,
        1.0,
        0.0,
    )


def test_presets_are_documented_with_their_source():
    assert set(INSTANCE_PRESETS) == {f"brats2023-{c}" for c in ("gli", "ssa", "men", "ped", "met")}
    assert all("rachitsaluja/BraTS-2023-Metrics" in text for text in INSTANCE_PRESETS.values())
    assert (
        "1 iterations" in INSTANCE_PRESETS["brats2023-met"]
        and "2 mm^3" in INSTANCE_PRESETS["brats2023-met"]
    )


# ---- panoptica's values on generated lesion maps ---------------------------------------------


def _pair_row(report, row, spacing):
    """Our row in panoptica's columns; HD and its pooled HD95 from the same surface distances."""
    ids = [int(p) for p in str(row.get("prediction_ids", row["prediction_id"])).split()]
    ref = report.reference_instances == row["reference_id"]
    sd = compute_surface_distances(ref, np.isin(report.prediction_instances, ids), spacing=spacing)
    assert row["hd95"] == sd.hausdorff(percentile=95)
    pooled = float(
        np.percentile(np.hstack([sd.distances_ref_to_pred, sd.distances_pred_to_ref]), 95)
    )
    return [row["reference_volume"], row["iou"], row["dice"], row["masd"], sd.hausdorff(), pooled]


@pytest.mark.parametrize("case", PANOPTICA, ids=lambda c: f"seed{c['params']['seed']}")
def test_instance_metrics_equal_panopticas(case):
    lesions = make_lesion_case(**case["params"])
    expected = case["expected"]
    assert checksum(lesions) == expected["checksum"], "the generator draws other maps now"
    given = case["instances"] == "given"
    ref, pred = (
        (lesions.reference_ids, lesions.prediction_ids) if given
        else (lesions.reference, lesions.prediction)
    )  # fmt: skip
    report = evaluate_instances(
        ref,
        pred,
        spacing=case["spacing"],
        instances=case["instances"],
        connectivity=None if given else case["connectivity"],
        matching=case["matching"],
        iou_threshold=case["iou_threshold"],
        size_bins_mm3=case["size_bins_mm3"],
    )
    d = report.detection
    assert (d["tp"], d["fp"], d["fn"]) == (expected["tp"], expected["fp"], expected["fn"])
    for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("rq", "rq")):
        assert _close(d[ours], expected[theirs])
    if d["tp"]:
        assert _close(d["sq"], expected["sq"]) and _close(d["pq"], expected["pq"])
    else:  # panoptica has no zero-TP rule for them; by definition PQ is 0, SQ undefined
        assert d["pq"] == 0.0 and math.isnan(d["sq"])
    ours = sorted(
        _pair_row(report, r, case["spacing"]) + [r["center_distance"]] for r in _rows(report, "TP")
    )
    theirs = sorted(expected["matched"])
    # panoptica: volume, IoU, Dice, ASSD (= our MASD), HD, HD95 (pooled), centre distance
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert all(_close(x, y) for x, y in zip(a, b, strict=True)), (a, b)
    fn_volumes = sorted(r["reference_volume"] for r in _rows(report, "FN"))
    assert all(
        _close(a, b) for a, b in zip(fn_volumes, expected["unmatched_volumes"], strict=True)
    )
    recall = [b["recall"] for b in report.recall_by_size]
    assert all(_close(a, b) for a, b in zip(recall, expected["recall_by_size"], strict=True))


def test_the_panoptica_cases_cover_every_mode():
    modes = {(len(c["params"]["shape"]), c["matching"], c["instances"]) for c in PANOPTICA}
    assert len(PANOPTICA) >= 30 and len(modes) == 12


# ---- the BraTS-2023 lesion-wise script's values ------------------------------------------------

BRATS_REGIONS = [(case, region) for case in BRATS for region in ("WT", "TC", "ET")]


@pytest.mark.parametrize(
    ("case", "region"),
    BRATS_REGIONS,
    ids=[f"{c['challenge']}-seed{c['params']['seed']}-{r}" for c, r in BRATS_REGIONS],
)
def test_brats_preset_reproduces_the_published_script(case, region):
    lesions = make_lesion_case(**case["params"])
    assert checksum(lesions) == case["expected"]["checksum"], "the generator draws other maps now"
    expected = case["expected"]["regions"][region]
    report = evaluate_instances(
        lesions.reference,
        lesions.prediction,
        spacing=case["spacing"],
        label=expected["labels"],
        preset=f"brats2023-{case['challenge']}",
    )
    d = report.detection
    counts = (d["tp"], d["fp"], d["fn"])
    assert counts == (expected["num_tp"], expected["num_fp"], expected["num_fn"])
    for key in ("lesionwise_dice", "lesionwise_hd95", "legacy_dice", "legacy_hd95"):
        assert _close(d[key], expected[key], rel=1e-7), key
    # the script lists every lesion; lesions at or below the threshold leave our report
    threshold = report.settings["min_volume_mm3"]
    theirs = [
        [vol, dice, 374.0 if hd is None else hd, hits]
        for vol, dice, hd, hits in expected["lesions"]
        if vol > threshold
    ]
    ours = sorted(
        [r["reference_volume"], r["dice"], r["hd95"], len(r["prediction_ids"].split())]
        for r in _rows(report)
        if r["status"] != "FP"
    )
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert all(_close(x, y, rel=1e-7) for x, y in zip(a, b, strict=True)), (a, b)


# ---- the public dialect ------------------------------------------------------------------------

MASKS = (np.pad(np.ones((3, 3, 3), np.uint8), 2), np.pad(np.ones((3, 3, 3), np.uint8), 2))
CALLS = {
    "evaluate_instances": (
        evaluate_instances,
        MASKS,
        {
            "spacing": (1.0, 1.0, 1.0),
            "label": 1,
            "instances": "components",
            "connectivity": 2,
            "matching": "merge",
            "iou_threshold": 0.5,
            "size_bins_mm3": [1.0, 10.0],
            "min_volume_mm3": 0.0,
            "preset": None,
            "surface": "surfel",
        },
    ),
}


@pytest.mark.parametrize(("name", "slot", "label"), list(hostile_cases(CALLS)))
def test_a_hostile_argument_gets_a_clear_error(name, slot, label):
    assert_clear_error(CALLS, name, slot, label)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "brats2023-gli", "matching": "merge"}, "`matching` is set by `preset`"),
        ({"preset": "brats2023-gli", "surface": "surfel"}, "`surface` is set by `preset`"),
        ({"preset": "brats2023-xyz"}, "`preset` must be one of"),
        ({"instances": "given", "label": 1}, "`label` selects"),
        ({"size_bins_mm3": [10, 5]}, "`size_bins_mm3` must increase"),
        ({"iou_threshold": 1.5}, "`iou_threshold` must lie in"),
        ({"connectivity": 4}, "`connectivity` must be 1"),
        ({"label": 0}, "`label` must be a positive"),
    ],
)
def test_invalid_options_are_refused_naming_them(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        evaluate_instances(*MASKS, spacing=(1, 1, 1), **kwargs)


def test_refusals_of_inputs():
    flat = np.ones((4, 4), np.uint8)
    with pytest.raises(ValueError, match="defined for 3-D"):
        evaluate_instances(flat, flat, spacing=(1, 1), preset="brats2023-men")
    with pytest.raises(ValueError, match="`reference` has shape"):
        evaluate_instances(flat, np.ones((4, 5), np.uint8), spacing=(1, 1))
    with pytest.raises(ValueError, match=r"below 2\*\*31"):
        evaluate_instances(flat.astype(np.int64) << 40, flat, spacing=None, instances="given")
    with pytest.raises(TypeError):
        evaluate_instances(flat, flat, (1, 1))
