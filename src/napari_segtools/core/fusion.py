"""Label fusion: combine N atlases' labels (already in the target grid) into one consensus.

Each method returns ``(labels, probabilities)``: the consensus label image and, per foreground
label id, a float32 map in [0, 1] of how strongly the sources agree on that label. Label ids
are mapped to a compact range internally and restored on output, so the cost follows the number
of labels present, not the largest id (ids up to ``2**64 - 1`` keep their exact value; the
output is int64, or uint64 when an id does not fit int64); labels are never interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from ._deprecate import renamed_keywords
from ._validate import (
    check_image,
    check_integer,
    check_labels,
    check_number,
    check_same_shape,
    check_spacing,
    compact_labels,
)
from .geometry import Spacing

#: A fusion's result: consensus labels and, per foreground label id, a float32 map in [0, 1].
Fused = tuple[np.ndarray, dict[int, np.ndarray]]


def _stack(
    label_maps: Sequence[np.ndarray], name: str = "label_maps"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate; return label ids and the compact (N, ...) index stack: ids[compact] == labels."""
    if isinstance(label_maps, (str, bytes)) or not hasattr(label_maps, "__len__"):
        raise TypeError(
            f"`{name}` must be a list of label images; got {type(label_maps).__name__}"
        )
    if len(label_maps) == 0:
        raise ValueError(f"`{name}` is empty; give at least one label image")
    maps = [check_labels(m, f"{name}[{i}]") for i, m in enumerate(label_maps)]
    for i, m in enumerate(maps[1:], 1):
        check_same_shape(maps[0], m, (f"{name}[0]", f"{name}[{i}]"))
    return compact_labels(maps, name)


def _vote(ids: np.ndarray, compact: np.ndarray, weights: np.ndarray) -> Fused:
    """Weighted vote: per-label weight sums -> argmax labels and normalised probabilities."""
    scores = np.zeros((len(ids),) + compact.shape[1:], np.float64)
    for j in range(compact.shape[0]):
        for k in range(len(ids)):
            scores[k] += np.where(compact[j] == k, weights[j], 0.0)
    total = scores.sum(axis=0)
    probs = scores / np.where(total > 0, total, 1.0)
    labels = ids[np.argmax(scores, axis=0)]
    return labels, {int(ids[k]): probs[k].astype(np.float32) for k in range(1, len(ids))}


def majority_vote(label_maps: Sequence[np.ndarray]) -> Fused:
    """Fuse label images by majority vote.

    Parameters
    ----------
    label_maps : sequence of (Z, Y, X) or (Y, X) int ndarray
        One label image per atlas, all on the target grid.

    Returns
    -------
    labels : ndarray (int64, or uint64 for ids beyond int64)
        Most frequent label per voxel; ties go to the smaller label id (background first).
    probabilities : dict of int -> float32 ndarray
        Per foreground label, the fraction of atlases that voted for it.

    Examples
    --------
    >>> import numpy as np
    >>> maps = [np.array([[1, 0]]), np.array([[1, 2]]), np.array([[0, 2]])]
    >>> labels, probs = majority_vote(maps)
    >>> labels.tolist(), (3 * probs[2]).round().tolist()
    ([[1, 2]], [[0.0, 2.0]])
    """
    ids, compact = _stack(label_maps)
    return _vote(ids, compact, np.ones((len(compact),) + (1,) * (compact.ndim - 1)))


def _sigma_voxels(sigma_mm: float, spacing: Spacing, shape: tuple[int, ...]) -> list[float]:
    """Per-axis Gaussian sigma in voxels, capped at the axis length (checked before use)."""
    sigma_mm = check_number(sigma_mm, "sigma_mm", low=0.0, open_low=True)
    return [min(sigma_mm / s, float(n)) for s, n in zip(spacing, shape, strict=True)]


