"""Seeded region growing for ``napari-segtools segment grow``: seeds in physical mm.

Seeds come per case from a CSV (``case, z_mm, y_mm, x_mm``) or JSON file, or as one set for every
case (``--seed-mm``). Each is mapped to its nearest voxel through the case's own geometry, so the
same physical point works on any grid; a point outside the image fails that case, in mm.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._cli_segment_methods import file_sha256


def _mm(values) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ") mm"


_GROW = ("confidence", "connected", "neighborhood")


def add_grow_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segment grow``: seeds in mm, algorithm and its tolerance."""
    group = parser.add_argument_group(
        "seeds (physical mm, numpy axis order Z Y X: napari's world)"
    )
    seeds = group.add_mutually_exclusive_group(required=True)
    seeds.add_argument(
        "--seeds",
        type=Path,
        metavar="FILE",
        help="per case: a CSV with columns case, z_mm, y_mm, x_mm (one row per seed), or a "
        'JSON {"case": [[z, y, x], ...]}',
    )
    seeds.add_argument(
        "--seed-mm",
        type=float,
        nargs="+",
        action="append",
        metavar="Z Y X",
        help="one seed for every case (repeat for several)",
    )
    grow = parser.add_argument_group("growing")
    grow.add_argument(
        "--algorithm",
        choices=_GROW,
        default="confidence",
        help="confidence: mean +/- multiplier*sigma re-estimated from the region (default); "
        "connected: [--lower, --upper], or mean +/- multiplier*sigma around the seeds; "
        "neighborhood: voxels whose whole box lies in [--lower, --upper]",
    )
    grow.add_argument("--lower", type=float, help="connected/neighborhood: lowest intensity")
    grow.add_argument("--upper", type=float, help="connected/neighborhood: highest intensity")
    grow.add_argument("--multiplier", type=float, help="sigmas (confidence 4.5, connected 2.5)")
    grow.add_argument("--iterations", type=int, default=4, help="confidence: re-estimations")
    grow.add_argument("--radius-voxels", type=int, default=1, help="box half-width around seeds")
    grow.add_argument("--connectivity", type=int, default=1, help="1 faces ... 3 all neighbours")
    grow.add_argument(
        "--max-fraction", type=float, default=0.5, help="fail a case whose region exceeds this"
    )
    grow.add_argument("--label", type=int, default=1, help="label written (default 1)")


def read_seeds(path: Path) -> dict[str, np.ndarray]:
    """``{case: (N, D) seeds in mm}`` from a CSV (case, z_mm, y_mm, x_mm) or JSON file."""
    if not path.is_file():
        raise FileNotFoundError(f"--seeds {path}: no such file")
    found: dict[str, list[list[float]]] = {}
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError('expected {"case": [[z, y, x], ...]}')
            found = {str(k): [list(map(float, p)) for p in v] for k, v in data.items()}
        else:
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                axes = [c for c in ("z_mm", "y_mm", "x_mm") if c in (reader.fieldnames or [])]
                if "case" not in (reader.fieldnames or []) or len(axes) < 2:
                    raise ValueError(
                        "expected columns case, z_mm, y_mm, x_mm (or case, y_mm, x_mm)"
                    )
                for row in reader:
                    found.setdefault(row["case"], []).append([float(row[a]) for a in axes])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"--seeds {path.name}: {exc}") from None
    out = {case: np.asarray(points, float) for case, points in found.items()}
    for case, points in out.items():
        if points.ndim != 2 or points.shape[1] not in (2, 3) or not np.isfinite(points).all():
            raise ValueError(f"--seeds {path.name}: case {case!r}: seeds must be finite Z Y X mm")
    return out


def seeds_to_voxels(points_mm: np.ndarray, geometry, shape: tuple[int, ...]) -> np.ndarray:
    """Nearest voxel index of each physical point; a point outside the image fails, in mm."""
    if points_mm.shape[1] != len(shape):
        raise ValueError(
            f"seeds have {points_mm.shape[1]} coordinates but the image is {len(shape)}-D"
        )
    offset = points_mm - np.asarray(geometry.origin)
    index = np.linalg.solve(geometry.direction, offset.T).T / np.asarray(geometry.spacing)
    voxels = np.rint(index).astype(np.int64)
    for point, voxel in zip(points_mm, voxels, strict=True):
        if (voxel < 0).any() or (voxel >= shape).any():
            raise ValueError(
                f"seed {_mm(point)} lies outside the image (voxel {tuple(int(v) for v in voxel)}"
                f" of shape {tuple(shape)})"
            )
    return voxels


