"""Atlas propagation: register atlases onto a target, warp their labels, fuse them.

Registration runs in a worker thread (one atlas at a time, ITK using every core) or, with
``n_jobs > 1``, in worker processes; SimpleITK observers report each iteration into a queue that
the ``iter_*`` generator turns into ``Progress`` events. Closing the generator (the widget's
Cancel) aborts the running registrations from their next iteration.

Every grid is a :class:`~napari_segtools.core.geometry.Geometry` (spacing, origin, direction in
mm, numpy axis order): the target's is passed as ``geometry=``, each atlas carries its own.

Masks: ``target_mask=`` (on the target grid) and each atlas's own ``Atlas(..., mask=...)`` restrict
the registration metric to the voxels inside them (see :mod:`.registration`); labels outside the
target mask become background. Every result is checked for plausibility
(:mod:`.atlas_checks`: structure volumes, labels on the target's background) and each doubt is a
:class:`RegistrationWarning`.
"""

from __future__ import annotations

import inspect
import os
import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ._deprecate import _warn, array_ndim, geometry_of, loose_geometry_keywords
from ._types import Progress, ProgressGenerator, run_to_completion
from ._validate import (
    check_choice,
    check_flag,
    check_geometry,
    check_image,
    check_integer,
    check_labels,
    check_mask,
    check_same_shape,
    check_spacing,
)
from .atlas_checks import background_messages, target_background, volume_messages
from .fusion import Fused, majority_vote, staple, weighted_vote
from .geometry import Geometry
from .io import IMAGE_SUFFIXES, image_suffix, read_image, strip_image_suffix
from .registration import PRESETS, RegistrationSettings, Warped, register_and_warp

F = TypeVar("F", bound=Callable[..., Any])

FUSIONS = ("majority", "staple", "weighted")
#: below these the result gets a warning: fraction of the target inside the warped atlas grid,
#: and global normalised cross-correlation between warped atlas and target
MIN_OVERLAP = 0.5
MIN_SIMILARITY = 0.3
_ROLES = ("image", "labels")


class RegistrationWarning(UserWarning):
    """A registration diverged, left little overlap with the target, or gave implausible labels.

    Warned by the propagation functions once per doubt, with a one-line reason.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn(RegistrationWarning("label 1: 1.84 times its atlas volume"))
    >>> caught[0].category.__name__
    'RegistrationWarning'
    """


