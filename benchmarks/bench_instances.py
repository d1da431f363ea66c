"""Benchmark ``evaluate_instances`` against panoptica on a 512x512x300 map with 200 lesions.

Both evaluate the same generated reference/prediction (``tests.instance_cases``, 200 reference
lesions of 3-12 voxel radius, misses, splits, merges, false positives) on the same settings:
26-connected components, one-to-one IoU >= 0.5 matching, per-instance IoU, Dice, HD95, ASSD/MASD
and centre distance. panoptica runs in its own virtual environment (its pins clash with ours),
in a subprocess that redraws the same maps from the same seed; only its ``evaluate`` call is
timed. Printed: wall and CPU seconds of each (the CPU figure is what a busy machine cannot
inflate), the speed-up, and the detection counts of both (they must agree). A BraTS-2023 preset
run (whole tumour) is timed too. Without the panoptica environment, ours is timed alone and
the command that builds it is printed.

    python benchmarks/bench_instances.py [--panoptica-python /tmp/peer-panoptica/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the generated cases are test support, kept out of the wheel: tests/instance_cases.py
sys.path.insert(0, str(ROOT))
from tests.instance_cases import make_lesion_case  # noqa: E402

from napari_segtools.core.metrics.instances import evaluate_instances  # noqa: E402

PARAMS = {
    "seed": 0,
    "shape": [300, 512, 512],  # numpy order: 512 x 512 x 300 in x-y-z
    "n_lesions": 200,
    "radius_voxels": [3.0, 12.0],
    "false_positives": 20,
}
SPACING = [1.5, 0.9, 0.9]
CASE = {
    "params": PARAMS,
    "spacing": SPACING,
    "instances": "components",
    "connectivity": 3,
    "matching": "iou",
    "iou_threshold": 0.5,
    "size_bins_mm3": [100.0, 1000.0],
}


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_panoptica(python: str) -> dict | None:
    if not Path(python).exists():
        print(
            f"panoptica: no environment at {python}; build it with "
            "`bash tools/peers/make_peer_venvs.sh` (or pass --panoptica-python). Ours only."
        )
        return None
    done = subprocess.run(
        [python, str(ROOT / "tools" / "peers" / "peer_panoptica.py")],
        input=json.dumps([CASE]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode:
        print(f"panoptica failed:\n{done.stderr[-2000:]}")
        return None
    out = json.loads(done.stdout)
    return {**out["results"][0], "version": out["peer"]["panoptica"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panoptica-python", default="/tmp/peer-panoptica/bin/python")
    args = parser.parse_args()
    lesions = make_lesion_case(**PARAMS)
    print(f"map {tuple(PARAMS['shape'])} (numpy order), spacing {SPACING} mm, 200 lesions")
    report, wall, cpu = timed(
        lambda: evaluate_instances(
            lesions.reference,
            lesions.prediction,
            spacing=SPACING,
            size_bins_mm3=CASE["size_bins_mm3"],
        )
    )
    d = report.detection
    counts = (d["tp"], d["fp"], d["fn"])
    print(
        f"napari-segtools evaluate_instances: {wall:6.2f} s wall, {cpu:6.2f} s CPU  TP/FP/FN {counts}"
    )
    brats, b_wall, b_cpu = timed(
        lambda: evaluate_instances(
            lesions.reference, lesions.prediction, spacing=SPACING, preset="brats2023-gli"
        )
    )
    b = brats.detection
    print(
        f"napari-segtools preset brats2023-gli: {b_wall:6.2f} s wall, {b_cpu:6.2f} s CPU  "
        f"TP/FP/FN {(b['tp'], b['fp'], b['fn'])}"
    )
    peer = run_panoptica(args.panoptica_python)
    if peer is None:
        return
    theirs = (peer["tp"], peer["fp"], peer["fn"])
    print(
        f"panoptica {peer['version']}:                {peer['seconds']:6.2f} s wall, "
        f"{peer['cpu_seconds']:6.2f} s CPU  TP/FP/FN {theirs}"
    )
    print(
        f"speed-up (panoptica / ours): {peer['seconds'] / wall:.1f}x wall, "
        f"{peer['cpu_seconds'] / cpu:.1f}x CPU; counts {'agree' if theirs == counts else 'DIFFER'}"
    )


if __name__ == "__main__":
    main()
