"""The installed distribution carries the root manifest and the sample files; both load."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from npe2 import PluginManifest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILES = [
    "ct_head_invesalius/ct_head_0051.nii.gz",
    "ct_head_invesalius/ct_head_0051_bone_mask.nii.gz",
    "itk_brain_slices/BrainProtonDensitySlice.png",
    "itk_t1_head_3d/KmeansTest_T1UCharRaw.nii.gz",
    "mni152_2009a/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "dicom_pydicom/CT_small.dcm",
    "lessons/lessons.npz",
]


@pytest.fixture(scope="module")
def manifest() -> PluginManifest:
    return PluginManifest.from_distribution("napari-segtools")


def test_installed_manifest_is_the_root_one(manifest):
    assert manifest.name == "napari-segtools"
    installed = Path(str(files("napari_segtools") / "napari.yaml"))
    root = ROOT / "napari.yaml"
    if root.exists():  # a source checkout: the packaged file must be the root file's content
        assert installed.read_text(encoding="utf-8") == root.read_text(encoding="utf-8")
    keys = {s.key for s in manifest.contributions.sample_data}
    assert {"ct_head", "brain_slice", "mni152", "phantom_3d", "metric_pitfalls"} <= keys


def test_every_python_name_imports(manifest):
    manifest.validate_imports()


def test_npe2_validate_cli():
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-segtools"],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_widgets_are_listed_in_the_segment_and_measure_menus(manifest):
    menus = manifest.contributions.menus
    segment = {item.command for item in menus["napari/layers/segment"]}
    assert {"napari-segtools.threshold", "napari-segtools.segments"} <= segment
    assert {i.command for i in menus["napari/layers/measure"]} == {
        "napari-segtools.evaluation",
        "napari-segtools.cohort",
        "napari-segtools.segments",
    }


@pytest.mark.parametrize("relative", SAMPLE_FILES)
def test_sample_files_and_licences_ship_in_the_package(relative):
    sample = files("napari_segtools") / "sample_images" / relative
    assert sample.is_file()
    folder = sample.parent if hasattr(sample, "parent") else None
    licences = [p.name for p in folder.iterdir() if p.name.endswith(".txt")]
    assert licences, f"no licence file beside {relative}"


def test_reader_contribution_round_trip(tmp_path):
    import npe2
    import numpy as np

    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.io import write_image

    labels = np.zeros((4, 5, 6), np.uint16)
    labels[1:3, 2:4, 1:5] = 7
    path = write_image(tmp_path / "kidney_seg.nrrd", labels, Geometry((3.0, 0.7, 0.7), (1, 2, 3)))
    npe2.PluginManager.instance().discover()
    ((data, meta, kind),) = npe2.read([str(path)], plugin_name="napari-segtools", stack=False)
    assert kind == "labels"
    np.testing.assert_array_equal(data, labels)
    assert tuple(meta["scale"]) == pytest.approx((3.0, 0.7, 0.7))
    assert tuple(meta["translate"]) == pytest.approx((1, 2, 3))


def test_reader_declines_unknown_files(tmp_path):
    from napari_segtools._reader import get_reader

    (tmp_path / "table.csv").write_text("a,b\n")
    assert get_reader(str(tmp_path / "table.csv")) is None
    assert get_reader(str(tmp_path)) is None  # an empty folder holds no DICOM series
    assert get_reader([str(tmp_path / "a.nii"), str(tmp_path / "b.nii")]) is None


def test_built_wheel_carries_real_files_and_validates(tmp_path):
    """The wheel holds the manifest and samples as files (not links), and npe2 loads it."""
    import os
    import shutil
    import zipfile

    source = tmp_path / "source"  # build from a copy: nothing is written into the checkout
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    ).stdout.split()
    for relative in listed:
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / relative).exists():
            shutil.copy2(ROOT / relative, source / relative, follow_symlinks=False)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SETUPTOOLS_SCM_PRETEND_VERSION": "0.0.0"},  # the copy has no .git
    )
    (wheel,) = tmp_path.glob("napari_segtools-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        manifest_info = archive.getinfo("napari_segtools/napari.yaml")
        assert (manifest_info.external_attr >> 16) & 0o170000 != 0o120000  # not a symlink
        assert archive.read(manifest_info).decode() == (ROOT / "napari.yaml").read_text(
            encoding="utf-8"
        )
        names = set(archive.namelist())
    for relative in SAMPLE_FILES:
        assert f"napari_segtools/sample_images/{relative}" in names
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            wheel,
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import napari_segtools, npe2; "
        f"assert napari_segtools.__file__.startswith({str(target)!r}), napari_segtools.__file__; "
        "m = npe2.PluginManifest.from_distribution('napari-segtools'); print(m.name)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, encoding="utf-8"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "napari-segtools"


def test_activation_hook_and_reader_patterns_agree(manifest):
    """The reader claims exactly the endings its activation hook prefers it for, plus DICOM."""
    from napari_segtools._reader import READER_PATTERNS

    assert manifest.on_activate == "napari_segtools._reader:activate"
    (reader,) = manifest.contributions.readers
    assert set(READER_PATTERNS) <= set(reader.filename_patterns)
    assert set(reader.filename_patterns) - set(READER_PATTERNS) == {"*.dcm"}
    assert reader.accepts_directories


def _segtools_write(path, layer) -> list[str]:
    import npe2

    npe2.PluginManager.instance().discover()
    return npe2.write(str(path), [layer], plugin_name="napari-segtools")


def test_writer_saves_a_read_labels_layer_on_the_file_grid(tmp_path):
    """File > Save of the T1 head's mask: the file's 128x128x62 coronal grid, not the display's."""
    import numpy as np
    import SimpleITK as sitk
    from napari.layers import Labels

    from napari_segtools._reader import read_layers

    original = files("napari_segtools") / "sample_images" / SAMPLE_FILES[3]
    ((data, kwargs, _),) = read_layers(original)
    layer = Labels(
        (data > 100).astype(np.uint8),
        **{k: kwargs[k] for k in ("scale", "translate", "metadata", "name")},
    )
    (written,) = _segtools_write(tmp_path / "head_mask.nii.gz", layer)
    out, ref = sitk.ReadImage(written), sitk.ReadImage(str(original))
    assert out.GetSize() == ref.GetSize() == (128, 128, 62)
    assert out.GetDirection() == pytest.approx(ref.GetDirection())
    assert out.GetOrigin() == pytest.approx(ref.GetOrigin())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(ref) > 100)


