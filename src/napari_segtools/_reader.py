"""npe2 reader: medical images to Image or Labels layers placed in millimetres."""

from __future__ import annotations

import warnings
from pathlib import Path

from .core.geometry import layer_kwargs


def read_layers(path) -> list[tuple]:
    """Read one file, or each series of a DICOM folder, into napari layer-data tuples."""
    from .core.io import list_dicom_series

    path = Path(path)
    series = list_dicom_series(path) if path.is_dir() else []
    if len(series) > 1:  # one layer per series, named after it
        return [_read_one(path, series_id=uid, name=f"{path.name} {uid}") for uid in series]
    return [_read_one(path)]


def _read_one(path: Path, *, series_id: str | None = None, name: str | None = None) -> tuple:
    from .core.io import looks_like_labels, read_image, strip_image_suffix

    data, geometry = read_image(path, reorient=True, series_id=series_id)
    kind = "labels" if looks_like_labels(path, data) else "image"
    if kind == "labels" and data.dtype.kind == "i" and data.size and data.min() < 0:
        warnings.warn(f"{path.name} has negative labels; opening it as an image", stacklevel=2)
        kind = "image"
    return data, layer_kwargs(geometry, name=name or strip_image_suffix(path)), kind


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
