"""The methods of ``napari-segtools segment``: threshold and voxel classifier.

Each method is a small frozen, picklable object built once from the command line
(``build(args)``, which checks every option before any case runs) and shipped to the dask
workers. ``segment(image, geometry, case)`` returns ``(labels, note)`` for one case: the label
image on the case's grid and a one-line remark for the log (the automatic threshold found, a
spacing warning, ...). Region growing lives in
:mod:`napari_segtools._cli_segment_grow`, atlas and U-Net in
:mod:`napari_segtools._cli_segment_models`.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file: recorded in the settings, so a changed file is noticed on resume."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- threshold
_AUTO_METHODS = ("otsu", "multiotsu", "li", "yen", "triangle", "isodata", "mean", "minimum")


def add_threshold_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segment threshold``: a range or an automatic method, then clean-up in mm."""
    group = parser.add_argument_group("threshold")
    group.add_argument("--lower", type=float, help="lowest intensity kept (inclusive)")
    group.add_argument("--upper", type=float, help="highest intensity kept (inclusive)")
    group.add_argument(
        "--method",
        choices=["manual", *_AUTO_METHODS, "local"],
        default="manual",
        help="manual: keep [--lower, --upper] (the default); an automatic method finds the lower "
        "bound per case (multiotsu: class labels 1..classes-1); local: keep voxels above their "
        "neighbourhood's mean inside [--lower, --upper]",
    )
    group.add_argument("--classes", type=int, default=3, help="multiotsu classes (2-5, default 3)")
    group.add_argument(
        "--histogram-from",
        choices=["image", "body"],
        default="image",
        help="automatic methods split the whole image's histogram, or the body's (the largest "
        "bright component: the air around a patient does not count)",
    )
    group.add_argument("--block-size-mm", type=float, default=15.0, help="local: width in mm")
    group.add_argument("--offset", type=float, default=0.0, help="local: subtracted from the mean")
    group.add_argument("--label", type=int, default=1, help="label written (first class: 1)")
    clean = parser.add_argument_group("clean-up (each label, in this order; 0 = off)")
    for name, what in (("open", "opening"), ("close", "closing"), ("median", "median smoothing")):
        clean.add_argument(f"--{name}-radius-mm", type=float, default=0.0, help=f"{what} radius")
    clean.add_argument("--min-size-mm3", type=float, default=0.0, help="drop smaller components")
    clean.add_argument(
        "--fill-holes",
        default="off",
        metavar="{off,3d,0,1,2}",
        help="fill holes in 3-D, or slice by slice across this axis",
    )
    clean.add_argument("--keep", choices=["all", "largest"], default="all")


@dataclass(frozen=True)
class ThresholdMethod:
    """Threshold each case by a fixed range or a per-case automatic threshold, then clean up."""

    method: str
    lower: float | None
    upper: float | None
    classes: int
    histogram_from: str
    block_size_mm: float
    offset: float
    label: int
    cleanup: Any  # CleanupSettings

    name = "threshold"

    def options(self) -> dict:
        """Return the settings that decide the result (recorded, compared on resume)."""
        from dataclasses import asdict

        return asdict(self)

    def label_names(self) -> dict[int, str]:
        if self.method == "multiotsu":
            return {self.label + i: f"class {i + 1}" for i in range(self.classes - 1)}
        return {self.label: "threshold"}

    def _settings(self, image: np.ndarray) -> tuple[Any, str]:
        from napari_segtools.core._types import run_to_completion
        from napari_segtools.core.threshold import threshold_from_histogram
        from napari_segtools.core.threshold_pipeline import ThresholdSettings, iter_histograms

        if self.method == "manual":
            low = -np.inf if self.lower is None else self.lower
            return ThresholdSettings(
                "manual", low, np.inf if self.upper is None else self.upper
            ), ""
        whole, hist = run_to_completion(iter_histograms(image, histogram_from=self.histogram_from))
        low = whole.low if self.lower is None else self.lower
        high = whole.high if self.upper is None else self.upper
        if self.method == "local":
            settings = ThresholdSettings(
                "local", low, high, block_size_mm=self.block_size_mm, offset=self.offset
            )
            return settings, ""
        value = threshold_from_histogram(hist, method=self.method, classes=self.classes)
        if isinstance(value, tuple):
            note = "multiotsu thresholds " + ", ".join(f"{v:g}" for v in value)
            return ThresholdSettings("multiotsu", whole.low, whole.high, thresholds=value), note
        # the foreground is image > value (scikit-image's rule): the next float up is the
        # inclusive lower bound (an integer image: the next integer)
        low = float(np.nextafter(value, np.inf))
        return ThresholdSettings(self.method, low, high), f"{self.method} threshold {value:g}"

    def segment(self, image, geometry, case: str) -> tuple[np.ndarray, str]:
        from napari_segtools.core.threshold_pipeline import threshold_labels_cleaned

        settings, note = self._settings(image)
        labels = threshold_labels_cleaned(
            image,
            settings=settings,
            spacing=geometry.spacing,
            steps=self.cleanup.steps(image.ndim),
            first_label=self.label,
        )
        return labels, note


