"""Shape and topology measures: clDice, centre distance, connected components, holes."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from .._validate import check_choice
from ._common import apply_empty, check_pair, diagonal, empty_case, unit_spacing
from ._skeleton import skeleton

#: masks from this many voxels (64^3) on are thinned in two threads; smaller ones thin in
#: milliseconds, where starting threads is not worth it
_THREADED_VOXELS = 1 << 18


def cldice_of_masks(
    ref: np.ndarray, pred: np.ndarray, *, single_slice: bool | None = None
) -> float:
    """Compute clDice of checked bool masks from their scikit-image skeletons.

    clDice = 2 Tprec Tsens / (Tprec + Tsens), Tprec = |S(P) & R| / |S(P)| and
    Tsens = |S(R) & P| / |S(R)| (Shit et al. 2021), S = ``skimage.morphology.skeletonize``
    computed by :func:`._skeleton.skeleton`. NaN when a skeleton is empty (3-D thinning can
    erase small even-sized blobs entirely). ``single_slice``: whether the whole image had one
    plane, for masks that are crops of it (None: from ``ref``).
    """
    if not ref.any() or not pred.any():
        return float("nan")
    if ref.size < _THREADED_VOXELS:
        skel_ref, skel_pred = (skeleton(m, single_slice=single_slice) for m in (ref, pred))
    else:  # one thread each: numpy releases the GIL for most of the thinning (measured
        # 1.8x on the benchmark blobs with free cores, about even on a busy 2-core machine)
        with ThreadPoolExecutor(2) as pool:
            skel_ref, skel_pred = pool.map(
                partial(skeleton, single_slice=single_slice), (ref, pred)
            )
    n_ref, n_pred = np.count_nonzero(skel_ref), np.count_nonzero(skel_pred)
    if n_ref == 0 or n_pred == 0:
        return float("nan")
    tprec = np.count_nonzero(skel_pred & ref) / n_pred
    tsens = np.count_nonzero(skel_ref & pred) / n_ref
    return float(2 * tprec * tsens / (tprec + tsens)) if tprec + tsens else 0.0


def centroid_mm(mask: np.ndarray, spacing) -> np.ndarray:
    """Return the centre of mass of a bool mask in mm from voxel 0 (voxels without spacing)."""
    coords = np.asarray(ndimage.center_of_mass(mask), float)
    return coords * np.asarray(unit_spacing(spacing, mask.ndim))


def center_distance_of_masks(ref: np.ndarray, pred: np.ndarray, spacing) -> float:
    """Return the distance between the centroids of two bool masks (NaN if one is empty)."""
    if not ref.any() or not pred.any():
        return float("nan")
    return float(np.linalg.norm(centroid_mm(ref, spacing) - centroid_mm(pred, spacing)))


def count_components(mask: np.ndarray) -> int:
    """Count the face-connected foreground components of a bool mask."""
    return int(ndimage.label(mask)[1])


def holes(mask: np.ndarray) -> np.ndarray:
    """Return the background voxels enclosed by ``mask`` (face-connected background).

    The array border counts as outside, as in :func:`scipy.ndimage.binary_fill_holes`.
    """
    background, _ = ndimage.label(np.pad(~mask, 1, constant_values=True))
    inner = tuple(slice(1, -1) for _ in range(mask.ndim))
    return (background[inner] != background[(0,) * mask.ndim]) & ~mask


def cldice(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None = None,
    empty: str = "nan",
) -> float:
    """Compute clDice (centreline Dice, Shit et al. 2021) of two masks.

    clDice = 2 Tprec Tsens / (Tprec + Tsens), Tprec = |S(P) & R| / |S(P)|,
    Tsens = |S(R) & P| / |S(R)|, with S the scikit-image skeleton (2-D: Zhang; 3-D: Lee).

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float, optional
        Checked for consistency only (skeletons are topological, so clDice has no unit).
    empty : {"nan", "worst"}
        Undefined value: NaN, or 0 when exactly one mask is empty.

    Returns
    -------
    float
        Value in [0, 1], NaN when undefined.

    Examples
    --------
    >>> a = np.zeros((9, 9), bool); a[4, 1:8] = True
    >>> cldice(a, a)
    1.0
    """
    check_choice(empty, "empty", ("nan", "worst"))
    ref, pred, _ = check_pair(reference, prediction, spacing)
    case = empty_case(int(ref.any()), int(pred.any()))
    return apply_empty(cldice_of_masks(ref, pred), case, empty, 0.0)


def center_distance(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    spacing: Sequence[float] | None,
    empty: str = "nan",
) -> float:
    """Compute the distance between the centroids of two masks.

    Parameters
    ----------
    reference, prediction : (Y, X) or (Z, Y, X) bool or integer ndarray
        Masks on the same grid; non-zero is foreground.
    spacing : sequence of float or None
        Voxel size in mm (numpy order); required. An explicit None gives voxel units.
    empty : {"nan", "worst"}
        Undefined value: NaN, or the image diagonal when exactly one mask is empty.

    Returns
    -------
    float
        Distance in mm (voxel units when ``spacing`` is None).

    Examples
    --------
    >>> a = np.zeros((4, 8), bool); a[1:3, 0:2] = True
    >>> center_distance(a, np.roll(a, 3, axis=1), spacing=(1.0, 0.5))
    1.5
    """
    check_choice(empty, "empty", ("nan", "worst"))
    ref, pred, checked = check_pair(reference, prediction, spacing)
    case = empty_case(int(ref.any()), int(pred.any()))
    value = center_distance_of_masks(ref, pred, checked)
    return apply_empty(value, case, empty, diagonal(ref.shape, checked))
