"""Surface distances computed once per mask pair, and every boundary metric derived from them.

Two surface conventions are supported (see :data:`SURFACE_CONVENTIONS`); they give different
numbers on the same masks, so every result says which one it used.

- ``"voxel"`` (default): border voxels, as MONAI, medpy and MetricsReloaded define them.
  Percentiles use numpy's linear interpolation.
- ``"surfel"``: area-weighted surface elements on the voxel-corner grid, as DeepMind's
  ``surface-distance`` package defines them (Nikolov et al. 2021 NSD). Percentiles are
  area-weighted (no interpolation), as that package computes them.

The robust Hausdorff distance HDp has two variants in use (see :data:`HD_VARIANTS`), which give
different numbers on the same distances: ``"directed_max"`` (default), the larger of the two
directed p-th percentiles (MONAI, MetricsReloaded, surface-distance), and ``"pooled"``, the
p-th percentile of both directions' distances together (medpy's ``hd95``, seg-metrics).

Nearest-surface distances are exact Euclidean distances in mm between element positions,
found with a k-d tree on the surface elements only (the same values a Euclidean distance
transform of the whole grid gives, for a fraction of the time and memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

from .._deprecate import deprecated_alias, renamed_keywords
from .._validate import check_choice, check_distance, check_percentile
from ._common import apply_empty, check_pair, diagonal, empty_case, length_unit, unit_spacing
from ._surfels import CONVENTIONS, ELEMENT_ORIGIN, crop_box, surface_elements

#: Surface convention name -> one-line statement of its definition.
SURFACE_CONVENTIONS = CONVENTIONS

#: Robust Hausdorff (HDp) variant name -> one-line statement of its definition.
HD_VARIANTS = {
    "directed_max": (
        "directed_max: HDp = max(P_p(d(R->P)), P_p(d(P->R))), the larger of the two directed "
        "p-th percentiles (MONAI, MetricsReloaded, surface-distance)"
    ),
    "pooled": (
        "pooled: HDp = P_p(d(R->P) and d(P->R) together), the p-th percentile of both "
        "directions' distances pooled (medpy hd95, seg-metrics)"
    ),
}


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

    Examples
    --------
    >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
    >>> sd = compute_surface_distances(a, np.roll(a, 1, axis=0), spacing=(2.0, 1.0))
    >>> sd.hausdorff(), sd.nsd(tolerance_mm=2.0), sd.unit
    (2.0, 1.0, 'mm')
    """

    distances_ref_to_pred: np.ndarray
    distances_pred_to_ref: np.ndarray
    areas_ref: np.ndarray
    areas_pred: np.ndarray
    points_ref: np.ndarray
    points_pred: np.ndarray
    spacing: tuple[float, ...] | None
    surface: str

    @property
    def unit(self) -> str:
        """Unit of every distance: ``"mm"``, or ``"voxel"`` when ``spacing`` was None."""
        return length_unit(self.spacing)

    @property
    def defined(self) -> bool:
        """Whether both surfaces have elements (else the distance metrics are undefined)."""
        return len(self.distances_ref_to_pred) > 0 and len(self.distances_pred_to_ref) > 0

    def hausdorff(self, *, percentile: float = 100, variant: str = "directed_max") -> float:
        """Return the Hausdorff distance (``percentile=100``) or the robust HDp.

        ``variant="directed_max"``: ``max(P_p(d(A->B)), P_p(d(B->A)))``; ``"pooled"``: the
        p-th percentile of both directions' distances together (see :data:`HD_VARIANTS`; at
        ``percentile=100`` both are the Hausdorff distance). ``"voxel"`` percentiles use numpy's
        linear interpolation; ``"surfel"`` ones are area-weighted (the first element whose
        cumulative area fraction reaches p/100). NaN when either surface is empty.

        Examples
        --------
        >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
        >>> compute_surface_distances(a, np.roll(a, 2, axis=0), spacing=None).hausdorff()
        2.0
        """
        percentile = check_percentile(percentile)
        check_choice(variant, "variant", HD_VARIANTS)
        if not self.defined:
            return float("nan")
        if variant == "pooled":
            return _directed_percentile(
                np.concatenate([self.distances_ref_to_pred, self.distances_pred_to_ref]),
                np.concatenate([self.areas_ref, self.areas_pred]),
                percentile,
                self.surface,
            )
        return max(
            _directed_percentile(
                self.distances_ref_to_pred, self.areas_ref, percentile, self.surface
            ),
            _directed_percentile(
                self.distances_pred_to_ref, self.areas_pred, percentile, self.surface
            ),
        )

    def assd(self) -> float:
        """Return the ASSD: all weighted distances of both directions pooled, then averaged.

        ``(sum_A w d(a,B) + sum_B w d(b,A)) / (sum_A w + sum_B w)``; NaN when a surface is empty.

        Examples
        --------
        >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
        >>> compute_surface_distances(a, a, spacing=(1.0, 1.0)).assd()
        0.0
        """
        if not self.defined:
            return float("nan")
        total = np.dot(self.distances_ref_to_pred, self.areas_ref) + np.dot(
            self.distances_pred_to_ref, self.areas_pred
        )
        return float(total / (self.areas_ref.sum() + self.areas_pred.sum()))

    def masd(self) -> float:
        """Return the MASD: the mean of the two directed weighted mean distances.

        ``(mean_A d(a,B) + mean_B d(b,A)) / 2`` (the lectures' "ASD"); NaN when a surface is
        empty.

        Examples
        --------
        >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
        >>> compute_surface_distances(a, a, spacing=(1.0, 1.0)).masd()
        0.0
        """
        if not self.defined:
            return float("nan")
        mean_rp = np.dot(self.distances_ref_to_pred, self.areas_ref) / self.areas_ref.sum()
        mean_pr = np.dot(self.distances_pred_to_ref, self.areas_pred) / self.areas_pred.sum()
        return float(0.5 * (mean_rp + mean_pr))

    def nsd(self, *, tolerance_mm: float = 1.0) -> float:
        """Return the NSD: weighted fraction of both surfaces within ``tolerance_mm`` of the other.

        ``(sum_A w [d(a,B) <= tau] + sum_B w [d(b,A) <= tau]) / (sum_A w + sum_B w)``; 0 when
        exactly one mask is empty, NaN when both are. ``tolerance_mm`` is in voxel units when
        ``spacing`` was None.

        Examples
        --------
        >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
        >>> sd = compute_surface_distances(a, np.roll(a, 1, axis=1), spacing=(1.0, 1.0))
        >>> sd.nsd(tolerance_mm=1.0)
        1.0
        """
        tau = check_distance(tolerance_mm, "tolerance_mm")
        total = self.areas_ref.sum() + self.areas_pred.sum()
        if total == 0:
            return float("nan")
        # a distance equal to the tolerance counts whatever the rounding of the coordinates
        # (an exact tie moves by 1 ulp when the masks are shifted or padded)
        tau = tau * (1 + 1e-12) + 1e-12
        within = self.areas_ref[self.distances_ref_to_pred <= tau].sum()
        within += self.areas_pred[self.distances_pred_to_ref <= tau].sum()
        return float(within / total)

    def hausdorff_location(self) -> tuple[np.ndarray, float]:
        """Return where the Hausdorff distance is attained, and that distance.

        Returns
        -------
        point : (ndim,) float ndarray
            Voxel-index coordinates of the surface element farthest from the other surface
            (all NaN when either surface is empty).
        distance : float
            That element's distance, i.e. the Hausdorff distance (NaN when undefined).

        Examples
        --------
        >>> a = np.zeros((6, 6), bool); a[1:3, 1:3] = True
        >>> b = a.copy(); b[5, 5] = True
        >>> point, d = compute_surface_distances(a, b, spacing=(1.0, 1.0)).hausdorff_location()
        >>> point.tolist(), round(d, 3)
        ([5.0, 5.0], 4.243)
        """
        ndim = self.points_ref.shape[1]
        if not self.defined:
            return np.full(ndim, np.nan), float("nan")
        i_rp = int(np.argmax(self.distances_ref_to_pred))
        i_pr = int(np.argmax(self.distances_pred_to_ref))
        if self.distances_ref_to_pred[i_rp] >= self.distances_pred_to_ref[i_pr]:
            return self.points_ref[i_rp].copy(), float(self.distances_ref_to_pred[i_rp])
        return self.points_pred[i_pr].copy(), float(self.distances_pred_to_ref[i_pr])


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
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    surface: str = "voxel",
) -> SurfaceDistances:
    """Compute the distances between the surfaces of two masks, once.

    Every boundary metric derives from the result without a new search:
    :meth:`SurfaceDistances.hausdorff`, ``.assd()``, ``.masd()``, ``.nsd(tolerance_mm=...)``
    and ``.hausdorff_location()``.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; any non-zero value is foreground.
    spacing : sequence of float or None
        Voxel size in mm per axis (numpy order); required. An explicit None gives distances in
        voxel units (``SurfaceDistances.unit == "voxel"``).
    surface : {"voxel", "surfel"}
        Surface convention (see :data:`SURFACE_CONVENTIONS`).

    Returns
    -------
    SurfaceDistances
        Per-element distances, weights and positions for both directions.

    Raises
    ------
    ValueError
        If the masks are not 2-D or 3-D, the shapes differ, ``spacing`` does not match the
        dimensionality, or ``surface`` is unknown.

    Notes
    -----
    Empty masks never raise: an empty mask has no elements, and the other mask's distances to
    it are ``inf``.

    Examples
    --------
    >>> a = np.zeros((5, 5), bool); a[1:4, 1:4] = True
    >>> sd = compute_surface_distances(a, np.roll(a, 1, axis=1), spacing=(1.0, 2.0))
    >>> float(sd.distances_ref_to_pred.max()), sd.unit
    (2.0, 'mm')
    """
    check_choice(surface, "surface", SURFACE_CONVENTIONS)
    ref, pred, spacing = check_pair(reference, prediction, spacing)
    return _distances(ref, pred, spacing, surface)


