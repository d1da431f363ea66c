"""`import napari_segtools` stays light: no Qt, napari, torch or SimpleITK until needed."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "torch",
    "SimpleITK",
    "qtpy",
    "PyQt5",
    "PyQt6",
    "napari",
    "magicgui",
    "matplotlib",
    "dask",
)


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
    assert not {
        m for m in ("qtpy", "PyQt5", "PyQt6", "napari", "magicgui", "torch") if m in loaded
    }


def test_lazy_names_resolve():
    import napari_segtools

    assert napari_segtools.read_image.__module__ == "napari_segtools.core.io"
    assert set(napari_segtools._EXPORTS) <= set(dir(napari_segtools))


NO_TORCH = """
import sys
sys.modules["torch"] = None  # `import torch` now raises ImportError, as without the [unet] extra
import numpy as np
import napari_segtools as nst

ref = np.zeros((12, 12), bool)
ref[3:9, 3:9] = True
image = np.where(ref, 100.0, 0.0)
mask = nst.threshold_mask(image, lower=50, upper=150)
grown = nst.connected_threshold(image, [(5, 5)], lower=50, upper=150)
report = nst.metrics.evaluate(ref, mask, spacing=(1.0, 2.0))
assert report.per_label[1]["dice"] == 1.0 and (grown == ref).all()
assert nst.list_models()
try:
    nst.load_model("mni152-brain-tissue")
except ImportError as exc:
    print("IMPORT-ERROR:", exc)
"""


def test_cores_run_without_torch_and_load_model_names_the_extra():
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH], capture_output=True, text=True, check=True
    ).stdout
    (line,) = [x for x in out.splitlines() if x.startswith("IMPORT-ERROR:")]
    assert "napari-segtools[unet]" in line
