"""NIfTI files checked against their own header before they are trusted.

SimpleITK reads a NIfTI file cut short (an interrupted copy) as a full-size image whose missing
voxels are 0, believes headers that contradict the data, and turns NaN and infinite voxels into
0. This module reads the header itself, checks that it is self-consistent, reads the voxel block
to its end (compressed streams included) and returns the raw voxels so non-finite values can be
put back.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: NIfTI datatype code -> numpy dtype (scalar types; RGB/complex are refused by the reader)
_DTYPES = {
    2: "u1",
    4: "i2",
    8: "i4",
    16: "f4",
    64: "f8",
    256: "i1",
    512: "u2",
    768: "u4",
    1024: "i8",
    1280: "u8",
    32: "c8",
    128: "V3",
    1792: "c16",
    2304: "V4",
}


@dataclass(frozen=True)
class NiftiHeader:
    """The header fields that say how many bytes of voxels follow, and where."""

    shape: tuple[int, ...]  # NIfTI order (x, y, z, ...)
    dtype: np.dtype
    vox_offset: int
    slope: float
    inter: float

    @property
    def nbytes(self) -> int:
        """Bytes of voxel data the header declares."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def read_header(path: Path) -> NiftiHeader:
    """Parse and check a NIfTI-1 or NIfTI-2 header.

    Raises
    ------
    ValueError
        One line naming the file when the header is not NIfTI or contradicts itself.
    """
    with _open(path) as f:
        try:
            raw = f.read(540)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"cannot read {path.name}: damaged compressed stream ({exc})"
            ) from None
    for order in "<>":
        size = struct.unpack(order + "i", raw[:4])[0] if len(raw) >= 4 else 0
        if size in (348, 540):
            break
    else:
        raise ValueError(f"cannot read {path.name}: not a NIfTI file (no valid header size)")
    if len(raw) < size:
        raise ValueError(f"cannot read {path.name}: truncated inside its {size}-byte header")
    if size == 348:
        dims = struct.unpack(order + "8h", raw[40:56])
        code, bitpix = struct.unpack(order + "2h", raw[70:74])
        offset = struct.unpack(order + "f", raw[108:112])[0]
        slope, inter = struct.unpack(order + "2f", raw[112:120])
    else:
        code, bitpix = struct.unpack(order + "2h", raw[12:16])
        dims = struct.unpack(order + "8q", raw[16:80])
        offset = struct.unpack(order + "q", raw[168:176])[0]
        slope, inter = struct.unpack(order + "2d", raw[176:192])
    ndim = dims[0]
    if not 1 <= ndim <= 7:
        raise ValueError(f"cannot read {path.name}: header declares {ndim} dimensions (1-7)")
    shape = tuple(int(d) for d in dims[1 : ndim + 1])
    bad = [(i + 1, d) for i, d in enumerate(shape) if d < 1]
    if bad:
        axis, value = bad[0]
        raise ValueError(f"cannot read {path.name}: header declares dim[{axis}] = {value}")
    if code not in _DTYPES:
        raise ValueError(f"cannot read {path.name}: unknown NIfTI datatype code {code}")
    dtype = np.dtype(_DTYPES[code]).newbyteorder("<" if order == "<" else ">")
    if bitpix != dtype.itemsize * 8:
        raise ValueError(
            f"cannot read {path.name}: header says {bitpix} bits per voxel but datatype "
            f"{code} has {dtype.itemsize * 8}"
        )
    if not np.isfinite(offset) or offset < size:
        raise ValueError(f"cannot read {path.name}: voxel offset {offset} lies inside the header")
    return NiftiHeader(shape, dtype, int(offset), float(slope), float(inter))


def read_voxels(path: Path, header: NiftiHeader) -> np.ndarray:
    """Read the whole voxel block, in numpy axis order (reversed NIfTI order).

    Raises
    ------
    ValueError
        When the file (or its compressed stream) ends before every declared voxel.
    """
    with _open(path) as f:
        try:
            data = f.read()
        except (OSError, EOFError, zlib.error):
            data = None
    end = header.vox_offset + header.nbytes
    if data is None or len(data) < end:
        have = "an incomplete compressed stream" if data is None else f"{len(data):,} bytes"
        raise ValueError(
            f"cannot read {path.name}: truncated: the header declares {header.nbytes:,} bytes of "
            f"voxels from byte {header.vox_offset}, the file holds {have}"
        )
    voxels = np.frombuffer(
        data, header.dtype, count=int(np.prod(header.shape)), offset=header.vox_offset
    )
    return voxels.reshape(header.shape[::-1])


def verified_voxels(path: Path) -> np.ndarray:
    """Check ``path``'s header and data length; return its raw voxels (numpy axis order)."""
    header = read_header(path)
    return read_voxels(path, header)


def restore_non_finite(
    values: np.ndarray, raw: np.ndarray, slope: float, inter: float
) -> np.ndarray:
    """Put the file's NaN and infinite voxels back where a reader replaced them.

    ``values`` are the reader's voxels (scaled), ``raw`` the file's; both numpy axis order and the
    same shape. Returns ``values`` (a copy when anything was restored).
    """
    if raw.dtype.kind != "f" or values.dtype.kind != "f" or values.shape != raw.shape:
        return values
    bad = ~np.isfinite(raw)
    if not bad.any():
        return values
    scale = slope if slope not in (0.0,) and np.isfinite(slope) else 1.0
    shift = inter if np.isfinite(inter) else 0.0
    out = np.array(values, copy=True)
    out[bad] = raw[bad].astype(out.dtype) * scale + shift
    return out
