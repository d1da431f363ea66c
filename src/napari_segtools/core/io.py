"""Read and write medical images (NIfTI, NRRD, MetaImage, DICOM) with their geometry.

Arrays are in numpy axis order (z, y, x); :class:`~napari_segtools.core._types.Geometry` holds
spacing and origin in mm and the direction cosines in the same order. SimpleITK does the file work
and :mod:`napari_segtools.core._sitk` the axis bookkeeping.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ._types import Geometry

#: File name endings read and written through SimpleITK.
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
WRITE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")

_LABEL_NAME = re.compile(r"(label|seg|mask|aseg|parc|annot|truth|_gt\b|gt_)", re.IGNORECASE)
_NIFTI_INTENT_LABEL = "1002"


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), "")


def is_image_path(path) -> bool:
    """True for a file with a supported ending or a folder holding a DICOM series."""
    path = Path(path)
    if path.is_dir():
        return bool(_dicom_series_files(path))
    return bool(_suffix(path))


def _dicom_series_files(folder: Path) -> list[str]:
    import SimpleITK as sitk

    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not ids:
        return []
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), ids[0]))


def _read_sitk(path: Path):
    import SimpleITK as sitk

    if path.is_dir():
        files = _dicom_series_files(path)
        if not files:
            raise ValueError(f"cannot read {path.name}: the folder holds no DICOM series")
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        reader.MetaDataDictionaryArrayUpdateOn()
        return reader.Execute()
    if not path.exists():
        raise FileNotFoundError(f"cannot read {path.name}: no such file ({path})")
    return sitk.ReadImage(str(path))


def _grey_from_equal_channels(image, path: Path):
    """Channel 0 of a vector image whose channels are all equal (grey stored as RGB)."""
    import SimpleITK as sitk

    rgb = sitk.GetArrayViewFromImage(image)[..., :3]
    if (rgb == rgb[..., :1]).all():
        return sitk.VectorIndexSelectionCast(image, 0)
    return image


def read_image(path, *, reorient: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read an image file or DICOM series folder.

    Parameters
    ----------
    path : str or Path
        A ``.nii``/``.nii.gz``/``.nrrd``/``.nhdr``/``.mha``/``.mhd``/``.dcm`` file or a folder
        holding one DICOM series.
    reorient : bool
        For 3-D images, permute and flip the voxel axes (without resampling) so that the
        direction is as close to the identity as the data allow: numpy axes (z, y, x) then run
        towards superior, posterior and left (ITK's LPS). Viewers need this: napari cannot slice
        a layer whose affine swaps axes. The physical placement of every voxel is unchanged.

    Returns
    -------
    array : (Z, Y, X) or (Y, X) ndarray
        Voxel values in numpy axis order, dtype as stored (DICOM rescale slope/intercept applied).
    geometry : Geometry
        Spacing and origin in mm and the direction cosines, numpy axis order.

    Raises
    ------
    ValueError
        If the file is not a readable image, is truncated, or is not 2-D or 3-D (one line naming
        the file).
    FileNotFoundError
        If ``path`` does not exist.
    """
    from ._sitk import sitk_to_array

    path = Path(path)
    try:
        image = _read_sitk(path)
    except RuntimeError as exc:  # SimpleITK reports every unreadable file this way
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown format"
        raise ValueError(f"cannot read {path.name}: not a readable image ({reason})") from None
    if image.GetNumberOfComponentsPerPixel() > 1:
        image = _grey_from_equal_channels(image, path)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"cannot read {path.name}: {image.GetNumberOfComponentsPerPixel()}-component pixels "
            "(colour or vector images) are not supported; convert to a scalar image"
        )
    if image.GetDimension() not in (2, 3):
        raise ValueError(
            f"cannot read {path.name}: it is {image.GetDimension()}-D; only 2-D and 3-D images "
            "are supported"
        )
    if reorient and image.GetDimension() == 3:
        import SimpleITK as sitk

        image = sitk.DICOMOrient(image, "LPS")
    array, geometry = sitk_to_array(image)
    if array.ndim == 3 and array.shape[0] == 1 and path.is_file() and _suffix(path) == ".dcm":
        array, geometry = (
            array[0],
            Geometry(geometry.spacing[1:], geometry.origin[1:], geometry.direction[1:, 1:]),
        )
    return array, geometry


def looks_like_labels(path, array: np.ndarray) -> bool:
    """True when an integer image is named or tagged as a label map.

    The file name holds label/seg/mask/…, or a NIfTI header has the label intent (1002).
    """
    if not np.issubdtype(array.dtype, np.integer):
        return False
    path = Path(path)
    if _LABEL_NAME.search(path.name):
        return True
    if _suffix(path) in (".nii", ".nii.gz"):
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        if reader.HasMetaDataKey("intent_code"):
            return reader.GetMetaData("intent_code").strip() == _NIFTI_INTENT_LABEL
    return False


def write_image(path, array: np.ndarray, geometry: Geometry, *, compress: bool = True) -> Path:
    """Write ``array`` with ``geometry`` to a NIfTI, NRRD or MetaImage file.

    Voxel values and dtype are kept exactly (bool is written as uint8); spacing, origin and
    direction are kept to float precision. Returns the written path.

    Raises
    ------
    ValueError
        If the file ending is not one of ``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha`` or the array
        does not match the geometry's dimensionality.
    """
    import SimpleITK as sitk

    from ._sitk import array_to_sitk

    path = Path(path)
    if not path.name.lower().endswith(WRITE_SUFFIXES):
        raise ValueError(
            f"cannot write {path.name}: use one of {', '.join(WRITE_SUFFIXES)} as the file ending"
        )
    array = np.asarray(array)
    if array.ndim != geometry.ndim:
        raise ValueError(
            f"cannot write {path.name}: array is {array.ndim}-D but geometry is {geometry.ndim}-D"
        )
    if array.dtype == bool:
        array = array.astype(np.uint8)
    sitk.WriteImage(array_to_sitk(array, geometry), str(path), compress)
    return path
