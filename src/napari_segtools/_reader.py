"""npe2 reader: medical images to Image or Labels layers placed in millimetres."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .core._types import Geometry


def layer_kwargs(geometry: Geometry, name: str) -> dict:
    """Layer keyword arguments for data at ``geometry``: scale, translate, and affine if oblique.

    The direction matrix always goes to ``metadata["direction"]``. When it is not the identity,
    it is applied as the layer ``affine`` rotating about the origin, so that world coordinates are
    the file's physical coordinates (mm, numpy axis order).
    """
    kwargs = {
        "name": name,
        "scale": geometry.spacing,
        "translate": geometry.origin,
        "metadata": {"direction": geometry.direction.tolist(), "spacing_unit": "mm"},
    }
    if not geometry.is_axis_aligned:
        affine = np.eye(geometry.ndim + 1)
        affine[:-1, :-1] = geometry.direction
        affine[:-1, -1] = np.asarray(geometry.origin) - geometry.direction @ geometry.origin
        kwargs["affine"] = affine
    return kwargs


def _layer_name(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_layers(path) -> list[tuple]:
    """Read one file or DICOM folder into a napari layer-data tuple."""
    from .core.io import looks_like_labels, read_image

    path = Path(path)
    data, geometry = read_image(path, reorient=True)
    kind = "labels" if looks_like_labels(path, data) else "image"
    if kind == "labels" and data.dtype.kind == "i" and data.size and data.min() < 0:
        warnings.warn(f"{path.name} has negative labels; opening it as an image", stacklevel=2)
        kind = "image"
    return [(data, layer_kwargs(geometry, _layer_name(path)), kind)]


def get_reader(path):
    """Return a reader for a supported file or DICOM folder, else ``None`` (never raises)."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        from .core.io import is_image_path

        supported = is_image_path(path)
    except Exception:  # noqa: BLE001 - npe2 asks every reader; a probe must never fail loudly
        return None
    return read_layers if supported else None
