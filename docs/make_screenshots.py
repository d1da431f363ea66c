"""Save a picture of each widget in use: ``docs/screenshot_<widget>.png``.

Each picture is a 1600x1000 napari window with a shipped sample and one dock at work:

- ``threshold``: Otsu on the body of the head CT, live preview on a slice through the skull;
- ``region_growing``: competitive growing from seeds on the brain MRI slice;
- ``evaluation``: MNI152 reference against a perturbed copy, with the error map;
- ``gallery``: the metric pitfalls sample with the Evaluation dock;
- ``unet``: the shipped brain-tissue U-Net on the MNI152 template;
- ``segments``: the MNI152 segments with their volumes, statistics and a margin effect;
- ``cohort``: three methods' cohort CSV (cases made from MNI152) plotted, one case opened;
- ``lesions``: lesion mode of the Evaluation dock on spheres in the MNI152 white matter.

Run it headless (``make screenshot`` does)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py

``--only NAME`` makes one picture; ``--out DIR`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import tempfile
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


#: the cohort's methods, in the order given to ``--methods``, and their cases
COHORT_METHODS = ("unet", "atlas", "threshold")
COHORT_CASES = 8


def _cohort_prediction(reference: np.ndarray, method: str, rng) -> np.ndarray:
    """Make one case's prediction: unet slightly off, atlas misregistered, threshold leaky."""
    from scipy import ndimage

    prediction = reference.copy()
    if method == "unet":  # grey matter a voxel too far, in spots along its outer rim
        rim = ndimage.binary_dilation(reference == 1) & (reference == 0)
        prediction[rim & (rng.random(reference.shape) < rng.uniform(0.05, 0.3))] = 1
    elif method == "atlas":  # a registration error of a voxel or two
        shift = tuple(int(v) for v in rng.integers(-1, 2, 3))
        prediction = np.roll(reference, shift, axis=(0, 1, 2))
        if rng.random() < 0.5:
            prediction = np.roll(prediction, 1, axis=int(rng.integers(3)))
    else:  # intensity threshold: grey matter leaks into the background, white matter shrinks
        leak = ndimage.binary_dilation(reference == 1, iterations=int(rng.integers(1, 3)))
        prediction[leak & (reference == 0)] = 1
        core = ndimage.binary_erosion(reference == 2, iterations=1)
        prediction[(reference == 2) & ~core & (rng.random(reference.shape) < 0.5)] = 1
    return prediction


def _write_cohort(root: Path) -> Path:
    """Write a small 3-method cohort made from MNI152 and evaluate it with the CLI."""
    from napari_segtools._cli import main
    from napari_segtools.core import samples
    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.io import write_image

    t1, labels, geometry = samples.mni152()
    geometry = Geometry(spacing=tuple(2 * s for s in geometry.spacing), origin=geometry.origin)
    for folder in ("ref", "images", *COHORT_METHODS):
        (root / folder).mkdir()
    rng = np.random.default_rng(1)
    for i in range(COHORT_CASES):
        # each case a 2 mm sampling of the template at another phase: 8 slightly different heads
        phase = ((i >> 2) & 1, (i >> 1) & 1, i & 1)
        window = tuple(slice(p, None, 2) for p in phase)
        reference, image = labels[window], t1[window]
        name = f"case{i + 1:02d}"
        write_image(root / "ref" / f"{name}.nii.gz", reference, geometry)
        write_image(root / "images" / f"{name}_0000.nii.gz", image, geometry)
        for method in COHORT_METHODS:
            prediction = _cohort_prediction(reference, method, rng)
            write_image(root / method / f"{name}.nii.gz", prediction, geometry)
    out = root / "cohort.csv"
    argv = ["evaluate", str(root / "ref"), "--methods", *(str(root / m) for m in COHORT_METHODS)]
    argv += ["--images", str(root / "images"), "--out", str(out)]
    if main([*argv, "--no-cldice", "--quiet", "--workers", "1"]):
        raise RuntimeError("napari-segtools evaluate failed")
    return out


def cohort():
    import napari

    viewer = napari.Viewer(title="napari-segtools: cohort", show=True)
    viewer.window.resize(1600, 1000)
    widget = _dock(viewer, "Cohort evaluation")
    with tempfile.TemporaryDirectory(prefix="segtools-cohort-") as root:
        widget.load(_write_cohort(Path(root)))
        _settle(1.0)
        widget.open_case("threshold", "case03")  # read into layers before the files go
        _settle(1.0)
    _middle(viewer, fraction=0.55)
    return viewer


def _spheres(shape, centres, radii_mm, spacing) -> np.ndarray:
    """Return a label map with a sphere (value 1) of ``radii_mm`` around each voxel centre."""
    grid = np.indices(shape, dtype=np.float32)
    out = np.zeros(shape, np.uint8)
    for centre, radius in zip(centres, radii_mm, strict=True):
        distance = sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing, strict=True))
        out[distance <= radius**2] = 1
    return out


def lesions():
    viewer = _viewer("mni152")
    reference = viewer.layers["MNI152 reference"]
    reference.visible = False
    labels = np.asarray(reference.data)
    spacing = tuple(float(s) for s in reference.scale)
    # eight white-matter lesions of 2 to 8 mm radius, around a few axial slices
    centres = [
        (97, 101, 66), (97, 143, 127), (97, 147, 51), (98, 59, 78),
        (99, 100, 142), (97, 94, 93), (101, 55, 111), (98, 80, 120),
    ]  # fmt: skip
    radii = [8.0, 7.0, 4.5, 4.0, 6.0, 3.5, 2.0, 2.5]
    ref = _spheres(labels.shape, centres, radii, spacing)
    # the prediction: each lesion a voxel off and a little smaller, the two smallest missed,
    # one false alarm
    shifted = [(z, y + 1, x) for z, y, x in centres[:6]] + [(100, 153, 81)]
    pred = _spheres(labels.shape, shifted, [r * 0.9 for r in radii[:6]] + [3.5], spacing)
    kwargs = {"scale": reference.scale, "translate": reference.translate}
    viewer.add_labels(ref, name="reference", **kwargs)
    viewer.add_labels(pred, name="prediction", **kwargs)
    _middle(viewer)
    widget = _dock(viewer, "Evaluation")
    widget.reference.value = viewer.layers["reference"]
    widget.prediction.value = viewer.layers["prediction"]
    for section in (widget.inputs_section, widget.results_section, widget.overlays_section):
        section.collapsible.collapse(animate=False)
    section = widget.lesions
    section.collapsible.expand(animate=False)
    section.controls.run_button.native.click()
    _settle(1.0)
    viewer.layers["reference"].visible = False
    viewer.layers["prediction"].visible = False
    row = section.table.statuses().index("FN")
    section.table.selectRow(row)
    _settle(0.5)
    bar = widget.scroll.verticalScrollBar()  # the dock scrolled down to the lesion table
    bar.setValue(bar.maximum())
    _settle(0.5)
    return viewer


SHOTS = {
    "threshold": threshold,
    "region_growing": region_growing,
    "evaluation": evaluation,
    "gallery": gallery,
    "unet": unet,
    "segments": segments,
    "cohort": cohort,
    "lesions": lesions,
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
