"""Block-wise feature computation: whole-volume prediction and scribble sampling.

A block's features are computed from the block plus :meth:`FeatureSet.halo_voxels` of context
and trimmed, so every voxel gets exactly the features (and the label) of the whole-volume
computation while memory stays bounded by a few blocks. Blocks run in a thread pool: scipy's
filters and scikit-learn's tree traversal release the GIL, so both cores work.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

import numpy as np

from .._types import Progress, ProgressGenerator
from .features import FeatureSet, block_features

if TYPE_CHECKING:
    from .classifier import Prediction, VoxelClassifier

#: voxels per block (without halo) when no ``chunk_mm`` is given
BLOCK_VOXELS = 2**22


def block_shape(
    shape: tuple[int, ...],
    spacing: tuple[float, ...],
    chunk_mm: float | None,
    halo: tuple[int, ...] | None = None,
) -> tuple[int, ...]:
    """Block edge in voxels per axis: ``chunk_mm`` mm, or about :data:`BLOCK_VOXELS` voxels.

    By default blocks are cut along the axes of the smallest halo first (the slice axis of an
    anisotropic scan), keeping the other axes whole: a whole axis needs no halo, so the wide
    in-plane filters do no extra work.

    Examples
    --------
    >>> block_shape((300, 512, 512), (2.5, 0.8, 0.8), 80.0)
    (32, 100, 100)
    >>> block_shape((300, 512, 512), (2.5, 0.8, 0.8), None, halo=(7, 20, 20))
    (16, 512, 512)
    """
    if chunk_mm is not None:
        side = float(chunk_mm)
        if np.isnan(side) or side <= 0:
            raise ValueError(f"`chunk_mm` must be a positive length in mm; got {chunk_mm!r}")
        return tuple(
            n if side == np.inf else int(min(n, max(1, math.ceil(side / s - 1e-9))))
            for n, s in zip(shape, spacing, strict=True)
        )
    halo = (0,) * len(shape) if halo is None else halo
    # at least two blocks per worker, so that every core has work
    target = max(2**16, min(BLOCK_VOXELS, math.prod(shape) // (2 * _workers())))
    step = list(shape)
    for axis in sorted(range(len(shape)), key=lambda a: halo[a]):
        rest = math.prod(step) // step[axis]
        if rest * step[axis] <= target:
            break
        step[axis] = min(step[axis], max(8, 2 * halo[axis], math.ceil(target / rest)))
    return tuple(step)


def blocks(shape: tuple[int, ...], step: tuple[int, ...]) -> Iterator[tuple[slice, ...]]:
    """Yield the blocks of a regular grid of ``step`` voxels covering ``shape``."""
    starts = [range(0, n, s) for n, s in zip(shape, step, strict=True)]
    for corner in itertools.product(*starts):
        yield tuple(slice(c, min(c + s, n)) for c, s, n in zip(corner, step, shape, strict=True))


def with_halo(
    block: tuple[slice, ...], halo: tuple[int, ...], shape: tuple[int, ...]
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Return the block grown by ``halo`` (clipped to the volume) and the block inside it."""
    outer = tuple(
        slice(max(0, b.start - h), min(n, b.stop + h))
        for b, h, n in zip(block, halo, shape, strict=True)
    )
    inner = tuple(
        slice(b.start - o.start, b.stop - o.start) for b, o in zip(block, outer, strict=True)
    )
    return outer, inner


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def iter_apply(
    classifier: VoxelClassifier,
    channels: list[np.ndarray],
    priors: list[np.ndarray],
    spacing: tuple[float, ...],
    *,
    probabilities: bool,
    uncertainty: bool,
    chunk_mm: float | None,
) -> ProgressGenerator[Prediction]:
    """Predict every voxel block by block (checked inputs); see ``VoxelClassifier.iter_predict``."""
    from .classifier import Prediction, normalised_entropy

    shape = channels[0].shape
    feature_set = classifier.feature_set
    halo = feature_set.halo_voxels(spacing)
    # only the columns the model reads are computed: a forest trained on a few hundred voxels
    # splits on a fraction of them (the others stay 0 and never reach a split)
    needed = classifier.used_features()
    values = np.asarray(classifier.class_values)
    labels = np.zeros(shape, np.min_scalar_type(int(values.max())))
    n_classes = len(values)
    proba = np.zeros((n_classes, *shape), np.float32) if probabilities else None
    entropy = np.zeros(shape, np.float32) if uncertainty else None
    grid = list(blocks(shape, block_shape(shape, spacing, chunk_mm, halo)))

    def run(block):
        outer, inner = with_halo(block, halo, shape)
        feats = block_features(
            [c[outer] for c in channels],
            [p[outer] for p in priors],
            spacing,
            feature_set,
            needed,
            inner,
        )
        p = classifier.proba_rows(feats.reshape(len(feats), -1).T)
        del feats
        p = np.moveaxis(p, -1, 0).reshape(n_classes, *labels[block].shape)
        labels[block] = values[np.argmax(p, axis=0)]
        if proba is not None:
            proba[(slice(None), *block)] = p
        if entropy is not None:
            entropy[block] = normalised_entropy(p)

    pending = iter(grid)
    with ThreadPoolExecutor(_workers()) as pool:
        running = {pool.submit(run, b) for b in itertools.islice(pending, _workers())}
        done_count = 0
        yield Progress(0, len(grid), f"block 1 of {len(grid)}")
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
                done_count += 1
                nxt = next(pending, None)
                if nxt is not None:
                    running.add(pool.submit(run, nxt))
            yield Progress(done_count, len(grid), f"block {done_count} of {len(grid)}")
    return Prediction(labels, proba, entropy)


def sample_features(
    channels: list[np.ndarray],
    priors: list[np.ndarray],
    scribbles: np.ndarray,
    spacing: tuple[float, ...],
    feature_set: FeatureSet,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and label values of the scribbled voxels (checked inputs).

    Features are computed only around the scribbles: per block of the grid, over the bounding
    box of its scribbled voxels plus the halo, never over the whole volume. Rows come in voxel
    (C) order.
    """
    shape = scribbles.shape
    halo = feature_set.halo_voxels(spacing)
    rows, targets, order = [], [], []
    for block in blocks(shape, block_shape(shape, spacing, None, halo)):
        local = scribbles[block]
        where = np.nonzero(local)
        if not where[0].size:
            continue
        box = tuple(
            slice(b.start + int(w.min()), b.start + int(w.max()) + 1)
            for b, w in zip(block, where, strict=True)
        )
        outer, inner = with_halo(box, halo, shape)
        feats = block_features(
            [c[outer] for c in channels],
            [p[outer] for p in priors],
            spacing,
            feature_set,
            None,
            inner,
        )
        offsets = [w - (x.start - b.start) for w, x, b in zip(where, box, block, strict=True)]
        rows.append(feats[(slice(None), *offsets)].T)
        targets.append(local[where])
        order.append(
            np.ravel_multi_index([w + b.start for w, b in zip(where, block, strict=True)], shape)
        )
    n = len(feature_set.names(len(channels), len(priors), ndim=len(shape)))
    if not rows:
        return np.zeros((0, n), np.float32), np.zeros(0, np.int64)
    # voxel order, whatever the block grid (the number of cores): the same forest everywhere
    sort = np.argsort(np.concatenate(order), kind="stable")
    return np.concatenate(rows)[sort], np.concatenate(targets).astype(np.int64)[sort]
