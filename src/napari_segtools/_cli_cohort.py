r"""``napari-segtools evaluate REF --methods A/ B/ ...``: several methods scored as one cohort.

Each method folder is paired with the reference folder by file name (the method's name is its
folder's name) and every (method, case) pair is one dask task of
:func:`napari_segtools._cli_evaluate.evaluate_case`. The per-case CSV gains a ``method``
column; beside it go ``<out>.summary.csv`` (per method and label: mean, SD, median, IQR and
intervals), ``<out>.comparison.csv`` (paired differences of every pair of methods, or of each
method against ``--baseline``) and ``<out>.ranking.csv`` (methods ranked on ``--rank-by``),
each headed by ``# key: value`` lines with the settings and the software version. Example::

    napari-segtools evaluate refs/ --methods unet/ atlas/ threshold/ --images images/ \
        --out cohort.csv --baseline atlas
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

from ._cli_dask import run_dask

#: suffix of an image beside its labels in nnU-Net's naming (``case_0000.nii.gz``)
_CHANNEL_SUFFIX = "_0000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the cohort options of ``evaluate`` to ``parser``."""
    group = parser.add_argument_group("cohort: several methods against one reference folder")
    group.add_argument(
        "--methods",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="one prediction folder per method (instead of PRED); a method is named for its "
        "folder; writes the summary, comparison and ranking files beside --out",
    )
    group.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="folder of the cases' images (same file names, or nnU-Net's NAME_0000), recorded "
        "in the CSV so the Cohort view can open a case's image",
    )
    group.add_argument(
        "--baseline",
        metavar="METHOD",
        help="compare each method with this one (default: every pair of methods)",
    )
    group.add_argument(
        "--rank-by",
        default="dice",
        metavar="METRIC",
        help="metric the methods are ranked on (default dice)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the bootstrap and permutation resampling (default 0)",
    )


def method_names(methods: list[Path]) -> list[str]:
    """Each method folder's name, refusing two folders of the same name."""
    names = [Path(os.path.abspath(folder)).name for folder in methods]
    for name, folder in zip(names, methods, strict=True):
        if not folder.is_dir():
            raise ValueError(f"--methods: {folder} is not a folder")
        if names.count(name) > 1:
            raise ValueError(
                f"--methods: two folders are named {name!r}; method names must differ"
            )
    return names


def pair_cohort(args: argparse.Namespace) -> list[tuple[str, str, Path, Path | None]]:
    """Pair the cases: ``(method, case name, reference file, prediction file or None)``.

    Without ``--methods`` the method is ``""`` and REF/PRED are paired as before.
    """
    from ._cli_evaluate import pair_cases

    if args.methods is None:
        if args.prediction is None:
            raise ValueError("give PRED (a file or folder) or --methods DIR [DIR ...]")
        for flag in ("images", "baseline"):
            if getattr(args, flag) is not None:
                raise ValueError(f"--{flag} needs --methods")
        return [("", *case) for case in pair_cases(args.reference, args.prediction)]
    if args.prediction is not None:
        raise ValueError("give PRED or --methods, not both")
    if not args.reference.is_dir():
        raise ValueError("with --methods, REF must be the folder of reference files")
    names = method_names(args.methods)
    check_rank_by(args)
    if args.baseline is not None and args.baseline not in names:
        raise ValueError(f"--baseline {args.baseline!r} is not one of the methods {names}")
    if args.images is not None and not args.images.is_dir():
        raise ValueError(f"--images: {args.images} is not a folder")
    return [
        (method, *case)
        for method, folder in zip(names, args.methods, strict=True)
        for case in pair_cases(args.reference, folder)
    ]


def find_images(images: Path, names) -> dict[str, str]:
    """Absolute path of each case's image in ``images`` (``""`` where there is none)."""
    from ._cli_evaluate import _image_name

    found = {_image_name(p): p for p in images.iterdir() if _image_name(p)}
    paths = {}
    for name in names:
        path = found.get(name) or found.get(name + _CHANNEL_SUFFIX)
        paths[name] = os.path.abspath(path) if path is not None else ""
    return paths


def run_settings(args: argparse.Namespace) -> dict:
    """Return the inputs of a run for the CSV header: PRED, or the methods and images."""
    if args.methods is None:
        return {"prediction": str(args.prediction)}
    return {
        "methods": method_names(args.methods),
        "method_folders": [str(folder) for folder in args.methods],
        "images": None if args.images is None else str(args.images),
    }


def output_paths(out: Path) -> dict[str, Path]:
    """Return the files written beside the per-case CSV ``out``: summary, comparison, ranking."""
    stem = out.name[: -len(".csv")] if out.name.lower().endswith(".csv") else out.name
    return {
        kind: out.with_name(f"{stem}.{kind}.csv") for kind in ("summary", "comparison", "ranking")
    }


def method_order(table) -> list[str]:
    """Return a ``CohortTable``'s methods in the order ``--methods`` gave them (its header)."""
    given = table.settings.get("methods")
    given = [m for m in given if m in table.methods] if isinstance(given, list) else []
    return given + [m for m in table.methods if m not in given]


