"""Region growing: ITK Software Guide slices against SimpleITK and the shipped reference masks,
synthetic phantoms with known answers, and one test per edge case."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_segtools.core._types import Progress
from napari_segtools.core.region_growing import (
    RegionLeakError,
    auto_range,
    confidence_connected,
    connected_threshold,
    grow_from_seeds,
    iter_confidence_connected,
    iter_grow_from_seeds,
    neighborhood_connected,
)

sitk = pytest.importorskip("SimpleITK")

SLICES = importlib.resources.files("napari_segtools") / "sample_images" / "itk_brain_slices"
# ITK Software Guide seeds, given there as (x, y); numpy order is (row, column) = (y, x)
GUIDE = {
    "WhiteMatter": ((116, 60), 150, 180),
    "Ventricle": ((112, 81), 210, 250),
    "GrayMatter": ((69, 107), 180, 210),
}


def read_png(path) -> np.ndarray:
    """Grey values of a PNG (PIL reads the palette PD slice as grey; SimpleITK as fallback)."""
    try:
        from PIL import Image

        return np.array(Image.open(path))
    except ImportError:  # pragma: no cover - PIL ships with napari
        return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.fixture(scope="module")
def pd_raw():
    return read_png(SLICES / "BrainProtonDensitySlice.png")


@pytest.fixture(scope="module")
def pd_smooth(pd_raw):
    """The guide's pre-processing: CurvatureFlow, 5 iterations, time step 0.125."""
    image = sitk.Cast(sitk.GetImageFromArray(pd_raw), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(sitk.CurvatureFlow(image, timeStep=0.125, numberOfIterations=5))


def sitk_run(name, image, seeds, **params) -> np.ndarray:
    seed_list = [tuple(int(v) for v in s[::-1]) for s in seeds]
    out = getattr(sitk, name)(sitk.GetImageFromArray(image), seedList=seed_list, **params)
    return sitk.GetArrayFromImage(out).astype(bool)


# --- the ITK Software Guide examples ---------------------------------------------------------


def test_pd_slice_reads_as_grey(pd_raw):
    assert pd_raw.shape == (217, 181) and pd_raw.dtype == np.uint8
    assert [pd_raw[s] for s, _, _ in GUIDE.values()] == [162, 241, 206]


@pytest.mark.parametrize("structure", list(GUIDE))
def test_connected_threshold_matches_reference_masks(pd_smooth, structure):
    seed, lower, upper = GUIDE[structure]
    region = connected_threshold(pd_smooth, [seed], lower=lower, upper=upper)
    reference = read_png(SLICES / "reference" / f"ConnectedThreshold_{structure}.png") > 0
    np.testing.assert_array_equal(region, reference)
    assert region.sum() == {"WhiteMatter": 9215, "Ventricle": 1240, "GrayMatter": 6702}[structure]


@pytest.mark.parametrize("structure", list(GUIDE))
def test_confidence_connected_matches_reference_masks(pd_smooth, structure):
    seed = GUIDE[structure][0]
    region = confidence_connected(
        pd_smooth, [seed], multiplier=2.5, iterations=5, initial_radius_voxels=2, max_fraction=None
    )
    reference = read_png(SLICES / "reference" / f"ConfidenceConnected_{structure}.png") > 0
    np.testing.assert_array_equal(region, reference)


def test_unsmoothed_counts_from_the_data_readme(pd_raw):
    counts = {
        name: int(connected_threshold(pd_raw, [seed], lower=lo, upper=hi).sum())
        for name, (seed, lo, hi) in GUIDE.items()
    }
    assert counts == {"WhiteMatter": 8998, "Ventricle": 1272, "GrayMatter": 2833}
    seed, lo, hi = GUIDE["GrayMatter"]
    assert connected_threshold(pd_raw, [seed], lower=lo, upper=hi, connectivity=2).sum() == 6497


@pytest.mark.parametrize("smoothed", [False, True])
@pytest.mark.parametrize("structure", list(GUIDE))
def test_identical_to_simpleitk_on_guide_parameters(pd_raw, pd_smooth, smoothed, structure):
    image = pd_smooth if smoothed else pd_raw
    seed, lower, upper = GUIDE[structure]
    for connectivity, itk_conn in ((1, 0), (2, 1)):
        ours = connected_threshold(
            image, [seed], lower=lower, upper=upper, connectivity=connectivity
        )
        theirs = sitk_run(
            "ConnectedThreshold", image, [seed], lower=lower, upper=upper, connectivity=itk_conn
        )
        np.testing.assert_array_equal(ours, theirs)
    ours = neighborhood_connected(image, [seed], lower=lower, upper=upper, radius_voxels=2)
    theirs = sitk_run(
        "NeighborhoodConnected", image, [seed], lower=lower, upper=upper, radius=[2, 2]
    )
    np.testing.assert_array_equal(ours, theirs)
    ours = confidence_connected(
        image, [seed], multiplier=2.5, iterations=5, initial_radius_voxels=2, max_fraction=None
    )
    theirs = sitk_run(
        "ConfidenceConnected",
        image,
        [seed],
        multiplier=2.5,
        numberOfIterations=5,
        initialNeighborhoodRadius=2,
    )
    np.testing.assert_array_equal(ours, theirs)


def test_identical_to_simpleitk_on_random_parameters(pd_raw, pd_smooth):
    """Several seeds, edge seeds, every pixel type, 0-4 passes: same voxels as SimpleITK."""
    rng = np.random.default_rng(7)
    images = [pd_raw, pd_smooth.astype(np.float32), pd_smooth, pd_raw.astype(np.int16)]
    for trial in range(24):
        image = images[trial % 4]
        seeds = np.stack([rng.integers(0, 217, 3), rng.integers(0, 181, 3)], 1)[: 1 + trial % 3]
        multiplier, passes = float(rng.uniform(1, 3)), int(rng.integers(0, 5))
        radius = int(rng.integers(1, 3))
        ours = confidence_connected(
            image,
            seeds,
            multiplier=multiplier,
            iterations=passes,
            initial_radius_voxels=radius,
            max_fraction=None,
        )
        theirs = sitk_run(
            "ConfidenceConnected",
            image,
            seeds,
            multiplier=multiplier,
            numberOfIterations=passes,
            initialNeighborhoodRadius=radius,
        )
        np.testing.assert_array_equal(ours, theirs, err_msg=f"trial {trial}")
        values = image[tuple(seeds.T)].astype(float)
        lower = max(values.min() - rng.uniform(0, 30), 0)
        upper = min(values.max() + rng.uniform(0, 30), 255)
        ours = neighborhood_connected(
            image, seeds, lower=lower, upper=upper, radius_voxels=radius, max_fraction=None
        )
        theirs = sitk_run(
            "NeighborhoodConnected", image, seeds, lower=lower, upper=upper, radius=[radius] * 2
        )
        np.testing.assert_array_equal(ours, theirs, err_msg=f"trial {trial}")


@pytest.mark.parametrize("structure", list(GUIDE))
def test_both_flood_engines_agree_with_simpleitk(pd_smooth, monkeypatch, structure):
    """Large in-range counts switch to the numpy + scikit-image engine: same voxels."""
    from napari_segtools.core import _flood

    seed, lower, upper = GUIDE[structure]
    monkeypatch.setattr(_flood, "_SKIMAGE_ABOVE", 0)
    for connectivity, itk_conn in ((1, 0), (2, 1)):
        ours = connected_threshold(
            pd_smooth, [seed], lower=lower, upper=upper, connectivity=connectivity
        )
        theirs = sitk_run(
            "ConnectedThreshold",
            pd_smooth,
            [seed],
            lower=lower,
            upper=upper,
            connectivity=itk_conn,
        )
        np.testing.assert_array_equal(ours, theirs)
    ours = neighborhood_connected(pd_smooth, [seed], lower=lower, upper=upper, radius_voxels=2)
    theirs = sitk_run(
        "NeighborhoodConnected", pd_smooth, [seed], lower=lower, upper=upper, radius=[2, 2]
    )
    np.testing.assert_array_equal(ours, theirs)


def test_integer_bounds_truncate_like_itk(pd_raw):
    seed = GUIDE["WhiteMatter"][0]
    ours = connected_threshold(pd_raw, [seed], lower=150.9, upper=180.9)
    np.testing.assert_array_equal(ours, connected_threshold(pd_raw, [seed], lower=150, upper=180))
    theirs = sitk_run("ConnectedThreshold", pd_raw, [seed], lower=150.9, upper=180.9)
    np.testing.assert_array_equal(ours, theirs)


# --- synthetic 3-D phantoms with known answers -----------------------------------------------


@pytest.fixture
def nested_balls(make_ball, aniso_spacing):
    """Inner ball (value 100, r 6 mm) inside a shell (50, r 12 mm) on a (2.5, 0.8, 0.8) mm grid."""
    shape, centre = (16, 40, 40), (8, 20, 20)
    inner = make_ball(shape, centre, 6.0, aniso_spacing)
    outer = make_ball(shape, centre, 12.0, aniso_spacing)
    image = np.where(inner, 100, np.where(outer, 50, 0)).astype(np.int16)
    return image, inner, outer, centre


def test_phantom_inner_ball_and_shell(nested_balls):
    image, inner, outer, centre = nested_balls
    np.testing.assert_array_equal(connected_threshold(image, [centre], lower=90, upper=110), inner)
    shell_seed = (8, 20, 20 + 11)  # 8.8 mm from the centre: in the shell
    assert image[shell_seed] == 50
    np.testing.assert_array_equal(
        connected_threshold(image, [shell_seed], lower=40, upper=110), outer
    )
    np.testing.assert_array_equal(
        neighborhood_connected(image, [centre], lower=90, upper=110, radius_voxels=1),
        ndi.binary_erosion(inner, np.ones((3, 3, 3))),
    )
    cc = confidence_connected(
        image, [centre], multiplier=2.5, iterations=3, initial_radius_voxels=1
    )
    np.testing.assert_array_equal(cc, inner)


@pytest.mark.parametrize(("connectivity", "expected"), [(1, 1), (2, 3), (3, 5)])
def test_phantom_connectivity_6_18_26(connectivity, expected):
    """A face-isolated voxel, two edge neighbours and two corner neighbours."""
    image = np.zeros((5, 5, 5), dtype=np.uint8)
    image[2, 2, 2] = 1
    image[2, 3, 3] = image[2, 1, 1] = 1  # share an edge with the centre
    image[3, 1, 3] = image[1, 3, 1] = 1  # share a corner only
    region = connected_threshold(image, [(2, 2, 2)], lower=1, upper=1, connectivity=connectivity)
    assert region.sum() == expected


def test_18_connectivity_matches_scipy_labelling():
    rng = np.random.default_rng(3)
    image = ndi.gaussian_filter(rng.normal(size=(20, 30, 30)), 1.0)
    inside = (image >= -0.05) & (image <= 0.2)
    seeds = np.argwhere(inside)[::400]
    region = connected_threshold(
        image, seeds, lower=-0.05, upper=0.2, connectivity=2, max_fraction=None
    )
    labels, _ = ndi.label(inside, ndi.generate_binary_structure(3, 2))
    np.testing.assert_array_equal(region, np.isin(labels, labels[tuple(seeds.T)]))


def test_confidence_connected_yields_one_progress_per_pass(nested_balls):
    image, _, _, centre = nested_balls
    gen = iter_confidence_connected(image, [centre], multiplier=2.5, iterations=3)
    events = []
    with pytest.raises(StopIteration):
        while True:
            events.append(next(gen))
    assert all(isinstance(e, Progress) for e in events)
    assert [e.step for e in events][0] == 0 and events[0].total == 4


# --- competitive growing ---------------------------------------------------------------------


def test_grow_from_seeds_three_labels_on_anisotropic_phantom(nested_balls, aniso_spacing):
    image, inner, outer, centre = nested_balls
    rng = np.random.default_rng(1)
    noisy = image + rng.normal(0, 3, image.shape)
    seeds = [centre, (8, 20, 31), (8, 2, 2), (15, 39, 0)]
    labels = grow_from_seeds(noisy, seeds, [1, 2, 3, 3], spacing=aniso_spacing)
    assert labels.dtype == np.int32 and labels.shape == image.shape
    expected = np.where(inner, 1, np.where(outer, 2, 3))
    assert (labels == expected).mean() > 0.98  # only voxels on the edges may move
    assert set(np.unique(labels)) == {1, 2, 3}


def test_grow_from_seeds_splits_a_step_exactly():
    image = np.zeros((6, 10, 12))
    image[:, :, 6:] = 100.0
    labels = grow_from_seeds(image, [(3, 5, 0), (3, 5, 11)], [1, 2], spacing=(3.0, 1.0, 1.0))
    np.testing.assert_array_equal(
        labels, np.where(np.arange(12) < 6, 1, 2)[None, None].repeat(10, 1).repeat(6, 0)
    )


def test_grow_from_seeds_progress_and_input_untouched(pd_raw):
    before = pd_raw.copy()
    seeds = [GUIDE["WhiteMatter"][0], GUIDE["Ventricle"][0], (5, 5)]
    events = list(iter_grow_from_seeds(pd_raw, seeds, [1, 2, 3], spacing=(1.0, 1.0)))
    # one event per 1-D Gaussian pass (Cancel is honoured between them), then the growth
    assert [e.message for e in events] == ["gradient magnitude"] * 4 + ["competitive growth"]
    assert [e.step for e in events] == [0, 1, 2, 3, 4] and {e.total for e in events} == {5}
    labels = grow_from_seeds(pd_raw, seeds, [1, 2, 3], spacing=(1.0, 1.0))
    assert labels[116, 60] == 1 and labels[112, 81] == 2 and labels[0, 0] == 3
    np.testing.assert_array_equal(pd_raw, before)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([1, 1], "at least two labels"),
        ([1], "one positive integer label per seed"),
        ([0, 2], "positive"),
    ],
)
def test_grow_from_seeds_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        grow_from_seeds(np.zeros((8, 8)), [(1, 1), (6, 6)], labels, spacing=(1, 1))


