"""Surface meshes of segments: marching cubes in patient coordinates, and STL/OBJ/PLY files.

A segment's surface is extracted from its binary mask, padded by empty voxels so that it is
always closed, and placed in millimetres through the label map's :class:`Geometry`. Vertices are
in patient coordinates (x, y, z): LPS as ITK and DICOM give them, or RAS (x and y negated) for
tools that expect it. Faces turn counter-clockwise seen from outside.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validate import (
    check_choice,
    check_flag,
    check_geometry,
    check_integer,
    check_labels,
    check_number,
)
from ..geometry import Geometry
from ..io import atomic_write, check_writable
from .info import SegmentInfo

#: Patient coordinate systems a mesh can be written in.
COORDINATES = ("LPS", "RAS")
#: Mesh file formats, by file ending.
MESH_FORMATS = ("stl", "obj", "ply")

# Taubin's shrink-free pair (lambda > 0 smooths, mu < -lambda inflates back); 0.5 / -0.53 keeps
# the volume of a 20 mm ball within 1 % after 20 iterations (measured in the tests)
_TAUBIN_LAMBDA, _TAUBIN_MU = 0.5, -0.53
# Just above one half: on a 0/1 mask, level 0.5 ties marching cubes' saddle tests where voxels
# touch only along an edge, and the MNI152 grey matter surface then had 312 edges shared by four
# faces; 0.501 separates such voxels, gives every edge exactly two faces and moves vertices by
# 0.001 voxel (the enclosed volume by 0.2 %).
_LEVEL = 0.501


@dataclass(frozen=True)
class Mesh:
    """A closed triangle surface of one segment, in mm.

    Attributes
    ----------
    vertices_mm : (N, 3) float ndarray
        Vertex positions in mm, patient coordinates (x, y, z) in the system ``coordinates``.
    faces : (M, 3) int ndarray
        Vertex indices of each triangle, counter-clockwise seen from outside.
    coordinates : str
        ``"LPS"`` or ``"RAS"``.
    area_mm2 : float
        Surface area in mm^2.
    volume_ml : float
        Enclosed volume in ml (divergence theorem; positive for outward faces).
    watertight : bool
        Whether every edge is shared by exactly two faces.
    label : int
        The label value the surface encloses.
    name : str
        The segment's name ("" when unknown).

    Examples
    --------
    >>> labels = np.zeros((4, 4, 4), np.uint8)
    >>> labels[1:3, 1:3, 1:3] = 1
    >>> mesh = segment_mesh(labels, 1, geometry=Geometry((1.0, 1.0, 1.0)))
    >>> mesh.watertight, mesh.coordinates, len(mesh.faces) > 0
    (True, 'LPS', True)
    """

    vertices_mm: np.ndarray
    faces: np.ndarray
    coordinates: str
    area_mm2: float
    volume_ml: float
    watertight: bool
    label: int
    name: str = ""


def _signed_volume_mm3(vertices: np.ndarray, faces: np.ndarray) -> float:
    v0, v1, v2 = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->", v0, np.cross(v1, v2)) / 6.0)


def _area_mm2(vertices: np.ndarray, faces: np.ndarray) -> float:
    v0, v1, v2 = (vertices[faces[:, i]] for i in range(3))
    return float(np.linalg.norm(np.cross(v1 - v0, v2 - v0), axis=1).sum() / 2.0)


def _edges(faces: np.ndarray) -> np.ndarray:
    """Every face edge as a sorted vertex pair, (3M, 2)."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.sort(edges, axis=1)


def _is_watertight(faces: np.ndarray) -> bool:
    if len(faces) == 0:
        return False
    _, counts = np.unique(_edges(faces), axis=0, return_counts=True)
    return bool((counts == 2).all())


