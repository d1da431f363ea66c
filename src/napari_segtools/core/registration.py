"""Register an atlas intensity image onto a target with SimpleITK: rigid, affine, deformable.

The blocking :func:`register_and_warp` reports progress through a callback and stops when
``should_stop()`` turns true (SimpleITK's ``Abort`` from an iteration observer), so it can run in
a thread or in a worker process while the caller turns reports into ``Progress`` events.

Masks (a target mask, an atlas mask) restrict what the registration compares: the similarity
metric samples only points inside them (SimpleITK's ``SetMetricFixedMask`` /
``SetMetricMovingMask``), the moments initialisation centres the masked images, and the
deformable stage matches the images with everything outside the masks set to 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from . import _validate
from ._sitk import array_to_sitk
from .geometry import Geometry

Transform = Literal["rigid", "affine", "deformable"]
Metric = Literal["mattes", "mean_squares", "correlation"]


#: upper limits of the settings: pyramid levels, shrink factor, iterations per level, mm
MAX_LEVELS = 8
MAX_SHRINK = 64
MAX_ITERATIONS = 100_000
MAX_MM = 1000.0


def _numbers(value: Any, name: str) -> tuple[Any, ...]:
    """Return a sequence of per-level numbers as a tuple (text and scalars are refused)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"`{name}` must be a sequence of numbers, one per level; got {value!r}")
    values = tuple(value)
    if any(np.ndim(x) for x in values):
        raise TypeError(f"`{name}` must be a flat sequence of numbers; got {value!r}")
    return values


