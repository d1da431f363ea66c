r"""``napari-segtools classify``: apply a saved voxel classifier to many images, case by case.

INPUTS are image files, folders (every NIfTI/NRRD/MetaImage file in them) or quoted glob patterns.
Each case gives one label file in ``--out``, named ``<case><suffix>`` (``_classes.nii.gz`` by
default), on the grid of its input file: the file is read as stored, without reorientation, so
the labels overlay the input in any viewer. Example::

    napari-segtools classify bone.skops scans/ --out labels/ --workers 4 --summary summary.csv

**Several contrasts per case.** A classifier trained on several images (say T1 and T2) takes one
``--channel NAME=PATTERN`` per contrast, in the training order. Each PATTERN is a file name with
one ``*``; what the ``*`` matches is the case id, and the files of one case share it. INPUTS are
then the folders to search::

    napari-segtools classify brain.skops data/ --out labels/ \
        --channel t1='*_T1.nii.gz' --channel t2='*_T2.nii.gz'

finds ``data/001_T1.nii.gz`` and ``data/001_T2.nii.gz`` as case ``001`` and writes
``labels/001_classes.nii.gz``. The contrasts of a case must share one voxel grid.

**Spacing.** Features are computed at scales in mm, so a case need not have the training spacing.
A case whose voxel size differs from the classifier's by more than a factor 2 on some axis is
still classified, with a warning in the summary: fine structures seen at another resolution
have other partial-volume intensities than the scribbled ones.

**Safety and failures.** A classifier file holding types outside the safe allow-list is refused
(exit code 2) before anything is loaded, unless ``--trusted`` is given for a file you trust. One
failing case (unreadable file, missing contrast, grid mismatch) does not stop the others: the
summary table (case, status, seconds, volume of each class in ml) lists it with a one-line
reason, and the exit code is 1. Files are written atomically, the label file last; a case whose
outputs all exist is skipped unless ``--overwrite``. Cases run in parallel on dask: local
processes (``--workers``) or a running ``dask.distributed`` scheduler (``--scheduler``).
"""

from __future__ import annotations

import argparse
import csv
import glob
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ._cli_dask import add_dask_arguments, run_dask

