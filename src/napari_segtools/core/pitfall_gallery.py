"""The "Metric pitfalls" gallery: reference/prediction pairs that each reproduce one lesson.

The cases follow the metric pitfalls of Reinke et al. 2023 ("Understanding metric-related
pitfalls in image analysis validation"): one pixel matters for small structures, Mask IoU
against Boundary IoU, large structures dominating a score, thin branching shapes (clDice),
spatial alignment, holes, annotation noise, empty label maps, resolution, anisotropic pixels,
over- against under-segmentation, and five predictions that share a Dice of 0.6. Where the
lesson compares predictions, each prediction is its own label (1, 2, ...) on its own copy of
the reference, so the Evaluation table shows them side by side.

Every case is a small exact 2-D pair built from discs, lines and one-pixel morphology. Its
lesson prints numbers computed from its own arrays when the case is built (never typed in),
and it names the :class:`~napari_segtools.core.metrics.report.PitfallWarning` keys that
:func:`napari_segtools.metrics.evaluate` raises on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from .geometry import Geometry, Spacing, resample_labels_nearest
from .metrics.boundary import boundary_iou
from .metrics.overlap import dice, fbeta_score, jaccard
from .metrics.pitfalls import PitfallThresholds, equivalent_diameter
from .metrics.surface import hausdorff_distance, normalized_surface_distance
from .metrics.topology import center_distance, cldice, holes

#: Dice that the five "DSC 0.6" predictions share (each within 0.01 of it).
SHARED_DICE = 0.6
#: Boundary IoU band (mm) of the gallery's texts, ``evaluate``'s default. The two Boundary IoU
#: cases use 0.5 mm pixels, so the band is two pixels wide and a one-pixel error leaves the
#: bands overlapping (two one-pixel rims a pixel apart share almost nothing).
BAND_MM = 1.0
#: NSD tolerance (mm) of the holes case (tau = 2 pixels, as in Reinke et al.'s figure).
HOLES_TOLERANCE_MM = 2.0

_PIXEL: Spacing = (1.0, 1.0)
_HALF_MM: Spacing = (0.5, 0.5)
#: empty pixels kept on each side of a tile
_MARGIN = 3


@dataclass(frozen=True)
class PitfallCase:
    """One reference/prediction pair of the gallery.

    Attributes
    ----------
    name : str
        Case name; the layers are called ``"<name> reference"`` and ``"<name> prediction"``.
    title : str
        A short heading for the case picker ("Holes: boundary metrics miss them").
    pitfalls : tuple of str
        The pitfall warning keys the case raises (``"holes"``, ``"misalignment"``, ...), the
        lesson's own first.
    lesson : str
        What the case shows, with the numbers computed from its arrays.
    reference, prediction : (Y, X) uint8 ndarray
        Label images (0 = background).
    label_names : dict of int to str
        What each label stands for ("prediction 1: centred, larger"); empty for one label.
    reference_spacing, prediction_spacing : tuple of float
        Pixel size in mm, numpy axis order. They differ only in the resolution case.
    prediction_offset : tuple of float
        Physical position (mm) of the prediction's first pixel centre relative to the
        reference's; non-zero only when the grids differ.
    """

    name: str
    title: str
    pitfalls: tuple[str, ...]
    lesson: str
    reference: np.ndarray
    prediction: np.ndarray
    label_names: Mapping[int, str] = field(default_factory=dict)
    reference_spacing: Spacing = _PIXEL
    prediction_spacing: Spacing = _PIXEL
    prediction_offset: tuple[float, ...] = (0.0, 0.0)

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
    spacing: Spacing = _PIXEL,
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


def _ragged_disk(shape, center, radius: float, amplitude: float, wavelength: float) -> np.ndarray:
    """Draw a disc whose outline wobbles by +-``amplitude``, a bump every ``wavelength``."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    angle = np.arctan2(yy - center[0], xx - center[1])
    bumps = round(2 * np.pi * radius / wavelength)
    return np.hypot(yy - center[0], xx - center[1]) <= radius + amplitude * np.sin(bumps * angle)


