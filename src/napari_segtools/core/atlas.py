"""Atlas propagation: register atlases onto a target, warp their labels, fuse them.

Registration runs in a worker thread (one atlas at a time, ITK using every core) or, with
``n_jobs > 1``, in worker processes; SimpleITK observers report each iteration into a queue that
the ``iter_*`` generator turns into ``Progress`` events. Closing the generator (the widget's
Cancel) aborts the running registrations from their next iteration.
"""

from __future__ import annotations

import os
import queue
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ._types import Geometry, Progress, ProgressGenerator, run_to_completion
from ._validate import check_image, check_labels, check_same_shape, check_spacing
from .fusion import majority_vote, staple, weighted_vote
from .registration import PRESETS, RegistrationSettings, Warped, register_and_warp

FUSIONS = ("majority", "staple", "weighted")
#: below these the result gets a warning: fraction of the target inside the warped atlas grid,
#: and global normalised cross-correlation between warped atlas and target
MIN_OVERLAP = 0.5
MIN_SIMILARITY = 0.3


class RegistrationWarning(UserWarning):
    """A registration diverged or left little overlap with the target."""


@dataclass(frozen=True)
class Atlas:
    """An atlas: intensity image, labels on the same grid, and that grid's placement (mm)."""

    image: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...] | None = None
    direction: np.ndarray | None = None


@dataclass(frozen=True)
class AtlasResult:
    """Fused atlas labels in the target grid, with per-atlas details.

    Attributes
    ----------
    labels : ndarray
        Consensus label image on the target grid.
    probabilities : dict of int -> float32 ndarray
        Per foreground label id, agreement between the fused atlases in [0, 1].
    warped_images, warped_labels : tuple of ndarray
        Every atlas's intensity image and labels resampled into the target grid.
    similarity : tuple of float
        Normalised cross-correlation of each warped atlas with the target.
    overlap : tuple of float
        Fraction of target voxels that map inside each atlas's grid.
    selected : tuple of int
        Indices of the atlases that took part in the fusion (all unless ``top_k``).
    displacement_mm : tuple of (ndarray or None)
        Per atlas, the length of the target->atlas displacement in mm (when asked for).
    warnings : tuple of str
        Divergence or low-overlap warnings, one line each.
    """

    labels: np.ndarray
    probabilities: dict[int, np.ndarray]
    warped_images: tuple[np.ndarray, ...]
    warped_labels: tuple[np.ndarray, ...]
    similarity: tuple[float, ...]
    overlap: tuple[float, ...]
    selected: tuple[int, ...]
    displacement_mm: tuple[np.ndarray | None, ...]
    warnings: tuple[str, ...]


_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


def read_atlas_folder(folder) -> list[Atlas]:
    """Read every ``<name>_image.<ext>`` + ``<name>_labels.<ext>`` pair in ``folder``.

    Extensions: .nii.gz, .nii, .nrrd, .mha, .mhd. Geometry (spacing, origin, direction) comes
    from the files.

    Raises
    ------
    ValueError
        If the folder holds no complete pair.
    """
    import SimpleITK as sitk

    from ._sitk import sitk_to_array

    folder = Path(folder)
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        for suffix in _SUFFIXES:
            for role in ("image", "labels"):
                if path.name.endswith(f"_{role}{suffix}"):
                    found.setdefault(path.name[: -len(f"_{role}{suffix}")], {})[role] = path
    atlases = []
    for name in sorted(found):
        if set(found[name]) != {"image", "labels"}:
            continue
        image, geometry = sitk_to_array(sitk.ReadImage(str(found[name]["image"])))
        labels, _ = sitk_to_array(sitk.ReadImage(str(found[name]["labels"])))
        atlases.append(Atlas(image, labels, geometry.spacing, geometry.origin, geometry.direction))
    if not atlases:
        raise ValueError(
            f"atlas folder {str(folder)!r} holds no '<name>_image.nii.gz' + "
            "'<name>_labels.nii.gz' pair (also .nii, .nrrd, .mha, .mhd)"
        )
    return atlases