#: a case is warned about when its spacing differs from the classifier's by more than this factor
SPACING_WARN_FACTOR = 2.0
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Case:
    """One case to classify: its id, one file per contrast, or why it cannot run."""

    name: str
    paths: tuple[Path, ...]
    problem: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``classify`` options to ``parser``."""
    parser.add_argument("model", type=Path, help="saved voxel classifier (from the widget or API)")
    parser.add_argument(
        "inputs",
        nargs="+",
        help="image files, folders or quoted glob patterns (with --channel: folders)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="FOLDER", help="folder for the output files"
    )
    parser.add_argument(
        "--channel",
        action="append",
        metavar="NAME=PATTERN",
        help="one contrast per option, in training order: a file name pattern with one * "
        "that matches the case id, e.g. t1='*_T1.nii.gz'",
    )
    parser.add_argument(
        "--output-suffix",
        default="_classes.nii.gz",
        metavar="SUFFIX",
        help="appended to the case id for the label file (default _classes.nii.gz; its ending "
        "picks the format: .nii.gz, .nii, .nrrd, .mha)",
    )
    parser.add_argument(
        "--probabilities",
        action="store_true",
        help="also write one float32 probability file per class, <case>_prob_<class><ending>",
    )
    parser.add_argument(
        "--trusted",
        action="store_true",
        help="load a classifier file even if it holds types outside the safe allow-list "
        "(only for files you trust: loading them can run code)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--summary", type=Path, metavar="CSV", help="also write the summary table as CSV here"
    )
    add_dask_arguments(parser)


def _parse_channels(specs: list[str] | None) -> list[tuple[str, str, re.Pattern[str]]]:
    """``[(name, pattern, regex whose group is the case id)]`` from ``NAME=PATTERN`` options."""
    channels = []
    for spec in specs or []:
        name, sep, pattern = spec.partition("=")
        if not sep or not name or pattern.count("*") != 1 or "/" in pattern:
            raise ValueError(
                f"--channel {spec!r}: use NAME=PATTERN with one * in a file name, "
                "e.g. t1='*_T1.nii.gz'"
            )
        head, tail = pattern.split("*")
        channels.append((name, pattern, re.compile(f"{re.escape(head)}(.+){re.escape(tail)}")))
    names = [name for name, _, _ in channels]
    if len(set(names)) != len(names):
        raise ValueError(f"--channel names must differ; got {', '.join(names)}")
    return channels


def _expand_input(entry: str, skip_suffixes: tuple[str, ...]) -> list[Path]:
    """List the image files named by one INPUTS entry: a file, a folder or a glob pattern."""
    from napari_segtools.core.io import image_suffix

    def wanted(path: Path) -> bool:
        suffix = image_suffix(path)
        return (
            path.is_file() and suffix not in ("", ".dcm") and not path.name.endswith(skip_suffixes)
        )

    path = Path(entry)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if wanted(p))
        if not files:
            raise ValueError(f"no image files (NIfTI, NRRD, MetaImage) in {path}")
        return files
    if path.exists():
        return [path]
    if _GLOB_CHARS.search(entry):
        files = sorted(Path(p) for p in glob.glob(entry) if wanted(Path(p)))
        if not files:
            raise ValueError(f"no image file matches {entry}")
        return files
    raise FileNotFoundError(f"input {entry} does not exist")


def find_cases(
    inputs: list[str],
    channels: list[tuple[str, str, re.Pattern[str]]],
    skip_suffixes: tuple[str, ...] = (),
) -> list[Case]:
    """List the cases of INPUTS: one per file, or one per case id shared by the channels.

    File names ending in one of ``skip_suffixes`` (this verb's own outputs) are ignored.
    """
    from napari_segtools.core.io import strip_image_suffix

    if not channels:
        cases: dict[str, Case] = {}
        for entry in inputs:
            for path in _expand_input(entry, skip_suffixes):
                name = strip_image_suffix(path)
                if name in cases and cases[name].paths[0].resolve() != path.resolve():
                    raise ValueError(
                        f"two inputs give case {name!r}: {cases[name].paths[0]} and {path}; "
                        "rename one (the case name names the output file)"
                    )
                cases[name] = Case(name, (path,))
        return list(cases.values())
    found: dict[str, dict[str, Path]] = {}
    for entry in inputs:
        folder = Path(entry)
        if not folder.is_dir():
            raise ValueError(f"with --channel, inputs are folders; {entry} is not a folder")
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name.endswith(skip_suffixes):
                continue
            for channel, _, regex in channels:
                match = regex.fullmatch(path.name)
                if match:
                    found.setdefault(match.group(1), {})[channel] = path
    if not found:
        raise ValueError(f"no file in {', '.join(inputs)} matches any --channel pattern")
    out = []
    for name in sorted(found):
        files = found[name]
        missing = [f"{c} file ({p})" for c, p, _ in channels if c not in files]
        problem = f"no {' and no '.join(missing)} for this case" if missing else ""
        out.append(Case(name, tuple(files[c] for c, _, _ in channels if c in files), problem))
    return out


def _file_token(text: str) -> str:
    """``text`` made safe as part of a file name (letters, digits, ``-``, ``_`` and ``.``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "class"


def output_suffixes(options: dict) -> tuple[str, dict[int, str]]:
    """Return the label file's suffix and, by class value, the probability files' suffixes."""
    from napari_segtools.core.io import image_suffix

    suffix: str = options["output_suffix"]
    if not options["probabilities"]:
        return suffix, {}
    ending = image_suffix(suffix)
    tokens = [_file_token(name) for name in options["class_names"]]
    if len(set(tokens)) < len(tokens):  # names alike once made file-safe: add the values
        tokens = [f"{v}-{t}" for v, t in zip(options["class_values"], tokens, strict=True)]
    return suffix, {
        v: f"_prob_{t}{ending}" for v, t in zip(options["class_values"], tokens, strict=True)
    }


def spacing_warning(case_spacing, model_spacing) -> str:
    """Warn (a text, or "") when spacings differ by over :data:`SPACING_WARN_FACTOR` on an axis."""
    from napari_segtools.core.geometry import _fmt

    if len(case_spacing) != len(model_spacing):
        return ""
    ratios = [max(a / b, b / a) for a, b in zip(case_spacing, model_spacing, strict=True)]
    if max(ratios) <= SPACING_WARN_FACTOR:
        return ""
    return (
        f"warning: spacing {_fmt(case_spacing)} mm differs from the classifier's "
        f"{_fmt(model_spacing)} mm by a factor {max(ratios):.3g}; check the result"
    )


def load_classifier(path: Path, *, trusted: bool, verb: str = "classify"):
    """Load a classifier file for a console verb; refuse one that needs prior maps."""
    from napari_segtools.core.classify.classifier import load_voxel_classifier

    classifier = load_voxel_classifier(path, trusted=trusted)
    if classifier.n_priors:
        raise ValueError(
            f"{path.name} was trained with {classifier.n_priors} prior map(s); "
            f"the {verb} verb does not supply priors"
        )
    return classifier


def _read_case(case: Case):
    """Read the case's images (one per contrast) and the first one's geometry; grids must agree."""
    from napari_segtools.core.geometry import grid_differences
    from napari_segtools.core.io import read_image

    images, geometry = [], None
    for path in case.paths:
        image, geo = read_image(path)
        if geometry is not None:
            diffs = grid_differences(geometry, geo, images[0].shape, image.shape)
            if diffs:
                raise ValueError(
                    f"{path.name} is not on the grid of {case.paths[0].name}: " + "; ".join(diffs)
                )
        images.append(image)
        geometry = geometry or geo
    return images, geometry


def _write_case(labels, probabilities, geometry, label_path, prob_paths) -> None:
    """Write probabilities, then the label file; on any failure remove what this call wrote."""
    import numpy as np

    from napari_segtools.core.io import write_image

    written: list[Path] = []
    try:
        for index, path in enumerate(prob_paths):
            written.append(
                write_image(path, np.asarray(probabilities[index], np.float32), geometry)
            )
        written.append(write_image(label_path, labels, geometry))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _classify(case: Case, classifier, options: dict) -> tuple[str, dict[int, float], str]:
    """``(status, volume in ml by class value, message)`` of one case; raises on failure."""
    import numpy as np

    from napari_segtools.core._types import run_to_completion

    if case.problem:
        raise ValueError(case.problem)
    label_suffix, prob_suffixes = output_suffixes(options)
    label_path = options["out"] / f"{case.name}{label_suffix}"
    prob_paths = [options["out"] / f"{case.name}{s}" for s in prob_suffixes.values()]
    targets = [label_path, *prob_paths]
    existing = [p for p in targets if p.exists()]
    if existing and not options["overwrite"]:
        if len(existing) == len(targets):
            return "skipped", {}, "output exists (--overwrite replaces it)"
        absent = next(p for p in targets if not p.exists())
        raise ValueError(f"{existing[0].name} exists but {absent.name} does not; use --overwrite")
    images, geometry = _read_case(case)
    prediction = run_to_completion(
        classifier.iter_predict(
            images[0] if len(images) == 1 else images,
            probabilities=options["probabilities"],
            spacing=geometry.spacing,
        )
    )
    labels = prediction.labels
    _write_case(labels, prediction.probabilities, geometry, label_path, prob_paths)
    ml_per_voxel = float(np.prod(geometry.spacing)) / 1000.0
    volumes = {
        v: float(np.count_nonzero(labels == v)) * ml_per_voxel for v in options["class_values"]
    }
    return "done", volumes, spacing_warning(geometry.spacing, classifier.spacing)


def classify_case(case: Case, classifier, options: dict) -> dict:
    """Classify one case and write its files; a failure becomes a one-line ``message``.

    Returns a summary row: ``case``, ``status`` (``done``, ``skipped`` or ``failed``),
    ``seconds``, ``volumes_ml`` (class value -> ml) and ``message``.
    """
    start = time.perf_counter()
    try:
        status, volumes, message = _classify(case, classifier, options)
    except (ValueError, TypeError, OSError) as exc:
        status, volumes, message = "failed", {}, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad case must never lose the others
        status, volumes, message = "failed", {}, f"{type(exc).__name__}: {exc}".rstrip(": ")
    return {
        "case": case.name,
        "status": status,
        "seconds": time.perf_counter() - start,
        "volumes_ml": volumes,
        "message": message,
    }


def summary_table(rows: list[dict], class_values, class_names) -> list[dict[str, str]]:
    """Format the rows as text: case, status, seconds, ``<class> ml`` per class, message."""
    table = []
    for row in rows:
        line = {"case": row["case"], "status": row["status"], "seconds": f"{row['seconds']:.2f}"}
        for value, name in zip(class_values, class_names, strict=True):
            ml = row["volumes_ml"].get(int(value), math.nan)
            line[f"{name} ml"] = "" if math.isnan(ml) else f"{ml:.3f}"
        table.append({**line, "message": row["message"]})
    return table


def _print_table(table: list[dict[str, str]]) -> None:
    columns = [c for c in table[0] if c != "message"]
    widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in table:
        print("  ".join(r[c].ljust(widths[c]) for c in columns).rstrip())


def _write_csv(path: Path, table: list[dict[str, str]]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """Classify every case of ``args``, print the summary; 1 when a case failed."""
    import dask

    from napari_segtools.core.io import WRITE_SUFFIXES, check_writable

    if not args.output_suffix.lower().endswith(WRITE_SUFFIXES):
        raise ValueError(f"--output-suffix must end in one of {', '.join(WRITE_SUFFIXES)}")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1; got {args.workers}")
    check_writable(args.out / args.output_suffix)  # the folder exists and is writable
    if args.summary is not None:
        check_writable(args.summary)
    channels = _parse_channels(args.channel)
    classifier = load_classifier(args.model, trusted=args.trusted)
    if max(len(channels), 1) != classifier.n_channels:
        raise ValueError(
            f"{args.model.name} was trained on {classifier.n_channels} contrast(s); give one "
            f"--channel NAME=PATTERN per contrast (got {len(channels)})"
        )
    options = {
        "out": args.out,
        "output_suffix": args.output_suffix,
        "probabilities": args.probabilities,
        "overwrite": args.overwrite,
        "class_values": [int(v) for v in classifier.class_values],
        "class_names": [str(n) for n in classifier.class_names],
    }
    label_suffix, prob_suffixes = output_suffixes(options)
    cases = find_cases(args.inputs, channels, (label_suffix, *prob_suffixes.values()))
    model = dask.delayed(classifier, pure=True)
    rows = run_dask([dask.delayed(classify_case)(c, model, options) for c in cases], args)
    table = summary_table(rows, options["class_values"], options["class_names"])
    _print_table(table)
    if args.summary is not None:
        _write_csv(args.summary, table)
    for row in rows:
        if row["message"] and row["status"] != "skipped":
            print(f"case {row['case']}: {row['status']}: {row['message']}", file=sys.stderr)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "skipped", "failed")}
    print(
        f"classified {counts['done']} of {len(rows)} cases ({counts['skipped']} skipped, "
        f"{counts['failed']} failed) -> {args.out}",
        file=sys.stderr,
    )
    return 1 if counts["failed"] else 0
