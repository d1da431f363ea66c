"""Run panoptica on generated lesion maps: read the cases (JSON) on stdin, print its values.

Runs inside panoptica's own virtual environment (see make_peer_venvs.sh), from the repository
root; the maps come from ``tests.instance_cases`` (numpy only). Not part of the package.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from panoptica import (  # noqa: E402
    ConnectedComponentsInstanceApproximator,
    InputType,
    MaxBipartiteMatching,
    Metric,
    NaiveThresholdMatching,
    Panoptica_Evaluator,
)
from panoptica.instance_matcher import MaximizeMergeMatching  # noqa: E402
from panoptica.utils.citation_reminder import disable_citation_reminder  # noqa: E402
from tests.instance_cases import checksum, make_lesion_case  # noqa: E402

METRICS = [Metric.IOU, Metric.DSC, Metric.ASSD, Metric.HD, Metric.HD95, Metric.CEDI]
MATCHERS = {
    "iou": NaiveThresholdMatching,
    "assignment": MaxBipartiteMatching,
    "merge": MaximizeMergeMatching,
}


def _number(value):
    value = float(value)
    return value if np.isfinite(value) else None


def evaluate(case: dict) -> dict:
    """Panoptica's detection counts, per-instance rows and recall by volume for one case."""
    lesions = make_lesion_case(**case["params"])
    given = case["instances"] == "given"
    if given:
        ref, pred, kind = (
            lesions.reference_ids,
            lesions.prediction_ids,
            InputType.UNMATCHED_INSTANCE,
        )
    else:
        ref = (lesions.reference != 0).astype(np.uint8)
        pred = (lesions.prediction != 0).astype(np.uint8)
        kind = InputType.SEMANTIC

    def run(metrics):
        evaluator = Panoptica_Evaluator(
            expected_input=kind,
            instance_approximator=None if given else ConnectedComponentsInstanceApproximator(),
            instance_matcher=MATCHERS[case["matching"]](matching_threshold=case["iou_threshold"]),
            instance_metrics=metrics,
            decision_metric=None,
        )
        out = evaluator.evaluate(pred, ref, voxelspacing=tuple(case["spacing"]), verbose=False)
        return out["ungrouped"]

    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result = run(METRICS)
    except NotImplementedError:  # no match: panoptica has no zero-TP rule for HD or CEDI
        result = run([Metric.IOU, Metric.DSC])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows = result.to_dict(output_individual_instance_metrics=True)["reference_instances"]
    keys = ("volume", "sq", "sq_dsc", "sq_assd", "sq_hd", "sq_hd95", "sq_cedi")  # sq: IoU
    matched = [[_number(r[k]) for k in keys] for r in rows if r["is_matched"]]
    return {
        "checksum": checksum(lesions),
        "tp": int(result.tp),
        "fp": int(result.fp),
        "fn": int(result.fn),
        "precision": _number(result.prec) if result.tp + result.fp else None,
        "recall": _number(result.rec) if result.tp + result.fn else None,
        "rq": _number(result.rq),
        "sq": _number(result.sq) if result.tp else None,
        "pq": _number(result.pq) if result.tp else None,
        "matched": matched,
        "matched_columns": list(keys),
        "unmatched_volumes": sorted(float(r["volume"]) for r in rows if not r["is_matched"]),
        "recall_by_size": [
            _number(v) if v == v else None
            for v in result.recall_by_volume(case["size_bins_mm3"]).values()
        ],
        # run time (the benchmark reads it; the committed test data leave it out)
        "seconds": wall,
        "cpu_seconds": cpu,
    }


def main() -> None:
    """Evaluate the cases read from stdin; print the values as JSON."""
    disable_citation_reminder()
    cases = json.load(sys.stdin)
    out = {
        "peer": {"panoptica": version("panoptica"), "numpy": np.__version__},
        "results": [evaluate(case) for case in cases],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
