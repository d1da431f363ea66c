"""A threshold is a decision tree on intensity.

A decision tree of depth 1 that sees only each voxel's own intensity can ask one question,
"is the intensity above ``t``?", and it picks the ``t`` that best separates the scribbled
classes. That is exactly a global threshold, learnt from examples instead of typed in. A forest
of deeper trees on neighbourhood features (smoothed intensity, edges, texture at several scales
in mm) asks many such questions in sequence, and so generalises the threshold to classes that no
single intensity cut separates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_finite, check_image, check_labels, check_same_shape, check_spacing

if TYPE_CHECKING:
    from ..classify.classifier import VoxelClassifier


@dataclass(frozen=True)
class TreeLesson:
    """What a depth-1 tree learnt from bone and soft-tissue scribbles, next to a threshold.

    Attributes
    ----------
    split_hu : float
        The tree's one intensity split (HU): voxels above it go to the bright class.
    dice_tree_vs_threshold : float
        Dice of the tree's bright-class mask against ``image >= bone_threshold_hu``.
    tree_mask, threshold_mask : bool ndarray
        The voxels the tree puts in the bright class, and the thresholded voxels.
    bright_class : int
        The scribble value the tree assigns above the split.
    classifier : VoxelClassifier
        The trained classifier (see :mod:`napari_segtools.core.classify.classifier`).
    bone_threshold_hu : float
        The manual threshold compared with (HU; 226 for the shipped head CT's bone mask).
    """

    split_hu: float
    dice_tree_vs_threshold: float
    tree_mask: np.ndarray
    threshold_mask: np.ndarray
    bright_class: int
    classifier: VoxelClassifier
    bone_threshold_hu: float = 226.0


def threshold_as_tree(
    image: np.ndarray,
    scribbles: np.ndarray,
    *,
    spacing: Sequence[float],
    bone_threshold_hu: float = 226.0,
) -> TreeLesson:
    """Train a depth-1 decision tree on intensity alone and compare it with a threshold.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) ndarray
        A CT in Hounsfield units.
    scribbles : int ndarray, same shape
        0 where unlabelled; two other values mark the two classes (say 1 soft tissue, 2 bone).
    spacing : sequence of float
        Voxel size in mm, numpy axis order.
    bone_threshold_hu : float
        The manual threshold to compare with (HU); ``image >= bone_threshold_hu`` is its mask.

    Returns
    -------
    TreeLesson
        The learnt split (HU), the Dice of the tree's mask against the threshold's, and both
        masks.

    Raises
    ------
    ValueError
        If the shapes differ, the scribbles do not hold exactly two classes, or the scribbled
        intensities cannot be split (both classes have the same single value).

    Examples
    --------
    >>> ct = np.array([[-50, 20, 40, 300, 700, 1200]] * 2, dtype=np.int16)
    >>> marks = np.array([[1, 1, 0, 0, 2, 2], [0] * 6])
    >>> lesson = threshold_as_tree(ct, marks, spacing=(1.0, 0.5))
    >>> lesson.split_hu, lesson.tree_mask[0].astype(int).tolist()
    (360.0, [0, 0, 0, 0, 1, 1])
    >>> round(lesson.dice_tree_vs_threshold, 3)
    0.8
    """
    from ..classify.classifier import train_voxel_classifier
    from ..classify.features import FeatureSet
    from ..metrics.overlap import dice

    image = check_image(image)
    scribbles = check_labels(scribbles, "scribbles")
    check_same_shape(image, scribbles, ("image", "scribbles"))
    spacing = check_spacing(spacing, image.ndim)
    bone_threshold_hu = check_finite(bone_threshold_hu, "bone_threshold_hu")
    values = np.unique(scribbles[scribbles > 0])
    if values.size != 2:
        raise ValueError(
            f"`scribbles` must mark exactly two classes (two non-zero values); got {values.size}"
        )
    classifier = train_voxel_classifier(
        image,
        scribbles,
        spacing=spacing,
        features=FeatureSet(features=("intensity",), sigmas_mm=()),
        classifier="decision_tree",
        max_depth=1,
    )
    tree = classifier.model.tree_
    if tree.node_count < 3:
        raise ValueError(
            "`scribbles`: both classes have the same intensities; the tree found no split"
        )
    split = float(tree.threshold[0])
    bright_class = int(classifier.class_values[int(np.argmax(tree.value[tree.children_right[0]]))])
    tree_mask = classifier.predict(image) == bright_class
    threshold_mask = image >= bone_threshold_hu
    return TreeLesson(
        split_hu=split,
        dice_tree_vs_threshold=float(dice(threshold_mask, tree_mask, spacing=spacing)),
        tree_mask=tree_mask,
        threshold_mask=threshold_mask,
        bright_class=bright_class,
        classifier=classifier,
        bone_threshold_hu=bone_threshold_hu,
    )
