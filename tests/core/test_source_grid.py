"""Saving on the source file's grid: every 3-D sample, an oblique source, bad input."""

from __future__ import annotations

import json
import warnings
from importlib.resources import files

import numpy as np
import pytest
import SimpleITK as sitk

from napari_segtools._reader import read_layers
from napari_segtools.core.geometry import Geometry, layer_geometry
from napari_segtools.core.segments.info import SegmentInfo
from napari_segtools.core.segments.itksnap import itksnap_labels_path, read_itksnap_labels
from napari_segtools.core.segments.source_grid import (
    SOURCE_GRID_KEY,
    GridMismatchError,
    ResampledWarning,
    SourceGrid,
    reorient_for_display,
    to_source_grid,
    write_on_source_grid,
)

SAMPLES = files("napari_segtools") / "sample_images"
NIFTI_3D = [
    "ct_head_invesalius/ct_head_0051.nii.gz",
    "ct_head_invesalius/ct_head_0051_bone_mask.nii.gz",
    "itk_t1_head_3d/KmeansTest_T1UCharRaw.nii.gz",
    "itk_t1_head_3d/KmeansTest_T1RawSkullStrip.nii.gz",
    "mni152_2009a/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "mni152_2009a/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "mni152_2009a/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
]


def _same_header(written, original) -> None:
    assert written.GetSize() == original.GetSize()
    np.testing.assert_allclose(written.GetSpacing(), original.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(written.GetOrigin(), original.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(written.GetDirection(), original.GetDirection(), atol=1e-6)


def test_every_3d_sample_nifti_is_listed():
    found = sorted(
        f"{d.name}/{f.name}"
        for d in SAMPLES.iterdir()
        if d.is_dir()
        for f in d.iterdir()
        if f.name.endswith(".nii.gz")
    )
    assert found == sorted(NIFTI_3D)


@pytest.mark.parametrize("relative", NIFTI_3D)
def test_mask_saved_from_the_display_lands_on_the_file_grid(relative, tmp_path):
    """The issue's acceptance test: read reoriented, save, compare to the file unreoriented."""
    path = SAMPLES / relative
    ((data, kwargs, _kind),) = read_layers(path)
    source = SourceGrid.from_metadata(kwargs["metadata"][SOURCE_GRID_KEY])
    display = layer_geometry(kwargs, ndim=3)
    original = sitk.ReadImage(str(path))
    voxels = sitk.GetArrayFromImage(original)
    assert source.shape == voxels.shape
    threshold = (float(voxels.min()) + float(voxels.max())) / 2  # bone on CT, 1 on masks
    mask = (data > threshold).astype(np.uint8)
    assert 0 < mask.sum() < mask.size
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the exact path: no resampling warning
        out = write_on_source_grid(tmp_path / "mask.nii", mask, display, source=source)
    written = sitk.ReadImage(str(out))
    _same_header(written, original)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), voxels > threshold)
    if "mask" in relative:  # the mask itself comes back as the file's own voxels
        back = write_on_source_grid(tmp_path / "same.nrrd", data, display, source=source)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(back))), voxels)


def test_t1_head_display_and_file_grids_differ_as_the_issue_says():
    ((data, kwargs, _),) = read_layers(SAMPLES / NIFTI_3D[2])
    source = SourceGrid.from_metadata(kwargs["metadata"][SOURCE_GRID_KEY])
    assert data.shape == (128, 62, 128)  # coronal file shown axially
    assert source.shape == (62, 128, 128)
    assert source.geometry.spacing == (3.0, 2.0, 2.0)
    assert source.geometry.origin == (0.0, 254.0, 0.0)


def _oblique_case():
    angle = np.deg2rad(30.0)
    rotation = np.eye(3)
    rotation[1:, 1:] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    source = SourceGrid((6, 20, 20), Geometry((2.0, 1.0, 1.0), (0.3, -5.1, 2.2), rotation))
    display = Geometry((2.0, 0.7, 0.7), (0.3, -12.05, -3.05))
    # discs about the source's centre axis (radius 6 and 3 mm; the source is 20 mm across)
    centre = source.geometry.index_to_physical((0, 9.5, 9.5))[1:]
    yx = np.indices((40, 40)).transpose(1, 2, 0) * 0.7 + display.origin[1:]
    radius = np.linalg.norm(yx - centre, axis=-1)
    labels = np.zeros((6, 40, 40), np.uint8)
    labels[1:5] = np.where(radius < 3.0, 7, np.where(radius < 6.0, 3, 0))
    return labels, display, source