# --- helpers and edge cases ------------------------------------------------------------------


def test_auto_range_from_seed_neighbourhood():
    image = np.full((9, 9), 10.0)
    image[4, :] = 20.0  # the 3x3 box around (4, 4) holds three 20s and six 10s
    lower, upper = auto_range(image, [(4, 4)], radius_voxels=1, multiplier=2.0)
    std = np.std([20] * 3 + [10] * 6, ddof=1)
    assert lower == pytest.approx(40 / 3 - 2 * std) and upper == pytest.approx(40 / 3 + 2 * std)


def test_leak_guard_raises_with_fraction_and_can_be_disabled():
    image = np.zeros((10, 10))
    image[:, 7:] = 5  # background is 70% of the image
    with pytest.raises(RegionLeakError, match=r"70\.0% of the image\), above the limit of 50%"):
        connected_threshold(image, [(0, 0)], lower=-1, upper=1)
    assert connected_threshold(image, [(0, 0)], lower=-1, upper=1, max_fraction=None).sum() == 70
    assert connected_threshold(image, [(0, 0)], lower=-1, upper=1, max_fraction=0.8).sum() == 70


def test_seed_outside_image():
    with pytest.raises(
        ValueError, match=r"seed 1 at \(3, 12\) lies outside image shape \(10, 10\)"
    ):
        connected_threshold(np.zeros((10, 10)), [(1, 1), (3, 12)], lower=0, upper=1)