def _taubin(vertices: np.ndarray, faces: np.ndarray, iterations: int) -> np.ndarray:
    """Taubin lambda/mu smoothing over the vertex adjacency (uniform weights).

    Hand-written (a few lines of sparse algebra) to avoid a mesh library dependency. Each
    iteration is a shrinking Laplacian step (lambda) followed by an inflating one (mu), so the
    surface loses its voxel steps without shrinking: volume-preserving to about 1 % (see
    ``_TAUBIN_LAMBDA``). Connectivity is untouched, so a watertight mesh stays watertight.
    """
    from scipy import sparse

    edges = np.unique(_edges(faces), axis=0)
    n = len(vertices)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    adjacency = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    degree[degree == 0] = 1.0
    out = vertices.copy()
    for _ in range(iterations):
        for factor in (_TAUBIN_LAMBDA, _TAUBIN_MU):
            out += factor * (adjacency @ out / degree[:, None] - out)
    return out


def _surface(mask: np.ndarray, spacing: tuple[float, ...], decimate_fraction: float):
    """Marching cubes of a cropped binary mask; vertices in mm from the mask's voxel 0."""
    from scipy import ndimage
    from skimage.measure import marching_cubes

    padded = np.pad(mask.astype(np.float32), 1)
    mm_per_index = np.asarray(spacing, float)
    if decimate_fraction > 0:
        # No edge-collapse decimation without a mesh library. Instead the padded mask is resampled
        # (linear) onto a grid sqrt(1 - f) times as fine per axis, so the surface has about
        # (1 - f) times the faces. The end samples are the empty padding, so it stays closed,
        # unlike vertex clustering; the volume moves by about 1 % at f = 0.75 (measured).
        scale = np.sqrt(1.0 - decimate_fraction)
        shape = tuple(max(3, round(n * scale)) for n in padded.shape)
        # old voxels per new voxel, mapping end sample onto end sample
        step = np.array(
            [(old - 1) / (new - 1) for new, old in zip(shape, padded.shape, strict=True)]
        )
        padded = ndimage.affine_transform(padded, step, output_shape=shape, order=1)
        mm_per_index = mm_per_index * step
    if padded.max() <= _LEVEL:
        return None
    vertices, faces, _, _ = marching_cubes(padded, _LEVEL, spacing=tuple(mm_per_index))
    return vertices - np.asarray(spacing, float), faces  # undo the one-voxel pad


def _to_patient(vertices_mm: np.ndarray, start: np.ndarray, geometry: Geometry, coordinates: str):
    """Map offsets in mm from voxel ``start`` (numpy order) to patient (x, y, z) coordinates."""
    offset = vertices_mm + start * np.asarray(geometry.spacing)
    physical = np.asarray(geometry.origin) + offset @ geometry.direction.T  # numpy axis order
    xyz = physical[:, ::-1].copy()
    if coordinates == "RAS":
        xyz[:, :2] *= -1.0  # a half turn about z: orientation (and face winding) is kept
    return xyz


def _check_options(labels, geometry, coordinates, smoothing_iterations, decimate_fraction):
    labels = check_labels(labels, ndims=(3,))
    geometry = check_geometry(geometry, 3, array_name="labels")
    coordinates = check_choice(coordinates, "coordinates", COORDINATES)
    iterations = check_integer(smoothing_iterations, "smoothing_iterations", minimum=0)
    fraction = check_number(decimate_fraction, "decimate_fraction", low=0.0, high=1.0)
    if fraction >= 1.0:
        raise ValueError(f"`decimate_fraction` must lie in [0, 1); got {decimate_fraction!r}")
    return labels, geometry, coordinates, iterations, fraction


def _mesh(labels, value, geometry, coordinates, iterations, fraction, name) -> Mesh:
    mask = labels == value
    occupied = [
        np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3)
    ]
    start = np.array([ix[0] for ix in occupied])
    crop = mask[tuple(slice(ix[0], ix[-1] + 1) for ix in occupied)]  # the segment's bounding box
    surface = _surface(crop, geometry.spacing, fraction)
    if surface is None:
        raise ValueError(
            f"`decimate_fraction` {fraction:g} leaves no surface for label {value} "
            f"({int(crop.sum())} voxels); use a smaller fraction"
        )
    vertices, faces = surface
    if iterations:
        vertices = _taubin(vertices, faces, iterations)
    xyz = _to_patient(vertices, start, geometry, coordinates)
    faces = faces.astype(np.int64)
    volume = _signed_volume_mm3(xyz, faces)
    if volume < 0:  # a flip in the direction, or numpy -> (x, y, z) axis reversal, turned it
        faces = faces[:, ::-1].copy()
        volume = -volume
    return Mesh(
        vertices_mm=xyz,
        faces=faces,
        coordinates=coordinates,
        area_mm2=_area_mm2(xyz, faces),
        volume_ml=volume / 1000.0,
        watertight=_is_watertight(faces),
        label=int(value),
        name=name,
    )