# ----------------------------------------------------------------------------- geometry input
# ----------------------------------------------------------------------------- data types
@dataclass(frozen=True, init=False)
class Atlas:
    """An atlas: intensity image, labels on the same grid, and that grid's placement.

    Parameters
    ----------
    image : (Z, Y, X) ndarray
        Atlas intensity image.
    labels : (Z, Y, X) int ndarray
        Labels on the image's grid.
    geometry : Geometry
        Spacing, origin and direction of that grid (mm, numpy axis order). The old form
        ``Atlas(image, labels, spacing, origin, direction)`` still works for one release and
        warns a FutureWarning.
    mask : (Z, Y, X) bool ndarray, optional
        Where the atlas image is meaningful (e.g. its brain): the registration metric samples
        only inside it. Non-zero counts as inside.

    Raises
    ------
    ValueError, TypeError
        If the image is not a finite 3-D intensity image, the labels or mask are not a
        non-negative integer image of the same shape, or the geometry does not fit (the
        message names it).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segtools.core.geometry import Geometry
    >>> atlas = Atlas(np.zeros((2, 3, 4)), np.zeros((2, 3, 4), np.uint8), Geometry((2.0, 1.0, 1.0)))
    >>> atlas.geometry.spacing
    (2.0, 1.0, 1.0)
    """

    image: np.ndarray
    labels: np.ndarray
    geometry: Geometry
    mask: np.ndarray | None = None

    def __init__(
        self,
        image: np.ndarray,
        labels: np.ndarray,
        geometry: Geometry | None = None,
        *legacy: Any,
        mask: np.ndarray | None = None,
        **legacy_keywords: Any,
    ) -> None:
        if legacy or legacy_keywords or not isinstance(geometry, Geometry):
            geometry = self._legacy_geometry(image, geometry, legacy, legacy_keywords)
        image = check_image(image, "image", ndims=(3,))
        labels = check_labels(labels, "labels", ndims=(3,))
        check_same_shape(image, labels, ("image", "labels"))
        geometry = check_geometry(geometry, 3, "geometry", array_name="image")
        if mask is not None:
            mask = _check_region(image, mask, "mask", "image")
        object.__setattr__(self, "image", image)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "geometry", geometry)
        object.__setattr__(self, "mask", mask)

    @staticmethod
    def _legacy_geometry(
        image: Any, spacing: Any, legacy: tuple[Any, ...], keywords: dict[str, Any]
    ) -> Geometry:
        """Build a Geometry from the deprecated ``spacing, origin, direction`` arguments."""
        unknown = set(keywords) - {"spacing", "origin", "direction"}
        if unknown or len(legacy) > 2:
            raise TypeError(
                "Atlas() takes (image, labels, geometry); got unexpected "
                f"{sorted(unknown) or f'{len(legacy) + 3} positional arguments'}"
            )
        values = dict(zip(("origin", "direction"), legacy, strict=False))
        if set(values) & set(keywords):
            raise TypeError(f"Atlas() got {sorted(set(values) & set(keywords))} twice")
        values.update(keywords)
        spacing = values.pop("spacing", spacing)
        if spacing is None:
            raise TypeError("Atlas() needs `geometry`: Atlas(image, labels, Geometry(spacing))")
        _warn(
            "Atlas(image, labels, spacing, origin, direction) is deprecated, use "
            "Atlas(image, labels, Geometry(spacing, origin, direction))",
            stacklevel=4,
        )
        spacing = check_spacing(spacing, np.ndim(image), "atlas spacing", array_name="atlas image")
        return geometry_of(spacing, values.get("origin"), values.get("direction"))


def _check_region(image: np.ndarray, mask: Any, name: str, image_name: str) -> np.ndarray:
    """Return a registration mask as bool on ``image``'s grid; refuse an empty one."""
    mask = check_mask(mask, name, ndims=(3,))
    check_same_shape(image, mask, (image_name, name))
    if not mask.any():
        raise ValueError(f"`{name}` is empty (no voxel inside); registration needs its region")
    return mask


# the signature users see; the deprecated spacing/origin/direction arguments stay hidden
Atlas.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)
        for name, annotation in (
            ("image", "np.ndarray"),
            ("labels", "np.ndarray"),
            ("geometry", "Geometry"),
        )
    ]
    + [
        inspect.Parameter(
            "mask", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="np.ndarray | None"
        )
    ],
    return_annotation="None",
)


@dataclass(frozen=True)
class AtlasResult:
    """Fused atlas labels in the target grid, with per-atlas details.

    Attributes
    ----------
    labels : ndarray
        Consensus label image on the target grid.
    geometry : Geometry
        The target grid (the ``geometry`` given), on which every array here lies.
    probabilities : dict of int -> float32 ndarray
        Per foreground label id, agreement between the fused atlases in [0, 1].
    warped_images, warped_labels : tuple of ndarray
        Every atlas's intensity image and labels resampled into the target grid.
    similarity : tuple of float
        Normalised cross-correlation of each warped atlas with the target.
    overlap : tuple of float
        Fraction of target voxels (inside the target mask) that map inside each atlas's grid.
    selected : tuple of int
        Indices of the atlases that took part in the fusion (all unless ``top_k``).
    displacement_mm : tuple of (ndarray or None)
        Per atlas, the length of the target->atlas displacement in mm (when asked for).
    warnings : tuple of str
        Divergence, low-overlap and plausibility warnings (structure volumes, labels on the
        target's background), one line each.
    """

    labels: np.ndarray
    geometry: Geometry
    probabilities: dict[int, np.ndarray]
    warped_images: tuple[np.ndarray, ...]
    warped_labels: tuple[np.ndarray, ...]
    similarity: tuple[float, ...]
    overlap: tuple[float, ...]
    selected: tuple[int, ...]
    displacement_mm: tuple[np.ndarray | None, ...]
    warnings: tuple[str, ...]


