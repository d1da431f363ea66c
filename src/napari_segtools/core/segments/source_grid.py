"""Save a segmentation on the voxel grid of the file it was drawn on.

The reader shows 3-D images reoriented (voxel axes permuted and flipped so napari can slice
them), so a layer's array is on a *display* grid. Tools that pair a mask with its image by voxel
index (ITK-SNAP, nnU-Net, most pipelines) need the mask on the file's own grid: same size,
spacing, origin and direction. :class:`SourceGrid` records that grid (the reader stores it in
``layer.metadata[SOURCE_GRID_KEY]``) and :func:`to_source_grid` brings a display array back onto
it: exactly when the grids differ by an axis permutation/flip, by nearest-neighbour resampling
(with a :class:`ResampledWarning`) otherwise.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from ..geometry import Geometry
from .info import SegmentInfo

#: ``layer.metadata`` key under which the reader records the file's grid
SOURCE_GRID_KEY = "napari_segtools_source_grid"

#: voxel centres of the two grids must agree to this fraction of the smallest spacing
_EXACT_TOLERANCE_VOXELS = 0.01


class ResampledWarning(UserWarning):
    """The array was resampled (nearest neighbour) onto the source grid.

    The grids differ by more than an axis permutation/flip; voxels may move by half a voxel.
    """


class GridMismatchError(ValueError):
    """The array cannot be put on the source grid.

    Labelled voxels lie outside it, or it needs resampling where that is not allowed.
    """


@dataclass(frozen=True, eq=False)
class SourceGrid:
    """The voxel grid of a file as stored on disk (before any display reorientation).

    Attributes
    ----------
    shape : tuple of int
        Size of the file's array, numpy axis order.
    geometry : Geometry
        Spacing and origin (mm) and direction as stored, numpy axis order.
    path : str
        The file it was read from (information only; saving never needs the file).

    Examples
    --------
    >>> grid = SourceGrid((62, 128, 128), Geometry((3.0, 2.0, 2.0), origin=(0.0, 254.0, 0.0)))
    >>> SourceGrid.from_metadata(grid.as_metadata()).shape
    (62, 128, 128)
    """

    shape: tuple[int, ...]
    geometry: Geometry
    path: str = ""

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != self.geometry.ndim or not all(n > 0 for n in shape):
            raise ValueError(
                f"`shape` {shape} must hold {self.geometry.ndim} positive sizes (one per axis "
                "of `geometry`)"
            )
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "path", str(self.path))

    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.shape)

    def as_metadata(self) -> dict[str, Any]:
        """Return a plain JSON-able dict for ``layer.metadata`` (see :meth:`from_metadata`)."""
        return {
            "shape": list(self.shape),
            "spacing": list(self.geometry.spacing),
            "origin": list(self.geometry.origin),
            "direction": self.geometry.direction.tolist(),
            "path": self.path,
        }

    @classmethod
    def from_metadata(cls, d: dict) -> SourceGrid:
        """Rebuild a grid from :meth:`as_metadata`'s dict; ``ValueError`` if it is malformed."""
        try:
            geometry = Geometry(tuple(d["spacing"]), tuple(d["origin"]), d["direction"])
            return cls(tuple(d["shape"]), geometry, d.get("path", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"`d` is not a source grid record ({exc})") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, series_id: str | None = None) -> SourceGrid:
        """Read the grid of an image file from its header, or of a DICOM series folder.

        A DICOM folder is read in full (SimpleITK has no header-only series read).

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If it is not a readable image (one line naming the file).
        """
        import SimpleITK as sitk

        from .._sitk import sitk_to_array
        from ..io import _read_sitk

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"cannot read {path.name}: no such file ({path})")
        try:
            if path.is_dir():
                image = _read_sitk(path, series_id)
                size, spacing, origin = image.GetSize(), image.GetSpacing(), image.GetOrigin()
                direction = image.GetDirection()
            else:
                reader = sitk.ImageFileReader()
                reader.SetFileName(str(path))
                reader.ReadImageInformation()
                size, spacing, origin = reader.GetSize(), reader.GetSpacing(), reader.GetOrigin()
                direction = reader.GetDirection()
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown format"
            raise ValueError(f"cannot read {path.name}: not a readable image ({reason})") from None
        ndim = len(size)
        info = sitk.Image([1] * ndim, sitk.sitkUInt8)
        info.SetSpacing(spacing)
        info.SetOrigin(origin)
        info.SetDirection(direction)
        _, geometry = sitk_to_array(info)
        return cls(tuple(reversed(size)), geometry, str(path))


