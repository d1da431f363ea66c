"""`import napari_segtools` stays light: no Qt, napari, torch or SimpleITK until needed."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "SimpleITK", "qtpy", "PyQt5", "napari", "magicgui", "matplotlib", "dask")


def _loaded_after(code: str) -> set[str]:
    script = f"import sys, json; {code}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_package_import_loads_no_heavy_module():
    loaded = _loaded_after("import napari_segtools")
    assert not {m for m in HEAVY if m in loaded}


def test_core_modules_import_without_qt():
    code = (
        "import napari_segtools.core.io, napari_segtools.core.phantoms, "
        "napari_segtools.core.samples, napari_segtools.metrics"
    )
    loaded = _loaded_after(code)
    assert not {m for m in ("qtpy", "PyQt5", "napari", "magicgui", "torch") if m in loaded}


def test_lazy_names_resolve():
    import napari_segtools

    assert napari_segtools.read_image.__module__ == "napari_segtools.core.io"
    assert set(napari_segtools._EXPORTS) <= set(dir(napari_segtools))