def test_seed_on_nan_and_nan_never_joins():
    image = np.zeros((6, 6))
    image[2, :] = np.nan
    with pytest.raises(ValueError, match=r"seed 0 at \(2, 3\) lies on a NaN voxel"):
        connected_threshold(image, [(2, 3)], lower=-1, upper=1)
    with pytest.raises(ValueError, match="NaN voxel"):
        confidence_connected(image, [(2, 3)])
    region = connected_threshold(image, [(0, 0)], lower=-1, upper=1, max_fraction=None)
    assert region.sum() == 12 and not region[2:].any()


def test_seed_outside_range_is_named():
    image = np.arange(25, dtype=np.uint8).reshape(5, 5)
    with pytest.raises(
        ValueError, match=r"seed 0 at \(4, 4\) has value 24, outside the range \[0, 10\]"
    ):
        connected_threshold(image, [(4, 4)], lower=0, upper=10)
    with pytest.raises(ValueError, match="outside the range"):
        neighborhood_connected(image, [(4, 4)], lower=0, upper=10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lower": 5, "upper": 1}, "must not exceed"),
        ({"lower": 0, "upper": 1, "connectivity": 4}, "connectivity"),
        ({"lower": 0, "upper": 1, "max_fraction": 0}, "max_fraction"),
        ({"lower": np.nan, "upper": 1}, "finite"),
    ],
)
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        connected_threshold(np.zeros((4, 4, 4)), [(1, 1, 1)], **kwargs)


