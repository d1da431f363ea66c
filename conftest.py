"""Collection rules for the whole repository (the tests and the docstring examples of the core)."""

import importlib.util

# Without the [unet] extra there is no torch: the U-Net modules cannot be imported for doctests.
collect_ignore_glob = (
    [] if importlib.util.find_spec("torch") else ["src/napari_segtools/core/unet/*.py"]
)
