"""Benchmark voxel classification: napari-segtools' chunked apply against scikit-image.

Both tools classify the same noisy blob (the smooth ~10 % blob of ``bench_metrics.py`` at 100
over 0, Gaussian noise of SD 30; spacing 2.5 x 0.8 x 0.8 mm numpy order; 300 x 512 x 512 =
512x512x300 in x-y-z by default) with the same kind of features -- per scale: smoothed intensity,
edges (gradient magnitude / Sobel of the smoothed image), Hessian eigenvalues; three scales,
1, 2, 4 mm for ours and the same in-plane sigmas in voxels (1.25, 2.5, 5) for scikit-image,
which knows no spacing -- and a random forest of the same settings (50 trees, seed 0) trained on
the same scribbles (300 voxels per class on three axial slices). Timed: the full-volume apply,
i.e. ``VoxelClassifier.predict`` (features in blocks + forest) against
``multiscale_basic_features`` + ``skimage.future.predict_segmenter``; training is not timed.
Each tool runs in its own subprocess; printed: wall time, peak extra resident memory during the
apply (Linux VmHWM reset before it), their ratios, and each result's Dice against the truth.
Then the live preview: median of 10 "add a scribble -> retrain -> predict the slice" cycles on
one 512 x 512 slice with its features cached.

    python benchmarks/bench_classify.py [--shape 300 512 512] [--timeout SECONDS]
        [--tools ours skimage]

scikit-image needs about 460 bytes per voxel here (36 GB at full size): on a smaller machine run
a reduced ``--shape`` (the slice stays 512 x 512 with e.g. ``--shape 75 512 512``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_metrics import make_pair  # noqa: E402  (the shared blob generator)

SPACING = (2.5, 0.8, 0.8)
SIGMAS_MM = (1.0, 2.0, 4.0)
N_TREES = 50


def make_data(shape, folder: Path) -> None:
    """Write the image, its truth and the scribbles to ``folder`` as .npy files."""
    truth, _ = make_pair(shape)
    rng = np.random.default_rng(0)
    image = truth.astype(np.float32) * 100 + rng.normal(0, 30, shape).astype(np.float32)
    scribbles = np.zeros(shape, np.uint8)
    planes = np.zeros(shape, bool)
    planes[[shape[0] // 3, shape[0] // 2, 2 * shape[0] // 3]] = True
    for value, region in ((1, ~truth & planes), (2, truth & planes)):
        scribbles.flat[rng.choice(np.flatnonzero(region), 300, replace=False)] = value
    np.save(folder / "image.npy", image)
    np.save(folder / "truth.npy", truth)
    np.save(folder / "scribbles.npy", scribbles)


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(N_TREES, random_state=0, n_jobs=-1)


def _prepare_ours(image, scribbles):
    from napari_segtools.core.classify.classifier import train_voxel_classifier
    from napari_segtools.core.classify.features import FeatureSet

    fs = FeatureSet(("gaussian", "gradient", "hessian"), SIGMAS_MM)
    clf = train_voxel_classifier(
        image, scribbles, spacing=SPACING, features=fs, n_estimators=N_TREES
    )
    return lambda: clf.predict(image) == 2


def _prepare_skimage(image, scribbles):
    from skimage.feature import multiscale_basic_features
    from skimage.future import fit_segmenter, predict_segmenter

    sigmas = [s / SPACING[-1] for s in SIGMAS_MM]
    options = {"sigma_min": sigmas[0], "sigma_max": sigmas[-1], "num_sigma": len(sigmas)}
    # training needs the features of the scribbled voxels: computed here, outside the timing
    features = multiscale_basic_features(image, **options)
    clf = fit_segmenter(scribbles, features, _forest())
    del features

    def apply():
        feats = multiscale_basic_features(image, **options)
        return predict_segmenter(feats, clf) == 2

    return apply


def worker(tool: str, folder: Path) -> None:
    image = np.load(folder / "image.npy")
    scribbles = np.load(folder / "scribbles.npy")
    truth = np.load(folder / "truth.npy")
    apply = {"ours": _prepare_ours, "skimage": _prepare_skimage}[tool](image, scribbles)
    base = _rss_mb("VmRSS")
    # reset the high-water mark so VmHWM is the peak of the apply alone
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    cpu0, start = time.process_time(), time.perf_counter()
    mask = apply()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    peak = _rss_mb("VmHWM") - base
    dice = 2 * np.count_nonzero(mask & truth) / (np.count_nonzero(mask) + np.count_nonzero(truth))
    print(json.dumps({"time": elapsed, "cpu": cpu, "peak_mb": peak, "dice": dice}))


def live_preview(folder: Path, cycles: int = 10) -> dict:
    """Median time of "add a scribble -> retrain -> predict the slice" with cached features."""
    from napari_segtools.core.classify.features import FeatureSet
    from napari_segtools.core.classify.preview import SlicePreview

    image = np.load(folder / "image.npy")
    truth = np.load(folder / "truth.npy")
    scribbles = np.load(folder / "scribbles.npy")
    fs = FeatureSet(("gaussian", "gradient", "hessian"), SIGMAS_MM)
    preview = SlicePreview(image, spacing=SPACING, feature_set=fs)
    index = image.shape[0] // 2
    start = time.perf_counter()
    preview.features(index)  # the first display of the slice fills the cache
    first = time.perf_counter() - start
    preview.train(scribbles, n_estimators=N_TREES)  # warm-up: scribbled slices cached
    rng = np.random.default_rng(1)
    times = []
    for i in range(cycles):
        y, x = rng.integers(20, image.shape[1] - 40), rng.integers(20, image.shape[2] - 40)
        stroke = (index, slice(y, y + 2), slice(x, x + 15))  # a 2 x 15 voxel stroke
        scribbles[stroke] = np.where(truth[stroke], 2, 1)
        t0 = time.perf_counter()
        clf = preview.train(scribbles, n_estimators=N_TREES)
        preview.predict(clf, index)
        times.append(time.perf_counter() - t0)
        del i
    return {"first_slice_s": first, "median_s": float(np.median(times)), "max_s": max(times)}


def run_worker(tool: str, folder: Path, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", tool, "--data", str(folder)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"timed out after {timeout} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"failed: {tail[:160]}"}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(300, 512, 512))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument(
        "--tools", nargs="+", choices=("ours", "skimage"), default=["ours", "skimage"]
    )
    parser.add_argument("--worker", choices=("ours", "skimage"), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.data)
        return
    shape = tuple(args.shape)
    print(f"blob {shape} (numpy order) at {SPACING} mm, {np.prod(shape) / 1e6:.1f} M voxels, "
          f"{os.cpu_count()} CPUs; features per scale: smoothed, edges, Hessian eigenvalues "
          f"at {SIGMAS_MM} mm; random forest of {N_TREES} trees")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_data(shape, folder)
        results = {tool: run_worker(tool, folder, args.timeout) for tool in args.tools}
        labels = {"ours": "napari-segtools predict (chunked)",
                  "skimage": "skimage multiscale_basic_features + predict_segmenter"}  # fmt: skip
        print(f"{'tool':<56}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}{'Dice':>8}")
        for tool, r in results.items():
            if "skipped" in r:
                print(f"{labels[tool]:<56}  skipped: {r['skipped']}")
            else:
                print(f"{labels[tool]:<56}{r['time']:>8.1f}{r['cpu']:>8.1f}{r['peak_mb']:>9.0f}"
                      f"{r['dice']:>8.4f}")  # fmt: skip
        ours, peer = results.get("ours", {"skipped": 1}), results.get("skimage", {"skipped": 1})
        if "skipped" not in ours and "skipped" not in peer:
            print(f"speed-up {peer['time'] / ours['time']:.1f}x wall, "
                  f"{peer['cpu'] / ours['cpu']:.1f}x CPU; peak memory "
                  f"{ours['peak_mb'] / peer['peak_mb']:.2f} of scikit-image's")  # fmt: skip
        preview = live_preview(folder)
        print(f"live preview on a {shape[1]} x {shape[2]} slice: first display "
              f"{preview['first_slice_s'] * 1000:.0f} ms; scribble -> retrain -> predict "
              f"median {preview['median_s'] * 1000:.0f} ms (max {preview['max_s'] * 1000:.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