def _directed_percentile(distances, weights, percentile: float, surface: str) -> float:
    if len(distances) == 0:
        return float("nan")
    if surface == "voxel":
        return float(np.percentile(distances, percentile))
    order = np.lexsort((weights, distances))
    cumulative = np.cumsum(weights[order]) / np.sum(weights)
    idx = min(int(np.searchsorted(cumulative, percentile / 100.0)), len(distances) - 1)
    return float(distances[order][idx])


def _surface_pair(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    surface: str,
    empty: str,
) -> tuple[SurfaceDistances, str, float]:
    """Check the inputs once: (surface distances, empty case, image diagonal)."""
    check_choice(empty, "empty", ("nan", "worst"))
    check_choice(surface, "surface", SURFACE_CONVENTIONS)
    ref, pred, checked = check_pair(reference, prediction, spacing)
    case = empty_case(int(ref.any()), int(pred.any()))
    return _distances(ref, pred, checked, surface), case, diagonal(ref.shape, checked)


def hausdorff_distance(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    percentile: float = 100,
    variant: str = "directed_max",
    surface: str = "voxel",
    empty: str = "nan",
) -> float:
    """Compute the Hausdorff distance (``percentile=100``) or robust HDp between two masks.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float or None
        Voxel size in mm (numpy order); required. An explicit None gives voxel units.
    percentile : float
        Percentile in [0, 100]; 100 gives the Hausdorff distance.
    variant : {"directed_max", "pooled"}
        Robust variant (see :data:`HD_VARIANTS`): the larger of the two directed percentiles
        (MONAI, MetricsReloaded), or the percentile of both directions pooled (medpy's
        ``hd95``). Both equal the Hausdorff distance at ``percentile=100``.
    surface : {"voxel", "surfel"}
        Surface convention (see :data:`SURFACE_CONVENTIONS`).
    empty : {"nan", "worst"}
        Empty-mask policy: NaN when undefined, or the image diagonal when exactly one mask is
        empty. Both empty is always NaN.

    Returns
    -------
    float
        Distance in mm (voxel units when ``spacing`` is None).

    Raises
    ------
    ValueError
        If the masks are not 2-D or 3-D, the shapes differ, or an option is out of range.

    Examples
    --------
    >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
    >>> hausdorff_distance(a, np.roll(a, 2, axis=0), spacing=(0.5, 1.0))
    1.0

    One stray voxel 2 voxels away: the two variants of HD95 differ.

    >>> b = a.copy(); b[5, 2] = True
    >>> [round(hausdorff_distance(a, b, spacing=None, percentile=95, variant=v), 3)
    ...  for v in ("directed_max", "pooled")]
    [1.2, 0.4]
    """
    percentile = check_percentile(percentile)
    check_choice(variant, "variant", HD_VARIANTS)
    sd, case, diag = _surface_pair(
        reference, prediction, spacing=spacing, surface=surface, empty=empty
    )
    return apply_empty(sd.hausdorff(percentile=percentile, variant=variant), case, empty, diag)


