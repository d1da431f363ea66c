"""Segment statistics benchmark: ours against SimpleITK's label statistics filters on MNI152.

Run:  .venv/bin/python benchmarks/bench_segment_statistics.py [--repeats 5] [--feret-step 3]

Data: the MNI152 2009a T1 template (189 x 233 x 197, 1 mm) and its grey/white-matter labels
(1.08 M and 0.63 M voxels). Printed per row: our time, SimpleITK's time, the ratio ours/peer
(< 1 means we are faster). SimpleITK's filters get ready-made ``sitk.Image`` objects (the
conversion is not timed); ours starts from the numpy arrays, as the dock calls it.

- table: ``segment_statistics(labels, geometry=..., image=t1)`` (Feret diameter included)
  against ``LabelShapeStatisticsImageFilter`` (perimeter on, Feret off) plus
  ``LabelIntensityStatisticsImageFilter``;
- Feret diameter: ours against ITK's ``ComputeFeretDiameterOn()`` (all border-voxel pairs), on
  every ``--feret-step``-th voxel; ``--feret-step 1`` times the full volume (about 145 s for
  ITK on 2 cores);
- summary: ``segment_summary`` (counts, volume, connected pieces) alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import SimpleITK as sitk

from napari_segtools.core._sitk import array_to_sitk
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.samples import mni152
from napari_segtools.core.segments.statistics import segment_statistics, segment_summary


def _timed(func, repeats: int):
    """Median wall time of ``func()`` in seconds, and its last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def _itk_table(labels_image, t1_image, *, feret: bool):
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.SetComputePerimeter(True)
    shape.SetComputeFeretDiameter(feret)
    shape.Execute(labels_image)
    intensity = sitk.LabelIntensityStatisticsImageFilter()
    intensity.Execute(labels_image, t1_image)
    return shape, intensity


def _row(name: str, ours: float, peer: float | None, note: str = "") -> None:
    peer_text = f"{peer * 1000:14.1f}" if peer else f"{'-':>14}"
    ratio = f"{ours / peer:8.3f}" if peer else f"{'-':>8}"
    print(f"{name:<36}{ours * 1000:10.1f}{peer_text}{ratio}   {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--feret-step", type=int, default=3)
    args = parser.parse_args()

    t1, labels, geometry = mni152()
    segment_statistics(labels[:8, :8, :8], geometry=geometry)  # imports out of the timings
    labels_image, t1_image = array_to_sitk(labels, geometry), array_to_sitk(t1, geometry)
    print(f"MNI152 {labels.shape}, label voxels {np.bincount(labels.ravel())[1:].tolist()}")
    print(f"{'':<36}{'ours ms':>10}{'SimpleITK ms':>14}{'ratio':>8}")

    ours, table = _timed(
        lambda: segment_statistics(labels, geometry=geometry, image=t1), args.repeats
    )
    peer, (shape, intensity) = _timed(
        lambda: _itk_table(labels_image, t1_image, feret=False), args.repeats
    )
    _row("table (ours incl. Feret)", ours, peer, "ITK without Feret")
    for row in table.rows:
        value = row["label"]
        print(
            f"  label {value}: surface {row['surface_area_mm2']:.1f} mm2 (ITK "
            f"{shape.GetPerimeter(value):.1f}), median {row['median']:g} (ITK histogram "
            f"{intensity.GetMedian(value):.3f}), Feret {row['feret_diameter_mm']:.3f} mm"
        )

    step = args.feret_step
    coarse = np.ascontiguousarray(labels[::step, ::step, ::step])
    grid = Geometry(tuple(step * np.array(geometry.spacing)), geometry.origin)
    coarse_image = array_to_sitk(coarse, grid)
    ours, rows = _timed(lambda: segment_statistics(coarse, geometry=grid).rows, 1)
    feret = sitk.LabelShapeStatisticsImageFilter()
    feret.SetComputeFeretDiameter(True)
    peer, _ = _timed(lambda: feret.Execute(coarse_image), 1)
    values = ", ".join(
        f"{r['feret_diameter_mm']:.6f} vs {feret.GetFeretDiameter(r['label']):.6f}" for r in rows
    )
    _row(f"Feret, step {step} {coarse.shape}", ours, peer, f"mm: {values}")

    ours, _ = _timed(lambda: segment_summary(labels, spacing=geometry.spacing), args.repeats)
    _row("segment_summary (counts, pieces)", ours, None)


if __name__ == "__main__":
    main()