def test_fortran_float16_input_and_no_mutation():
    image = np.asfortranarray(np.tile(np.array([0, 0, 9, 0], dtype=np.float16), (4, 1)))
    before = image.copy()
    region = connected_threshold(image, [(0, 0)], lower=0, upper=1, max_fraction=None)
    assert region.dtype == bool and region.sum() == 8
    np.testing.assert_array_equal(image, before)


# --- one public dialect ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "args", "option"),
    [
        (connected_threshold, (np.zeros((4, 4)), [(1, 1)]), 0),
        (confidence_connected, (np.zeros((4, 4)), [(1, 1)]), 2.5),
        (neighborhood_connected, (np.zeros((4, 4)), [(1, 1)]), 0),
        (grow_from_seeds, (np.zeros((4, 4)), [(0, 0), (3, 3)], [1, 2]), (1.0, 1.0)),
        (auto_range, (np.zeros((4, 4)), [(1, 1)]), 1),
    ],
)
def test_options_are_keyword_only(func, args, option):
    with pytest.raises(TypeError, match="positional argument"):
        func(*args, option)


def test_voxel_radius_renames_warn_and_give_equal_results(pd_raw):
    seed = [GUIDE["WhiteMatter"][0]]
    with pytest.warns(
        FutureWarning, match="`initial_radius` is deprecated, use `initial_radius_voxels`"
    ):
        old = confidence_connected(
            pd_raw, seed, multiplier=2.5, initial_radius=2, max_fraction=None
        )
    new = confidence_connected(
        pd_raw, seed, multiplier=2.5, initial_radius_voxels=2, max_fraction=None
    )
    np.testing.assert_array_equal(old, new)
    assert new.sum() > 100
    with pytest.warns(FutureWarning, match="`radius` is deprecated, use `radius_voxels`"):
        old = neighborhood_connected(pd_raw, seed, lower=150, upper=180, radius=(1, 0))
    new = neighborhood_connected(pd_raw, seed, lower=150, upper=180, radius_voxels=(1, 0))
    np.testing.assert_array_equal(old, new)
    assert new.sum() == 6666
    with pytest.warns(FutureWarning, match="`radius` is deprecated"):
        old = auto_range(pd_raw, seed, radius=2, multiplier=1.5)
    assert old == auto_range(pd_raw, seed, radius_voxels=2, multiplier=1.5)
    with pytest.warns(FutureWarning, match="`initial_radius` is deprecated"):
        events = list(iter_confidence_connected(pd_raw, seed, initial_radius=2, max_fraction=None))
    assert events[0].total == 5
    with pytest.raises(TypeError, match="got both `radius` and `radius_voxels`"):
        auto_range(pd_raw, seed, radius=1, radius_voxels=1)


