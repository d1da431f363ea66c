"""``napari-segtools evaluate``: score prediction files against reference files, case by case.

REF and PRED are two image files, or two folders whose images are paired by file name
(NIfTI/NRRD/MetaImage). Spacing comes from the files; each pair's geometry (shape, spacing,
origin, direction) is checked before anything is computed, and a mismatch fails that case
only, with a one-line reason. Cases run in parallel on dask (local processes, or an existing
dask.distributed scheduler with ``--scheduler``). The CSV (and optional JSON) output records
every setting and the surface convention used. Example::

    napari-segtools evaluate refs/ preds/ --tolerance-mm 2 --out report.csv --json report.json

With ``--methods A/ B/ ...`` instead of PRED, every method folder is scored against REF as one
cohort, and summary, comparison and ranking files are written beside the CSV (see
:mod:`napari_segtools._cli_cohort`).

The robust Hausdorff column is named for its percentile (``hd95`` by default, ``hd90`` with
``--percentile 90``, ``hd99_5`` with ``--percentile 99.5``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import warnings
from pathlib import Path

from . import _cli_cohort
from ._cli_dask import add_dask_arguments, run_dask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `evaluate` options to ``parser``."""
    parser.add_argument("reference", type=Path, help="reference (ground truth) file or folder")
    parser.add_argument(
        "prediction",
        type=Path,
        nargs="?",
        help="prediction file or folder (same file names); or give --methods",
    )
    parser.add_argument("--out", type=Path, required=True, help="CSV report to write")
    parser.add_argument("--json", type=Path, help="also write the full report as JSON here")
    parser.add_argument(
        "--labels", nargs="+", type=int, help="label ids (default: all non-zero ids found)"
    )
    parser.add_argument(
        "--tolerance-mm",
        type=float,
        default=None,
        metavar="MM",
        help="NSD tolerance in mm (default 1)",
    )
    # deprecated spelling, hidden from --help; warns and maps to --tolerance-mm
    parser.add_argument("--tolerance", type=float, default=None, help=argparse.SUPPRESS)
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
        help="robust Hausdorff percentile; its column is named for it: hd95 (default), hd90, "
        "hd99_5",
    )
    parser.add_argument(
        "--hd-variant",
        choices=["directed_max", "pooled"],
        default="directed_max",
        help="robust Hausdorff variant: the larger of the two directed percentiles (default, "
        "MONAI) or the percentile of both directions pooled (medpy hd95, seg-metrics)",
    )
    parser.add_argument(
        "--boundary-band-mm",
        type=float,
        default=1.0,
        metavar="MM",
        help="band width of Boundary IoU in mm (default 1)",
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
    add_dask_arguments(parser)
    _cli_cohort.add_arguments(parser)


def _image_name(path: Path) -> str | None:
    """File name without its image ending, or None for a non-image file (or a DICOM slice)."""
    from napari_segtools.core.io import image_suffix, strip_image_suffix

    return strip_image_suffix(path) if image_suffix(path) not in ("", ".dcm") else None


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
        raise ValueError(f"no image files (NIfTI, NRRD, MetaImage) in {reference}")
    return [(name, path, preds.get(name)) for name, path in refs]


def _geometry_problem(ref_shape, ref_geo, pred_shape, pred_geo) -> str | None:
    """One line saying how the prediction's grid differs from the reference's, or None."""
    from napari_segtools.core.geometry import grid_differences

    diffs = grid_differences(ref_geo, pred_geo, ref_shape, pred_shape)
    if not diffs:
        return None
    return (
        "prediction grid differs from the reference (reference vs prediction): "
        + "; ".join(diffs)
        + "; resample the prediction onto the reference grid first"
    )


def evaluate_case(name: str, reference: Path, prediction: Path | None, options: dict) -> dict:
    """Read, check and evaluate one case; expected failures become an ``error`` string.

    ``options`` are :func:`~napari_segtools.metrics.evaluate` keywords (labels and the
    fields of :class:`~napari_segtools.core.metrics.workflow.EvaluationOptions`).
    """
    from threadpoolctl import threadpool_limits

    from napari_segtools.core.io import read_image
    from napari_segtools.core.metrics import evaluate

    out = {"name": name, "reference": str(reference), "prediction": str(prediction or "")}
    try:
        if prediction is None:
            raise ValueError(f"no prediction file named like {reference.name}")
        ref, ref_geo = read_image(reference)
        pred, pred_geo = read_image(prediction)
        problem = _geometry_problem(ref.shape, ref_geo, pred.shape, pred_geo)
        if problem:
            raise ValueError(problem)
        # one BLAS/OpenMP thread per case: cases already run in parallel, and a reduction's
        # last digits then match on every scheduler (a dask.distributed worker runs with one
        # thread; multi-threaded BLAS sums in another order: assd differed at 1e-15)
        with threadpool_limits(limits=1):
            report = evaluate(ref, pred, spacing=ref_geo.spacing, **options)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        return {**out, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one bad case must never lose the others' rows
        return {**out, "error": f"{type(exc).__name__}: {exc}".rstrip(": ")}
    return {**out, "error": "", "report": report}


def _write_outputs(results: list[dict], settings: dict, args) -> None:
    from napari_segtools.core.metrics import MetricAccumulator, metric_names
    from napari_segtools.core.metrics.report import OVERALL_NAMES, json_safe

    # one block of rows and one mean per method ("" without --methods)
    methods = list(dict.fromkeys(res.get("method", "") for res in results))
    paths = ["reference", "prediction", *(["image"] if args.images is not None else [])]
    rows, means, counts = [], {}, {}
    for method in methods:
        acc = MetricAccumulator()
        tag = {"method": method} if method else {}
        for res in (r for r in results if r.get("method", "") == method):
            # absolute paths, so the Cohort view opens a case from any working folder
            where = {key: os.path.abspath(res[key]) if res[key] else "" for key in paths}
            if res["error"]:
                rows.append({**tag, "name": res["name"], "error": res["error"], **where})
                continue
            acc.append(res["report"])
            rows += [
                {**tag, "name": res["name"], **row, "error": "", **where}
                for row in res["report"].to_rows()
            ]
        means[method], counts[method] = acc.aggregate("mean")
        rows += [
            {**tag, "name": "mean over cases", "label": lb, **v, "error": ""}
            for lb, v in means[method].items()
        ]
    partial = args.out.with_name(f".{args.out.name}.partial")
    with partial.open("w", newline="", encoding="utf-8") as fh:
        for key, value in settings.items():
            fh.write(f"# {key}: {json.dumps(value)}\n")
        names = [*metric_names(hd_percentile=settings["hd_percentile"]), *OVERALL_NAMES]
        columns = ["name", "label", "case", *names, "error", *paths]
        writer = csv.DictWriter(fh, fieldnames=(["method"] if methods != [""] else []) + columns)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(args.out)
    if args.json:

        def by_label(values: dict) -> dict:
            return {str(lb): v for lb, v in values.items()}

        single = methods == [""]
        payload = {
            "settings": settings,
            "cases": [
                {k: v for k, v in res.items() if k != "report"}
                | (res["report"].to_dict() if "report" in res else {})
                for res in results
            ],
            "mean_over_cases": by_label(means[""])
            if single
            else {m: by_label(v) for m, v in means.items()},
            "cases_per_mean": by_label(counts[""])
            if single
            else {m: by_label(v) for m, v in counts.items()},
        }
        args.json.write_text(
            json.dumps(json_safe(payload), indent=2, allow_nan=False), encoding="utf-8"
        )


def _tolerance_mm(args: argparse.Namespace) -> float:
    """``--tolerance-mm``, or the deprecated ``--tolerance`` with a FutureWarning."""
    if args.tolerance is None:
        return 1.0 if args.tolerance_mm is None else args.tolerance_mm
    if args.tolerance_mm is not None:
        raise ValueError("give --tolerance-mm only (--tolerance is its deprecated spelling)")
    warnings.warn(
        "--tolerance is deprecated, use --tolerance-mm; the old spelling goes away in 0.3",
        FutureWarning,
        stacklevel=2,
    )
    return args.tolerance


def run(args: argparse.Namespace) -> int:
    """Evaluate every case of ``args`` and write the CSV (and JSON); 1 when a case failed."""
    import dask

    from napari_segtools import __version__
    from napari_segtools.core.io import check_writable
    from napari_segtools.core.metrics import EMPTY_POLICIES, SURFACE_CONVENTIONS, hd_key
    from napari_segtools.core.metrics.report import AGGREGATION
    from napari_segtools.core.metrics.surface import HD_VARIANTS
    from napari_segtools.core.metrics.workflow import EvaluationOptions

    beside = _cli_cohort.output_paths(args.out).values() if args.methods is not None else ()
    for target in (args.out, args.json, *beside):  # before any case is computed
        if target is not None:
            check_writable(target)
    cases = _cli_cohort.pair_cohort(args)
    evaluation = EvaluationOptions(
        nsd_tolerance_mm=_tolerance_mm(args),
        beta=args.beta,
        hd_percentile=args.percentile,
        hd_variant=args.hd_variant,
        boundary_band_mm=args.boundary_band_mm,
        surface=args.surface,
        empty=args.empty,
        cldice=not args.no_cldice,
    )
    options = {"labels": args.labels, **evaluation.as_kwargs()}
    tasks = [dask.delayed(evaluate_case)(name, r, p, options) for _, name, r, p in cases]
    results = run_dask(tasks, args)
    for (method, *_), res in zip(cases, results, strict=True):
        if method:
            res["method"] = method
    if args.images is not None:
        images = _cli_cohort.find_images(args.images, {res["name"] for res in results})
        for res in results:
            res["image"] = images[res["name"]]
    settings = {
        "software": f"napari-segtools {__version__}",
        "reference": str(args.reference),
        **_cli_cohort.run_settings(args),
        **options,
        "hd_key": hd_key(args.percentile),
        "spacing": "read from each reference file (mm)",
        "surface_convention": SURFACE_CONVENTIONS[args.surface],
        "hd_variant_definition": HD_VARIANTS[args.hd_variant],
        "aggregation": AGGREGATION,
        "empty_policy": EMPTY_POLICIES[args.empty],
    }
    _write_outputs(results, settings, args)
    failed = [r for r in results if r["error"]]
    for res in failed:
        method = f"{res['method']} " if "method" in res else ""
        print(f"case {method}{res['name']}: {res['error']}", file=sys.stderr)
    print(
        f"evaluated {len(results) - len(failed)} of {len(results)} cases -> {args.out}",
        file=sys.stderr,
    )
    if args.methods is not None:
        written = _cli_cohort.write_cohort_files(args.out, args)
        print("cohort statistics -> " + ", ".join(map(str, written)), file=sys.stderr)
    return 1 if failed else 0