@dataclass(frozen=True, kw_only=True)
class RegistrationSettings:
    """How to register an atlas onto a target (every field keyword-only).

    Attributes
    ----------
    transform : {"rigid", "affine", "deformable"}
        Last stage: "affine" runs rigid then affine; "deformable" adds a diffeomorphic demons
        stage on bias-normalised, histogram-matched intensities (same-contrast images).
    metric : {"mattes", "mean_squares", "correlation"}
        Similarity: Mattes mutual information (different contrasts), mean squares or normalised
        correlation (same contrast).
    initialization : {"moments", "geometry"}
        Centre the atlas on the target by intensity centre of mass or by image centre.
    shrink_factors : tuple of int
        Linear stages' pyramid: downsampling factor per level, coarse to fine (lowered where
        it would leave an axis of the target under 4 voxels).
    smoothing_mm : tuple of float
        Gaussian sigma per pyramid level, mm.
    sampling : float
        Fraction of target voxels sampled by the metric (0, 1]; with a target mask, of the
        voxels inside it.
    iterations : int
        Iteration limit per level of the rigid and affine stages.
    deformable_shrink_factors, deformable_smoothing_mm : tuple
        Pyramid of the deformable stage: factor and Gaussian sigma (mm) per level.
    deformable_iterations : int
        Iteration limit per level of the deformable stage.
    demons_smoothing_mm : float
        Gaussian regularisation of the demons displacement field, mm.
    bias_smoothing_mm : float
        Demons only: each image is divided by its local mean (Gaussian sigma in mm, inside the
        foreground) and then histogram-matched, which removes smooth bias fields.
    histogram_bins : int
        Bins of the Mattes metric.
    seed : int
        Random seed of the metric sampling, for repeatable results.

    Raises
    ------
    ValueError, TypeError
        If a field has the wrong type or is out of range (the message names it). Limits: up to
        8 pyramid levels, shrink factors 1-64, 1-100000 iterations per level, mm values finite
        and at most 1000, 2-1024 histogram bins, a seed in 0..2**32-1.

    Examples
    --------
    >>> s = RegistrationSettings(transform="rigid", iterations=20)
    >>> s.stages(), s.total_iterations()
    ((('rigid', 2, 20),), 40)
    """

    transform: Transform = "affine"
    metric: Metric = "mattes"
    initialization: Literal["moments", "geometry"] = "moments"
    shrink_factors: tuple[int, ...] = (4, 2)
    smoothing_mm: tuple[float, ...] = (4.0, 2.0)
    sampling: float = 0.2
    iterations: int = 100
    deformable_shrink_factors: tuple[int, ...] = (2, 1)
    deformable_smoothing_mm: tuple[float, ...] = (1.0, 0.0)
    deformable_iterations: int = 50
    demons_smoothing_mm: float = 3.0
    bias_smoothing_mm: float = 20.0
    histogram_bins: int = 32
    seed: int = 42

    def __post_init__(self) -> None:
        v = _validate
        for name, choices in (
            ("transform", ("rigid", "affine", "deformable")),
            ("metric", ("mattes", "mean_squares", "correlation")),
            ("initialization", ("moments", "geometry")),
        ):
            v.check_choice(getattr(self, name), name, choices)
        self._set(
            "sampling", v.check_number(self.sampling, "sampling", low=0.0, high=1.0, open_low=True)
        )
        for name in ("shrink_factors", "deformable_shrink_factors"):
            smooth_name = name.replace("shrink_factors", "smoothing_mm")
            factors = _numbers(getattr(self, name), name)
            smooth = _numbers(getattr(self, smooth_name), smooth_name)
            if len(factors) == 0 or len(factors) > MAX_LEVELS or len(factors) != len(smooth):
                raise ValueError(
                    f"`{name}` must hold 1 to {MAX_LEVELS} levels with one `{smooth_name}` sigma "
                    f"per level; got {getattr(self, name)} and {getattr(self, smooth_name)}"
                )
            self._set(
                name,
                tuple(
                    v.check_integer(f, f"{name}[{i}]", minimum=1, maximum=MAX_SHRINK)
                    for i, f in enumerate(factors)
                ),
            )
            self._set(
                smooth_name,
                tuple(
                    v.check_number(s, f"{smooth_name}[{i}]", low=0.0, high=MAX_MM)
                    for i, s in enumerate(smooth)
                ),
            )
        for name in ("iterations", "deformable_iterations"):
            self._set(
                name, v.check_integer(getattr(self, name), name, minimum=1, maximum=MAX_ITERATIONS)
            )
        for name in ("demons_smoothing_mm", "bias_smoothing_mm"):
            self._set(
                name,
                v.check_number(getattr(self, name), name, low=0.0, high=MAX_MM, open_low=True),
            )
        self._set(
            "histogram_bins",
            v.check_integer(self.histogram_bins, "histogram_bins", minimum=2, maximum=1024),
        )
        self._set("seed", v.check_integer(self.seed, "seed", minimum=0, maximum=2**32 - 1))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def stages(self) -> tuple[tuple[str, int, int], ...]:
        """Return (stage name, pyramid levels, iterations per level) of every stage, in order."""
        linear = len(self.shrink_factors)
        out = [("rigid", linear, self.iterations)]
        if self.transform != "rigid":
            out.append(("affine", linear, self.iterations))
        if self.transform == "deformable":
            levels = len(self.deformable_shrink_factors)
            out.append(("demons", levels, self.deformable_iterations))
        return tuple(out)

    def total_iterations(self) -> int:
        """Return the most optimizer iterations over all stages and levels (for progress bars)."""
        return sum(levels * iters for _, levels, iters in self.stages())


#: The widget's presets: name -> settings.
PRESETS: dict[str, RegistrationSettings] = {
    "same modality, fast": RegistrationSettings(transform="affine", metric="mean_squares"),
    "cross modality": RegistrationSettings(transform="affine", metric="mattes"),
    "deformable": RegistrationSettings(transform="deformable", metric="mattes"),
}


class RegistrationCancelled(Exception):
    """Raised inside :func:`register_and_warp` when ``should_stop()`` asked it to stop."""


#: ``report(stage, level, levels, iteration, iterations)``: progress of a running registration.
Reporter = Callable[[str, int, int, int, int], None]


