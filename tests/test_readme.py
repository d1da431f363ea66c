"""The README's scripting example runs as written (from the repository root)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_scripting_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Scripting in three lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) == 3
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    report = namespace["report"]
    # ct > 300 against 226..3071 HU: every reference voxel is predicted (recall 1), and the
    # prediction adds the 226..300 HU voxels (precision < 1)
    assert report.per_label[1]["recall"] == pytest.approx(1.0)
    assert 0.8 < report.per_label[1]["precision"] < 1.0
    assert report.units["hd95"] == "mm"