def test_oblique_source_is_resampled_by_nearest_neighbour_and_says_so():
    labels, display, source = _oblique_case()
    with pytest.warns(ResampledWarning, match="nearest neighbour"):
        out = to_source_grid(labels, display, source)
    assert out.shape == source.shape and out.dtype == labels.dtype
    # independent check: each source voxel centre takes the nearest display voxel
    index = np.indices(source.shape).reshape(3, -1).T
    g = source.geometry
    physical = g.origin + (index * g.spacing) @ g.direction.T
    continuous = (physical - display.origin) / display.spacing
    nearest = np.floor(continuous + 0.5).astype(int)
    inside = np.all((nearest >= 0) & (nearest < labels.shape), axis=1)
    expected = np.zeros(len(index), np.uint8)
    expected[inside] = labels[tuple(nearest[inside].T)]
    np.testing.assert_array_equal(out.ravel(), expected)
    assert set(np.unique(out)) == {0, 3, 7}


def test_resampling_refused_when_not_allowed_or_labels_fall_outside():
    labels, display, source = _oblique_case()
    with pytest.raises(GridMismatchError, match="needs resampling"):
        to_source_grid(labels, display, source, resample=False)
    far = np.zeros_like(labels)
    far[0, 39, 39] = 1  # outside the rotated source grid
    with pytest.raises(GridMismatchError, match="1 of 1 labelled voxels lie outside"):
        to_source_grid(far, display, source)


def test_permuted_and_flipped_source_comes_back_exactly():
    direction = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    source = SourceGrid((3, 4, 5), Geometry((1.5, 0.8, 2.5), (10.0, -4.0, 7.0), direction))
    labels = np.arange(60, dtype=np.uint16).reshape(3, 4, 5)
    display_labels, display = reorient_for_display(labels, source.geometry)
    assert display.is_axis_aligned and display_labels.shape != labels.shape
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(to_source_grid(display_labels, display, source), labels)


def test_source_grid_metadata_is_json_and_round_trips():
    source = SourceGrid((2, 3, 4), Geometry((3.0, 0.7, 0.7), (1, 2, 3)), "/data/ct.nii.gz")
    record = json.loads(json.dumps(source.as_metadata()))
    back = SourceGrid.from_metadata(record)
    assert back.shape == (2, 3, 4) and back.path == "/data/ct.nii.gz"
    assert back.geometry == source.geometry
    with pytest.raises(ValueError, match="not a source grid record"):
        SourceGrid.from_metadata({"shape": [2, 3]})
    with pytest.raises(FileNotFoundError, match="missing.nii"):
        SourceGrid.from_file("/no/such/missing.nii")


def test_single_dicom_picture_is_saved_as_its_one_slice_grid(tmp_path):
    path = SAMPLES / "dicom_pydicom" / "CT_small.dcm"
    ((data, kwargs, _),) = read_layers(path)
    source = SourceGrid.from_metadata(kwargs["metadata"][SOURCE_GRID_KEY])
    assert data.ndim == 2 and source.shape == (1, 128, 128)
    mask = (data > 1000).astype(np.uint8)
    out = write_on_source_grid(tmp_path / "m.nrrd", mask, layer_geometry(kwargs), source=source)
    written, original = sitk.ReadImage(str(out)), sitk.ReadImage(str(path))
    _same_header(written, original)
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(original) > 1000
    )


def test_nifti_with_segments_gets_an_itksnap_file_beside(tmp_path):
    labels = np.zeros((2, 3, 4), np.uint8)
    labels[1, 1:, 2:] = 2
    grid = SourceGrid(labels.shape, Geometry((3.0, 0.7, 0.7)))
    segments = (SegmentInfo(2, "white matter", (1.0, 0.5, 0.0)),)
    out = write_on_source_grid(tmp_path / "wm.nii.gz", labels, grid.geometry, source=grid,
                               segments=segments)  # fmt: skip
    beside = itksnap_labels_path(out)
    assert beside.name == "wm.label.txt"
    (seg,) = read_itksnap_labels(beside)
    assert (seg.value, seg.name) == (2, "white matter")
    assert seg.color == pytest.approx((1.0, 128 / 255, 0.0))


def test_bad_targets_leave_nothing_written(tmp_path):
    labels = np.ones((2, 2, 2), np.uint8)
    grid = SourceGrid(labels.shape, Geometry((1.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match="use one of .seg.nrrd"):
        write_on_source_grid(tmp_path / "mask.png", labels, grid.geometry, source=grid)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_on_source_grid(tmp_path / "no" / "m.nii", labels, grid.geometry, source=grid)
    shifted = Geometry((1.0, 1.0, 1.0), (50.0, 0.0, 0.0))
    with pytest.raises(GridMismatchError, match="do not fit"):
        write_on_source_grid(tmp_path / "m.nii", labels, shifted, source=grid)
    assert list(tmp_path.iterdir()) == []
