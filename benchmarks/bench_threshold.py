"""Threshold benchmark: preview latency, and our automatic thresholds against SimpleITK's filters.

Run:  xvfb-run -a .venv/bin/python benchmarks/bench_threshold.py [--repeats 5] [--no-widget]

The volume is the real head CT (InVesalius sample, int16 HU) upsampled by nearest neighbour to
300 x 512 x 512, so the histogram is a real CT histogram. Printed per row: our time, the peer's
time, the ratio ours/peer (< 1 means we are faster) and both threshold values (they differ where
SimpleITK bins the histogram coarser: 128 or 256 bins against one bin per HU here).
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import time
from functools import partial

import numpy as np

from napari_segtools.core.io import read_image
from napari_segtools.core.threshold import (
    auto_threshold,
    image_histogram,
    threshold_from_histogram,
    threshold_mask,
)

SHAPE = (300, 512, 512)


def _volume() -> tuple[np.ndarray, tuple[float, ...]]:
    path = (
        importlib.resources.files("napari_segtools")
        / "sample_images"
        / "ct_head_invesalius"
        / "ct_head_0051.nii.gz"
    )
    ct, geometry = read_image(path)
    index = [np.arange(n) * m // n for n, m in zip(SHAPE, ct.shape, strict=True)]
    vol = np.ascontiguousarray(ct[np.ix_(*index)])
    spacing = tuple(s * m / n for s, n, m in zip(geometry.spacing, SHAPE, ct.shape, strict=True))
    return vol, spacing


def _timed(func, repeats: int):
    """Median wall time of ``func()`` in seconds, and its last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def _median_time(func, repeats: int) -> float:
    return _timed(func, repeats)[0]


def _rounded(value):
    return tuple(round(v, 1) for v in value) if isinstance(value, tuple) else round(value, 1)


def _sitk_threshold(filter_cls, image):
    """Run a SimpleITK threshold filter; its threshold value(s) after Execute."""
    f = filter_cls()
    if hasattr(f, "SetNumberOfThresholds"):  # multiple Otsu: 3 classes
        f.SetNumberOfThresholds(2)
        f.Execute(image)
        return tuple(f.GetThresholds())
    f.Execute(image)
    return f.GetThreshold()


def _row(name, ours, peer, ours_value="", peer_value=""):
    ratio = f"{ours / peer:6.2f}" if peer else "     -"
    peer_text = f"{peer * 1000:9.1f}" if peer else "        -"
    print(f"{name:<28}{ours * 1000:9.2f}{peer_text}{ratio}   {ours_value!s:<22}{peer_value!s}")


def bench_preview(vol, repeats):
    print("\n== preview latency (core, median ms) ==")
    slice_2d = vol[SHAPE[0] // 2]
    out2, out3 = np.empty(slice_2d.shape, bool), np.empty(vol.shape, bool)
    _row(
        "threshold 512x512 slice",
        _median_time(lambda: threshold_mask(slice_2d, lower=226, upper=3071, out=out2), 50),
        0,
    )
    _row(
        "threshold 512x512x300",
        _median_time(lambda: threshold_mask(vol, lower=226, upper=3071, out=out3), repeats),
        0,
    )
    numpy_time = _median_time(lambda: (vol >= 226) & (vol <= 3071), repeats)
    ours = _median_time(lambda: threshold_mask(vol, lower=226, upper=3071), repeats)
    print(
        f"  plain numpy (vol >= 226) & (vol <= 3071): {numpy_time * 1000:.1f} ms; "
        f"ours/numpy {ours / numpy_time:.2f}"
    )


def bench_widget_preview(vol, spacing, repeats):
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_segtools._qt.threshold_widget import ThresholdWidget

    print(
        "\n== widget preview (range change until the preview is drawn; worker-computed) ==\n"
        "latency = median ms until drawn; worst stall = longest GUI-thread block (10 ms ticks)"
    )
    viewer = napari.Viewer(show=False)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        viewer.add_image(vol, scale=spacing, name="ct")
        widget = ThresholdWidget(viewer)
        lows = iter(np.linspace(100, 400, 1000))

        def settle():
            while widget.busy:
                QApplication.processEvents()
                time.sleep(0.002)

        def change():
            widget.range.value = (float(next(lows)), 2986.0)
            settle()

        settle()
        for name, n in (("2D view (slice)", 30), ("3D view (volume)", repeats)):
            if name.startswith("3D"):
                viewer.dims.ndisplay = 3
                settle()
            ticks[:] = [time.perf_counter()]
            latency = _median_time(change, n)
            ticks.append(time.perf_counter())
            worst = max(b - a for a, b in zip(ticks, ticks[1:], strict=False))
            print(
                f"widget, {name:<24}latency {latency * 1000:8.1f}   worst stall {worst * 1000:6.1f}"
            )
    finally:
        timer.stop()
        viewer.close()


def bench_auto(vol, repeats):
    import SimpleITK as sitk

    print(
        f"\n== automatic thresholds on {SHAPE} int16 "
        f"(SimpleITK threads: {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}) =="
    )
    print(f"{'method':<28}{'ours ms':>9}{'sitk ms':>9}{'ratio':>6}   {'ours value':<22}sitk value")
    image = sitk.GetImageFromArray(vol)
    peers = {
        "otsu": sitk.OtsuThresholdImageFilter,
        "li": sitk.LiThresholdImageFilter,
        "yen": sitk.YenThresholdImageFilter,
        "triangle": sitk.TriangleThresholdImageFilter,
        "isodata": sitk.IsoDataThresholdImageFilter,
        "multiotsu": sitk.OtsuMultipleThresholdsImageFilter,
    }
    for method, peer_cls in peers.items():
        t_ours, value = _timed(partial(auto_threshold, vol, method=method, classes=3), repeats)
        t_peer, peer_value = _timed(partial(_sitk_threshold, peer_cls, image), repeats)
        _row(method, t_ours, t_peer, _rounded(value), _rounded(peer_value))
    hist_time = _median_time(lambda: image_histogram(vol), repeats)
    hist = image_histogram(vol)
    rest = _median_time(
        lambda: [
            threshold_from_histogram(hist, method=m)
            for m in ("otsu", "li", "yen", "triangle", "isodata", "mean")
        ],
        repeats,
    )
    print(
        f"  one histogram {hist_time * 1000:.1f} ms, then six methods together "
        f"{rest * 1000:.1f} ms (what the widget does)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-widget", action="store_true", help="skip the napari widget timing")
    args = parser.parse_args()
    vol, spacing = _volume()
    print(
        f"volume {vol.shape} {vol.dtype}, spacing {tuple(round(s, 3) for s in spacing)} mm, "
        f"CPUs {os.cpu_count()}"
    )
    bench_preview(vol, args.repeats)
    if not args.no_widget:
        bench_widget_preview(vol, spacing, args.repeats)
    bench_auto(vol, args.repeats)


if __name__ == "__main__":
    main()
