"""Read and write medical images (NIfTI, NRRD, MetaImage, DICOM) with their geometry.

Arrays are in numpy axis order (z, y, x); :class:`~napari_segtools.core._types.Geometry` holds
spacing and origin in mm and the direction cosines in the same order. SimpleITK does the file work
and :mod:`napari_segtools.core._sitk` the axis bookkeeping.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ._nifti import read_header, read_voxels, restore_non_finite
from ._sitk import with_voxels
from .geometry import Geometry

#: File name endings read and written through SimpleITK.
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
WRITE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")

_LABEL_NAME = re.compile(r"(label|seg|mask|aseg|parc|annot|truth|_gt\b|gt_)", re.IGNORECASE)
_NIFTI_INTENT_LABEL = "1002"


def image_suffix(path) -> str:
    """Return the supported image ending of ``path`` (lower case), or ``""`` if it has none.

    Examples
    --------
    >>> image_suffix("Brain_T1.NII.GZ"), image_suffix("notes.txt")
    ('.nii.gz', '')
    """
    name = Path(path).name.lower()
    return next((s for s in IMAGE_SUFFIXES if name.endswith(s)), "")


def strip_image_suffix(path) -> str:
    """Return the file name of ``path`` without its image ending.

    Examples
    --------
    >>> strip_image_suffix("/data/case01_seg.nii.gz")
    'case01_seg'
    """
    name = Path(path).name
    return name[: len(name) - len(image_suffix(name))]


def is_image_path(path) -> bool:
    """Tell whether ``path`` is a file with a supported ending or a folder with a DICOM series."""
    path = Path(path)
    if path.is_dir():
        return bool(_dicom_series_files(path))
    return bool(image_suffix(path))


def list_dicom_series(folder: str | os.PathLike) -> list[str]:
    """Return the DICOM series instance UIDs found in ``folder`` (empty if none).

    Parameters
    ----------
    folder : str or Path
        A folder of DICOM files.

    Examples
    --------
    >>> import tempfile
    >>> list_dicom_series(tempfile.mkdtemp())
    []
    """
    import SimpleITK as sitk

    return list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def _dicom_series_files(folder: Path, series_id: str | None = None) -> list[str]:
    import SimpleITK as sitk

    ids = list_dicom_series(folder)
    if not ids:
        return []
    if series_id is None and len(ids) > 1:
        raise ValueError(
            f"cannot read {folder.name}: it holds {len(ids)} DICOM series; choose one with "
            f"series_id= ({', '.join(ids)})"
        )
    if series_id is not None and series_id not in ids:
        raise ValueError(
            f"cannot read {folder.name}: no DICOM series {series_id!r} (found {', '.join(ids)})"
        )
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id or ids[0]))


def _check_slice_spacing(reader, image, folder: Path) -> None:
    """Refuse a series whose slice positions are uneven (a missing or extra slice)."""
    count = len(reader.GetFileNames())
    if image.GetDimension() != 3 or count < 3:
        return
    normal = np.asarray(image.GetDirection(), float).reshape(3, 3)[:, 2]
    positions = []
    for i in range(count):
        if not reader.HasMetaDataKey(i, "0020|0032"):
            return
        xyz = [float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")]
        positions.append(float(np.dot(xyz, normal)))
    gaps = np.diff(positions)
    typical = float(np.median(gaps))
    worst = int(np.argmax(np.abs(gaps - typical)))
    if abs(gaps[worst] - typical) > 0.1 * abs(typical) + 1e-3:
        raise ValueError(
            f"cannot read {folder.name}: slices are unevenly spaced ({abs(gaps[worst]):.3g} mm "
            f"between slices {worst} and {worst + 1}, {abs(typical):.3g} mm elsewhere): a slice "
            "is missing or the series mixes acquisitions"
        )


def _read_sitk(path: Path, series_id: str | None = None):
    import SimpleITK as sitk

    if path.is_dir():
        files = _dicom_series_files(path, series_id)
        if not files:
            raise ValueError(f"cannot read {path.name}: the folder holds no DICOM series")
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(files)
        reader.MetaDataDictionaryArrayUpdateOn()
        image = reader.Execute()
        _check_slice_spacing(reader, image, path)
        return image
    if not path.exists():
        raise FileNotFoundError(f"cannot read {path.name}: no such file ({path})")
    if image_suffix(path) not in (".nii", ".nii.gz"):
        return sitk.ReadImage(str(path))
    # SimpleITK trusts a NIfTI header and zero-fills what is missing: check the file first
    header = read_header(path)
    raw = read_voxels(path, header)
    image = sitk.ReadImage(str(path))
    if raw.dtype.kind == "f" and image.GetNumberOfComponentsPerPixel() == 1:
        values = sitk.GetArrayViewFromImage(image)
        restored = restore_non_finite(values, raw, header.slope, header.inter)
        if restored is not values:
            image = with_voxels(image, restored)
    return image


_TRUNCATED = re.compile(
    r"not read completely|expected \d+ bytes but received|unexpected end", re.I
)


def _grey_from_equal_channels(image, path: Path):
    """Channel 0 of a vector image whose channels are all equal (grey stored as RGB)."""
    import SimpleITK as sitk

    rgb = sitk.GetArrayViewFromImage(image)[..., :3]
    if (rgb == rgb[..., :1]).all():
        return sitk.VectorIndexSelectionCast(image, 0)
    return image


def read_image(
    path: str | os.PathLike, *, reorient: bool = False, series_id: str | None = None
) -> tuple[np.ndarray, Geometry]:
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
    series_id : str, optional
        Which DICOM series to read from a folder holding several (see
        :func:`list_dicom_series`); a folder with one series needs none.

    Returns
    -------
    array : (Z, Y, X) or (Y, X) ndarray
        Voxel values in numpy axis order, dtype as stored (DICOM rescale slope/intercept applied).
    geometry : Geometry
        Spacing and origin in mm and the direction cosines, numpy axis order.

    Raises
    ------
    ValueError
        If the file is not a readable image, is truncated or contradicts its header, is not 2-D
        or 3-D, or is a DICOM folder with several series and no ``series_id`` or with unevenly
        spaced slices (one line naming the file).
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import tempfile
    >>> path = write_image(tempfile.mkdtemp() + "/seg.nrrd", np.eye(3, dtype=np.uint8),
    ...                    Geometry((2.0, 0.5), origin=(10.0, 0.0)))
    >>> labels, geometry = read_image(path)
    >>> int(labels.sum()), geometry.spacing, geometry.origin
    (3, (2.0, 0.5), (10.0, 0.0))
    """
    from ._sitk import sitk_to_array

    path = Path(path)
    try:
        image = _read_sitk(path, series_id)
    except RuntimeError as exc:  # SimpleITK reports every unreadable file this way
        text = str(exc).strip()
        if _TRUNCATED.search(text) or (path.is_file() and "No such file" in text):
            raise ValueError(
                f"cannot read {path.name}: truncated: the file holds fewer voxels than its "
                "header declares"
            ) from None
        reason = text.splitlines()[-1] if text else "unknown format"
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
    if array.ndim == 3 and array.shape[0] == 1 and path.is_file() and image_suffix(path) == ".dcm":
        array, geometry = (
            array[0],
            Geometry(geometry.spacing[1:], geometry.origin[1:], geometry.direction[1:, 1:]),
        )
    return array, geometry


