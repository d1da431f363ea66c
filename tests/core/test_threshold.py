"""Thresholds: known answers, cross-checks against scikit-image, the real head CT bone mask."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from skimage import data, filters

from napari_segtools import auto_threshold, local_threshold, threshold_labels, threshold_mask
from napari_segtools.core._types import Progress
from napari_segtools.core.threshold import (
    METHODS,
    block_size_voxels,
    image_histogram,
    iter_histogram,
    iter_local_threshold,
)

SINGLE = [m for m in METHODS if m != "multiotsu"]


@pytest.fixture(scope="module")
def ct_head():
    from napari_segtools.core.io import read_image

    folder = importlib.resources.files("napari_segtools") / "sample_images" / "ct_head_invesalius"
    ct, geometry = read_image(folder / "ct_head_0051.nii.gz")
    bone, _ = read_image(folder / "ct_head_0051_bone_mask.nii.gz")
    return ct, bone.astype(bool), geometry


def _bimodal_int16(shape=(30, 40), seed=0):
    rng = np.random.default_rng(seed)
    bright = rng.random(shape) > 0.6
    return (rng.normal(100, 30, shape) + bright * 300).astype(np.int16)


# ---------------------------------------------------------------- threshold_mask
def test_threshold_mask_is_inclusive_range():
    image = np.array([[-5, 0, 226, 227], [3070, 3071, 3072, 10]], dtype=np.int16)
    expected = np.array([[0, 0, 1, 1], [1, 1, 0, 0]], bool)
    np.testing.assert_array_equal(threshold_mask(image, lower=226, upper=3071), expected)


def test_threshold_mask_fractional_bounds_on_integers():
    image = np.arange(10, dtype=np.uint8)[None]
    np.testing.assert_array_equal(
        threshold_mask(image, lower=2.5, upper=6.9)[0], (image[0] >= 3) & (image[0] <= 6)
    )
    assert not threshold_mask(image, lower=300, upper=400).any()  # above the dtype's range
    assert threshold_mask(image, lower=-np.inf, upper=np.inf).all()


def test_threshold_mask_float_and_nan():
    image = np.array([[0.5, np.nan, 1.5, 2.5]], dtype=np.float32)
    np.testing.assert_array_equal(
        threshold_mask(image, lower=1.0, upper=2.5), [[False, False, True, True]]
    )


def test_threshold_mask_reuses_out_and_leaves_input():
    image = _bimodal_int16()
    before = image.copy()
    out = np.ones(image.shape, bool)
    result = threshold_mask(image, lower=200, upper=1000, out=out)
    assert result is out
    np.testing.assert_array_equal(out, (before >= 200) & (before <= 1000))
    np.testing.assert_array_equal(image, before)


def test_threshold_mask_fortran_order_4d():
    image = np.asfortranarray(np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5))
    assert threshold_mask(image, lower=10, upper=19).sum() == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lower": 5, "upper": 1}, "`lower` must be <= `upper`"),
        ({"lower": np.nan, "upper": 1}, "`lower` must be a number, not NaN"),
    ],
)
def test_threshold_mask_bad_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        threshold_mask(np.zeros((3, 3)), **kwargs)


def test_threshold_mask_rejects_bool_and_1d():
    with pytest.raises(TypeError, match="integer or float"):
        threshold_mask(np.zeros((3, 3), bool), lower=0, upper=1)
    with pytest.raises(ValueError, match="2-D or 3-D or 4-D"):
        threshold_mask(np.zeros(3), lower=0, upper=1)


def test_real_ct_bone_mask_is_exact(ct_head):
    ct, bone, _ = ct_head
    mask = threshold_mask(ct, lower=226, upper=3071)
    assert mask.sum() == 475_759
    np.testing.assert_array_equal(mask, bone)


# ---------------------------------------------------------------- histogram
def test_histogram_integer_is_exact_and_progresses():
    image = np.array([[3, 3, 5], [7, 7, 7]], dtype=np.int16)
    gen = iter_histogram(image)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            hist = stop.value
            break
    assert all(isinstance(e, Progress) for e in events) and events[-1].step == events[-1].total
    np.testing.assert_array_equal(hist.centers, [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(hist.counts, [2, 0, 1, 0, 3])
    assert hist.exact and hist.mean == pytest.approx(32 / 6)


def test_histogram_float_bins_and_constant():
    hist = image_histogram(np.linspace(0, 1, 1000, dtype=np.float32).reshape(10, 100), nbins=10)
    assert not hist.exact and hist.counts.sum() == 1000 and len(hist.counts) == 10
    assert (hist.low, hist.high) == (0.0, 1.0)
    np.testing.assert_allclose(hist.centers[[0, -1]], [0.05, 0.95])
    const = image_histogram(np.full((4, 4), 2.5))
    assert list(const.counts) == [16] and list(const.centers) == [2.5]


# ---------------------------------------------------------------- auto thresholds
@pytest.mark.parametrize("method", SINGLE)
@pytest.mark.parametrize("name", ["camera", "coins", "int16"])
def test_auto_threshold_equals_skimage_on_integer_images(method, name):
    image = {"camera": data.camera()[::2, ::2], "coins": data.coins(), "int16": _bimodal_int16()}[
        name
    ]
    expected = getattr(filters, f"threshold_{method}")(image)
    assert auto_threshold(image, method=method) == pytest.approx(float(expected), abs=1e-9)


@pytest.mark.parametrize("method", ["otsu", "yen", "isodata", "minimum", "triangle", "mean"])
def test_auto_threshold_float_image_matches_skimage(method):
    rng = np.random.default_rng(1)
    image = data.camera()[::2, ::2].astype(np.float32) / 7 + rng.random(
        (256, 256), dtype=np.float32
    )
    expected = getattr(filters, f"threshold_{method}")(image)
    assert auto_threshold(image, method=method) == pytest.approx(float(expected), rel=1e-5)


def test_li_on_float_histogram_is_within_a_bin():
    image = data.camera()[::2, ::2].astype(np.float64) / 3.3
    width = (image.max() - image.min()) / 256
    assert abs(auto_threshold(image, method="li") - filters.threshold_li(image)) < width


def test_multiotsu_matches_skimage_and_labels_classes():
    image = data.camera()
    thresholds = auto_threshold(image, method="multiotsu", classes=3)
    assert thresholds == tuple(float(t) for t in filters.threshold_multiotsu(image, classes=3))
    labels = threshold_labels(image, thresholds, first_label=4)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {4, 5, 6}
    np.testing.assert_array_equal(labels == 4, image < thresholds[0])
    np.testing.assert_array_equal(labels == 6, image >= thresholds[1])


def test_otsu_separates_two_known_classes():
    image = np.zeros((20, 20), np.uint8)
    image[:, 10:] = 200
    image[0, 0] = 10
    t = auto_threshold(image, method="otsu")
    assert 10 <= t < 200


def test_multiotsu_on_real_ct_is_fast_and_ordered(ct_head):
    ct, _, _ = ct_head
    thresholds = auto_threshold(ct, method="multiotsu", classes=4)
    assert len(thresholds) == 3 and list(thresholds) == sorted(thresholds)
    assert thresholds[0] > -1024 and thresholds[-1] < 2986


def test_auto_threshold_errors():
    with pytest.raises(ValueError, match="`method` must be one of"):
        auto_threshold(data.camera(), method="kmeans")
    with pytest.raises(ValueError, match="single value"):
        auto_threshold(np.full((5, 5), 3), method="otsu")
    with pytest.raises(ValueError, match="`classes` must be <= 5"):
        auto_threshold(data.camera(), method="multiotsu", classes=9)
    with pytest.raises(ValueError, match="not bimodal"):
        auto_threshold(np.arange(100, dtype=np.uint8).reshape(10, 10), method="minimum")
    with pytest.raises(ValueError, match="NaN"):
        auto_threshold(np.array([[1.0, np.nan]]))


# ---------------------------------------------------------------- local threshold
def test_block_size_in_mm_is_odd_voxels_per_axis():
    assert block_size_voxels(15.0, (2.5, 0.8, 0.8)) == (7, 19, 19)
    assert block_size_voxels(1.0, (2.5, 0.8)) == (3, 3)


@pytest.mark.parametrize("method", ["gaussian", "mean"])
def test_local_threshold_equals_skimage_with_same_blocks(method):
    image = data.camera()[::4, ::4].astype(np.float32)
    spacing = (0.5, 0.8)
    ours = local_threshold(image, spacing=spacing, block_size_mm=7.0, method=method, offset=3.0)
    ref = filters.threshold_local(
        image, block_size=block_size_voxels(7.0, spacing), method=method, offset=3.0
    )
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_local_threshold_3d_progress_per_axis():
    vol = np.random.default_rng(0).integers(0, 255, (8, 20, 24)).astype(np.uint8)
    events = list(iter_local_threshold(vol, spacing=(2, 0.5, 0.5), block_size_mm=6))
    assert [e.step for e in events] == [1, 2, 3]
    ref = filters.threshold_local(vol, block_size=block_size_voxels(6, (2, 0.5, 0.5)))
    np.testing.assert_allclose(
        local_threshold(vol, spacing=(2, 0.5, 0.5), block_size_mm=6), ref, atol=1e-3
    )


def test_local_threshold_finds_objects_under_a_ramp():
    y, x = np.mgrid[:64, :64]
    image = (x * 3.0).astype(np.float32)  # illumination ramp
    image[20:30, 10:20] += 40
    image[20:30, 44:54] += 40
    mask = image > local_threshold(image, spacing=(1.0, 1.0), block_size_mm=31, offset=-10)
    assert mask[20:30, 10:20].all() and mask[20:30, 44:54].all()
    assert not mask[40:, :48].any()  # flat background stays out (away from the mirrored edge)


def test_local_threshold_errors():
    with pytest.raises(ValueError, match="`block_size_mm` must be > 0"):
        local_threshold(np.zeros((4, 4)), spacing=(1, 1), block_size_mm=0)
    with pytest.raises(ValueError, match="`spacing` has 3 values"):
        local_threshold(np.zeros((4, 4)), spacing=(1, 1, 1), block_size_mm=3)
    with pytest.raises(ValueError, match="`method` must be one of"):
        local_threshold(np.zeros((4, 4)), spacing=(1, 1), block_size_mm=3, method="median")


# ---------------------------------------------------------------- one public dialect
@pytest.mark.parametrize(
    ("func", "args"),
    [
        (threshold_mask, (np.zeros((3, 3)), 0, 1)),
        (auto_threshold, (data.camera(), "otsu")),
        (threshold_labels, (np.zeros((3, 3)), [1.0], 2)),
        (local_threshold, (np.zeros((3, 3)), (1, 1), 3.0)),
        (image_histogram, (np.zeros((3, 3)), 10)),
    ],
)
def test_options_are_keyword_only(func, args):
    with pytest.raises(TypeError, match="positional argument"):
        func(*args)


def test_public_threshold_functions_have_examples_and_annotations():
    import inspect

    for func in (threshold_mask, auto_threshold, threshold_labels, local_threshold):
        assert ">>> " in func.__doc__
        signature = inspect.signature(func)
        assert signature.return_annotation is not inspect.Signature.empty
        assert all(
            p.annotation is not inspect.Parameter.empty for p in signature.parameters.values()
        )


# ---------------------------------------------------------------- threshold -> clean-up -> write
def _settings(method="manual", **kwargs):
    from napari_segtools.core.threshold_pipeline import ThresholdSettings

    return ThresholdSettings(method, **{"lower": 226.0, "upper": 3071.0, **kwargs})


def test_pipeline_writes_the_exact_bone_mask(ct_head):
    from napari_segtools.core.threshold_pipeline import threshold_into_labels

    ct, bone, geometry = ct_head
    target = np.zeros(ct.shape, np.uint8)
    out = threshold_into_labels(ct, target, settings=_settings(), spacing=geometry.spacing)
    np.testing.assert_array_equal(out, bone.astype(np.uint8))
    assert not target.any()  # the target is copied, never written


def test_pipeline_multiotsu_cleans_each_label_and_paints_only_empty():
    from napari_segtools.core.cleanup import CleanupSettings, clean_mask
    from napari_segtools.core.threshold_pipeline import threshold_into_labels

    image = data.camera()[::4, ::4]
    thresholds = auto_threshold(image, method="multiotsu", classes=3)
    settings = _settings("multiotsu", thresholds=thresholds)
    target = np.zeros(image.shape, np.uint8)
    target[:10] = 9
    steps = CleanupSettings(min_size_mm3=20.0).steps(2)
    out = threshold_into_labels(
        image, target, settings=settings, spacing=(1, 1), steps=steps, first_label=2, mode="empty"
    )
    # the darkest class is background: classes 1 and 2 (of 0..2) become labels 2 and 3
    classes = threshold_labels(image, thresholds, first_label=1)
    expected = np.zeros(image.shape, np.uint8)
    for value in (2, 3):
        expected[clean_mask(classes == value, spacing=(1, 1), steps=steps)] = value
    expected[:10] = 9
    np.testing.assert_array_equal(out, expected)
    assert set(np.unique(out[10:])) == {0, 2, 3}


def test_threshold_slice_equals_the_volume_result_for_a_local_threshold():
    from napari_segtools.core.threshold_pipeline import threshold_segment, threshold_slice

    rng = np.random.default_rng(2)
    volume = ndi_smooth(rng.normal(100, 30, (20, 24, 24)))
    settings = _settings("local", lower=50.0, upper=400.0, block_size_mm=6.0, offset=-2.0)
    spacing = (1.5, 0.7, 0.7)
    whole = threshold_segment(volume, settings=settings, spacing=spacing)
    for z in (0, 7, 19):
        np.testing.assert_array_equal(
            threshold_slice(volume, z, settings=settings, spacing=spacing), whole[z]
        )
    manual = _settings(lower=90.0, upper=110.0)
    np.testing.assert_array_equal(
        threshold_slice(volume, 3, settings=manual, spacing=spacing),
        (volume[3] >= 90) & (volume[3] <= 110),
    )
    with pytest.raises(ValueError, match="outside the volume"):
        threshold_slice(volume, 20, settings=manual, spacing=spacing)


def ndi_smooth(image):
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(image, 1.0).astype(np.float32)


def test_settings_are_checked_and_options_keyword_only():
    from napari_segtools.core.threshold_pipeline import ThresholdSettings, threshold_segment

    with pytest.raises(ValueError, match="`method` must be one of"):
        ThresholdSettings("kmeans", lower=0, upper=1)
    with pytest.raises(ValueError, match="needs its class boundaries"):
        ThresholdSettings("multiotsu", lower=0, upper=1)
    assert _settings("multiotsu", thresholds=(1.0, 2.0)).n_labels == 2  # darkest: background
    with pytest.raises(TypeError, match="positional argument"):
        threshold_segment(np.zeros((3, 3)), _settings(), (1, 1))


def test_threshold_mask_low_high_are_deprecated_spellings_of_lower_upper():
    image = np.arange(12).reshape(3, 4)
    new = threshold_mask(image, lower=3, upper=8)
    with pytest.warns(FutureWarning, match="`low` is deprecated, use `lower`"):
        old = threshold_mask(image, low=3, upper=8)
    np.testing.assert_array_equal(old, new)
    assert new.sum() == 6


# ---------------------------------------------------------------- body-restricted histograms
def test_body_mask_is_the_largest_bright_component_with_holes_filled():
    from napari_segtools.core.threshold import body_mask

    image = np.zeros((9, 30, 30), np.int16)
    image[1:8, 5:25, 5:25] = 40  # the body
    image[3:6, 10:20, 10:20] = -50  # a dark cavity inside it
    image[0, 0:2, 0:2] = 40  # a small bright speck outside (the table, noise)
    body = body_mask(image)
    expected = np.zeros(image.shape, bool)
    expected[1:8, 5:25, 5:25] = True
    np.testing.assert_array_equal(body, expected)
    with pytest.raises(ValueError, match="single value"):
        body_mask(np.ones((4, 4)))


def test_masked_histogram_counts_only_the_voxels_inside():
    image = _bimodal_int16()
    mask = np.zeros(image.shape, bool)
    mask[:10] = True
    hist = image_histogram(image, mask=mask)
    assert hist.counts.sum() == mask.sum()
    assert hist.low == image[:10].min() and hist.high == image[:10].max()
    assert auto_threshold(image, method="otsu", mask=mask) == auto_threshold(image[:10])
    with pytest.raises(ValueError, match="selects no voxel"):
        image_histogram(image, mask=np.zeros(image.shape, bool))
    with pytest.raises(ValueError, match="shape"):
        image_histogram(image, mask=mask[:5])


def test_body_histogram_finds_bone_on_the_head_ct(ct_head):
    from napari_segtools.core._types import run_to_completion
    from napari_segtools.core.threshold import body_mask
    from napari_segtools.core.threshold_pipeline import iter_histograms

    ct, bone, _ = ct_head
    whole, body = run_to_completion(iter_histograms(ct, histogram_from="body"))
    assert whole.counts.sum() == ct.size and body.counts.sum() < 0.4 * ct.size
    assert auto_threshold(ct, method="otsu") < -300  # the whole image: air against head

    def dice(t):
        mask = ct >= t
        return 2 * np.count_nonzero(mask & bone) / (mask.sum() + bone.sum())

    from napari_segtools.core.threshold import threshold_from_histogram

    # on the body, several classic methods find bone (reference: 226-3071 HU)
    for method, expected in (("yen", 0.97), ("triangle", 0.93), ("mean", 0.96)):
        assert dice(threshold_from_histogram(body, method=method)) >= expected - 0.01, method
    low, _ = threshold_from_histogram(body, method="multiotsu", classes=3)
    assert dice(low) >= 0.94  # multi-Otsu: the two upper classes are bone
    assert body_mask(ct).sum() == body.counts.sum()


def test_histograms_from_a_mask_and_errors():
    from napari_segtools.core._types import run_to_completion
    from napari_segtools.core.threshold_pipeline import iter_histograms

    image = _bimodal_int16()
    mask = np.zeros(image.shape, np.uint8)
    mask[5:] = 1
    whole, inside = run_to_completion(iter_histograms(image, histogram_from="mask", mask=mask))
    assert inside.counts.sum() == mask.sum() and whole.counts.sum() == image.size
    with pytest.raises(ValueError, match="needs a mask"):
        run_to_completion(iter_histograms(image, histogram_from="mask"))
    with pytest.raises(ValueError, match="histogram_from"):
        run_to_completion(iter_histograms(image, histogram_from="lungs"))


def test_threshold_labels_cleaned_is_what_apply_paints():
    from napari_segtools.core.cleanup import CleanupSettings
    from napari_segtools.core.threshold_pipeline import (
        threshold_into_labels,
        threshold_labels_cleaned,
    )

    image = _bimodal_int16((12, 40, 40))
    settings = _settings(lower=300.0, upper=3000.0)
    steps = CleanupSettings(open_radius_mm=1.0, min_size_mm3=5.0, fill_holes="3d").steps(3)
    spacing = (2.0, 0.8, 0.8)
    labels = threshold_labels_cleaned(image, settings=settings, spacing=spacing, steps=steps)
    painted = threshold_into_labels(
        image, np.zeros(image.shape, np.uint8), settings=settings, spacing=spacing, steps=steps
    )
    np.testing.assert_array_equal(labels, painted)


# --- issue 12: exact integer bounds, wide label ids, NaN refused --------------------------------


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
)
def test_integer_bounds_at_the_dtype_limits_are_exact(dtype):
    info = np.iinfo(dtype)
    image = np.array([[info.min, info.min + 1, 1, info.max - 1, info.max]], dtype=dtype)
    full = threshold_mask(image, lower=info.min, upper=info.max)
    assert full.all()
    top = threshold_mask(image, lower=info.max, upper=info.max)
    assert top.tolist() == [[False, False, False, False, True]]
    bottom = threshold_mask(image, lower=info.min, upper=info.min)
    assert bottom.tolist() == [[True, False, False, False, False]]
    near = threshold_mask(image, lower=info.max - 1, upper=info.max - 1)
    assert near.tolist() == [[False, False, False, True, False]]


def test_int64_range_up_to_the_dtype_maximum_is_not_empty():
    image = np.array([[0, 1, 5, np.iinfo(np.int64).max]], dtype=np.int64)
    mask = threshold_mask(image, lower=1, upper=np.iinfo(np.int64).max)
    assert mask.tolist() == [[False, True, True, True]]


def test_infinite_bounds_are_open_ranges_and_nan_is_refused():
    image = np.array([[-5, 0, 7]], dtype=np.int16)
    assert threshold_mask(image, lower=-np.inf, upper=0).tolist() == [[True, True, False]]
    assert threshold_mask(image.astype(float), lower=1, upper=np.inf).tolist() == [
        [False, False, True]
    ]
    with pytest.raises(ValueError, match="`upper` must be a number, not NaN"):
        threshold_mask(image, lower=0, upper=np.nan)


def test_threshold_labels_widens_the_dtype_for_large_ids():
    image = np.array([[0, 5, 10]])
    labels = threshold_labels(image, [3, 7], first_label=65_535)
    assert labels.dtype == np.uint32
    assert labels.tolist() == [[65_535, 65_536, 65_537]]
    huge = threshold_labels(image, [3], first_label=2**40)
    assert huge.dtype == np.uint64 and int(huge.max()) == 2**40 + 1
    with pytest.raises(ValueError, match="`first_label`"):
        threshold_labels(image, [3], first_label=2**64 - 1)


@pytest.mark.parametrize("thresholds", [[np.nan], [1.0, np.nan], [np.inf]])
def test_threshold_labels_refuses_non_finite_thresholds(thresholds):
    with pytest.raises(ValueError, match="`thresholds` must be one or more finite"):
        threshold_labels(np.zeros((2, 2)), thresholds)


@pytest.mark.parametrize("offset", [np.nan, np.inf])
def test_local_threshold_refuses_a_nan_offset(offset):
    with pytest.raises(ValueError, match="`offset` must be a finite number"):
        local_threshold(np.ones((4, 4)), spacing=(1, 1), block_size_mm=3, offset=offset)


def test_local_threshold_refuses_a_block_far_wider_than_the_image():
    with pytest.raises(ValueError, match="`block_size_mm` must be > 0 and at most twice"):
        local_threshold(np.ones((4, 4)), spacing=(1, 1), block_size_mm=1e12)


def test_local_threshold_is_the_same_for_big_endian_input():
    image = np.random.default_rng(3).random((9, 7))
    expected = local_threshold(image, spacing=(1, 1), block_size_mm=3)
    odd = local_threshold(image.astype(">f8"), spacing=(1, 1), block_size_mm=3)
    np.testing.assert_array_equal(odd, expected)