@dataclass(frozen=True)
class Warped:
    """One atlas brought into the target grid.

    Attributes
    ----------
    labels : ndarray
        Atlas labels resampled by nearest neighbour onto the target grid (atlas dtype).
    image : float32 ndarray
        Atlas intensities resampled linearly onto the target grid.
    geometry : Geometry
        The target grid's placement, on which ``labels`` and ``image`` lie.
    similarity : float
        Normalised cross-correlation with the target inside the overlap.
    overlap : float
        Fraction of target voxels (inside the target mask, when one is given) that map inside
        the atlas grid.
    displacement_mm : ndarray or None
        ``|T(x) - x|`` in mm on the target grid, when asked for.
    """

    labels: np.ndarray
    image: np.ndarray
    geometry: Geometry
    similarity: float
    overlap: float
    displacement_mm: np.ndarray | None


def _fit_shrink(factors, image) -> list[int]:
    """Lower each shrink factor so that every axis of ``image`` keeps at least 4 voxels."""
    most = max(1, min(image.GetSize()) // 4)
    return [min(int(f), most) for f in factors]


def _method(sitk, settings: RegistrationSettings, shrink, smoothing, masks=(None, None)):
    method = sitk.ImageRegistrationMethod()
    fixed_mask, moving_mask = masks
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    if moving_mask is not None:
        method.SetMetricMovingMask(moving_mask)
    if settings.metric == "mattes":
        method.SetMetricAsMattesMutualInformation(settings.histogram_bins)
    elif settings.metric == "mean_squares":
        method.SetMetricAsMeanSquares()
    else:
        method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(settings.sampling, settings.seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetShrinkFactorsPerLevel(list(shrink))
    method.SetSmoothingSigmasPerLevel(list(smoothing))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return method


def _run_stage(sitk, method, fixed, moving, name, levels, iterations, report, should_stop):
    state = {"level": 0}

    def on_iteration():
        if should_stop():
            method.Abort()
            return
        it = method.GetOptimizerIteration()
        report(name, state["level"], levels, min(it + 1, iterations), iterations)

    def on_level():
        state["level"] = method.GetCurrentLevel()

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)
    try:
        method.Execute(fixed, moving)
    except RuntimeError as exc:
        if should_stop():
            raise RegistrationCancelled() from None
        raise RuntimeError(f"{name} registration failed: {str(exc).splitlines()[-1]}") from None
    if should_stop():
        raise RegistrationCancelled()
    report(name, levels - 1, levels, iterations, iterations)


def _masked(sitk, image, mask):
    """``image`` with everything outside ``mask`` set to 0 (``image`` itself without a mask)."""
    return image if mask is None else sitk.Mask(image, mask)


def _linear_stages(sitk, fixed, moving, settings, report, should_stop, masks=(None, None)):
    init_kind = sitk.CenteredTransformInitializerFilter
    init = init_kind.MOMENTS if settings.initialization == "moments" else init_kind.GEOMETRY
    rigid = sitk.CenteredTransformInitializer(
        _masked(sitk, fixed, masks[0]),
        _masked(sitk, moving, masks[1]),
        sitk.VersorRigid3DTransform(),
        init,
    )
    levels = len(settings.shrink_factors)
    stages = [("rigid", rigid, 2.0)]
    if settings.transform != "rigid":
        affine = sitk.AffineTransform(3)
        stages.append(("affine", affine, 1.0))
    for name, transform, step in stages:
        if name == "affine":
            affine.SetCenter(rigid.GetCenter())
            affine.SetMatrix(rigid.GetMatrix())
            affine.SetTranslation(rigid.GetTranslation())
        shrink = _fit_shrink(settings.shrink_factors, fixed)
        method = _method(sitk, settings, shrink, settings.smoothing_mm, masks)
        method.SetInitialTransform(transform, inPlace=True)
        method.SetOptimizerAsRegularStepGradientDescent(
            step, 1e-4, settings.iterations, relaxationFactor=0.6
        )
        method.SetOptimizerScalesFromPhysicalShift()
        _run_stage(
            sitk, method, fixed, moving, name, levels, settings.iterations, report, should_stop
        )
    return transform


def _normalise_bias(sitk, image, sigma_mm):
    """Divide by the local foreground mean (Gaussian ``sigma_mm``): removes smooth bias fields."""
    arr = sitk.GetArrayFromImage(image)
    mask = (arr > 0.1 * float(np.percentile(arr, 99))).astype(np.float32)
    smooth = []
    for values in (arr * mask, mask):
        img = sitk.GetImageFromArray(values)
        img.CopyInformation(image)
        smooth.append(sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(img, sigma_mm)))
    mean = np.maximum(smooth[0] / np.maximum(smooth[1], 1e-3), 1e-3)
    out = sitk.GetImageFromArray((arr / mean * mask).astype(np.float32))
    out.CopyInformation(image)
    return out


