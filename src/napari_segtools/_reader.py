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

#: SOP Class UID of DICOM Segmentation Storage
_DICOM_SEG = "1.2.840.10008.5.1.4.1.1.66.4"

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
    from .core.segments.source_grid import SOURCE_GRID_KEY, SourceGrid

    if path.name.lower().endswith(".seg.nrrd") or _is_dicom_seg(path):
        return _read_segmentation(path, name=name)
    data, geometry = read_image(path, reorient=True, series_id=series_id)
    segments = _segments_beside(path)  # an ITK-SNAP label file beside marks a label map too
    named = bool(segments) and data.dtype.kind in "ui"
    kind = "labels" if named or looks_like_labels(path, data) else "image"
    if kind == "labels" and data.dtype.kind == "i" and data.size and data.min() < 0:
        warnings.warn(f"{path.name} has negative labels; opening it as an image", stacklevel=2)
        kind = "image"
    source = SourceGrid.from_file(path, series_id=series_id)
    kwargs = layer_kwargs(
        geometry,
        name=name or strip_image_suffix(path),
        metadata={SOURCE_GRID_KEY: source.as_metadata()},
    )
    if kind == "labels":
        kwargs.update(_segment_style(segments) if segments else _generic_label_style(data))
    return data, kwargs, kind


def _is_dicom_seg(path: Path) -> bool:
    """Tell whether ``path`` is a DICOM SEG file: its SOP Class UID in the file's first 4 KiB.

    The file meta header (0002,0002) carries the UID as text; GDCM cannot be asked instead
    because it does not read the header of every SEG file.
    """
    if not (path.is_file() and path.name.lower().endswith(".dcm")):
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    uid = _DICOM_SEG.encode()
    at = head.find(uid)
    return at >= 0 and not head[at + len(uid) : at + len(uid) + 1].isdigit()


def _read_segmentation(path: Path, *, name: str | None = None) -> tuple:
    """Read a Slicer ``.seg.nrrd`` or a DICOM SEG as a Labels layer with names and colours."""
    from .core.io import strip_image_suffix
    from .core.segments.source_grid import SOURCE_GRID_KEY, SourceGrid, reorient_for_display

    if path.name.lower().endswith(".seg.nrrd"):
        from .core.segments.seg_nrrd import read_seg_nrrd

        labels, stored, segments = read_seg_nrrd(path)
        stem = path.name[: -len(".seg.nrrd")]
    else:
        from .core.segments.dicom_seg import read_dicom_seg

        labels, stored, segments = read_dicom_seg(path)
        stem = strip_image_suffix(path)
    source = SourceGrid(labels.shape, stored, str(path))
    data, geometry = reorient_for_display(labels, stored)
    kwargs = layer_kwargs(
        geometry, name=name or stem, metadata={SOURCE_GRID_KEY: source.as_metadata()}
    )
    kwargs.update(_segment_style(segments))
    return data, kwargs, "labels"


def _segments_beside(path: Path) -> tuple:
    """Segments of the ITK-SNAP label description file beside ``path``, if one reads cleanly."""
    from .core.segments.itksnap import itksnap_labels_path, read_itksnap_labels

    beside = itksnap_labels_path(path)
    if path.is_dir() or not beside.is_file():
        return ()
    try:
        return read_itksnap_labels(beside)
    except (OSError, ValueError) as exc:
        warnings.warn(f"ignoring {beside.name}: {exc}", stacklevel=3)
        return ()


def _segment_style(segments) -> dict:
    """Hover names and each segment's own colour (values with no segment stay transparent)."""
    style = labels_style({s.value: s.name for s in segments})
    style["colormap"] = {
        **{
            s.value: "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in s.color))
            for s in segments
        },
        None: "transparent",
    }
    return style


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
