"""The "Metric pitfalls" gallery: reference/prediction pairs that each teach one metric pitfall.

The cases follow the pitfalls of Reinke et al. 2023 ("Understanding metric-related pitfalls in
image analysis validation"): structure size, structure shape, spatial alignment, holes,
annotation noise, empty label maps, resolution, over- versus under-segmentation by one layer of
voxels, and five predictions that share a Dice of 0.6 but differ in every distance metric. Every
case is a small 2-D pair built here from discs, lines and one-voxel morphology, so it is exact
and deterministic; each names the :class:`~napari_segtools.core.metrics.report.PitfallWarning`
key that :func:`napari_segtools.metrics.evaluate` raises on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from .geometry import Spacing

#: Dice that the five "DSC 0.6" predictions share (each within 0.01 of it).
SHARED_DICE = 0.6


@dataclass(frozen=True)
class PitfallCase:
    """One reference/prediction pair of the gallery.

    Attributes
    ----------
    name : str
        Case name; the layers are called ``"<name> reference"`` and ``"<name> prediction"``.
    pitfall : str
        The pitfall warning key the case raises (``"holes"``, ``"misalignment"``, ...).
    lesson : str
        One sentence: what the case shows.
    reference, prediction : (Y, X) uint8 ndarray
        Label images (0 = background).
    reference_spacing, prediction_spacing : tuple of float
        Pixel size in mm, numpy axis order. They differ only in the resolution case.
    prediction_offset : tuple of float
        Physical position (mm) of the prediction's first pixel centre relative to the
        reference's; non-zero only when the grids differ.
    title : str
        A short heading for the case picker ("Small structures: one pixel matters").
    """

    name: str
    pitfall: str
    lesson: str
    reference: np.ndarray
    prediction: np.ndarray
    reference_spacing: Spacing = (1.0, 1.0)
    prediction_spacing: Spacing = (1.0, 1.0)
    prediction_offset: tuple[float, ...] = (0.0, 0.0)
    title: str = ""

    @property
    def same_grid(self) -> bool:
        """True when reference and prediction share shape, spacing and origin."""
        return (
            self.reference.shape == self.prediction.shape
            and np.allclose(self.reference_spacing, self.prediction_spacing)
            and not np.any(self.prediction_offset)
        )


def disk(
    shape: tuple[int, ...],
    center_mm: Sequence[float],
    radius_mm: float,
    *,
    spacing: Spacing = (1.0, 1.0),
) -> np.ndarray:
    """Draw a disk: the pixels whose centre lies within ``radius_mm`` of ``center_mm``.

    Pixel ``(i, j)`` has its centre at ``(i * spacing[0], j * spacing[1])`` mm.

    Parameters
    ----------
    shape : tuple of int
        Shape of the mask (one entry per axis of ``spacing``).
    center_mm : sequence of float
        Centre in mm from pixel 0.
    radius_mm : float
        Radius in mm.
    spacing : tuple of float
        Pixel size in mm, numpy axis order.

    Returns
    -------
    bool ndarray
        The mask, of ``shape``.

    Examples
    --------
    >>> int(disk((5, 5), (2.0, 2.0), 1.0).sum())
    5
    >>> int(disk((5, 5), (2.0, 2.0), 1.0, spacing=(2.0, 1.0)).sum())
    3
    """
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = np.zeros(tuple(shape))
    for g, c, s in zip(grids, center_mm, spacing, strict=True):
        d2 = d2 + (g * s - c) ** 2
    return np.asarray(d2 <= radius_mm**2 + 1e-9)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _closest_to_dice(reference: np.ndarray, build, params) -> np.ndarray:
    """Pick the prediction ``build(p)`` over ``params`` whose Dice is nearest 0.6."""
    candidates = [build(p) for p in params]
    return min(candidates, key=lambda pred: abs(_dice(reference, pred) - SHARED_DICE))


def _u8(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.uint8)


def _small_structure() -> PitfallCase:
    shape = (40, 60)
    ref = np.zeros(shape, np.uint8)
    ref[18:21, 8:11] = 1  # a 9-pixel lesion
    ref[disk(shape, (20, 38), 12)] = 2  # a large organ
    pred = np.roll(ref, 1, axis=1)  # both shifted by one pixel
    return PitfallCase(
        "size",
        "small_structure",
        "The same one-pixel shift costs the 9-pixel lesion (label 1) a third of its Dice but the "
        "large disc (label 2) almost nothing.",
        ref,
        pred,
    )


def _vessel_tree(shape, width: int, gap: bool) -> np.ndarray:
    from skimage.draw import line

    tree = np.zeros(shape, bool)
    for r0, c0, r1, c1 in [(56, 32, 28, 32), (28, 32, 6, 12), (28, 32, 6, 52), (44, 32, 34, 54)]:
        rr, cc = line(r0, c0, r1, c1)
        tree[rr, cc] = True
    tree = ndi.binary_dilation(tree, np.ones((width, width), bool))
    if gap:
        tree[14:18, :28] = False  # the left branch is broken off
    return tree


def _thin_shape() -> PitfallCase:
    shape = (64, 64)
    ref = _vessel_tree(shape, 2, gap=False)
    pred = _vessel_tree(shape, 3, gap=True)
    return PitfallCase(
        "shape",
        "component_count",
        "Thin vessels: one pixel of extra thickness drops Dice to 0.75 although the tree is "
        "traced correctly, while the broken-off branch, the error that matters, shows only in the "
        "component count (clDice moves little for a short gap).",
        _u8(ref),
        _u8(pred),
    )


def _misalignment() -> PitfallCase:
    shape = (40, 48)
    ref = disk(shape, (20, 18), 7)
    pred = disk(shape, (20, 25), 7)
    return PitfallCase(
        "alignment",
        "misalignment",
        "A prediction of the right size in the wrong place: the overlap is moderate but the "
        "centres are a structure radius apart.",
        _u8(ref),
        _u8(pred),
    )


def _holes() -> PitfallCase:
    shape = (40, 40)
    ref = disk(shape, (20, 20), 14)
    pred = ref & ~disk(shape, (20, 20), 4)
    return PitfallCase(
        "holes",
        "holes",
        "A hole inside the prediction lowers Dice by only 0.04; look inside the masks, not only "
        "at the overlap score.",
        _u8(ref),
        _u8(pred),
    )


def _annotation_noise() -> PitfallCase:
    shape = (48, 48)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    angle = np.arctan2(yy - 24, xx - 24)
    jitter = np.interp(angle, np.linspace(-np.pi, np.pi, 25), rng.uniform(-2, 2, 25))
    ref = np.hypot(yy - 24, xx - 24) <= 13 + jitter
    for r, c in [(4, 5), (42, 40), (6, 44)]:  # stray clicks of the annotator
        ref[r, c] = True
    pred = disk(shape, (24, 24), 13)
    return PitfallCase(
        "annotation noise",
        "component_count",
        "Stray annotation clicks far from the object dominate HD while Dice hardly moves; "
        "HD95 and NSD are robust to them.",
        _u8(ref),
        _u8(pred),
    )


def _empty(which: str) -> PitfallCase:
    shape = (32, 32)
    blob = _u8(disk(shape, (16, 16), 5))
    empty = np.zeros(shape, np.uint8)
    if which == "reference":
        return PitfallCase(
            "empty reference",
            "empty_reference",
            "The reference is empty: Dice and HD are undefined, not 0 or 1, and must not be "
            "silently averaged; count false-positive detections instead.",
            empty,
            blob,
        )
    return PitfallCase(
        "empty prediction",
        "empty_prediction",
        "The prediction misses the structure entirely: distances are undefined and a mean that "
        "skips them hides the miss; count missed structures.",
        blob,
        empty,
    )


def _resolution() -> PitfallCase:
    fine, coarse, field = 0.5, 2.0, 24.0
    ref_shape = (int(field / fine),) * 2
    pred_shape = (int(field / coarse),) * 2
    # pixel centres of both grids tile the same 24 mm field; the circle sits at its centre
    ref = disk(ref_shape, (12 - fine / 2,) * 2, 8, spacing=(fine, fine))
    pred = disk(pred_shape, (12 - coarse / 2,) * 2, 8, spacing=(coarse, coarse))
    return PitfallCase(
        "resolution",
        "resolution_mismatch",
        "The same 8 mm circle drawn on a 0.5 mm and a 2 mm grid: the staircase of the coarse "
        "grid alone costs Dice and adds HD, although both masks show the same circle.",
        _u8(ref),
        _u8(pred),
        reference_spacing=(fine, fine),
        prediction_spacing=(coarse, coarse),
        prediction_offset=((coarse - fine) / 2,) * 2,
    )


def _anisotropy() -> PitfallCase:
    spacing = (4.0, 0.5)
    shape = (12, 96)
    ref = disk(shape, (22, 24), 16, spacing=spacing)
    pred = np.roll(ref, 1, axis=0)
    return PitfallCase(
        "anisotropy",
        "anisotropic_spacing",
        "With 4 mm x 0.5 mm pixels a one-pixel slip across rows is a 4 mm error but along "
        "columns only 0.5 mm: report distances in mm and per direction.",
        _u8(ref),
        _u8(pred),
        reference_spacing=spacing,
        prediction_spacing=spacing,
    )


def _one_layer(grow: bool) -> PitfallCase:
    shape = (32, 32)
    ref = disk(shape, (16, 16), 6)
    cross = ndi.generate_binary_structure(2, 1)
    if grow:
        pred = ndi.binary_dilation(ref, cross)
        return PitfallCase(
            "over-segmentation",
            "over_segmentation",
            "One extra layer of pixels all round: every error is a false positive, a systematic "
            "bias that Dice alone does not show.",
            _u8(ref),
            _u8(pred),
        )
    pred = ndi.binary_erosion(ref, cross)
    return PitfallCase(
        "under-segmentation",
        "under_segmentation",
        "One layer of pixels too few all round: the same Dice loss as over-segmentation, but "
        "every error is a false negative; compare volumes or FP against FN.",
        _u8(ref),
        _u8(pred),
    )


def _shared_dice_cases() -> list[PitfallCase]:
    shape, centre, radius = (48, 96), (24.0, 28.0), 10.0
    ref = disk(shape, centre, radius)

    def ring(r):  # the hole sits half a pixel off-centre: finer steps of Dice
        return ref & ~disk(shape, (24.5, 28.0), r)

    def spurious(r):
        return ref | disk(shape, (24, 72), r)

    def shifted(s):
        return disk(shape, (24, 28 + s), radius)

    def concentric(r):
        return disk(shape, centre, r)

    steps = np.arange(0.0, 20.0, 0.05)
    preds = {
        ("shifted", "misalignment"): _closest_to_dice(ref, shifted, steps),
        ("smaller", "under_segmentation"): _closest_to_dice(ref, concentric, steps[steps < 10]),
        ("larger", "over_segmentation"): _closest_to_dice(ref, concentric, steps[steps > 10]),
        ("holed", "holes"): _closest_to_dice(ref, ring, steps[steps < 10]),
        ("spurious", "component_count"): _closest_to_dice(ref, spurious, steps[steps < 18]),
    }
    return [
        PitfallCase(
            f"DSC 0.6 {kind}",
            key,
            f"One of five predictions with Dice 0.6 ({kind}): the same overlap score, but HD, "
            "HD95, ASSD and NSD tell the five apart.",
            _u8(ref),
            _u8(pred),
        )
        for (kind, key), pred in preds.items()
    ]


#: the picker's heading of each case, by case name
TITLES = {
    "size": "Small structures: one pixel matters",
    "shape": "Thin shapes: Dice misses a broken branch",
    "alignment": "Misalignment: right size, wrong place",
    "holes": "Holes: Dice barely notices them",
    "annotation noise": "Annotation noise: stray clicks set the Hausdorff distance",
    "empty reference": "Empty reference: metrics are undefined",
    "empty prediction": "Empty prediction: a complete miss",
    "resolution": "Resolution: the same circle on two grids",
    "anisotropy": "Anisotropic pixels: report distances in mm",
    "over-segmentation": "Over-segmentation by one pixel layer",
    "under-segmentation": "Under-segmentation by one pixel layer",
    **{
        f"DSC 0.6 {kind}": f"Dice 0.6, {kind}: same overlap, different error"
        for kind in ("shifted", "smaller", "larger", "holed", "spurious")
    },
}


def pitfall_cases() -> tuple[PitfallCase, ...]:
    """Build every case of the gallery (about 0.1 s).

    Returns
    -------
    cases : tuple of PitfallCase
        In display order; names are unique.

    Examples
    --------
    >>> cases = pitfall_cases()
    >>> [c.name for c in cases][:3]
    ['size', 'shape', 'alignment']
    >>> cases[0].title
    'Small structures: one pixel matters'
    """
    cases = (
        _small_structure(),
        _thin_shape(),
        _misalignment(),
        _holes(),
        _annotation_noise(),
        _empty("reference"),
        _empty("prediction"),
        _resolution(),
        _anisotropy(),
        _one_layer(grow=True),
        _one_layer(grow=False),
        *_shared_dice_cases(),
    )
    return tuple(replace(case, title=TITLES.get(case.name, case.name)) for case in cases)
