"""Atlas propagation benchmark: MNI152 at 2 mm onto a known-deformation target.

The target is the template warped by a random affine plus a smooth displacement (up to 6 mm),
with a 20 % bias field and 3 % noise, so its GM/WM labels are known exactly. Compared on the same
data in one run:

- peer: plain SimpleITK affine registration (Mattes MI, moments initialisation, 3-level pyramid)
  and, with ``--bspline-reference``, plain SimpleITK B-spline (LBFGSB, 100 iterations, full
  resolution; ~5 min on 2 cores);
- ours: each widget preset ("same modality, fast", "cross modality", "deformable") and 5-atlas
  fusion (atlases = differently deformed template copies) with every fusion method.

Run: ``python benchmarks/bench_atlas.py [--factor 2] [--atlases 5] [--bspline-reference]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from napari_segtools.core.atlas import multi_atlas_propagate
from napari_segtools.core.fusion import majority_vote, staple, weighted_vote
from napari_segtools.core.registration import PRESETS

# the known-truth cases are test support, kept out of the wheel: tests/atlas_cases.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.atlas_cases import GM, WM, deformed_copy, load_mni152  # noqa: E402


def dice(a, b, label):
    a, b = a == label, b == label
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def scores(labels, truth):
    return f"GM {dice(labels, truth, GM):.3f}  WM {dice(labels, truth, WM):.3f}"


def _sitk_image(case, arr):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(case.geometry.spacing[::-1])
    img.SetOrigin(case.geometry.origin[::-1])
    return img


def peer_sitk(template, target, bspline: bool):
    """Plain SimpleITK, as a user would write it: affine, then optionally full-res B-spline."""
    import SimpleITK as sitk

    fixed = _sitk_image(target, target.image.astype(np.float32))
    moving = _sitk_image(template, template.image.astype(np.float32))
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.2, 42)
    reg.SetInterpolator(sitk.sitkLinear)
    init = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.AffineTransform(3), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    reg.SetInitialTransform(init, inPlace=False)
    reg.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-4, 100)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([4, 2, 1])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    transform = reg.Execute(fixed, moving)
    if bspline:
        mesh = [
            max(1, int(round(n * s / 20)))
            for n, s in zip(fixed.GetSize(), fixed.GetSpacing(), strict=True)
        ]
        local = sitk.BSplineTransformInitializer(fixed, mesh, 3)
        reg = sitk.ImageRegistrationMethod()
        reg.SetMetricAsMattesMutualInformation(32)
        reg.SetInterpolator(sitk.sitkLinear)
        reg.SetMovingInitialTransform(transform)
        reg.SetInitialTransform(local, inPlace=True)
        reg.SetOptimizerAsLBFGSB(numberOfIterations=100)
        reg.Execute(fixed, moving)
        transform = sitk.CompositeTransform([transform, local])
    labels = sitk.Resample(
        _sitk_image(template, template.labels), fixed, transform, sitk.sitkNearestNeighbor, 0
    )
    return sitk.GetArrayFromImage(labels)


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, default=2, help="template downsampling (2 = 2 mm)")
    parser.add_argument("--atlases", type=int, default=5, help="atlases for the fusion run")
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes for fusion")
    parser.add_argument(
        "--bspline-reference",
        action="store_true",
        help="also time plain SimpleITK full-resolution B-spline (slow)",
    )
    args = parser.parse_args()

    template = load_mni152(args.factor)
    target = deformed_copy(template, seed=1)
    print(
        f"template {template.image.shape} at {template.geometry.spacing} mm; "
        f"no registration: {scores(template.labels, target.labels)}"
    )
    atlas = template.atlas
    common = {"geometry": target.geometry}

    peer, peer_time = timed(peer_sitk, template, target, False)
    print(f"{'peer SimpleITK affine (MI)':38s} {peer_time:7.1f} s  {scores(peer, target.labels)}")
    if args.bspline_reference:
        ref, ref_time = timed(peer_sitk, template, target, True)
        name = "peer SimpleITK affine + B-spline"
        print(f"{name:38s} {ref_time:7.1f} s  {scores(ref, target.labels)}")

    for preset in PRESETS:
        result, seconds = timed(
            multi_atlas_propagate, target.image, [atlas], settings=preset, **common
        )
        print(
            f"{'ours: ' + preset:38s} {seconds:7.1f} s  {scores(result.labels, target.labels)}"
            f"  (x{seconds / peer_time:.1f} the peer affine time)"
        )

    atlases = [
        deformed_copy(template, seed=10 + i, bias=0.0, noise=0.01) for i in range(args.atlases)
    ]
    result, seconds = timed(
        multi_atlas_propagate,
        target.image,
        [a.atlas for a in atlases],
        settings="deformable",
        n_jobs=args.n_jobs,
        **common,
    )
    print(f"ours: {args.atlases} deformable registrations {seconds:.1f} s (n_jobs={args.n_jobs})")
    for i, labels in enumerate(result.warped_labels):
        print(f"  atlas {i + 1:<2d} {scores(labels, target.labels)}")
    maps, images = result.warped_labels, result.warped_images
    for name, fuse in (
        ("majority", lambda: majority_vote(maps)),
        ("staple", lambda: staple(maps)),
        (
            "weighted",
            lambda: weighted_vote(maps, images, target.image, spacing=target.geometry.spacing),
        ),
    ):
        (labels, _), fuse_time = timed(fuse)
        print(f"  fusion {name:9s} {fuse_time:5.1f} s  {scores(labels, target.labels)}")


if __name__ == "__main__":
    main()