# ----------------------------------------------------------------------------- reading
def read_atlas_folder(folder: str | os.PathLike[str]) -> list[Atlas]:
    """Read every ``<name>_image.<ext>`` + ``<name>_labels.<ext>`` pair in ``folder``.

    Parameters
    ----------
    folder : str or Path
        Folder holding the pairs; any ending of :data:`napari_segtools.core.io.IMAGE_SUFFIXES`
        (.nii.gz, .nii, .nrrd, ...). Files without a partner are skipped.

    Returns
    -------
    list of Atlas
        One per complete pair, sorted by name, each with the geometry read from its image file.

    Raises
    ------
    ValueError
        If the folder holds no complete pair, or a file is not a readable image or not a valid
        atlas (one line naming the file and what is wrong).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from napari_segtools.core.io import write_image
    >>> geometry = Geometry((2.0, 1.0, 1.0), origin=(5.0, 0.0, 0.0))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     for role, dtype in (("image", np.float32), ("labels", np.uint8)):
    ...         _ = write_image(f"{folder}/a_{role}.nii.gz", np.ones((2, 3, 4), dtype), geometry=geometry)
    ...     atlases = read_atlas_folder(folder)
    >>> len(atlases), atlases[0].geometry == geometry
    (1, True)
    """
    folder = Path(folder)
    found = _find_pairs(folder)
    atlases = []
    for name in sorted(found):
        image, geometry = _read_atlas_file(found[name]["image"])
        labels, _ = _read_atlas_file(found[name]["labels"])
        try:
            atlases.append(Atlas(image, labels, geometry))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"atlas {name!r} in {str(folder)!r}: {_one_line(exc)}") from None
    return atlases


def _find_pairs(folder: Path) -> dict[str, dict[str, Path]]:
    """Return ``{name: {"image": path, "labels": path}}`` of the complete pairs (names only).

    Cheap (nothing is read): the dock checks a folder with it before starting a worker.
    """
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        if not image_suffix(path):
            continue
        stem = strip_image_suffix(path)
        for role in _ROLES:
            if stem.endswith(f"_{role}"):
                found.setdefault(stem[: -len(role) - 1], {})[role] = path
    pairs = {name: roles for name, roles in found.items() if set(roles) == set(_ROLES)}
    if not pairs:
        raise ValueError(
            f"atlas folder {str(folder)!r} holds no '<name>_image.nii.gz' + "
            f"'<name>_labels.nii.gz' pair (also {', '.join(IMAGE_SUFFIXES[1:])})"
        )
    return pairs