def test_public_functions_have_names_signatures_and_examples():
    import inspect

    from napari_segtools.core import region_growing as rg

    for name in [n for n in rg.__all__ if n != "RegionLeakError"]:
        func = getattr(rg, name)
        assert func.__name__ == name
        assert ">>> " in func.__doc__, name
        params = inspect.signature(func).parameters.values()
        options = [p for p in params if p.default is not inspect.Parameter.empty]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in options), name
        assert not {"radius", "initial_radius"} & {p.name for p in params}, name


# --- issue 12: hostile values, exact bounds near the dtype limits -----------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int32, np.uint8])
def test_bounds_at_the_integer_limits_are_exact(dtype):
    top = int(np.iinfo(dtype).max)
    image = np.array([[1, 5, top - 1, top], [0, 0, 0, 0]], dtype=dtype)
    seeds = [[0, 0]]
    everything = connected_threshold(image, seeds, lower=1, upper=top, max_fraction=None)
    np.testing.assert_array_equal(everything[0], [True, True, True, True])
    below_top = connected_threshold(image, seeds, lower=1, upper=top - 1, max_fraction=None)
    np.testing.assert_array_equal(below_top[0], [True, True, True, False])
    # bounds beyond the type are clamped, never wrapped or rounded past the limit
    beyond = connected_threshold(image, seeds, lower=1, upper=10**30, max_fraction=None)
    np.testing.assert_array_equal(beyond, everything)
    hood = neighborhood_connected(
        image, seeds, lower=0, upper=top, radius_voxels=1, max_fraction=None
    )
    assert hood.all()


def test_int64_bounds_beyond_float_precision_stay_exact():
    top = int(np.iinfo(np.int64).max)
    image = np.full((3, 3), top, dtype=np.int64)
    image[1, 1] = top - 300  # float64 cannot tell these apart: only exact ints can
    region = connected_threshold(image, [[0, 0]], lower=top - 10, upper=top, max_fraction=None)
    assert region.sum() == 8 and not region[1, 1]


@pytest.mark.parametrize(
    ("seeds", "error"),
    [("x", TypeError), (None, TypeError), ([[np.nan, 1]], ValueError), ([[1j, 1]], TypeError)],
)
def test_bad_seeds_are_named(seeds, error):
    for call in (
        lambda: connected_threshold(np.zeros((4, 4)), seeds, lower=0, upper=1),
        lambda: auto_range(np.zeros((4, 4)), seeds),
        lambda: grow_from_seeds(np.zeros((4, 4)), seeds, [1, 2], spacing=(1, 1)),
    ):
        with pytest.raises(error, match="`seeds`"):
            call()


