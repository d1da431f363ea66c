"""DICOM Segmentation objects (DICOM SEG): write a label map against its source series, read one.

A DICOM SEG is stored next to the images it was drawn on and points at them, so PACS viewers,
3D Slicer (QuantitativeReporting) and OHIF place it on the right slices. Writing needs the
source series itself; highdicom (the optional ``[dicom]`` extra) builds the object.

The labels' grid contract: the label map is in the numpy order of
:func:`napari_segtools.core.io.read_image` *without* reorientation, i.e. (slice, row, column)
with slices sorted along the slice normal as ITK sorts them (2-D (row, column) for a single
image). A label map on the reoriented display grid is brought there exactly by passing its
``geometry=``, as long as the two grids differ only by axis order and flips.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .._validate import check_geometry, check_labels
from ..geometry import Geometry, grid_differences
from ..io import atomic_write
from .info import SegmentInfo

#: What to do when highdicom is missing: one line, naming the extra.
HIGHDICOM_MISSING = "DICOM SEG needs highdicom: pip install 'napari-segtools[dicom]'"

#: SOP Class UID of DICOM Segmentation Storage
SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"


def _require_highdicom() -> ModuleType:
    """Import and return highdicom, or raise one ``ImportError`` naming the ``[dicom]`` extra."""
    try:
        import highdicom
    except ImportError:
        raise ImportError(HIGHDICOM_MISSING, name="highdicom") from None
    return highdicom


def _not_dicom(name: str) -> ValueError:
    return ValueError(
        f"DICOM SEG needs the DICOM series the labels were drawn on; {name} is not DICOM"
    )


def _source_files(source) -> list[Path]:
    from ..io import _dicom_series_files

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = [Path(f) for f in _dicom_series_files(path)]
            if not files:
                raise _not_dicom(f"{path.name} (a folder without a DICOM series)")
            return files
        return [path]
    if isinstance(source, Sequence) and source:
        return [Path(f) for f in source]
    raise TypeError(
        f"`source` must be a DICOM file, a list of files or a folder; got {source!r:.80}"
    )


def _read_source(source) -> list[Any]:
    """Read the source series' datasets, sorted along the slice normal."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    datasets = []
    for path in _source_files(source):
        if not path.is_file():
            raise FileNotFoundError(f"cannot read {path.name}: no such file ({path})")
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, EOFError):
            raise _not_dicom(path.name) from None
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            raise ValueError(
                f"DICOM SEG needs images with a position and orientation; {path.name} has none"
            )
        datasets.append(ds)
    series = {ds.SeriesInstanceUID for ds in datasets}
    if len(series) > 1:
        raise ValueError(
            f"`source` holds {len(series)} DICOM series; give the one the labels were drawn on"
        )
    normal = _normal(datasets[0].ImageOrientationPatient)
    # ascending along the slice normal, as ITK (GDCM) sorts a series for read_image
    return sorted(datasets, key=lambda ds: float(np.dot(normal, ds.ImagePositionPatient)))


def _normal(orientation) -> np.ndarray:
    row_dir, col_dir = np.asarray(orientation, float).reshape(2, 3)
    return np.cross(row_dir, col_dir)


def _series_geometry(
    orientation, first_position, pixel_spacing, slice_step: float, two_d: bool
) -> Geometry:
    """Geometry (numpy order) of a stack of frames, as :func:`..io.read_image` gives it."""
    row_dir, col_dir = np.asarray(orientation, float).reshape(2, 3)
    itk_direction = np.column_stack([row_dir, col_dir, np.cross(row_dir, col_dir)])
    spacing = (float(slice_step), float(pixel_spacing[0]), float(pixel_spacing[1]))
    geometry = Geometry(
        spacing, tuple(float(p) for p in first_position)[::-1], itk_direction[::-1, ::-1]
    )
    if two_d:
        return Geometry(geometry.spacing[1:], geometry.origin[1:], geometry.direction[1:, 1:])
    return geometry