def _one_line(exc: BaseException) -> str:
    """Return the last non-empty line of an error's text (ITK puts the reason last)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _read_atlas_file(path: Path) -> tuple[np.ndarray, Geometry]:
    """Read one atlas file; any failure is a one-line ``ValueError`` naming the file."""
    try:
        return read_image(path)
    except (OSError, ValueError, RuntimeError, TypeError, EOFError) as exc:
        reason = _one_line(exc)
        if path.name not in reason:
            reason = f"{path.name}: {reason}"
        raise ValueError(f"atlas file {reason}") from None


# ----------------------------------------------------------------------------- step 1: inputs
@dataclass(frozen=True)
class _Plan:
    """Validated inputs of one propagation."""

    target: np.ndarray
    geometry: Geometry
    atlases: tuple[Atlas, ...]
    settings: RegistrationSettings
    fusion: str
    top_k: int | None
    n_jobs: int
    displacement: bool
    target_mask: np.ndarray | None = None


def _as_atlas(item: Any, i: int) -> Atlas:
    """Return atlas ``i`` as a validated :class:`Atlas` (tuples are converted)."""
    if isinstance(item, Atlas):
        return item  # validated when it was made
    if not isinstance(item, (tuple, list)) or not 3 <= len(item) <= 5:
        raise TypeError(
            f"`atlases[{i}]` must be an Atlas or an (image, labels, geometry) tuple; "
            f"got {type(item).__name__}"
        )
    try:
        return Atlas(*item)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"`atlases[{i}]`: {exc}") from None


def _settings(
    settings: RegistrationSettings | str | None, transform: str | None, metric: str | None
) -> RegistrationSettings:
    """Return the preset or settings with ``transform`` and ``metric`` applied."""
    if settings is None:
        settings = PRESETS["cross modality"]
    elif isinstance(settings, str):
        settings = PRESETS[check_choice(settings, "settings", tuple(PRESETS))]
    elif not isinstance(settings, RegistrationSettings):
        raise TypeError(
            f"`settings` must be a RegistrationSettings or a preset name {list(PRESETS)}; "
            f"got {type(settings).__name__}"
        )
    changes: dict[str, Any] = {}
    if transform is not None:
        changes["transform"] = check_choice(
            transform, "transform", ("rigid", "affine", "deformable")
        )
    if metric is not None:
        changes["metric"] = check_choice(
            metric, "metric", ("mattes", "mean_squares", "correlation")
        )
    return replace(settings, **changes) if changes else settings


def _validate_inputs(
    target: Any,
    atlases: Sequence[Any],
    *,
    geometry: Any,
    settings: RegistrationSettings | str | None,
    transform: str | None,
    metric: str | None,
    fusion: str,
    top_k: int | None,
    n_jobs: int | None,
    displacement: bool,
    target_mask: Any = None,
) -> _Plan:
    """Check every input (errors name the argument) and resolve the defaults."""
    target = check_image(target, "target", ndims=(3,))
    if target_mask is not None:
        target_mask = _check_region(target, target_mask, "target_mask", "target")
    geometry = check_geometry(geometry, 3, "geometry", array_name="target")
    if isinstance(atlases, (str, bytes, np.ndarray, Atlas)) or not hasattr(atlases, "__len__"):
        raise TypeError(
            "`atlases` must be a list of Atlas(image, labels, geometry); "
            f"got {type(atlases).__name__}"
        )
    if len(atlases) == 0:
        raise ValueError("`atlases` is empty; give at least one Atlas(image, labels, geometry)")
    items = tuple(_as_atlas(a, i) for i, a in enumerate(atlases))
    resolved = _settings(settings, transform, metric)
    fusion = check_choice(fusion, "fusion", FUSIONS)
    if top_k is not None:
        top_k = check_integer(top_k, "top_k", minimum=1, maximum=len(items))
    if n_jobs is None:
        n_jobs = max(1, min(len(items), (os.cpu_count() or 1) // 2))
    n_jobs = check_integer(n_jobs, "n_jobs", minimum=1, maximum=max(len(items), 1))
    displacement = check_flag(displacement, "displacement")
    return _Plan(
        target, geometry, items, resolved, fusion, top_k, n_jobs, displacement, target_mask
    )


# ----------------------------------------------------------------------------- step 2: register
class _ProgressCounter:
    """Turn per-atlas (stage, level, iteration) reports into one rising step count."""

    def __init__(self, settings: RegistrationSettings, n_atlases: int) -> None:
        self.offsets: dict[str, tuple[int, int]] = {}
        start = 0
        for name, levels, iters in settings.stages():
            self.offsets[name] = (start, iters)
            start += levels * iters
        self.n_atlases = n_atlases
        self.total = start * n_atlases + 1  # + the fusion step
        self.done = [0] * n_atlases

    def update(
        self, index: int, stage: str, level: int, levels: int, it: int, iters: int
    ) -> Progress:
        """Record atlas ``index``'s report and return the overall progress."""
        base, stage_iters = self.offsets[stage]
        step = base + min(level * stage_iters + it, levels * stage_iters)
        self.done[index] = max(self.done[index], step)
        return Progress(
            sum(self.done),
            self.total,
            f"atlas {index + 1}/{self.n_atlases}: {stage} level {level + 1}/{levels}, "
            f"iteration {it}",
        )


