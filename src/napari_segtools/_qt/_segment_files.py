"""The Segments dock's Files group: save on the source image's grid, meshes, DICOM SEG.

The grid a segmentation is saved on is a layer's *source grid*: the reader records the file's own
grid in ``layer.metadata[SOURCE_GRID_KEY]`` and layers made from an image copy its metadata, so a
Labels layer drawn on an image usually knows it. Without one, the layer's own grid is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox, PushButton, SpinBox
from napari.layers import Image, Labels
from qtpy.QtWidgets import QComboBox

from ..core._types import Progress
from ..core.geometry import Geometry
from ._common import Section

#: what the source picker shows for "no source file: the layer's own grid"
OWN_GRID = "the layer's own grid"


def source_grid_of(layer):
    """Return the :class:`SourceGrid` recorded in ``layer``'s metadata, or None."""
    from ..core.segments.source_grid import SOURCE_GRID_KEY, SourceGrid

    record = None if layer is None else layer.metadata.get(SOURCE_GRID_KEY)
    return None if record is None else SourceGrid.from_metadata(record)


def source_path(layer) -> str:
    """Return the file or folder ``layer`` was read from ('' when unknown)."""
    grid = source_grid_of(layer)
    if grid is not None and grid.path:
        return str(grid.path)
    path = getattr(getattr(layer, "source", None), "path", None)
    return "" if path is None else str(path)


def is_dicom(path: str) -> bool:
    """Return whether ``path`` names a DICOM file or a folder (a DICOM series)."""
    if not path:
        return False
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in (".dcm", ".dicom", ".ima")


def source_choices(viewer, labels) -> list[tuple[str, object]]:
    """Layers whose source grid ``labels`` can be saved on, the likeliest first.

    The layer itself when it was read from a file (or copied an image's metadata), then images
    of the same shape, then other images of its dimensionality, then its own grid.
    """
    own: list[tuple[str, object]] = []
    images: list[tuple[bool, int, str, object]] = []
    for i, layer in enumerate(viewer.layers):
        if not isinstance(layer, Labels | Image) or source_grid_of(layer) is None:
            continue
        if layer is labels:
            own.append((f"{layer.name} (its source file)", layer))
        elif isinstance(layer, Image) and labels is not None and layer.ndim == labels.ndim:
            images.append((layer.data.shape != labels.data.shape, i, layer.name, layer))
    ranked = [(name, layer) for *_, name, layer in sorted(images, key=lambda t: t[:2])]
    return [*own, *ranked, (OWN_GRID, None)]


class FilesSection(Section):
    """Save-on-source-grid, mesh and DICOM SEG settings and buttons (starts closed)."""

    def __init__(self, source_choices) -> None:
        self.source = ComboBox(
            label="Source image",
            choices=source_choices,
            nullable=False,
            tooltip="Whose file grid the segmentation is saved on (default: the file the "
            "layer or its image was read from); the same size, spacing, origin and direction "
            "as that file, so ITK-SNAP, 3D Slicer and nnU-Net pair them voxel by voxel",
        )
        self.save_button = PushButton(
            text="Save on source grid…",
            tooltip="Save as .nii.gz/.nii (with an ITK-SNAP label file), .nrrd, .mha or .seg.nrrd "
            "(3D Slicer segmentation with names and colours): the ending picks the format",
        )
        self.mesh_format = ComboBox(
            label="Mesh format", choices=["stl", "obj", "ply"], value="stl", tooltip="File type"
        )
        self.coordinates = ComboBox(
            label="Coordinates",
            choices=["LPS", "RAS"],
            value="LPS",
            tooltip="Patient coordinates of the mesh points: LPS (DICOM, ITK) or RAS (Slicer, "
            "NIfTI viewers)",
        )
        self.smoothing = SpinBox(
            label="Smoothing iterations",
            value=0,
            min=0,
            max=200,
            tooltip="Taubin smoothing passes (0 = the voxel surface as is)",
        )
        self.decimate = FloatSpinBox(
            label="Decimate fraction",
            value=0.0,
            min=0.0,
            max=0.95,
            step=0.05,
            tooltip="Fraction of triangles removed (0 = keep all)",
        )
        self.mesh_button = PushButton(
            text="Export meshes…", tooltip="One mesh file per segment, named after it"
        )
        self.dicom_button = PushButton(
            text="Save DICOM SEG…",
            tooltip="A DICOM Segmentation object referencing the DICOM series the image came from",
        )
        # long layer names must not widen the dock: the box shows ~16 characters, then elides
        self.source.native.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.source.native.setMinimumContentsLength(16)
        super().__init__(
            "Files",
            [
                self.source,
                self.save_button,
                self.dicom_button,
                self.mesh_format,
                self.coordinates,
                self.smoothing,
                self.decimate,
                self.mesh_button,
            ],
            expanded=False,
        )


def iter_call(function, *args, message: str = "", **kwargs):
    """Run ``function(*args, **kwargs)`` in a worker (one progress step); return its result."""
    yield Progress(0, 1, message)
    return function(*args, **kwargs)


def write_source_grid(path, labels: np.ndarray, geometry: Geometry, *, source, segments):
    """Save ``labels`` on ``source`` (a SourceGrid, or None for the labels' own grid)."""
    from ..core.segments.source_grid import SourceGrid, write_on_source_grid

    if source is None:
        source = SourceGrid(tuple(labels.shape), geometry, "")
    return write_on_source_grid(path, labels, geometry, source=source, segments=segments)
