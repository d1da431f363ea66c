r"""``napari-segtools segment``: segment every image of a folder with one method, on dask.

``napari-segtools segment METHOD IN OUT [options]``. METHOD is ``threshold``, ``grow``,
``atlas``, ``unet`` or ``classifier`` (``napari-segtools segment METHOD --help`` lists its
options); IN is a folder of images (NIfTI, NRRD, MetaImage, or sub-folders holding one DICOM
series each); OUT receives one label file per case, on the grid of its input (spacing, origin
and direction as read, no reorientation), named like the input or ``<case><suffix>``::

    napari-segtools segment threshold scans/ labels/ --method otsu --keep largest --workers 8
    napari-segtools segment unet t1/ tissue/ --model mni152-brain-tissue --mask-dir brains/
    napari-segtools segment grow scans/ vessels/ --seeds seeds.csv --scheduler tcp://head:8786

**Resumable.** Each file is written whole or not at all (a temporary file renamed into place).
``OUT/segment_log.csv`` has one row per case: case, method, status (done, skipped or failed),
seconds, error, output, input and a note (the automatic threshold found, a registration or
domain warning). A rerun skips a case whose log row says done, whose output exists and is newer
than its input; ``--overwrite`` redoes every case. Finished cases are also journalled as they
end, so a run that is interrupted resumes where it stopped. ``OUT/segment_settings.json``
records the method's settings and the software version; a rerun with other settings into the
same OUT is refused unless ``--overwrite``.

**Failures** (an unreadable file, a seed outside the image, a registration error) fail their
case only, with a one-line reason in the log and on stderr; the exit status is then 1. Cases
run in parallel on dask: ``--workers N`` local processes, or ``--scheduler ADDRESS`` of a
running ``dask.distributed`` scheduler (every worker must see IN and OUT at the same paths).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import _cli_segment_grow as _grow
from . import _cli_segment_methods as _methods
from . import _cli_segment_models as _models
from ._cli_dask import add_dask_arguments, run_dask

#: method name -> (add its options, build it from the arguments, one-line help)
METHODS = {
    "threshold": (
        _methods.add_threshold_arguments,
        _methods.build_threshold,
        "an intensity range or an automatic threshold per case, then clean-up in mm",
    ),
    "grow": (
        _grow.add_grow_arguments,
        _grow.build_grow,
        "seeded region growing from seeds in physical mm",
    ),
    "atlas": (
        _models.add_atlas_arguments,
        _models.build_atlas,
        "register atlases onto each case and fuse their labels",
    ),
    "unet": (_models.add_unet_arguments, _models.build_unet, "a U-Net model's prediction"),
    "classifier": (
        _methods.add_classifier_arguments,
        _methods.build_classifier,
        "a saved voxel classifier",
    ),
}
LOG_NAME = "segment_log.csv"
SETTINGS_NAME = "segment_settings.json"
JOURNAL_NAME = ".segment_journal"
LOG_COLUMNS = ("case", "method", "status", "seconds", "error", "output", "input", "note")
#: output ending for inputs whose own ending cannot be written (a DICOM series folder: "")
_WRITE_ENDING = {".nhdr": ".nrrd", ".mhd": ".mha", "": ".nii.gz"}


@dataclass(frozen=True)
class Case:
    """One input image (a file or a DICOM series folder) and its label file."""

    name: str
    path: Path
    output: Path


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input_dir", type=Path, metavar="IN", help="folder of images")
    parser.add_argument("output_dir", type=Path, metavar="OUT", help="folder for the label files")
    parser.add_argument(
        "--suffix",
        metavar="SUFFIX",
        help="name outputs <case><SUFFIX>, e.g. _seg.nii.gz (default: the input's file name)",
    )
    parser.add_argument("--overwrite", action="store_true", help="redo finished cases")
    add_dask_arguments(parser)
    parser.add_argument(
        "--threads-per-case",
        type=int,
        metavar="N",
        help="threads each case may use (default: cores / workers locally; unchanged with "
        "--scheduler)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``segment`` methods, each with the common and its own options, to ``parser``."""
    sub = parser.add_subparsers(dest="method_name", required=True, metavar="METHOD")
    for name, (add, _, help_text) in METHODS.items():
        method_parser = sub.add_parser(name, help=help_text, description=help_text)
        _add_common(method_parser)
        add(method_parser)


