"""Slicer .seg.nrrd and ITK-SNAP label description files: round trips and the text on disk."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from napari_segtools._layer_style import PALETTE
from napari_segtools._reader import read_layers
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.segments.info import SegmentInfo
from napari_segtools.core.segments.itksnap import read_itksnap_labels, write_itksnap_labels
from napari_segtools.core.segments.seg_nrrd import read_seg_nrrd, write_seg_nrrd
from napari_segtools.core.segments.source_grid import SOURCE_GRID_KEY, SourceGrid

DIRECTION = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _case():
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[1, 1:3, 2:5] = 2
    labels[2, 0, 0] = 5
    geometry = Geometry((1.5, 0.8, 2.5), (10.0, -4.0, 7.0), DIRECTION)
    segments = (SegmentInfo(2, "liver", (0.8, 0.2, 0.1)),)
    return labels, geometry, segments


def _header(path) -> dict[str, str]:
    """The NRRD header fields as written (text lines up to the first blank line)."""
    fields = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                break
            if ":=" in line:
                key, value = line.split(":=", 1)
                fields[key] = value
            elif ": " in line and not line.startswith("#"):
                key, value = line.split(": ", 1)
                fields[key] = value
    return fields


def test_seg_nrrd_round_trip_keeps_values_names_colours_and_geometry(tmp_path):
    labels, geometry, segments = _case()
    path = write_seg_nrrd(tmp_path / "case.seg.nrrd", labels, geometry, segments=segments)
    back, back_geometry, back_segments = read_seg_nrrd(path)
    np.testing.assert_array_equal(back, labels)
    assert back_geometry == geometry
    liver, other = back_segments
    assert liver == segments[0]
    assert (other.value, other.name) == (5, "Segment_5")  # no SegmentInfo: default name
    assert other.color == pytest.approx(
        tuple(int(PALETTE[1][i : i + 2], 16) / 255 for i in (1, 3, 5))
    )


def test_seg_nrrd_header_has_slicer_fields(tmp_path):
    labels, geometry, segments = _case()
    header = _header(write_seg_nrrd(tmp_path / "c.seg.nrrd", labels, geometry, segments=segments))
    assert header["dimension"] == "3"
    assert header["kinds"] == "domain domain domain"
    assert header["space"] == "left-posterior-superior"
    assert header["sizes"] == "5 4 3"  # ITK order (x, y, z)
    assert header["Segmentation_SourceRepresentation"] == "Binary labelmap"
    assert header["Segmentation_ContainedRepresentationNames"] == "Binary labelmap|"
    assert header["Segment0_ID"] == "Segment_2"
    assert header["Segment0_Name"] == "liver"
    assert header["Segment0_Color"] == "0.8 0.2 0.1"
    assert header["Segment0_LabelValue"] == "2"
    assert header["Segment0_Layer"] == "0"
    # label 2 spans x 2..4, y 1..2, z 1..1 (numpy [1, 1:3, 2:5])
    assert header["Segment0_Extent"] == "2 4 1 2 1 1"
    assert header["Segment1_Extent"] == "0 0 0 0 2 2"


def test_seg_nrrd_opens_as_named_coloured_labels_with_its_grid(tmp_path):
    labels, geometry, segments = _case()
    path = write_seg_nrrd(tmp_path / "liver.seg.nrrd", labels, geometry, segments=segments)
    ((data, kwargs, kind),) = read_layers(path)
    assert kind == "labels" and kwargs["name"] == "liver"
    assert kwargs["features"] == {"index": [0, 2, 5], "name": ["background", "liver", "Segment_5"]}
    assert kwargs["colormap"][2] == "#cc331a"
    source = SourceGrid.from_metadata(kwargs["metadata"][SOURCE_GRID_KEY])
    assert source.shape == (3, 4, 5) and source.geometry == geometry
    assert data.shape == (5, 3, 4)  # shown reoriented
    assert int((data == 2).sum()) == int((labels == 2).sum()) == 6


def test_multi_layer_seg_nrrd_is_merged_when_disjoint_and_refused_when_overlapping(tmp_path):
    layers = np.zeros((2, 3, 4, 2), np.uint8)  # (z, y, x, layer)
    layers[0, 0, :2, 0] = 1
    layers[1, 2, 1:, 1] = 1  # same label value 1 in the second layer
    image = sitk.GetImageFromArray(layers, isVector=True)
    for i, name in enumerate(["left", "right"]):
        image.SetMetaData(f"Segment{i}_Name", name)
        image.SetMetaData(f"Segment{i}_LabelValue", "1")
        image.SetMetaData(f"Segment{i}_Layer", str(i))
        image.SetMetaData(f"Segment{i}_Color", "1 0 0" if i == 0 else "0 0 1")
    sitk.WriteImage(image, str(tmp_path / "two.seg.nrrd"))
    labels, _, segments = read_seg_nrrd(tmp_path / "two.seg.nrrd")
    assert [(s.value, s.name) for s in segments] == [(1, "left"), (2, "right")]  # renumbered
    assert int((labels == 1).sum()) == 2 and int((labels == 2).sum()) == 3
    layers[0, 0, 0, 1] = 1  # now a voxel is in both layers
    sitk.WriteImage(sitk.GetImageFromArray(layers, isVector=True), str(tmp_path / "o.seg.nrrd"))
    with pytest.raises(ValueError, match="layers overlap"):
        read_seg_nrrd(tmp_path / "o.seg.nrrd")


def test_seg_nrrd_refuses_2d_and_wrong_endings(tmp_path):
    with pytest.raises(ValueError, match="must be 3-D"):
        write_seg_nrrd(tmp_path / "a.seg.nrrd", np.ones((2, 2), np.uint8), Geometry((1.0, 1.0)))
    with pytest.raises(ValueError, match="ends in .seg.nrrd"):
        write_seg_nrrd(tmp_path / "a.nrrd", np.ones((1, 2, 2), np.uint8), Geometry((1, 1, 1)))
    assert list(tmp_path.iterdir()) == []


def test_itksnap_labels_round_trip_and_exact_line(tmp_path):
    segments = (
        SegmentInfo(12, "grey matter", (0.2, 0.4, 1.0)),
        SegmentInfo(3, 'the "bone"', (1.0, 0.0, 0.5)),
    )
    path = write_itksnap_labels(tmp_path / "seg.label.txt", segments)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1] == "# ITK-SnAP Label Description File"
    assert lines[-3] == '    0     0    0    0        0  0  0    "Clear Label"'
    assert lines[-2] == "    3   255    0  128        1  1  1    \"the 'bone'\""
    assert lines[-1] == '   12    51  102  255        1  1  1    "grey matter"'
    back = read_itksnap_labels(path)
    assert [(s.value, s.name) for s in back] == [(3, "the 'bone'"), (12, "grey matter")]
    assert back[1].color == pytest.approx((0.2, 0.4, 1.0))


def test_itksnap_reader_names_a_bad_line(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text('# comment\n    1 255 0 0 1 1 1 "ok"\nnot a label\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 3 is not an ITK-SNAP label line"):
        read_itksnap_labels(path)


def test_dicom_seg_files_open_through_read_dicom_seg(tmp_path, monkeypatch):
    import sys
    import types

    labels, geometry, segments = _case()
    fake = types.ModuleType("napari_segtools.core.segments.dicom_seg")
    fake.read_dicom_seg = lambda path: (labels, geometry, segments)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    uid = b"1.2.840.10008.5.1.4.1.1.66.4"
    path = tmp_path / "seg.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM\x02\x00\x02\x00UI\x1c\x00" + uid + b"\x02\x00")
    ((data, kwargs, kind),) = read_layers(path)
    assert kind == "labels" and kwargs["name"] == "seg"
    assert kwargs["features"]["name"] == ["background", "liver"]
    assert SourceGrid.from_metadata(kwargs["metadata"][SOURCE_GRID_KEY]).shape == (3, 4, 5)
    assert int((data == 5).sum()) == 1
