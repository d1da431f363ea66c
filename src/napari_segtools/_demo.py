"""``napari-segtools demo``: napari with a sample loaded and every widget docked.

With ``--screenshot PATH`` it saves a picture of the whole window and quits (used for the README
and to prove the demo runs on a headless machine under Xvfb).
"""

from __future__ import annotations

import argparse
from pathlib import Path

WIDGETS = (
    "Threshold",
    "Region growing",
    "Atlas propagation",
    "U-Net inference",
    "Evaluation",
    "Segments",
    "Voxel classifier",
    "Cohort evaluation",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sample", default="brain_slice", help="sample key to open (default: brain_slice)"
    )
    parser.add_argument("--screenshot", type=Path, help="save the window to this PNG and quit")


def open_demo(sample: str = "brain_slice"):
    """Open a viewer with ``sample`` and dock the plugin's widgets (Threshold in front)."""
    import napari

    viewer = napari.Viewer(title="napari-segtools demo")
    viewer.open_sample("napari-segtools", sample)
    for layer in viewer.layers:  # keep the references for the Evaluation panel, out of sight
        layer.visible = not layer.name.endswith("reference")
    viewer.window.resize(1600, 1000)
    # the last tab added is the one in front: add the Threshold widget last
    for name in reversed(WIDGETS):
        viewer.window.add_plugin_dock_widget("napari-segtools", name, tabify=True)
    return viewer


def run(args: argparse.Namespace) -> int:
    import napari

    viewer = open_demo(args.sample)
    if args.screenshot is None:
        napari.run()
        return 0
    from qtpy.QtWidgets import QApplication

    for _ in range(20):
        QApplication.processEvents()
    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.screenshot), canvas_only=False)
    print(f"saved {args.screenshot}")
    viewer.close()
    return 0