@pytest.mark.parametrize("sigma", [float("nan"), -1.0, 1e12, "x", None])
def test_bad_sigma_is_named(sigma):
    image = np.zeros((5, 8))
    if sigma is None:  # the default: the finest spacing
        assert grow_from_seeds(image, [[2, 0], [2, 7]], [1, 2], spacing=(1, 1)).shape == (5, 8)
        return
    with pytest.raises(ValueError, match="`sigma_mm`"):
        grow_from_seeds(image, [[2, 0], [2, 7]], [1, 2], spacing=(1, 1), sigma_mm=sigma)


def test_seed_with_two_labels_and_wide_labels():
    with pytest.raises(ValueError, match="`seeds`: seed 1 at \\(2, 0\\) has two labels"):
        grow_from_seeds(np.zeros((5, 8)), [[2, 0], [2, 0]], [1, 2], spacing=(1, 1))
    img = np.zeros((5, 8))
    img[:, 4:] = 100
    big = 2**40
    out = grow_from_seeds(img, [[2, 0], [2, 7]], [1, big], spacing=(1, 1))
    assert out.dtype == np.int64 and set(np.unique(out)) == {1, big}
    with pytest.raises(ValueError, match="`seed_labels`"):
        grow_from_seeds(img, [[2, 0], [2, 7]], np.array([1, 2**64 - 1], np.uint64), spacing=(1, 1))


def test_sigma_zero_grows_on_a_plain_central_difference():
    img = np.zeros((5, 8))
    img[:, 4:] = 100
    out = grow_from_seeds(img, [[2, 0], [2, 7]], [1, 2], spacing=(1, 1), sigma_mm=0)
    assert (out[:, :4] == 1).all() and (out[:, 5:] == 2).all()


def _brute_auto_range(image, seeds, radius, multiplier):
    """ITK's box statistics literally: every box position, edges replicated."""
    boxes = []
    for seed in seeds:
        axes = [
            np.clip(np.arange(s - radius, s + radius + 1), 0, n - 1)
            for s, n in zip(seed, image.shape, strict=True)
        ]
        boxes.append(image[np.ix_(*axes)].ravel().astype(float))
    values = np.concatenate(boxes)
    n, total = values.size, values.sum()
    variance = (np.square(values).sum() - total * total / n) / (n - 1)
    return total / n - multiplier * np.sqrt(variance), total / n + multiplier * np.sqrt(variance)


@pytest.mark.parametrize("radius", [0, 1, 2, 7, 30])
def test_auto_range_weights_equal_the_literal_boxes(radius):
    image = np.random.default_rng(3).integers(0, 200, (6, 9, 5)).astype(np.int16)
    seeds = [[0, 0, 0], [5, 8, 4], [2, 3, 1]]
    got = auto_range(image, seeds, radius_voxels=radius, multiplier=1.5)
    np.testing.assert_allclose(got, _brute_auto_range(image, seeds, radius, 1.5), rtol=1e-9)


def test_huge_radius_and_iterations_are_cheap_or_refused():
    image = np.random.default_rng(4).random((12, 12))
    low, high = auto_range(image, [[3, 3]], radius_voxels=10**12)  # no 10^24-voxel box
    assert np.isfinite(low) and np.isfinite(high)
    region = neighborhood_connected(
        image, [[3, 3]], lower=0, upper=1, radius_voxels=10**12, max_fraction=None
    )
    assert region.all()
    with pytest.raises(ValueError, match="`iterations`"):
        confidence_connected(image, [[3, 3]], iterations=10**12)


def test_confidence_stops_early_with_the_same_region(pd_raw):
    seeds = [GUIDE["WhiteMatter"][0]]
    few = confidence_connected(pd_raw, seeds, multiplier=2.5, iterations=30, max_fraction=None)
    many = confidence_connected(pd_raw, seeds, multiplier=2.5, iterations=1000, max_fraction=None)
    np.testing.assert_array_equal(few, many)
    events = list(iter_confidence_connected(pd_raw, seeds, iterations=1000, max_fraction=None))
    assert len(events) < 1001  # settled early


@pytest.mark.parametrize("value", [float("nan"), "x", [], 2.0, 0.0])
def test_bad_leak_guard_is_named(value):
    with pytest.raises(ValueError, match="`max_fraction`"):
        connected_threshold(np.zeros((4, 4)), [[0, 0]], lower=0, upper=1, max_fraction=value)
