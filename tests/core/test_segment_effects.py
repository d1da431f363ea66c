"""Segment edit effects: physical units on anisotropic grids, masking, locks, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_segtools.core.cleanup import (
    CleanupSettings,
    close_mask,
    margin_mask,
    median_smooth,
    open_mask,
    remove_small_objects,
)
from napari_segtools.core.geometry import ellipsoid_footprint
from napari_segtools.core.segments.editable import editable_area, restrict
from napari_segtools.core.segments.effects import (
    fill_between_slices,
    fill_segment_holes,
    hollow,
    keep_largest_island,
    keep_selected_island,
    logical_operation,
    margin,
    remove_small_islands,
    smooth,
    smooth_joint,
    split_islands,
)
from napari_segtools.core.threshold_pipeline import ThresholdSettings, threshold_labels_cleaned

ANISO = (2.0, 0.5, 0.5)


def _radius_mm(shape, spacing):
    """Distance in mm of each voxel centre from the grid's centre, and the axis offsets."""
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    grids = np.meshgrid(*axes, indexing="ij")
    return np.sqrt(sum(g * g for g in grids)), axes


def _ball(shape, spacing, radius_mm, value=1, dtype=np.uint8):
    r, _ = _radius_mm(shape, spacing)
    return np.where(r <= radius_mm, value, 0).astype(dtype)


def _ball_volume(radius_mm):
    return 4.0 / 3.0 * np.pi * radius_mm**3


# ---- margin ---------------------------------------------------------------------------------
def test_margin_mask_is_a_dilation_and_erosion_by_the_physical_ball():
    rng = np.random.default_rng(1)
    mask = ndi.binary_opening(rng.random((12, 30, 30)) > 0.6)
    fp = ellipsoid_footprint(2.2, ANISO)
    grown = margin_mask(mask, spacing=ANISO, margin_mm=2.2)
    shrunk = margin_mask(mask, spacing=ANISO, margin_mm=-2.2)
    np.testing.assert_array_equal(grown, ndi.binary_dilation(mask, fp))
    # the image border is not background (as open_mask's convention)
    np.testing.assert_array_equal(shrunk, ndi.binary_erosion(mask, fp, border_value=1))


@pytest.mark.parametrize(
    ("margin_mm", "z_reach", "x_reach"), [(3.0, 11.0, 12.75), (-3.0, 7.0, 6.75)]
)
def test_margin_grows_and_shrinks_a_ball_by_millimetres_on_an_anisotropic_grid(
    margin_mm, z_reach, x_reach
):
    shape = (18, 60, 60)
    labels = _ball(shape, ANISO, 10.0)
    result = margin(labels, 1, margin_mm=margin_mm, spacing=ANISO)
    seg = result == 1
    volume = seg.sum() * np.prod(ANISO)
    # voxel centres sit 2 mm apart along z: the digital answer is within 5% of the ideal ball
    assert volume == pytest.approx(_ball_volume(10.0 + margin_mm), rel=0.05)
    # along each axis through the centre the segment reaches the original extent (z 9 mm,
    # x 9.75 mm) plus the largest whole number of voxels within the margin
    _, (z, _, x) = _radius_mm(shape, ANISO)
    assert np.abs(z[seg[:, 29, 29]]).max() == z_reach
    assert np.abs(x[seg[8, 29, :]]).max() == x_reach
    # every added or removed voxel is within |margin| of the original surface (in mm)
    ball = labels == 1
    changed = seg ^ ball
    to_ball = ndi.distance_transform_edt(~ball, sampling=ANISO)
    to_background = ndi.distance_transform_edt(ball, sampling=ANISO)
    assert (np.where(ball, to_background, to_ball)[changed] <= abs(margin_mm) + 1e-9).all()


def test_growing_paints_over_background_only():
    labels = np.zeros((1, 7), np.uint8)
    labels[0, 3] = 1
    labels[0, 5] = 2
    result = margin(labels, 1, margin_mm=1.0, spacing=(1.0, 0.5))
    assert result.tolist() == [[0, 1, 1, 1, 1, 2, 0]]


