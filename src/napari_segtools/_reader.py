"""npe2 reader: medical images to Image or Labels layers placed in millimetres.

napari's builtin reader also claims these endings but cannot read NIfTI or NRRD and drops the
geometry of the rest, so File > Open and drag and drop would ask which reader to use every
time. When the plugin is activated (its first widget, sample or file in a session) it records
itself as napari's reader for :data:`READER_PATTERNS`, only for the endings that have no
preference yet: a choice the user made in napari's preferences is never replaced, and the
preference can be removed there (Preferences > Plugins > File extension readers).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ._layer_style import labels_style
from .core.geometry import layer_kwargs

#: File name patterns this plugin asks napari to open with it (not ``*.dcm``: the builtin
#: reader opens single DICOM pictures; DICOM series are folders, see :func:`prefer_reader`).
READER_PATTERNS = ("*.nii", "*.nii.gz", "*.nrrd", "*.nhdr", "*.mha", "*.mhd")

#: plugin name as napari's preferences spell it
PLUGIN_NAME = "napari-segtools"

#: label maps with more values than this get hover names but napari's own colours
_MAX_NAMED_VALUES = 256


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
    kwargs = layer_kwargs(geometry, name=name or strip_image_suffix(path))
    if kind == "labels":
        kwargs.update(_generic_label_style(data))
    return data, kwargs, kind


def _generic_label_style(data) -> dict:
    """Hover names "label 1", "label 2", ... (and contrasting colours when they are few)."""
    import numpy as np

    values = [int(v) for v in np.unique(data) if v != 0]
    if len(values) > _MAX_NAMED_VALUES:
        return {}
    style = labels_style({v: f"label {v}" for v in values})
    if len(values) > 8:  # the palette would repeat: keep napari's many-colour map
        style.pop("colormap")
    return style


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


def prefer_reader(patterns=READER_PATTERNS, *, replace: bool = False) -> list[str]:
    """Make this plugin napari's reader for ``patterns`` in napari's preferences.

    Parameters
    ----------
    patterns : sequence of str
        fnmatch patterns as napari's preferences hold them, e.g. ``"*.nii.gz"`` or, for the
        folders of DICOM series under one directory, ``"/data/dicom/*"``.
    replace : bool
        Also replace a preference already set for a pattern (by the user or another plugin).
        By default such a preference is kept.

    Returns
    -------
    list of str
        The patterns whose preference was set now.

    Examples
    --------
    >>> from napari_segtools._reader import prefer_reader
    >>> prefer_reader(["/data/dicom/*"])  # doctest: +SKIP
    ['/data/dicom/*']
    """
    from napari.settings import get_settings

    plugins = get_settings().plugins
    current = dict(plugins.extension2reader)
    added = [p for p in patterns if replace or p not in current]
    if added:
        plugins.extension2reader = {**current, **dict.fromkeys(added, PLUGIN_NAME)}
    return added


def activate(context=None) -> None:
    """npe2 activation hook: prefer this reader for :data:`READER_PATTERNS` where unset."""
    try:
        prefer_reader()
    except Exception as exc:  # noqa: BLE001 - activation must never stop the plugin from loading
        warnings.warn(f"napari-segtools could not set its reader preference: {exc}", stacklevel=2)