def build_threshold(args: argparse.Namespace) -> ThresholdMethod:
    from napari_segtools.core.cleanup import CleanupSettings
    from napari_segtools.core.threshold_pipeline import ThresholdSettings

    if args.method == "manual" and args.lower is None and args.upper is None:
        raise ValueError("threshold: give --lower and/or --upper, or an automatic --method")
    if args.method in _AUTO_METHODS and args.lower is not None:
        raise ValueError(f"threshold: --method {args.method} finds the lower bound; drop --lower")
    inf = float("inf")
    lower = -inf if args.lower is None else args.lower
    ThresholdSettings(  # checks the range, block size and offset now, not once per case
        "manual",
        lower,
        inf if args.upper is None else args.upper,
        block_size_mm=args.block_size_mm,
        offset=args.offset,
    )
    if not 2 <= args.classes <= 5:
        raise ValueError(f"threshold: --classes must be 2 to 5; got {args.classes}")
    if args.label < 1:
        raise ValueError(f"threshold: --label must be >= 1; got {args.label}")
    fill = args.fill_holes if args.fill_holes in ("off", "3d") else _axis(args.fill_holes)
    cleanup = CleanupSettings(
        open_radius_mm=args.open_radius_mm,
        close_radius_mm=args.close_radius_mm,
        median_radius_mm=args.median_radius_mm,
        min_size_mm3=args.min_size_mm3,
        fill_holes=fill,
        keep=args.keep,
    )
    return ThresholdMethod(
        args.method,
        args.lower,
        args.upper,
        args.classes,
        args.histogram_from,
        args.block_size_mm,
        args.offset,
        args.label,
        cleanup,
    )


def _axis(text: str) -> int:
    if text not in ("0", "1", "2"):
        raise ValueError(f"--fill-holes must be off, 3d, 0, 1 or 2; got {text!r}")
    return int(text)


# ----------------------------------------------------------------------------- classifier
def add_classifier_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segment classifier``: a saved voxel classifier (one contrast)."""
    parser.add_argument(
        "--classifier", type=Path, required=True, metavar="FILE", help="saved voxel classifier"
    )
    parser.add_argument(
        "--trusted",
        action="store_true",
        help="load a file holding types outside the safe allow-list (can run code)",
    )


@dataclass(frozen=True)
class ClassifierMethod:
    """A saved voxel classifier applied to each case (features in mm: any spacing)."""

    classifier: Any = field(repr=False)  # VoxelClassifier
    source: str

    name = "classifier"

    def options(self) -> dict:
        return {"classifier": self.source}

    def label_names(self) -> dict[int, str]:
        clf = self.classifier
        return {int(v): str(n) for v, n in zip(clf.class_values, clf.class_names, strict=True)}

    def segment(self, image, geometry, case: str) -> tuple[np.ndarray, str]:
        from ._cli_classify import spacing_warning

        labels = self.classifier.predict(image, spacing=geometry.spacing)
        return labels, spacing_warning(geometry.spacing, self.classifier.spacing)


def build_classifier(args: argparse.Namespace) -> ClassifierMethod:
    from ._cli_classify import load_classifier

    classifier = load_classifier(args.classifier, trusted=args.trusted, verb="segment")
    if classifier.n_channels != 1:
        raise ValueError(
            f"{args.classifier.name} was trained on {classifier.n_channels} contrasts; segment "
            "reads one image per case: use `napari-segtools classify --channel ...`"
        )
    return ClassifierMethod(classifier, f"{args.classifier.name} ({file_sha256(args.classifier)})")