def _source_geometry(datasets) -> tuple[Geometry, tuple[int, ...]]:
    first = datasets[0]
    normal = _normal(first.ImageOrientationPatient)
    heights = [float(np.dot(normal, ds.ImagePositionPatient)) for ds in datasets]
    if len(datasets) > 1:
        step = float(np.median(np.diff(heights)))
    else:
        step = float(first.get("SpacingBetweenSlices") or first.get("SliceThickness") or 1.0)
    two_d = len(datasets) == 1
    geometry = _series_geometry(
        first.ImageOrientationPatient, first.ImagePositionPatient, first.PixelSpacing, step, two_d
    )
    shape = (int(first.Rows), int(first.Columns))
    return geometry, shape if two_d else (len(datasets), *shape)


def _onto_grid(
    labels: np.ndarray, geometry: Geometry, target: Geometry, shape: tuple[int, ...]
) -> np.ndarray:
    """Permute and flip ``labels`` onto ``target``; refuse any other difference."""
    moved, placed = labels, geometry
    cosines = np.abs(target.direction.T @ geometry.direction)  # [target axis, label axis]
    order = [int(np.argmax(cosines[:, j])) for j in range(labels.ndim)]
    if sorted(order) == list(range(labels.ndim)) and np.allclose(
        cosines.max(axis=0), 1, atol=1e-4
    ):
        for axis in range(labels.ndim):
            if float(target.direction[:, order[axis]] @ placed.direction[:, axis]) < 0:
                far = [0] * labels.ndim
                far[axis] = moved.shape[axis] - 1
                direction = placed.direction.copy()
                direction[:, axis] *= -1
                origin = tuple(placed.index_to_physical(far))
                moved = np.flip(moved, axis)
                placed = Geometry(placed.spacing, origin, direction)
        inverse = np.argsort(order)
        moved = np.transpose(moved, inverse)
        placed = Geometry(
            tuple(placed.spacing[i] for i in inverse),
            placed.origin,
            placed.direction[:, inverse],
        )
    differences = grid_differences(placed, target, moved.shape, shape)
    if differences:
        raise ValueError(
            "`labels` do not lie on the grid of the source series ("
            + "; ".join(differences)
            + "); resample them onto the series first"
        )
    return np.ascontiguousarray(moved)


def _segment_descriptions(hd, values: list[int], segments: Sequence[SegmentInfo]):
    from pydicom.sr.codedict import codes

    from ... import __version__ as version

    infos = {s.value: s for s in segments}
    algorithm = hd.AlgorithmIdentificationSequence(
        name="napari-segtools", family=codes.cid7162.ManualProcessing, version=version
    )
    descriptions = []
    for number, value in enumerate(values, start=1):
        info = infos.get(value)
        colour = hd.color.CIELabColor.from_rgb(*(255.0 * c for c in info.color)) if info else None
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=info.name if info and info.name else f"Segment {value}",
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type="SEMIAUTOMATIC",
                algorithm_identification=algorithm,
                display_color=colour,
            )
        )
    return descriptions, version