def test_writer_carries_segment_names_and_colours(tmp_path):
    import numpy as np
    from napari.layers import Labels

    from napari_segtools._reader import read_layers
    from napari_segtools.core.segments.itksnap import read_itksnap_labels
    from napari_segtools.core.segments.seg_nrrd import read_seg_nrrd

    labels = np.zeros((2, 3, 4), np.uint8)
    labels[1, 1:, 1:3] = 4
    layer = Labels(
        labels,
        scale=(3.0, 0.7, 0.7),
        translate=(5.0, 0.0, -2.0),
        features={"index": [0, 4], "name": ["background", "lesion"]},
        colormap={4: "#ff0000", None: "transparent"},
    )
    (seg_path,) = _segtools_write(tmp_path / "lesion.seg.nrrd", layer)
    back, geometry, segments = read_seg_nrrd(seg_path)
    np.testing.assert_array_equal(back, labels)
    assert geometry.spacing == pytest.approx((3.0, 0.7, 0.7))
    assert geometry.origin == pytest.approx((5.0, 0.0, -2.0))
    assert [(s.value, s.name, s.color) for s in segments] == [(4, "lesion", (1.0, 0.0, 0.0))]
    _segtools_write(tmp_path / "lesion.nii.gz", layer)
    (seg,) = read_itksnap_labels(tmp_path / "lesion.label.txt")
    assert (seg.value, seg.name, seg.color) == (4, "lesion", (1.0, 0.0, 0.0))
    ((_, kwargs, kind),) = read_layers(tmp_path / "lesion.nii.gz")  # the names come back
    assert kind == "labels" and kwargs["features"]["name"] == ["background", "lesion"]
    assert kwargs["colormap"][4] == "#ff0000"


def test_writer_falls_back_to_the_layer_grid_with_a_warning(tmp_path):
    """Labels that lie outside the recorded file grid are saved where they are, and said so."""
    import numpy as np
    import SimpleITK as sitk
    from napari.layers import Labels

    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.segments.source_grid import SOURCE_GRID_KEY, SourceGrid

    grid = SourceGrid((2, 2, 2), Geometry((1.0, 1.0, 1.0)), "/gone/ct.nii.gz")
    layer = Labels(
        np.ones((2, 2, 2), np.uint8),
        translate=(40.0, 0.0, 0.0),
        metadata={SOURCE_GRID_KEY: grid.as_metadata()},
    )
    with pytest.warns(UserWarning, match="on the layer's own grid: the labels do not fit"):
        (written,) = _segtools_write(tmp_path / "far.nrrd", layer)
    assert sitk.ReadImage(written).GetOrigin() == pytest.approx((0.0, 0.0, 40.0))
    assert [p.name for p in tmp_path.iterdir()] == ["far.nrrd"]