def _as_atlas(item, i: int) -> tuple[np.ndarray, np.ndarray, Geometry]:
    if not isinstance(item, Atlas):
        if not isinstance(item, (tuple, list)) or not 3 <= len(item) <= 5:
            raise TypeError(
                f"`atlases[{i}]` must be an Atlas or an (image, labels, spacing[, origin"
                f"[, direction]]) tuple; got {type(item).__name__}"
            )
        item = Atlas(*item)
    image = check_image(item.image, f"atlases[{i}].image", ndims=(3,))
    labels = check_labels(item.labels, f"atlases[{i}].labels", ndims=(3,))
    check_same_shape(image, labels, (f"atlases[{i}].image", f"atlases[{i}].labels"))
    spacing = check_spacing(item.spacing, 3, f"atlases[{i}].spacing", array_name="atlas image")
    origin = () if item.origin is None else item.origin
    return image, labels, Geometry(spacing, origin, item.direction)


def _settings(settings, transform, metric) -> RegistrationSettings:
    if settings is None:
        settings = PRESETS["cross modality"]
    elif isinstance(settings, str):
        if settings not in PRESETS:
            raise ValueError(f"`settings` preset must be one of {list(PRESETS)}; got {settings!r}")
        settings = PRESETS[settings]
    changes = {k: v for k, v in (("transform", transform), ("metric", metric)) if v is not None}
    return replace(settings, **changes) if changes else settings


def _task(index, target, target_geometry, atlas, settings, displacement, events, stop, threads):
    """Register one atlas (in a thread or a worker process), reporting into ``events``."""
    if threads:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    return register_and_warp(
        target,
        target_geometry,
        *atlas,
        settings,
        report=lambda *args: events.put((index, *args)),
        should_stop=stop.is_set,
        displacement=displacement,
    )


def _check_result(i: int, warped: Warped) -> list[str]:
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