def write_dicom_seg(
    path: str | os.PathLike,
    labels: np.ndarray,
    *,
    source: str | os.PathLike | Sequence[str | os.PathLike],
    geometry: Geometry | None = None,
    segments: Sequence[SegmentInfo] = (),
    series_description: str = "napari-segtools segmentation",
) -> Path:
    """Write a label map as a DICOM SEG that references the series it was drawn on.

    One binary segment per label value, with its name and recommended display colour from
    ``segments``, property "Tissue" (SNOMED CT 85756007) and algorithm type SEMIAUTOMATIC
    (napari-segtools). DICOM numbers segments 1..n: label values 1..n keep their value;
    other values are numbered in ascending order (names and colours travel with them). Every
    slice of the series is stored, so reading the file back gives the series' full grid.

    Parameters
    ----------
    path : str or Path
        Target file (``.dcm``).
    labels : (slices, rows, columns) or (rows, columns) int ndarray
        Label map in the numpy order of ``read_image(source)`` without reorientation, or any
        grid that differs from it only by axis order and flips when ``geometry`` is given.
    source : str, Path or sequence of them
        A DICOM file, a list of files, or a folder holding the one series the labels were
        drawn on.
    geometry : Geometry, optional
        Spacing, origin and direction of ``labels`` (for example the reoriented display grid
        of :func:`napari_segtools.core.io.read_image` with ``reorient=True``); the labels are
        permuted and flipped onto the series' grid exactly.
    segments : sequence of SegmentInfo
        Names and colours by label value; unnamed segments are written as "Segment <value>".
    series_description : str
        Series Description of the new series.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        If ``source`` is not DICOM (a NIfTI file, an empty folder) or holds several series,
        ``labels`` do not fit the series' grid, or ``labels`` are all zero.
    ImportError
        If highdicom is not installed (``pip install 'napari-segtools[dicom]'``).
    OSError
        If the file cannot be written; no partial file is left behind.

    Examples
    --------
    >>> import tempfile
    >>> from napari_segtools.core.samples import sample_path
    >>> ct = str(sample_path("dicom_pydicom", "CT_small.dcm"))
    >>> labels = np.zeros((128, 128), np.uint8)
    >>> labels[40:80, 30:90] = 1
    >>> out = write_dicom_seg(tempfile.mkdtemp() + "/seg.dcm", labels, source=ct,
    ...                       segments=[SegmentInfo(1, "lesion", (1.0, 0.0, 0.0))])
    >>> seg, _, infos = read_dicom_seg(out)
    >>> int(seg.sum()), infos[0].name
    (2400, 'lesion')
    """
    hd = _require_highdicom()
    path = Path(path)
    labels = check_labels(labels, ndims=(2, 3))
    if labels.dtype == bool:
        labels = labels.view(np.uint8)
    datasets = _read_source(source)
    target, shape = _source_geometry(datasets)
    if geometry is not None:
        geometry = check_geometry(geometry, labels.ndim, array_name="labels")
        labels = _onto_grid(labels, geometry, target, shape)
    elif labels.shape != shape:
        raise ValueError(
            f"`labels` has shape {labels.shape} but the source series is {shape} "
            "(slices, rows, columns as read_image reads it without reorientation); pass "
            "`geometry=` for labels on another grid of the same series"
        )
    values = [int(v) for v in np.unique(labels) if v != 0]
    if not values:
        raise ValueError("`labels` holds no segment (all zero): nothing to write")
    for segment in segments:
        if not isinstance(segment, SegmentInfo):
            raise TypeError(f"`segments` must hold SegmentInfo items; got {segment!r:.80}")
    numbers = np.zeros(max(values) + 1, np.uint16)
    numbers[values] = np.arange(1, len(values) + 1)
    frames = numbers[labels].reshape(-1, *shape[-2:])
    descriptions, version = _segment_descriptions(hd, values, segments)
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(datasets[0].get("SeriesNumber") or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="napari-segtools",
        manufacturer_model_name="napari-segtools",
        software_versions=version,
        device_serial_number="0",
        series_description=str(series_description),
        omit_empty_frames=False,
    )
    with atomic_write(path) as partial:
        seg.save_as(partial)
    return path


