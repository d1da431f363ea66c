"""Segment surface meshes: closed, the right size, in the right place, written faithfully."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from napari_segtools.core.geometry import Geometry
from napari_segtools.core.segments.info import SegmentInfo
from napari_segtools.core.segments.mesh import (
    export_meshes,
    segment_mesh,
    segment_meshes,
    write_mesh,
)

SPACING = (1.5, 1.0, 1.0)
RADIUS_MM = 20.0


def _ball(spacing=SPACING, shape=(36, 50, 50), radius_mm=RADIUS_MM) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    dist2 = sum(
        ((g - (n - 1) / 2) * s) ** 2 for g, n, s in zip(grids, shape, spacing, strict=True)
    )
    return (dist2 <= radius_mm**2).astype(np.uint8)


@pytest.fixture(scope="module")
def ball():
    return _ball()


@pytest.fixture(scope="module")
def ball_mesh(ball):
    return segment_mesh(ball, 1, geometry=Geometry(SPACING), name="ball")


def _voxel_ml(mask, spacing=SPACING) -> float:
    return float(mask.sum() * np.prod(spacing) / 1000)


def test_sphere_is_closed_and_measures_like_a_sphere(ball, ball_mesh):
    mesh = ball_mesh
    assert mesh.watertight and mesh.label == 1 and mesh.name == "ball"
    assert mesh.coordinates == "LPS"
    sphere_ml = 4 / 3 * np.pi * RADIUS_MM**3 / 1000
    # the surface runs through the voxel faces' midpoints: volume within 2 % of the voxel count
    assert mesh.volume_ml == pytest.approx(_voxel_ml(ball), rel=0.02)
    assert mesh.volume_ml == pytest.approx(sphere_ml, rel=0.03)
    # a staircase surface overestimates area: 9.8 % over 4 pi r^2 here, 8 % by Taubin smoothing
    sphere_mm2 = 4 * np.pi * RADIUS_MM**2
    assert 1.0 < mesh.area_mm2 / sphere_mm2 < 1.12
    # every vertex sits within a voxel of the sphere (centre of the grid, physical mm)
    centre = np.array([(50 - 1) / 2, (50 - 1) / 2, (36 - 1) / 2 * 1.5])  # x, y, z
    radii = np.linalg.norm(mesh.vertices_mm - centre, axis=1)
    assert np.abs(radii - RADIUS_MM).max() < 1.5


def test_faces_point_outwards(ball_mesh):
    v, f = ball_mesh.vertices_mm, ball_mesh.faces
    normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    outward = v[f].mean(axis=1) - v.mean(axis=0)
    assert (np.einsum("ij,ij->i", normals, outward) > 0).mean() > 0.99


def test_ras_negates_x_and_y_and_keeps_outward_faces(ball):
    lps = segment_mesh(ball, 1, geometry=Geometry(SPACING, origin=(5.0, -3.0, 7.0)))
    ras = segment_mesh(
        ball, 1, geometry=Geometry(SPACING, origin=(5.0, -3.0, 7.0)), coordinates="RAS"
    )
    np.testing.assert_allclose(ras.vertices_mm, lps.vertices_mm * [-1, -1, 1])
    np.testing.assert_array_equal(ras.faces, lps.faces)
    assert ras.volume_ml == pytest.approx(lps.volume_ml) and ras.coordinates == "RAS"


def test_origin_and_flipped_direction_move_the_vertices():
    labels = np.zeros((6, 8, 10), np.uint8)
    labels[1:3, 2:5, 3:8] = 4  # voxels z 1..2, y 2..4, x 3..7
    plain = segment_mesh(labels, 4, geometry=Geometry((2.0, 1.0, 0.5)))
    # box bounds in (x, y, z) mm: index range +- half a voxel (the 0.501 level moves 0.001 voxel)
    np.testing.assert_allclose(plain.vertices_mm.min(axis=0), [2.5 * 0.5, 1.5, 0.5 * 2], atol=0.01)
    np.testing.assert_allclose(plain.vertices_mm.max(axis=0), [7.5 * 0.5, 4.5, 2.5 * 2], atol=0.01)
    # origin (numpy order z, y, x) = (100, 20, -30); axis z (numpy 0) runs backwards
    flipped = Geometry(
        (2.0, 1.0, 0.5), origin=(100.0, 20.0, -30.0), direction=np.diag([-1.0, 1.0, 1.0])
    )
    moved = segment_mesh(labels, 4, geometry=flipped)
    expected = plain.vertices_mm * [1, 1, -1] + [-30.0, 20.0, 100.0]
    np.testing.assert_allclose(moved.vertices_mm, expected, atol=1e-9)
    assert moved.watertight and moved.volume_ml == pytest.approx(plain.volume_ml)
    assert moved.volume_ml > 0


def test_an_oblique_direction_keeps_size_and_rotates_the_vertices():
    labels = _ball((1.0, 1.0, 1.0), (12, 12, 16), 4.0)
    labels[:, :, 8:] = 0  # a half ball: not symmetric under the rotation
    angle = np.deg2rad(30)
    rotation = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    straight = segment_mesh(labels, 1, geometry=Geometry((1.0, 1.0, 1.0)))
    turned = segment_mesh(labels, 1, geometry=Geometry((1.0, 1.0, 1.0), direction=rotation))
    numpy_order = straight.vertices_mm[:, ::-1] @ rotation.T
    np.testing.assert_allclose(turned.vertices_mm, numpy_order[:, ::-1], atol=1e-9)
    assert turned.volume_ml == pytest.approx(straight.volume_ml)


def test_smoothing_keeps_volume_and_closes_nothing_open(ball, ball_mesh):
    smooth = segment_mesh(ball, 1, geometry=Geometry(SPACING), smoothing_iterations=20)
    assert smooth.watertight
    assert len(smooth.faces) == len(ball_mesh.faces)
    assert smooth.volume_ml == pytest.approx(ball_mesh.volume_ml, rel=0.01)
    # the staircase is gone: area closer to the sphere's
    assert (
        abs(smooth.area_mm2 - 4 * np.pi * RADIUS_MM**2)
        < abs(ball_mesh.area_mm2 - 4 * np.pi * RADIUS_MM**2) / 2
    )


@pytest.mark.parametrize("fraction", [0.5, 0.75])
def test_decimation_removes_faces_and_stays_closed(ball, ball_mesh, fraction):
    coarse = segment_mesh(ball, 1, geometry=Geometry(SPACING), decimate_fraction=fraction)
    assert coarse.watertight
    kept = len(coarse.faces) / len(ball_mesh.faces)
    assert kept == pytest.approx(1 - fraction, abs=0.1)
    assert coarse.volume_ml == pytest.approx(ball_mesh.volume_ml, rel=0.03)


def test_touching_corners_give_a_manifold_surface():
    rng = np.random.default_rng(3)
    labels = (rng.random((12, 13, 14)) < 0.5).astype(np.uint8)
    mesh = segment_mesh(labels, 1, geometry=Geometry((1.0, 2.0, 0.7)))
    assert mesh.watertight and mesh.volume_ml > 0


def test_segment_meshes_follow_values_and_names():
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[1:4, 1:7, 1:7] = 2
    labels[5:7, 2:5, 2:5] = 7
    meshes = segment_meshes(
        labels, geometry=Geometry((1.0, 1.0, 1.0)), segments=[SegmentInfo(7, "cyst")]
    )
    assert [(m.label, m.name) for m in meshes] == [(2, ""), (7, "cyst")]
    only = segment_meshes(labels, geometry=Geometry((1.0, 1.0, 1.0)), values=[7])
    assert [m.label for m in only] == [7]
    assert only[0].volume_ml == pytest.approx(meshes[1].volume_ml)
    # a 2x3x3 box: 18 voxels less the marching-cubes corner and edge cuts
    assert 0.010 < meshes[1].volume_ml < 0.018


def _read_stl(path):
    data = path.read_bytes()
    (count,) = struct.unpack("<I", data[80:84])
    assert len(data) == 84 + 50 * count
    record = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
    rows = np.frombuffer(data[84:], record)
    vertices, faces = np.unique(rows["vertices"].reshape(-1, 3), axis=0, return_inverse=True)
    return data[:80], vertices.astype(float), faces.reshape(-1, 3)


def _read_obj(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    vertices = [list(map(float, ln.split()[1:])) for ln in lines if ln.startswith("v ")]
    faces = [list(map(int, ln.split()[1:])) for ln in lines if ln.startswith("f ")]
    return lines[0], np.array(vertices), np.array(faces) - 1


def _read_ply(path):
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    n_vertices = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    n_faces = int(next(h for h in header if h.startswith("element face")).split()[-1])
    if "format ascii 1.0" in header:
        rows = data[end:].decode("ascii").split("\n")
        vertices = np.array([r.split() for r in rows[:n_vertices]], float)
        faces = np.array([r.split()[1:] for r in rows[n_vertices : n_vertices + n_faces]], int)
        return header, vertices, faces
    vertices = np.frombuffer(data[end : end + 12 * n_vertices], "<f4").reshape(-1, 3)
    faces = np.frombuffer(data[end + 12 * n_vertices :], [("n", "u1"), ("i", "<i4", 3)])
    assert (faces["n"] == 3).all() and len(faces) == n_faces
    return header, vertices.astype(float), faces["i"]


def _volume_ml(vertices, faces):
    v0, v1, v2 = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->", v0, np.cross(v1, v2)) / 6000)


@pytest.mark.parametrize(
    ("suffix", "binary", "reader"),
    [
        (".stl", True, _read_stl),
        (".obj", True, _read_obj),
        (".ply", True, _read_ply),
        (".ply", False, _read_ply),
    ],
)
def test_files_read_back_with_the_same_surface(tmp_path, ball_mesh, suffix, binary, reader):
    path = write_mesh(tmp_path / f"ball{suffix}", ball_mesh, binary=binary)
    header, vertices, faces = reader(path)
    assert "SPACE=LPS" in str(header)
    assert len(vertices) == len(ball_mesh.vertices_mm) and len(faces) == len(ball_mesh.faces)
    assert _volume_ml(vertices, faces) == pytest.approx(ball_mesh.volume_ml, rel=1e-5)
    assert not list(tmp_path.glob(".*partial"))


def test_export_meshes_names_files_after_segments(tmp_path):
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[1:4, 1:7, 1:7], labels[5:7, 2:5, 2:5], labels[5:7, 5:7, 5:7] = 1, 2, 3
    segments = [SegmentInfo(1, "white matter"), SegmentInfo(2, "lesion"), SegmentInfo(3, "lesion")]
    paths = export_meshes(
        tmp_path,
        labels,
        geometry=Geometry((1.0, 1.0, 1.0)),
        fmt="obj",
        coordinates="RAS",
        segments=segments,
    )
    assert [p.name for p in paths] == ["white_matter.obj", "lesion_2.obj", "lesion_3.obj"]
    header, vertices, _ = _read_obj(paths[0])
    assert header.startswith("# SPACE=RAS") and (vertices[:, 0] <= 0).all()
    unnamed = export_meshes(tmp_path, labels, geometry=Geometry((1.0, 1.0, 1.0)), values=[3])
    assert [p.name for p in unnamed] == ["segment_3.stl"]


def test_bad_inputs_say_what_is_wrong(tmp_path, ball_mesh):
    labels = np.zeros((4, 4, 4), np.uint8)
    labels[1:3, 1:3, 1:3] = 1
    geometry = Geometry((1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match=r"`value` 5 is not a label in `labels` \(present: 1\)"):
        segment_mesh(labels, 5, geometry=geometry)
    with pytest.raises(ValueError, match="`values` 9 is not a label"):
        segment_meshes(labels, geometry=geometry, values=[1, 9])
    with pytest.raises(ValueError, match="`labels` must be 3-D; got a 2-D"):
        segment_mesh(labels[0], 1, geometry=Geometry((1.0, 1.0)))
    with pytest.raises(ValueError, match="`coordinates` must be one of LPS, RAS"):
        segment_mesh(labels, 1, geometry=geometry, coordinates="RAI")
    with pytest.raises(ValueError, match=r"`decimate_fraction` must lie in \[0, 1\)"):
        segment_mesh(labels, 1, geometry=geometry, decimate_fraction=1.0)
    with pytest.raises(ValueError, match="`decimate_fraction`"):
        segment_mesh(labels, 1, geometry=geometry, decimate_fraction=-0.1)
    with pytest.raises(ValueError, match="`smoothing_iterations` must be >= 0"):
        segment_mesh(labels, 1, geometry=geometry, smoothing_iterations=-1)
    with pytest.raises(TypeError, match="`geometry` must be a Geometry"):
        segment_mesh(labels, 1, geometry=(1.0, 1.0, 1.0))
    shell = np.zeros((7, 7, 7), np.uint8)
    shell[1:6, 1:6, 1:6] = 1
    shell[2:5, 2:5, 2:5] = 0  # a one-voxel-thin hollow box: a 3-sample grid misses it
    with pytest.raises(ValueError, match="leaves no surface for label 1"):
        segment_mesh(shell, 1, geometry=geometry, decimate_fraction=0.95)
    with pytest.raises(ValueError, match="use .stl, .obj or .ply"):
        write_mesh(tmp_path / "ball.vtk", ball_mesh)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_mesh(tmp_path / "missing" / "ball.stl", ball_mesh)
    with pytest.raises(ValueError, match="`fmt` must be one of stl, obj, ply"):
        export_meshes(tmp_path, labels, geometry=geometry, fmt="vtk")
    assert not list(tmp_path.iterdir())
