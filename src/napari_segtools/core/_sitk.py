"""The only numpy <-> SimpleITK geometry bridge.

numpy orders axes (z, y, x); ITK orders them (x, y, z). This module is the single place that
reverses axes, and it converts spacing, origin and direction both ways. A :class:`Geometry`
holds everything in numpy axis order: physical point of index ``i`` is
``origin + direction @ (spacing * i)``, all vectors in numpy axis order. In ITK order the same
relation holds with every vector reversed, so the ITK direction matrix is the numpy one with
both its rows and its columns reversed.

SimpleITK is imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import numpy as np

from .geometry import Geometry


def _flip_matrix(direction: np.ndarray) -> np.ndarray:
    """Reverse rows and columns: numpy-order direction <-> ITK-order direction."""
    return np.asarray(direction, float)[::-1, ::-1]


def array_to_sitk(array: np.ndarray, geometry: Geometry):
    """Wrap a numpy array as a SimpleITK image placed at ``geometry``.

    Parameters
    ----------
    array : (Z, Y, X) or (Y, X) ndarray
        Voxel values in numpy axis order; copied, never modified. ``bool`` becomes ``uint8``.
    geometry : Geometry
        Spacing (mm), origin (mm) and direction, in numpy axis order.

    Returns
    -------
    image : SimpleITK.Image
        Scalar image with spacing, origin and direction in ITK (x, y, z) order.

    Raises
    ------
    ValueError
        If ``geometry`` has a different number of axes than ``array``.
    """
    import SimpleITK as sitk

    arr = np.asarray(array)
    if geometry.ndim != arr.ndim:
        raise ValueError(
            f"`geometry` describes {geometry.ndim} axes but `array` is {arr.ndim}-D "
            f"(shape {arr.shape})"
        )
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not arr.dtype.isnative:  # ITK reads native byte order only
        arr = arr.astype(arr.dtype.newbyteorder("="))
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr), isVector=False)
    image.SetSpacing(tuple(reversed(geometry.spacing)))
    image.SetOrigin(tuple(reversed(geometry.origin)))
    image.SetDirection(tuple(_flip_matrix(geometry.direction).ravel()))
    return image


def sitk_to_array(image) -> tuple[np.ndarray, Geometry]:
    """Copy a SimpleITK image into a numpy array and its :class:`Geometry`.

    Parameters
    ----------
    image : SimpleITK.Image
        Scalar image, any pixel type.

    Returns
    -------
    array : ndarray
        Voxel values in numpy (z, y, x) order (a copy).
    geometry : Geometry
        Spacing (mm), origin (mm) and direction in numpy axis order.
    """
    import SimpleITK as sitk

    ndim = image.GetDimension()
    direction = np.asarray(image.GetDirection(), float).reshape(ndim, ndim)
    geometry = Geometry(
        spacing=tuple(reversed(image.GetSpacing())),
        origin=tuple(reversed(image.GetOrigin())),
        direction=_flip_matrix(direction).copy(),
    )
    return sitk.GetArrayFromImage(image), geometry


def index_to_sitk(index) -> tuple[int, ...]:
    """Convert a voxel index in numpy axis order to an ITK index (x, y, z) of Python ints."""
    return tuple(int(i) for i in reversed(tuple(index)))


def with_voxels(image, array: np.ndarray):
    """Return a copy of ``image`` holding ``array`` (numpy axis order) with the same geometry."""
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=False)
    out.CopyInformation(image)
    return out
