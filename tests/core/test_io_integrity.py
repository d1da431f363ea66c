"""Files are verified, not trusted: truncation, lying headers, non-finite voxels, DICOM series."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from napari_segtools._reader import read_layers
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.io import list_dicom_series, read_image, write_image

sitk = pytest.importorskip("SimpleITK")

GEOMETRY = Geometry((2.0, 0.7, 0.5), (3.0, -4.0, 5.0))


@pytest.fixture
def volume():
    rng = np.random.default_rng(0)
    values = rng.normal(100, 20, (20, 30, 28)).astype(np.float32)
    values[0, 0, 0], values[1, 2, 3], values[4, 5, 6] = np.nan, np.inf, -np.inf
    return values


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.95])
def test_a_truncated_file_is_refused_naming_it(tmp_path, volume, suffix, fraction):
    path = write_image(tmp_path / f"scan{suffix}", volume, GEOMETRY)
    data = path.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError, match=rf"cannot read cut{suffix}: truncated"):
        read_image(cut)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_nan_and_infinite_voxels_survive_a_round_trip(tmp_path, volume, suffix):
    path = write_image(tmp_path / f"scan{suffix}", volume, GEOMETRY)
    values, geometry = read_image(path)
    assert np.isnan(values[0, 0, 0])
    assert values[1, 2, 3] == np.inf and values[4, 5, 6] == -np.inf
    np.testing.assert_array_equal(values, volume)  # NaN compares equal here
    assert geometry == GEOMETRY


def _patched_nifti(tmp_path, volume, offset: int, fmt: str, value) -> str:
    path = write_image(tmp_path / "scan.nii", volume, GEOMETRY, compress=False)
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    bad = tmp_path / "bad.nii"
    bad.write_bytes(bytes(data))
    return str(bad)


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (108, "<f", 1e9, "truncated"),  # vox_offset past the end of the file
        (42, "<h", 56, "truncated"),  # dim[1] doubled: twice the voxels declared
        (44, "<h", -5, r"dim\[2\] = -5"),
        (72, "<h", 8, "8 bits per voxel but datatype 16 has 32"),
        (40, "<h", 9, "declares 9 dimensions"),
    ],
)
def test_a_lying_nifti_header_is_refused(tmp_path, volume, offset, fmt, value, message):
    path = _patched_nifti(tmp_path, volume, offset, fmt, value)
    with pytest.raises(ValueError, match=rf"cannot read bad.nii: .*{message}"):
        read_image(path)


def _write_series(folder, volume, uid, *, skip=()):
    """Write ``volume`` (z, y, x) as one DICOM file a slice with positions along z."""
    folder.mkdir(exist_ok=True)
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((0.8, 0.8, 2.5))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for i in range(image.GetDepth()):
        if i in skip:
            continue
        plane = image[:, :, i]
        for key, value in {
            "0020|000e": uid,
            "0020|000d": uid + ".1",
            "0008|0018": f"{uid}.{100 + i}",
            "0008|0060": "CT",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|0013": str(i),
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, i))),
        }.items():
            plane.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"s{uid.replace('.', '')}_{i:03d}.dcm"))
        writer.Execute(plane)


@pytest.fixture
def slices():
    return (np.arange(6 * 8 * 9).reshape(6, 8, 9) % 200).astype(np.int16)


def test_a_folder_with_two_series_asks_which(tmp_path, slices):
    _write_series(tmp_path / "study", slices, "1.2.3.4.5")
    _write_series(tmp_path / "study", slices[::-1].copy(), "1.2.3.4.6")
    assert list_dicom_series(tmp_path / "study") == ["1.2.3.4.5", "1.2.3.4.6"]
    with pytest.raises(ValueError, match=r"holds 2 DICOM series; choose one with series_id="):
        read_image(tmp_path / "study")
    second, geometry = read_image(tmp_path / "study", series_id="1.2.3.4.6")
    np.testing.assert_array_equal(second, slices[::-1])
    assert geometry.spacing == pytest.approx((2.5, 0.8, 0.8))
    with pytest.raises(ValueError, match="no DICOM series '9.9'"):
        read_image(tmp_path / "study", series_id="9.9")


def test_the_napari_reader_opens_each_series_as_a_layer(tmp_path, slices):
    _write_series(tmp_path / "study", slices, "1.2.3.4.5")
    _write_series(tmp_path / "study", slices[::-1].copy(), "1.2.3.4.6")
    layers = read_layers(tmp_path / "study")
    assert [meta["name"] for _, meta, _ in layers] == ["study 1.2.3.4.5", "study 1.2.3.4.6"]
    np.testing.assert_array_equal(layers[0][0], slices)
    assert layers[0][1]["scale"] == pytest.approx((2.5, 0.8, 0.8))


def test_a_series_with_a_missing_slice_is_refused_naming_the_gap(tmp_path, slices):
    _write_series(tmp_path / "gap", slices, "1.2.3.4.7", skip=(3,))
    with pytest.raises(ValueError, match=r"unevenly spaced \(5 mm between slices 2 and 3, 2.5 mm"):
        read_image(tmp_path / "gap")


def test_big_endian_and_fortran_arrays_write_exactly(tmp_path, slices):
    swapped = np.asfortranarray(slices.astype(">i2"))
    path = write_image(tmp_path / "be.nrrd", swapped, Geometry((2.5, 0.8, 0.8)))
    values, _ = read_image(path)
    np.testing.assert_array_equal(values, slices)


def test_writing_into_a_missing_folder_names_it(tmp_path, slices):
    target = tmp_path / "nowhere" / "out.nii.gz"
    with pytest.raises(FileNotFoundError, match=r"cannot write .*out.nii.gz: the folder"):
        write_image(target, slices, Geometry((2.5, 0.8, 0.8)))


def test_writing_onto_a_folder_is_refused(tmp_path, slices):
    (tmp_path / "x.nii.gz").mkdir()
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        write_image(tmp_path / "x.nii.gz", slices, Geometry((2.5, 0.8, 0.8)))


def test_a_failed_write_is_an_oserror_and_leaves_no_file(tmp_path, slices, monkeypatch):
    def refuse(*_args):
        raise RuntimeError("ITK ERROR: ImageFileWriter: disk full")

    monkeypatch.setattr(sitk, "WriteImage", refuse)
    with pytest.raises(
        OSError, match=r"cannot write .*out.nrrd: ITK ERROR: ImageFileWriter: disk"
    ):
        write_image(tmp_path / "out.nrrd", slices, Geometry((2.5, 0.8, 0.8)))
    assert list(tmp_path.iterdir()) == []
