"""Surface distances computed once per mask pair, and every boundary metric derived from them.

Two surface conventions are supported (see :data:`SURFACE_CONVENTIONS`); they give different
numbers on the same masks, so every result says which one it used.

- ``"voxel"`` (default): border voxels, as MONAI, medpy and MetricsReloaded define them.
  HDp is the larger of the two directed p-th percentiles, each with numpy's linear
  interpolation (MONAI / MetricsReloaded; medpy's ``hd95`` pools both directions first and
  gives different numbers).
- ``"surfel"``: area-weighted surface elements on the voxel-corner grid, as DeepMind's
  ``surface-distance`` package defines them (Nikolov et al. 2021 NSD). HDp is the larger of the
  two area-weighted directed percentiles (no interpolation), as that package computes it.

Nearest-surface distances are exact Euclidean distances in mm between element positions,
found with a k-d tree on the surface elements only (the same values a Euclidean distance
transform of the whole grid gives, for a fraction of the time and memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ._common import apply_empty, check_choice, check_pair, diagonal, empty_case, unit_spacing
from ._surfels import CONVENTIONS, ELEMENT_ORIGIN, crop_box, surface_elements

#: Surface convention name -> one-line statement of its definition.
SURFACE_CONVENTIONS = CONVENTIONS


@dataclass(frozen=True)
class SurfaceDistances:
    """Distances from each surface element of one mask to the surface of the other.

    Attributes
    ----------
    distances_ref_to_pred : (M,) float ndarray
        Distance in mm (voxel units when ``spacing`` is None) from each reference surface
        element to the nearest prediction surface element; ``inf`` when the prediction is empty.
    distances_pred_to_ref : (N,) float ndarray
        Same from each prediction surface element to the reference surface.
    areas_ref, areas_pred : (M,) and (N,) float ndarray
        Weight of each element: 1.0 for ``"voxel"``; length (2-D, mm) or area (3-D, mm^2) for
        ``"surfel"``.
    points_ref, points_pred : (M, ndim) and (N, ndim) float ndarray
        Voxel-index coordinates of each element: voxel centres for ``"voxel"``, voxel corners
        (half-integers) for ``"surfel"``.
    spacing : tuple of float or None
        Voxel spacing used (mm), or None for voxel units.
    surface : str
        ``"voxel"`` or ``"surfel"``.
    """

    distances_ref_to_pred: np.ndarray
    distances_pred_to_ref: np.ndarray
    areas_ref: np.ndarray
    areas_pred: np.ndarray
    points_ref: np.ndarray
    points_pred: np.ndarray
    spacing: tuple[float, ...] | None
    surface: str


def _nearest(points: np.ndarray, shared: np.ndarray, to_points: np.ndarray, scale) -> np.ndarray:
    """Distance from each point to the nearest of ``to_points`` (0 where ``shared``)."""
    out = np.zeros(len(points))
    if len(to_points) == 0:
        out[:] = np.inf
    elif not shared.all():
        tree = cKDTree(to_points * scale, balanced_tree=False, compact_nodes=False)
        out[~shared] = tree.query(points[~shared] * scale, k=1, workers=-1)[0]
    return out


def crop_distances(ref_crop, pred_crop, offset, *, spacing, surface) -> SurfaceDistances:
    """Surface distances of bool masks cropped to a box (starting at ``offset``) holding both.

    The box must contain every foreground voxel of both masks; positions are returned in the
    full image's voxel coordinates. Elements present in both surfaces get distance 0 without
    a search; the others query a k-d tree of the other surface's elements.
    """
    scale = np.asarray(unit_spacing(spacing, ref_crop.ndim))
    border_ref, areas_ref = surface_elements(ref_crop, tuple(scale), surface)
    border_pred, areas_pred = surface_elements(pred_crop, tuple(scale), surface)
    index_ref, index_pred = np.nonzero(border_ref), np.nonzero(border_pred)
    shift = offset + ELEMENT_ORIGIN[surface]
    points_ref = np.stack(index_ref, axis=1) + shift
    points_pred = np.stack(index_pred, axis=1) + shift
    return SurfaceDistances(
        distances_ref_to_pred=_nearest(points_ref, border_pred[index_ref], points_pred, scale),
        distances_pred_to_ref=_nearest(points_pred, border_ref[index_pred], points_ref, scale),
        areas_ref=areas_ref,
        areas_pred=areas_pred,
        points_ref=points_ref,
        points_pred=points_pred,
        spacing=spacing,
        surface=surface,
    )


def _distances(ref, pred, spacing, surface) -> SurfaceDistances:
    box = crop_box(ref, pred)
    if box is None:  # both empty: crop a single voxel, which has no surface
        box = (slice(0, 1),) * ref.ndim
    offset = np.array([s.start for s in box], float)
    return crop_distances(ref[box], pred[box], offset, spacing=spacing, surface=surface)


def compute_surface_distances(
    reference, prediction, *, spacing, surface="voxel"
) -> SurfaceDistances:
    """Compute the distances between the surfaces of two masks, once.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; any non-zero value is foreground.
    spacing : sequence of float or None
        Voxel size in mm per axis (numpy order). None gives distances in voxel units.
    surface : {"voxel", "surfel"}
        Surface convention (see :data:`SURFACE_CONVENTIONS`).

    Returns
    -------
    SurfaceDistances
        Per-element distances, weights and positions for both directions.

    Raises
    ------
    ValueError
        If the shapes differ, ``spacing`` does not match the dimensionality, or ``surface`` is
        unknown.

    Notes
    -----
    Empty masks never raise: an empty mask has no elements, and the other mask's distances to
    it are ``inf``.

    Examples
    --------
    >>> a = np.zeros((5, 5), bool); a[1:4, 1:4] = True
    >>> sd = compute_surface_distances(a, np.roll(a, 1, axis=1), spacing=(1.0, 2.0))
    >>> float(sd.distances_ref_to_pred.max())
    2.0
    """
    check_choice(surface, "surface", SURFACE_CONVENTIONS)
    ref, pred, spacing = check_pair(reference, prediction, spacing)
    return _distances(ref, pred, spacing, surface)


def _directed_percentile(distances, weights, percentile: float, surface: str) -> float:
    if len(distances) == 0:
        return np.nan
    if surface == "voxel":
        return float(np.percentile(distances, percentile))
    order = np.lexsort((weights, distances))
    cumulative = np.cumsum(weights[order]) / np.sum(weights)
    idx = min(int(np.searchsorted(cumulative, percentile / 100.0)), len(distances) - 1)
    return float(distances[order][idx])


def compute_hausdorff(sd: SurfaceDistances, *, percentile: float = 100) -> float:
    """Hausdorff distance (``percentile=100``) or HDp: the larger directed p-th percentile.

    ``"voxel"``: ``max(P_p(d(A->B)), P_p(d(B->A)))`` with numpy's linear interpolation.
    ``"surfel"``: the same with area-weighted percentiles (first element whose cumulative area
    fraction reaches p/100). NaN when either surface is empty.
    """
    if len(sd.distances_ref_to_pred) == 0 or len(sd.distances_pred_to_ref) == 0:
        return np.nan
    return max(
        _directed_percentile(sd.distances_ref_to_pred, sd.areas_ref, percentile, sd.surface),
        _directed_percentile(sd.distances_pred_to_ref, sd.areas_pred, percentile, sd.surface),
    )


def compute_assd(sd: SurfaceDistances) -> float:
    """ASSD = (sum_A w d(a,B) + sum_B w d(b,A)) / (sum_A w + sum_B w): both sets pooled."""
    if len(sd.distances_ref_to_pred) == 0 or len(sd.distances_pred_to_ref) == 0:
        return np.nan
    total = np.dot(sd.distances_ref_to_pred, sd.areas_ref) + np.dot(
        sd.distances_pred_to_ref, sd.areas_pred
    )
    return float(total / (sd.areas_ref.sum() + sd.areas_pred.sum()))


def compute_masd(sd: SurfaceDistances) -> float:
    """MASD = (mean_A d(a,B) + mean_B d(b,A)) / 2 (weighted means; the lectures' "ASD")."""
    if len(sd.distances_ref_to_pred) == 0 or len(sd.distances_pred_to_ref) == 0:
        return np.nan
    mean_rp = np.dot(sd.distances_ref_to_pred, sd.areas_ref) / sd.areas_ref.sum()
    mean_pr = np.dot(sd.distances_pred_to_ref, sd.areas_pred) / sd.areas_pred.sum()
    return float(0.5 * (mean_rp + mean_pr))


def compute_nsd(sd: SurfaceDistances, *, tolerance: float) -> float:
    """NSD: weighted fraction of both surfaces lying within ``tolerance`` of the other surface.

    ``(sum_A w [d(a,B) <= tau] + sum_B w [d(b,A) <= tau]) / (sum_A w + sum_B w)``; 0 when exactly
    one mask is empty, NaN when both are.
    """
    total = sd.areas_ref.sum() + sd.areas_pred.sum()
    if total == 0:
        return np.nan
    within = sd.areas_ref[sd.distances_ref_to_pred <= tolerance].sum()
    within += sd.areas_pred[sd.distances_pred_to_ref <= tolerance].sum()
    return float(within / total)


def hausdorff_location(surface_distances: SurfaceDistances) -> tuple[np.ndarray, float]:
    """Where the Hausdorff distance is attained.

    Returns
    -------
    point : (ndim,) float ndarray
        Voxel-index coordinates of the surface element farthest from the other surface
        (all NaN when either surface is empty).
    distance : float
        That element's distance, i.e. the Hausdorff distance (NaN when undefined).
    """
    sd = surface_distances
    ndim = sd.points_ref.shape[1]
    if len(sd.distances_ref_to_pred) == 0 or len(sd.distances_pred_to_ref) == 0:
        return np.full(ndim, np.nan), float("nan")
    i_rp, i_pr = np.argmax(sd.distances_ref_to_pred), np.argmax(sd.distances_pred_to_ref)
    if sd.distances_ref_to_pred[i_rp] >= sd.distances_pred_to_ref[i_pr]:
        return sd.points_ref[i_rp].copy(), float(sd.distances_ref_to_pred[i_rp])
    return sd.points_pred[i_pr].copy(), float(sd.distances_pred_to_ref[i_pr])


def _plain(reference, prediction, spacing, surface, empty, compute, worst):
    check_choice(empty, "empty", ("nan", "worst"))
    check_choice(surface, "surface", SURFACE_CONVENTIONS)
    ref, pred, spacing = check_pair(reference, prediction, spacing)
    sd = _distances(ref, pred, spacing, surface)
    case = empty_case(int(ref.any()), int(pred.any()))
    if worst is None:
        worst = diagonal(ref.shape, spacing)
    return apply_empty(compute(sd), case, empty, worst)


_PLAIN_DOC = """
    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float, optional
        Voxel size in mm (numpy order); None gives voxel units.
    surface : {{"voxel", "surfel"}}
        Surface convention (see :data:`SURFACE_CONVENTIONS`).
    empty : {{"nan", "worst"}}
        Empty-mask policy: NaN when undefined, or the worst value ({worst}) when exactly one
        mask is empty. Both empty is always NaN.

    Returns
    -------
    float
        {returns}
"""


def hausdorff_distance(
    reference, prediction, *, spacing=None, surface="voxel", percentile=100, empty="nan"
) -> float:
    return _plain(
        reference, prediction, spacing, surface, empty,
        lambda sd: compute_hausdorff(sd, percentile=percentile), None,
    )  # fmt: skip


hausdorff_distance.__doc__ = (
    "Hausdorff distance (``percentile=100``) or robust HDp between two masks.\n"
    + _PLAIN_DOC.format(worst="the image diagonal", returns="Distance in mm (or voxels).")
    + "\n    Examples\n    --------\n    >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True\n"
    "    >>> hausdorff_distance(a, np.roll(a, 2, axis=0), spacing=(0.5, 1.0))\n    1.0\n"
)


def average_symmetric_surface_distance(
    reference, prediction, *, spacing=None, surface="voxel", empty="nan"
) -> float:
    return _plain(reference, prediction, spacing, surface, empty, compute_assd, None)


average_symmetric_surface_distance.__doc__ = (
    "ASSD: all surface distances of both directions pooled, then averaged.\n"
    + _PLAIN_DOC.format(worst="the image diagonal", returns="Distance in mm (or voxels).")
)


def mean_average_surface_distance(
    reference, prediction, *, spacing=None, surface="voxel", empty="nan"
) -> float:
    return _plain(reference, prediction, spacing, surface, empty, compute_masd, None)


mean_average_surface_distance.__doc__ = (
    "MASD: the mean of the two directed mean surface distances (the lectures' ASD formula).\n"
    + _PLAIN_DOC.format(worst="the image diagonal", returns="Distance in mm (or voxels).")
)


def normalized_surface_distance(
    reference, prediction, *, spacing=None, tolerance=1.0, surface="voxel", empty="nan"
) -> float:
    return _plain(
        reference, prediction, spacing, surface, empty,
        lambda sd: compute_nsd(sd, tolerance=tolerance), 0.0,
    )  # fmt: skip


normalized_surface_distance.__doc__ = (
    "NSD (normalised surface Dice): fraction of both surfaces within ``tolerance`` mm.\n"
    + _PLAIN_DOC.format(worst="0", returns="Fraction in [0, 1].")
)
