"""The sample files shipped in ``sample_images/``, reachable from scripts, tests and widgets."""

from __future__ import annotations

from importlib.resources import as_file, files

import numpy as np

from .geometry import Geometry

MNI152_FOLDER = "mni152_2009a"
MNI152_T1 = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
MNI152_GM = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
MNI152_WM = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"


def sample_path(*parts: str):
    """Traversable of a file in the shipped ``sample_images/`` folder."""
    return files("napari_segtools").joinpath("sample_images", *parts)


def read_sample(*parts: str) -> tuple[np.ndarray, Geometry]:
    """Read a shipped sample file, reoriented for display (see :func:`.io.read_image`).

    Returns the array in numpy axis order and its :class:`Geometry` (mm).
    """
    from .io import read_image

    with as_file(sample_path(*parts)) as path:
        return read_image(path, reorient=True)


def mni152_labels(gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Hard labels from the MNI152 probability maps (stored x255): 1 grey, 2 white matter.

    Grey matter is ``(gm >= wm) & (gm > 127)``, white matter ``(wm > gm) & (wm > 127)``.
    """
    gm, wm = gm.astype(np.float32), wm.astype(np.float32)  # exact for uint8; also takes averages
    labels = np.zeros(gm.shape, np.uint8)
    labels[(gm >= wm) & (gm > 127)] = 1
    labels[(wm > gm) & (wm > 127)] = 2
    return labels


def mni152() -> tuple[np.ndarray, np.ndarray, Geometry]:
    """Return the MNI152 2009a T1 template (uint8, 1 mm), its hard GM/WM labels and geometry."""
    t1, geometry = read_sample(MNI152_FOLDER, MNI152_T1)
    gm, _ = read_sample(MNI152_FOLDER, MNI152_GM)
    wm, _ = read_sample(MNI152_FOLDER, MNI152_WM)
    return t1, mni152_labels(gm, wm), geometry
