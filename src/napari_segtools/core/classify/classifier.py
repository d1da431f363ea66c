"""Train a scikit-learn classifier on scribbled voxels; apply, save and load it safely."""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from .._types import ProgressGenerator, run_to_completion
from .._validate import (
    check_choice,
    check_integer,
    check_labels,
    check_same_shape,
    check_spacing,
)
from .features import FeatureSet, Images, as_channels, as_feature_set, as_priors

#: class names: one per class in increasing label order, or ``{label value: name}``
ClassNames = Union[Sequence[str], Mapping[int, str], None]

#: the classifiers :func:`train_voxel_classifier` can train
CLASSIFIERS = (
    "random_forest",
    "extra_trees",
    "gradient_boosting",
    "knn",
    "svm",
    "decision_tree",
)
#: what a saved classifier file declares itself to be
FILE_FORMAT = "napari-segtools voxel classifier"
FILE_VERSION = 1
#: types a saved classifier may hold beyond those skops trusts by default (scikit-learn
#: estimators, numpy arrays, builtins); anything else is refused unless the file is trusted
ALLOWED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.EuclideanDistance32",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
    }
)


@dataclass(frozen=True)
class Prediction:
    """A classifier's answer for every voxel of an image (or slice).

    Attributes
    ----------
    labels : ndarray
        The predicted scribble label value of each voxel.
    probabilities : float32 ndarray or None
        ``(n_classes, *shape)``, classes in ``VoxelClassifier.class_values`` order.
    uncertainty : float32 ndarray or None
        Normalised entropy of the probabilities in [0, 1] (0: sure, 1: all classes equally
        likely): where the next scribble helps most.
    """

    labels: np.ndarray
    probabilities: np.ndarray | None = None
    uncertainty: np.ndarray | None = None