def _present(labels: np.ndarray) -> list[int]:
    return [int(v) for v in np.unique(labels) if v != 0]


def _check_value(value, present: Sequence[int], name: str = "value") -> int:
    number = check_integer(value, name, minimum=1)
    if number not in present:
        listed = ", ".join(str(v) for v in present) or "none"
        raise ValueError(f"`{name}` {number} is not a label in `labels` (present: {listed})")
    return number


def segment_mesh(
    labels: np.ndarray,
    value: int,
    *,
    geometry: Geometry,
    coordinates: str = "LPS",
    smoothing_iterations: int = 0,
    decimate_fraction: float = 0.0,
    name: str = "",
) -> Mesh:
    """Return the closed surface of one segment in patient coordinates (mm).

    Parameters
    ----------
    labels : (Z, Y, X) int ndarray
        Label map in numpy axis order.
    value : int
        The label value whose voxels the surface encloses.
    geometry : Geometry
        Spacing and origin (mm) and direction of ``labels``.
    coordinates : {"LPS", "RAS"}
        Patient coordinate system of the vertices: LPS (ITK, DICOM, 3D Slicer files) or RAS
        (x and y negated).
    smoothing_iterations : int
        Taubin smoothing passes (0: none). Removes the voxel steps without shrinking the segment.
    decimate_fraction : float
        Approximate fraction of faces to remove, in [0, 1): the mask is resampled onto a grid
        ``sqrt(1 - decimate_fraction)`` times as fine per axis before the surface is extracted,
        so the mesh stays closed. 0 keeps the full voxel resolution.
    name : str
        The segment's name, kept on the mesh.

    Returns
    -------
    Mesh
        Vertices (mm), outward faces, area (mm^2), enclosed volume (ml) and watertightness.

    Raises
    ------
    ValueError
        If ``labels`` is not 3-D, ``value`` is not one of its labels, ``coordinates`` is not
        LPS or RAS, or a fraction is outside [0, 1).

    Examples
    --------
    >>> labels = np.zeros((5, 6, 6), np.uint8)
    >>> labels[1:4, 1:5, 1:5] = 2
    >>> mesh = segment_mesh(labels, 2, geometry=Geometry((2.0, 1.0, 1.0)))
    >>> mesh.watertight, round(mesh.volume_ml * 1000) < 3 * 4 * 4 * 2
    (True, True)
    """
    labels, geometry, coordinates, iterations, fraction = _check_options(
        labels, geometry, coordinates, smoothing_iterations, decimate_fraction
    )
    value = _check_value(value, _present(labels))
    return _mesh(labels, value, geometry, coordinates, iterations, fraction, str(name))


def _names(segments: Iterable[SegmentInfo]) -> dict[int, str]:
    names = {}
    for segment in segments:
        if not isinstance(segment, SegmentInfo):
            raise TypeError(f"`segments` must hold SegmentInfo items; got {segment!r:.80}")
        names[segment.value] = segment.name
    return names