# ---- smoothing ------------------------------------------------------------------------------
def test_opening_removes_parts_thinner_than_the_kernel_in_mm():
    labels = _ball((16, 64, 64), ANISO, 7.0)
    # two rods along x: 4 mm x 4 mm (2 z-voxels x 8 y-voxels) and 4 mm x 1 mm (2 x 2 voxels)
    labels[7:9, 10:18, 40:60] = 1
    labels[7:9, 44:46, 40:60] = 1
    result = smooth(labels, 1, method="opening", kernel_mm=3.0, spacing=ANISO)
    body = _ball((16, 64, 64), ANISO, 7.0) == 1
    assert (result[body] == 1).mean() > 0.97
    assert (result[7:9, 44:46, 48:60] == 0).all()  # the 1 mm rod goes
    assert (result[7:9, 10:18, 48:56] == 1).all()  # the 4 mm rod stays
    np.testing.assert_array_equal(
        result == 1, open_mask(labels == 1, spacing=ANISO, radius_mm=1.5)
    )


def test_closing_fills_a_gap_narrower_than_the_kernel_but_not_other_segments():
    labels = np.zeros((8, 30, 40), np.uint8)
    labels[2:6, 5:25, 5:19] = 1
    labels[2:6, 5:25, 21:35] = 1  # a 1 mm gap (2 voxels at 0.5 mm) at x = 19, 20
    labels[2:6, 14:16, 19:21] = 2  # another segment inside the gap
    result = smooth(labels, 1, method="closing", kernel_mm=3.0, spacing=ANISO)
    gap = np.zeros(labels.shape, bool)
    gap[2:6, 7:23, 19:21] = True  # away from the ends, which a round kernel leaves open
    assert (result[gap & (labels == 0)] == 1).all()
    assert (result[labels == 2] == 2).all()
    expected = close_mask(labels == 1, spacing=ANISO, radius_mm=1.5) & (labels != 2)
    np.testing.assert_array_equal(result == 1, expected)


def test_median_removes_a_speck_and_fills_a_pinhole():
    labels = _ball((10, 40, 40), ANISO, 6.0)
    labels[5, 20, 20] = 0  # pinhole in the middle
    labels[1, 2, 2] = 1  # isolated speck
    result = smooth(labels, 1, method="median", kernel_mm=2.0, spacing=ANISO)
    assert result[5, 20, 20] == 1 and result[1, 2, 2] == 0
    np.testing.assert_array_equal(
        result == 1, median_smooth(labels == 1, spacing=ANISO, radius_mm=1.0)
    )


def test_gaussian_matches_scipy_and_a_zero_kernel_changes_nothing():
    labels = _ball((10, 40, 40), ANISO, 6.0)
    labels[5, 5:9, 5:9] = 1
    sigma = [2.4 / 2 / s for s in ANISO]
    expected = ndi.gaussian_filter((labels == 1).astype(np.float32), sigma, mode="nearest") > 0.5
    result = smooth(labels, 1, method="gaussian", kernel_mm=2.4, spacing=ANISO)
    np.testing.assert_array_equal(result == 1, expected)
    assert (result[5, 5:9, 5:9] == 0).all()  # the 2 mm speck is blurred away
    zero = smooth(labels, 1, method="gaussian", kernel_mm=0, spacing=ANISO)
    np.testing.assert_array_equal(zero, labels)


def test_joint_smoothing_straightens_a_shared_boundary_without_gaps():
    labels = np.zeros((6, 30, 40), np.uint16)
    labels[:, :, :20] = 1
    labels[:, :, 20:] = 2
    labels[:, ::3, 19] = 2  # a jagged boundary: bumps one voxel deep each way
    labels[:, 1::3, 20] = 1
    labels[3, 15, 30] = 3  # a lone voxel of a third label
    result = smooth_joint(labels, kernel_mm=2.0, spacing=(1.0, 0.5, 0.5))
    expected = np.where(np.arange(40) < 20, 1, 2)[None, None, :] * np.ones((6, 30, 1), int)
    np.testing.assert_array_equal(result, expected)
    assert result.dtype == labels.dtype and (result != 0).sum() == labels.size


def test_joint_smoothing_keeps_volumes_up_to_curvature_shrinkage_and_opens_no_gap():
    shape = (16, 48, 48)
    labels = _ball(shape, ANISO, 10.0) + _ball(shape, ANISO, 5.0)  # label 2 inside label 1
    result = smooth_joint(labels, kernel_mm=2.0, spacing=ANISO)
    # a Gaussian of standard deviation s thresholded at one half moves a sphere's surface in
    # by about s^2 / r (mean-curvature motion): s = 1 mm gives radii 4.8 and 9.9 mm
    inner = (result == 2).sum() / (labels == 2).sum()
    union = (result > 0).sum() / (labels > 0).sum()
    assert inner == pytest.approx((4.8 / 5.0) ** 3, abs=0.04)
    assert union == pytest.approx((9.9 / 10.0) ** 3, abs=0.02)
    r, _ = _radius_mm(shape, ANISO)
    assert (result[r <= 9.0] > 0).all()  # no gap opens between the two segments


