"""Segment statistics: phantoms with known answers and SimpleITK's label statistics filters."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from napari_segtools.core._sitk import array_to_sitk
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.phantoms import ellipsoid_mask
from napari_segtools.core.samples import mni152, read_sample
from napari_segtools.core.segments.statistics import (
    SegmentStatistics,
    SegmentSummary,
    segment_statistics,
    segment_summary,
)

SPACING = (2.5, 0.8, 0.9)
FLIP_Y = np.diag([1.0, -1.0, 1.0])  # numpy axis 1 runs towards -y (anterior)


def _itk_shape(labels, geometry, *, feret=False):
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.SetComputePerimeter(True)
    shape.SetComputeFeretDiameter(feret)
    shape.Execute(array_to_sitk(labels, geometry))
    return shape


# ------------------------------------------------------------------ phantoms with known answers
def test_ball_volume_surface_and_roundness_on_anisotropic_grid():
    radius = 20.0
    ball = ellipsoid_mask(
        (24, 70, 62), center_mm=(30.0, 28.0, 27.9), radii_mm=(radius,) * 3, spacing=SPACING
    )
    row = segment_statistics(ball.astype(np.uint8), spacing=SPACING).row(1)
    true_ml = 4 / 3 * np.pi * radius**3 / 1000  # 33.51 ml
    assert row["volume_ml"] == pytest.approx(true_ml, rel=0.015)
    assert row["voxels"] * np.prod(SPACING) / 1000 == pytest.approx(row["volume_ml"], rel=1e-12)
    assert row["surface_area_mm2"] == pytest.approx(4 * np.pi * radius**2, rel=0.01)  # -0.3 %
    # roundness is Wadell's sphericity: area of the sphere of equal volume / surface area
    volume_mm3 = row["volume_ml"] * 1000
    sphericity = np.pi ** (1 / 3) * (6 * volume_mm3) ** (2 / 3) / row["surface_area_mm2"]
    assert row["roundness"] == pytest.approx(sphericity, rel=1e-9)
    assert row["roundness"] == pytest.approx(1.0, abs=0.01)  # measured 1.0008
    assert row["feret_diameter_mm"] == pytest.approx(2 * radius, abs=max(SPACING))
    assert row["elongation"] == pytest.approx(1.0, abs=0.03)
    assert row["flatness"] == pytest.approx(1.0, abs=0.03)
    # centroid (LPS, x = last numpy axis): the centre, within a tenth of a voxel
    centre = {"z": 30.0, "y": 28.0, "x": 27.9}
    for axis, spacing in zip("zyx", SPACING, strict=True):
        assert row[f"centroid_{axis}_mm"] == pytest.approx(centre[axis], abs=0.1 * spacing)


def test_box_volume_bbox_feret_and_moments_are_exact():
    labels = np.zeros((12, 30, 25), np.int32)
    labels[2:10, 4:24, 5:20] = 5  # 8 x 20 x 15 voxels
    row = segment_statistics(labels, spacing=SPACING).row(5)
    sides_mm = np.array([8, 20, 15]) * SPACING  # 20 x 16 x 13.5 mm
    assert row["voxels"] == 8 * 20 * 15
    assert row["volume_ml"] == pytest.approx(np.prod(sides_mm) / 1000, rel=1e-12)
    box_area = 2 * (
        sides_mm[0] * sides_mm[1] + sides_mm[1] * sides_mm[2] + sides_mm[0] * sides_mm[2]
    )
    # ITK's intercept (Crofton) estimate is made for smooth surfaces: measured 9-21 % below
    # the area of axis-aligned boxes (here 1269 of 1612 mm2), within 3 % on the ball above
    assert 0.75 * box_area < row["surface_area_mm2"] < box_area
    # farthest voxel centres: opposite corners, one voxel in from the box's outer corners
    centre_diagonal = np.linalg.norm((np.array([8, 20, 15]) - 1) * SPACING)
    assert row["feret_diameter_mm"] == pytest.approx(centre_diagonal, rel=1e-12)
    assert abs(row["feret_diameter_mm"] - np.linalg.norm(sides_mm)) < np.linalg.norm(SPACING)
    assert [row[f"bbox_min_{a}"] for a in "xyz"] == [5, 4, 2]
    assert [row[f"bbox_max_{a}"] for a in "xyz"] == [19, 23, 9]
    # principal moments of a discrete box: s^2 (n^2 - 1) / 12 per axis
    moments = sorted(s**2 * (n**2 - 1) / 12 for n, s in zip((8, 20, 15), SPACING, strict=True))
    assert row["elongation"] == pytest.approx(np.sqrt(moments[2] / moments[1]), rel=1e-9)
    assert row["flatness"] == pytest.approx(np.sqrt(moments[1] / moments[0]), rel=1e-9)


def test_disc_area_and_perimeter_in_2d():
    spacing, radius = (0.5, 0.7), 15.0
    disc = ellipsoid_mask(
        (70, 50), center_mm=(17.0, 17.5), radii_mm=(radius,) * 2, spacing=spacing
    )
    stats = segment_statistics(disc.astype(np.uint8) * 3, spacing=spacing)
    assert stats.columns[:4] == ("label", "voxels", "area_mm2", "perimeter_mm")
    assert "flatness" not in stats.columns and "centroid_z_mm" not in stats.columns
    row = stats.row(3)
    assert row["area_mm2"] == pytest.approx(np.pi * radius**2, rel=0.01)
    assert row["perimeter_mm"] == pytest.approx(2 * np.pi * radius, rel=0.03)
    assert row["feret_diameter_mm"] == pytest.approx(2 * radius, abs=max(spacing))
    assert (row["centroid_x_mm"], row["centroid_y_mm"]) == pytest.approx((17.5, 17.0), abs=0.05)
    assert stats.units["area_mm2"] == "mm2" and stats.units["perimeter_mm"] == "mm"


@pytest.mark.parametrize(
    ("shape", "box", "spacing"),
    [
        ((1300, 4), np.s_[10:1210, 2], (0.5, 0.7)),  # a straight line: no 2-D hull
        ((3, 640, 9), np.s_[1, 5:625, 2:8], SPACING),  # a flat plate: no 3-D hull
    ],
)
def test_feret_of_flat_and_straight_segments(shape, box, spacing):
    labels = np.zeros(shape, np.uint8)
    labels[box] = 1
    row = segment_statistics(labels, spacing=spacing).row(1)
    index = np.argwhere(labels)
    expected = np.linalg.norm((index.max(0) - index.min(0)) * spacing)
    assert row["feret_diameter_mm"] == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------ world coordinates
def test_centroid_honours_origin_and_flipped_direction():
    labels = np.zeros((3, 4, 5), np.uint8)
    labels[1, 2, 3] = 1
    labels[2, 1:3, 0:2] = 2  # indices z 2, y 1.5, x 0.5 on average
    geometry = Geometry((2.0, 3.0, 4.0), origin=(10.0, 20.0, 30.0), direction=FLIP_Y)
    stats = segment_statistics(labels, geometry=geometry)
    one, two = stats.row(1), stats.row(2)
    # numpy-order physical point origin + direction @ (index * spacing) = (12, 14, 42)
    assert (one["centroid_z_mm"], one["centroid_y_mm"], one["centroid_x_mm"]) == (12, 14, 42)
    assert (two["centroid_z_mm"], two["centroid_y_mm"], two["centroid_x_mm"]) == pytest.approx(
        (14.0, 15.5, 32.0), rel=1e-12
    )
    # the flip moves the centroid, not the voxel-index bounding box
    assert (two["bbox_min_y"], two["bbox_max_y"]) == (1, 2)
    shifted = segment_statistics(labels, spacing=(2.0, 3.0, 4.0)).row(1)
    assert (shifted["centroid_z_mm"], shifted["centroid_y_mm"], shifted["centroid_x_mm"]) == (
        2,
        6,
        12,
    )
    itk = _itk_shape(labels, geometry)
    assert itk.GetCentroid(2) == pytest.approx((32.0, 15.5, 14.0), rel=1e-12)  # ITK order x, y, z


# ------------------------------------------------------------------ equality with SimpleITK
def _bone():
    ct, geometry = read_sample("ct_head_invesalius", "ct_head_0051.nii.gz")
    mask, _ = read_sample("ct_head_invesalius", "ct_head_0051_bone_mask.nii.gz")
    return ct, mask, geometry


@pytest.fixture(scope="module", params=["ct_bone", "mni152"])
def sample(request):
    """(labels, image, geometry, ours, ITK shape filter, ITK intensity filter), computed once."""
    if request.param == "ct_bone":
        image, labels, geometry = _bone()
    else:
        image, labels, geometry = mni152()
    ours = segment_statistics(labels, geometry=geometry, image=image)
    intensity = sitk.LabelIntensityStatisticsImageFilter()
    intensity.Execute(array_to_sitk(labels, geometry), array_to_sitk(image, geometry))
    return labels, image, geometry, ours, _itk_shape(labels, geometry), intensity


def test_every_shared_column_equals_simpleitk(sample):
    labels, image, geometry, ours, shape, intensity = sample
    assert [row["label"] for row in ours.rows] == list(shape.GetLabels())
    for row in ours.rows:
        value = row["label"]
        origin, size = shape.GetBoundingBox(value)[:3], shape.GetBoundingBox(value)[3:]
        expected = {
            "voxels": shape.GetNumberOfPixels(value),
            "volume_ml": shape.GetPhysicalSize(value) / 1000,
            "surface_area_mm2": shape.GetPerimeter(value),
            **dict(
                zip(
                    ("centroid_x_mm", "centroid_y_mm", "centroid_z_mm"),
                    shape.GetCentroid(value),
                    strict=True,
                )
            ),
            **{f"bbox_min_{a}": o for a, o in zip("xyz", origin, strict=True)},
            **{f"bbox_max_{a}": o + s - 1 for a, o, s in zip("xyz", origin, size, strict=True)},
            "roundness": shape.GetRoundness(value),
            "elongation": shape.GetElongation(value),
            "flatness": shape.GetFlatness(value),
            "mean": intensity.GetMean(value),
            "sd": intensity.GetStandardDeviation(value),  # ITK's SD is the sample SD (n - 1)
            "min": intensity.GetMinimum(value),
            "max": intensity.GetMaximum(value),
        }
        for column, value_itk in expected.items():
            assert row[column] == pytest.approx(value_itk, rel=1e-9, abs=1e-9), column
        # ITK's median comes from a 128-bin histogram over the whole image's range: within one
        # bin of the exact one (measured: 0.66 and 0.84 of 255/128 on MNI152, 8 of 4010/128 HU
        # on the CT)
        voxels = image[labels == value]
        assert row["median"] == np.median(voxels)
        bin_width = (float(image.max()) - float(image.min())) / intensity.GetNumberOfBins()
        assert abs(row["median"] - intensity.GetMedian(value)) <= bin_width
        assert [row[f"p{q}"] for q in (5, 25, 75, 95)] == np.percentile(
            voxels, [5, 25, 75, 95]
        ).tolist()


@pytest.mark.parametrize("name", ["ct_bone", "mni152"])
def test_feret_diameter_equals_simpleitk_on_coarse_samples(name):
    # ITK compares all border-voxel pairs (145 s on the full MNI152): compare on every 4th voxel,
    # with a flipped axis and a shifted origin, which must change nothing
    image, labels, geometry = _bone() if name == "ct_bone" else mni152()
    coarse = labels[::4, ::4, ::4]
    grid = Geometry(tuple(4 * np.array(geometry.spacing)), (5.0, -7.0, 3.0), FLIP_Y)
    itk = _itk_shape(coarse, grid, feret=True)
    rows = segment_statistics(coarse, geometry=grid).rows
    assert len(rows) == len(itk.GetLabels()) >= 1
    for row in rows:
        assert row["feret_diameter_mm"] == pytest.approx(
            itk.GetFeretDiameter(row["label"]), rel=1e-12
        )


# ------------------------------------------------------------------ segment_summary
def test_segment_summary_counts_volumes_and_components():
    labels = np.zeros((4, 6, 6), np.uint16)
    labels[0, 0:2, 0:2] = 2  # piece A of 2
    labels[1, 2, 2] = 2  # touches A by a corner only
    labels[3, 5, 5] = 2  # far away
    labels[2:4, 3:5, 0:3] = 9  # a 2 x 2 x 3 block
    spacing = (2.0, 0.5, 0.5)
    face = segment_summary(labels, spacing=spacing)
    assert face == (
        SegmentSummary(value=2, voxels=6, volume_ml=6 * 0.0005, components=3),
        SegmentSummary(value=9, voxels=12, volume_ml=12 * 0.0005, components=1),
    )
    assert [s.components for s in segment_summary(labels, spacing=spacing, connectivity=2)] == [
        3,
        1,
    ]
    assert [s.components for s in segment_summary(labels, spacing=spacing, connectivity=3)] == [
        2,
        1,
    ]


def test_segment_summary_2d_has_no_volume_and_huge_values_work():
    labels = np.zeros((5, 5), np.int64)
    labels[0, 0] = labels[1, 1] = 70000
    labels[4, 4] = 2**40
    rows = segment_summary(labels, spacing=(1.0, 2.0), connectivity=2)
    assert [(r.value, r.voxels, r.components) for r in rows] == [(70000, 2, 1), (2**40, 1, 1)]
    assert all(np.isnan(r.volume_ml) for r in rows)
    assert segment_summary(labels, spacing=(1.0, 2.0), connectivity=2) == rows  # NaN and all
    stats = segment_statistics(labels, spacing=(1.0, 2.0))
    assert [(r["label"], r["area_mm2"]) for r in stats.rows] == [(70000, 4.0), (2**40, 2.0)]
    assert stats.row(2**40)["centroid_x_mm"] == 8.0


@pytest.mark.parametrize("dtype", [np.uint8, ">i2", np.int8, np.uint32, np.int64, np.uint64])
def test_every_integer_dtype_and_byte_order_gives_the_same_rows(dtype):
    labels = np.zeros((3, 4, 5), dtype)
    labels[1, 1:3, 2], labels[2, 3, 4] = 100, 7
    stats = segment_statistics(labels, spacing=(2.0, 1.0, 0.5))
    assert [(r["label"], r["voxels"], r["volume_ml"]) for r in stats.rows] == [
        (7, 1, 0.001),
        (100, 2, 0.002),
    ]
    assert stats.row(100)["centroid_y_mm"] == 1.5


def test_bool_mask_is_label_one_and_empty_map_has_no_rows(tmp_path):
    mask = np.zeros((3, 3, 3), bool)
    assert segment_summary(mask, spacing=1.0) == ()
    empty = segment_statistics(mask, spacing=(1, 1, 1), image=np.ones((3, 3, 3)))
    assert empty.rows == () and empty.columns[:3] == ("label", "voxels", "volume_ml")
    path = empty.write_csv(tmp_path / "empty.csv")
    assert path.read_text(encoding="utf-8").strip() == ",".join(empty.columns)
    mask[1, 1, 1] = True
    assert segment_summary(mask, spacing=(1, 1, 2)) == (SegmentSummary(1, 1, 0.002, 1),)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "match"),
    [
        (-np.ones((3, 3), int), {"spacing": (1, 1)}, ValueError, "negative"),
        (np.ones((3, 3), float), {"spacing": (1, 1)}, TypeError, "integer label map"),
        (np.ones(3, int), {"spacing": (1,)}, ValueError, "2-D or 3-D"),
        (np.ones((3, 3), int), {"spacing": (1, 1), "image": np.ones((3, 4))}, ValueError, "shape"),
        (np.ones((3, 3), int), {"spacing": (1, 0)}, ValueError, "positive"),
        (np.ones((3, 3), int), {"spacing": (1, 1, 1)}, ValueError, "3 values"),
        (np.ones((3, 3), int), {"spacing": "1mm"}, TypeError, "numbers"),
        (np.ones((3, 3), int), {}, TypeError, "neither"),
        (
            np.ones((3, 3), int),
            {"spacing": (1, 1), "geometry": Geometry((1, 1))},
            TypeError,
            "both",
        ),
        (np.ones((3, 3), int), {"geometry": (1, 1)}, TypeError, "Geometry"),
        (np.ones((3, 3), int), {"geometry": Geometry((1, 1, 1))}, ValueError, "3 axes"),
        (
            np.ones((3, 3), int),
            {"spacing": (1, 1), "image": np.full((3, 3), np.nan)},
            ValueError,
            "NaN",
        ),
        (
            np.ones((3, 3), int),
            {"spacing": (1, 1), "percentiles": (5, 101)},
            ValueError,
            "percentiles",
        ),
        (np.ones((3, 3), int), {"spacing": (1, 1), "percentiles": 50}, TypeError, "percentiles"),
    ],
)
def test_bad_input_raises_one_clear_error(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        segment_statistics(labels, **{"image": None, **kwargs})


def test_summary_bad_input():
    with pytest.raises(ValueError, match="connectivity"):
        segment_summary(np.ones((2, 2, 2), int), spacing=(1, 1, 1), connectivity=4)
    with pytest.raises(ValueError, match="negative"):
        segment_summary(np.array([[-1, 2]]), spacing=(1, 1))
    with pytest.raises(TypeError, match="integer label map"):
        segment_summary(np.ones((2, 2), np.float32), spacing=(1, 1))


# ------------------------------------------------------------------ the CSV file
def test_write_csv_round_trip_and_row_lookup(tmp_path):
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[0:2, 0:3, 0:2], labels[3, 4, 5] = 4, 1
    image = np.arange(labels.size, dtype=np.float32).reshape(labels.shape) / 3
    stats = segment_statistics(labels, spacing=SPACING, image=image, percentiles=(10, 2.5, 10))
    assert isinstance(stats, SegmentStatistics)
    assert stats.columns[-2:] == ("p10", "p2.5") and stats.units["volume_ml"] == "ml"
    path = stats.write_csv(tmp_path / "stats.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert tuple(read[0]) == stats.columns
    assert [{k: float(v) for k, v in r.items()} for r in read] == [
        {k: float(v) for k, v in r.items()} for r in stats.rows
    ]
    assert stats.row(4)["voxels"] == 12 and stats.row(4)["sd"] > 0 and stats.row(1)["sd"] == 0.0
    with pytest.raises(KeyError, match="label 3 is not"):
        stats.row(3)


def test_write_csv_is_atomic(tmp_path):
    stats = segment_statistics(np.ones((2, 2), np.uint8), spacing=(1, 1))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stats.write_csv(tmp_path / "missing" / "stats.csv")
    assert not (tmp_path / "missing").exists()
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        stats.write_csv(tmp_path / "folder.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.csv"]