def _demons_stage(sitk, fixed, moving, linear, settings, report, should_stop, masks=(None, None)):
    """Diffeomorphic demons between ``fixed`` and the linearly aligned, normalised atlas.

    With masks, both images are 0 outside their (aligned) mask before normalisation.
    """
    fixed_mask, moving_mask = masks
    aligned = sitk.Resample(moving, fixed, linear, sitk.sitkLinear, 0.0)
    if moving_mask is not None:
        moving_mask = sitk.Resample(moving_mask, fixed, linear, sitk.sitkNearestNeighbor, 0)
    fixed = _masked(sitk, fixed, fixed_mask)
    aligned = _masked(sitk, aligned, moving_mask)
    fixed_n = _normalise_bias(sitk, fixed, settings.bias_smoothing_mm)
    aligned = sitk.HistogramMatching(
        _normalise_bias(sitk, aligned, settings.bias_smoothing_mm), fixed_n, 128, 7, True
    )
    levels = len(settings.deformable_shrink_factors)
    iterations = settings.deformable_iterations
    field: Any = None
    for level, (shrink, sigma) in enumerate(
        zip(settings.deformable_shrink_factors, settings.deformable_smoothing_mm, strict=True)
    ):
        pair = [
            sitk.SmoothingRecursiveGaussian(im, sigma) if sigma > 0 else im
            for im in (fixed_n, aligned)
        ]
        shrink = _fit_shrink([shrink], fixed)[0]
        f, m = (sitk.Shrink(im, [shrink] * 3) for im in pair)
        demons = sitk.DiffeomorphicDemonsRegistrationFilter()
        demons.SetNumberOfIterations(iterations)
        demons.SetSmoothDisplacementField(True)
        demons.SetStandardDeviations([settings.demons_smoothing_mm / sp for sp in f.GetSpacing()])

        def on_iteration(demons=demons, level=level):
            if should_stop():
                demons.Abort()
                return
            it = min(demons.GetElapsedIterations(), iterations)
            report("demons", level, levels, it, iterations)

        demons.AddCommand(sitk.sitkIterationEvent, on_iteration)
        try:
            if field is None:
                field = demons.Execute(f, m)
            else:
                start = sitk.Resample(
                    field, f, sitk.Transform(), sitk.sitkLinear, 0.0, field.GetPixelID()
                )
                field = demons.Execute(f, m, start)
        except RuntimeError:
            if should_stop():
                raise RegistrationCancelled() from None
            raise
        if should_stop():
            raise RegistrationCancelled()
    report("demons", levels - 1, levels, iterations, iterations)
    field = sitk.Resample(field, fixed, sitk.Transform(), sitk.sitkLinear, 0.0, field.GetPixelID())
    return sitk.DisplacementFieldTransform(field)


def _no_report(stage: str, level: int, levels: int, iteration: int, iterations: int) -> None:
    """Ignore progress (the default reporter)."""


def _never() -> bool:
    """Never stop (the default ``should_stop``)."""
    return False


