"""Benchmark ``napari-segtools segment``: one folder of cases, local processes against a cluster.

N noisy cases (a bright ellipsoid in Gaussian noise, spacing 2.5 x 0.8 x 0.8 mm numpy order, a
shape of ``--shape``) are segmented with the same settings -- Otsu per case, an opening of
``--open-radius-mm`` and the largest component kept -- four ways:

- ``loop``: the core functions in a plain Python loop (read, threshold, clean, write): the cost
  of the work itself, with no dask, log or resume bookkeeping;
- ``workers 1``: the verb with one synchronous process;
- ``workers W``: the verb on W local processes (dask's multiprocessing scheduler);
- ``cluster W``: the verb sent to a ``distributed.LocalCluster`` of W single-threaded worker
  processes (cluster start-up timed apart);

then ``resume``: the same command again, every case skipped. Printed per run: total wall time,
time per case (wall / N) and the mean of the log's per-case seconds (the work inside a worker).

    python benchmarks/bench_segment.py [--cases 40] [--shape 64 64 64] [--workers 4]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import tempfile
import time
from pathlib import Path

import numpy as np

SPACING = (2.5, 0.8, 0.8)


def make_cases(folder: Path, n: int, shape) -> None:
    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.io import write_image

    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    for i in range(n):
        rng = np.random.default_rng(i)
        centre = [s / 2 + rng.uniform(-2, 2) for s in shape]
        r2 = sum(((g - c) / (0.3 * s)) ** 2 for g, c, s in zip(grids, centre, shape, strict=True))
        image = (r2 <= 1) * 100.0 + rng.normal(0, 20, shape)
        write_image(folder / f"case{i:03d}.nii.gz", image.astype(np.float32), Geometry(SPACING))


def plain_loop(folder: Path, out: Path, open_mm: float) -> None:
    """Segment the same way with the core functions, one case after another."""
    from napari_segtools.core._types import run_to_completion
    from napari_segtools.core.cleanup import CleanupSettings
    from napari_segtools.core.io import read_image, write_image
    from napari_segtools.core.threshold import threshold_from_histogram
    from napari_segtools.core.threshold_pipeline import (
        ThresholdSettings,
        iter_histograms,
        threshold_labels_cleaned,
    )

    steps = CleanupSettings(open_radius_mm=open_mm, keep="largest").steps(3)
    for path in sorted(folder.glob("*.nii.gz")):
        image, geometry = read_image(path)
        whole, hist = run_to_completion(iter_histograms(image))
        low = float(np.nextafter(threshold_from_histogram(hist, method="otsu"), np.inf))
        settings = ThresholdSettings("otsu", low, whole.high)
        labels = threshold_labels_cleaned(
            image, settings=settings, spacing=geometry.spacing, steps=steps
        )
        write_image(out / path.name, labels, geometry)


def run_verb(argv: list[str]) -> float:
    from napari_segtools._cli import main

    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(["segment", *argv, "--quiet"])
    if code != 0:
        raise SystemExit(f"segment {' '.join(argv)} exited with {code}")
    return time.perf_counter() - start


def mean_case_seconds(out: Path) -> float:
    with (out / "segment_log.csv").open(encoding="utf-8", newline="") as fh:
        return float(np.mean([float(row["seconds"]) for row in csv.DictReader(fh)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 64, 64])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--open-radius-mm", type=float, default=1.6)
    args = parser.parse_args()
    n = args.cases
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "in"
        folder.mkdir()
        make_cases(folder, n, args.shape)
        method = ["threshold", str(folder)]
        options = ["--method", "otsu", "--open-radius-mm", str(args.open_radius_mm)]
        options += ["--keep", "largest"]
        rows = []
        out = root / "loop"
        out.mkdir()
        start = time.perf_counter()
        plain_loop(folder, out, args.open_radius_mm)
        rows.append(("loop (core functions)", time.perf_counter() - start, None))
        for label, extra in (
            ("workers 1", ["--workers", "1"]),
            (f"workers {args.workers}", ["--workers", str(args.workers)]),
        ):
            out = root / label.replace(" ", "")
            total = run_verb([*method, str(out), *options, *extra])
            rows.append((label, total, mean_case_seconds(out)))
        from distributed import LocalCluster

        start = time.perf_counter()
        with LocalCluster(
            n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster:
            startup = time.perf_counter() - start
            out = root / "cluster"
            argv = [*method, str(out), *options, "--scheduler", cluster.scheduler_address]
            total = run_verb(argv)
            rows.append((f"cluster {args.workers}", total, mean_case_seconds(out)))
            rows.append(("resume (all skipped)", run_verb(argv), None))
    print(
        f"segment threshold (otsu, open {args.open_radius_mm} mm, keep largest): {n} cases of "
        f"{tuple(args.shape)} voxels; LocalCluster start-up {startup:.2f} s (not counted)"
    )
    print(f"{'run':<24}{'total s':>10}{'s / case':>10}{'work s / case':>15}")
    for label, total, work_seconds in rows:
        work = "" if work_seconds is None else f"{work_seconds:.3f}"
        print(f"{label:<24}{total:>10.2f}{total / n:>10.3f}{work:>15}")


if __name__ == "__main__":
    main()
