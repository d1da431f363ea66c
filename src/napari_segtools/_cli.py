"""The ``napari-segtools`` console script: sub-commands dispatched to their own modules.

Each sub-command module defines ``add_arguments(parser)`` and ``run(args) -> int`` and is imported
only when that sub-command runs, so ``--help`` stays fast and torch loads only for ``train``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

_SUBCOMMANDS = {
    "demo": ("napari_segtools._demo", "open napari with a sample and the plugin's widgets"),
    "evaluate": ("napari_segtools._cli_evaluate", "evaluate segmentations against references"),
    "train": ("napari_segtools._cli_train", "train a U-Net model package"),
    "classify": (
        "napari_segtools._cli_classify",
        "apply a saved voxel classifier to a folder of images",
    ),
    "lesson": (
        "napari_segtools._cli_lesson",
        "train a deep-learning lesson's toy problem and print its table",
    ),
    "segment": (
        "napari_segtools._cli_segment",
        "segment a folder of images (threshold, grow, atlas, unet, classifier) on dask",
    ),
    "raters": (
        "napari_segtools._cli_raters",
        "agreement of raters on one case (Dice, HD95, STAPLE) and a method against them",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="napari-segtools", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in _SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in _SUBCOMMANDS:
        parser.parse_args(argv)  # prints usage / errors and exits
    module = importlib.import_module(_SUBCOMMANDS[argv[0]][0])
    sub_parser = argparse.ArgumentParser(
        prog=f"napari-segtools {argv[0]}", description=_SUBCOMMANDS[argv[0]][1]
    )
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"napari-segtools {argv[0]}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
