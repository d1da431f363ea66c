"""DICOM SEG: written against its source series with highdicom, read back voxel for voxel."""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from napari_segtools.core.geometry import Geometry  # noqa: E402
from napari_segtools.core.io import read_image, write_image  # noqa: E402
from napari_segtools.core.samples import sample_path  # noqa: E402
from napari_segtools.core.segments.dicom_seg import (  # noqa: E402
    read_dicom_seg,
    write_dicom_seg,
)
from napari_segtools.core.segments.info import SegmentInfo  # noqa: E402

CT = sample_path("dicom_pydicom", "CT_small.dcm")
SEGMENTS = (
    SegmentInfo(1, "soft tissue", (1.0, 0.5, 0.0)),
    SegmentInfo(2, "bone", (0.9, 0.9, 0.8)),
)


def _threshold(image: np.ndarray) -> np.ndarray:
    labels = np.zeros(image.shape, np.uint8)
    labels[image > np.percentile(image, 50)] = 1
    labels[image > np.percentile(image, 90)] = 2
    return labels


def _series(folder, n_slices=5, step_mm=5.0, reverse_names=True):
    """Write a synthetic CT series: the sample slice repeated, each shifted by ``step_mm``."""
    folder.mkdir()
    source = pydicom.dcmread(str(CT))
    series_uid = pydicom.uid.generate_uid()
    for i in range(n_slices):
        ds = copy.deepcopy(source)
        x, y, z = (float(v) for v in source.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + step_mm * i]
        ds.InstanceNumber = i + 1
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        pixels = ds.pixel_array.copy()
        pixels[:, : 10 * i] = pixels.min()  # each slice different
        ds.PixelData = pixels.tobytes()
        # file names against slice order: the writer must sort by position, not by name
        ds.save_as(folder / f"slice{(n_slices - i) if reverse_names else i:03d}.dcm")
    return folder


def test_single_ct_slice_round_trip(tmp_path):
    image, geometry = read_image(CT)
    labels = _threshold(image)
    path = write_dicom_seg(tmp_path / "seg.dcm", labels, source=CT, segments=SEGMENTS)
    back, back_geometry, infos = read_dicom_seg(path)
    np.testing.assert_array_equal(back, labels)
    assert back_geometry == geometry
    assert [(s.value, s.name) for s in infos] == [(1, "soft tissue"), (2, "bone")]
    # the colour goes through CIELab (16-bit): back to RGB within one 8-bit step
    for written, read in zip(SEGMENTS, infos, strict=True):
        np.testing.assert_allclose(read.color, written.color, atol=1 / 255 + 1e-9)


def test_written_seg_references_its_source(tmp_path):
    source = pydicom.dcmread(str(CT))
    labels = _threshold(read_image(CT)[0])
    path = write_dicom_seg(
        tmp_path / "seg.dcm",
        labels,
        source=CT,
        segments=SEGMENTS,
        series_description="liver study",
    )
    seg = pydicom.dcmread(path)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.Modality == "SEG"
    assert seg.SegmentationType == "BINARY" and seg.SeriesDescription == "liver study"
    assert seg.SeriesInstanceUID != source.SeriesInstanceUID
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    (referenced,) = seg.ReferencedSeriesSequence
    assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
    assert referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == (
        source.SOPInstanceUID
    )
    for frame in seg.PerFrameFunctionalGroupsSequence:
        (derivation,) = frame.DerivationImageSequence
        assert derivation.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    first = seg.SegmentSequence[0]
    assert first.SegmentLabel == "soft tissue" and first.SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert first.SegmentedPropertyTypeCodeSequence[0].CodeValue == "85756007"  # SNOMED Tissue
    assert first.SegmentAlgorithmName == "napari-segtools"


def test_multi_slice_series_round_trip(tmp_path):
    folder = _series(tmp_path / "series")
    image, geometry = read_image(folder)
    assert image.shape == (5, 128, 128) and geometry.spacing[0] == pytest.approx(5.0)
    labels = _threshold(image)
    labels[0] = 0  # an empty first slice and a one-slice-only segment
    labels[4, :5, :5] = 3
    segments = (*SEGMENTS, SegmentInfo(3, "marker", (0.0, 0.0, 1.0)))
    path = write_dicom_seg(tmp_path / "seg.dcm", labels, source=folder, segments=segments)
    back, back_geometry, infos = read_dicom_seg(path)
    np.testing.assert_array_equal(back, labels)
    assert back_geometry == geometry
    assert [s.name for s in infos] == ["soft tissue", "bone", "marker"]
    # the same from an explicit (unsorted) list of files
    files = sorted(folder.iterdir())
    again = write_dicom_seg(tmp_path / "again.dcm", labels, source=files, segments=segments)
    np.testing.assert_array_equal(read_dicom_seg(again)[0], labels)