# ---- islands --------------------------------------------------------------------------------
def _islands():
    labels = np.zeros((4, 10, 20), np.uint8)
    labels[1, 1:3, 1:3] = 3  # 4 voxels
    labels[1:3, 5:8, 1:6] = 3  # 30 voxels
    labels[2, 1:3, 10:15] = 3  # 10 voxels
    labels[2, 7:9, 15:18] = 5  # another segment
    return labels


def test_keep_largest_island():
    labels = _islands()
    result = keep_largest_island(labels, 3)
    expected = labels.copy()
    expected[1, 1:3, 1:3] = 0
    expected[2, 1:3, 10:15] = 0
    np.testing.assert_array_equal(result, expected)


def test_remove_small_islands_just_below_and_above_the_volume_in_mm3():
    labels = np.zeros((3, 8, 30), np.uint8)
    labels[1, 1, 1:10] = 4  # 9 voxels x 0.5 mm^3 = 4.5 mm^3
    labels[1, 3, 1:11] = 4  # 10 voxels = 5.0 mm^3: kept (exactly the limit)
    labels[1, 5, 1:12] = 4  # 11 voxels = 5.5 mm^3
    result = remove_small_islands(labels, 4, min_size_mm3=5.0, spacing=ANISO)
    assert (result[1, 1] == 0).all()
    assert (result[1, 3] == labels[1, 3]).all() and (result[1, 5] == labels[1, 5]).all()
    np.testing.assert_array_equal(
        result == 4, remove_small_objects(labels == 4, spacing=ANISO, min_size_mm3=5.0)
    )


def test_split_islands_numbers_them_largest_first_above_the_maximum():
    labels = _islands()
    result = split_islands(labels, 3)
    assert (result[1:3, 5:8, 1:6] == 3).all()  # largest keeps its value
    assert (result[2, 1:3, 10:15] == 6).all()  # next largest: max (5) + 1
    assert (result[1, 1:3, 1:3] == 7).all()
    assert (result == 5).sum() == 6 and (result > 0).sum() == (labels > 0).sum()
    small_removed = split_islands(labels, 3, min_size_mm3=4.0, spacing=ANISO)  # 8 voxels
    assert (small_removed[1, 1:3, 1:3] == 0).all()
    assert sorted(np.unique(small_removed).tolist()) == [0, 3, 5, 6]


def test_split_islands_refuses_values_beyond_the_dtype():
    labels = _islands()
    labels[0, 0, 0] = 254
    with pytest.raises(ValueError, match=r"`labels` of dtype uint8 cannot hold 2 new"):
        split_islands(labels, 3)


def test_keep_selected_island():
    labels = _islands()
    result = keep_selected_island(labels, 3, (1, 1, 2))
    assert (result == 3).sum() == 4 and (result[1, 1:3, 1:3] == 3).all()
    assert (result == 5).sum() == 6
    with pytest.raises(ValueError, match=r"`index` \(0, 0, 0\) is not inside label 3"):
        keep_selected_island(labels, 3, (0, 0, 0))


# ---- logical operations ---------------------------------------------------------------------
LOGIC = np.array([[1, 1, 1, 0, 0, 2, 2, 3]], np.uint8)
OTHER = np.array([[0, 1, 0, 1, 0, 1, 0, 0]], bool)


