"""Instance matching: one overlap table, then IoU-threshold, assignment or merge matching.

Instances are numbered 1..n in both maps (0 = background). Every rule works on the table of
overlapping (reference, prediction) pairs and their voxel counts, found in one pass over the
voxels where both maps are non-zero; no rule looks at the voxels again. The BraTS-2023 rules
(merging reference components whose dilations touch, and matching a prediction to every
reference lesion whose dilation it touches) work on the instances' own boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: reference index -> prediction indices matched to it (the best-scoring one first)
Matches = dict[int, list[int]]

#: pair counts are binned densely up to this many (reference, prediction) cells
_DENSE_PAIRS = 1 << 22


@dataclass(frozen=True)
class Overlaps:
    """Voxel counts of every instance and of every overlapping (reference, prediction) pair."""

    ref: np.ndarray  # (K,) reference index of each overlapping pair
    pred: np.ndarray  # (K,) prediction index of each pair
    voxels: np.ndarray  # (K,) voxels the pair shares
    ref_voxels: np.ndarray  # (n_ref + 1,) voxels per reference instance (index 0 unused)
    pred_voxels: np.ndarray  # (n_pred + 1,) voxels per prediction instance

    def iou(self) -> np.ndarray:
        """IoU of each overlapping pair."""
        union = self.ref_voxels[self.ref] + self.pred_voxels[self.pred] - self.voxels
        return self.voxels / union

    def shared(self, ref: int, preds: list[int]) -> int:
        """Voxels that reference ``ref`` shares with the union of ``preds``."""
        hit = (self.ref == ref) & np.isin(self.pred, preds)
        return int(self.voxels[hit].sum())


def overlap_table(ref_ids, pred_ids, ref_fg, pred_fg, n_ref: int, n_pred: int) -> Overlaps:
    """Count instance and pair voxels of two instance maps (``*_fg``: their non-zero masks)."""
    ref_voxels = np.bincount(ref_ids[ref_fg], minlength=n_ref + 1)
    pred_voxels = np.bincount(pred_ids[pred_fg], minlength=n_pred + 1)
    both = ref_fg & pred_fg
    key = ref_ids[both].astype(np.int64) * (n_pred + 1) + pred_ids[both]
    if (n_ref + 1) * (n_pred + 1) <= _DENSE_PAIRS:
        counts = np.bincount(key, minlength=(n_ref + 1) * (n_pred + 1))
        key = np.flatnonzero(counts)
        counts = counts[key]
    else:
        key, counts = np.unique(key, return_counts=True)
    return Overlaps(key // (n_pred + 1), key % (n_pred + 1), counts, ref_voxels, pred_voxels)


def _ranked(ov: Overlaps) -> np.ndarray:
    """Pair order: IoU descending, ties by reference then prediction index."""
    return np.lexsort((ov.pred, ov.ref, -ov.iou()))


def match_iou(ov: Overlaps, threshold: float) -> Matches:
    """One-to-one: greedily, highest IoU first, every pair with IoU >= ``threshold``."""
    iou = ov.iou()
    matches: Matches = {}
    taken: set[int] = set()
    for k in _ranked(ov):
        r, p = int(ov.ref[k]), int(ov.pred[k])
        if iou[k] >= threshold and r not in matches and p not in taken:
            matches[r] = [p]
            taken.add(p)
    return matches


def match_assignment(ov: Overlaps, threshold: float) -> Matches:
    """One-to-one maximising the summed IoU of the pairs with IoU >= ``threshold``.

    The bipartite graph of eligible pairs is split into its connected components and each is
    solved with ``linear_sum_assignment`` (an exact split: no pair links two components), so a
    map with thousands of instances costs a set of small problems. Among assignments of equal
    total IoU, the one with more pairs wins (each pair adds 1e-9).
    """
    from scipy.optimize import linear_sum_assignment  # imported on use: it takes ~0.25 s
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    iou = ov.iou()
    keep = iou >= threshold  # every pair in the table overlaps
    refs, r_index = np.unique(ov.ref[keep], return_inverse=True)
    preds, p_index = np.unique(ov.pred[keep], return_inverse=True)
    weight = iou[keep] + 1e-9
    n_r = len(refs)
    graph = coo_matrix(
        (np.ones(len(weight)), (r_index, n_r + p_index)), shape=(n_r + len(preds),) * 2
    )
    _, component = connected_components(graph, directed=False)
    matches: Matches = {}
    pair_component = component[r_index]
    for c in np.unique(pair_component):
        in_c = pair_component == c
        rows, row_at = np.unique(r_index[in_c], return_inverse=True)
        cols, col_at = np.unique(p_index[in_c], return_inverse=True)
        table = np.zeros((len(rows), len(cols)))
        table[row_at, col_at] = weight[in_c]
        for i, j in zip(*linear_sum_assignment(table, maximize=True), strict=True):
            if table[i, j] > 0:
                matches[int(refs[rows[i]])] = [int(preds[cols[j]])]
    return dict(sorted(matches.items()))


def match_merge(ov: Overlaps, threshold: float) -> Matches:
    """Many-to-one: greedy by IoU; a matched reference absorbs a prediction that raises its IoU.

    Pairs are visited highest IoU first. A prediction already used is skipped. A reference
    with no match takes the prediction when their IoU is >= ``threshold``; a reference already
    matched takes it too when the IoU of the reference with the union of its predictions grows.
    The union's IoU follows from the table, since predicted instances never share voxels.
    """
    iou = ov.iou()
    matches: Matches = {}
    best: dict[int, float] = {}
    shared: dict[int, int] = {}
    pred_sum: dict[int, int] = {}
    taken: set[int] = set()
    for k in _ranked(ov):
        r, p = int(ov.ref[k]), int(ov.pred[k])
        if p in taken:
            continue
        if r in matches:
            inter = shared[r] + int(ov.voxels[k])
            volume = pred_sum[r] + int(ov.pred_voxels[p])
            joint = inter / (int(ov.ref_voxels[r]) + volume - inter)
            if joint <= best[r]:
                continue
            matches[r].append(p)
        elif iou[k] >= threshold:
            matches[r] = [p]
            inter, volume, joint = int(ov.voxels[k]), int(ov.pred_voxels[p]), float(iou[k])
        else:
            continue
        best[r], shared[r], pred_sum[r] = joint, inter, volume
        taken.add(p)
    return dict(sorted(matches.items()))


def grow_box(box: tuple[slice, ...], by: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Return ``box`` widened by ``by`` voxels on every side, clipped to ``shape``."""
    return tuple(
        slice(max(s.start - by, 0), min(s.stop + by, n)) for s, n in zip(box, shape, strict=True)
    )


