"""Print the worst GUI-thread stall of every widget action on the shipped samples (a table).

Each dock's actions (open the dock, choose an image, change settings, preview, run, evaluate,
jump...) run one after the other on the CT, MNI152 and brain-slice samples, as in
``tests/qt/test_stalls.py``; each is measured with a 5 ms Qt timer and the figures are the
largest gap between two ticks (the longest the window did not answer) and the time until the
work it started had finished. The limit the issue sets is 150 ms.

Run it headless with::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/bench_gui_stalls.py

Options: ``--repeat N`` runs each scenario N times (fresh viewer) and keeps the worst figure;
``--sample`` / ``--dock`` restrict the table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test scenarios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (worst kept)")
    parser.add_argument("--sample", action="append", help="only this sample (repeatable)")
    parser.add_argument("--dock", action="append", help="only this dock (repeatable)")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):  # `make bench` is headless
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, __file__]
        return subprocess.call([*command, *(sys.argv[1:] if argv is None else argv)])

    import napari
    import tests.qt.test_stalls as scenarios
    from qtpy.QtWidgets import QApplication

    limit = scenarios.LIMIT_MS
    samples = args.sample or ["ct_head", *scenarios.SAMPLES]  # the suite leaves the CT out
    docks = args.dock or list(scenarios.DOCKS)
    print(f"{'sample':<12} {'dock':<15} {'action':<22} {'worst ms':>9} {'total ms':>9}")
    over = 0
    for sample in samples:
        for dock in docks:
            worst: dict[str, tuple[float, float]] = {}
            for _ in range(args.repeat):
                viewer = napari.Viewer(show=True)
                viewer.window.resize(1600, 1000)
                scenarios.prepare(viewer, sample)
                for _ in range(20):
                    QApplication.processEvents()
                rows = scenarios.measure(viewer, scenarios.DOCKS[dock](viewer))
                for name, stall, total in rows:
                    old = worst.get(name, (0.0, 0.0))
                    worst[name] = (max(old[0], stall), max(old[1], total))
                viewer.close()
                QApplication.processEvents()
            for name, (stall, total) in worst.items():
                flag = "  <-- over" if stall > limit else ""
                over += stall > limit
                print(f"{sample:<12} {dock:<15} {name:<22} {stall:9.0f} {total:9.0f}{flag}")
            sys.stdout.flush()
    print(f"{over} action(s) over {limit:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
