"""Regenerate the committed peer values of the instance tests: tests/data/instances/*.json.

Defines the generated lesion cases (seeds and parameters only; the maps are redrawn by
``tests.instance_cases.make_lesion_case``), runs each peer in its own virtual environment and
writes what it computed, with the peer's versions:

- ``panoptica.json``: panoptica's detection counts, PQ/SQ/RQ, per-instance IoU, Dice, ASSD, HD,
  HD95 and centre distance, and recall by volume, for all three matchings, connected components
  (26- and 4-connectivity) and given instance maps;
- ``brats2023.json``: the BraTS-2023 lesion-wise script's per-lesion Dice/HD95 and case scores
  (WT, TC, ET) for each challenge's dilation and volume threshold.

Build the environments first (``bash tools/peers/make_peer_venvs.sh``), then run from anywhere:

    python tools/peers/make_instance_expected.py [--panoptica-python PY] [--brats-python PY]
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "instances"
HERE = Path(__file__).resolve().parent


def panoptica_cases() -> list[dict]:
    """36 cases: {2-D, 3-D} x {iou, assignment, merge} x {components, given} x 3 seeds."""
    cases = []
    combos = itertools.product((2, 3), ("iou", "assignment", "merge"), ("components", "given"))
    for n, (ndim, matching, instances) in enumerate(combos):
        for k, threshold in enumerate((0.5, 0.3, 0.1)):
            seed = 100 + 3 * n + k
            params = {"seed": seed, "false_positives": 1 + k}
            if ndim == 3:
                params.update(shape=[24, 40, 40], n_lesions=8)
                spacing, bins, connectivity = [2.0, 0.9, 0.8], [30.0, 100.0, 300.0], 3
            else:
                params.update(shape=[64, 64], n_lesions=12)
                spacing, bins, connectivity = [0.7, 1.1], [10.0, 30.0], 1
            cases.append(
                {
                    "params": params,
                    "spacing": spacing,
                    "instances": instances,
                    # panoptica labels components with cc3d (26) in 3-D, scipy (4) in 2-D
                    "connectivity": connectivity,
                    "matching": matching,
                    "iou_threshold": threshold,
                    "size_bins_mm3": bins,
                }
            )
    return cases


def brats_cases() -> list[dict]:
    """Ten 3-D cases over the five challenges; spacings exact in float32 (NIfTI zooms)."""
    spacings = ([1.0, 1.0, 1.0], [1.25, 0.875, 1.0], [1.0, 1.5, 0.75])
    cases = []
    for i, challenge in enumerate(("gli", "men", "met", "ssa", "ped") * 2):
        wide = challenge in ("gli", "ssa", "ped")  # dilation 3 joins lesions up to ~6 voxels
        params = {"seed": 200 + i, "false_positives": 1 + i % 3}
        params.update(shape=[40, 64, 64] if wide else [32, 48, 48], n_lesions=7 if wide else 8)
        cases.append({"params": params, "spacing": spacings[i % 3], "challenge": challenge})
    return cases


def run_peer(python: str, script: str, cases: list[dict]) -> dict:
    """Run ``script`` with the peer's interpreter from the repository root; return its JSON."""
    done = subprocess.run(
        [python, str(HERE / script)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode:
        sys.exit(f"{script} failed under {python}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def write(name: str, source: str, cases: list[dict], peer: dict) -> None:
    """Write the cases with the peer's values (run times left out) to ``OUT / name``."""
    for case, result in zip(cases, peer["results"], strict=True):
        case["expected"] = {k: v for k, v in result.items() if k not in ("seconds", "cpu_seconds")}
    data = {"source": source, "peer": peer["peer"], "cases": cases}
    path = OUT / name
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(
        f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB, {len(cases)} cases)"
    )


def main() -> None:
    """Run both peers and write their files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panoptica-python", default="/tmp/peer-panoptica/bin/python")
    parser.add_argument("--brats-python", default="/tmp/peer-brats/bin/python")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    cases = panoptica_cases()
    peer = run_peer(args.panoptica_python, "peer_panoptica.py", cases)
    write(
        "panoptica.json",
        "panoptica Panoptica_Evaluator, tools/peers/peer_panoptica.py",
        cases,
        peer,
    )
    cases = brats_cases()
    peer = run_peer(args.brats_python, "peer_brats2023.py", cases)
    source = (
        "BraTS-2023 lesion-wise script (rachitsaluja/BraTS-2023-Metrics, metrics.py at "
        "43c905242b2eecf421d4ab2da7af8ece9777d322), tools/peers/peer_brats2023.py"
    )
    write("brats2023.json", source, cases, peer)


if __name__ == "__main__":
    main()
