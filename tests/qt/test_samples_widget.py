"""Each sample opens through napari's File > Open Sample with the file's scale and a reference."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Image, Labels

EXPECTED = {
    "ct_head": ((1.5, 0.9570312, 0.9570312), (108, 256, 256)),
    "brain_slice": ((1.0, 1.0), (217, 181)),
    "mni152": ((1.0, 1.0, 1.0), (189, 233, 197)),
    "t1_head": ((2.0, 3.0, 2.0), (128, 62, 128)),  # coronal file, shown axially
    "phantom_3d": ((2.5, 0.8, 0.8), (40, 128, 128)),
    "phantom_2d": ((1.0, 0.5), (128, 160)),
}


@pytest.mark.parametrize("key", EXPECTED)
def test_sample_opens_with_scale_and_reference(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", key)
    scale, shape = EXPECTED[key]
    image = next(layer for layer in viewer.layers if isinstance(layer, Image))
    labels = next(layer for layer in viewer.layers if isinstance(layer, Labels))
    assert image.data.shape == shape and labels.data.shape == shape
    np.testing.assert_allclose(image.scale, scale, rtol=1e-6)
    np.testing.assert_allclose(labels.scale, scale, rtol=1e-6)
    assert labels.data.max() >= 1


def test_ct_bone_reference_is_the_documented_threshold(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", "ct_head")
    ct, bone = viewer.layers["head CT"].data, viewer.layers["head CT bone reference"].data
    np.testing.assert_array_equal(bone.astype(bool), (ct >= 226) & (ct <= 3071))
    assert int(bone.sum()) == 475_759


def test_brain_slice_reference_counts(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", "brain_slice")
    counts = np.bincount(viewer.layers["brain PD slice reference"].data.ravel(), minlength=4)
    # ITK ConnectedThreshold: white matter 9215, ventricle 1240, grey matter 6702 (disjoint)
    assert counts[1:].tolist() == [9215, 1240, 6702]


def test_mni152_labels_match_documented_counts(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", "mni152")
    counts = np.bincount(viewer.layers["MNI152 reference"].data.ravel())
    assert counts[1:].tolist() == [1_079_599, 632_004]


def test_oblique_file_opens_with_direction_as_affine(make_napari_viewer, tmp_path):
    from napari_segtools.core.geometry import Geometry
    from napari_segtools.core.io import write_image

    angle = np.deg2rad(10)
    direction = np.eye(3)
    direction[1:, 1:] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    geometry = Geometry((3.0, 0.9, 0.7), (5.0, -20.0, 12.0), direction)
    path = write_image(tmp_path / "tilted.nii.gz", np.arange(60.0).reshape(3, 4, 5), geometry)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin="napari-segtools")
    np.testing.assert_allclose(layer.metadata["direction"], direction, atol=1e-6)
    np.testing.assert_allclose(layer.scale, (3.0, 0.9, 0.7), rtol=1e-6)
    # voxel index i lands at origin + direction @ (spacing * i) in world coordinates (mm)
    index = np.array([2, 3, 4])
    expected = np.asarray(geometry.origin) + direction @ (np.asarray(geometry.spacing) * index)
    np.testing.assert_allclose(layer.data_to_world(index), expected, atol=1e-4)


HOVER_NAMES = {
    "ct_head": ("head CT bone reference", {1: "bone"}),
    "brain_slice": (
        "brain PD slice reference",
        {1: "white matter", 2: "ventricle", 3: "grey matter"},
    ),
    "mni152": ("MNI152 reference", {1: "grey matter", 2: "white matter"}),
    "t1_head": ("T1 head brain mask (approx.)", {1: "brain (approx.)"}),
    "phantom_3d": ("phantom 3D reference", {1: "ellipsoid", 2: "bright core", 3: "dark lesion"}),
    "phantom_2d": ("phantom 2D reference", {1: "ellipsoid", 2: "bright core", 3: "dark lesion"}),
    "lessons": ("ring task truth", {1: "malignant lesion", 2: "benign lesion"}),
}


@pytest.mark.parametrize("key", HOVER_NAMES)
def test_sample_labels_show_their_names_on_hover_in_contrasting_colours(make_napari_viewer, key):
    from napari_segtools._layer_style import PREVIEW_COLOR

    viewer = make_napari_viewer()
    viewer.open_sample("napari-segtools", key)
    name, names = HOVER_NAMES[key]
    layer = viewer.layers[name]
    data = np.asarray(layer.data)
    colours = set()
    for value, text in names.items():
        index = np.argwhere(data == value)[0]
        world = layer.data_to_world(index)
        viewer.dims.set_point(range(len(world)), world)  # hover happens on the shown slice
        status = layer.get_status(world, world=True)["coordinates"]
        assert text in status, status
        rgba = layer.colormap.map(np.array([value]))[0]
        assert rgba[3] > 0 and np.ptp(rgba[:3]) > 0.3, rgba  # saturated: no grey, no white
        colours.add(tuple(np.round(rgba, 3)))
    assert len(colours) == len(names)  # each value its own colour
    preview = np.array([int(PREVIEW_COLOR[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    assert all(np.abs(np.array(c[:3]) - preview).max() > 0.1 for c in colours)