@pytest.mark.parametrize(
    ("operation", "other", "expected"),
    [
        ("copy", OTHER, [[0, 1, 0, 1, 0, 1, 2, 3]]),
        ("union", OTHER, [[1, 1, 1, 1, 0, 1, 2, 3]]),
        ("intersect", OTHER, [[0, 1, 0, 0, 0, 2, 2, 3]]),
        ("subtract", OTHER, [[1, 0, 1, 0, 0, 2, 2, 3]]),
        ("invert", None, [[0, 0, 0, 1, 1, 1, 1, 1]]),
        ("clear", None, [[0, 0, 0, 0, 0, 2, 2, 3]]),
        ("union", 2, [[1, 1, 1, 0, 0, 1, 1, 3]]),  # merges segment 2 into 1
        ("copy", 3, [[0, 0, 0, 0, 0, 2, 2, 1]]),
        ("intersect", 2, [[0, 0, 0, 0, 0, 2, 2, 3]]),  # disjoint segments: empty
        ("subtract", 2, [[1, 1, 1, 0, 0, 2, 2, 3]]),
    ],
)
def test_logical_operations(operation, other, expected):
    result = logical_operation(LOGIC, 1, operation, other=other)
    assert result.tolist() == expected and result.dtype == LOGIC.dtype


def test_copy_creates_a_new_segment_and_invert_respects_the_editable_area():
    assert logical_operation(LOGIC, 9, "copy", other=OTHER).tolist() == [[1, 9, 1, 9, 0, 9, 2, 3]]
    editable = editable_area(LOGIC, mode="empty")
    result = logical_operation(LOGIC, 1, "invert", editable=editable)
    assert result.tolist() == [[1, 1, 1, 1, 1, 2, 2, 3]]


# ---- hollow and holes -----------------------------------------------------------------------
@pytest.mark.parametrize("shell", ["inside", "centered", "outside"])
def test_hollow_leaves_a_shell_of_the_thickness_in_mm(shell):
    shape = (16, 56, 56)
    labels = _ball(shape, ANISO, 10.0)
    ball = labels == 1
    result = hollow(labels, 1, thickness_mm=2.0, spacing=ANISO, shell=shell)
    seg = result == 1
    to_background = ndi.distance_transform_edt(ball, sampling=ANISO)  # inside the ball
    to_ball = ndi.distance_transform_edt(~ball, sampling=ANISO)  # outside it
    inner, outer = {"inside": (2.0, 0.0), "centered": (1.0, 1.0), "outside": (0.0, 2.0)}[shell]
    expected = (ball & (to_background <= inner + 1e-9)) | (~ball & (to_ball <= outer + 1e-9))
    np.testing.assert_array_equal(seg, expected)
    assert seg.any() and not seg[8, 28, 28]  # a shell: the centre is empty
    # through the centre along x (0.5 mm voxels) the shell is 2 mm thick on each side
    assert seg[8, 28, :].sum() == 2 * 4


def test_fill_segment_holes_fills_a_cavity_but_not_a_channel_to_the_border():
    labels = np.zeros((12, 12, 24), np.uint8)
    labels[1:11, 1:11, 1:11] = 1
    labels[4:7, 4:7, 4:7] = 0  # closed cavity
    labels[5, 5, 5] = 2  # another segment inside it
    labels[1:11, 1:11, 13:23] = 1
    labels[4:7, 4:7, 16:19] = 0  # cavity with a channel to the border
    labels[5, 5, 19:24] = 0
    result = fill_segment_holes(labels, 1)
    cavity = np.zeros(labels.shape, bool)
    cavity[4:7, 4:7, 4:7] = True
    assert (result[cavity & (labels == 0)] == 1).all() and result[5, 5, 5] == 2
    assert (result[4:7, 4:7, 16:19] == 0).all()
    assert (result != labels).sum() == 26


# ---- fill between slices --------------------------------------------------------------------
@pytest.mark.parametrize("phase", [0, 1, 2, 3])
@pytest.mark.parametrize("axis", [0, 2])
def test_fill_between_slices_recovers_a_sphere_drawn_on_every_fourth_slice(phase, axis):
    n = 40
    index = np.indices((n, n, n)) - 19.5
    sphere = (index**2).sum(axis=0) <= 12**2
    drawn = np.zeros_like(sphere)
    taken = [slice(None)] * 3
    taken[axis] = slice(phase, None, 4)
    drawn[tuple(taken)] = sphere[tuple(taken)]
    labels = np.where(drawn, 2, 0).astype(np.uint16)
    labels[0, 0, 0] = 5  # another segment, not touched
    result = fill_between_slices(labels, axis=axis, values=[2])
    filled = result == 2
    dice = 2 * (filled & sphere).sum() / (filled.sum() + sphere.sum())
    assert dice >= 0.95
    assert (result[drawn] == 2).all() and result[0, 0, 0] == 5


