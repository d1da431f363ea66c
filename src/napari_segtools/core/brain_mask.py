"""Brain extraction (skull stripping) for T1-weighted head MRI, in millimetres.

A classic intensity-and-morphology method, in the spirit of the initial steps of FSL's BET
(Smith 2002) and of morphological skull stripping (Brummer et al. 1993):

1. **Head and levels.** BET's robust range: ``t2``/``t98`` are the 2nd/98th intensity
   percentiles, the head is the largest region above ``t2 + 10 % (t98 - t2)`` (its ear canals
   and sinus openings sealed), its intensity-weighted centre of gravity is the brain's centre, and
   the ball of half the head's equivalent radius around it gives the brain's median intensity
   and its brightest white matter (98th percentile). The dark level (CSF, bone, air) is the
   head's 2nd percentile. Every threshold is placed between these levels, so the method does
   not depend on the scanner's intensity scale and tolerates a smooth bias field.
2. **Tissue.** Brain tissue lies above a threshold between the dark level and the brain's
   median, is not brighter than white matter (scalp, marrow and orbital fat are excluded), and
   lies deeper below the skin than scalp and skull.
3. **Cut the bridges.** Erosion by a ball in mm cuts the thin tissue bridges that cross the
   skull and CSF gap; the piece at the head's centre is the brain; dilation by the same ball
   brings back its shape (within the tissue).
4. **Envelope.** A closing bridges sulci and fissures and holes are filled (the ventricles), a
   rim of partial-volume voxels within a voxel or so of the surface is added, and a median
   filter smooths the surface.

Every radius is in mm and turned into voxels per axis, so anisotropic grids (2 x 2 x 3 mm
voxels: 3 mm coronal slices) get the same physical operation. The method uses no orientation:
any axis order or flip gives the same mask.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ._types import Progress, ProgressGenerator, run_to_completion
from ._validate import check_distance, check_image, check_number, check_spacing
from .cleanup import fill_holes, keep_largest_component, margin_mask, median_smooth

#: closing radius that seals the head's openings (ear canals, nostrils, sinus ostia: up to
#: ~2 cm wide) before the depth below the skin is measured
_HEAD_CLOSING_MM = 10.0
#: the centre ball's radius as a fraction of the head's equivalent-sphere radius (BET's initial
#: sphere); on any head it lies inside the brain
_CENTRE_FRACTION = 0.5
#: equivalent-sphere radius (mm) of a head above the background: a neonate's head is ~50 mm,
#: an adult head with neck ~110 mm; outside this range the spacing is not in mm
_HEAD_RADIUS_MM = (40.0, 200.0)

_STEPS = 6


class BrainMaskWarning(UserWarning):
    """A brain mask whose volume lies outside the plausible range: check input and result.

    Warned by :func:`brain_mask` when the mask's volume is outside ``volume_range_mm3``: a
    spacing not in mm, an image that is not a T1-weighted head, or a mask that leaked into the
    scalp or lost part of the brain.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn(BrainMaskWarning("the brain mask holds 2.4 l, outside 0.8-2 l"))
    >>> caught[0].category.__name__
    'BrainMaskWarning'
    """


def _ball(shape: tuple[int, ...], centre: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    dist2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing, strict=True))
    return np.asarray(dist2 <= radius_mm**2)


def _head(arr: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the sealed head mask, the brain's centre (voxels) and the head's radius (mm)."""
    from scipy import ndimage as ndi

    t2, t98 = np.percentile(arr, [2, 98])
    if t98 <= t2:  # a head filling under 2 % of the field of view: rank the voxels above t2
        above = arr[arr > t2]
        if above.size == 0:
            raise ValueError(f"`image` holds a single value ({t2:g}): it shows no head")
        t98 = float(np.percentile(above, 98))
    floor = t2 + 0.1 * (t98 - t2)
    head = fill_holes(_close(arr > floor, spacing, _HEAD_CLOSING_MM))
    head = keep_largest_component(head)  # noise specks and labels outside the head go
    volume = float(head.sum()) * float(np.prod(spacing))
    radius = (3 * volume / (4 * np.pi)) ** (1 / 3)
    low, high = _HEAD_RADIUS_MM
    if not low <= radius <= high:
        raise ValueError(
            f"the head in `image` measures {volume / 1e6:.3g} l (a ball of radius {radius:.3g} mm) "
            f"at `spacing` {tuple(spacing)}; a head is {low:g}-{high:g} mm in radius: give the "
            "voxel size in mm"
        )
    weights = np.where(head, np.clip(arr, floor, t98), 0.0)
    centre = np.asarray(ndi.center_of_mass(weights))
    return head, centre, radius