def _drop_single_slice(source: SourceGrid) -> tuple[SourceGrid, bool]:
    """Return a one-slice 3-D file (single DICOM picture) as the 2-D grid the reader shows."""
    if source.ndim == 3 and source.shape[0] == 1:
        g = source.geometry
        flat = Geometry(g.spacing[1:], g.origin[1:], g.direction[1:, 1:])
        return SourceGrid(source.shape[1:], flat, source.path), True
    return source, False


def _axis_mapping(shape, geometry: Geometry, source: SourceGrid):
    """(display axis, flip) per source axis when the grids differ by a permutation/flip only."""
    if len(shape) != source.ndim:
        return None
    mapping, used = [], set()
    src = source.geometry
    for j in range(source.ndim):
        for k in range(len(shape)):
            if k in used or shape[k] != source.shape[j]:
                continue
            if not np.isclose(geometry.spacing[k], src.spacing[j], rtol=1e-5, atol=1e-6):
                continue
            dot = float(geometry.direction[:, k] @ src.direction[:, j])
            if abs(abs(dot) - 1.0) < 1e-4:
                mapping.append((k, dot < 0))
                used.add(k)
                break
        else:
            return None
    # the maps are affine, so checking the corner voxels checks every voxel centre
    tolerance = _EXACT_TOLERANCE_VOXELS * min(src.spacing)
    for corner in product(*[(0, n - 1) for n in source.shape]):
        display_index = [0] * len(shape)
        for j, (k, flip) in enumerate(mapping):
            display_index[k] = shape[k] - 1 - corner[j] if flip else corner[j]
        gap = src.index_to_physical(corner) - geometry.index_to_physical(display_index)
        if np.linalg.norm(gap) > tolerance:
            return None
    return mapping


def _resample_nearest(array: np.ndarray, geometry: Geometry, source: SourceGrid) -> np.ndarray:
    import SimpleITK as sitk

    from .._sitk import array_to_sitk, sitk_to_array

    # refuse rather than silently drop labelled voxels that fall outside the source grid
    nonzero = np.argwhere(array != 0)
    if len(nonzero):
        physical = (
            np.asarray(geometry.origin)
            + (nonzero * np.asarray(geometry.spacing)) @ geometry.direction.T
        )
        src = source.geometry
        index = ((physical - src.origin) @ src.direction) / np.asarray(src.spacing)
        outside = np.any((index < -0.5) | (index > np.asarray(source.shape) - 0.5), axis=1)
        if outside.any():
            raise GridMismatchError(
                f"the labels do not fit the source grid: {int(outside.sum())} of "
                f"{len(nonzero)} labelled voxels lie outside it"
            )
    moving = array_to_sitk(array, geometry)
    reference = array_to_sitk(np.zeros(source.shape, np.uint8), source.geometry)
    resampled = sitk.Resample(
        moving, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, moving.GetPixelID()
    )
    return sitk_to_array(resampled)[0]


def to_source_grid(
    labels: np.ndarray, geometry: Geometry, source: SourceGrid, *, resample: bool = True
) -> np.ndarray:
    """Bring an array shown on a display grid back onto its file's grid.

    When the two grids differ only by an axis permutation/flip (the reader's reorientation) the
    voxels are rearranged exactly: every voxel centre is checked to land within 0.01 voxel of its
    source voxel. Otherwise the array is resampled by nearest neighbour in physical space
    (SimpleITK, 0 outside) and a :class:`ResampledWarning` says so.

    Parameters
    ----------
    labels : ndarray
        The display array (a label map; any dtype is kept).
    geometry : Geometry
        Its display geometry (spacing, origin in mm, direction), numpy axis order.
    source : SourceGrid
        The grid to bring it onto.
    resample : bool
        Allow resampling; with ``False`` a grid that needs it raises ``ValueError``.

    Returns
    -------
    ndarray
        Shape ``source.shape``, same dtype as ``labels``.

    Raises
    ------
    GridMismatchError
        (a ``ValueError``) If the grids differ by more than a permutation/flip and ``resample``
        is False, if labelled voxels lie outside the source grid, or if the dimensions differ.

    Examples
    --------
    >>> source = SourceGrid((2, 3), Geometry((1.0, 2.0), direction=[[0, 1], [1, 0]]))
    >>> display = Geometry((2.0, 1.0))  # the same voxels with the two axes swapped
    >>> to_source_grid(np.arange(6).reshape(3, 2), display, source)
    array([[0, 2, 4],
           [1, 3, 5]])
    """
    array = np.asarray(labels)
    if not isinstance(source, SourceGrid):
        raise TypeError(f"`source` must be a SourceGrid; got {type(source).__name__}")
    if array.ndim != geometry.ndim:
        raise ValueError(
            f"`labels` is {array.ndim}-D but `geometry` describes {geometry.ndim} axes"
        )
    target, single_slice = _drop_single_slice(source)
    if array.ndim != target.ndim:
        target, single_slice = source, False
    mapping = _axis_mapping(array.shape, geometry, target)
    if mapping is not None:
        out = array.transpose([k for k, _ in mapping])
        flips = tuple(j for j, (_, flip) in enumerate(mapping) if flip)
        out = np.ascontiguousarray(np.flip(out, axis=flips) if flips else out)
    elif array.ndim != target.ndim:
        raise GridMismatchError(
            f"`labels` is {array.ndim}-D but the source grid is {source.ndim}-D ({source.path})"
        )
    elif not resample:
        raise GridMismatchError(
            "the layer's grid is not the source grid up to an axis permutation/flip; "
            "saving on it needs resampling"
        )
    else:
        out = _resample_nearest(array, geometry, target)
        warnings.warn(
            "resampled the labels onto the source grid (nearest neighbour): the layer's grid "
            "differs from the file's by more than an axis permutation/flip",
            ResampledWarning,
            stacklevel=2,
        )
    return out[np.newaxis] if single_slice else out


