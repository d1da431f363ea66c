"""Running a console verb's cases on dask: local processes or a running cluster."""

from __future__ import annotations

import argparse
import os
import sys


def add_dask_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers``, ``--scheduler`` and ``--quiet``, the options :func:`run_dask` reads."""
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        default=os.cpu_count() or 1,
        help="local worker processes (default: all cores)",
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="address of a running dask.distributed scheduler"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_dask(tasks, args) -> list[dict]:
    """Compute dask ``tasks`` (one per case) and return their results in order.

    ``args.scheduler`` (an address) sends them to a running ``distributed`` cluster; otherwise
    ``args.workers`` local processes run them (one synchronous process for a single case or
    worker). ``args.quiet`` hides the progress bar.
    """
    import dask

    if args.scheduler:
        try:
            from distributed import Client, progress
        except ImportError as exc:
            raise ValueError(
                "--scheduler needs the `distributed` package (pip install distributed)"
            ) from exc
        with Client(args.scheduler) as client:
            futures = client.compute(tasks)
            if not args.quiet:
                progress(futures)
            return client.gather(futures)
    from contextlib import nullcontext

    from dask.diagnostics import ProgressBar

    scheduler = "processes" if args.workers > 1 and len(tasks) > 1 else "synchronous"
    with nullcontext() if args.quiet else ProgressBar(out=sys.stderr):
        return list(dask.compute(*tasks, scheduler=scheduler, num_workers=args.workers))