def find_cases(folder: Path, out: Path, suffix: str | None) -> list[Case]:
    """List the images of ``folder`` (files, DICOM series folders) and their outputs in ``out``."""
    from napari_segtools.core.io import image_suffix, list_dicom_series, strip_image_suffix

    cases: dict[str, Case] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.resolve() == out.resolve():
            continue
        if path.is_dir():
            if not list_dicom_series(path):
                continue
            name, ending = path.name, ""
        else:
            ending = image_suffix(path)
            if ending in ("", ".dcm") or (suffix and path.name.endswith(suffix)):
                continue
            name = strip_image_suffix(path)
        if name in cases:
            raise ValueError(
                f"two inputs give case {name!r}: {cases[name].path.name} and {path.name}; "
                "rename one (the case names its output file)"
            )
        output = f"{name}{suffix}" if suffix else f"{name}{_WRITE_ENDING.get(ending, ending)}"
        cases[name] = Case(name, path, out / output)
    if not cases:
        raise ValueError(
            f"no images in {folder} (NIfTI, NRRD, MetaImage files or DICOM series folders)"
        )
    return list(cases.values())


def previous_rows(out: Path) -> dict[str, dict]:
    """Return each case's last row: the log, updated by an interrupted run's journal."""
    rows: dict[str, dict] = {}
    log = out / LOG_NAME
    if log.is_file():
        with log.open(encoding="utf-8", newline="") as fh:
            rows = {row["case"]: row for row in csv.DictReader(fh) if row.get("case")}
    journal = out / JOURNAL_NAME
    for path in sorted(journal.glob("*.json")) if journal.is_dir() else ():
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
            rows[row["case"]] = row
        except (ValueError, KeyError, TypeError, OSError):
            continue  # a damaged journal entry: that case is simply redone
    return rows


def _mtime(path: Path) -> float:
    """Latest modification time of a file, or of a DICOM folder's files."""
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.iterdir()), default=path.stat().st_mtime)
    return path.stat().st_mtime


def is_finished(case: Case, row: dict | None) -> bool:
    """Whether a case's previous row says done and its output exists, newer than its input."""
    return (
        row is not None
        and row.get("status") in ("done", "skipped")
        and Path(row.get("output") or "").name == case.output.name
        and case.output.is_file()
        and case.output.stat().st_mtime >= _mtime(case.path)
    )


@contextmanager
def _limit_threads(threads: int | None):
    """Hold BLAS/OpenMP, SimpleITK and torch to ``threads`` (None: leave them)."""
    if not threads:
        yield
        return
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    os.environ["OMP_NUM_THREADS"] = str(threads)  # torch, when this worker imports it later
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    with threadpool_limits(limits=threads):
        yield


def segment_case(case: Case, method, options: dict) -> dict:
    """Read, segment and write one case; return its log row (a failure is a one-line error)."""
    from napari_segtools.core.io import read_image, write_image, write_text_atomically

    start = time.perf_counter()
    row = {"case": case.name, "method": method.name, "input": str(case.path), "output": ""}
    try:
        with _limit_threads(options["threads"]):
            image, geometry = read_image(case.path)
            labels, note = method.segment(image, geometry, case.name)
            write_image(case.output, labels, geometry)
        row.update(status="done", error="", output=str(case.output), note=note)
    except (ValueError, TypeError, OSError) as exc:
        row.update(status="failed", error=" ".join(str(exc).split()), note="")
    except Exception as exc:  # noqa: BLE001 - one bad case must never lose the others
        text = " ".join(f"{type(exc).__name__}: {exc}".split()).rstrip(":")
        row.update(status="failed", error=text, note="")
    if row["status"] == "failed":  # an older output no longer matches its input or settings
        with suppress(OSError):
            case.output.unlink(missing_ok=True)
    row["seconds"] = f"{time.perf_counter() - start:.3f}"
    if row["status"] == "done":  # survives an interrupted run; merged into the log at the end
        write_text_atomically(options["journal"] / f"{case.name}.json", json.dumps(row))
    return row