# ---- editable area and locks ----------------------------------------------------------------
def test_editable_area_modes_and_intensity_range():
    labels = np.array([[0, 1, 1, 2, 0, 3]], np.uint8)
    image = np.array([[10, 20, 30, 40, 50, 60]])
    assert editable_area(labels).all()
    assert editable_area(labels, mode="inside", label=1).tolist() == [[0, 1, 1, 0, 0, 0]]
    assert editable_area(labels, mode="outside", label=1).tolist() == [[1, 0, 0, 1, 1, 1]]
    assert editable_area(labels, mode="empty").tolist() == [[1, 0, 0, 0, 1, 0]]
    ranged = editable_area(labels, image=image, intensity_range=(20, 50), locked=[2])
    assert ranged.tolist() == [[0, 1, 1, 0, 1, 0]]
    restricted = restrict(labels, np.full_like(labels, 7), ranged)
    assert restricted.tolist() == [[0, 7, 7, 2, 7, 3]]


def _scene():
    labels = _ball((12, 40, 40), ANISO, 7.0, value=1)
    labels[2:10, 2:8, 2:8] = 2
    labels[4:8, 30:36, 30:36] = 3  # locked
    labels[6, 2:4, 30:34] = labels[6, 34:36, 2:6] = 1  # small islands of 1, out and in
    labels[6, 20, 20] = labels[6, 20, 25] = 0  # pinholes, inside and outside the area
    editable = np.zeros(labels.shape, bool)
    editable[:, :, :22] = True  # the left half
    return labels, editable


EFFECTS = {
    "keep_largest_island": lambda a, **k: keep_largest_island(a, 1, **k),
    "remove_small_islands": lambda a, **k: remove_small_islands(
        a, 1, min_size_mm3=5.0, spacing=ANISO, **k
    ),
    "split_islands": lambda a, **k: split_islands(a, 1, **k),
    "keep_selected_island": lambda a, **k: keep_selected_island(a, 1, (6, 20, 10), **k),
    "logical_copy": lambda a, **k: logical_operation(a, 1, "copy", other=a > 0, **k),
    "logical_invert": lambda a, **k: logical_operation(a, 1, "invert", **k),
    "logical_clear": lambda a, **k: logical_operation(a, 1, "clear", **k),
    "margin_grow": lambda a, **k: margin(a, 1, margin_mm=20.0, spacing=ANISO, **k),
    "margin_shrink": lambda a, **k: margin(a, 1, margin_mm=-2.0, spacing=ANISO, **k),
    "smooth_median": lambda a, **k: smooth(a, 1, method="median", kernel_mm=3, spacing=ANISO, **k),
    "smooth_opening": lambda a, **k: smooth(
        a, 1, method="opening", kernel_mm=3, spacing=ANISO, **k
    ),
    "smooth_closing": lambda a, **k: smooth(
        a, 1, method="closing", kernel_mm=3, spacing=ANISO, **k
    ),
    "smooth_gaussian": lambda a, **k: smooth(
        a, 1, method="gaussian", kernel_mm=3, spacing=ANISO, **k
    ),
    "smooth_joint": lambda a, **k: smooth_joint(a, kernel_mm=6.0, spacing=ANISO, **k),
    "hollow": lambda a, **k: hollow(a, 1, thickness_mm=1.0, spacing=ANISO, shell="centered", **k),
    "fill_segment_holes": lambda a, **k: fill_segment_holes(a, 1, **k),
    "fill_between_slices": lambda a, **k: fill_between_slices(a, **k),
}


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_effects_change_only_the_editable_area_and_never_a_locked_label(name):
    labels, editable = _scene()
    if name == "fill_between_slices":
        labels = np.where(np.arange(12)[:, None, None] % 3 == 0, labels, 0).astype(labels.dtype)
    before = labels.copy()
    free = EFFECTS[name](labels)
    masked = EFFECTS[name](labels, editable=editable, locked=[3])
    np.testing.assert_array_equal(labels, before)  # the input is never changed
    assert masked.shape == labels.shape and masked.dtype == labels.dtype
    assert (masked[~editable] == labels[~editable]).all()
    assert ((masked == 3) == (labels == 3)).all()
    # inside the area the masked run equals the free run (locked voxels aside)
    inside = editable & (labels != 3) & (free != 3)
    np.testing.assert_array_equal(masked[inside], free[inside])
    assert (masked != labels).any() and (free != labels)[~editable].any()


