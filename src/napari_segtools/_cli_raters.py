r"""``napari-segtools raters``: how far raters agree on one case, and a method against them.

Each RATER is one rater's segmentation file of the same case (NIfTI/NRRD/MetaImage); their
grids must match (shape, spacing, origin, direction) and spacing comes from the files. The JSON
report holds the pairwise Dice and HD95 matrices, each rater's STAPLE sensitivity and
specificity and, with ``--prediction``, the method's Dice and HD95 against each rater and the
consensus beside the inter-rater min/median/max. Example::

    napari-segtools raters ann1.nii.gz ann2.nii.gz ann3.nii.gz --prediction unet.nii.gz \
        --out raters.json --consensus staple.nii.gz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `raters` options to ``parser``."""
    parser.add_argument("raters", nargs="+", type=Path, help="one segmentation file per rater")
    parser.add_argument("--out", type=Path, required=True, help="JSON report to write")
    parser.add_argument("--prediction", type=Path, help="a method's segmentation to score")
    parser.add_argument("--names", nargs="+", help="one name per rater (default: the file names)")
    parser.add_argument("--label", type=int, help="label id to compare (default: any non-zero)")
    parser.add_argument("--consensus", type=Path, help="also write the STAPLE consensus here")


def _read_on_one_grid(paths: list[Path]):
    """Read every file; raise ``ValueError`` naming the first whose grid differs."""
    from napari_segtools.core.geometry import grid_differences
    from napari_segtools.core.io import read_image

    arrays, geometry = [], None
    for path in paths:
        array, geo = read_image(path)
        if geometry is None:
            geometry, shape = geo, array.shape
        elif diffs := grid_differences(geometry, geo, shape, array.shape):
            raise ValueError(
                f"{path} lies on another grid than {paths[0]} ({'; '.join(diffs)}); "
                "resample it onto the first rater's grid first"
            )
        arrays.append(array)
    return arrays, geometry


def run(args: argparse.Namespace) -> int:
    """Compute the agreement (and the scores), write the report, print a short table."""
    from napari_segtools.core.io import strip_image_suffix, write_image, write_text_atomically
    from napari_segtools.core.metrics.raters import rater_agreement, score_against_raters

    paths = list(args.raters) + ([args.prediction] if args.prediction else [])
    arrays, geometry = _read_on_one_grid(paths)
    names = args.names or [strip_image_suffix(p) for p in args.raters]
    options = {"spacing": geometry.spacing, "names": names, "label": args.label}
    if args.prediction:
        scores = score_against_raters(arrays[-1], arrays[:-1], **options)
        agreement, report = scores.agreement, scores.to_dict()
    else:
        agreement = rater_agreement(arrays, **options)
        report = agreement.to_dict()
    report["files"] = {"raters": [str(p) for p in args.raters], "prediction": str(args.prediction)}
    write_text_atomically(args.out, json.dumps(report, indent=2))
    if args.consensus:
        write_image(args.consensus, agreement.consensus.astype("uint8"), geometry)
    unit = agreement.units["hd95"]
    print(f"{'rater':<24}{'sensitivity':>12}{'specificity':>12}")
    for name, p, q in zip(names, agreement.sensitivity, agreement.specificity, strict=True):
        print(f"{name:<24}{p:>12.4f}{q:>12.4f}")
    if args.prediction:
        print(f"\n{'prediction vs':<24}{'dice':>12}{'hd95 ' + unit:>12}")
        for row in scores.to_rows():
            print(f"{row['reference']:<24}{row['dice']:>12.4f}{row['hd95']:>12.3f}")
    return 0
