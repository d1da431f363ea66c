"""Benchmark a cohort evaluation: N cases of 128^3, three methods, evaluated and summarised.

Each case is a two-label ellipsoid (an outer structure and an inner one) with random centre
and radii, spacing 1.0 x 0.8 x 0.8 mm (numpy order); each method's prediction is the
reference's ellipsoids moved and resized by a method-specific amount of random error, so the
methods differ and the statistics have something to find. Files are gzipped NIfTI, written
in parallel before anything is timed.

Timed, each the whole ``napari-segtools evaluate REF --methods A B C --out cases.csv`` run
(every (method, case) pair one dask task, then the summary, comparison and ranking files):

* on local processes (``--workers W``);
* on a ``distributed.LocalCluster`` of W single-threaded worker processes (``--scheduler``;
  starting the cluster is timed apart).

Printed: total wall time, time per case (all methods) and per evaluated pair, the time of
the statistics step alone, and whether both runs wrote identical files.

    python benchmarks/bench_cohort.py [--cases 1000] [--workers N] [--cldice] [--keep DIR]

clDice is off by default (``--no-cldice``): 3-D skeletons dominate the time at 128^3.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SHAPE = (128, 128, 128)
SPACING = (1.0, 0.8, 0.8)
#: each method's error: (centre shift SD in voxels, relative radius SD)
METHODS = {"unet": (1.0, 0.03), "atlas": (2.5, 0.08), "threshold": (4.0, 0.15)}


def _ellipsoids(centre, radii, inner) -> np.ndarray:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    out = np.zeros(SHAPE, np.uint8)
    for value, scale in ((1, 1.0), (2, inner)):
        r = np.asarray(radii) * scale
        d = ((z - centre[0]) / r[0]) ** 2 + ((y - centre[1]) / r[1]) ** 2
        out[d + ((x - centre[2]) / r[2]) ** 2 <= 1] = value
    return out


def _write_case(job: tuple[Path, int]) -> None:
    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.io import write_image

    root, i = job
    geometry = Geometry(spacing=SPACING)
    rng = np.random.default_rng(i)
    centre = 64 + rng.normal(0, 4, 3)
    radii = rng.uniform(25, 40, 3)
    write_image(root / "ref" / f"case{i:04d}.nii.gz", _ellipsoids(centre, radii, 0.4), geometry)
    for method, (shift, scale) in METHODS.items():
        moved = centre + rng.normal(0, shift, 3)
        resized = radii * (1 + rng.normal(0, scale, 3))
        labels = _ellipsoids(moved, resized, 0.4 * (1 + rng.normal(0, scale)))
        write_image(root / method / f"case{i:04d}.nii.gz", labels, geometry)


def make_cohort(root: Path, cases: int, workers: int) -> None:
    """Write ``cases`` references and each method's predictions under ``root``."""
    for folder in ("ref", *METHODS):
        (root / folder).mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_case, [(root, i) for i in range(cases)], chunksize=8))


def run_evaluate(root: Path, out: Path, extra: list[str], cldice: bool) -> float:
    """Run the evaluate verb on the cohort; return its wall time (s)."""
    from napari_segtools._cli import main

    argv = ["evaluate", str(root / "ref"), "--methods", *(str(root / m) for m in METHODS)]
    argv += ["--out", str(out), "--quiet", *([] if cldice else ["--no-cldice"]), *extra]
    start = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"evaluate failed (exit code {code})")
    return elapsed


def statistics_time(out: Path, workers: int) -> float:
    """Time the summary, comparison and ranking step alone on the per-case CSV ``out``."""
    from napari_segtools._cli_cohort import write_cohort_files

    args = argparse.Namespace(
        baseline=None, rank_by="dice", seed=0, scheduler=None, workers=workers, quiet=True
    )
    start = time.perf_counter()
    write_cohort_files(out, args)
    return time.perf_counter() - start


def _same_files(a: Path, b: Path) -> bool:
    from napari_segtools._cli_cohort import output_paths

    pairs = [(a, b), *zip(output_paths(a).values(), output_paths(b).values(), strict=True)]
    return all(
        x.read_text(encoding="utf-8").replace(str(a.parent), "")
        == y.read_text(encoding="utf-8").replace(str(b.parent), "")
        for x, y in pairs
    )


def report(what: str, seconds: float, cases: int) -> None:
    pairs = cases * len(METHODS)
    print(
        f"{what:<28} {seconds:8.1f} s total   {seconds / cases * 1000:8.1f} ms per case   "
        f"{seconds / pairs * 1000:8.1f} ms per (method, case)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cldice", action="store_true", help="also compute clDice (slow)")
    parser.add_argument("--keep", type=Path, help="write the cohort here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    try:
        start = time.perf_counter()
        make_cohort(root, args.cases, args.workers)
        print(
            f"{args.cases} cases of {SHAPE[0]}^3 x {len(METHODS)} methods written in "
            f"{time.perf_counter() - start:.1f} s (not timed below); {args.workers} workers, "
            f"clDice {'on' if args.cldice else 'off'}"
        )
        local, remote = root / "local" / "cases.csv", root / "cluster" / "cases.csv"
        local.parent.mkdir(exist_ok=True)
        remote.parent.mkdir(exist_ok=True)
        workers = ["--workers", str(args.workers)]
        report("local processes", run_evaluate(root, local, workers, args.cldice), args.cases)
        report("  of which statistics", statistics_time(local, args.workers), args.cases)
        from distributed import LocalCluster

        start = time.perf_counter()
        with LocalCluster(
            n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster:
            print(f"{'LocalCluster start':<28} {time.perf_counter() - start:8.1f} s")
            scheduler = ["--scheduler", cluster.scheduler_address]
            seconds = run_evaluate(root, remote, scheduler, args.cldice)
        report("distributed.LocalCluster", seconds, args.cases)
        print("identical files:", _same_files(local, remote))
    finally:
        if args.keep is None:
            with contextlib.suppress(OSError):
                shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
