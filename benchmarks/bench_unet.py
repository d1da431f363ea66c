"""Sliding-window inference: napari-segtools vs MONAI's ``sliding_window_inference``.

Same model (the shipped brain-tissue U-Net), same volume, patch, overlap, batch of windows,
Gaussian weighting (sigma = patch / 8) and constant padding. Checks the probabilities agree to
1e-4 and prints voxels/s and the throughput ratio, by wall-clock and by CPU time (which other
jobs on a shared machine disturb less), and peak GPU memory on CUDA.

    python benchmarks/bench_unet.py --size 128 --device cpu
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from monai.inferers import sliding_window_inference

from napari_segtools.core._types import run_to_completion
from napari_segtools.core.unet.inference import iter_sliding_window, resolve_device
from napari_segtools.core.unet.package import load_model


def _timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return out, (time.perf_counter() - start, time.process_time() - cpu), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="cube edge in voxels (default 128)")
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=4, help="windows per forward pass")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs each (best counts)")
    args = parser.parse_args()

    device = resolve_device(args.device)
    predictor = load_model("mni152-brain-tissue")
    model = predictor.module.to(device).eval()
    patch = predictor.config.patch_size
    rng = np.random.default_rng(0)
    volume = rng.random((1, *(args.size,) * 3), dtype=np.float32)
    tensor = torch.from_numpy(volume)[None].to(device)

    def ours():
        return run_to_completion(
            iter_sliding_window(
                model,
                volume,
                patch_size=patch,
                overlap=args.overlap,
                blend="gaussian",
                batch_size=args.batch,
                device=device,
                amp=False,
            )
        )

    def monai():
        with torch.inference_mode():
            out = sliding_window_inference(
                tensor,
                roi_size=patch,
                sw_batch_size=args.batch,
                predictor=lambda x: torch.softmax(model(x), 1),
                overlap=args.overlap,
                mode="gaussian",
                sigma_scale=0.125,
                padding_mode="constant",
                sw_device=device,
                device=torch.device("cpu"),
            )
        return out[0].numpy()

    warm = volume[:, : patch[0], : patch[1], : patch[2]]  # oneDNN builds kernels per shape
    run_to_completion(iter_sliding_window(model, warm, patch_size=patch, device=device))
    times = {"ours": [], "monai": []}
    for repeat in range(args.repeats):  # alternate the order: a busy machine drifts
        order = ("ours", "monai") if repeat % 2 == 0 else ("monai", "ours")
        for name in order:
            if name == "ours":
                mine, t_ours, peak_ours = _timed(ours, device)
                times["ours"].append(t_ours)
            else:
                theirs, t_monai, peak_monai = _timed(monai, device)
                times["monai"].append(t_monai)
    diff = float(np.abs(mine - theirs).max())
    voxels = args.size**3
    t_ours, t_monai = (min(w for w, _ in times[k]) for k in ("ours", "monai"))
    c_ours, c_monai = (min(c for _, c in times[k]) for k in ("ours", "monai"))
    print(
        f"volume {args.size}^3, patch {patch}, overlap {args.overlap}, batch {args.batch}, "
        f"device {device}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"napari-segtools: {t_ours:7.2f} s  {voxels / t_ours / 1e6:6.2f} Mvoxel/s  "
        f"peak GPU {peak_ours:.0f} MiB"
    )
    print(
        f"MONAI          : {t_monai:7.2f} s  {voxels / t_monai / 1e6:6.2f} Mvoxel/s  "
        f"peak GPU {peak_monai:.0f} MiB"
    )
    print(
        f"all runs (wall s, CPU s): ours {[tuple(round(x, 2) for x in t) for t in times['ours']]}"
        f", MONAI {[tuple(round(x, 2) for x in t) for t in times['monai']]}"
    )
    print(
        f"max |difference| of probabilities: {diff:.2e} ({'OK' if diff <= 1e-4 else 'MISMATCH'})"
    )
    print(f"throughput ratio ours/MONAI: {t_monai / t_ours:.2f}x wall-clock (best of each), ")
    print(
        f"                             {c_monai / c_ours:.2f}x CPU time (robust on a busy machine)"
    )


if __name__ == "__main__":
    main()
