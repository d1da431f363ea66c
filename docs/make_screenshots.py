"""Save a picture of each widget in use: ``docs/screenshot_<widget>.png``.

Each picture is a 1600x1000 napari window with a shipped sample and one dock at work:

- ``threshold``: Otsu on the body of the head CT, live preview on a slice through the skull;
- ``region_growing``: competitive growing from seeds on the brain MRI slice;
- ``evaluation``: MNI152 reference against a perturbed copy, with the error map;
- ``gallery``: the metric pitfalls sample with the Evaluation dock;
- ``unet``: the shipped brain-tissue U-Net on the MNI152 template;
- ``segments``: the MNI152 segments with their volumes, statistics and a margin effect.

Run it headless (``make screenshot`` does)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py

``--only NAME`` makes one picture; ``--out DIR`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _settle(seconds: float = 0.5, timeout: float = 300.0) -> None:
    """Process events until no worker has run for ``seconds``."""
    from qtpy.QtCore import QThreadPool
    from qtpy.QtWidgets import QApplication

    pool = QThreadPool.globalInstance()
    deadline = time.perf_counter() + timeout
    quiet_since = None
    while time.perf_counter() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
        if pool.activeThreadCount():
            quiet_since = None
            continue
        quiet_since = quiet_since or time.perf_counter()
        if time.perf_counter() - quiet_since > seconds:
            return


def _viewer(sample: str):
    import napari

    viewer = napari.Viewer(title=f"napari-segtools: {sample}", show=True)
    viewer.window.resize(1600, 1000)
    viewer.open_sample("napari-segtools", sample)
    _settle()
    return viewer


def _dock(viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget("napari-segtools", name)
    _settle()
    return widget


def _middle(viewer, axis: int = 0, fraction: float = 0.5) -> None:
    if viewer.dims.ndim > 2:
        viewer.dims.set_current_step(axis, int(viewer.dims.nsteps[axis] * fraction))


def threshold():
    viewer = _viewer("ct_head")
    viewer.layers["head CT bone reference"].visible = False
    _middle(viewer, fraction=0.6)
    widget = _dock(viewer, "Threshold")
    widget.method.value = "otsu"
    widget.preview.value = True
    _settle(1.0)
    return viewer


def _deepest(mask: np.ndarray) -> tuple[int, ...]:
    """Return the voxel of ``mask`` farthest from its border (a seed deep inside it)."""
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(mask)
    return tuple(int(i) for i in np.unravel_index(np.argmax(distance), mask.shape))


def region_growing():
    viewer = _viewer("brain_slice")
    reference = viewer.layers["brain PD slice reference"]
    reference.visible = False
    tissue = np.asarray(reference.data)
    widget = _dock(viewer, "Region growing")
    widget.add_seeds.native.click()
    seeds = widget.seeds_layer
    # one seed deep inside white matter, ventricle and grey matter; background seeds outside
    # the head and on a ring around the brain (skull and scalp)
    from scipy import ndimage

    brain = ndimage.binary_fill_holes(tissue > 0)
    ring = np.argwhere(
        ndimage.binary_dilation(brain, iterations=6)
        & ~ndimage.binary_dilation(brain, iterations=4)
    )
    background = [(5, 5), *(tuple(int(v) for v in p) for p in ring[:: max(len(ring) // 12, 1)])]
    groups = [[_deepest(tissue == value)] for value in (1, 2, 3)] + [background]
    for label, points in enumerate(groups, start=1):
        widget.seed_label.value = label
        seeds.add(points)
        _settle()
    widget.controls.run_button.native.click()
    _settle(1.0)
    viewer.layers.selection.active = seeds
    return viewer


def evaluation():
    from scipy import ndimage

    viewer = _viewer("mni152")
    reference = viewer.layers["MNI152 reference"]
    data = np.asarray(reference.data)
    perturbed = data.copy()
    perturbed[ndimage.binary_dilation(data == 2, iterations=2) & (data > 0)] = 2
    perturbed = np.roll(perturbed, 2, axis=2)
    viewer.add_labels(
        perturbed, scale=reference.scale, translate=reference.translate, name="MNI152 prediction"
    )
    reference.visible = False
    _middle(viewer)
    widget = _dock(viewer, "Evaluation")
    widget.reference.value = reference
    widget.prediction.value = viewer.layers["MNI152 prediction"]
    widget.controls.run_button.native.click()
    _settle(1.0)
    return viewer


def gallery():
    viewer = _viewer("metric_pitfalls")
    _dock(viewer, "Evaluation")
    _settle(1.0)
    return viewer


def unet():
    viewer = _viewer("mni152")
    viewer.layers["MNI152 reference"].visible = False
    _middle(viewer)
    widget = _dock(viewer, "U-Net inference")
    widget.controls.run_button.native.click()
    _settle(1.0)
    return viewer


def segments():
    viewer = _viewer("mni152")
    _middle(viewer)
    widget = _dock(viewer, "Segments")
    _settle(1.0)
    widget.stats_image.value = viewer.layers["MNI152 T1"]
    widget.stats_controls.run_button.native.click()
    _settle(1.0)
    widget.select(2)  # white matter
    widget.effects.effect.value = "margin"
    widget.controls.run_button.native.click()
    _settle(1.0)
    return viewer


SHOTS = {
    "threshold": threshold,
    "region_growing": region_growing,
    "evaluation": evaluation,
    "gallery": gallery,
    "unet": unet,
    "segments": segments,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(SHOTS), action="append")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.only or SHOTS:
        try:
            viewer = SHOTS[name]()
        except Exception:  # noqa: BLE001 - one broken picture must not stop the others
            traceback.print_exc()
            failed += 1
            continue
        path = args.out / f"screenshot_{name}.png"
        viewer.screenshot(str(path), canvas_only=False)
        print(f"saved {path}")
        viewer.close()
        _settle(0.1)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