def average_symmetric_surface_distance(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    surface: str = "voxel",
    empty: str = "nan",
) -> float:
    """Compute the ASSD: all surface distances of both directions pooled, then averaged.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float or None
        Voxel size in mm (numpy order); required. An explicit None gives voxel units.
    surface : {"voxel", "surfel"}
        Surface convention (see :data:`SURFACE_CONVENTIONS`).
    empty : {"nan", "worst"}
        Empty-mask policy: NaN when undefined, or the image diagonal when exactly one mask is
        empty. Both empty is always NaN.

    Returns
    -------
    float
        Distance in mm (voxel units when ``spacing`` is None).

    Examples
    --------
    >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
    >>> average_symmetric_surface_distance(a, a, spacing=(1.0, 1.0))
    0.0
    """
    sd, case, diag = _surface_pair(
        reference, prediction, spacing=spacing, surface=surface, empty=empty
    )
    return apply_empty(sd.assd(), case, empty, diag)


def mean_average_surface_distance(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    surface: str = "voxel",
    empty: str = "nan",
) -> float:
    """Compute the MASD: the mean of the two directed mean surface distances.

    This is the lecture notes' "ASD" formula; :func:`average_symmetric_surface_distance` pools
    both directions instead.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float or None
        Voxel size in mm (numpy order); required. An explicit None gives voxel units.
    surface : {"voxel", "surfel"}
        Surface convention (see :data:`SURFACE_CONVENTIONS`).
    empty : {"nan", "worst"}
        Empty-mask policy: NaN when undefined, or the image diagonal when exactly one mask is
        empty. Both empty is always NaN.

    Returns
    -------
    float
        Distance in mm (voxel units when ``spacing`` is None).

    Examples
    --------
    >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
    >>> mean_average_surface_distance(a, a, spacing=(1.0, 1.0))
    0.0
    """
    sd, case, diag = _surface_pair(
        reference, prediction, spacing=spacing, surface=surface, empty=empty
    )
    return apply_empty(sd.masd(), case, empty, diag)