def read_dicom_seg(
    path: str | os.PathLike,
) -> tuple[np.ndarray, Geometry, tuple[SegmentInfo, ...]]:
    """Read a DICOM SEG into a label map, its geometry and its named segments.

    The label value of each voxel is its segment number; where segments overlap, the higher
    number wins. The grid covers the slices the file stores (for a file written by
    :func:`write_dicom_seg`, the whole source series), sorted along the slice normal as
    :func:`napari_segtools.core.io.read_image` sorts a series; a SEG of a single image is 2-D.

    Parameters
    ----------
    path : str or Path
        A DICOM Segmentation file.

    Returns
    -------
    labels : (slices, rows, columns) or (rows, columns) ndarray
        uint8 (uint16 beyond 255 segments) label map, numpy axis order.
    geometry : Geometry
        Spacing and origin (mm) and direction, numpy axis order.
    segments : tuple of SegmentInfo
        Segment number, label and recommended display colour (yellow when none is stored).

    Raises
    ------
    ValueError
        If the file is not DICOM or not a DICOM Segmentation.
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import tempfile
    >>> from napari_segtools.core.samples import sample_path
    >>> labels = np.zeros((128, 128), np.uint8)
    >>> labels[:10, :20], labels[100:, 100:] = 1, 2
    >>> out = write_dicom_seg(tempfile.mkdtemp() + "/seg.dcm", labels,
    ...                       source=str(sample_path("dicom_pydicom", "CT_small.dcm")))
    >>> seg, geometry, infos = read_dicom_seg(out)
    >>> bool((seg == labels).all()), [s.name for s in infos], geometry.spacing
    (True, ['Segment 1', 'Segment 2'], (0.661468, 0.661468))
    """
    _require_highdicom()
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot read {path.name}: no such file ({path})")
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError):
        raise ValueError(f"cannot read {path.name}: not a DICOM file") from None
    if ds.get("SOPClassUID") != SEG_SOP_CLASS_UID:
        raise ValueError(f"cannot read {path.name}: a DICOM file but not a DICOM SEG")
    shared = ds.SharedFunctionalGroupsSequence[0]
    orientation = shared.PlaneOrientationSequence[0].ImageOrientationPatient
    measures = shared.PixelMeasuresSequence[0]
    frames = ds.PerFrameFunctionalGroupsSequence
    positions = np.array(
        [_group(f, shared, "PlanePositionSequence").ImagePositionPatient for f in frames], float
    )
    numbers = [
        int(_group(f, shared, "SegmentIdentificationSequence").ReferencedSegmentNumber)
        for f in frames
    ]
    heights = positions @ _normal(orientation)
    levels = np.unique(np.round(heights, 3))
    if len(levels) > 1:
        step = float(np.median(np.diff(levels)))
    else:
        step = float(measures.get("SpacingBetweenSlices") or measures.get("SliceThickness") or 1)
    slice_index = np.round((heights - levels[0]) / step).astype(int)
    referenced = sum(len(s.ReferencedInstanceSequence) for s in ds.ReferencedSeriesSequence)
    two_d = len(levels) == 1 and referenced == 1
    geometry = _series_geometry(
        orientation, positions[int(np.argmin(heights))], measures.PixelSpacing, step, two_d
    )
    pixels = ds.pixel_array.reshape(len(frames), int(ds.Rows), int(ds.Columns))
    if ds.SegmentationType == "FRACTIONAL":
        pixels = pixels > int(ds.MaximumFractionalValue) / 2
    n_segments = len(ds.SegmentSequence)
    dtype = np.uint8 if n_segments <= np.iinfo(np.uint8).max else np.uint16
    labels = np.zeros((int(slice_index.max()) + 1, int(ds.Rows), int(ds.Columns)), dtype)
    for frame in np.argsort(numbers, kind="stable"):  # higher segment numbers win overlaps
        labels[slice_index[frame]][pixels[frame] > 0] = numbers[frame]
    infos = tuple(_segment_info(item) for item in ds.SegmentSequence)
    return (labels[0] if two_d else labels), geometry, infos


def _group(frame, shared, name: str):
    """Return a functional group's item for one frame, per frame or shared by all frames."""
    return (frame if name in frame else shared)[name][0]


def _segment_info(item) -> SegmentInfo:
    number = int(item.SegmentNumber)
    lab = item.get("RecommendedDisplayCIELabValue")
    if lab is None:
        return SegmentInfo(number, str(item.SegmentLabel))
    hd = _require_highdicom()
    rgb = hd.color.CIELabColor.from_dicom_value(tuple(int(v) for v in lab)).to_rgb()
    return SegmentInfo(number, str(item.SegmentLabel), tuple(c / 255.0 for c in rgb))