# ---- bad input ------------------------------------------------------------------------------
def test_an_absent_or_locked_value_gets_one_clear_message():
    labels, _ = _scene()
    with pytest.raises(ValueError, match=r"^label 7 is not in the label map \(`value`\)$"):
        margin(labels, 7, margin_mm=1.0, spacing=ANISO)
    with pytest.raises(ValueError, match=r"^label 3 is locked \(`locked`\)"):
        smooth(labels, 3, method="median", kernel_mm=1.0, spacing=ANISO, locked=[3])
    with pytest.raises(ValueError, match=r"^label 9 is not in the label map \(`other`\)$"):
        logical_operation(labels, 1, "union", other=9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: margin(a, 1, margin_mm=float("nan"), spacing=ANISO), "`margin_mm`"),
        (lambda a: margin(a, 1, margin_mm=1.0, spacing=(1.0, 1.0)), "`spacing` has 2 values"),
        (
            lambda a: margin(a, 1, margin_mm=1.0, spacing=ANISO, editable=np.ones((2, 2))),
            "`editable`",
        ),
        (lambda a: smooth(a, 1, method="mean", kernel_mm=1.0, spacing=ANISO), "`method`"),
        (lambda a: smooth(a, 1, method="median", kernel_mm=-1, spacing=ANISO), "`kernel_mm`"),
        (lambda a: smooth(a, 1, method="median", kernel_mm=1e9, spacing=ANISO), "`kernel_mm`"),
        (lambda a: smooth_joint(a, kernel_mm=1.0, spacing=(0, 1, 1)), "`spacing`"),
        (lambda a: hollow(a, 1, thickness_mm=0, spacing=ANISO), "`thickness_mm` must be > 0"),
        (lambda a: hollow(a, 1, thickness_mm=1, spacing=ANISO, shell="middle"), "`shell`"),
        (lambda a: logical_operation(a, 1, "xor", other=a > 0), "`operation`"),
        (lambda a: logical_operation(a, 1, "union"), "`other`"),
        (lambda a: logical_operation(a, 1, "union", other=np.ones((3, 3))), "`other`"),
        (lambda a: remove_small_islands(a, 1, min_size_mm3=-1, spacing=ANISO), "`min_size_mm3`"),
        (lambda a: split_islands(a, 1, min_size_mm3=2.0), "`spacing` is required"),
        (lambda a: keep_largest_island(a, 1, connectivity=4), "`connectivity`"),
        (lambda a: keep_selected_island(a, 1, (99, 0, 0)), "outside"),
        (lambda a: fill_between_slices(a[0]), "`labels` must be 3-D"),
        (lambda a: fill_between_slices(a, axis=3), "`axis`"),
        (lambda a: keep_largest_island(a.astype(float), 1), "`labels` must be an integer"),
        (lambda a: keep_largest_island(a, 1, locked="3"), "`locked`"),
        (lambda a: editable_area(a, mode="inside"), "`label` is required"),
        (lambda a: editable_area(a, mode="nowhere"), "`mode`"),
        (lambda a: editable_area(a, intensity_range=(0, 1)), "`image` and `intensity_range`"),
        (lambda a: editable_area(a, image=a, intensity_range=(5, 1)), "`intensity_range`"),
    ],
)
def test_bad_input_gets_a_clear_message_and_leaves_the_input_alone(call, message):
    labels, _ = _scene()
    before = labels.copy()
    with pytest.raises((ValueError, TypeError)) as info:
        call(labels)
    assert message in str(info.value) and "\n" not in str(info.value)
    np.testing.assert_array_equal(labels, before)


# ---- one morphology for the Threshold clean-up and the effects --------------------------------
def test_the_threshold_clean_up_and_the_smoothing_effect_are_the_same_opening():
    rng = np.random.default_rng(4)
    image = ndi.gaussian_filter(rng.random((12, 40, 40)), 1.5)
    settings = ThresholdSettings("manual", lower=0.5, upper=1.0)
    steps = CleanupSettings(open_radius_mm=1.5).steps(3)
    cleaned = threshold_labels_cleaned(image, settings=settings, spacing=ANISO, steps=steps)
    raw = threshold_labels_cleaned(image, settings=settings, spacing=ANISO)
    effect = smooth(raw, 1, method="opening", kernel_mm=3.0, spacing=ANISO)
    np.testing.assert_array_equal(effect, cleaned)
    assert (raw != cleaned).sum() > 100