def register(
    fixed: Any,
    moving: Any,
    *,
    settings: RegistrationSettings | None = None,
    report: Reporter | None = None,
    should_stop: Callable[[], bool] | None = None,
    fixed_mask: Any = None,
    moving_mask: Any = None,
) -> Any:
    """Register SimpleITK image ``moving`` onto ``fixed``; return the fixed->moving transform.

    Parameters
    ----------
    fixed, moving : SimpleITK.Image
        3-D float images with their physical placement.
    settings : RegistrationSettings, optional
        Stages, metric and pyramid; default ``RegistrationSettings()`` (rigid, then affine).
    report : callable, optional
        Receives ``(stage, level, levels, iteration, iterations)`` during the optimisation.
    should_stop : callable, optional
        Polled every iteration; returning true aborts with :class:`RegistrationCancelled`.
    fixed_mask, moving_mask : SimpleITK.Image, optional
        UInt8 masks on the fixed and moving grids: the metric samples only inside them (see
        the module notes).

    Returns
    -------
    transform : SimpleITK.Transform
        Maps fixed (target) physical points to moving (atlas) physical points.

    Raises
    ------
    RegistrationCancelled
        If ``should_stop()`` turned true.
    RuntimeError
        If SimpleITK's optimisation fails (the message names the stage).

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> fixed = sitk.GaussianSource(sitk.sitkFloat32, [24] * 3, [4.0] * 3, [12.0] * 3)
    >>> moving = sitk.GaussianSource(sitk.sitkFloat32, [24] * 3, [4.0] * 3, [13.0, 12.0, 12.0])
    >>> settings = RegistrationSettings(transform="rigid", metric="mean_squares", sampling=1.0)
    >>> transform = register(fixed, moving, settings=settings)
    >>> round(transform.TransformPoint((12.0, 12.0, 12.0))[0])
    13
    """
    import SimpleITK as sitk

    settings = RegistrationSettings() if settings is None else settings
    report = _no_report if report is None else report
    should_stop = _never if should_stop is None else should_stop
    if fixed_mask is not None:  # `sampling` is of the voxels inside the mask
        inside = float(np.mean(sitk.GetArrayViewFromImage(fixed_mask) > 0))
        settings = replace(settings, sampling=min(1.0, settings.sampling / max(inside, 1e-9)))
    masks = (fixed_mask, moving_mask)
    linear = _linear_stages(sitk, fixed, moving, settings, report, should_stop, masks)
    if settings.transform != "deformable":
        return linear
    local = _demons_stage(sitk, fixed, moving, linear, settings, report, should_stop, masks)
    # CompositeTransform applies its last transform first: x -> local(x) -> linear.
    return sitk.CompositeTransform([linear, local])


def _ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    a, b = a[mask].astype(float), b[mask].astype(float)
    if a.size < 2:
        return 0.0
    a -= a.mean()
    b -= b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def _displacement_magnitude(sitk: Any, transform: Any, fixed: Any) -> np.ndarray:
    """Return ``|T(x) - x|`` in mm at every voxel of ``fixed``."""
    field = sitk.TransformToDisplacementField(
        transform,
        sitk.sitkVectorFloat64,
        fixed.GetSize(),
        fixed.GetOrigin(),
        fixed.GetSpacing(),
        fixed.GetDirection(),
    )
    return np.linalg.norm(sitk.GetArrayFromImage(field), axis=-1).astype(np.float32)


def _warp(
    sitk: Any,
    transform: Any,
    fixed: Any,
    moving: Any,
    labels_img: Any,
    *,
    target: np.ndarray,
    geometry: Geometry,
    labels_dtype: np.dtype,
    displacement: bool,
    target_mask: np.ndarray | None = None,
    atlas_mask: Any = None,
) -> Warped:
    """Resample the atlas image (linear) and labels (nearest) into the target grid.

    The similarity is measured inside the overlap, and inside the target mask and the warped
    atlas mask (a SimpleITK image) when given; the overlap is the fraction of the target (of
    its mask) that maps inside the atlas grid.
    """
    labels = sitk.GetArrayFromImage(
        sitk.Resample(labels_img, fixed, transform, sitk.sitkNearestNeighbor, 0)
    )
    image = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0))
    inside_img = sitk.Image(moving.GetSize(), sitk.sitkUInt8) + 1
    inside_img.CopyInformation(moving)
    inside = sitk.GetArrayFromImage(
        sitk.Resample(inside_img, fixed, transform, sitk.sitkNearestNeighbor, 0)
    ).astype(bool)
    compared = inside if target_mask is None else inside & target_mask
    if atlas_mask is not None:
        compared = compared & sitk.GetArrayFromImage(
            sitk.Resample(atlas_mask, fixed, transform, sitk.sitkNearestNeighbor, 0)
        ).astype(bool)
    return Warped(
        labels=labels.astype(labels_dtype, copy=False),
        image=image,
        geometry=geometry,
        similarity=_ncc(image, target, compared),
        overlap=float(inside.mean() if target_mask is None else inside[target_mask].mean()),
        displacement_mm=_displacement_magnitude(sitk, transform, fixed) if displacement else None,
    )