def normalised_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy of ``(n_classes, ...)`` probabilities divided by ``log(n_classes)``, float32.

    Examples
    --------
    >>> normalised_entropy(np.array([[0.5, 1.0], [0.5, 0.0]])).tolist()
    [1.0, 0.0]
    """
    p = np.asarray(probabilities, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), np.float32(0))
    entropy = np.clip(-terms.sum(0) / np.float32(np.log(len(p))), 0, 1) + np.float32(0)  # no -0
    return entropy.astype(np.float32)


class VoxelClassifier:
    """A trained voxel classifier with the feature set, spacing and classes it was trained with.

    Made by :func:`train_voxel_classifier`, :func:`fit_voxel_classifier` or
    :func:`load_voxel_classifier`.

    Attributes
    ----------
    model : scikit-learn estimator
        The fitted classifier (kNN and SVM inside a standardising pipeline).
    feature_set : FeatureSet
        Features and scales (mm) it reads.
    spacing : tuple of float
        Voxel size (mm) of the training images; the default when predicting.
    class_values, class_names : tuple
        The scribble label values it predicts and their names.
    n_channels, n_priors : int
        Image channels and prior channels it expects.
    classifier : str
        Its kind, one of :data:`CLASSIFIERS`.
    """

    def __init__(
        self,
        model,
        *,
        feature_set: FeatureSet,
        spacing: Sequence[float],
        class_values: Sequence[int],
        class_names: Sequence[str],
        n_channels: int,
        n_priors: int,
        classifier: str,
    ) -> None:
        self.model = model
        self.feature_set = feature_set
        self.spacing = tuple(float(s) for s in spacing)
        self.class_values = tuple(int(v) for v in class_values)
        self.class_names = tuple(str(n) for n in class_names)
        self.n_channels = int(n_channels)
        self.n_priors = int(n_priors)
        self.classifier = classifier

    def __repr__(self) -> str:
        return (
            f"VoxelClassifier({self.classifier}, classes={dict(zip(self.class_values, self.class_names, strict=True))}, "
            f"{len(self.feature_names)} features, spacing={self.spacing})"
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The name of each feature column the classifier reads."""
        return self.feature_set.names(self.n_channels, self.n_priors, ndim=len(self.spacing))

    @property
    def feature_importances(self) -> dict[str, float]:
        """Impurity-based importance of each feature (sums to 1) for tree models.

        kNN and SVM have no such importances: ``{}`` (no permutation importances are computed).
        """
        model = self.model
        values = getattr(model, "feature_importances_", None)
        if values is None:
            return {}
        return {n: float(v) for n, v in zip(self.feature_names, values, strict=True)}

    def used_features(self) -> np.ndarray:
        """Bool mask of the feature columns the model reads (tree splits; all for kNN/SVM)."""
        n = len(self.feature_names)
        trees = _trees(self.model)
        if trees is None:
            return np.ones(n, bool)
        used = np.zeros(n, bool)
        for tree in trees:
            used[tree.tree_.feature[tree.tree_.feature >= 0]] = True
        return used

    def proba_rows(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (float32, ``(n_rows, n_classes)``) of feature rows."""
        return np.asarray(self.model.predict_proba(features), np.float32)

    def _check_images(self, images, priors, spacing):
        channels = as_channels(images)
        if len(channels) != self.n_channels:
            raise ValueError(
                f"`images` has {len(channels)} channel(s) but the classifier was trained on "
                f"{self.n_channels}"
            )
        if channels[0].ndim != len(self.spacing):
            raise ValueError(
                f"`images` is {channels[0].ndim}-D but the classifier was trained on "
                f"{len(self.spacing)}-D images"
            )
        checked = check_spacing(
            self.spacing if spacing is None else spacing, channels[0].ndim, array_name="images"
        )
        prior_arrays = as_priors(priors, channels[0].shape)
        if len(prior_arrays) != self.n_priors:
            raise ValueError(
                f"`priors` has {len(prior_arrays)} channel(s) but the classifier was trained "
                f"with {self.n_priors}"
            )
        return channels, prior_arrays, checked

    def iter_predict(
        self,
        images: Images,
        *,
        priors: Images | None = None,
        probabilities: bool = False,
        uncertainty: bool = False,
        chunk_mm: float | None = None,
        spacing: Sequence[float] | None = None,
    ) -> ProgressGenerator[Prediction]:
        """Classify every voxel block by block, yielding progress; return a :class:`Prediction`.

        ``spacing`` defaults to the training spacing; give it for an image on another grid
        (features are in mm, so they mean the same there). ``chunk_mm`` sets the block edge in
        mm (default: up to four million voxels, at least two blocks per core, cut across the
        slice axis first); results do not depend on it. Inputs are checked at the call.
        """
        from .apply import iter_apply

        channels, prior_arrays, checked = self._check_images(images, priors, spacing)
        return iter_apply(
            self,
            channels,
            prior_arrays,
            checked,
            probabilities=probabilities,
            uncertainty=uncertainty,
            chunk_mm=chunk_mm,
        )

    def predict(
        self,
        images: Images,
        *,
        priors: Images | None = None,
        chunk_mm: float | None = None,
        spacing: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Label every voxel with the predicted scribble label value.

        Examples
        --------
        >>> image = np.zeros((20, 20), np.float32); image[:, 10:] = 100
        >>> scribbles = np.zeros((20, 20), np.uint8); scribbles[5, 2:5] = 1; scribbles[5, 15:18] = 2
        >>> clf = train_voxel_classifier(image, scribbles, spacing=(1, 1), n_estimators=5)
        >>> clf.predict(image)[0, [0, 19]].tolist()
        [1, 2]
        """
        gen = self.iter_predict(images, priors=priors, chunk_mm=chunk_mm, spacing=spacing)
        return run_to_completion(gen).labels

    def predict_proba(
        self,
        images: Images,
        *,
        priors: Images | None = None,
        spacing: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Class probabilities, ``(n_classes, *shape)`` float32, in ``class_values`` order."""
        gen = self.iter_predict(images, priors=priors, probabilities=True, spacing=spacing)
        proba = run_to_completion(gen).probabilities
        assert proba is not None  # asked for
        return proba

    def save(self, path: str | os.PathLike) -> Path:
        """Write the classifier to a skops file (no pickle), atomically; return its path.

        The file records the feature set, spacing, classes and channels. Load it with
        :func:`load_voxel_classifier`.
        """
        import skops.io as sio

        from ..io import check_writable

        path = Path(path)
        check_writable(path)
        payload = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "model": self.model,
            "feature_set": self.feature_set.as_dict(),
            "spacing": list(self.spacing),
            "class_values": list(self.class_values),
            "class_names": list(self.class_names),
            "n_channels": self.n_channels,
            "n_priors": self.n_priors,
            "classifier": self.classifier,
        }
        fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
        try:
            sio.dump(payload, partial, compression=zipfile.ZIP_DEFLATED)
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)
        return path


def _trees(model):
    """Return the decision trees of a tree model, or None for kNN/SVM pipelines."""
    if hasattr(model, "tree_"):
        return [model]
    estimators = getattr(model, "estimators_", None)
    if estimators is None:
        return None
    return list(np.ravel(estimators))


def _make_model(name, *, class_weight, random_state, max_depth, n_estimators, min_count):
    from sklearn import ensemble, neighbors, pipeline, preprocessing, svm, tree

    forests = {
        "random_forest": ensemble.RandomForestClassifier,
        "extra_trees": ensemble.ExtraTreesClassifier,
    }
    if name in forests:
        return forests[name](
            n_estimators,
            max_depth=max_depth,
            class_weight=class_weight,
            random_state=random_state,
            n_jobs=-1,
        )
    if name == "gradient_boosting":  # class weights go in as sample weights (see fit)
        return ensemble.GradientBoostingClassifier(
            n_estimators=n_estimators, max_depth=max_depth or 3, random_state=random_state
        )
    if name == "decision_tree":
        return tree.DecisionTreeClassifier(
            max_depth=max_depth, class_weight=class_weight, random_state=random_state
        )
    if name == "knn":
        knn = neighbors.KNeighborsClassifier(min(5, min_count))
        return pipeline.make_pipeline(preprocessing.StandardScaler(), knn)
    from sklearn.calibration import CalibratedClassifierCV

    if min_count < 2:
        raise ValueError("`classifier='svm'` needs at least 2 scribbled voxels of each class")
    calibrated = CalibratedClassifierCV(
        svm.SVC(class_weight=class_weight, random_state=random_state),
        ensemble=False,
        cv=min(5, min_count),
    )
    return pipeline.make_pipeline(preprocessing.StandardScaler(), calibrated)


def fit_voxel_classifier(
    samples: np.ndarray,
    targets: np.ndarray,
    *,
    feature_set: FeatureSet,
    spacing: Sequence[float],
    n_channels: int = 1,
    n_priors: int = 0,
    classifier: str = "random_forest",
    class_names: ClassNames = None,
    class_weight: str | None = None,
    random_state: int = 0,
    max_depth: int | None = None,
    n_estimators: int = 50,
) -> VoxelClassifier:
    """Train on feature rows already computed (e.g. by ``SlicePreview.scribble_samples``).

    Parameters
    ----------
    samples : ndarray
        ``(n, n_features)`` rows in ``feature_set.names(n_channels, n_priors)`` order.
    targets : int ndarray
        The scribble label value of each row (at least two classes).
    feature_set : FeatureSet
        The features the rows hold.
    spacing : sequence of float
        Voxel size (mm) of the image the rows come from.
    n_channels, n_priors : int
        Image and prior channels behind the rows.
    classifier, class_names, class_weight, random_state, max_depth, n_estimators
        As :func:`train_voxel_classifier`.

    Returns
    -------
    VoxelClassifier

    Examples
    --------
    >>> fs = FeatureSet(("intensity",), ())
    >>> clf = fit_voxel_classifier(np.array([[0.0], [1.0], [9.0], [10.0]]), np.array([1, 1, 2, 2]),
    ...                            feature_set=fs, spacing=(1.0, 1.0), classifier="decision_tree")
    >>> clf.class_values, float(clf.model.tree_.threshold[0])
    ((1, 2), 5.0)
    """
    from sklearn.utils.class_weight import compute_sample_weight

    classifier = check_choice(classifier, "classifier", CLASSIFIERS)
    if class_weight is not None:
        check_choice(class_weight, "class_weight", ("balanced",))
    # bounded so that a typo cannot start building a billion trees
    n_estimators = check_integer(n_estimators, "n_estimators", minimum=1, maximum=10_000)
    if max_depth is not None:
        max_depth = check_integer(max_depth, "max_depth", minimum=1, maximum=1_000)
    random_state = check_integer(random_state, "random_state", minimum=0, maximum=2**32 - 1)
    samples = np.asarray(samples, np.float32)
    targets = np.asarray(targets).astype(np.int64)
    n_features = len(feature_set.names(n_channels, n_priors, ndim=len(spacing)))
    if samples.ndim != 2 or samples.shape[1] != n_features or len(samples) != len(targets):
        raise ValueError(
            f"`samples` must be (n, {n_features}) rows matching `targets`; got {samples.shape} "
            f"and {targets.shape}"
        )
    values, counts = np.unique(targets, return_counts=True)
    if len(values) == 0:
        raise ValueError("`scribbles` is empty: paint at least two classes (label values > 0)")
    if len(values) == 1:
        raise ValueError(
            f"`scribbles` holds one class only (label {values[0]}); paint at least two classes"
        )
    names = _class_names(class_names, values)
    model = _make_model(
        classifier,
        class_weight=class_weight,
        random_state=random_state,
        max_depth=max_depth,
        n_estimators=n_estimators,
        min_count=int(counts.min()),
    )
    if classifier == "gradient_boosting" and class_weight is not None:
        model.fit(samples, targets, sample_weight=compute_sample_weight(class_weight, targets))
    else:
        model.fit(samples, targets)
    if hasattr(model, "n_jobs"):
        model.n_jobs = 1  # apply parallelises over blocks; one thread per block keeps sums exact
    return VoxelClassifier(
        model,
        feature_set=feature_set,
        spacing=spacing,
        class_values=values.tolist(),
        class_names=names,
        n_channels=n_channels,
        n_priors=n_priors,
        classifier=classifier,
    )


def _class_names(class_names, values: np.ndarray) -> tuple[str, ...]:
    if class_names is None:
        return tuple(f"class {v}" for v in values)
    if isinstance(class_names, Mapping):
        missing = [int(v) for v in values if int(v) not in class_names]
        if missing:
            raise ValueError(f"`class_names` has no name for label value(s) {missing}")
        return tuple(str(class_names[int(v)]) for v in values)
    if not isinstance(class_names, Sequence) or isinstance(class_names, str):
        raise TypeError(
            f"`class_names` must be a sequence of names or a {{value: name}} mapping; got "
            f"{class_names!r:.80}"
        )
    if len(class_names) != len(values):
        raise ValueError(
            f"`class_names` must give one name per scribbled class ({len(values)}: label values "
            f"{values.tolist()}), as a sequence or a {{value: name}} mapping"
        )
    return tuple(str(n) for n in class_names)


def train_voxel_classifier(
    images: Images,
    scribbles: np.ndarray,
    *,
    spacing: Sequence[float],
    features: str | FeatureSet = "basic",
    classifier: str = "random_forest",
    class_names: ClassNames = None,
    class_weight: str | None = None,
    priors: Images | None = None,
    random_state: int = 0,
    max_depth: int | None = None,
    n_estimators: int = 50,
) -> VoxelClassifier:
    """Train a voxel classifier on scribbles (ilastik-style pixel classification, in mm).

    Parameters
    ----------
    images : ndarray or sequence of ndarray
        One 2-D/3-D image, or several co-registered contrasts on one grid (T1 + T2, CT + PET).
    scribbles : int ndarray
        Same shape; 0 = not scribbled, each other value one class (at least two classes).
    spacing : sequence of float
        Voxel size in mm, numpy axis order (feature scales are in mm).
    features : str or FeatureSet
        A preset (``"basic"``, ``"edges"``, ``"texture"``, ``"all"``) or a :class:`FeatureSet`.
    classifier : str
        One of ``random_forest`` (default), ``extra_trees``, ``gradient_boosting``, ``knn``,
        ``svm``, ``decision_tree``.
    class_names : sequence of str or mapping, optional
        One name per class, in increasing label order, or ``{value: name}``.
    class_weight : None or "balanced"
        ``"balanced"`` weighs classes inversely to their scribble counts (rare classes).
    priors : ndarray or sequence of ndarray, optional
        Extra feature channels on the same grid (e.g. an atlas probability map), used as-is.
    random_state : int
        Seed of randomised classifiers.
    max_depth : int, optional
        Depth limit of the trees (1: a single threshold).
    n_estimators : int
        Trees of a forest or boosting stages.

    Returns
    -------
    VoxelClassifier

    Examples
    --------
    >>> image = np.zeros((10, 10), np.float32); image[:, 5:] = 300
    >>> scribbles = np.zeros((10, 10), np.uint8); scribbles[2, :3] = 1; scribbles[2, 7:] = 2
    >>> clf = train_voxel_classifier(image, scribbles, spacing=(1, 1), classifier="decision_tree",
    ...                              max_depth=1, features=FeatureSet(("intensity",), ()))
    >>> float(clf.model.tree_.threshold[0])
    150.0
    """
    from .apply import sample_features

    channels = as_channels(images)
    spacing = check_spacing(spacing, channels[0].ndim, array_name="images")
    scribbles = check_labels(scribbles, "scribbles")
    check_same_shape(channels[0], scribbles, ("images", "scribbles"))
    prior_arrays = as_priors(priors, channels[0].shape)
    feature_set = as_feature_set(features)
    classifier = check_choice(classifier, "classifier", CLASSIFIERS)
    samples, targets = sample_features(channels, prior_arrays, scribbles, spacing, feature_set)
    return fit_voxel_classifier(
        samples,
        targets,
        feature_set=feature_set,
        spacing=spacing,
        n_channels=len(channels),
        n_priors=len(prior_arrays),
        classifier=classifier,
        class_names=class_names,
        class_weight=class_weight,
        random_state=random_state,
        max_depth=max_depth,
        n_estimators=n_estimators,
    )


def _refuse(path: Path, reason: str) -> ValueError:
    return ValueError(
        f"refusing to load {path.name}: {reason}; only napari-segtools classifier files (.skops) "
        "made of scikit-learn and numpy types are opened, because loading anything else can run "
        "code (pass trusted=True only for a file whose author you trust)"
    )


def load_voxel_classifier(path: str | os.PathLike, *, trusted: bool = False) -> VoxelClassifier:
    """Load a classifier saved by :meth:`VoxelClassifier.save` without running code from it.

    The skops file's types are checked against an allow-list of scikit-learn and numpy types
    before anything is built; a file holding other types is refused unless ``trusted=True`` (you
    vouch for its author). A plain pickle is refused always.

    Parameters
    ----------
    path : str or Path
        A ``.skops`` file written by :meth:`VoxelClassifier.save`.
    trusted : bool
        Also build types outside the allow-list (only for a file whose author you trust).

    Returns
    -------
    VoxelClassifier

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a safe napari-segtools classifier file (one line saying why).

    Examples
    --------
    >>> import pickle, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "model.skops"
    >>> _ = path.write_bytes(pickle.dumps({"model": "a pickle"}))
    >>> load_voxel_classifier(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: refusing to load model.skops: it is not a skops file (a plain pickle or ...
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot load {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise _refuse(path, "it is not a skops file (a plain pickle or another format)")
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 (a damaged or hand-made archive: one line)
        raise _refuse(path, f"it is not a readable skops file ({type(exc).__name__})") from None
    unknown = sorted(set(untrusted) - ALLOWED_TYPES)
    if unknown and not trusted:
        raise _refuse(path, f"it holds types outside the allow-list: {', '.join(unknown[:6])}")
    try:
        payload = sio.load(path, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001 (whatever skops raises: one line)
        raise _refuse(path, f"it could not be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise _refuse(path, "it is a skops file but not a napari-segtools classifier")
    if payload.get("version") != FILE_VERSION:
        raise _refuse(path, f"it has file version {payload.get('version')!r}, not {FILE_VERSION}")
    try:
        return VoxelClassifier(
            payload["model"],
            feature_set=FeatureSet.from_dict(payload["feature_set"]),
            spacing=payload["spacing"],
            class_values=payload["class_values"],
            class_names=payload["class_names"],
            n_channels=payload["n_channels"],
            n_priors=payload["n_priors"],
            classifier=check_choice(payload["classifier"], "classifier", CLASSIFIERS),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(path, f"its contents are incomplete ({exc})") from None