def looks_like_labels(path, array: np.ndarray) -> bool:
    """Tell whether an integer image is named or tagged as a label map.

    The file name holds label/seg/mask/…, or a NIfTI header has the label intent (1002).
    """
    if not np.issubdtype(array.dtype, np.integer):
        return False
    path = Path(path)
    if _LABEL_NAME.search(path.name):
        return True
    if image_suffix(path) in (".nii", ".nii.gz"):
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        if reader.HasMetaDataKey("intent_code"):
            return reader.GetMetaData("intent_code").strip() == _NIFTI_INTENT_LABEL
    return False


def write_image(
    path: str | os.PathLike, array: np.ndarray, geometry: Geometry, *, compress: bool = True
) -> Path:
    """Write ``array`` with ``geometry`` to a NIfTI, NRRD or MetaImage file.

    Voxel values and dtype are kept exactly (bool is written as uint8); spacing, origin and
    direction are kept to float precision.

    Parameters
    ----------
    path : str or Path
        Target file; its ending (``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha``) picks the format.
    array : ndarray
        Voxels in numpy axis order.
    geometry : Geometry
        Spacing and origin (mm) and direction of ``array``.
    compress : bool
        Compress the voxels (gzip) where the format allows.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        If the file ending is not one of ``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha`` or the array
        does not match the geometry's dimensionality.
    OSError
        If the file cannot be written: ``FileNotFoundError`` (no such folder),
        ``PermissionError``, ``IsADirectoryError`` or ``OSError`` with the path and the reason.
        No partial file is left behind.

    Examples
    --------
    >>> import tempfile
    >>> write_image(tempfile.mkdtemp() + "/mask.nii.gz", np.ones((2, 3, 4), bool),
    ...             Geometry((2.5, 0.8, 0.8))).name
    'mask.nii.gz'
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
    check_writable(path)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    image = array_to_sitk(array, geometry)
    with atomic_write(path, suffix=image_suffix(path)) as partial:
        sitk.WriteImage(image, str(partial), compress)
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that replaces ``path`` once written whole.

    ``path`` is checked first (:func:`check_writable`). Whatever fails inside the block (an
    ``OSError``, or the ``RuntimeError`` of a writer library such as SimpleITK) is raised as an
    ``OSError`` naming ``path``, and the temporary file is removed: a file is written whole or
    not at all.

    Parameters
    ----------
    path : str or Path
        The file to write.
    suffix : str
        Ending of the temporary file, for writers that choose the format by it (``".nrrd"``).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(target) as partial:
    ...     _ = partial.write_text("done", encoding="utf-8")
    >>> target.read_text(encoding="utf-8")
    'done'
    """
    path = Path(path)
    check_writable(path)
    partial = path.with_name(f".{path.name}.partial{suffix}")
    try:
        yield partial
        os.replace(partial, path)
    except (RuntimeError, OSError) as exc:
        text = str(exc).strip()
        reason = getattr(exc, "strerror", None) or (
            text.splitlines()[-1] if text else type(exc).__name__
        )
        kind = type(exc) if isinstance(exc, OSError) else OSError
        raise kind(f"cannot write {path}: {reason}") from None
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all; return the path.

    Examples
    --------
    >>> import tempfile
    >>> write_text_atomically(Path(tempfile.mkdtemp()) / "a.csv", "x,y").name
    'a.csv'
    """
    path = Path(path)
    with atomic_write(path) as partial, partial.open("w", newline="", encoding="utf-8") as fh:
        fh.write(text)
    return path


def check_writable(path: str | os.PathLike) -> None:
    """Raise the ``OSError`` subclass that says why ``path`` cannot be written, naming it.

    Parameters
    ----------
    path : str or Path
        A file to be (over)written.

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError
        With the path and the reason.

    Examples
    --------
    >>> check_writable("/no/such/folder/report.csv")
    Traceback (most recent call last):
    ...
    FileNotFoundError: cannot write /no/such/folder/report.csv: the folder /no/such/folder does not exist
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PermissionError(f"cannot write {path}: permission denied")
