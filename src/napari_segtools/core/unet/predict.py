"""Whole-image U-Net prediction as one generator, and the per-voxel uncertainty of its result.

:func:`iter_predict` is what the U-Net dock runs in its worker: load a model package, pick the
device, predict probabilities window by window. :func:`predictive_entropy` turns the
probabilities into an uncertainty map. Neither imports torch before it is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._types import Progress, ProgressGenerator
from .._validate import check_number
from ..geometry import Geometry
from .domain import warn_domain
from .package import ModelConfig

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Prediction:
    """Class probabilities of one image, with the model config and the device that ran it.

    Attributes
    ----------
    probabilities : (K, [Z,] Y, X) float32 ndarray
        Probability of each name in ``config.class_names``, on the image grid: classes summing
        to 1 (softmax head), or independent structures that may overlap (sigmoid head,
        :attr:`multilabel`).
    config : ModelConfig
        The model package's config (class names and colours).
    device : str
        The device the model ran on (``"cpu"``, ``"cuda"``, ``"mps"``).
    domain_warnings : tuple of str
        How the input differed from the model's training data, one line each (the
        :class:`~.domain.DomainWarning` messages; empty when it did not).

    Examples
    --------
    >>> from napari_segtools.core.unet.package import ModelConfig
    >>> config = ModelConfig.from_dict({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [8, 8],
    ...     "weights": "weights.pt"})
    >>> p = Prediction(np.array([[[0.9, 0.2]], [[0.1, 0.8]]], np.float32), config, "cpu")
    >>> p.labels
    array([[0, 1]], dtype=uint8)
    >>> p.multilabel, p.masks()[1]
    (False, array([[False,  True]]))
    """

    probabilities: np.ndarray
    config: ModelConfig
    device: str
    domain_warnings: tuple[str, ...] = ()

    @property
    def multilabel(self) -> bool:
        """Whether the model has a sigmoid head: one independent channel per structure."""
        return self.config.output == "sigmoid"

    @property
    def labels(self) -> np.ndarray:
        """Class index of the most probable class per voxel, uint8 (softmax heads only)."""
        if self.multilabel:
            raise ValueError(
                "a sigmoid (multilabel) model's structures may overlap, so there is no single "
                "label per voxel; use masks(), one mask per structure"
            )
        return self.probabilities.argmax(axis=0).astype(np.uint8)

    def masks(self, *, threshold: float = 0.5) -> np.ndarray:
        """Return one boolean mask per name in ``config.class_names``.

        Parameters
        ----------
        threshold : float
            Sigmoid heads: a structure is present where its probability exceeds this, in
            (0, 1). Softmax heads ignore it: mask k is ``labels == k`` (background first).

        Returns
        -------
        (K, [Z,] Y, X) bool ndarray
            Sigmoid: masks that may overlap. Softmax: the one-hot of :attr:`labels`.

        Examples
        --------
        >>> from napari_segtools.core.unet.package import ModelConfig
        >>> config = ModelConfig.from_dict({
        ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["organ", "lesion"],
        ...     "class_colors": ["#00ff00", "#ff0000"], "spacing": [1.0, 1.0],
        ...     "normalization": {"method": "zscore"}, "patch_size": [8, 8],
        ...     "weights": "weights.pt", "output": "sigmoid"})
        >>> p = Prediction(np.array([[[0.9, 0.8]], [[0.1, 0.7]]], np.float32), config, "cpu")
        >>> p.masks().astype(int).tolist()
        [[[1, 1]], [[0, 1]]]
        """
        if not self.multilabel:
            classes = np.arange(self.probabilities.shape[0])
            return self.labels[None] == classes.reshape(-1, *(1,) * (self.probabilities.ndim - 1))
        level = check_number(threshold, "threshold", low=0.0, high=1.0)
        return self.probabilities > level


def _check_probabilities(probabilities: object) -> np.ndarray:
    """Return ``probabilities`` as a float ndarray of K >= 2 classes in [0, 1], else refuse."""
    arr = np.asarray(probabilities) if probabilities is not None else np.asarray(None)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(
            f"`probabilities` must be a real-valued (K, ...) array; got {type(probabilities).__name__}"
            f" of dtype {arr.dtype}"
        )
    if arr.ndim not in (2, 3, 4) or arr.shape[0] < 2 or arr.size == 0:
        raise ValueError(
            "`probabilities` needs >= 2 classes along axis 0 and 1 to 3 spatial axes; "
            f"got shape {arr.shape}"
        )
    probs = arr.astype(np.float64)
    if not np.isfinite(probs).all():
        raise ValueError("`probabilities` contains NaN or infinite values")
    if probs.min() < -1e-6 or probs.max() > 1 + 1e-6:
        raise ValueError(
            f"`probabilities` must lie in [0, 1]; got values from {probs.min():g} to {probs.max():g}"
        )
    return probs


def predictive_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Compute the normalised Shannon entropy of class probabilities, voxel by voxel.

    Parameters
    ----------
    probabilities : (K, ...) float ndarray
        Class probabilities along axis 0 (summing to 1), K >= 2.

    Returns
    -------
    (...) float32 ndarray
        ``-sum_k p_k log p_k / log K``: 0 where the model is certain, 1 where all classes are
        equally likely.

    Raises
    ------
    ValueError, TypeError
        If there are fewer than 2 classes along axis 0, the array is not 2-D to 4-D real
        numbers, or a value is NaN, infinite or outside [0, 1] (the message names the
        argument).

    Examples
    --------
    >>> predictive_entropy(np.array([[1.0, 0.5], [0.0, 0.5]])).round(6)
    array([0., 1.], dtype=float32)
    """
    probs = _check_probabilities(probabilities)
    p = np.clip(probs, 1e-12, 1.0)
    return (-(p * np.log(p)).sum(axis=0) / np.log(probs.shape[0])).astype(np.float32)