def _register_one(
    index: int,
    target: np.ndarray,
    geometry: Geometry,
    atlas: Atlas,
    settings: RegistrationSettings,
    displacement: bool,
    events: Any,
    stop: Any,
    threads: int,
    target_mask: np.ndarray | None,
) -> Warped:
    """Register one atlas (in a thread or a worker process), reporting into ``events``."""
    if threads:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    return register_and_warp(
        target,
        atlas.image,
        atlas.labels,
        geometry=geometry,
        atlas_geometry=atlas.geometry,
        settings=settings,
        report=lambda *args: events.put((index, *args)),
        should_stop=stop.is_set,
        displacement=displacement,
        target_mask=target_mask,
        atlas_mask=atlas.mask,
    )


@contextmanager
def _executor(n_jobs: int) -> Iterator[tuple[Executor, Any, Any, int]]:
    """Yield (executor, event queue, stop flag, ITK threads per job); stop everything on exit."""
    manager = None
    if n_jobs == 1:
        executor: Executor = ThreadPoolExecutor(1, thread_name_prefix="atlas-registration")
        events: Any = queue.SimpleQueue()
        stop: Any = threading.Event()
        threads = 0
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        manager = context.Manager()
        events, stop = manager.Queue(), manager.Event()
        executor = ProcessPoolExecutor(n_jobs, mp_context=context)
        threads = max(1, (os.cpu_count() or 1) // n_jobs)
    finished = False
    try:
        yield executor, events, stop, threads
        finished = True
    finally:
        stop.set()
        if finished:
            executor.shutdown(wait=True)
        else:
            _abandon(executor)
        if manager is not None:
            manager.shutdown()


def _abandon(executor: Executor) -> None:
    """Stop a cancelled or failed run without waiting for it (Cancel returns at once).

    A registration thread stops at its next ITK iteration (the stop flag), or after the step
    it is in (start-up: initialiser, pyramid, resampling), its result discarded. Worker
    processes are terminated: nothing of theirs is needed any more.
    """
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with suppress(Exception):
            process.terminate()


def _register_all(plan: _Plan, counter: _ProgressCounter) -> ProgressGenerator[list[Warped]]:
    """Register every atlas, yielding progress; return the warped atlases in input order."""
    with _executor(plan.n_jobs) as (executor, events, stop, threads):
        futures: list[Future[Warped]] = [
            executor.submit(
                _register_one,
                i,
                plan.target,
                plan.geometry,
                atlas,
                plan.settings,
                plan.displacement,
                events,
                stop,
                threads,
                plan.target_mask,
            )
            for i, atlas in enumerate(plan.atlases)
        ]
        last = Progress(0, counter.total, f"registering {len(plan.atlases)} atlas(es)")
        yield last
        while True:
            finished = all(f.done() for f in futures)
            try:
                report = events.get(timeout=0.05)
            except queue.Empty:
                if finished:
                    break
                yield last  # a heartbeat: Cancel takes effect even while ITK reports nothing
                continue
            last = counter.update(*report)
            yield last
        return [f.result() for f in futures]


# ----------------------------------------------------------------------------- step 3: check
def _check_result(i: int, warped: Warped) -> list[str]:
    """Return the warnings about atlas ``i``: low overlap, low similarity."""
    out = []
    if warped.overlap < MIN_OVERLAP:
        out.append(
            f"atlas {i}: only {warped.overlap:.0%} of the target maps inside the atlas after "
            "registration; it probably diverged"
        )
    if warped.similarity < MIN_SIMILARITY:
        out.append(
            f"atlas {i}: low similarity with the target after registration (correlation "
            f"{warped.similarity:.2f}); check the alignment"
        )
    return out


def _check_plausible(plan: _Plan, results: Sequence[Warped]) -> list[str]:
    """Return the plausibility warnings (structure volumes, labels on the target's background)."""
    background = target_background(plan.target, plan.target_mask)
    out = []
    for i, (atlas, warped) in enumerate(zip(plan.atlases, results, strict=True)):
        out += volume_messages(
            i,
            warped.labels,
            atlas.labels,
            geometry=plan.geometry,
            atlas_geometry=atlas.geometry,
        )
        out += background_messages(
            i, warped.labels, background, masked=plan.target_mask is not None
        )
    return out


def _warn_registrations(plan: _Plan, results: Sequence[Warped]) -> tuple[str, ...]:
    """Warn a :class:`RegistrationWarning` per doubtful registration; return the messages."""
    messages = tuple(m for i, w in enumerate(results) for m in _check_result(i, w))
    messages += tuple(_check_plausible(plan, results))
    for message in messages:
        warnings.warn(message, RegistrationWarning, stacklevel=4)
    return messages


def _cut_to_mask(plan: _Plan, results: Sequence[Warped]) -> list[Warped]:
    """Set every warped label outside the target mask to background."""
    if plan.target_mask is None:
        return list(results)
    outside = ~plan.target_mask
    return [
        replace(w, labels=np.where(outside, 0, w.labels).astype(w.labels.dtype)) for w in results
    ]


# ----------------------------------------------------------------------------- step 4: fuse
def _select(similarity: Sequence[float], top_k: int | None) -> tuple[int, ...]:
    """Return the sorted indices of the ``top_k`` most similar atlases (all when None)."""
    order = np.argsort(similarity)[::-1]
    return tuple(sorted(int(i) for i in order[: top_k or len(similarity)]))


def _fuse(plan: _Plan, results: Sequence[Warped], selected: Sequence[int]) -> Fused:
    """Fuse the selected atlases' warped labels by ``plan.fusion``."""
    maps = [results[i].labels for i in selected]
    if plan.fusion == "majority":
        return majority_vote(maps)
    if plan.fusion == "staple":
        return staple(maps)
    images = [results[i].image for i in selected]
    return weighted_vote(maps, images, plan.target, spacing=plan.geometry.spacing)


# ----------------------------------------------------------------------------- public API
@loose_geometry_keywords(geometry=("target_", array_ndim(0, "target")))
def iter_propagate_atlases(
    target: np.ndarray,
    atlases: Sequence[Atlas | tuple],
    *,
    geometry: Geometry,
    settings: RegistrationSettings | str | None = None,
    transform: str | None = None,
    metric: str | None = None,
    fusion: str = "majority",
    top_k: int | None = None,
    n_jobs: int | None = 1,
    displacement: bool = False,
    target_mask: np.ndarray | None = None,
) -> ProgressGenerator[AtlasResult]:
    """Register every atlas onto ``target``, warp its labels, and fuse them; yield progress.

    Parameters
    ----------
    target : (Z, Y, X) ndarray
        Target intensity image.
    atlases : sequence of Atlas or (image, labels, geometry) tuples
        Atlas intensity images with their labels (same grid) and that grid's Geometry.
    geometry : Geometry
        The target's spacing, origin and direction (mm, numpy axis order); required. Replaces
        ``target_spacing``/``target_origin``/``target_direction`` (deprecated, warn).
    settings : RegistrationSettings or preset name, optional
        Registration settings; default the "cross modality" preset.
    transform, metric : str, optional
        Override the settings' transform ("rigid", "affine", "deformable") and metric
        ("mattes", "mean_squares", "correlation").
    fusion : {"majority", "staple", "weighted"}
        Label fusion (see :mod:`napari_segtools.core.fusion`).
    top_k : int, optional
        Fuse only the ``top_k`` atlases most similar to the target after registration.
    n_jobs : int or None
        Worker processes, 1 to the number of atlases; 1 registers atlases one after another in
        a thread, None uses one process per atlas up to half the CPU cores.
    displacement : bool
        Also return each atlas's displacement magnitude (mm).
    target_mask : (Z, Y, X) bool ndarray, optional
        Where the target is meaningful (e.g. its brain): the registration metric samples only
        inside it, and labels outside it are set to background. Each atlas's own mask is
        ``Atlas(..., mask=...)``.

    Yields
    ------
    Progress
        Per atlas, stage, pyramid level and iteration.

    Returns
    -------
    AtlasResult
        Fused labels on the target grid, probabilities and per-atlas details.

    Raises
    ------
    ValueError, TypeError
        For a bad input or option; the message names it.

    Warns
    -----
    RegistrationWarning
        When a registration leaves little overlap or low similarity with the target, or its
        labels are implausible (see :mod:`.atlas_checks`).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segtools.core.geometry import Geometry
    >>> z, y, x = np.mgrid[:20, :20, :20]
    >>> target = np.exp(-((z - 10) ** 2 + (y - 10) ** 2 + (x - 10) ** 2) / 20.0)
    >>> moved = np.roll(target, 2, axis=2)
    >>> atlas = Atlas(moved, (moved > 0.5).astype(np.uint8), Geometry((1.0, 1.0, 1.0)))
    >>> fast = RegistrationSettings(transform="rigid", metric="mean_squares", sampling=1.0)
    >>> gen = iter_propagate_atlases(target, [atlas], geometry=Geometry((1.0, 1.0, 1.0)), settings=fast)
    >>> next(gen).message
    'registering 1 atlas(es)'
    >>> result = run_to_completion(gen)
    >>> bool((result.labels == (target > 0.5)).mean() > 0.99)
    True
    """
    plan = _validate_inputs(
        target,
        atlases,
        geometry=geometry,
        settings=settings,
        transform=transform,
        metric=metric,
        fusion=fusion,
        top_k=top_k,
        n_jobs=n_jobs,
        displacement=displacement,
        target_mask=target_mask,
    )
    counter = _ProgressCounter(plan.settings, len(plan.atlases))
    results = yield from _register_all(plan, counter)
    messages = _warn_registrations(plan, results)
    results = _cut_to_mask(plan, results)
    similarity = tuple(w.similarity for w in results)
    selected = _select(similarity, plan.top_k)
    total = counter.total
    yield Progress(total - 1, total, f"fusing {len(selected)} atlas(es) by {plan.fusion}")
    labels, probabilities = _fuse(plan, results, selected)
    dtype = np.result_type(*[w.labels.dtype for w in results])
    yield Progress(total, total, "done")
    return AtlasResult(
        labels=labels.astype(dtype),
        geometry=plan.geometry,
        probabilities=probabilities,
        warped_images=tuple(w.image for w in results),
        warped_labels=tuple(w.labels for w in results),
        similarity=similarity,
        overlap=tuple(w.overlap for w in results),
        selected=selected,
        displacement_mm=tuple(w.displacement_mm for w in results),
        warnings=messages,
    )


@loose_geometry_keywords(geometry=("target_", array_ndim(0, "target")))
def multi_atlas_propagate(
    target: np.ndarray,
    atlases: Sequence[Atlas | tuple],
    *,
    geometry: Geometry,
    settings: RegistrationSettings | str | None = None,
    transform: str | None = None,
    metric: str | None = None,
    fusion: str = "majority",
    top_k: int | None = None,
    n_jobs: int | None = 1,
    displacement: bool = False,
    target_mask: np.ndarray | None = None,
) -> AtlasResult:
    """Propagate and fuse several atlases' labels onto ``target``.

    The plain form of :func:`iter_propagate_atlases` (same parameters): runs it to the end.

    Parameters
    ----------
    target : (Z, Y, X) ndarray
        Target intensity image.
    atlases : sequence of Atlas or (image, labels, geometry) tuples
        Atlases with their own grids.
    geometry : Geometry
        The target's grid (mm); required.
    settings, transform, metric, fusion, top_k, n_jobs, displacement, target_mask
        As in :func:`iter_propagate_atlases`.

    Returns
    -------
    AtlasResult
        Fused ``labels`` and per-label ``probabilities`` on the target grid.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segtools.core.geometry import Geometry
    >>> z, y, x = np.mgrid[:20, :20, :20]
    >>> target = np.exp(-((z - 10) ** 2 + (y - 10) ** 2 + (x - 10) ** 2) / 20.0)
    >>> grid = Geometry((1.0, 1.0, 1.0))
    >>> atlases = [
    ...     Atlas(np.roll(target, s, axis=2), (np.roll(target, s, axis=2) > 0.5).astype(int), grid)
    ...     for s in (-1, 2)
    ... ]
    >>> fast = RegistrationSettings(transform="rigid", metric="mean_squares", sampling=1.0)
    >>> result = multi_atlas_propagate(target, atlases, geometry=grid, settings=fast)
    >>> result.selected, sorted(result.probabilities), result.geometry == grid
    ((0, 1), [1], True)
    """
    return run_to_completion(
        iter_propagate_atlases(
            target,
            atlases,
            geometry=geometry,
            settings=settings,
            transform=transform,
            metric=metric,
            fusion=fusion,
            top_k=top_k,
            n_jobs=n_jobs,
            displacement=displacement,
            target_mask=target_mask,
        )
    )


@loose_geometry_keywords(
    geometry=("target_", array_ndim(0, "target")),
    atlas_geometry=("atlas_", array_ndim(1, "atlas_image")),
)
def propagate_atlas(
    target: np.ndarray,
    atlas_image: np.ndarray,
    atlas_labels: np.ndarray,
    *,
    geometry: Geometry,
    atlas_geometry: Geometry,
    settings: RegistrationSettings | str | None = None,
    transform: str | None = None,
    metric: str | None = None,
    target_mask: np.ndarray | None = None,
    atlas_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Register one atlas onto ``target`` and return its labels in the target grid.

    Parameters
    ----------
    target : (Z, Y, X) ndarray
        Target intensity image.
    atlas_image : (Z, Y, X) ndarray
        Atlas intensity image.
    atlas_labels : (Z, Y, X) int ndarray
        Atlas labels on the atlas image's grid; warped by nearest neighbour.
    geometry : Geometry
        The target's spacing, origin and direction (mm); replaces ``target_spacing``,
        ``target_origin``, ``target_direction`` (deprecated, warn).
    atlas_geometry : Geometry
        The atlas grid; replaces ``atlas_spacing``, ``atlas_origin`` (deprecated, warn).
    settings : RegistrationSettings or preset name, optional
        Default the "cross modality" preset.
    transform : {"rigid", "affine", "deformable"}, optional
        Most flexible registration stage; default the settings' (the default "cross modality"
        preset is "affine").
    metric : {"mattes", "mean_squares", "correlation"}, optional
        Override the settings' similarity metric.
    target_mask : (Z, Y, X) bool ndarray, optional
        On the target grid: the metric samples only inside it; labels outside are background.
    atlas_mask : (Z, Y, X) bool ndarray, optional
        On the atlas grid: the metric samples only inside it (``Atlas(..., mask=...)``).

    Returns
    -------
    labels : (Z, Y, X) ndarray
        Atlas labels on the target grid, same dtype as ``atlas_labels``.

    Warns
    -----
    RegistrationWarning
        As :func:`iter_propagate_atlases`.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segtools.core.geometry import Geometry
    >>> z, y, x = np.mgrid[:20, :20, :20]
    >>> target = np.exp(-((z - 10) ** 2 + (y - 10) ** 2 + (x - 10) ** 2) / 20.0)
    >>> moved = np.roll(target, 2, axis=2)
    >>> labels = propagate_atlas(
    ...     target,
    ...     moved,
    ...     (moved > 0.5).astype(np.uint8),
    ...     geometry=Geometry((1.0, 1.0, 1.0)),
    ...     atlas_geometry=Geometry((1.0, 1.0, 1.0)),
    ...     settings=RegistrationSettings(transform="rigid", metric="mean_squares", sampling=1.0),
    ... )
    >>> labels.dtype, bool((labels == (target > 0.5)).mean() > 0.99)
    (dtype('uint8'), True)
    """
    result = multi_atlas_propagate(
        target,
        [Atlas(atlas_image, atlas_labels, atlas_geometry, mask=atlas_mask)],
        geometry=geometry,
        settings=settings,
        transform=transform,
        metric=metric,
        target_mask=target_mask,
    )
    return result.labels
