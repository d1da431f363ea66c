"""Benchmark the evaluation engine against MONAI, surface-distance, medpy and seg-metrics.

Each tool computes the same set -- overlap ratios (Dice, IoU, precision, recall, specificity)
plus HD, HD95, ASSD, MASD and NSD -- on the same masks, called as its users would call it, in
its own subprocess (so imports and memory do not mix). Printed per tool: wall time, peak extra
resident memory during the computation (Linux VmHWM reset before the call), the speed-up of
napari-segtools over it (same surface convention), and the values. Volumes: a smooth blob of
~10 % of the volume and a perturbed copy, spacing (2.5, 0.8, 0.8) mm (numpy order), on 256^3
and 300x512x512 (= 512x512x300 in x-y-z). A peer that is not installed is skipped with a note.

The default full report, ``evaluate()`` as called with no options (clDice included), is timed
as well and compared with surface-distance's surface metrics alone. ``512x10`` splits the
300x512x512 blob pair into 10 labels (the Voronoi cells of 10 points drawn in the blob), where
``evaluate()`` gets the label images and surface-distance is called once per label on that
label's masks, as its users would. ``--repeat N`` runs every tool N times, interleaved, and
keeps each tool's fastest run (on a shared machine the ratios of one run are the figure to
quote: a busy core slows every tool of that round).

medpy needs ~40 s per metric on the large volume: ``--medpy subset`` (default) times only Dice
and HD95 there (its full set on 256^3) and says so; ``full`` times its whole set; ``skip``
leaves it out.

    python benchmarks/bench_metrics.py [--sizes 256 512] [--medpy subset|full|skip]
        [--peers monai surface_distance medpy seg_metrics] [--timeout SECONDS] [--repeat N]
    python benchmarks/bench_metrics.py --sizes 256 512 512x10 --peers surface_distance \
        --medpy skip --repeat 3     # the default full report against surface-distance
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPACING = (2.5, 0.8, 0.8)
TOLERANCE = 1.0
SHAPES = {"256": (256, 256, 256), "512": (300, 512, 512), "512x10": (300, 512, 512)}
LABELS = {"512x10": 10}  # size -> number of labels (default 1: one binary blob)
LABEL_TOOLS = ("ours_report", "ours_full", "surface_distance")  # run on label images
TOOLS = {  # name -> (surface convention its values follow, label)
    "ours": ("voxel", "napari-segtools (same set)"),
    "ours_surfel": ("surfel", "napari-segtools surfel (same set)"),
    "ours_report": ("voxel", "napari-segtools evaluate() (all but clDice)"),
    "ours_full": ("voxel", "napari-segtools evaluate() default (+ clDice)"),
    "monai": ("voxel", "MONAI"),
    "surface_distance": ("surfel", "surface-distance"),
    "medpy": ("voxel", "medpy"),
    "seg_metrics": ("other", "seg-metrics"),
}


def make_pair(shape, seed=0):
    """Make a smooth blob (~10 % of the volume) and a copy with a perturbed boundary."""
    rng = np.random.default_rng(seed)
    axes = [((np.arange(n, dtype=np.float32) + 0.5) / n - 0.5) * 2 for n in shape]
    axes = [a.reshape([-1 if i == ax else 1 for i in range(3)]) for ax, a in enumerate(axes)]
    radius = np.float32((0.1 * 6 / np.pi) ** (1 / 3))

    def waves(max_freq, amplitude):
        out = np.zeros(shape, np.float32)
        for _ in range(4):
            term = np.float32(amplitude / 4)
            for a in axes:
                term = term * np.sin(rng.uniform(0.5, max_freq) * np.pi * a + rng.uniform(0, 6.3))
            out += term
        return out

    level = (axes[0] / radius) ** 2 + (axes[1] / radius) ** 2 + (axes[2] / radius) ** 2
    level += waves(3, 0.4)
    reference = level < 1
    level += waves(12, 0.15)
    return reference, level < 1


def make_labels(shape, n_labels, seed=0):
    """Split the blob pair into ``n_labels`` labels: the Voronoi cells of points in the blob."""
    ref, pred = make_pair(shape, seed)
    rng = np.random.default_rng(seed)
    seeds = np.argwhere(ref)[rng.choice(int(ref.sum()), n_labels, replace=False)]
    step = 4  # cells drawn on a 4x coarser grid, then looked up per voxel
    grid = np.indices([-(-n // step) for n in shape]) * step
    best = np.full(grid.shape[1:], np.inf)
    cells = np.zeros(grid.shape[1:], np.uint8)
    for i, point in enumerate(seeds, start=1):
        dist = sum((g - c) ** 2 for g, c in zip(grid, point, strict=True))
        cells[dist < best] = i
        best = np.minimum(best, dist)
    cells = cells[np.ix_(*[np.arange(n) // step for n in shape])]
    return np.where(ref, cells, 0).astype(np.uint8), np.where(pred, cells, 0).astype(np.uint8)


# ----------------------------------------------------------------------------- workers
def _ours(ref, pred, surface):
    from napari_segtools import metrics as M

    c = M.confusion_matrix(ref, pred, spacing=SPACING)
    tp, fp, fn, tn = c
    values = {
        "dice": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "specificity": tn / (tn + fp),
    }
    sd = M.compute_surface_distances(ref, pred, spacing=SPACING, surface=surface)
    values.update(
        hd=sd.hausdorff(),
        hd95=sd.hausdorff(percentile=95),
        assd=sd.assd(),
        masd=sd.masd(),
        nsd=sd.nsd(tolerance_mm=TOLERANCE),
    )
    return values


def _ours_report(ref, pred, cldice):
    """evaluate() with its defaults but the NSD tolerance (clDice on or off); label means."""
    from napari_segtools import metrics as M

    kw = {} if cldice else {"cldice": False}
    report = M.evaluate(ref, pred, spacing=SPACING, nsd_tolerance_mm=TOLERANCE, **kw)
    keys = ("dice", "iou", "precision", "recall", "hd", "hd95", "assd", "masd", "nsd")
    return {k: report.mean[k] for k in keys + (("cldice",) if cldice else ())}


def _monai(ref, pred):
    import torch
    from monai import metrics as mm

    y_pred, y = (torch.from_numpy(a[None, None]).to(torch.float32) for a in (pred, ref))
    sp = list(SPACING)
    cm = mm.get_confusion_matrix(y_pred, y)
    names = {"precision": "precision", "recall": "sensitivity", "specificity": "specificity"}
    ratios = {k: mm.compute_confusion_matrix_metric(n, cm) for k, n in names.items()}
    one_hot = [torch.cat([1 - t, t], 1) for t in (y_pred, y)]
    values = {
        "dice": mm.compute_dice(y_pred, y),
        "iou": mm.compute_iou(y_pred, y),
        **ratios,
        "hd": mm.compute_hausdorff_distance(y_pred, y, spacing=sp),
        "hd95": mm.compute_hausdorff_distance(y_pred, y, percentile=95, spacing=sp),
        "assd": mm.compute_average_surface_distance(y_pred, y, symmetric=True, spacing=sp),
        "masd": (
            mm.compute_average_surface_distance(y_pred, y, spacing=sp)
            + mm.compute_average_surface_distance(y, y_pred, spacing=sp)
        )
        / 2,
        "nsd": mm.compute_surface_dice(*one_hot, [TOLERANCE], spacing=sp),
    }
    return {k: float(v) for k, v in values.items()}


def _surface_distance(ref, pred):
    if ref.dtype != bool:  # a label image: one call per label, as its users do; label means
        per_label = [_surface_distance(ref == i, pred == i) for i in np.unique(ref)[1:]]
        return {k: float(np.mean([v[k] for v in per_label])) for k in per_label[0]}
    import surface_distance as sd

    d = sd.compute_surface_distances(ref, pred, SPACING)
    directed = sd.compute_average_surface_distance(d)
    area_r, area_p = d["surfel_areas_gt"], d["surfel_areas_pred"]
    pooled = (d["distances_gt_to_pred"] @ area_r + d["distances_pred_to_gt"] @ area_p) / (
        area_r.sum() + area_p.sum()
    )
    return {
        "dice": sd.compute_dice_coefficient(ref, pred),
        "hd": sd.compute_robust_hausdorff(d, 100),
        "hd95": sd.compute_robust_hausdorff(d, 95),
        "assd": pooled,
        "masd": float(np.mean(directed)),
        "nsd": sd.compute_surface_dice_at_tolerance(d, TOLERANCE),
    }


def _medpy(ref, pred, subset):
    from medpy.metric import binary as mb

    if subset:
        return {"dice": mb.dc(pred, ref), "hd95": mb.hd95(pred, ref, SPACING)}
    return {
        "dice": mb.dc(pred, ref),
        "iou": mb.jc(pred, ref),
        "precision": mb.precision(pred, ref),
        "recall": mb.recall(pred, ref),
        "specificity": mb.specificity(pred, ref),
        "hd": mb.hd(pred, ref, SPACING),
        "hd95": mb.hd95(pred, ref, SPACING),
        "assd": mb.assd(pred, ref, SPACING),
        "masd": (mb.asd(pred, ref, SPACING) + mb.asd(ref, pred, SPACING)) / 2,
    }


def _seg_metrics(ref, pred):
    import logging

    from seg_metrics import seg_metrics as sm

    logging.disable(logging.WARNING)
    out = sm.write_metrics(
        labels=[1],
        gdth_img=ref.astype(np.uint8),
        pred_img=pred.astype(np.uint8),
        spacing=list(SPACING[::-1]),
        metrics=["dice", "jaccard", "precision", "recall", "vs", "hd", "hd95", "msd"],
    )
    row = out[0] if isinstance(out, list) else out
    pick = {
        "dice": "dice",
        "iou": "jaccard",
        "precision": "precision",
        "recall": "recall",
        "hd": "hd",
        "hd95": "hd95",
        "assd": "msd",
    }
    return {ours: float(np.ravel(row[theirs])[0]) for ours, theirs in pick.items()}


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(tool: str, data: Path, medpy: str) -> None:
    """Run one tool in this process and print one JSON line: time, peak memory, values."""
    modules = {
        "monai": "monai.metrics",
        "surface_distance": "surface_distance",
        "medpy": "medpy.metric",
        "seg_metrics": "seg_metrics.seg_metrics",
    }
    for name, value in (("Inf", np.inf), ("NaN", np.nan)):  # surface-distance 0.1 predates numpy 2
        if name not in np.__dict__:
            setattr(np, name, value)
    try:
        importlib.import_module(modules.get(tool, "napari_segtools.metrics"))
    except ImportError as exc:
        print(json.dumps({"skipped": f"not installed ({exc.name})"}))
        return
    ref, pred = np.load(data / "ref.npy"), np.load(data / "pred.npy")
    calls = {
        "ours": lambda: _ours(ref, pred, "voxel"),
        "ours_surfel": lambda: _ours(ref, pred, "surfel"),
        "ours_report": lambda: _ours_report(ref, pred, cldice=False),
        "ours_full": lambda: _ours_report(ref, pred, cldice=True),
        "monai": lambda: _monai(ref, pred),
        "surface_distance": lambda: _surface_distance(ref, pred),
        "medpy": lambda: _medpy(ref, pred, medpy == "subset"),
        "seg_metrics": lambda: _seg_metrics(ref, pred),
    }
    base = _rss_mb("VmRSS")
    # reset the high-water mark so VmHWM is the peak of the call alone
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    values = calls[tool]()
    elapsed = time.perf_counter() - start
    peak = _rss_mb("VmHWM") - base
    print(
        json.dumps(
            {"time": elapsed, "peak_mb": peak, "values": {k: float(v) for k, v in values.items()}}
        )
    )


# ----------------------------------------------------------------------------- driver
def run_tool(tool, data, medpy, timeout):
    cmd = [sys.executable, __file__, "--worker", tool, "--data", str(data), "--medpy", medpy]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"failed: {tail[:120]}"}
    return json.loads(lines[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--medpy", choices=["subset", "full", "skip"], default="subset")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per tool")
    parser.add_argument(
        "--peers",
        nargs="+",
        choices=[t for t in TOOLS if not t.startswith("ours")],
        default=[t for t in TOOLS if not t.startswith("ours")],
        help="peers to run (default all)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool (fastest kept)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.data, args.medpy)
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs; "
        f"spacing {SPACING} mm, NSD tolerance {TOLERANCE} mm"
    )
    tools = [t for t in TOOLS if t.startswith("ours") or t in args.peers]
    tools = [t for t in tools if not (t == "medpy" and args.medpy == "skip")]
    for size in args.sizes:
        n_labels = LABELS.get(size, 1)
        with tempfile.TemporaryDirectory() as tmp:
            if n_labels > 1:
                ref, pred = make_labels(SHAPES[size], n_labels)
            else:
                ref, pred = make_pair(SHAPES[size])
            np.save(Path(tmp) / "ref.npy", ref)
            np.save(Path(tmp) / "pred.npy", pred)
            r, p = ref > 0, pred > 0
            print(
                f"\n== {'x'.join(map(str, SHAPES[size]))} voxels, blob {r.mean():.1%} of the "
                f"volume, Dice {2 * (r & p).sum() / (r.sum() + p.sum()):.3f}"
                + (f", {n_labels} labels (values: label means)" if n_labels > 1 else "")
                + (f", fastest of {args.repeat} runs" if args.repeat > 1 else "")
                + " =="
            )
            del ref, pred, r, p
            medpy = "full" if size == "256" and args.medpy == "subset" else args.medpy
            # the binary-mask workers of the peers and of "ours" time the one-label case only
            run = [t for t in tools if n_labels == 1 or t in LABEL_TOOLS]
            results = {t: {"time": np.inf} for t in run}
            for _ in range(args.repeat):
                for t in run:
                    res = run_tool(t, Path(tmp), medpy, args.timeout)
                    if "skipped" in res or res["time"] < results[t]["time"]:
                        results[t] = res
                run = [t for t in run if "skipped" not in results[t]]
        report(results, medpy)


def report(results, medpy) -> None:
    keys = ("dice", "hd", "hd95", "assd", "masd", "nsd", "cldice")
    print(
        f"{'tool':46s}{'surface':>8s}{'time s':>9s}{'peak MB':>9s}{'ours x faster':>15s}  "
        + "".join(f"{k:>8s}" for k in keys)
    )
    for tool, res in results.items():
        convention, label = TOOLS[tool]
        if tool == "medpy" and medpy == "subset":
            label += " (Dice + HD95 only)"
        if "skipped" in res:
            print(f"{label:46s}  skipped: {res['skipped']}")
            continue
        ours = results.get("ours_surfel" if convention == "surfel" else "ours", {})
        ratio = (
            ""
            if tool.startswith("ours") or "time" not in ours
            else f"{res['time'] / ours['time']:.1f}x"
        )
        vals = "".join(
            f"{res['values'][k]:8.3f}" if k in res["values"] else f"{'-':>8s}" for k in keys
        )
        print(
            f"{label:46s}{convention:>8s}{res['time']:9.2f}{res['peak_mb']:9.0f}"
            f"{ratio:>15s}  {vals}"
        )
    peer = results.get("surface_distance", {})
    for tool in ("ours_full", "ours_report"):
        if "time" in results.get(tool, {}) and "time" in peer:
            print(
                f"{TOOLS[tool][1]} is {peer['time'] / results[tool]['time']:.1f}x faster than "
                "surface-distance's surface metrics alone"
            )
    print(
        "surface: voxel = border voxels (MONAI/medpy/MetricsReloaded), surfel = DeepMind "
        "surface-distance; seg-metrics uses full-connectivity contours and distances to the "
        "other mask (its own convention). medpy's hd95 pools both directions "
        "(differs)."
    )
    if medpy == "subset":
        print(
            "medpy was timed on Dice + HD95 only here (~40 s per distance metric); its full "
            "set (HD, HD95, ASSD, 2 x ASD) needs about four more such passes."
        )


if __name__ == "__main__":
    main()
