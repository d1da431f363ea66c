"""Domain checks: how far an input lies from what a model was trained on.

A network answers for every voxel, even on images unlike anything it saw in training (another
modality, a head where it learned skull-stripped brains, 5 mm slices where it learned 2 mm). Three
checks compare an input with the training data before a prediction; each failed check is one
line of text, and :meth:`~.package.Predictor.predict` warns each as a :class:`DomainWarning`:

- **intensity**: the histogram of the *normalised* input (the model's own normalisation, inside
  the mask when one is given), above the training background, against the training images'
  stored quantiles; the distance is the 1-D Wasserstein (earth mover's) distance, in units of
  the training intensity range (0.5th to 99.5th percentile), warned above
  :data:`MAX_INTENSITY_DISTANCE`;
- **field of view**: the physical extent per axis against the training images' extent, warned
  outside :data:`EXTENT_BAND` (ratio to the smallest and largest training extent);
- **spacing**: the voxel size per axis against the model's, warned outside
  :data:`SPACING_BAND` (coarser input lacks detail the model relies on; much finer input is
  downsampled without anti-aliasing).

The statistics live in the model config's ``training`` entry: ``training["intensity"]`` (see
:func:`training_statistics`) and ``training["extent_mm"]``; training records them, and a config
without them skips the intensity and field-of-view checks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._validate import check_geometry, check_image, check_mask
from ..geometry import Geometry
from . import _preprocess as pre

if TYPE_CHECKING:
    from .package import ModelConfig

#: warn above this intensity histogram distance (fraction of the training intensity range);
#: measured on the shipped model: its training image 0.00, gamma-changed copies 0.06 and 0.08,
#: the T1-head sample skull-stripped 0.06; the same head unstripped 0.34, the CT head 0.34
MAX_INTENSITY_DISTANCE = 0.2
#: warn when an axis's extent is outside this ratio to the smallest and largest training extent
EXTENT_BAND = (0.5, 2.0)
#: warn when an axis's voxel size is outside this ratio to the model's
SPACING_BAND = (0.25, 2.0)
#: voxels count as "above the background" from this fraction of the training intensity range
FOREGROUND_FRACTION = 0.05
#: the quantile levels stored (percent): midpoints of 20 equal shares, so that the mean absolute
#: difference of two quantile vectors is the Wasserstein distance by the midpoint rule
LEVELS_PERCENT = tuple(2.5 + 5.0 * i for i in range(20))
#: at most this many voxels per channel feed the statistics (an even stride through the data)
_MAX_VALUES = 2_000_000


class DomainWarning(UserWarning):
    """An input lies far from the model's training data (intensities, field of view, spacing).

    Warned by :meth:`~.package.Predictor.predict` (and ``predict_proba``, ``iter_predict``) once
    per failed check of :func:`check_domain`; the message is that check's line.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn(DomainWarning("spacing: 5 mm along axis 0 is 2.5 times the model's"))
    >>> caught[0].category.__name__, str(caught[0].message).split(":")[0]
    ('DomainWarning', 'spacing')
    """


def _subsample(values: np.ndarray) -> np.ndarray:
    step = max(1, values.size // _MAX_VALUES)
    return values[::step]


def training_statistics(images: Sequence[np.ndarray], *, spacing: Sequence[float]) -> dict:
    """Summarise normalised training images for the domain checks.

    Parameters
    ----------
    images : sequence of (C, [Z,] Y, X) float ndarray
        The training images, canonical, at the model spacing, *normalised* as the model's
        config says (what the network saw).
    spacing : sequence of float
        The model spacing (mm, canonical axis order).

    Returns
    -------
    dict
        ``{"intensity": {...}, "extent_mm": {"min": [...], "max": [...]}}``, ready for
        ``config.training``. ``intensity`` holds, per channel, the ``foreground_above`` level
        (normalised units), the ``range`` (99.5th minus 0.5th percentile) and the
        ``quantiles`` at :data:`LEVELS_PERCENT` of the voxels above that level.

    Examples
    --------
    >>> image = np.linspace(0, 1, 1000, dtype=np.float32).reshape(1, 10, 100)
    >>> stats = training_statistics([image], spacing=(2.0, 1.0))
    >>> stats["extent_mm"], round(stats["intensity"]["range"][0], 3)
    ({'min': [20.0, 100.0], 'max': [20.0, 100.0]}, 0.99)
    """
    channels = images[0].shape[0]
    above, ranges, quantiles = [], [], []
    for c in range(channels):
        values = _subsample(np.concatenate([np.ravel(im[c]) for im in images]))
        lo, hi = np.percentile(values, [0.5, 99.5])
        level = float(lo + FOREGROUND_FRACTION * (hi - lo))
        fg = values[values > level]
        above.append(round(level, 6))
        ranges.append(round(float(hi - lo), 6))
        q = np.percentile(fg if fg.size else values, LEVELS_PERCENT)
        quantiles.append([round(float(v), 6) for v in q])
    extents = np.array(
        [[n * s for n, s in zip(im.shape[1:], spacing, strict=True)] for im in images]
    )
    return {
        "intensity": {
            "levels_percent": list(LEVELS_PERCENT),
            "foreground_above": above,
            "range": ranges,
            "quantiles": quantiles,
        },
        "extent_mm": {
            "min": [round(float(v), 3) for v in extents.min(axis=0)],
            "max": [round(float(v), 3) for v in extents.max(axis=0)],
        },
    }


def _stored(training: dict, channels: int, ndim: int) -> tuple[dict | None, dict | None]:
    """Return the config's intensity and extent statistics (None when absent); check their form."""
    intensity, extent = training.get("intensity"), training.get("extent_mm")
    if intensity is not None:
        try:
            q = np.asarray(intensity["quantiles"], float)
            ok = q.shape == (channels, len(LEVELS_PERCENT))
            ok = ok and len(intensity["foreground_above"]) == len(intensity["range"]) == channels
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                "model config `training.intensity` must hold `foreground_above`, `range` and "
                f"`quantiles` ({len(LEVELS_PERCENT)} values) for each of the {channels} "
                "channel(s), as training_statistics() writes them"
            )
    if extent is not None:
        try:
            ok = all(len(extent[k]) == ndim for k in ("min", "max"))
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise ValueError(
                f"model config `training.extent_mm` must hold `min` and `max`, {ndim} values each"
            )
    return intensity, extent