@renamed_keywords(tolerance="tolerance_mm")
def normalized_surface_distance(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    tolerance_mm: float = 1.0,
    surface: str = "voxel",
    empty: str = "nan",
) -> float:
    """Compute the NSD (normalised surface Dice): fraction of both surfaces within tolerance.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float or None
        Voxel size in mm (numpy order); required. An explicit None gives voxel units (and
        ``tolerance_mm`` is then read in voxels).
    tolerance_mm : float
        Largest boundary distance (mm) that still counts as agreement. The old name
        ``tolerance`` is a deprecated alias.
    surface : {"voxel", "surfel"}
        Surface convention (see :data:`SURFACE_CONVENTIONS`).
    empty : {"nan", "worst"}
        Empty-mask policy: NaN when undefined, or 0 when exactly one mask is empty. Both empty
        is always NaN.

    Returns
    -------
    float
        Fraction in [0, 1].

    Examples
    --------
    >>> a = np.zeros((6, 6), bool); a[1:4, 1:4] = True
    >>> b = np.roll(a, 1, axis=1)
    >>> normalized_surface_distance(a, b, spacing=(1.0, 2.0), tolerance_mm=1.0)
    0.625
    """
    tolerance_mm = check_distance(tolerance_mm, "tolerance_mm")
    sd, case, _ = _surface_pair(
        reference, prediction, spacing=spacing, surface=surface, empty=empty
    )
    return apply_empty(sd.nsd(tolerance_mm=tolerance_mm), case, empty, 0.0)


#: Deprecated spellings (one release): the distances object now carries these as methods.
compute_hausdorff = deprecated_alias(SurfaceDistances.hausdorff, "compute_hausdorff")
compute_assd = deprecated_alias(SurfaceDistances.assd, "compute_assd")
compute_masd = deprecated_alias(SurfaceDistances.masd, "compute_masd")
compute_nsd = deprecated_alias(
    renamed_keywords(tolerance="tolerance_mm")(SurfaceDistances.nsd), "compute_nsd"
)
hausdorff_location = deprecated_alias(SurfaceDistances.hausdorff_location, "hausdorff_location")
