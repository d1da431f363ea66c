"""Region growing: ours against SimpleITK on the same 512x512x300 volume and seeds, in one run.

The volume is the shipped MNI152 T1 template (197x233x189, 1 mm) resampled by nearest neighbour
to 300x512x512 voxels; the seeds lie in the white matter. Also times competitive growth
(``grow_from_seeds``) on one 512x512 slice, the latency the widget's automatic re-run sees.

Run: ``.venv/bin/python benchmarks/bench_region_growing.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import importlib.resources
import statistics
import time

import numpy as np
import SimpleITK as sitk

from napari_segtools.core.region_growing import (
    confidence_connected,
    connected_threshold,
    grow_from_seeds,
    neighborhood_connected,
)

SHAPE = (300, 512, 512)
SEEDS = np.array([(150, 300, 200), (150, 300, 312), (180, 280, 300)])  # white matter


def volume() -> np.ndarray:
    path = (
        importlib.resources.files("napari_segtools")
        / "sample_images"
        / "mni152_2009a"
        / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    )
    t1 = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    index = np.ix_(*[(np.arange(n) * m) // n for n, m in zip(SHAPE, t1.shape, strict=True)])
    return np.ascontiguousarray(t1[index])


def median_time(func, repeats: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``repeats`` calls (CPU time is steadier on a shared host)."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def sitk_filter(name: str, image: np.ndarray, **params) -> np.ndarray:
    """SimpleITK from numpy to numpy, as a script would call it (conversions included)."""
    seeds = [tuple(int(v) for v in s[::-1]) for s in SEEDS]
    out = getattr(sitk, name)(sitk.GetImageFromArray(image), seedList=seeds, **params)
    return sitk.GetArrayViewFromImage(out).astype(bool)


def compare(label, ours, theirs, repeats):
    w_ours, c_ours, a = median_time(ours, repeats)
    w_sitk, c_sitk, b = median_time(theirs, repeats)
    same = "identical" if np.array_equal(a, b) else "DIFFERENT"
    print(
        f"{label:<31} CPU ours {c_ours:6.2f} s  SimpleITK {c_sitk:6.2f} s"
        f"  ratio {c_ours / c_sitk:4.2f}"
        f" | wall {w_ours:6.2f} s / {w_sitk:6.2f} s  ratio {w_ours / w_sitk:4.2f}"
        f" | {int(a.sum()):>8} voxels, {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    image = volume()
    print(f"volume {image.shape} {image.dtype}, seeds {SEEDS.tolist()}, median of {repeats}")
    lo, hi = 180, 240
    for low, high in ((222, 228), (lo, hi), (120, 255)):
        compare(
            f"connected threshold [{low}, {high}]",
            lambda low=low, high=high: connected_threshold(
                image, SEEDS, lower=low, upper=high, max_fraction=None
            ),
            lambda low=low, high=high: sitk_filter(
                "ConnectedThreshold", image, lower=low, upper=high
            ),
            repeats,
        )
    compare(
        "connected thr. 26-connected",
        lambda: connected_threshold(image, SEEDS, lower=lo, upper=hi, connectivity=3),
        lambda: sitk_filter("ConnectedThreshold", image, lower=lo, upper=hi, connectivity=1),
        repeats,
    )
    _, c18, _ = median_time(
        lambda: connected_threshold(image, SEEDS, lower=lo, upper=hi, connectivity=2), repeats
    )
    print(f"{'connected thr. 18-connected':<31} CPU ours {c18:6.2f} s  (SimpleITK has no 18)")
    params = {"multiplier": 2.5, "iterations": 3, "initial_radius_voxels": 2}
    compare(
        "confidence connected",
        lambda: confidence_connected(image, SEEDS, **params),
        lambda: sitk_filter(
            "ConfidenceConnected",
            image,
            multiplier=2.5,
            numberOfIterations=3,
            initialNeighborhoodRadius=2,
        ),
        1,
    )
    compare(
        "neighbourhood connected (r=1)",
        lambda: neighborhood_connected(image, SEEDS, lower=lo, upper=hi, radius_voxels=1),
        lambda: sitk_filter("NeighborhoodConnected", image, lower=lo, upper=hi, radius=[1, 1, 1]),
        1,
    )

    slice_ = image[150]
    seeds = [(300, 200), (300, 312), (256, 256), (20, 20), (480, 480)]
    labels = [1, 1, 2, 3, 3]
    wall, cpu, _ = median_time(
        lambda: grow_from_seeds(slice_, seeds, labels, spacing=(1.0, 1.0)), 7 * max(repeats, 1)
    )
    print(
        f"{'grow_from_seeds, 512x512 slice':<31} median wall {1000 * wall:5.1f} ms, "
        f"CPU {1000 * cpu:5.1f} ms over {7 * max(repeats, 1)} runs (goal < 100 ms)"
    )


if __name__ == "__main__":
    main()