def write_on_source_grid(
    path: str | os.PathLike,
    labels: np.ndarray,
    geometry: Geometry,
    *,
    source: SourceGrid,
    segments: tuple[SegmentInfo, ...] | list[SegmentInfo] = (),
) -> Path:
    """Write a label map on its source file's grid; the ending of ``path`` picks the format.

    ``.nii``/``.nii.gz``/``.nrrd``/``.mha`` are written by :func:`~napari_segtools.core.io.
    write_image`, ``.seg.nrrd`` by :func:`~napari_segtools.core.segments.seg_nrrd.write_seg_nrrd`
    (keeping ``segments``' names and colours). With ``segments`` and a NIfTI target an ITK-SNAP
    label description file ``<name>.label.txt`` is written beside it (see
    :func:`~napari_segtools.core.segments.itksnap.itksnap_labels_path`). Each file is written
    atomically; both targets are checked for writability before either is written.

    Parameters
    ----------
    path : str or Path
        Target file.
    labels : ndarray
        Label map on the display grid ``geometry``.
    geometry : Geometry
        Display geometry of ``labels`` (mm, numpy axis order).
    source : SourceGrid
        The grid to write on (:func:`to_source_grid`; a :class:`ResampledWarning` when it had
        to resample).
    segments : sequence of SegmentInfo
        Names and colours of the label values.

    Returns
    -------
    Path
        The written label map.

    Raises
    ------
    ValueError
        Unknown file ending; :class:`GridMismatchError` when the labels do not fit the source
        grid.
    OSError
        The file cannot be written (the path and the reason).

    Examples
    --------
    >>> import tempfile
    >>> source = SourceGrid((2, 3), Geometry((1.0, 2.0), direction=[[0, 1], [1, 0]]))
    >>> out = write_on_source_grid(tempfile.mkdtemp() + "/mask.nrrd",
    ...                            np.eye(3, 2, dtype=np.uint8), Geometry((2.0, 1.0)),
    ...                            source=source)
    >>> out.name
    'mask.nrrd'
    """
    from ..io import WRITE_SUFFIXES, check_writable, image_suffix, write_image
    from .itksnap import itksnap_labels_path, write_itksnap_labels
    from .seg_nrrd import write_seg_nrrd

    path = Path(path)
    name = path.name.lower()
    if not name.endswith((*WRITE_SUFFIXES, ".seg.nrrd")):
        raise ValueError(
            f"cannot write {path.name}: use one of .seg.nrrd, {', '.join(WRITE_SUFFIXES)} as "
            "the file ending"
        )
    segments = tuple(segments)
    beside = segments and image_suffix(path) in (".nii", ".nii.gz")
    check_writable(path)
    if beside:
        check_writable(itksnap_labels_path(path))
    array = to_source_grid(labels, geometry, source)
    if name.endswith(".seg.nrrd"):
        return write_seg_nrrd(path, array, source.geometry, segments=segments)
    write_image(path, array, source.geometry)
    if beside:
        write_itksnap_labels(itksnap_labels_path(path), segments)
    return path


def reorient_for_display(array: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, Geometry]:
    """Permute/flip a 3-D array's axes as the reader does (towards LPS); 2-D is returned as is.

    Examples
    --------
    >>> flipped = Geometry((1.0, 1.0, 1.0), direction=np.diag([1.0, 1.0, -1.0]))
    >>> array, geometry = reorient_for_display(np.arange(2).reshape(1, 1, 2), flipped)
    >>> array.ravel().tolist(), geometry.origin
    ([1, 0], (0.0, 0.0, -1.0))
    """
    if np.asarray(array).ndim != 3:
        return np.asarray(array), geometry
    import SimpleITK as sitk

    from .._sitk import array_to_sitk, sitk_to_array

    return sitk_to_array(sitk.DICOMOrient(array_to_sitk(array, geometry), "LPS"))
