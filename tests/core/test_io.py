"""Reading and writing medical images keeps voxels and geometry exactly."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from napari_segtools.core.geometry import Geometry
from napari_segtools.core.io import is_image_path, looks_like_labels, read_image, write_image

SPACING = (2.5, 0.8, 0.6)
ORIGIN = (-12.5, 40.0, 7.25)
# numpy-order direction: a 90-degree rotation mixing the two in-plane axes
OBLIQUE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@pytest.fixture
def labels():
    rng = np.random.default_rng(1)
    return rng.integers(0, 5, size=(7, 9, 11)).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
@pytest.mark.parametrize("direction", [None, OBLIQUE], ids=["axis-aligned", "oblique"])
def test_write_read_round_trip_is_exact(tmp_path, labels, suffix, direction):
    geometry = Geometry(SPACING, ORIGIN, direction)
    path = write_image(tmp_path / f"seg{suffix}", labels, geometry)
    data, back = read_image(path)
    assert data.dtype == labels.dtype
    np.testing.assert_array_equal(data, labels)
    assert back == geometry
    np.testing.assert_allclose(back.spacing, SPACING, rtol=1e-6)
    np.testing.assert_allclose(back.origin, ORIGIN, atol=1e-5)


@pytest.mark.parametrize("suffix", [".nhdr", ".mhd"])
def test_detached_header_formats_read(tmp_path, suffix):
    import SimpleITK as sitk

    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.6, 0.8, 2.5))  # ITK order x, y, z
    image.SetOrigin((7.25, 40.0, -12.5))
    sitk.WriteImage(image, str(tmp_path / f"img{suffix}"))
    data, geometry = read_image(tmp_path / f"img{suffix}")
    np.testing.assert_array_equal(data, array)
    assert geometry.spacing == pytest.approx(SPACING)
    assert geometry.origin == pytest.approx(ORIGIN)


def _write_dicom_series(folder, volume, spacing, origin):
    import SimpleITK as sitk

    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z, plane in enumerate(volume):
        image = sitk.GetImageFromArray(plane[None])
        image.SetSpacing((spacing[2], spacing[1], spacing[0]))
        position = (origin[2], origin[1], origin[0] + z * spacing[0])
        image.SetOrigin(position)
        tags = {
            "0008|0060": "CT",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
            "0020|000e": "1.2.826.0.1.3680043.2.1125.2",
            "0020|0013": str(z + 1),
            "0020|0032": "\\".join(f"{p:.4f}" for p in position),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{spacing[1]}\\{spacing[2]}",
            "0018|0050": str(spacing[0]),
        }
        for key, value in tags.items():
            image.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice{z:03d}.dcm"))
        writer.Execute(image)


def test_dicom_series_folder(tmp_path):
    volume = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7) - 100
    _write_dicom_series(tmp_path / "series", volume, SPACING, ORIGIN)
    assert is_image_path(tmp_path / "series")
    data, geometry = read_image(tmp_path / "series")
    np.testing.assert_array_equal(data, volume)
    assert geometry.spacing == pytest.approx(SPACING, rel=1e-4)
    assert geometry.origin == pytest.approx(ORIGIN, abs=1e-3)


def test_real_dicom_slice_is_2d_in_hounsfield():
    from napari_segtools.core.samples import read_sample

    data, geometry = read_sample("dicom_pydicom", "CT_small.dcm")
    assert data.shape == (128, 128)
    assert (int(data.min()), int(data.max())) == (-896, 1167)  # rescale intercept -1024 applied
    assert geometry.spacing == pytest.approx((0.661468, 0.661468))


def test_real_ct_geometry_from_file():
    from napari_segtools.core.samples import read_sample

    ct, geometry = read_sample("ct_head_invesalius", "ct_head_0051.nii.gz")
    assert ct.shape == (108, 256, 256)
    assert geometry.spacing == pytest.approx((1.5, 0.9570312, 0.9570312))


def test_truncated_file_names_the_file(tmp_path, labels):
    path = write_image(tmp_path / "cut.nii.gz", labels, Geometry(SPACING))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ValueError, match=r"^cannot read cut\.nii\.gz: "):
        read_image(path)


def test_not_an_image_names_the_file(tmp_path):
    path = tmp_path / "notes.nii"
    path.write_text("this is not an image\n" * 40)
    with pytest.raises(ValueError, match=r"^cannot read notes\.nii: "):
        read_image(path)


def _nifti_5d(path, shape=(2, 3, 4, 1, 2)):
    """A minimal NIfTI-1 file with dim[0] = 5 (written by hand: 348-byte header + data)."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 5, *shape, 1, 1)
    struct.pack_into("<hh", header, 70, 2, 8)  # datatype uint8, 8 bits
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352.0)  # vox_offset
    header[344:348] = b"n+1\0"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes(header) + bytes(int(np.prod(shape))))


def test_five_d_is_refused(tmp_path):
    path = tmp_path / "series5d.nii.gz"
    _nifti_5d(path)
    with pytest.raises(ValueError, match=r"^cannot read series5d\.nii\.gz: .*5-D"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot read nothing.nii"):
        read_image(tmp_path / "nothing.nii")


def test_bad_write_suffix(tmp_path, labels):
    with pytest.raises(ValueError, match=r"use one of \.nii\.gz"):
        write_image(tmp_path / "seg.tif", labels, Geometry(SPACING))


def test_label_detection_by_name_and_intent(tmp_path, labels):
    geometry = Geometry(SPACING)
    assert looks_like_labels("liver_seg.nii.gz", labels)
    assert not looks_like_labels("liver_seg.nii.gz", labels.astype(np.float32))
    plain = write_image(tmp_path / "case01.nii.gz", labels, geometry)
    assert not looks_like_labels(plain, labels)
    raw = bytearray(gzip.decompress(plain.read_bytes()))
    struct.pack_into("<h", raw, 68, 1002)  # NIfTI-1 intent_code: NIFTI_INTENT_LABEL
    (tmp_path / "case02.nii.gz").write_bytes(gzip.compress(bytes(raw)))
    assert looks_like_labels(tmp_path / "case02.nii.gz", labels)


def _physical_points(array, geometry):
    """Map value -> physical position (mm) of its voxel, for arrays of unique values."""
    index = np.indices(array.shape).reshape(array.ndim, -1).T
    points = geometry.origin + (index * geometry.spacing) @ geometry.direction.T
    return dict(zip(array.ravel().tolist(), map(tuple, np.round(points, 4)), strict=False))


def test_reorient_moves_no_voxel_in_space(tmp_path):
    # a coronal-like file: numpy axes 0 and 1 swapped and axis 2 flipped
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    geometry = Geometry((3.0, 2.0, 1.5), (4.0, -7.0, 30.0), direction)
    array = np.arange(3 * 4 * 5, dtype=np.int32).reshape(3, 4, 5)
    path = write_image(tmp_path / "coronal.nrrd", array, geometry)
    data, reoriented = read_image(path, reorient=True)
    assert reoriented.is_axis_aligned
    assert data.shape == (4, 3, 5)
    assert reoriented.spacing == pytest.approx((2.0, 3.0, 1.5))
    assert _physical_points(data, reoriented) == _physical_points(array, geometry)