def intensity_distance(
    channel: np.ndarray, *, normalization: dict, stats: dict, index: int, where=None
) -> float:
    """Wasserstein distance of one normalised channel's foreground to the stored training one.

    In units of the training intensity range; ``inf`` when no voxel lies above the training
    background level.
    """
    values = pre.normalize(channel, normalization, where=where)
    values = _subsample(values[where] if where is not None else values.ravel())
    fg = values[values > stats["foreground_above"][index]]
    if fg.size == 0:
        return float("inf")
    q = np.percentile(fg, LEVELS_PERCENT)
    spread = max(float(stats["range"][index]), 1e-8)
    return float(np.abs(q - np.asarray(stats["quantiles"][index], float)).mean() / spread)


def _axes(values: Sequence[int]) -> str:
    return ("axis " if len(values) == 1 else "axes ") + ", ".join(str(v) for v in values)


def _mm(values: Sequence[float]) -> str:
    return " x ".join(f"{v:.3g}" for v in values) + " mm"


def check_domain(
    image: np.ndarray, *, geometry: Geometry, config: ModelConfig, mask: np.ndarray | None = None
) -> list[str]:
    """Say how an input differs from the model's training data; an empty list when it does not.

    Parameters
    ----------
    image : ([C,] [Z,] Y, X) ndarray
        The input, as given to :meth:`~.package.Predictor.predict`.
    geometry : Geometry
        Its spacing (mm) and direction.
    config : ModelConfig
        The model's config; ``training["intensity"]`` and ``training["extent_mm"]`` enable
        the intensity and field-of-view checks (the spacing check needs only ``spacing``).
    mask : ([Z,] Y, X) bool ndarray, optional
        The prediction mask: the intensity check then looks at the voxels inside it.

    Returns
    -------
    list of str
        One line per failed check (intensity, field of view, spacing).

    Raises
    ------
    ValueError, TypeError
        A bad image, geometry or mask, or malformed statistics in the config.

    Examples
    --------
    >>> from napari_segtools.core.unet.package import ModelConfig
    >>> config = ModelConfig.from_dict({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [8, 8],
    ...     "weights": "weights.pt"})
    >>> check_domain(np.zeros((8, 8)), geometry=Geometry((1.0, 1.0)), config=config)
    []
    >>> check_domain(np.zeros((8, 8)), geometry=Geometry((1.0, 3.0)), config=config)
    ["spacing: 3 mm along axis 1 is 3.0 times the model's 1 mm (over 2): detail the model learned to use is missing"]
    """
    dims = config.spatial_dims
    arr = check_image(image, ndims=(dims, dims + 1))
    if arr.ndim == dims:
        arr = arr[None]
    if arr.shape[0] != config.in_channels:
        raise ValueError(
            f"`image` has {arr.shape[0]} channel(s) (shape {arr.shape}) but the model takes "
            f"{config.in_channels}, channel axis first"
        )
    geometry = check_geometry(geometry, dims)
    where = None
    if mask is not None:
        where = check_mask(mask, "mask", ndims=(dims,))
        if where.shape != arr.shape[1:]:
            raise ValueError(
                f"`mask` must lie on the image grid, shape {arr.shape[1:]}; got {where.shape}"
            )
    intensity, extent = _stored(config.training, arr.shape[0], dims)
    perm, _ = pre.canonical_axes(geometry.direction, dims)
    # image axis perm[k] runs along the model's canonical axis k
    by_axis = {perm[k]: k for k in range(dims)}
    messages = []
    if intensity is not None and (where is None or where.any()):
        messages += _intensity_messages(arr, config.normalization, intensity, where)
    if extent is not None:
        size = [n * s for n, s in zip(arr.shape[1:], geometry.spacing, strict=True)]
        low = [extent["min"][by_axis[j]] for j in range(dims)]
        high = [extent["max"][by_axis[j]] for j in range(dims)]
        messages += _extent_messages(size, low, high)
    model_spacing = [config.spacing[by_axis[j]] for j in range(dims)]
    return messages + _spacing_messages(geometry.spacing, model_spacing)


