"""Run the BraTS-2023 lesion-wise script on generated cases: cases (JSON) on stdin, values out.

Runs inside the script's own virtual environment (see make_peer_venvs.sh), from the repository
root, with ``BRATS2023_METRICS_DIR`` naming a checkout of rachitsaluja/BraTS-2023-Metrics (its
``metrics.py`` and bundled ``surface_distance``). Each case is written as two NIfTI files with
the case's spacing as voxel size, since the script reads files; the maps come from
``tests.instance_cases``. Not part of the package.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, os.environ.get("BRATS2023_METRICS_DIR", "/tmp/peer-brats/BraTS-2023-Metrics"))
import metrics as brats  # noqa: E402
from tests.instance_cases import checksum, make_lesion_case  # noqa: E402

#: the script's regions and the BraTS labels each one joins
REGIONS = {"WT": [1, 2, 3], "TC": [1, 3], "ET": [3]}
CHALLENGES = {"gli": "BraTS-GLI", "ssa": "BraTS-SSA", "men": "BraTS-MEN", "ped": "BraTS-PED"}
CHALLENGES["met"] = "BraTS-MET"
DILATION = {"gli": 3, "ssa": 3, "men": 1, "ped": 3, "met": 1}


def _number(value):
    value = float(value)
    return value if np.isfinite(value) else None


def evaluate(case: dict, folder: Path) -> dict:
    """Return the script's per-lesion values and case scores for each region of one case."""
    lesions = make_lesion_case(**case["params"])
    affine = np.diag([*case["spacing"], 1.0])
    gt, pred = folder / "gt.nii.gz", folder / "pred.nii.gz"
    nib.save(nib.Nifti1Image(lesions.reference.astype(np.float32), affine), gt)
    nib.save(nib.Nifti1Image(lesions.prediction.astype(np.float32), affine), pred)
    table = brats.get_LesionWiseResults(str(pred), str(gt), CHALLENGES[case["challenge"]])
    regions = {}
    for region in REGIONS:
        out = brats.get_LesionWiseScores(str(pred), str(gt), region, DILATION[case["challenge"]])
        metric_pairs = out[4]
        row = table[table["Labels"] == region].iloc[0]
        regions[region] = {
            "labels": REGIONS[region],
            "num_tp": int(row["Num_TP"]),
            "num_fp": int(row["Num_FP"]),
            "num_fn": int(row["Num_FN"]),
            "lesionwise_dice": _number(row["LesionWise_Score_Dice"]),
            "lesionwise_hd95": _number(row["LesionWise_Score_HD95"]),
            "legacy_dice": _number(row["Legacy_Dice"]),
            "legacy_hd95": _number(row["Legacy_HD95"]),
            # every reference lesion: volume (mm^3), Dice, HD95 (inf: missed), predictions hit
            "lesions": sorted(
                [float(vol), float(dice), _number(hd), len(hits)]
                for hits, _, vol, dice, hd in metric_pairs
            ),
        }
    return {"checksum": checksum(lesions), "regions": regions}


def main() -> None:
    """Evaluate the cases read from stdin; print the values as JSON."""
    warnings.simplefilter("ignore")  # the script's pandas append and scipy namespaces warn
    cases = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as folder:
        results = [evaluate(case, Path(folder)) for case in cases]
    peer = {name: version(name) for name in ("pandas", "numpy", "scipy")}
    peer["connected-components-3d"] = version("connected-components-3d")
    json.dump({"peer": peer, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
