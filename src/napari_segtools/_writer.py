"""npe2 writer: Labels and Image layers to NIfTI/NRRD/MetaImage, keeping their geometry."""

from __future__ import annotations

from typing import Any

import numpy as np

from .core._types import Geometry


def _geometry(data: np.ndarray, meta: dict[str, Any]) -> Geometry:
    ndim = np.ndim(data)
    direction = meta.get("metadata", {}).get("direction")
    return Geometry(
        spacing=tuple(meta.get("scale", (1.0,) * ndim))[-ndim:],
        origin=tuple(meta.get("translate", (0.0,) * ndim))[-ndim:],
        direction=None if direction is None else np.asarray(direction, float),
    )


def write_layer(path: str, data, meta: dict[str, Any]) -> list[str]:
    """Write one Labels or Image layer; voxels are kept exactly, geometry from scale/translate/
    metadata. Returns the written path in a list, as npe2 expects."""
    from .core.io import write_image

    array = np.asarray(data)
    write_image(path, array, _geometry(array, meta))
    return [path]