def test_labels_on_the_display_grid_are_put_back_exactly(tmp_path):
    folder = _series(tmp_path / "series", n_slices=3)
    image, geometry = read_image(folder)
    labels = _threshold(image)
    labels[2, 0, 0] = 2  # asymmetric
    # the same voxels on a grid with axes swapped and one flipped (as a reorientation does)
    shown = np.flip(np.transpose(labels, (0, 2, 1)), axis=0)
    far = geometry.index_to_physical((2, 0, 0))
    shown_geometry = Geometry(
        (geometry.spacing[0], geometry.spacing[2], geometry.spacing[1]),
        tuple(far),
        geometry.direction[:, [0, 2, 1]] * [-1, 1, 1],
    )
    path = write_dicom_seg(tmp_path / "seg.dcm", shown, source=folder, geometry=shown_geometry)
    np.testing.assert_array_equal(read_dicom_seg(path)[0], labels)
    shifted = Geometry(shown_geometry.spacing, (0.0, 0.0, 0.0), shown_geometry.direction)
    with pytest.raises(ValueError, match="do not lie on the grid of the source series.*origin"):
        write_dicom_seg(tmp_path / "bad.dcm", shown, source=folder, geometry=shifted)


def test_values_beyond_one_to_n_are_numbered_in_order(tmp_path):
    labels = np.zeros((128, 128), np.uint8)
    labels[:20, :20], labels[50:60, 50:60] = 4, 9
    path = write_dicom_seg(
        tmp_path / "seg.dcm", labels, source=CT, segments=[SegmentInfo(9, "nine")]
    )
    back, _, infos = read_dicom_seg(path)
    np.testing.assert_array_equal(back, np.select([labels == 4, labels == 9], [1, 2], 0))
    assert [(s.value, s.name) for s in infos] == [(1, "Segment 4"), (2, "nine")]


def test_a_bool_mask_is_segment_one(tmp_path):
    mask = read_image(CT)[0] > 1000
    path = write_dicom_seg(tmp_path / "seg.dcm", mask, source=CT)
    back, _, infos = read_dicom_seg(path)
    np.testing.assert_array_equal(back, mask.astype(np.uint8))
    assert [s.name for s in infos] == ["Segment 1"]


def test_bad_inputs_say_what_is_wrong(tmp_path):
    labels = _threshold(read_image(CT)[0])
    nifti = write_image(tmp_path / "ct.nii.gz", labels, Geometry((1.0, 1.0)))
    with pytest.raises(ValueError, match="needs the DICOM series .*; ct.nii.gz is not DICOM"):
        write_dicom_seg(tmp_path / "seg.dcm", labels, source=nifti)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty .*is not DICOM"):
        write_dicom_seg(tmp_path / "seg.dcm", labels, source=tmp_path / "empty")
    with pytest.raises(ValueError, match=r"`labels` has shape \(128, 64\) but the source series"):
        write_dicom_seg(tmp_path / "seg.dcm", labels[:, :64], source=CT)
    with pytest.raises(ValueError, match="holds no segment"):
        write_dicom_seg(tmp_path / "seg.dcm", np.zeros_like(labels), source=CT)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_dicom_seg(tmp_path / "nowhere" / "seg.dcm", labels, source=CT)
    with pytest.raises(ValueError, match="not a DICOM file"):
        read_dicom_seg(nifti)
    with pytest.raises(ValueError, match="not a DICOM SEG"):
        read_dicom_seg(CT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "empty"]


def test_missing_highdicom_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "highdicom", None)
    labels = _threshold(read_image(CT)[0])
    with pytest.raises(ImportError, match=r"pip install 'napari-segtools\[dicom\]'"):
        write_dicom_seg(tmp_path / "seg.dcm", labels, source=CT)
    assert not list(tmp_path.iterdir())