def iter_propagate_atlases(
    target,
    atlases: Sequence,
    *,
    target_spacing,
    target_origin=None,
    target_direction=None,
    settings: RegistrationSettings | str | None = None,
    transform: str | None = None,
    metric: str | None = None,
    fusion: str = "majority",
    top_k: int | None = None,
    n_jobs: int | None = 1,
    displacement: bool = False,
) -> ProgressGenerator[AtlasResult]:
    """Register every atlas onto ``target``, warp its labels, and fuse them; yield progress.

    Parameters
    ----------
    target : (Z, Y, X) ndarray
        Target intensity image.
    atlases : sequence of Atlas or (image, labels, spacing[, origin[, direction]]) tuples
        Atlas intensity images with their labels (same grid), spacing and origin in mm.
    target_spacing : tuple of float
        Target voxel size in mm, numpy axis order (required, no default).
    target_origin : tuple of float, optional
        Physical position of voxel (0, 0, 0), mm; zero when omitted.
    target_direction : (3, 3) ndarray, optional
        Direction cosines (column j = numpy axis j); identity when omitted.
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
        Worker processes; 1 registers atlases one after another in a thread, None uses one
        process per atlas up to half the CPU cores.
    displacement : bool
        Also return each atlas's displacement magnitude (mm).

    Yields
    ------
    Progress
        Per atlas, stage, pyramid level and iteration.

    Returns
    -------
    AtlasResult
    """
    target = check_image(target, "target", ndims=(3,))
    spacing = check_spacing(target_spacing, 3, "target_spacing", array_name="target")
    target_geometry = Geometry(
        spacing, () if target_origin is None else target_origin, target_direction
    )
    if len(atlases) == 0:
        raise ValueError("`atlases` is empty; give at least one (image, labels, spacing) atlas")
    items = [_as_atlas(a, i) for i, a in enumerate(atlases)]
    settings = _settings(settings, transform, metric)
    if fusion not in FUSIONS:
        raise ValueError(f"`fusion` must be one of {FUSIONS}; got {fusion!r}")
    if top_k is not None and not 1 <= top_k <= len(items):
        raise ValueError(
            f"`top_k` must lie in [1, {len(items)}] (the number of atlases); got {top_k}"
        )
    if n_jobs is None:
        n_jobs = max(1, min(len(items), (os.cpu_count() or 1) // 2))
    if n_jobs < 1:
        raise ValueError(f"`n_jobs` must be >= 1 or None; got {n_jobs}")

    stages = settings.stages()
    offsets, start = {}, 0
    for name, levels, iters in stages:
        offsets[name] = (start, iters)
        start += levels * iters
    per_atlas = start
    total = per_atlas * len(items) + 1
    done = [0] * len(items)

    if n_jobs == 1:
        executor = ThreadPoolExecutor(1, thread_name_prefix="atlas-registration")
        events, stop = queue.SimpleQueue(), threading.Event()
        manager, threads = None, 0
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        manager = context.Manager()
        events, stop = manager.Queue(), manager.Event()
        executor = ProcessPoolExecutor(n_jobs, mp_context=context)
        threads = max(1, (os.cpu_count() or 1) // n_jobs)
    try:
        futures: list[Future] = [
            executor.submit(
                _task,
                i,
                target,
                target_geometry,
                item,
                settings,
                displacement,
                events,
                stop,
                threads,
            )
            for i, item in enumerate(items)
        ]
        yield Progress(0, total, f"registering {len(items)} atlas(es)")
        while True:
            finished = all(f.done() for f in futures)
            try:
                index, stage, level, levels, it, iters = events.get(timeout=0.05)
            except queue.Empty:
                if finished:
                    break
                continue
            base, stage_iters = offsets[stage]
            done[index] = max(
                done[index], base + min(level * stage_iters + it, levels * stage_iters)
            )
            yield Progress(
                sum(done),
                total,
                f"atlas {index + 1}/{len(items)}: {stage} level {level + 1}/{levels}, "
                f"iteration {it}",
            )
        results: list[Warped] = [f.result() for f in futures]
    finally:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        if manager is not None:
            manager.shutdown()

    messages = [m for i, w in enumerate(results) for m in _check_result(i, w)]
    for message in messages:
        warnings.warn(message, RegistrationWarning, stacklevel=2)
    similarity = tuple(w.similarity for w in results)
    order = np.argsort(similarity)[::-1]
    selected = tuple(sorted(int(i) for i in order[: top_k or len(results)]))
    yield Progress(total - 1, total, f"fusing {len(selected)} atlas(es) by {fusion}")
    maps = [results[i].labels for i in selected]
    if fusion == "majority":
        labels, probabilities = majority_vote(maps)
    elif fusion == "staple":
        labels, probabilities = staple(maps)
    else:
        images = [results[i].image for i in selected]
        labels, probabilities = weighted_vote(maps, images, target, spacing=spacing)
    dtype = np.result_type(*[w.labels.dtype for w in results])
    yield Progress(total, total, "done")
    return AtlasResult(
        labels=labels.astype(dtype),
        probabilities=probabilities,
        warped_images=tuple(w.image for w in results),
        warped_labels=tuple(w.labels for w in results),
        similarity=similarity,
        overlap=tuple(w.overlap for w in results),
        selected=selected,
        displacement_mm=tuple(w.displacement_mm for w in results),
        warnings=tuple(messages),
    )


def multi_atlas_propagate(target, atlases: Sequence, **kwargs) -> AtlasResult:
    """Propagate and fuse several atlases' labels onto ``target``.

    Same parameters as :func:`iter_propagate_atlases` (keyword-only after ``atlases``), e.g.
    ``multi_atlas_propagate(t1, [(img1, lab1, (2, 2, 2)), ...], target_spacing=(2, 2, 2),
    fusion="weighted", top_k=3)``. Returns an :class:`AtlasResult` with the fused ``labels``
    and the per-label ``probabilities``.
    """
    return run_to_completion(iter_propagate_atlases(target, atlases, **kwargs))


def propagate_atlas(
    target,
    atlas_image,
    atlas_labels,
    *,
    target_spacing,
    atlas_spacing,
    target_origin=None,
    atlas_origin=None,
    transform: str | None = None,
    **kwargs,
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
    target_spacing, atlas_spacing : tuple of float
        Voxel sizes in mm, numpy axis order.
    target_origin, atlas_origin : tuple of float, optional
        Physical position of voxel (0, 0, 0) in mm.
    transform : {"rigid", "affine", "deformable"}, optional
        Most flexible registration stage; default the settings' (the default "cross modality"
        preset is "affine").
    **kwargs
        ``metric``, ``settings``, ``target_direction`` as in :func:`iter_propagate_atlases`.

    Returns
    -------
    labels : (Z, Y, X) ndarray
        Atlas labels on the target grid, same dtype as ``atlas_labels``.
    """
    atlas = Atlas(atlas_image, atlas_labels, atlas_spacing, atlas_origin)
    result = multi_atlas_propagate(
        target,
        [atlas],
        target_spacing=target_spacing,
        target_origin=target_origin,
        transform=transform,
        **kwargs,
    )
    return result.labels