@renamed_keywords(radius_mm="sigma_mm")
def local_ncc(
    a: np.ndarray, b: np.ndarray, *, spacing: Spacing, sigma_mm: float = 4.0
) -> np.ndarray:
    """Compute the local normalised cross-correlation of two images in a Gaussian window.

    Parameters
    ----------
    a, b : (Z, Y, X) or (Y, X) ndarray
        Two finite intensity images of the same shape.
    spacing : tuple of float
        Voxel size in mm, numpy axis order.
    sigma_mm : float
        Gaussian sigma of the local window, mm (was ``radius_mm``); > 0. A sigma longer than
        an axis is capped at that axis's length (the window then spans the whole axis).

    Raises
    ------
    ValueError, TypeError
        If an image is not a finite 2-D/3-D intensity image, the shapes differ, or
        ``spacing``/``sigma_mm`` is not positive and finite (the message names it).

    Returns
    -------
    ncc : float64 ndarray
        Correlation in [-1, 1] per voxel; 0 where either image is locally flat.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(16.0).reshape(4, 4) % 5
    >>> bool(np.allclose(local_ncc(a, 2 * a + 1, spacing=(1.0, 1.0), sigma_mm=1.0), 1.0))
    True
    """
    a = check_image(a, "a")
    b = check_image(b, "b")
    check_same_shape(a, b, ("a", "b"))
    spacing = check_spacing(spacing, a.ndim, array_name="a")
    sigma = _sigma_voxels(sigma_mm, spacing, a.shape)
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    ma, mb = ndi.gaussian_filter(a, sigma), ndi.gaussian_filter(b, sigma)
    cov = ndi.gaussian_filter(a * b, sigma) - ma * mb
    va = np.clip(ndi.gaussian_filter(a * a, sigma) - ma * ma, 0, None)
    vb = np.clip(ndi.gaussian_filter(b * b, sigma) - mb * mb, 0, None)
    denom = np.sqrt(va * vb)
    return np.where(denom > 1e-12, cov / np.maximum(denom, 1e-12), 0.0)


@renamed_keywords(radius_mm="sigma_mm")
def weighted_vote(
    label_maps: Sequence[np.ndarray],
    warped_images: Sequence[np.ndarray],
    target: np.ndarray,
    *,
    spacing: Spacing,
    sigma_mm: float = 4.0,
    power: float = 4.0,
) -> Fused:
    """Fuse label images by locally weighted voting.

    Each atlas votes with weight ``max(ncc, 0) ** power + 1e-3`` where ``ncc`` is the local
    normalised cross-correlation between its warped intensity image and the target.

    Parameters
    ----------
    label_maps : sequence of int ndarray
        One label image per atlas, on the target grid.
    warped_images : sequence of ndarray
        The matching warped atlas intensity images, same grid.
    target : ndarray
        The target intensity image.
    spacing : tuple of float
        Target voxel size in mm (numpy axis order).
    sigma_mm : float
        Gaussian sigma of the local window, mm (was ``radius_mm``).
    power : float
        Sharpness of the weighting (0 gives a plain majority vote).

    Returns
    -------
    labels : ndarray (int64, or uint64 for ids beyond int64)
        Label with the largest weight sum per voxel.
    probabilities : dict of int -> float32 ndarray
        Per foreground label, its share of the local weight.

    Raises
    ------
    ValueError
        If the maps, images and target disagree in number or shape, or an option is out of
        range.

    Examples
    --------
    >>> import numpy as np
    >>> target = np.array([[0.0, 1.0, 0.0, 1.0]])
    >>> good, bad = np.array([[0, 1, 0, 1]]), np.array([[1, 0, 1, 0]])
    >>> labels, _ = weighted_vote([bad, good], [1 - target, target], target, spacing=(1.0, 1.0))
    >>> labels.tolist()
    [[0, 1, 0, 1]]
    """
    ids, compact = _stack(label_maps)
    target = check_image(target, "target")
    spacing = check_spacing(spacing, target.ndim, array_name="target")
    _sigma_voxels(sigma_mm, spacing, target.shape)
    power = check_number(power, "power", low=0.0)
    if isinstance(warped_images, (str, bytes)) or not hasattr(warped_images, "__len__"):
        raise TypeError(
            f"`warped_images` must be a list of images; got {type(warped_images).__name__}"
        )
    if len(warped_images) != len(label_maps):  # named error before zip(strict=True)
        raise ValueError(
            f"`warped_images` has {len(warped_images)} images but `label_maps` has "
            f"{len(label_maps)}"
        )
    check_same_shape(compact[0], target, ("label_maps[0]", "target"))
    weights = []
    for i, image in enumerate(warped_images):
        image = check_image(image, f"warped_images[{i}]")
        check_same_shape(image, target, (f"warped_images[{i}]", "target"))
        ncc = local_ncc(image, target, spacing=spacing, sigma_mm=sigma_mm)
        weights.append(np.clip(ncc, 0, None) ** power + 1e-3)
    return _vote(ids, compact, np.stack(weights))