def _close(mask: np.ndarray, spacing, radius_mm: float) -> np.ndarray:
    """Close with a ball of ``radius_mm``, as two distance-transform margins.

    Equal to :func:`~napari_segtools.core.cleanup.close_mask` away from the border, and its cost
    does not grow with the radius (measured on a 241 x 277 x 241 head at 1 mm with a 10 mm ball:
    3.1 s instead of 58.6 s, the same voxels).
    """
    grown = margin_mask(mask, spacing=spacing, margin_mm=radius_mm)
    return margin_mask(grown, spacing=spacing, margin_mm=-radius_mm)


def _depth_mm(head: np.ndarray, spacing) -> np.ndarray:
    """Distance (mm) of each head voxel from the skin; the image border is not skin."""
    from scipy import ndimage as ndi

    padded = np.pad(head, 1, mode="edge")
    depth = ndi.distance_transform_edt(padded, sampling=spacing)
    return depth[(slice(1, -1),) * head.ndim]


def _check_fraction(value, name: str) -> float:
    return check_number(value, name, low=0.0, high=1.0, open_low=True)


def iter_brain_mask(
    image: ArrayLike,
    *,
    spacing: Sequence[float],
    brain_threshold_fraction: float = 0.5,
    fat_threshold_fraction: float = 0.5,
    rim_threshold_fraction: float = 0.3,
    scalp_depth_mm: float = 8.0,
    erosion_mm: float = 4.0,
    closing_mm: float = 8.0,
    rim_mm: float = 3.0,
    smoothing_mm: float = 3.0,
    volume_range_mm3: tuple[float, float] = (0.8e6, 2.0e6),
) -> ProgressGenerator[np.ndarray]:
    """Compute :func:`brain_mask`, yielding one :class:`Progress` per stage.

    Parameters, result, errors and warnings as :func:`brain_mask`.

    Examples
    --------
    >>> head = np.zeros((30, 30, 30)); head[5:25, 5:25, 5:25] = 40; head[9:21, 9:21, 9:21] = 100
    >>> [e.message for e in iter_brain_mask(head, spacing=(8, 8, 8), volume_range_mm3=(1, 1e7))]
    ['head', 'intensity levels', 'cut bridges', 'envelope', 'rim', 'smooth']
    """
    from scipy import ndimage as ndi

    arr = check_image(image, ndims=(3,))
    if spacing is None:
        raise TypeError(
            "`spacing` is required: the voxel size in mm (numpy axis order); brain extraction "
            "measures skull thickness and brain volume in mm"
        )
    spacing = check_spacing(spacing, 3)
    brain_t = _check_fraction(brain_threshold_fraction, "brain_threshold_fraction")
    rim_t = _check_fraction(rim_threshold_fraction, "rim_threshold_fraction")
    fat_t = (
        np.inf
        if isinstance(fat_threshold_fraction, float) and fat_threshold_fraction == np.inf
        else check_number(fat_threshold_fraction, "fat_threshold_fraction", low=0.0)
    )
    scalp = check_distance(scalp_depth_mm, "scalp_depth_mm")
    erosion = check_distance(erosion_mm, "erosion_mm")
    closing = check_distance(closing_mm, "closing_mm")
    rim = check_distance(rim_mm, "rim_mm")
    smoothing = check_distance(smoothing_mm, "smoothing_mm")
    try:
        low_mm3, high_mm3 = (float(v) for v in volume_range_mm3)
    except (TypeError, ValueError):
        raise TypeError(
            f"`volume_range_mm3` must be two volumes (mm^3); got {volume_range_mm3!r}"
        ) from None
    if not 0 <= low_mm3 < high_mm3:
        raise ValueError(
            f"`volume_range_mm3` must be (low, high) with 0 <= low < high; got {volume_range_mm3!r}"
        )
    arr = arr.astype(np.float32, copy=False)

    yield Progress(0, _STEPS, "head")
    head, centre, radius = _head(arr, spacing)
    yield Progress(1, _STEPS, "intensity levels")
    centre_ball = _ball(arr.shape, centre, _CENTRE_FRACTION * radius, spacing) & head
    dark = float(np.percentile(arr[head], 2))
    median, bright = (float(v) for v in np.percentile(arr[centre_ball], [50, 98]))
    if median <= dark:
        raise ValueError(
            "`image` shows no brain: the head's centre is no brighter than its darkest tissue "
            f"(median {median:g} vs {dark:g}); a T1-weighted head MRI is expected"
        )
    allowed = head & (arr <= bright + fat_t * (bright - median))
    if scalp > 0:
        allowed &= _depth_mm(head, spacing) > scalp
    tissue = allowed & (arr > dark + brain_t * (median - dark))

    yield Progress(2, _STEPS, "cut bridges")
    eroded = margin_mask(tissue, spacing=spacing, margin_mm=-erosion) if tissue.any() else tissue
    pieces, n = ndi.label(eroded)
    if n == 0:
        raise ValueError(
            f"no brain tissue is left after an erosion of {erosion:g} mm: lower `erosion_mm` or "
            "check that `image` is a T1-weighted head MRI"
        )
    in_centre = np.bincount(pieces[centre_ball], minlength=n + 1)
    in_centre[0] = 0
    if not in_centre.any():  # nothing at the centre: fall back on the largest piece
        in_centre = np.bincount(pieces.ravel())
        in_centre[0] = 0
    core = pieces == int(np.argmax(in_centre))
    del pieces, eroded

    yield Progress(3, _STEPS, "envelope")
    brain = keep_largest_component(margin_mask(core, spacing=spacing, margin_mm=erosion) & tissue)
    if closing > 0:
        brain = _close(brain, spacing, closing)
    brain = fill_holes(brain)

    yield Progress(4, _STEPS, "rim")
    if rim > 0:
        grown = margin_mask(brain, spacing=spacing, margin_mm=rim)
        grown &= allowed & (arr > dark + rim_t * (median - dark))
        grown |= brain
        parts, _ = ndi.label(grown)
        brain = fill_holes(parts == parts[tuple(np.argwhere(brain)[0])])

    yield Progress(5, _STEPS, "smooth")
    if smoothing > 0:
        brain = median_smooth(brain, spacing=spacing, radius_mm=smoothing)
        brain = fill_holes(keep_largest_component(brain)) if brain.any() else brain
    volume = float(brain.sum()) * float(np.prod(spacing))
    if not low_mm3 <= volume <= high_mm3:
        warnings.warn(
            BrainMaskWarning(
                f"the brain mask holds {volume / 1e6:.3g} l, outside the expected "
                f"{low_mm3 / 1e6:g}-{high_mm3 / 1e6:g} l: check `spacing` (mm), that `image` "
                "is a T1-weighted head, and the mask"
            ),
            stacklevel=4,
        )
    return brain