def segment_meshes(
    labels: np.ndarray,
    *,
    geometry: Geometry,
    values: Sequence[int] | None = None,
    coordinates: str = "LPS",
    smoothing_iterations: int = 0,
    decimate_fraction: float = 0.0,
    segments: Sequence[SegmentInfo] = (),
) -> tuple[Mesh, ...]:
    """Return one closed surface per segment, in patient coordinates (mm).

    Parameters
    ----------
    labels : (Z, Y, X) int ndarray
        Label map in numpy axis order.
    geometry : Geometry
        Spacing and origin (mm) and direction of ``labels``.
    values : sequence of int, optional
        Label values to mesh, in this order; every non-zero label (ascending) by default.
    coordinates : {"LPS", "RAS"}
        Patient coordinate system of the vertices.
    smoothing_iterations : int
        Taubin smoothing passes (0: none); see :func:`segment_mesh`.
    decimate_fraction : float
        Approximate fraction of faces to remove, in [0, 1); see :func:`segment_mesh`.
    segments : sequence of SegmentInfo
        Names of the segments, by label value; unnamed segments get ``""``.

    Returns
    -------
    tuple of Mesh
        One per value.

    Raises
    ------
    ValueError
        As :func:`segment_mesh`, naming the first unknown value.

    Examples
    --------
    >>> labels = np.zeros((6, 6, 6), np.uint8)
    >>> labels[1:3, 1:5, 1:5], labels[3:5, 1:5, 1:5] = 1, 2
    >>> meshes = segment_meshes(labels, geometry=Geometry((1.0, 1.0, 1.0)),
    ...                         segments=[SegmentInfo(2, "tumour")])
    >>> [(m.label, m.name, round(m.volume_ml * 1000)) for m in meshes]
    [(1, '', 28), (2, 'tumour', 28)]
    """
    labels, geometry, coordinates, iterations, fraction = _check_options(
        labels, geometry, coordinates, smoothing_iterations, decimate_fraction
    )
    present = _present(labels)
    chosen = present if values is None else [_check_value(v, present, "values") for v in values]
    names = _names(segments)
    return tuple(
        _mesh(labels, v, geometry, coordinates, iterations, fraction, names.get(v, ""))
        for v in chosen
    )


def _stl_bytes(mesh: Mesh) -> bytes:
    triangles = mesh.vertices_mm[mesh.faces]  # (M, 3, 3)
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, lengths, out=np.zeros_like(normals), where=lengths > 0)
    record = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
    rows = np.zeros(len(mesh.faces), record)
    rows["normal"], rows["vertices"] = normals, triangles
    # 3D Slicer reads the coordinate system from "SPACE=..." in the header
    header = f"SPACE={mesh.coordinates} napari-segtools label {mesh.label} {mesh.name}"
    header_bytes = header.encode("ascii", "replace")[:80].ljust(80, b" ")
    return header_bytes + struct.pack("<I", len(rows)) + rows.tobytes()