def found_components(reference: np.ndarray, prediction: np.ndarray) -> tuple[int, int]:
    """Count the reference's components that a prediction finds ("point inside mask").

    A reference component (face connectivity) is found when the centre of mass of some
    predicted component lies inside it.

    Returns
    -------
    found, total : int
        Components found, and the reference's component count.

    Examples
    --------
    >>> ref = np.zeros((5, 9), bool); ref[1:4, 1:4] = ref[1:4, 5:8] = True
    >>> found_components(ref, np.roll(ref, 1, axis=1) & (np.arange(9) < 5))
    (1, 2)
    """
    ref_ids, total = ndi.label(reference)
    pred_ids, n_pred = ndi.label(prediction)
    centres = ndi.center_of_mass(prediction, pred_ids, range(1, n_pred + 1))
    hit = {int(ref_ids[tuple(np.round(c).astype(int))]) for c in centres}
    return len(hit - {0}), int(total)


def _tiles(parts: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Put (reference, prediction) tiles side by side, tile k as label k + 1.

    Each tile keeps the columns its two masks cover, with a margin of ``_MARGIN`` pixels.
    """
    refs, preds = [], []
    for k, (ref, pred) in enumerate(parts, start=1):
        used = np.flatnonzero((ref | pred).any(axis=0))
        keep = slice(max(used[0] - _MARGIN, 0), used[-1] + 1 + _MARGIN)
        refs.append(ref[:, keep].astype(np.uint8) * k)
        preds.append(pred[:, keep].astype(np.uint8) * k)
    return np.hstack(refs), np.hstack(preds)


def _closest_to(target: float, reference: np.ndarray, build: Callable, params) -> np.ndarray:
    """Return the prediction ``build(p)`` over ``params`` whose Dice is nearest ``target``."""
    return min((build(p) for p in params), key=lambda pred: abs(dice(reference, pred) - target))


def _small_structure() -> PitfallCase:
    shape, spacing = (40, 60), _HALF_MM
    ref = np.zeros(shape, np.uint8)
    ref[18:21, 8:11] = 1  # a 9-pixel lesion
    ref[disk(shape, (20, 38), 12)] = 2  # a large organ
    pred = np.roll(ref, 1, axis=1)  # both shifted by one pixel
    d, iou, biou, found = {}, {}, {}, {}
    for k in (1, 2):
        r, p = ref == k, pred == k
        d[k], iou[k] = dice(r, p), jaccard(r, p)
        biou[k] = boundary_iou(r, p, spacing=spacing, band_mm=BAND_MM)
        found[k] = found_components(r, p)
    lesson = (
        f"The same one-pixel ({spacing[1]:g} mm) shift: the 9-pixel lesion (label 1) drops to "
        f"Dice {d[1]:.2f} (Mask IoU {iou[1]:.2f}) while the large disc (label 2) keeps Dice "
        f"{d[2]:.2f} (Mask IoU {iou[2]:.2f}). Boundary IoU ({BAND_MM:g} mm band) judges both "
        f"outlines alike: {biou[1]:.2f} and {biou[2]:.2f}. For a lesion this small the question "
        f"is detection, and it is found ({found[1][0]} of {found[1][1]}: the predicted "
        "lesion's centre lies inside it), which Dice does not say."
    )
    return PitfallCase(
        "size",
        "Small structures: one pixel matters",
        ("small_structure",),
        lesson,
        ref,
        pred,
        {1: "small lesion", 2: "large disc"},
        reference_spacing=spacing,
        prediction_spacing=spacing,
    )


def _mask_vs_boundary_iou() -> PitfallCase:
    shape, spacing, amplitude, wavelength = (52, 84), _HALF_MM, 1.0, 4.0  # in pixels
    ref = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for k, centre, radius in ((1, (26, 24), 20), (2, (26, 68), 4)):
        ref[disk(shape, centre, radius)] = k
        pred[_ragged_disk(shape, centre, radius, amplitude, wavelength)] = k
    iou, biou = {}, {}
    for k in (1, 2):
        iou[k] = jaccard(ref == k, pred == k)
        biou[k] = boundary_iou(ref == k, pred == k, spacing=spacing, band_mm=BAND_MM)
    lesson = (
        f"The same ragged outline (+-{amplitude * spacing[0]:g} mm, a bump every "
        f"{wavelength * spacing[0]:g} mm) on a large disc (label 1) and a small one (label 2). "
        f"Mask IoU forgives it on the large disc: {iou[1]:.2f} against {iou[2]:.2f}. Boundary "
        f"IoU ({BAND_MM:g} mm band) compares only the outlines: it is lower ({biou[1]:.2f} and "
        f"{biou[2]:.2f}) and nearly the same for both sizes."
    )
    return PitfallCase(
        "mask vs boundary IoU",
        "Mask IoU vs Boundary IoU: large objects hide boundary errors",
        ("boundary_error",),
        lesson,
        ref,
        pred,
        {1: "large disc", 2: "small disc"},
        reference_spacing=spacing,
        prediction_spacing=spacing,
    )


def _large_structures_dominate() -> PitfallCase:
    shape, centre, small = (40, 48), (20.0, 16.0), ((8.0, 38.0), (20.0, 40.0), (32.0, 38.0))
    large = disk(shape, centre, 12)
    smalls = np.any([disk(shape, c, 2) for c in small], axis=0)
    ref = large | smalls
    first = disk(shape, centre, 8) | smalls  # the small ones perfect, part of the large one
    second = large  # only the large one, perfect
    without_large = ~disk(shape, centre, 13)
    d, rest, found = {}, {}, {}
    for k, pred in ((1, first), (2, second)):
        d[k] = dice(ref, pred)
        rest[k] = dice(ref & without_large, pred & without_large)
        found[k] = found_components(ref, pred)
    lesson = (
        "Prediction 1 (label 1) segments all three small structures perfectly but only part of "
        "the large one; prediction 2 (label 2) gets only the large one. Dice prefers prediction "
        f"2: {d[2]:.2f} against {d[1]:.2f}, because the large structure dominates the pixel "
        f"count. Without it the order flips: {rest[1]:.2f} against {rest[2]:.2f}; structures "
        f"found: {found[1][0]} of {found[1][1]} against {found[2][0]} of {found[2][1]}."
    )
    ref_tiles, pred_tiles = _tiles(((ref, first), (ref, second)))
    return PitfallCase(
        "large structures",
        "Large structures dominate the score",
        ("component_count",),
        lesson,
        ref_tiles,
        pred_tiles,
        {1: "prediction 1: small ones right", 2: "prediction 2: large one only"},
    )


def _tree(shape, segments, width: int) -> np.ndarray:
    from skimage.draw import line

    tree = np.zeros(shape, bool)
    for r0, c0, r1, c1 in segments:
        tree[line(r0, c0, r1, c1)] = True
    return ndi.binary_dilation(tree, np.ones((width, width), bool)) if width > 1 else tree


def _thin_structure() -> PitfallCase:
    shape = (48, 48)
    trunk = [(44, 24, 24, 24), (24, 24, 8, 12), (24, 24, 8, 36)]
    fine = [
        (36, 24, 30, 40),
        (32, 24, 26, 8),
        (16, 18, 4, 22),
        (16, 30, 4, 26),
        (40, 24, 44, 36),
        (40, 24, 44, 12),
        (20, 21, 12, 4),
        (20, 27, 12, 44),
    ]
    ref = _tree(shape, trunk, 6) | _tree(shape, fine, 2)
    first = _tree(shape, trunk, 6) & ref  # the thick trunk only: the fine branches missed
    second = (_tree(shape, trunk, 3) | _tree(shape, fine, 2)) & ref  # thinner, every branch
    d = {k: dice(ref, p) for k, p in ((1, first), (2, second))}
    cl = {k: cldice(ref, p) for k, p in ((1, first), (2, second))}
    lesson = (
        "Prediction 1 (label 1) covers the thick trunk but misses the fine branches; prediction "
        "2 (label 2) is thinner but follows every branch. Dice cannot tell them apart "
        f"({d[1]:.3f} against {d[2]:.3f}); clDice, which compares centrelines (skeletons) "
        f"rather than areas, exposes the missed branches: {cl[1]:.2f} against {cl[2]:.2f}."
    )
    ref_tiles, pred_tiles = _tiles(((ref, first), (ref, second)))
    return PitfallCase(
        "shape",
        "Thin structures: clDice sees the missed branches",
        ("thin_structure",),
        lesson,
        ref_tiles,
        pred_tiles,
        {1: "prediction 1: trunk only", 2: "prediction 2: thin, every branch"},
    )


def _misalignment() -> PitfallCase:
    shape, centre, radius = (28, 32), (14.0, 12.0), 8.0
    ref = disk(shape, centre, radius)
    first = disk(shape, centre, 10.8)  # centred, too large
    second = disk(shape, (centre[0], centre[1] + 3.9), radius)  # the right size, shifted
    ratio = PitfallThresholds().misalignment_ratio
    diameter = equivalent_diameter(float(ref.sum()), 2)
    d, cd = {}, {}
    for k, pred in ((1, first), (2, second)):
        d[k], cd[k] = dice(ref, pred), center_distance(ref, pred, spacing=_PIXEL)
    tolerance = ratio * diameter
    verdict = {k: "a hit" if cd[k] <= tolerance else "a miss" for k in cd}
    lesson = (
        f"Equal Dice ({d[1]:.3f} and {d[2]:.3f}), yet prediction 1 (label 1, centred but too "
        f"large) has its centre {cd[1]:.1f} mm from the reference's and prediction 2 (label 2, "
        f"the right size) {cd[2]:.1f} mm. By a localisation criterion (a hit when the centre "
        f"distance is at most {ratio:.0%} of the structure's {diameter:.1f} mm diameter, "
        f"{tolerance:.1f} mm) prediction 1 is {verdict[1]} and prediction 2 {verdict[2]}."
    )
    ref_tiles, pred_tiles = _tiles(((ref, first), (ref, second)))
    return PitfallCase(
        "alignment",
        "Misalignment: equal Dice, different place",
        ("misalignment",),
        lesson,
        ref_tiles,
        pred_tiles,
        {1: "prediction 1: centred", 2: "prediction 2: shifted"},
    )


def _holes() -> PitfallCase:
    shape, centre = (28, 28), (14.0, 14.0)
    ref = disk(shape, centre, 10)
    pred = ref & ~disk(shape, centre, 5.5)
    outline = pred | holes(pred)  # the prediction's outer contour, the hole filled
    tau = HOLES_TOLERANCE_MM
    hole = int(np.count_nonzero(holes(pred)))
    d = dice(ref, pred)
    outer_hd = hausdorff_distance(ref, outline, spacing=_PIXEL)
    outer_nsd = normalized_surface_distance(ref, outline, spacing=_PIXEL, tolerance_mm=tau)
    wall = {
        surface: (
            hausdorff_distance(ref, pred, spacing=_PIXEL, surface=surface),
            normalized_surface_distance(
                ref, pred, spacing=_PIXEL, tolerance_mm=tau, surface=surface
            ),
        )
        for surface in ("voxel", "surfel")
    }
    lesson = (
        f"A hole inside the prediction ({hole} pixels, {hole / ref.sum():.0%} of the reference): "
        f"Dice ({d:.2f}) and the volume show it. The outline's boundary metrics do not: with the "
        f"hole filled, HD is {outer_hd:.1f} mm and NSD {outer_nsd:.2f} (tolerance {tau:g} mm). "
        "Both surface conventions here keep the hole's inner wall as surface, so this pair's HD "
        f"is {wall['voxel'][0]:.1f} mm and NSD {wall['voxel'][1]:.2f} (voxel; surfel "
        f"{wall['surfel'][0]:.1f} mm, {wall['surfel'][1]:.2f}): they see a hole only by how far "
        "its wall lies from the outline, and NSD misses it when the wall lies within the "
        "tolerance."
    )
    return PitfallCase(
        "holes",
        "Holes: boundary metrics miss them",
        ("holes",),
        lesson,
        ref.astype(np.uint8),
        pred.astype(np.uint8),
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
    hd = hausdorff_distance(ref, pred, spacing=_PIXEL)
    hd95 = hausdorff_distance(ref, pred, spacing=_PIXEL, percentile=95)
    lesson = (
        f"Three stray clicks in the reference, far from the object, set HD to {hd:.1f} mm while "
        f"HD95 is {hd95:.1f} mm and Dice {dice(ref, pred):.2f}: the maximum follows single "
        "outliers of the annotation; HD95 and NSD are robust to them."
    )
    return PitfallCase(
        "annotation noise",
        "Annotation noise: stray clicks set the Hausdorff distance",
        ("component_count",),
        lesson,
        ref.astype(np.uint8),
        pred.astype(np.uint8),
    )


def _empty(which: str) -> PitfallCase:
    shape = (32, 32)
    blob = disk(shape, (16, 16), 5).astype(np.uint8)
    empty = np.zeros(shape, np.uint8)
    ref, pred = (empty, blob) if which == "reference" else (blob, empty)
    d = dice(ref, pred)
    hd = hausdorff_distance(ref, pred, spacing=_PIXEL)
    worst = hausdorff_distance(ref, pred, spacing=_PIXEL, empty="worst")
    if which == "reference":
        lesson = (
            f"The reference is empty and the prediction has {int(blob.sum())} pixels: Dice is "
            f"{d:.0f} whatever their number, and recall and HD are undefined ({hd}), not 0 or 1. "
            "A mean that skips undefined values hides this case: count it as a false-positive "
            "detection."
        )
        return PitfallCase(
            "empty reference",
            "Empty reference: metrics are undefined",
            ("empty_reference",),
            lesson,
            ref,
            pred,
        )
    lesson = (
        f"The structure ({int(blob.sum())} pixels) is missed entirely: Dice {d:.0f}, HD undefined "
        f"({hd}; with empty='worst' the image diagonal, {worst:.1f} mm). A mean that skips "
        "undefined values hides the miss: count missed structures."
    )
    return PitfallCase(
        "empty prediction",
        "Empty prediction: a complete miss",
        ("empty_prediction",),
        lesson,
        ref,
        pred,
    )


def _resolution() -> PitfallCase:
    fine, coarse, field_mm, radius = 0.5, 2.0, 24.0, 8.0
    ref_shape = (int(field_mm / fine),) * 2
    pred_shape = (int(field_mm / coarse),) * 2
    # pixel centres of both grids tile the same 24 mm field; the circle sits at its centre
    ref = disk(ref_shape, (12 - fine / 2,) * 2, radius, spacing=(fine, fine))
    pred = disk(pred_shape, (12 - coarse / 2,) * 2, radius, spacing=(coarse, coarse))
    offset = ((coarse - fine) / 2,) * 2
    scored = resample_labels_nearest(
        pred, Geometry((coarse, coarse), offset), Geometry((fine, fine)), ref.shape
    )
    area_ref, area_pred = ref.sum() * fine**2, pred.sum() * coarse**2
    hd = hausdorff_distance(ref, scored, spacing=(fine, fine))
    lesson = (
        f"The same {radius:g} mm circle ({np.pi * radius**2:.0f} mm2) drawn on a {fine:g} mm and "
        f"a {coarse:g} mm grid covers {area_ref:.0f} and {area_pred:.0f} mm2. Scored on the fine "
        f"grid, the coarse staircase alone costs Dice ({dice(ref, scored):.2f}) and adds HD "
        f"({hd:.1f} mm), although both masks show the same circle."
    )
    return PitfallCase(
        "resolution",
        "Resolution: the same circle on two grids",
        ("resolution_mismatch",),
        lesson,
        ref.astype(np.uint8),
        pred.astype(np.uint8),
        reference_spacing=(fine, fine),
        prediction_spacing=(coarse, coarse),
        prediction_offset=offset,
    )


def _anisotropy() -> PitfallCase:
    spacing = (4.0, 0.5)
    shape = (12, 96)
    ref = disk(shape, (22, 24), 16, spacing=spacing)
    pred = np.roll(ref, 1, axis=0)
    along = np.roll(ref, 1, axis=1)
    hd_rows = hausdorff_distance(ref, pred, spacing=spacing)
    hd_cols = hausdorff_distance(ref, along, spacing=spacing)
    lesson = (
        f"With {spacing[0]:g} mm x {spacing[1]:g} mm pixels a one-pixel slip across rows (shown) "
        f"is an HD of {hd_rows:.1f} mm and Dice {dice(ref, pred):.2f}, the same slip along "
        f"columns only {hd_cols:.1f} mm and Dice {dice(ref, along):.2f}: report distances in mm "
        "and look at the direction of the error."
    )
    return PitfallCase(
        "anisotropy",
        "Anisotropic pixels: report distances in mm",
        ("anisotropic_spacing",),
        lesson,
        ref.astype(np.uint8),
        pred.astype(np.uint8),
        reference_spacing=spacing,
        prediction_spacing=spacing,
    )


def _over_vs_under() -> PitfallCase:
    shape = (32, 32)
    ref = disk(shape, (16, 16), 6)
    cross = ndi.generate_binary_structure(2, 1)
    under = ndi.binary_erosion(ref, cross)  # one layer of pixels too few
    over = ndi.binary_dilation(ref, cross)  # one layer too many
    d, f05, f2 = {}, {}, {}
    for k, pred in ((1, under), (2, over)):
        d[k] = dice(ref, pred)
        f05[k] = fbeta_score(ref, pred, beta=0.5)
        f2[k] = fbeta_score(ref, pred, beta=2.0)
    lesson = (
        "One layer of pixels too few (label 1) or too many (label 2): Dice prefers "
        f"over-segmentation, {d[2]:.3f} against {d[1]:.3f}. F-beta chooses the side to punish: "
        f"beta 0.5 (precision first) gives {f05[1]:.2f} under against {f05[2]:.2f} over, beta 2 "
        f"(recall first) {f2[1]:.2f} against {f2[2]:.2f}."
    )
    ref_tiles, pred_tiles = _tiles(((ref, under), (ref, over)))
    return PitfallCase(
        "over vs under",
        "Over- vs under-segmentation by one pixel layer",
        ("under_segmentation", "over_segmentation"),
        lesson,
        ref_tiles,
        pred_tiles,
        {1: "under-segmentation", 2: "over-segmentation"},
    )


#: the five "DSC 0.6" predictions: label name and the warning each raises
SHARED_DICE_KINDS = {
    "shifted": "misalignment",
    "smaller": "under_segmentation",
    "larger": "over_segmentation",
    "holed": "holes",
    "spurious": "component_count",
}


def _shared_dice() -> PitfallCase:
    shape, centre, radius = (36, 64), (18.0, 18.0), 10.0
    ref = disk(shape, centre, radius)

    def ring(r):  # the hole sits half a pixel off-centre: finer steps of Dice
        return ref & ~disk(shape, (18.5, 18.0), r)

    def spurious(r):
        return ref | disk(shape, (18, 49), r)

    def shifted(s):
        return disk(shape, (18, 18 + s), radius)

    def concentric(r):
        return disk(shape, centre, r)

    steps = np.arange(0.0, 17.0, 0.05)
    builds = {
        "shifted": (shifted, steps),
        "smaller": (concentric, steps[steps < radius]),
        "larger": (concentric, steps[steps > radius]),
        "holed": (ring, steps[steps < radius]),
        "spurious": (spurious, steps[steps < 13.0]),
    }
    preds = [_closest_to(SHARED_DICE, ref, *builds[kind]) for kind in SHARED_DICE_KINDS]
    d = [dice(ref, p) for p in preds]
    hd = [hausdorff_distance(ref, p, spacing=_PIXEL) for p in preds]
    nsd = [normalized_surface_distance(ref, p, spacing=_PIXEL, tolerance_mm=1.0) for p in preds]
    lesson = (
        f"Five predictions, labels 1-5 ({', '.join(SHARED_DICE_KINDS)}), with the same Dice "
        f"({' / '.join(f'{v:.3f}' for v in d)}): the overlap score cannot tell them apart. HD "
        f"({' / '.join(f'{v:.1f}' for v in hd)} mm) and NSD at 1 mm "
        f"({' / '.join(f'{v:.2f}' for v in nsd)}) can, and the warnings name each error."
    )
    ref_tiles, pred_tiles = _tiles((ref, p) for p in preds)
    return PitfallCase(
        "DSC 0.6",
        "Dice 0.6 five times: same overlap, different errors",
        tuple(SHARED_DICE_KINDS.values()),
        lesson,
        ref_tiles,
        pred_tiles,
        dict(enumerate(SHARED_DICE_KINDS, start=1)),
    )


def pitfall_cases() -> tuple[PitfallCase, ...]:
    """Build every case of the gallery, computing the numbers its lesson prints (about 0.3 s).

    Returns
    -------
    cases : tuple of PitfallCase
        In display order; names are unique.

    Examples
    --------
    >>> cases = pitfall_cases()
    >>> [c.name for c in cases][:3]
    ['size', 'mask vs boundary IoU', 'large structures']
    >>> cases[0].title
    'Small structures: one pixel matters'
    """
    return (
        _small_structure(),
        _mask_vs_boundary_iou(),
        _large_structures_dominate(),
        _thin_structure(),
        _misalignment(),
        _holes(),
        _annotation_noise(),
        _empty("reference"),
        _empty("prediction"),
        _resolution(),
        _anisotropy(),
        _over_vs_under(),
        _shared_dice(),
    )
