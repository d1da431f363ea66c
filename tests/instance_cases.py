"""Generated lesion maps with known parameters, shared by the instance tests and their peers.

One function, :func:`make_lesion_case`, draws a reference and a prediction from a seed and a few
numbers: ellipsoidal lesions (three nested BraTS-style labels: 2 outer, 3 middle, 1 core), some
missed, some split in two, some pairs merged into one predicted blob, some false positives. The
committed expected values in ``tests/data/instances/*.json`` store only these parameters (and a
checksum of the maps), never arrays: the tests regenerate the maps from them.

Only numpy is imported, so the peers' own virtual environments (panoptica, the BraTS-2023
script) can run it too: tests import it as ``tests.instance_cases``;
``tools/peers/make_instance_expected.py`` and ``benchmarks/bench_instances.py`` put the
repository root on ``sys.path`` first. Every draw uses ``Generator.random`` only (whose stream
is stable across numpy versions); :func:`checksum` lets a test tell a changed generator from a
changed metric.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

#: nested labels from the outside in (BraTS-2023 glioma: 2 oedema, 3 enhancing, 1 necrosis)
RINGS = ((1.0, 2), (0.6, 3), (0.3, 1))


@dataclass(frozen=True)
class LesionCase:
    """A generated reference/prediction pair: label maps and the instance ids they were drawn as."""

    reference: np.ndarray  # uint8 label map (0, 1, 2, 3)
    prediction: np.ndarray
    reference_ids: np.ndarray  # int32 instance map: one id per drawn reference lesion
    prediction_ids: np.ndarray  # int32 instance map: one id per drawn predicted blob


class _Canvas:
    """A label map and an instance map that ellipsoids are drawn into (on their own box)."""

    def __init__(self, shape):
        self.rank = np.zeros(shape, np.uint8)  # 0 background, 1..3 = ring index + 1
        self.ids = np.zeros(shape, np.int32)
        self.next_id = 1

    def ellipsoid(self, centre, radii, *, cut_axis=None):
        """Draw one lesion; ``cut_axis`` removes a one-voxel slab through the centre (a split)."""
        shape = self.rank.shape
        lo = [max(int(np.floor(c - r)), 0) for c, r in zip(centre, radii, strict=True)]
        hi = [
            min(int(np.ceil(c + r)) + 1, n) for c, r, n in zip(centre, radii, shape, strict=True)
        ]
        if any(h <= low for low, h in zip(lo, hi, strict=True)):
            return
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        grids = np.ogrid[box]
        radius2 = sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii, strict=True))
        radius2 = np.broadcast_to(radius2, tuple(b - a for a, b in zip(lo, hi, strict=True)))
        inside = radius2 <= 1.0
        ids = np.full(inside.shape, self.next_id, np.int32)
        if cut_axis is not None:
            along = grids[cut_axis] - np.round(centre[cut_axis])
            along = np.broadcast_to(along, inside.shape)
            inside &= along != 0
            ids = np.where(along > 0, self.next_id + 1, self.next_id).astype(np.int32)
        rank = np.zeros(inside.shape, np.uint8)
        for i, (scale, _) in enumerate(RINGS):
            rank[inside & (radius2 <= scale * scale)] = i + 1
        self.rank[box] = np.maximum(self.rank[box], rank)
        self.ids[box] = np.where(inside, ids, self.ids[box])
        self.next_id += 2 if cut_axis is not None else 1

    def labels(self) -> np.ndarray:
        lut = np.array([0] + [label for _, label in RINGS], np.uint8)
        return lut[self.rank]


def make_lesion_case(
    *,
    seed: int,
    shape: tuple[int, ...],
    n_lesions: int,
    radius_voxels: tuple[float, float] = (1.5, 5.0),
    miss: float = 0.15,
    split: float = 0.15,
    merge: float = 0.15,
    false_positives: int = 2,
    shift_voxels: float = 1.0,
) -> LesionCase:
    """Draw a reference with ``n_lesions`` lesions and a prediction of them from ``seed``.

    Each reference lesion is an axis-aligned ellipsoid (radii uniform in ``radius_voxels``).
    With probability ``merge`` it is placed one to three voxels beside the previous lesion
    and the prediction covers both with one blob; else the prediction misses it with
    probability ``miss``, splits it in two with probability ``split``, or draws it shifted
    (up to ``shift_voxels`` per axis) with radii scaled by 0.75-1.25. ``false_positives``
    small blobs are added anywhere.
    """
    rng = np.random.default_rng(seed)
    ndim = len(shape)

    def uniform(low, high, size=None):
        return low + (high - low) * rng.random(size)

    ref, pred = _Canvas(shape), _Canvas(shape)
    previous = None
    for _ in range(n_lesions):
        radii = uniform(*radius_voxels, ndim)
        centre = uniform(radii, np.asarray(shape) - 1 - radii, ndim)
        fate = rng.random()
        if previous is not None and fate < merge:
            axis = int(rng.random() * ndim)
            p_centre, p_radii = previous
            centre = p_centre.copy()
            centre[axis] += p_radii[axis] + radii[axis] + 1 + int(rng.random() * 3)
            if centre[axis] + radii[axis] < shape[axis] - 1:
                ref.ellipsoid(centre, radii)
                mid, half = p_centre.copy(), np.maximum(radii, p_radii)
                mid[axis] = (centre[axis] + radii[axis] + p_centre[axis] - p_radii[axis]) / 2
                half[axis] = (centre[axis] + radii[axis] - p_centre[axis] + p_radii[axis]) / 2
                pred.ellipsoid(mid, half)
                previous = None
                continue
        ref.ellipsoid(centre, radii)
        previous = (centre, radii)
        if fate < merge + miss:
            continue
        shifted = centre + uniform(-shift_voxels, shift_voxels, ndim)
        scaled = radii * uniform(0.75, 1.25, ndim)
        cut = int(rng.random() * ndim) if fate < merge + miss + split else None
        pred.ellipsoid(shifted, scaled, cut_axis=cut)
    for _ in range(false_positives):
        radii = uniform(1.0, 2.5, ndim)
        pred.ellipsoid(uniform(radii, np.asarray(shape) - 1 - radii, ndim), radii)
    return LesionCase(ref.labels(), pred.labels(), ref.ids, pred.ids)


def checksum(case: LesionCase) -> int:
    """CRC-32 of the four maps: equal across machines when the generator draws the same maps."""
    crc = 0
    for array in (case.reference, case.prediction, case.reference_ids, case.prediction_ids):
        crc = zlib.crc32(np.ascontiguousarray(array).tobytes(), crc)
    return crc
