"""Plausibility of a propagated atlas: structure volumes, and labels on the target's background.

A registration can converge and still give nonsense: a skull-stripped brain atlas registered onto
a whole head is stretched until its outline meets the scalp (measured on the T1-head sample with
the MNI152 brain: grey and white matter 1.6 times their atlas volumes, 15 % of the labelled
voxels on air or skull). Two checks catch this, one line each:

- **volume**: each propagated structure's volume against the same structure in the atlas; a
  ratio outside :data:`VOLUME_BAND` (a factor 1.5 either way, wider than the spread of one
  structure between healthy adults) says the atlas was stretched or shrunk;
- **background**: the fraction of propagated label voxels on the target's background: outside
  the target mask when one is given (those labels are then cut), else on voxels darker than
  :data:`BACKGROUND_LEVEL` of the target's 99th percentile (air; in T1 MRI also cortical bone).
  Above :data:`MAX_BACKGROUND_FRACTION` it warns.

Measured on the MNI152 template registered onto deformed copies of itself (4 and 2 mm, affine
and deformable): volume ratios 0.97-1.07, at most 0.3 % of the labels on background.
"""

from __future__ import annotations

import numpy as np

from .geometry import Geometry, voxel_volume

#: accepted ratio of a propagated structure's volume to its atlas volume
VOLUME_BAND = (2.0 / 3.0, 1.5)
#: target voxels below this fraction of the target's 99th percentile are background
BACKGROUND_LEVEL = 0.1
#: warn when more than this fraction of the propagated label voxels lies on background
MAX_BACKGROUND_FRACTION = 0.05
#: structures smaller than this (in target voxels) are not volume-checked: too few voxels
MIN_VOXELS = 50


def target_background(target: np.ndarray, target_mask: np.ndarray | None) -> np.ndarray:
    """Return the target's background: outside the mask, else darker than the background level.

    Examples
    --------
    >>> target_background(np.array([0.0, 5.0, 100.0]), None).tolist()
    [True, True, False]
    >>> target_background(np.array([0.0, 5.0, 100.0]), np.array([True, True, False])).tolist()
    [False, False, True]
    """
    if target_mask is not None:
        return ~target_mask
    return target < BACKGROUND_LEVEL * float(np.percentile(target, 99))


def _volume(mm3: float) -> str:
    """Say a volume in ml (cm³) from 1 ml up, else in mm³, to about 3 digits."""
    value, unit = (mm3 / 1000, "ml") if mm3 >= 1000 else (mm3, "mm³")
    return f"{value:.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def volume_messages(
    index: int,
    warped_labels: np.ndarray,
    atlas_labels: np.ndarray,
    *,
    geometry: Geometry,
    atlas_geometry: Geometry,
) -> list[str]:
    """Say which structures' propagated volume is far from their atlas volume.

    Parameters
    ----------
    index : int
        The atlas's position, for the message.
    warped_labels : (Z, Y, X) int ndarray
        The atlas labels on the target grid (before any target-mask cut).
    atlas_labels : (Z, Y, X) int ndarray
        The labels on the atlas grid.
    geometry, atlas_geometry : Geometry
        The target and atlas grids (voxel volumes).

    Returns
    -------
    list of str
        One line per structure outside :data:`VOLUME_BAND`.

    Examples
    --------
    >>> atlas = np.zeros((10, 10, 10), np.uint8); atlas[:5] = 1
    >>> volume_messages(0, atlas, atlas, geometry=Geometry((1.0,) * 3),
    ...                 atlas_geometry=Geometry((1.0,) * 3))
    []
    >>> volume_messages(0, atlas, atlas, geometry=Geometry((2.0,) * 3),
    ...                 atlas_geometry=Geometry((1.0,) * 3))  # doctest: +ELLIPSIS
    ['atlas 0: label 1 covers 4 ml on the target, 8.00 times its 500 mm³ in the atlas ...']
    """
    target_voxel = voxel_volume(geometry.spacing)
    atlas_voxel = voxel_volume(atlas_geometry.spacing)
    ids, counts = np.unique(atlas_labels[atlas_labels > 0], return_counts=True)
    warped_ids, warped_counts = np.unique(warped_labels[warped_labels > 0], return_counts=True)
    warped = dict(zip(warped_ids.tolist(), warped_counts.tolist(), strict=True))
    out = []
    for label, count in zip(ids.tolist(), counts.tolist(), strict=True):
        before = count * atlas_voxel
        if before < MIN_VOXELS * target_voxel:
            continue
        after = warped.get(label, 0) * target_voxel
        ratio = after / before
        if not VOLUME_BAND[0] <= ratio <= VOLUME_BAND[1]:
            out.append(
                f"atlas {index}: label {label} covers {_volume(after)} on the target, "
                f"{ratio:.2f} times its {_volume(before)} in the atlas (outside "
                f"{VOLUME_BAND[0]:.2g}-{VOLUME_BAND[1]:.2g}): the registration stretched or "
                "shrank it"
            )
    return out


def background_messages(
    index: int, warped_labels: np.ndarray, background: np.ndarray, *, masked: bool
) -> list[str]:
    """Say when many propagated label voxels lie on the target's background.

    Parameters
    ----------
    index : int
        The atlas's position, for the message.
    warped_labels : (Z, Y, X) int ndarray
        The atlas labels on the target grid (before any target-mask cut).
    background : (Z, Y, X) bool ndarray
        :func:`target_background`.
    masked : bool
        Whether the background is "outside the target mask" (the wording of the message).

    Returns
    -------
    list of str
        One line when the fraction exceeds :data:`MAX_BACKGROUND_FRACTION`, else empty.

    Examples
    --------
    >>> labels = np.array([1, 1, 1, 0]); background = np.array([True, False, False, True])
    >>> background_messages(2, labels, background, masked=True)  # doctest: +ELLIPSIS
    ['atlas 2: 33% of the propagated label voxels fell outside the target mask (set to ...']
    """
    labelled = warped_labels > 0
    total = int(np.count_nonzero(labelled))
    if total == 0:
        return []
    fraction = np.count_nonzero(labelled & background) / total
    if fraction <= MAX_BACKGROUND_FRACTION:
        return []
    start = f"atlas {index}: {fraction:.0%} of the propagated label voxels"
    if masked:
        reason = (
            "fell outside the target mask (set to background): the atlas is larger than the "
            "masked region, or misaligned"
        )
    else:
        reason = (
            f"lie on the target's background (darker than {BACKGROUND_LEVEL:.0%} of its 99th "
            "percentile): an atlas of a structure stretched over more than it (a brain onto a "
            "whole head)? Give a target mask"
        )
    return [f"{start} {reason}"]
