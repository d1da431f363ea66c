"""Sliding-window inference: Gaussian-blended windows, batching, mirroring TTA, device fallback.

Probabilities are accumulated in CPU memory, so volumes larger than the GPU's memory work; only
one batch of windows lives on the device at a time. On an out-of-memory error the batch size is
halved, and at batch size 1 the model moves to the CPU; each step is announced with a
``RuntimeWarning`` and in the progress message.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from .._types import Progress, ProgressGenerator

BLENDS = ("gaussian", "constant")
PADDING_MODES = ("constant", "reflect", "edge")


def resolve_device(device=None) -> torch.device:
    """The torch device to run on: CUDA if available, else Apple MPS, else the CPU.

    Parameters
    ----------
    device : str or torch.device, optional
        ``None`` or ``"auto"`` picks automatically; ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
        ``"mps"`` ask for that device.

    Raises
    ------
    ValueError
        If the requested device does not exist on this machine.
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"`device` must be 'auto', 'cpu', 'cuda[:N]' or 'mps'; got {device!r}"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` {device!r} was requested but CUDA is not available here")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"`device` {device!r} was requested but Apple MPS is not available here")
    return dev


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def gaussian_importance(patch_size: Sequence[int], sigma_scale: float = 0.125) -> np.ndarray:
    """Separable Gaussian window weights, peak 1 at the patch centre, clamped to >= 1e-3.

    ``sigma = sigma_scale * patch size`` per axis (nnU-Net and MONAI use 1/8). The clamp keeps
    every voxel covered with a positive weight, so blending never divides by zero.
    """
    weights = np.ones((), dtype=np.float64)
    for n in patch_size:
        x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        g = np.exp(-(x**2) / (2.0 * (sigma_scale * n) ** 2))
        weights = np.multiply.outer(weights, g)
    return np.maximum(weights, max(weights.min(), 1e-3)).astype(np.float32)


def window_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start indices of windows of length ``patch`` covering ``size`` with the given overlap.

    The step is ``int(patch * (1 - overlap))`` (at least 1); the last window ends at the edge.
    """
    if size <= patch:
        return [0]
    step = max(int(patch * (1.0 - overlap)), 1)
    count = int(np.ceil((size - patch) / step)) + 1
    return [min(i * step, size - patch) for i in range(count)]


def _is_oom(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom) or "out of memory" in str(exc).lower()


def _autocast(device: torch.device, amp: bool):
    if not amp or device.type == "cpu":
        return contextlib.nullcontext()
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, dtype=torch.float16)


def _forward(model, batch: torch.Tensor, device: torch.device, tta: bool, amp: bool) -> np.ndarray:
    """Softmax probabilities of one batch (mirrored and averaged when ``tta``), on the CPU."""
    batch = batch.to(device)
    dims = batch.ndim - 2
    flips = (
        [axes for r in range(dims + 1) for axes in itertools.combinations(range(2, 2 + dims), r)]
        if tta
        else [()]
    )
    total = None
    with torch.inference_mode(), _autocast(device, amp):
        for axes in flips:
            x = torch.flip(batch, axes) if axes else batch
            probs = torch.softmax(model(x).float(), dim=1)
            probs = torch.flip(probs, axes) if axes else probs
            total = probs if total is None else total + probs
    return (total / len(flips)).cpu().numpy()


def iter_sliding_window(
    model: torch.nn.Module,
    image: np.ndarray,
    *,
    patch_size: Sequence[int],
    overlap: float = 0.5,
    blend: str = "gaussian",
    sigma_scale: float = 0.125,
    padding_mode: str = "constant",
    batch_size: int = 4,
    tta: bool = False,
    device=None,
    amp: bool = True,
) -> ProgressGenerator[np.ndarray]:
    """Softmax probabilities of ``model`` over ``image``, window by window.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (N, C, *patch_size) float tensors to (N, K, *patch_size) logits. It is moved to the
        device and put in eval mode.
    image : (C, [Z,] Y, X) float ndarray
        Channel-first, already normalised image.
    patch_size : sequence of int
        Window size in voxels, one per spatial axis.
    overlap : float
        Fraction of a window shared with its neighbour, 0 <= overlap <= 0.9.
    blend : {"gaussian", "constant"}
        Gaussian importance weighting (sigma = ``sigma_scale`` * patch) or plain averaging.
    padding_mode : {"constant", "reflect", "edge"}
        How an image smaller than a window is padded (symmetrically) before inference.
    batch_size : int
        Windows per forward pass (halved automatically on out-of-memory).
    tta : bool
        Average over all mirrorings of the spatial axes (2**D forward passes per window).
    device : str or torch.device, optional
        See :func:`resolve_device`; ``None`` picks CUDA, then MPS, then the CPU.
    amp : bool
        Half precision (bfloat16 where supported, else float16) autocast on GPUs.

    Yields
    ------
    Progress
        One event per window.

    Returns
    -------
    (K, [Z,] Y, X) float32 ndarray
        Class probabilities (sum to 1 over axis 0), on the image grid.

    Raises
    ------
    ValueError
        Bad overlap, blend, padding mode, batch size or patch size.
    MemoryError
        If even one window does not fit in CPU memory.
    """
    spatial = image.shape[1:]
    patch = tuple(int(p) for p in patch_size)
    if len(patch) != len(spatial) or min(patch) < 1:
        raise ValueError(
            f"`patch_size` must hold {len(spatial)} positive sizes for image shape {image.shape} "
            f"(channel first); got {tuple(patch_size)}"
        )
    if not 0.0 <= overlap <= 0.9:
        raise ValueError(f"`overlap` must lie in [0, 0.9]; got {overlap}")
    if blend not in BLENDS:
        raise ValueError(f"`blend` must be one of {BLENDS}; got {blend!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"`padding_mode` must be one of {PADDING_MODES}; got {padding_mode!r}")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1; got {batch_size}")
    batch_size = int(batch_size)
    device = resolve_device(device)

    # pad each axis up to the window size, half before and half after (as MONAI does)
    gaps = [max(p - n, 0) for n, p in zip(spatial, patch, strict=False)]
    pad = [(0, 0)] + [(g // 2, g - g // 2) for g in gaps]
    padded = np.asarray(image, np.float32)
    if any(gaps):
        padded = np.pad(padded, pad, mode=padding_mode)
    shape = padded.shape[1:]
    starts = [window_starts(n, p, overlap) for n, p in zip(shape, patch, strict=False)]
    windows = [
        tuple(slice(s, s + p) for s, p in zip(corner, patch, strict=False))
        for corner in itertools.product(*starts)
    ]
    if blend == "gaussian":
        weight = gaussian_importance(patch, sigma_scale)
    else:
        weight = np.ones(patch, np.float32)
    source = torch.from_numpy(np.ascontiguousarray(padded))
    model = model.to(device).eval()

    total = len(windows)
    acc = None
    norm = np.zeros(shape, np.float32)
    note = ""
    done = 0
    while done < total:
        chunk = windows[done : done + batch_size]
        batch = torch.stack([source[(slice(None), *w)] for w in chunk])
        try:
            probs = _forward(model, batch, device, tta, amp)
        except (RuntimeError, MemoryError) as exc:
            if not _is_oom(exc):
                raise
            note = _fall_back(device, batch_size)
            if note is None:
                raise MemoryError(
                    "out of memory on the CPU even with one window per batch; "
                    f"use a smaller patch than {patch}"
                ) from exc
            if batch_size > 1:
                batch_size = max(batch_size // 2, 1)
            else:
                device = torch.device("cpu")
                model = model.to(device)
            warnings.warn(note, RuntimeWarning, stacklevel=2)
            continue
        if acc is None:
            acc = np.zeros((probs.shape[1], *shape), np.float32)
        for w, p in zip(chunk, probs, strict=False):
            acc[(slice(None), *w)] += p * weight
            norm[w] += weight
            done += 1
            suffix = f" ({note})" if note else ""
            yield Progress(done, total, f"window {done}/{total} on {device.type}{suffix}")
    acc /= norm
    crop = tuple(
        slice(before, before + n) for (before, _), n in zip(pad[1:], spatial, strict=False)
    )
    return np.ascontiguousarray(acc[(slice(None), *crop)])


def _fall_back(device: torch.device, batch_size: int) -> str | None:
    """Free the device cache and describe the next fallback step, or None when none is left."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
    if batch_size > 1:
        return f"out of memory on {device}: batch size lowered to {max(batch_size // 2, 1)}"
    if device.type != "cpu":
        return f"out of memory on {device} with one window per batch: continuing on the CPU"
    return None