def _settings(args: argparse.Namespace, method) -> dict:
    from napari_segtools import __version__

    def plain(value):  # tuples -> lists, paths -> text: what the JSON file gives back
        return json.loads(json.dumps(value, default=str))

    return {
        "software": f"napari-segtools {__version__}",
        "method": method.name,
        "options": plain(method.options()),
        "labels": {str(k): v for k, v in method.label_names().items()},
        "input": str(args.input_dir.resolve()),
        "suffix": args.suffix,
        "scheduler": args.scheduler or f"{args.workers} local process(es)",
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _check_same_settings(out: Path, settings: dict) -> None:
    """Refuse to resume into OUT when its finished cases were made with other settings."""
    path = out / SETTINGS_NAME
    if not path.is_file():
        return
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return
    old, new = before.get("options", {}), settings["options"]
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if before.get("method") != settings["method"]:
        changed = [f"method ({before.get('method')} -> {settings['method']})"]
    if changed:
        raise ValueError(
            f"{out} holds results made with other settings ({', '.join(changed)}); use "
            "--overwrite to redo every case, or another OUT folder"
        )


def _check_arguments(args: argparse.Namespace) -> None:
    from napari_segtools.core.io import WRITE_SUFFIXES

    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1; got {args.workers}")
    if args.threads_per_case is not None and args.threads_per_case < 1:
        raise ValueError(f"--threads-per-case must be at least 1; got {args.threads_per_case}")
    if not args.input_dir.is_dir():
        raise FileNotFoundError(f"IN {args.input_dir}: no such folder")
    if args.suffix is not None and not args.suffix.lower().endswith(WRITE_SUFFIXES):
        raise ValueError(f"--suffix must end in one of {', '.join(WRITE_SUFFIXES)}")
    same = args.output_dir.exists() and args.output_dir.resolve() == args.input_dir.resolve()
    if same and not args.suffix:
        raise ValueError("OUT is IN: give --suffix, so that outputs do not replace the inputs")


def _write_log(out: Path, rows: list[dict]) -> Path:
    from napari_segtools.core.io import write_text_atomically

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomically(out / LOG_NAME, buffer.getvalue())


def run(args: argparse.Namespace) -> int:
    """Segment every case of IN into OUT and write the log; 1 when a case failed."""
    import dask

    from napari_segtools.core.io import check_writable, write_text_atomically

    _check_arguments(args)
    method = METHODS[args.method_name][1](args)  # checks the options, loads models and atlases
    out = args.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out / LOG_NAME)
    cases = find_cases(args.input_dir, out, args.suffix)
    settings = _settings(args, method)
    if not args.overwrite:
        _check_same_settings(out, settings)
    write_text_atomically(out / SETTINGS_NAME, json.dumps(settings, indent=2))
    previous = previous_rows(out)
    rows: dict[str, dict] = {}
    todo = []
    for case in cases:
        row = previous.get(case.name)
        if not args.overwrite and row is not None and is_finished(case, row):
            rows[case.name] = {**row, "status": "skipped", "seconds": "0.000", "error": ""}
        else:
            todo.append(case)
    journal = out / JOURNAL_NAME
    journal.mkdir(exist_ok=True)
    threads = args.threads_per_case
    if threads is None and not args.scheduler and args.workers > 1 and len(todo) > 1:
        threads = max(1, (os.cpu_count() or 1) // args.workers)
    options = {"threads": threads, "journal": journal}
    shipped = dask.delayed(method, traverse=False)  # sent once to each distributed worker
    tasks = [dask.delayed(segment_case)(case, shipped, options) for case in todo]
    for row in run_dask(tasks, args) if tasks else []:
        rows[row["case"]] = row
    table = [rows[case.name] for case in cases]
    log = _write_log(out, table)
    for entry in journal.glob("*.json"):  # the log now holds them
        entry.unlink(missing_ok=True)
    with suppress(OSError):
        journal.rmdir()
    counts = {s: sum(r["status"] == s for r in table) for s in ("done", "skipped", "failed")}
    for row in table:
        if row["status"] == "failed":
            print(f"case {row['case']}: failed: {row['error']}", file=sys.stderr)
    print(
        f"segmented {counts['done']} of {len(table)} cases ({counts['skipped']} skipped, "
        f"{counts['failed']} failed) -> {out}; log: {log}",
        file=sys.stderr,
    )
    return 1 if counts["failed"] else 0