def staple(label_maps: Sequence[np.ndarray], *, max_iterations: int = 50) -> Fused:
    """Fuse label images with SimpleITK's multi-label STAPLE.

    STAPLE estimates each atlas's confusion matrix by expectation-maximisation. The returned
    probabilities are the posterior of each true label given all atlases' votes, computed from
    those confusion matrices and the label priors (the mean label frequencies).

    Parameters
    ----------
    label_maps : sequence of (Z, Y, X) or (Y, X) int ndarray
        One label image per atlas, all on the target grid.
    max_iterations : int
        Limit of expectation-maximisation iterations, 1 to 10000.

    Returns
    -------
    labels : ndarray (int64, or uint64 for ids beyond int64)
        STAPLE consensus; voxels STAPLE leaves undecided take the most probable label.
    probabilities : dict of int -> float32 ndarray
        Per foreground label, the posterior probability.

    Raises
    ------
    ValueError
        If ``label_maps`` is empty, the maps differ in shape, hold more than 65534 distinct
        labels, or ``max_iterations`` is outside 1..10000.

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.zeros((6, 6), np.uint8)
    >>> truth[1:5, 1:5] = 1
    >>> labels, probs = staple([truth, truth, np.ones_like(truth)])
    >>> bool((labels == truth).all()), sorted(probs)
    (True, [1])
    """
    import SimpleITK as sitk

    ids, compact = _stack(label_maps)
    max_iterations = check_integer(max_iterations, "max_iterations", minimum=1, maximum=10_000)
    n_labels = len(ids)
    if n_labels >= np.iinfo(np.uint16).max:
        raise ValueError(
            f"`label_maps` hold {n_labels} distinct labels; STAPLE handles at most 65534"
        )
    images = [sitk.GetImageFromArray(c.astype(np.uint16)) for c in compact]
    filt = sitk.MultiLabelSTAPLEImageFilter()
    filt.SetMaximumNumberOfIterations(max_iterations)
    filt.SetLabelForUndecidedPixels(n_labels)
    consensus = sitk.GetArrayFromImage(filt.Execute(images)).astype(np.int64)
    prior = np.bincount(compact.ravel(), minlength=n_labels) / compact.size
    log_post = np.broadcast_to(
        np.log(np.maximum(prior, 1e-12))[:, None], (n_labels, compact[0].size)
    ).copy()
    for j in range(len(compact)):
        # rows: the atlas's decision (plus one "undecided" row), columns: the true label
        theta = np.asarray(filt.GetConfusionMatrix(j)).reshape(n_labels + 1, n_labels)
        log_post += np.log(np.maximum(theta[compact[j].ravel()], 1e-12)).T
    log_post -= log_post.max(axis=0)
    post = np.exp(log_post)
    post /= post.sum(axis=0)
    post = post.reshape((n_labels,) + compact.shape[1:])
    undecided = consensus == n_labels
    consensus[undecided] = np.argmax(post, axis=0)[undecided]
    return ids[consensus], {int(ids[k]): post[k].astype(np.float32) for k in range(1, n_labels)}