def union_box(boxes) -> tuple[slice, ...]:
    """Return the smallest box holding every box of ``boxes``."""
    boxes = list(boxes)
    return tuple(
        slice(min(b[ax].start for b in boxes), max(b[ax].stop for b in boxes))
        for ax in range(len(boxes[0]))
    )


def _dilate(ids, i: int, box, iterations: int, structure) -> tuple[tuple[slice, ...], np.ndarray]:
    """Instance ``i`` dilated ``iterations`` times on its box grown to hold the result."""
    grown = grow_box(box, iterations, ids.shape)
    return grown, ndimage.binary_dilation(
        ids[grown] == i, structure=structure, iterations=iterations
    )


def _touch(a_box, a_near: np.ndarray, b_box, b: np.ndarray) -> bool:
    """Whether mask ``b`` meets ``a_near`` (a mask grown by one voxel) where their boxes meet."""
    common = [
        (max(s.start, t.start), min(s.stop, t.stop)) for s, t in zip(a_box, b_box, strict=True)
    ]
    if any(lo >= hi for lo, hi in common):
        return False
    in_a = tuple(
        slice(lo - s.start, hi - s.start) for (lo, hi), s in zip(common, a_box, strict=True)
    )
    in_b = tuple(
        slice(lo - t.start, hi - t.start) for (lo, hi), t in zip(common, b_box, strict=True)
    )
    return bool((a_near[in_a] & b[in_b]).any())


def merge_by_dilation(ids: np.ndarray, boxes, iterations: int, structure: np.ndarray):
    """Renumber reference components by the full-connectivity components of their dilation.

    Returns ``(merged ids, count)``: components whose dilations (``structure``, ``iterations``
    times) overlap or touch (full connectivity) become one instance, numbered in the order of
    their lowest component. Dilation distributes over union and the dilation of a connected
    component stays connected, so the components of the dilated mask are the groups of
    pairwise touching dilated components: each is dilated on its own box, and only pairs
    whose boxes meet are compared (no pass over the whole grid but one relabelling of the
    foreground).
    """
    n = len(boxes)
    full = ndimage.generate_binary_structure(ids.ndim, ids.ndim)
    dilated = [_dilate(ids, i, box, iterations, structure) for i, box in enumerate(boxes, 1)]
    starts = np.array([[s.start for s in box] for box, _ in dilated]).reshape(n, ids.ndim)
    stops = np.array([[s.stop for s in box] for box, _ in dilated]).reshape(n, ids.ndim)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (box, mask) in enumerate(dilated):
        near_box = grow_box(box, 1, ids.shape)
        lo = np.array([s.start for s in near_box])
        hi = np.array([s.stop for s in near_box])
        others = np.flatnonzero(((starts < hi) & (stops > lo)).all(axis=1))
        others = others[others > i]
        if not len(others):
            continue
        pad = [(s.start - g.start, g.stop - s.stop) for s, g in zip(box, near_box, strict=True)]
        near = ndimage.binary_dilation(np.pad(mask, pad), structure=full)
        for j in others.tolist():
            if root(j) != root(i) and _touch(near_box, near, *dilated[j]):
                parent[root(j)] = root(i)
    roots = [root(i) for i in range(n)]
    number = {r: k for k, r in enumerate(dict.fromkeys(roots), start=1)}
    lut = np.array([0] + [number[r] for r in roots], np.int32)
    fg = ids != 0
    merged = np.zeros(ids.shape, np.int32)  # calloc: untouched pages cost nothing
    merged[fg] = lut[ids[fg]]
    return merged, len(number)


def match_dilated(ref_ids, pred_ids, boxes, iterations: int, structure: np.ndarray) -> Matches:
    """Match every prediction touching each reference instance dilated ``iterations`` times.

    A prediction may match several references (BraTS-2023 lesion-wise rule).
    """
    matches: Matches = {}
    for i, box in enumerate(boxes, start=1):
        grown, reach = _dilate(ref_ids, i, box, iterations, structure)
        touched = np.unique(pred_ids[grown][reach])
        touched = touched[touched != 0]
        if len(touched):
            matches[i] = [int(p) for p in touched]
    return matches
