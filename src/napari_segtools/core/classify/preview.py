"""Live preview: features of displayed slices cached, so a new scribble retrains in milliseconds."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .._validate import check_integer, check_labels, check_same_shape, check_spacing
from .apply import sample_features
from .classifier import Prediction, VoxelClassifier, fit_voxel_classifier, normalised_entropy
from .features import (
    FeatureSet,
    Images,
    as_channels,
    as_feature_set,
    as_priors,
    block_features,
)

#: slices whose features are kept (each ~20 MB for 19 features of 512 x 512)
CACHE_SLICES = 16


class SlicePreview:
    """Predict the displayed slice of a volume while the user scribbles.

    The features of a slice are computed once from the slab of slices within the halo (so they
    equal the whole-volume features exactly) and cached; retraining after a scribble and
    predicting the slice then cost only the classifier's time. One preview belongs to one set of
    images, one axis and one feature set: make a new one when any of them changes.

    Examples
    --------
    >>> image = np.zeros((4, 12, 12), np.float32); image[:, :, 6:] = 100
    >>> scribbles = np.zeros(image.shape, np.uint8)
    >>> scribbles[1, 3, :3] = 1; scribbles[1, 3, 9:] = 2
    >>> preview = SlicePreview(image, spacing=(2.0, 1.0, 1.0), feature_set="basic")
    >>> clf = preview.train(scribbles, n_estimators=5)
    >>> preview.predict(clf, 2).labels[0, [0, 11]].tolist()
    [1, 2]
    """

    def __init__(
        self,
        images: Images,
        *,
        spacing: Sequence[float],
        feature_set: str | FeatureSet,
        priors: Images | None = None,
        axis: int = 0,
    ) -> None:
        self.channels = as_channels(images)
        self.shape = self.channels[0].shape
        self.spacing = check_spacing(spacing, len(self.shape), array_name="images")
        self.priors = as_priors(priors, self.shape)
        self.feature_set = as_feature_set(feature_set)
        self.axis = check_integer(axis, "axis", minimum=0, maximum=len(self.shape) - 1)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def features(self, index: int) -> np.ndarray:
        """Features of slice ``index`` along the axis, ``(*slice_shape, n_features)`` (cached)."""
        n = self.shape[self.axis]
        index = check_integer(index, "index", minimum=0, maximum=n - 1)
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        halo = self.feature_set.halo_voxels(self.spacing)[self.axis]
        lo, hi = max(0, index - halo), min(n, index + halo + 1)
        slab = tuple(
            slice(lo, hi) if a == self.axis else slice(None) for a in range(len(self.shape))
        )
        inner = tuple(
            slice(index - lo, index - lo + 1) if a == self.axis else slice(None)
            for a in range(len(self.shape))
        )
        feats = block_features(
            [c[slab] for c in self.channels],
            [p[slab] for p in self.priors],
            self.spacing,
            self.feature_set,
            None,
            inner,
        )
        plane = np.take(feats, 0, axis=self.axis + 1)  # feats is feature first
        self._cache[index] = np.ascontiguousarray(np.moveaxis(plane, 0, -1))
        if len(self._cache) > CACHE_SLICES:
            self._cache.popitem(last=False)
        return self._cache[index]

    def predict(self, classifier: VoxelClassifier, index: int) -> Prediction:
        """Labels, probabilities ``(n_classes, *slice_shape)`` and uncertainty of one slice."""
        if classifier.feature_set != self.feature_set or (
            classifier.n_channels,
            classifier.n_priors,
        ) != (len(self.channels), len(self.priors)):
            raise ValueError(
                "`classifier` was trained on other features or channels than this preview's; "
                "make a SlicePreview with its feature_set"
            )
        feats = self.features(index)
        proba = classifier.proba_rows(feats.reshape(-1, feats.shape[-1]))
        proba = np.moveaxis(proba, -1, 0).reshape(-1, *feats.shape[:-1])
        labels = np.asarray(classifier.class_values)[np.argmax(proba, axis=0)]
        return Prediction(labels, proba, normalised_entropy(proba))

    def scribble_samples(self, scribbles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feature rows and label values of the scribbled voxels.

        Scribbles on up to :data:`CACHE_SLICES` slices read the cached slice features; scribbles
        spread over more slices are sampled around their bounding boxes instead.
        """
        scribbles = check_labels(scribbles, "scribbles")
        check_same_shape(self.channels[0], scribbles, ("images", "scribbles"))
        # find the scribbled slices with one reduction, then search only those (a full
        # np.nonzero of a 300 x 512 x 512 volume alone takes ~0.1 s)
        per_slice = np.moveaxis(scribbles, self.axis, 0).reshape(self.shape[self.axis], -1)
        indices = np.flatnonzero(per_slice.max(axis=1))
        if len(indices) > CACHE_SLICES:
            return sample_features(
                self.channels, self.priors, scribbles, self.spacing, self.feature_set
            )
        rows, targets = [], []
        for index in indices.tolist():
            plane = np.take(scribbles, index, axis=self.axis)
            in_plane = np.nonzero(plane)
            rows.append(self.features(index)[in_plane])
            targets.append(plane[in_plane])
        n = len(self.feature_set.names(len(self.channels), len(self.priors), ndim=len(self.shape)))
        if not rows:
            return np.zeros((0, n), np.float32), np.zeros(0, np.int64)
        return np.concatenate(rows), np.concatenate(targets).astype(np.int64)

    def train(self, scribbles: np.ndarray, **options) -> VoxelClassifier:
        """Train on the scribbles from cached features; ``options`` as ``train_voxel_classifier``."""
        samples, targets = self.scribble_samples(scribbles)
        return fit_voxel_classifier(
            samples,
            targets,
            feature_set=self.feature_set,
            spacing=self.spacing,
            n_channels=len(self.channels),
            n_priors=len(self.priors),
            **options,
        )