@dataclass(frozen=True)
class GrowMethod:
    """Seeded region growing from physical seeds: ITK's connected-threshold family."""

    algorithm: str
    seeds: dict[str, np.ndarray] = field(repr=False)
    seeds_for_all: bool
    seeds_file: str
    seeds_digest: str  # SHA-256 of the seeds file, or the --seed-mm values
    lower: float | None
    upper: float | None
    multiplier: float | None
    iterations: int
    radius_voxels: int
    connectivity: int
    max_fraction: float
    label: int

    name = "grow"

    def options(self) -> dict:
        from dataclasses import asdict

        return {k: v for k, v in asdict(self).items() if k not in ("seeds", "seeds_for_all")}

    def label_names(self) -> dict[int, str]:
        return {self.label: "region"}

    def segment(self, image, geometry, case: str) -> tuple[np.ndarray, str]:
        from napari_segtools.core import region_growing as rg

        points = self.seeds[""] if self.seeds_for_all else self.seeds.get(case)
        if points is None:
            raise ValueError(f"no seed for this case in {self.seeds_file}")
        voxels = seeds_to_voxels(points, geometry, image.shape)
        common: dict[str, Any] = {
            "connectivity": self.connectivity,
            "max_fraction": self.max_fraction,
        }
        note = ""
        if self.algorithm == "confidence":
            region = rg.confidence_connected(
                image,
                voxels,
                multiplier=4.5 if self.multiplier is None else self.multiplier,
                iterations=self.iterations,
                initial_radius_voxels=self.radius_voxels,
                **common,
            )
        else:
            if self.lower is not None and self.upper is not None:
                low, high = self.lower, self.upper
            else:
                low, high = rg.auto_range(
                    image,
                    voxels,
                    radius_voxels=self.radius_voxels,
                    multiplier=2.5 if self.multiplier is None else self.multiplier,
                )
                note = f"range [{low:g}, {high:g}] from the seeds"
            if self.algorithm == "connected":
                region = rg.connected_threshold(image, voxels, lower=low, upper=high, **common)
            else:
                region = rg.neighborhood_connected(
                    image,
                    voxels,
                    lower=low,
                    upper=high,
                    radius_voxels=self.radius_voxels,
                    **common,
                )
        labels = np.zeros(image.shape, np.uint16 if self.label > 255 else np.uint8)
        labels[region] = self.label
        return labels, note


def build_grow(args: argparse.Namespace) -> GrowMethod:
    if (args.lower is None) != (args.upper is None):
        raise ValueError("grow: give both --lower and --upper, or neither (range from the seeds)")
    if args.algorithm == "confidence" and args.lower is not None:
        raise ValueError("grow: --algorithm confidence finds its own range; drop --lower/--upper")
    if args.algorithm == "neighborhood" and args.lower is None:
        raise ValueError("grow: --algorithm neighborhood needs --lower and --upper")
    if not 0 < args.max_fraction <= 1:
        raise ValueError(f"grow: --max-fraction must be in (0, 1]; got {args.max_fraction}")
    if args.label < 1 or args.label > 65535:
        raise ValueError(f"grow: --label must be 1 to 65535; got {args.label}")
    if args.seeds is not None:
        seeds, source, digest = read_seeds(args.seeds), args.seeds.name, file_sha256(args.seeds)
    else:
        if any(len(p) not in (2, 3) for p in args.seed_mm):
            raise ValueError("grow: --seed-mm takes Z Y X (or Y X for 2-D images) in mm")
        if len({len(p) for p in args.seed_mm}) > 1:
            raise ValueError("grow: every --seed-mm needs the same number of coordinates")
        seeds, source, digest = {"": np.asarray(args.seed_mm, float)}, "", str(args.seed_mm)
    return GrowMethod(
        args.algorithm,
        seeds,
        args.seeds is None,
        source,
        digest,
        args.lower,
        args.upper,
        args.multiplier,
        args.iterations,
        args.radius_voxels,
        args.connectivity,
        args.max_fraction,
        args.label,
    )
