"""``napari-segtools evaluate``: score prediction files against reference files, case by case.

REF and PRED are two image files, or two folders whose images are paired by file name
(NIfTI/NRRD/MetaImage). Spacing comes from the files; each pair's geometry (shape, spacing,
origin, direction) is checked before anything is computed, and a mismatch fails that case
only, with a one-line reason. Cases run in parallel on dask (local processes, or an existing
dask.distributed scheduler with ``--scheduler``). The CSV (and optional JSON) output records
every setting and the surface convention used. Example::

    napari-segtools evaluate refs/ preds/ --tolerance 2 --out report.csv --json report.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", type=Path, help="reference (ground truth) file or folder")
    parser.add_argument(
        "prediction", type=Path, help="prediction file or folder (same file names)"
    )
    parser.add_argument("--out", type=Path, required=True, help="CSV report to write")
    parser.add_argument("--json", type=Path, help="also write the full report as JSON here")
    parser.add_argument(
        "--labels", nargs="+", type=int, help="label ids (default: all non-zero ids found)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1.0,
        metavar="MM",
        help="NSD tolerance in mm (default 1)",
    )
    parser.add_argument(
        "--empty", choices=["nan", "worst"], default="nan", help="empty-mask policy (default nan)"
    )
    parser.add_argument(
        "--beta", type=float, default=1.0, help="beta of the F-beta score (default 1)"
    )
    parser.add_argument(
        "--percentile",
        type=float,
        default=95.0,
        help="robust Hausdorff percentile reported as hd95 (default 95)",
    )
    parser.add_argument(
        "--surface",
        choices=["voxel", "surfel"],
        default="voxel",
        help="surface convention (default voxel)",
    )
    parser.add_argument(
        "--no-cldice",
        action="store_true",
        help="skip clDice (3-D skeletons are slow on large structures)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local worker processes (default: all cores)",
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="address of a running dask.distributed scheduler"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")  # fmt: skip


def _image_name(path: Path) -> str | None:
    """File name without its image ending, or None for a non-image file."""
    lower = path.name.lower()
    suffix = next((s for s in _SUFFIXES if lower.endswith(s)), None)
    return path.name[: -len(suffix)] if suffix else None


def pair_cases(reference: Path, prediction: Path) -> list[tuple[str, Path, Path | None]]:
    """``(case name, reference file, prediction file or None)`` for two files or two folders."""
    for path, what in ((reference, "reference"), (prediction, "prediction")):
        if not path.exists():
            raise FileNotFoundError(f"{what} path {path} does not exist")
    if reference.is_file() and prediction.is_file():
        return [(_image_name(reference) or reference.name, reference, prediction)]
    if not (reference.is_dir() and prediction.is_dir()):
        raise ValueError("REF and PRED must be two files or two folders; got one of each")
    preds = {_image_name(p): p for p in prediction.iterdir() if _image_name(p)}
    refs = sorted((n, p) for p in reference.iterdir() if (n := _image_name(p)))
    if not refs:
        raise ValueError(f"no image files ({', '.join(_SUFFIXES)}) in {reference}")
    return [(name, path, preds.get(name)) for name, path in refs]


def _geometry_problem(ref_shape, ref_geo, pred_shape, pred_geo) -> str | None:
    """One line saying how the prediction's grid differs from the reference's, or None."""
    import numpy as np

    if ref_shape != pred_shape:
        return f"prediction shape {pred_shape} differs from reference shape {ref_shape}"
    for field in ("spacing", "origin", "direction"):
        a, b = np.asarray(getattr(ref_geo, field)), np.asarray(getattr(pred_geo, field))
        if not np.allclose(a, b, rtol=1e-5, atol=1e-5):
            return (
                f"prediction {field} {b.round(6).tolist()} differs from reference {field} "
                f"{a.round(6).tolist()}; resample the prediction onto the reference grid first"
            )
    return None


def evaluate_case(name: str, reference: Path, prediction: Path | None, options: dict) -> dict:
    """Read, check and evaluate one case; expected failures become an ``error`` string."""
    from napari_segtools.core.io import read_image
    from napari_segtools.core.metrics import evaluate

    out = {"name": name, "reference": str(reference), "prediction": str(prediction)}
    try:
        if prediction is None:
            raise ValueError(f"no prediction file named like {reference.name}")
        ref, ref_geo = read_image(reference)
        pred, pred_geo = read_image(prediction)
        problem = _geometry_problem(ref.shape, ref_geo, pred.shape, pred_geo)
        if problem:
            raise ValueError(problem)
        report = evaluate(ref, pred, spacing=ref_geo.spacing, **options)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        return {**out, "error": str(exc)}
    return {**out, "error": "", "report": report}


def _run_dask(tasks, args) -> list[dict]:
    import dask

    if args.scheduler:
        try:
            from distributed import Client, progress
        except ImportError as exc:
            raise ValueError(
                "--scheduler needs the `distributed` package (pip install distributed)"
            ) from exc
        with Client(args.scheduler) as client:
            futures = client.compute(tasks)
            if not args.quiet:
                progress(futures)
            return client.gather(futures)
    from contextlib import nullcontext

    from dask.diagnostics import ProgressBar

    scheduler = "processes" if args.workers > 1 and len(tasks) > 1 else "synchronous"
    with nullcontext() if args.quiet else ProgressBar(out=sys.stderr):
        return list(dask.compute(*tasks, scheduler=scheduler, num_workers=args.workers))


def _write_outputs(results: list[dict], settings: dict, args) -> None:
    from napari_segtools.core.metrics import METRIC_NAMES, MetricAccumulator
    from napari_segtools.core.metrics.report import json_safe

    acc = MetricAccumulator()
    rows = []
    for res in results:
        if res["error"]:
            rows.append({"name": res["name"], "error": res["error"]})
            continue
        acc.append(res["report"])
        rows += [{"name": res["name"], **row, "error": ""} for row in res["report"].to_rows()]
    means, counts = acc.aggregate("mean")
    rows += [{"name": "mean over cases", "label": lb, **v, "error": ""} for lb, v in means.items()]
    with args.out.open("w", newline="") as fh:
        for key, value in settings.items():
            fh.write(f"# {key}: {json.dumps(value)}\n")
        writer = csv.DictWriter(fh, fieldnames=["name", "label", "case", *METRIC_NAMES, "error"])
        writer.writeheader()
        writer.writerows(rows)
    if args.json:
        payload = {
            "settings": settings,
            "cases": [
                {k: v for k, v in res.items() if k != "report"}
                | (res["report"].to_dict() if "report" in res else {})
                for res in results
            ],
            "mean_over_cases": {str(lb): v for lb, v in means.items()},
            "cases_per_mean": {str(lb): v for lb, v in counts.items()},
        }
        args.json.write_text(json.dumps(json_safe(payload), indent=2, allow_nan=False))


def run(args: argparse.Namespace) -> int:
    import dask

    from napari_segtools import __version__
    from napari_segtools.core.metrics import EMPTY_POLICIES, SURFACE_CONVENTIONS

    cases = pair_cases(args.reference, args.prediction)
    options = {
        "labels": args.labels, "nsd_tolerance": args.tolerance, "beta": args.beta,
        "hd_percentile": args.percentile, "surface": args.surface, "empty": args.empty,
        "cldice": not args.no_cldice,
    }  # fmt: skip
    tasks = [dask.delayed(evaluate_case)(name, r, p, options) for name, r, p in cases]
    results = _run_dask(tasks, args)
    settings = {
        "software": f"napari-segtools {__version__}",
        "reference": str(args.reference), "prediction": str(args.prediction),
        **options, "spacing": "read from each reference file (mm)",
        "surface_convention": SURFACE_CONVENTIONS[args.surface],
        "empty_policy": EMPTY_POLICIES[args.empty],
    }  # fmt: skip
    _write_outputs(results, settings, args)
    failed = [r for r in results if r["error"]]
    for res in failed:
        print(f"case {res['name']}: {res['error']}", file=sys.stderr)
    print(
        f"evaluated {len(results) - len(failed)} of {len(results)} cases -> {args.out}",
        file=sys.stderr,
    )
    return 1 if failed else 0