def register_and_warp(
    target: np.ndarray,
    atlas_image: np.ndarray,
    atlas_labels: np.ndarray,
    *,
    geometry: Geometry,
    atlas_geometry: Geometry,
    settings: RegistrationSettings | None = None,
    report: Reporter | None = None,
    should_stop: Callable[[], bool] | None = None,
    displacement: bool = False,
    target_mask: np.ndarray | None = None,
    atlas_mask: np.ndarray | None = None,
) -> Warped:
    """Register the atlas onto the target and resample its image and labels into the target grid.

    Labels use nearest-neighbour interpolation (never interpolated); the image uses linear
    interpolation. The caller validates the arrays (see
    :func:`napari_segtools.core.atlas.iter_propagate_atlases`).

    Parameters
    ----------
    target : (Z, Y, X) ndarray
        Target intensity image.
    atlas_image : (Z, Y, X) ndarray
        Atlas intensity image.
    atlas_labels : (Z, Y, X) int ndarray
        Atlas labels on the atlas image's grid.
    geometry : Geometry
        The target's spacing, origin and direction (mm, numpy axis order).
    atlas_geometry : Geometry
        The atlas grid's spacing, origin and direction.
    settings : RegistrationSettings, optional
        Default ``RegistrationSettings()`` (rigid, then affine, Mattes MI).
    report : callable, optional
        Receives ``(stage, level, levels, iteration, iterations)``.
    should_stop : callable, optional
        Returning true aborts the registration with :class:`RegistrationCancelled`.
    displacement : bool
        Also return the displacement magnitude (mm) on the target grid.
    target_mask, atlas_mask : (Z, Y, X) bool ndarray, optional
        Where the metric samples, on the target's and the atlas's grid; the similarity is
        measured inside both. The labels are warped whole (the caller cuts them).

    Returns
    -------
    Warped
        Warped labels and image on the target grid (``geometry``), similarity and overlap.

    Raises
    ------
    RegistrationCancelled
        If ``should_stop()`` turned true.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segtools.core.geometry import Geometry
    >>> z, y, x = np.mgrid[:20, :20, :20]
    >>> blob = np.exp(-((z - 10) ** 2 + (y - 10) ** 2 + (x - 10) ** 2) / 20.0)
    >>> shifted = np.roll(blob, 2, axis=2)
    >>> labels = (shifted > 0.5).astype(np.uint8)
    >>> warped = register_and_warp(
    ...     blob,
    ...     shifted,
    ...     labels,
    ...     geometry=Geometry((1.0, 1.0, 1.0)),
    ...     atlas_geometry=Geometry((1.0, 1.0, 1.0)),
    ...     settings=RegistrationSettings(transform="rigid", metric="mean_squares", sampling=1.0),
    ... )
    >>> bool((warped.labels == (blob > 0.5)).mean() > 0.99), warped.similarity > 0.99
    (True, True)
    """
    import SimpleITK as sitk

    settings = RegistrationSettings() if settings is None else settings
    fixed = array_to_sitk(target.astype(np.float32, copy=False), geometry)
    moving = array_to_sitk(atlas_image.astype(np.float32, copy=False), atlas_geometry)
    fixed_mask, moving_mask = (
        None if mask is None else array_to_sitk(mask.astype(np.uint8), grid)
        for mask, grid in ((target_mask, geometry), (atlas_mask, atlas_geometry))
    )
    transform = register(
        fixed,
        moving,
        settings=settings,
        report=report,
        should_stop=should_stop,
        fixed_mask=fixed_mask,
        moving_mask=moving_mask,
    )
    return _warp(
        sitk,
        transform,
        fixed,
        moving,
        array_to_sitk(atlas_labels, atlas_geometry),
        target=target,
        geometry=geometry,
        labels_dtype=atlas_labels.dtype,
        displacement=displacement,
        target_mask=target_mask,
        atlas_mask=moving_mask,
    )
