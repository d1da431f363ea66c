"""npe2 writer: Labels and Image layers to NIfTI/NRRD/MetaImage, keeping their geometry."""

from __future__ import annotations

from typing import Any

import numpy as np

from .core.geometry import layer_geometry


def write_layer(path: str, data, meta: dict[str, Any]) -> list[str]:
    """Write one Labels or Image layer with its geometry; voxels are kept exactly.

    The geometry comes from the layer's scale, translate and affine. Returns the written path in
    a list, as npe2 expects.
    """
    from .core.io import write_image

    array = np.asarray(data)
    write_image(path, array, layer_geometry(meta, ndim=array.ndim))
    return [path]
