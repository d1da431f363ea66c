"""Per-voxel views of an evaluation: the error map, the labels present, boundary distances.

What the evaluation panel draws on top of the images, computed without Qt so that scripts and
tests get the same arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_labels, check_same_shape
from .surface import SurfaceDistances, compute_surface_distances

#: Error-map value -> meaning.
ERROR_MAP_VALUES = {0: "background", 1: "true positive", 2: "false positive", 3: "false negative"}
#: Error-map value -> the short name shown on hover and in the legend.
ERROR_MAP_NAMES = {1: "TP", 2: "FP", 3: "FN"}


def error_map(
    reference: np.ndarray, prediction: np.ndarray, *, labels: Iterable[int] | None = None
) -> np.ndarray:
    """Classify every voxel: 0 background, 1 true positive, 2 false positive, 3 false negative.

    A voxel carrying different labels in the two maps counts as a false negative (the
    reference label was missed there).

    Parameters
    ----------
    reference, prediction : integer or bool ndarray of any dimension
        Label images of the same shape (0 = background).
    labels : iterable of int, optional
        Label ids that count; every non-zero id when None.

    Returns
    -------
    uint8 ndarray
        The error map, shaped like ``reference`` (see :data:`ERROR_MAP_VALUES`).

    Examples
    --------
    >>> error_map(np.array([1, 1, 0, 0, 2]), np.array([0, 1, 1, 0, 1]))
    array([3, 1, 2, 0, 3], dtype=uint8)
    """
    ndims = (max(np.ndim(reference), 1),)
    ref = check_labels(reference, "reference", ndims=ndims)
    pred = check_labels(prediction, "prediction", ndims=(max(np.ndim(prediction), 1),))
    check_same_shape(ref, pred)
    if labels is None:
        ref_in, pred_in = ref > 0, pred > 0
    else:
        ids = [int(v) for v in labels]
        ref_in, pred_in = _member(ref, ids), _member(pred, ids)
    out = np.zeros(ref.shape, np.uint8)
    tp = ref_in & (pred == ref)
    out[pred_in & ~tp] = 2
    out[ref_in & ~tp] = 3
    out[tp] = 1
    return out


def _member(labels: np.ndarray, ids: list[int]) -> np.ndarray:
    """Mask of the voxels whose label is one of ``ids``, for ids of any size.

    Cost follows the number of ids, never their size: ``np.isin`` may build a lookup table
    spanning the smallest to the largest id, so it is asked to sort instead; a few ids are
    compared one by one. Ids outside the array's dtype match nothing.
    """
    if labels.dtype == bool:
        return labels.copy() if 1 in ids else np.zeros(labels.shape, bool)
    info = np.iinfo(labels.dtype)
    ids = sorted({v for v in ids if info.min <= v <= info.max})
    if len(ids) <= 8:
        out = np.zeros(labels.shape, bool)
        for v in ids:
            out |= labels == v
        return out
    return np.isin(labels, np.asarray(ids, labels.dtype), kind="sort")


def present_labels(*arrays: np.ndarray) -> list[int]:
    """Return the sorted non-zero label ids found in any of ``arrays``.

    Examples
    --------
    >>> present_labels(np.array([0, 3, 3]), np.array([[1, 0]]), np.zeros(2, bool))
    [1, 3]
    """
    found: set[int] = set()
    for arr in map(np.asarray, arrays):
        if arr.dtype == bool:
            found.update([1] if arr.any() else [])
        elif arr.size and arr.max() < 2**16 and arr.min() >= 0:
            found.update(np.flatnonzero(np.bincount(arr.ravel().astype(np.intp))).tolist())
        else:
            found.update(np.unique(arr).tolist())
    found.discard(0)
    return sorted(int(v) for v in found)


@dataclass(frozen=True)
class BoundaryOverlay:
    """Boundary distances of one label and where its Hausdorff distance is attained.

    Attributes
    ----------
    label : int
        The label id.
    distances : SurfaceDistances
        Both directed distance sets with element positions.
    hd_location : tuple of float
        Voxel coordinates (reference grid) of the element farthest from the other boundary.
    hd : float
        The Hausdorff distance (mm, or voxels without spacing).
    hd_partner : tuple of float
        Voxel coordinates of the element of the other boundary nearest to ``hd_location``:
        the other end of the Hausdorff distance.
    hd_side : {"reference", "prediction"}
        The boundary ``hd_location`` lies on.
    distance_map : float32 ndarray or None
        Shaped like the label images: each reference boundary voxel holds its distance to the
        prediction's boundary, each prediction boundary voxel its distance to the reference's
        (the larger where a voxel is on both), NaN elsewhere; see :func:`boundary_distance_map`.
    """

    label: int
    distances: SurfaceDistances
    hd_location: tuple[float, ...]
    hd: float
    hd_partner: tuple[float, ...] = ()
    hd_side: str = "reference"
    distance_map: np.ndarray | None = field(default=None, repr=False, compare=False)


def boundary_distance_map(distances: SurfaceDistances, shape: Sequence[int]) -> np.ndarray:
    """Paint both directed boundary distances into one image, NaN off the boundaries.

    Reference boundary elements carry their distance to the prediction, prediction boundary
    elements their distance to the reference, so a structure the prediction missed shows on
    the reference's boundary and a spurious one on the prediction's. Surfel elements sit on
    voxel corners and are drawn on the voxel at the rounded position; where several elements
    fall on one voxel the largest distance is kept.

    Parameters
    ----------
    distances : SurfaceDistances
        Both directed distance sets with element positions (voxel coordinates).
    shape : sequence of int
        Shape of the label images.

    Returns
    -------
    float32 ndarray
        Distances (mm, or voxels without spacing) on boundary voxels, NaN elsewhere.

    Examples
    --------
    >>> ref = np.zeros((1, 6), bool); ref[0, 1:3] = True
    >>> pred = np.zeros((1, 6), bool); pred[0, 1:3] = True; pred[0, 5] = True
    >>> sd = compute_surface_distances(ref, pred, spacing=(1.0, 1.0))
    >>> boundary_distance_map(sd, ref.shape).tolist()
    [[nan, 0.0, 0.0, nan, nan, 3.0]]
    """
    out = np.full(tuple(shape), np.nan, np.float32)
    upper = np.asarray(shape) - 1
    for points, values in (
        (distances.points_ref, distances.distances_ref_to_pred),
        (distances.points_pred, distances.distances_pred_to_ref),
    ):
        if not len(points):
            continue
        index = np.clip(np.floor(np.asarray(points) + 0.5).astype(np.intp), 0, upper)
        flat = np.ravel_multi_index(tuple(index.T), out.shape)
        order = np.argsort(values, kind="stable")  # the largest value is written last
        out.flat[flat[order]] = np.fmax(
            out.flat[flat[order]], np.asarray(values, np.float32)[order]
        )
    return out


def _nearest_element(point: np.ndarray, others: np.ndarray, spacing) -> np.ndarray:
    """Return the element of ``others`` physically nearest to ``point`` (voxel coordinates)."""
    scale = np.ones(point.shape) if spacing is None else np.asarray(spacing, float)
    d2 = np.sum(((others - point) * scale) ** 2, axis=1)
    return others[int(np.argmin(d2))]


def boundary_overlay(
    reference: np.ndarray,
    prediction: np.ndarray,
    label: int | None,
    *,
    spacing: Sequence[float] | None,
    surface: str = "voxel",
) -> BoundaryOverlay | None:
    """Measure the distances between the boundaries of ``label`` in both maps.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) integer ndarray
        Label images on the same grid.
    label : int or None
        Label id; None gives None.
    spacing : sequence of float or None
        Voxel size in mm; required (None means voxel units).
    surface : {"voxel", "surfel"}
        Surface convention.

    Returns
    -------
    BoundaryOverlay or None
        None when ``label`` is None or absent from either map.

    Examples
    --------
    >>> ref = np.zeros((6, 6), np.uint8); ref[1:4, 1:4] = 1
    >>> overlay = boundary_overlay(ref, np.roll(ref, 1, axis=0), 1, spacing=(2.0, 1.0))
    >>> overlay.hd, overlay.hd_side, overlay.hd_location, overlay.hd_partner
    (2.0, 'reference', (1.0, 1.0), (2.0, 1.0))
    """
    if label is None:
        return None
    ref = np.asarray(reference) == label
    pred = np.asarray(prediction) == label
    if not (ref.any() and pred.any()):
        return None
    sd = compute_surface_distances(ref, pred, spacing=spacing, surface=surface)
    location, distance = sd.hausdorff_location()
    # the same rule as SurfaceDistances.hausdorff_location: ties go to the reference side
    on_reference = float(np.max(sd.distances_ref_to_pred)) >= float(
        np.max(sd.distances_pred_to_ref)
    )
    others = sd.points_pred if on_reference else sd.points_ref
    partner = _nearest_element(np.asarray(location, float), others, spacing)
    return BoundaryOverlay(
        int(label),
        sd,
        tuple(float(c) for c in location),
        float(distance),
        tuple(float(c) for c in partner),
        "reference" if on_reference else "prediction",
        boundary_distance_map(sd, ref.shape),
    )
