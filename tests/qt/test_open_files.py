"""Medical image files open with their geometry the way File > Open and drag and drop open them.

napari's File > Open and drag and drop call ``viewer.open(paths, plugin=None)``: the reader
preference for the ending decides, and with none napari asks. ``viewer.open(path)`` without a
``plugin`` argument means napari's builtin reader in napari >= 0.5; scripts pass ``plugin=None``
(the preference) or ``plugin="napari-segtools"``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from napari.layers import Image, Labels
from napari.settings import get_settings
from npe2 import PluginManifest

from napari_segtools._reader import READER_PATTERNS, activate
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.io import write_image

sitk = pytest.importorskip("SimpleITK")

SPACING = (2.5, 0.8, 0.6)
ORIGIN = (12.0, -30.0, 7.5)
FORMATS = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


@pytest.fixture
def activated():
    """Run the plugin's activation hook, as napari does on its first widget, sample or file.

    (The plugin is activated once per process; napari's viewer fixture resets the settings.)
    """
    manifest = PluginManifest.from_distribution("napari-segtools")
    assert manifest.on_activate == "napari_segtools._reader:activate"
    activate()


def _volume():
    return (np.arange(4 * 5 * 6).reshape(4, 5, 6) % 97).astype(np.int16)


def _write(path, array):
    if path.suffix in (".nhdr", ".mhd"):  # detached headers: written by SimpleITK directly
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(SPACING[::-1])
        image.SetOrigin(ORIGIN[::-1])
        sitk.WriteImage(image, str(path))
        return path
    return write_image(path, array, Geometry(SPACING, ORIGIN))


@pytest.mark.parametrize("suffix", FORMATS)
def test_each_format_opens_with_its_geometry_and_no_prompt(
    make_napari_viewer, tmp_path, activated, suffix
):
    path = _write(tmp_path / f"scan{suffix}", _volume())
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=None)  # what File > Open and drag and drop call
    assert isinstance(layer, Image) and layer.name == "scan"
    np.testing.assert_array_equal(layer.data, _volume())
    np.testing.assert_allclose(layer.scale, SPACING, rtol=1e-6)
    np.testing.assert_allclose(layer.translate, ORIGIN, atol=1e-5)
    assert layer.source.reader_plugin == "napari-segtools"


def test_a_dicom_series_folder_opens_with_its_geometry(make_napari_viewer, tmp_path, activated):
    folder = tmp_path / "series"
    folder.mkdir()
    volume = _volume()
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing(SPACING[::-1])
    image.SetOrigin(ORIGIN[::-1])
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for i in range(image.GetDepth()):
        plane = image[:, :, i]
        position = image.TransformIndexToPhysicalPoint((0, 0, i))
        for key, value in {
            "0020|000e": "1.2.826.0.1.7",
            "0020|000d": "1.2.826.0.1",
            "0008|0018": f"1.2.826.0.1.7.{100 + i}",
            "0008|0060": "CT",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|0013": str(i),
            "0020|0032": "\\".join(str(v) for v in position),
        }.items():
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{i:03d}.dcm"))
        writer.Execute(plane)
    viewer = make_napari_viewer()
    # a folder has no ending: the user points napari at it once (the reader dialog's "remember"
    # box does this for one folder; a pattern covers every series below a directory)
    get_settings().plugins.extension2reader = {f"{tmp_path}/*": "napari-segtools"}
    (layer,) = viewer.open(str(folder), plugin=None)
    np.testing.assert_array_equal(layer.data, volume)
    np.testing.assert_allclose(layer.scale, SPACING, rtol=1e-5)
    np.testing.assert_allclose(layer.translate, ORIGIN, atol=1e-4)
    assert layer.source.reader_plugin == "napari-segtools"


def test_activation_prefers_this_reader_only_where_unset(activated):
    readers = get_settings().plugins.extension2reader
    assert all(readers.get(p) == "napari-segtools" for p in READER_PATTERNS)
    # a choice the user made is kept on the next activation
    get_settings().plugins.extension2reader = {**readers, "*.nrrd": "napari"}
    activate()
    assert get_settings().plugins.extension2reader["*.nrrd"] == "napari"
    assert "*.dcm" not in get_settings().plugins.extension2reader
    assert "*.png" not in get_settings().plugins.extension2reader


def test_a_label_file_opens_as_labels_with_hover_names(make_napari_viewer, tmp_path, activated):
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1:3, 1:4, 1:3] = 1
    labels[1:3, 1:4, 4:6] = 2
    path = write_image(tmp_path / "case_seg.nii.gz", labels, Geometry(SPACING, ORIGIN))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin=None)
    assert isinstance(layer, Labels)
    world = layer.data_to_world((2, 2, 4))
    assert "label 2" in layer.get_status(world, world=True)["coordinates"]
    assert "label 1" in layer.get_status(layer.data_to_world((2, 2, 1)), world=True)["coordinates"]


def test_napari_activates_the_plugin_and_it_sets_its_preference(tmp_path):
    """In a fresh process, napari's first use of the plugin (reading a file) activates it."""
    path = write_image(tmp_path / "scan.nii.gz", _volume(), Geometry(SPACING, ORIGIN))
    code = (
        "import npe2; from napari.settings import get_settings; "
        "npe2.PluginManager.instance().discover(); "
        "assert '*.nii.gz' not in get_settings().plugins.extension2reader; "
        f"npe2.read([{str(path)!r}], plugin_name='napari-segtools', stack=False); "
        "print(get_settings().plugins.extension2reader['*.nii.gz'])"
    )
    env = {**os.environ, "NAPARI_CONFIG": str(tmp_path / "settings.yaml")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, encoding="utf-8"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "napari-segtools"


def test_the_settings_file_is_not_the_users():
    path = get_settings().config_path
    assert path is None or "segtools-napari-" in str(path)