def _intensity_messages(
    arr: np.ndarray, normalization: dict, stats: dict, where: np.ndarray | None
) -> list[str]:
    """Check the intensities of the channel farthest from its training histogram."""
    distances = [
        intensity_distance(arr[c], normalization=normalization, stats=stats, index=c, where=where)
        for c in range(arr.shape[0])
    ]
    worst = int(np.argmax(distances))
    if distances[worst] <= MAX_INTENSITY_DISTANCE:
        return []
    what = f" of channel {worst + 1}" if arr.shape[0] > 1 else ""
    if not np.isfinite(distances[worst]):
        return [
            (
                f"intensity: no voxel{what} is brighter than the training images' background, "
                "once normalised (a blank image?)"
            )
        ]
    return [
        (
            f"intensity: the histogram{what} is far from the training images' (distance "
            f"{distances[worst]:.2f} of their intensity range, over "
            f"{MAX_INTENSITY_DISTANCE:.2f}): another modality or contrast, or structures the "
            "model never saw (skull, scalp)?"
        )
    ]


def _extent_messages(size: list[float], low: list[float], high: list[float]) -> list[str]:
    """Check the field of view: extents (mm, image axes) against the training range."""
    small = [j for j, s in enumerate(size) if s < EXTENT_BAND[0] * low[j]]
    large = [j for j, s in enumerate(size) if s > EXTENT_BAND[1] * high[j]]
    out = []
    if small:
        out.append(
            f"field of view: {_mm(size)} is under half the training images' ({_mm(low)}) "
            f"along {_axes(small)}: the model sees less of the surroundings it learned with"
        )
    if large:
        out.append(
            f"field of view: {_mm(size)} is over twice the training images' ({_mm(high)}) "
            f"along {_axes(large)}: it holds anatomy the model never saw"
        )
    return out


def _spacing_messages(spacing: Sequence[float], model: Sequence[float]) -> list[str]:
    """Check the spacing: voxel sizes (mm, image axes) against the model's."""
    out = []
    for j, (s, m) in enumerate(zip(spacing, model, strict=True)):
        ratio = s / m
        if ratio > SPACING_BAND[1]:
            out.append(
                f"spacing: {s:g} mm along axis {j} is {ratio:.1f} times the model's {m:g} mm "
                f"(over {SPACING_BAND[1]:g}): detail the model learned to use is missing"
            )
        elif ratio < SPACING_BAND[0]:
            out.append(
                f"spacing: {s:g} mm along axis {j} is {ratio:.2f} times the model's {m:g} mm "
                f"(under {SPACING_BAND[0]:g}): the image is downsampled a lot before the "
                "model sees it"
            )
    return out


def warn_domain(
    image: np.ndarray, *, geometry: Geometry, config: ModelConfig, mask: np.ndarray | None = None
) -> tuple[str, ...]:
    """Run :func:`check_domain` and warn each message as a :class:`DomainWarning`; return them."""
    messages = tuple(check_domain(image, geometry=geometry, config=config, mask=mask))
    for message in messages:
        warnings.warn(DomainWarning(message), stacklevel=3)
    return messages
