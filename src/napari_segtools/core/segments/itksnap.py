"""ITK-SNAP's label description file: one text line per label value with its colour and name.

ITK-SNAP reads and writes this file (Segmentation > Import/Export Label Descriptions) beside a
NIfTI label map, which has no room for names. Each line is ``IDX R G B A VIS MSH "LABEL"``:
value, colour 0..255, opacity 0..1, visibility and mesh visibility flags, quoted name; lines
starting with ``#`` are comments. The layout follows ITK-SNAP's own files
(``%5d %5d %4d %4d %8g %2d %2d    "%s"``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .info import SegmentInfo

_HEADER = """\
################################################
# ITK-SnAP Label Description File
# File format:
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
# Fields:
#    IDX:   Zero-based index
#    -R-:   Red color component (0..255)
#    -G-:   Green color component (0..255)
#    -B-:   Blue color component (0..255)
#    -A-:   Label transparency (0.00 .. 1.00)
#    VIS:   Label visibility (0 or 1)
#    IDX:   Label mesh visibility (0 or 1)
#  LABEL:   Label description
################################################
"""

_LINE = re.compile(
    r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9.eE+-]+)\s+(\d+)\s+(\d+)\s+\"(.*)\"\s*$"
)


def _line(value: int, rgb, alpha: float, visible: int, name: str) -> str:
    r, g, b = rgb
    return f'{value:5d} {r:5d} {g:4d} {b:4d} {alpha:8g} {visible:2d} {visible:2d}    "{name}"\n'


def itksnap_labels_path(image_path: str | os.PathLike) -> Path:
    """Return the label description file written beside a label map: ``<name>.label.txt``.

    Examples
    --------
    >>> itksnap_labels_path("/data/case01_seg.nii.gz").name
    'case01_seg.label.txt'
    """
    from ..io import strip_image_suffix

    path = Path(image_path)
    return path.with_name(f"{strip_image_suffix(path)}.label.txt")


def write_itksnap_labels(
    path: str | os.PathLike, segments: tuple[SegmentInfo, ...] | list[SegmentInfo]
) -> Path:
    """Write an ITK-SNAP label description file for ``segments`` (atomically).

    Line 0 is ITK-SNAP's "Clear Label"; each segment follows in value order, opaque and
    visible, colour rounded to 0..255.

    Parameters
    ----------
    path : str or Path
        Target text file (UTF-8).
    segments : sequence of SegmentInfo
        Value, name and colour (RGB 0..1) of each label.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    TypeError
        If an item of ``segments`` is not a :class:`SegmentInfo`.
    OSError
        If the file cannot be written (the path and the reason).

    Examples
    --------
    >>> import tempfile
    >>> path = write_itksnap_labels(tempfile.mkdtemp() + "/seg.label.txt",
    ...                             [SegmentInfo(1, "bone", (1.0, 0.0, 0.0))])
    >>> path.read_text(encoding="utf-8").splitlines()[-1]
    '    1   255    0    0        1  1  1    "bone"'
    """
    from ..io import check_writable, write_text_atomically

    path = Path(path)
    items = list(segments)
    bad = [s for s in items if not isinstance(s, SegmentInfo)]
    if bad:
        raise TypeError(f"`segments` must hold SegmentInfo items; got {type(bad[0]).__name__}")
    check_writable(path)
    lines = [_HEADER, _line(0, (0, 0, 0), 0, 0, "Clear Label")]
    for seg in sorted(items, key=lambda s: s.value):
        rgb = tuple(int(round(c * 255)) for c in seg.color)
        name = " ".join(seg.name.replace('"', "'").splitlines())
        lines.append(_line(seg.value, rgb, 1, 1, name))
    return write_text_atomically(path, "".join(lines))


def read_itksnap_labels(path: str | os.PathLike) -> tuple[SegmentInfo, ...]:
    """Read an ITK-SNAP label description file (value 0, "Clear Label", is skipped).

    Parameters
    ----------
    path : str or Path
        The text file.

    Returns
    -------
    tuple of SegmentInfo
        One per label line with a value > 0, in file order; colours scaled to 0..1.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a non-comment line is not a label line (its line number is named).

    Examples
    --------
    >>> import tempfile
    >>> path = write_itksnap_labels(tempfile.mkdtemp() + "/l.txt",
    ...                             [SegmentInfo(2, "white matter", (0.0, 1.0, 0.0))])
    >>> read_itksnap_labels(path)
    (SegmentInfo(value=2, name='white matter', color=(0.0, 1.0, 0.0)),)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot read {path.name}: no such file ({path})")
    segments = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _LINE.match(raw)
        if match is None:
            raise ValueError(
                f"cannot read {path.name}: line {number} is not an ITK-SNAP label line "
                '(IDX R G B A VIS MSH "LABEL")'
            )
        value = int(match[1])
        if value > 0:
            rgb = tuple(min(int(match[i]), 255) / 255 for i in (2, 3, 4))
            segments.append(SegmentInfo(value, match[8], (rgb[0], rgb[1], rgb[2])))
    return tuple(segments)