def brain_mask(
    image: ArrayLike,
    *,
    spacing: Sequence[float],
    brain_threshold_fraction: float = 0.5,
    fat_threshold_fraction: float = 0.5,
    rim_threshold_fraction: float = 0.3,
    scalp_depth_mm: float = 8.0,
    erosion_mm: float = 4.0,
    closing_mm: float = 8.0,
    rim_mm: float = 3.0,
    smoothing_mm: float = 3.0,
    volume_range_mm3: tuple[float, float] = (0.8e6, 2.0e6),
) -> np.ndarray:
    """Extract the brain (skull stripping) from a T1-weighted head MRI.

    Thresholds between robust intensity levels of the head, an erosion that cuts the brain from
    scalp and skull, the piece at the head's centre grown back, closed and filled; see the
    module notes (:mod:`napari_segtools.core.brain_mask`) for the steps. The mask holds grey
    and white matter, the ventricles and the CSF in sulci and fissures, up to the inner skull.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
        T1-weighted head MRI (CSF dark, white matter bright, fat brightest), any intensity
        scale, any orientation. An image already skull-stripped loses its outer
        ``scalp_depth_mm`` (taken for scalp): pass ``scalp_depth_mm=0``, or use ``image > 0``.
    spacing : tuple of 3 float
        Voxel size in mm, numpy axis order (required: radii and volumes are physical).
    brain_threshold_fraction : float
        Brain tissue lies above ``dark + fraction * (median - dark)``, between the head's dark
        level (CSF, bone) and the brain's median; 0.5 parts CSF from grey matter.
    fat_threshold_fraction : float
        Tissue brighter than ``bright + fraction * (bright - median)`` is fat (scalp, marrow,
        orbits), ``bright`` being the 98th percentile at the brain's centre (white matter).
        ``np.inf`` keeps all bright tissue.
    rim_threshold_fraction : float
        The partial-volume rim added at the end lies above ``dark + fraction * (median - dark)``.
    scalp_depth_mm : float
        The brain lies deeper than this below the skin (scalp 3-7 mm plus skull 4-7 mm in
        adults); the image border does not count as skin. 0 turns the test off.
    erosion_mm : float
        Radius of the erosion that cuts bridges across the skull and CSF gap: tissue bridges
        thinner than twice this are cut (the gap is 5-10 mm wide).
    closing_mm : float
        Radius of the closing that bridges sulci and fissures (up to twice this wide).
    rim_mm : float
        Reach of the rim of darker partial-volume voxels added at the surface (about a voxel).
    smoothing_mm : float
        Radius of the final median filter of the mask (0: none).
    volume_range_mm3 : (float, float)
        Plausible brain volume; a mask outside it warns. The default, 0.8-2.0 l, spans adult
        brains with the CSF around them (in 133 adults total brain 1.10 +- 0.11 l, intracranial
        volume 1.44 +- 0.13 l) and the larger MNI152 template brain (1.9 l).

    Returns
    -------
    mask : (Z, Y, X) bool ndarray
        The brain: one connected piece without holes.

    Raises
    ------
    ValueError
        If ``image`` is not 3-D, is empty or constant, shows no head of plausible size at
        ``spacing`` (spacing not in mm), or no brain is found; if an option is out of range.
    TypeError
        If ``spacing`` is missing or ``image`` does not hold numbers.

    Warns
    -----
    BrainMaskWarning
        If the mask's volume lies outside ``volume_range_mm3``.

    Notes
    -----
    On the T1 head sample (2 x 2 x 3 mm voxels) the mask reaches a Dice score of 0.967
    against the sample's skull-stripped image, in 0.7-0.9 s on 2 CPU cores; on the MNI152
    brain in a synthetic head (scalp, skull, eyes, neck, bias field and noise) 0.99 on 1-3 mm
    grids.

    References
    ----------
    S. M. Smith, "Fast robust automated brain extraction", Human Brain Mapping 17:143-155, 2002.
    M. E. Brummer et al., "Automatic detection of brain contours in MRI data sets", IEEE
    Transactions on Medical Imaging 12:153-166, 1993.

    Examples
    --------
    A 'brain' (grey 80 around white 110) in a dark skull gap inside a bright scalp:

    >>> from napari_segtools.core.phantoms import ellipsoid_mask
    >>> def ellipsoid(grow_mm):
    ...     return ellipsoid_mask((40, 40, 40), center_mm=(100, 100, 100), spacing=(5, 5, 5),
    ...                           radii_mm=(60 + grow_mm, 70 + grow_mm, 55 + grow_mm))
    >>> head = np.where(ellipsoid(16), 160.0, 0.0)  # scalp fat
    >>> head[ellipsoid(8)] = 10.0  # skull and CSF
    >>> head[ellipsoid(0)] = 80.0  # grey matter
    >>> head[ellipsoid(-20)] = 110.0  # white matter
    >>> mask = brain_mask(head, spacing=(5, 5, 5))
    >>> bool((mask == ellipsoid(0)).all()), round(float(mask.sum()) * 125 / 1e6, 2)  # litres
    (True, 0.97)
    """
    return run_to_completion(
        iter_brain_mask(
            image,
            spacing=spacing,
            brain_threshold_fraction=brain_threshold_fraction,
            fat_threshold_fraction=fat_threshold_fraction,
            rim_threshold_fraction=rim_threshold_fraction,
            scalp_depth_mm=scalp_depth_mm,
            erosion_mm=erosion_mm,
            closing_mm=closing_mm,
            rim_mm=rim_mm,
            smoothing_mm=smoothing_mm,
            volume_range_mm3=volume_range_mm3,
        )
    )