def _obj_bytes(mesh: Mesh) -> bytes:
    lines = [f"# SPACE={mesh.coordinates} napari-segtools label {mesh.label} {mesh.name}"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices_mm]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _ply_bytes(mesh: Mesh, binary: bool) -> bytes:
    fmt = "binary_little_endian" if binary else "ascii"
    header = (
        f"ply\nformat {fmt} 1.0\ncomment SPACE={mesh.coordinates} napari-segtools label "
        f"{mesh.label} {mesh.name}\nelement vertex {len(mesh.vertices_mm)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {len(mesh.faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    if not binary:
        body = [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices_mm]
        body += [f"3 {a} {b} {c}" for a, b, c in mesh.faces]
        return (header + "\n".join(body) + "\n").encode("utf-8")
    face = np.dtype([("n", "u1"), ("index", "<i4", 3)])
    faces = np.zeros(len(mesh.faces), face)
    faces["n"], faces["index"] = 3, mesh.faces
    vertices = mesh.vertices_mm.astype("<f4").tobytes()
    return header.encode("utf-8") + vertices + faces.tobytes()


def write_mesh(path: str | os.PathLike, mesh: Mesh, *, binary: bool = True) -> Path:
    """Write a mesh to an STL, OBJ or PLY file, chosen by the file ending.

    STL is binary; OBJ is text; PLY is binary (little endian) or text (``binary=False``).
    Coordinates are mm; the header or a comment says ``SPACE=LPS`` or ``SPACE=RAS`` (as 3D
    Slicer writes and reads it). The file is written next to its target and renamed, so a
    failed write leaves no partial file.

    Parameters
    ----------
    path : str or Path
        Target file ending in ``.stl``, ``.obj`` or ``.ply``.
    mesh : Mesh
        The surface to write.
    binary : bool
        PLY only: binary (default) or ASCII.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        If the ending is not ``.stl``, ``.obj`` or ``.ply``.
    OSError
        If the file cannot be written (no such folder, permission denied).

    Examples
    --------
    >>> import tempfile
    >>> labels = np.zeros((4, 4, 4), np.uint8)
    >>> labels[1:3, 1:3, 1:3] = 1
    >>> mesh = segment_mesh(labels, 1, geometry=Geometry((1.0, 1.0, 1.0)))
    >>> write_mesh(tempfile.mkdtemp() + "/cube.stl", mesh).stat().st_size == 84 + 50 * len(mesh.faces)
    True
    """
    path = Path(path)
    if not isinstance(mesh, Mesh):
        raise TypeError(f"`mesh` must be a Mesh; got {type(mesh).__name__}")
    binary = check_flag(binary, "binary")
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in MESH_FORMATS:
        raise ValueError(f"cannot write {path.name}: use .stl, .obj or .ply as the file ending")
    check_writable(path)
    if suffix == "stl":
        data = _stl_bytes(mesh)
    elif suffix == "obj":
        data = _obj_bytes(mesh)
    else:
        data = _ply_bytes(mesh, binary)
    with atomic_write(path) as partial:
        partial.write_bytes(data)
    return path


def _file_stem(mesh: Mesh) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", mesh.name).strip("._")
    return stem or f"segment_{mesh.label}"


def export_meshes(
    folder: str | os.PathLike,
    labels: np.ndarray,
    *,
    geometry: Geometry,
    coordinates: str = "LPS",
    fmt: str = "stl",
    smoothing_iterations: int = 0,
    decimate_fraction: float = 0.0,
    values: Sequence[int] | None = None,
    segments: Sequence[SegmentInfo] = (),
) -> tuple[Path, ...]:
    """Write one mesh file per segment into ``folder``, named after the segment.

    A segment named "white matter" becomes ``white_matter.stl``; an unnamed one
    ``segment_<value>.stl``; two segments with the same name get ``_<value>`` appended. Every
    mesh is computed before the first file is written.

    Parameters
    ----------
    folder : str or Path
        An existing folder.
    labels : (Z, Y, X) int ndarray
        Label map in numpy axis order.
    geometry : Geometry
        Spacing and origin (mm) and direction of ``labels``.
    coordinates : {"LPS", "RAS"}
        Patient coordinate system of the vertices.
    fmt : {"stl", "obj", "ply"}
        File format (binary STL, OBJ text, binary PLY).
    smoothing_iterations : int
        Taubin smoothing passes (0: none); see :func:`segment_mesh`.
    decimate_fraction : float
        Approximate fraction of faces to remove, in [0, 1); see :func:`segment_mesh`.
    values : sequence of int, optional
        Label values to export; every non-zero label by default.
    segments : sequence of SegmentInfo
        Names of the segments, by label value.

    Returns
    -------
    tuple of Path
        The written files, in label order.

    Raises
    ------
    ValueError
        As :func:`segment_meshes`, or for an unknown ``fmt``.
    OSError
        If ``folder`` does not exist or cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> labels = np.zeros((5, 5, 5), np.uint8)
    >>> labels[1:4, 1:4, 1:4] = 3
    >>> paths = export_meshes(tempfile.mkdtemp(), labels, geometry=Geometry((1.0, 1.0, 1.0)),
    ...                       segments=[SegmentInfo(3, "liver lesion")])
    >>> [p.name for p in paths]
    ['liver_lesion.stl']
    """
    fmt = check_choice(fmt, "fmt", MESH_FORMATS)
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write meshes: the folder {folder} does not exist")
    meshes = segment_meshes(
        labels,
        geometry=geometry,
        values=values,
        coordinates=coordinates,
        smoothing_iterations=smoothing_iterations,
        decimate_fraction=decimate_fraction,
        segments=segments,
    )
    stems = [_file_stem(m) for m in meshes]
    paths = [
        folder / f"{stem}{'_' + str(m.label) if stems.count(stem) > 1 else ''}.{fmt}"
        for stem, m in zip(stems, meshes, strict=True)
    ]
    for path in paths:
        check_writable(path)
    return tuple(write_mesh(p, m) for p, m in zip(paths, meshes, strict=True))