def method_pairs(methods: list[str], baseline: str | None) -> list[tuple[str, str]]:
    """``(method_a, method_b)`` compared: each method against ``baseline``, or every pair."""
    if baseline is not None:
        return [(baseline, method) for method in methods if method != baseline]
    return list(itertools.combinations(methods, 2))


def check_rank_by(args: argparse.Namespace) -> None:
    """Refuse a ``--rank-by`` metric before any case is computed."""
    from napari_segtools.core.cohort.table import higher_is_better
    from napari_segtools.core.metrics import metric_names

    columns = metric_names(hd_percentile=args.percentile)
    if args.rank_by not in columns:
        raise ValueError(f"--rank-by {args.rank_by!r} is not a column; give one of {columns}")
    try:
        higher_is_better(args.rank_by)
    except ValueError as exc:
        raise ValueError(f"--rank-by: {exc}") from None


def _combine(results: dict[tuple, object], attribute: str, keys: tuple[str, ...]) -> list[dict]:
    """Rows of several results' ``attribute`` table, each prefixed by its key columns."""
    return [
        dict(zip(keys, key, strict=True)) | row
        for key, result in results.items()
        for row in getattr(result, attribute)
    ]


def _shared_settings(results: dict[tuple, object], drop: tuple[str, ...]) -> dict:
    """Return the first result's settings without the keys that differ between results."""
    first = next(iter(results.values())).settings
    return {key: value for key, value in first.items() if key not in drop}


def _rank(table, metric: str, label: int, seed: int):
    """:func:`rank_methods` on one label, or the reason it cannot rank it (a str)."""
    from napari_segtools.core.cohort.ranking import rank_methods

    try:
        return rank_methods(table, metric=metric, label=label, seed=seed)
    except ValueError as exc:  # e.g. no case with a value for every method
        return str(exc)


def write_cohort_files(out: Path, args: argparse.Namespace) -> list[Path]:
    """Write the summary, comparison and ranking files of the per-case CSV ``out``.

    Every (method pair) comparison goes in one file with ``method_a``/``method_b`` columns
    (its Bland-Altman and influential-case tables beside it, as ``compare_paired`` writes
    them); every label's ranking on ``args.rank_by`` in one file with a ``label`` column.
    The summary, each comparison and each ranking are dask tasks on the scheduler that
    evaluated the cases (``args.scheduler`` / ``args.workers``): at 1,000 cases each takes
    tens of seconds (bootstrap and permutation resamples). Returns the files written.
    """
    import dask

    from napari_segtools.core.cohort.paired import compare_paired
    from napari_segtools.core.cohort.summary import summarize
    from napari_segtools.core.cohort.table import read_cohort_table, write_rows_csv

    table = read_cohort_table(out)  # here too: its methods and labels shape the tasks
    paths = output_paths(out)
    pairs = method_pairs([m for m in method_order(table) if m], args.baseline)
    labels = table.labels if pairs else ()  # one method: nothing to compare or rank
    shared = dask.delayed(read_cohort_table)(out)  # read once more, where the tasks run
    tasks = [dask.delayed(summarize)(shared, seed=args.seed)]
    tasks += [
        dask.delayed(compare_paired)(shared, method_a=a, method_b=b, seed=args.seed)
        for a, b in pairs
    ]
    tasks += [dask.delayed(_rank)(shared, args.rank_by, label, args.seed) for label in labels]
    summary, *results = run_dask(tasks, args)
    written = [summary.write_csv(paths["summary"])]
    if not pairs:
        return written
    compared = dict(zip(pairs, results[: len(pairs)], strict=True))
    settings = _shared_settings(compared, ("method_a", "method_b")) | {
        "pairs": [list(pair) for pair in pairs],
        "baseline": args.baseline,
        "multiple_comparisons": "Holm within each pair of methods, over its metric x label "
        "rows; none across pairs",
    }
    stem = paths["comparison"].with_suffix("")
    keys = ("method_a", "method_b")
    for path, attribute in (
        (paths["comparison"], "rows"),
        (Path(f"{stem}_bland_altman.csv"), "bland_altman"),
        (Path(f"{stem}_influential.csv"), "influential"),
    ):
        written.append(write_rows_csv(path, _combine(compared, attribute, keys), settings))
    outcomes = dict(zip(labels, results[len(pairs) :], strict=True))
    ranked = {(lb,): r for lb, r in outcomes.items() if not isinstance(r, str)}
    unranked = {lb: r for lb, r in outcomes.items() if isinstance(r, str)}
    if not ranked:
        raise ValueError(f"no label could be ranked on {args.rank_by}: {unranked}")
    rows = []
    for (label,), ranking in ranked.items():  # each row with its bootstrap stability
        stable = {(s["scheme"], s["method"]): s for s in ranking.stability}
        rows += [
            {"label": label} | row | stable.get((row["scheme"], row["method"]), {})
            for row in ranking.rows
        ]
    settings = _shared_settings(ranked, ("label", "n_cases", "cases_dropped")) | {
        "labels": list(table.labels),
        "significance": {label: r.significance for (label,), r in ranked.items()},
        "cases_dropped": {label: r.settings["cases_dropped"] for (label,), r in ranked.items()},
        "labels_not_ranked": unranked,
    }
    written.append(write_rows_csv(paths["ranking"], rows, settings))
    return written
