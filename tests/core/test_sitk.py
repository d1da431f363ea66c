"""The numpy <-> SimpleITK geometry bridge: axis reversal, spacing, origin, direction."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segtools.core._sitk import array_to_sitk, sitk_to_array
from napari_segtools.core.geometry import Geometry

sitk = pytest.importorskip("SimpleITK")


def _rotation_z(deg):
    """Rotation about numpy axis 0 (z), mixing axes 1 and 2 (y, x)."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


@pytest.fixture
def geometry():
    return Geometry(spacing=(2.5, 0.8, 0.6), origin=(-10.0, 20.5, 3.25), direction=_rotation_z(30))


def test_round_trip_keeps_values_and_geometry(geometry):
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    img = array_to_sitk(arr, geometry)
    back, geo = sitk_to_array(img)
    np.testing.assert_array_equal(back, arr)
    assert back.dtype == np.int16
    assert geo == geometry


def test_itk_order_is_reversed(geometry):
    arr = np.zeros((4, 5, 6), np.float32)
    img = array_to_sitk(arr, geometry)
    assert img.GetSize() == (6, 5, 4)
    assert img.GetSpacing() == pytest.approx((0.6, 0.8, 2.5))
    assert img.GetOrigin() == pytest.approx((3.25, 20.5, -10.0))


def test_physical_points_agree_with_numpy_convention(geometry):
    """ITK's index->point equals origin + D @ (spacing * index) in numpy order, reversed."""
    img = array_to_sitk(np.zeros((4, 5, 6), np.uint8), geometry)
    index = np.array([3, 1, 5])  # numpy (z, y, x)
    expected = np.asarray(geometry.origin) + geometry.direction @ (
        np.asarray(geometry.spacing) * index
    )
    itk_point = img.TransformIndexToPhysicalPoint(tuple(int(i) for i in index[::-1]))
    np.testing.assert_allclose(itk_point[::-1], expected, atol=1e-9)


def test_values_land_at_reversed_index(geometry):
    arr = np.zeros((4, 5, 6), np.uint8)
    arr[1, 2, 3] = 7
    img = array_to_sitk(arr, geometry)
    assert img.GetPixel(3, 2, 1) == 7


def test_bool_becomes_uint8_and_input_untouched():
    arr = np.zeros((3, 4), bool)
    arr[1, 2] = True
    img = array_to_sitk(arr, Geometry(spacing=(1.5, 0.5)))
    back, geo = sitk_to_array(img)
    assert back.dtype == np.uint8 and back[1, 2] == 1 and back.sum() == 1
    assert arr.dtype == bool
    assert geo == Geometry(spacing=(1.5, 0.5))


def test_fortran_order_input(geometry):
    arr = np.asfortranarray(np.random.default_rng(0).random((4, 5, 6)))
    back, _ = sitk_to_array(array_to_sitk(arr, geometry))
    np.testing.assert_array_equal(back, arr)


def test_file_round_trip_keeps_geometry(tmp_path, geometry):
    arr = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    path = str(tmp_path / "img.nii.gz")
    sitk.WriteImage(array_to_sitk(arr, geometry), path)
    back, geo = sitk_to_array(sitk.ReadImage(path))
    np.testing.assert_array_equal(back, arr)
    assert geo == geometry


def test_mismatched_dimensions_named():
    with pytest.raises(ValueError, match="`geometry` describes 2 axes but `array` is 3-D"):
        array_to_sitk(np.zeros((2, 3, 4)), Geometry(spacing=(1.0, 1.0)))