def iter_predict(
    model: str | Path,
    image: np.ndarray,
    *,
    geometry: Geometry,
    overlap: float = 0.5,
    tta: bool = False,
    device: str | torch.device | None = None,
    batch_size: int = 4,
    padding: str | None = None,
    mask: np.ndarray | None = None,
    trusted: bool = False,
) -> ProgressGenerator[Prediction]:
    """Load a model package and predict class probabilities of ``image``, yielding progress.

    Parameters
    ----------
    model : str or Path
        A shipped model name or a package path (see :func:`~.package.load_model`).
    image : ([C,] [Z,] Y, X) ndarray
        Intensities; the channel axis (first) may be omitted for 1-channel models. A model
        with C > 1 input channels takes C co-registered images stacked first.
    geometry : Geometry
        Spacing (mm) and direction of the image (a layer's ``layer_geometry``).
    overlap : float
        Window overlap fraction, 0-0.9.
    tta : bool
        Mirroring test-time augmentation.
    device : str or torch.device, optional
        ``None``/``"auto"``: CUDA, else MPS, else CPU.
    batch_size : int
        Windows per forward pass.
    padding : {"edge", "minimum", "reflect", "constant"}, optional
        How an image smaller than the window is padded; ``None``: the model config's.
    mask : ([Z,] Y, X) bool ndarray, optional
        Predict only inside it, background outside (see
        :meth:`~.package.Predictor.predict_proba`).
    trusted : bool
        Load a model whose format runs code (TorchScript, ``torch.export``...); see
        :func:`~.package.load_model`.

    Yields
    ------
    Progress
        Loading the model, then one event per window.

    Returns
    -------
    Prediction
        Probabilities on the image grid, the model config, the device used and the domain
        checks' messages.

    Raises
    ------
    ImportError
        Without PyTorch; the one-line message names the ``[unet]`` extra.

    Warns
    -----
    DomainWarning
        One per failed domain check (:func:`~.domain.check_domain`), also kept in
        ``Prediction.domain_warnings``.

    Examples
    --------
    >>> from napari_segtools.core._types import run_to_completion
    >>> image = np.zeros((8, 8, 8), np.float32)
    >>> result = run_to_completion(iter_predict(
    ...     "mni152-brain-tissue", image, geometry=Geometry((2.0, 2.0, 2.0)), device="cpu"))
    >>> result.probabilities.shape, result.device
    ((3, 8, 8, 8), 'cpu')
    >>> [m.split(":")[0] for m in result.domain_warnings]  # a blank 16 mm cube is no brain
    ['intensity', 'field of view']
    """
    from .package import check_predict_options, load_model

    check_predict_options(overlap=overlap, tta=tta, batch_size=batch_size, padding=padding)
    yield Progress(0, 1, "loading the model")
    from .inference import resolve_device

    dev = resolve_device(device)
    predictor = load_model(model, trusted=trusted)
    messages = warn_domain(image, geometry=geometry, config=predictor.config, mask=mask)
    probs = yield from predictor.iter_predict_proba(
        image,
        geometry=geometry,
        overlap=overlap,
        tta=tta,
        device=dev,
        batch_size=batch_size,
        padding=padding,
        mask=mask,
        domain_check=False,  # checked above, the messages kept
    )
    return Prediction(probs, predictor.config, str(dev), messages)
