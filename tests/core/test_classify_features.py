"""Voxel features in mm: known answers, anisotropy, exact block equality, eigenvalues."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segtools.core.classify.apply import with_halo
from napari_segtools.core.classify.features import (
    FEATURES,
    PRESETS,
    FeatureSet,
    compute_features,
    gaussian_kernel,
    smoothing_radius,
    symmetric_eigenvalues,
)

SPACING = (2.5, 0.8, 0.8)


def _grid(shape, spacing):
    """Physical coordinates (mm) of every voxel, numpy axis order."""
    return np.meshgrid(
        *[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)], indexing="ij"
    )


def _column(feats, fs, name, ndim=3, n_channels=1):
    return feats[..., fs.names(n_channels, ndim=ndim).index(name)]


def test_names_count_and_halo():
    fs = PRESETS["all"]
    feats = compute_features(np.zeros((6, 7, 8), np.float32), spacing=SPACING, feature_set=fs)
    # intensity + 3 scales x (6 single columns + 2 x 3 eigenvalues)
    assert feats.shape == (6, 7, 8, 1 + 3 * 12) and feats.dtype == np.float32
    assert len(fs.names(2, 1)) == 2 * 37 + 1 and fs.names(2, 1)[-1] == "prior0"
    assert fs.names(ndim=2)[-1] == "ch0 local_sd 4mm"
    assert "ch0 hessian 2mm e3" in fs.names()
    assert fs.halo_voxels(SPACING) == (7, 20, 20)  # ceil(16 / 2.5), 16 / 0.8
    assert FeatureSet(("intensity",), ()).halo_voxels((1.0, 1.0)) == (0, 0)
    assert FeatureSet.from_dict(fs.as_dict()) == fs
    assert (
        set(PRESETS) >= {"basic", "edges", "texture", "all"}
        and PRESETS["all"].features == FEATURES
    )


def test_constant_image_known_values():
    fs = PRESETS["all"]
    feats = compute_features(np.full((9, 12, 12), 7.0), spacing=SPACING, feature_set=fs)
    for i, name in enumerate(fs.names()):
        expected = 7.0 if ("gaussian" in name or "mean" in name or "intensity" in name) else 0.0
        np.testing.assert_allclose(feats[..., i], expected, atol=2e-5, err_msg=name)


def test_ramp_gradient_equals_slope_in_mm():
    # f = 3 z + 0.5 x (mm): gradient magnitude sqrt(9.25), LoG 0, structure tensor g g^T
    z, _, x = _grid((24, 40, 40), SPACING)
    fs = FeatureSet(("gradient", "log", "structure_tensor", "local_sd"), (1.0, 2.0))
    feats = compute_features(3 * z + 0.5 * x, spacing=SPACING, feature_set=fs)
    inner = (slice(8, 16), slice(12, 28), slice(12, 28))
    for s in ("1mm", "2mm"):
        np.testing.assert_allclose(
            _column(feats, fs, f"ch0 gradient {s}")[inner], 9.25**0.5, rtol=1e-5
        )
        np.testing.assert_allclose(_column(feats, fs, f"ch0 log {s}")[inner], 0, atol=1e-4)
        e1 = _column(feats, fs, f"ch0 structure_tensor {s} e1")[inner]
        np.testing.assert_allclose(e1, 9.25, rtol=1e-4)
        np.testing.assert_allclose(
            _column(feats, fs, f"ch0 structure_tensor {s} e2")[inner], 0, atol=1e-3
        )
    # local SD of a ramp in a box of +-h voxels: slope * step * sqrt(((2h+1)^2 - 1) / 12) per
    # axis; 2 mm: h = round(2 / 2.5) = 1 along z, round(2 / 0.8) = 3 along x
    var = (3 * 2.5) ** 2 * (9 - 1) / 12 + (0.5 * 0.8) ** 2 * (49 - 1) / 12
    np.testing.assert_allclose(_column(feats, fs, "ch0 local_sd 2mm")[inner], var**0.5, rtol=1e-5)


def test_quadratic_log_and_hessian():
    # f = z^2 + 2 x^2 - y^2: Hessian diag(2, -2, 4) -> eigenvalues 4, 2, -2; LoG 4
    z, y, x = _grid((20, 30, 30), SPACING)
    fs = FeatureSet(("log", "hessian"), (1.0, 2.0))
    feats = compute_features(z**2 + 2 * x**2 - y**2, spacing=SPACING, feature_set=fs)
    inner = (slice(8, 12), slice(12, 18), slice(12, 18))
    np.testing.assert_allclose(_column(feats, fs, "ch0 log 2mm")[inner], 4.0, rtol=1e-3)
    for k, expected in zip((1, 2, 3), (4.0, 2.0, -2.0), strict=True):
        values = _column(feats, fs, f"ch0 hessian 1mm e{k}")[inner]
        np.testing.assert_allclose(values, expected, rtol=1e-3)


def test_dog_is_difference_of_gaussians():
    from scipy import ndimage as ndi

    image = np.random.default_rng(0).normal(size=(40, 40)).astype(np.float32)
    fs = FeatureSet(("gaussian", "dog"), (3.0,))
    feats = compute_features(image, spacing=(1.0, 1.0), feature_set=fs)
    inner = (slice(14, 26), slice(14, 26))
    ref = ndi.gaussian_filter(image.astype(float), 3.0 / 1.6) - ndi.gaussian_filter(image, 3.0)
    # scipy truncates at 4 sigma, ours one voxel shorter: equal to 5e-4 on unit-SD noise
    np.testing.assert_allclose(feats[..., 1][inner], ref[inner], atol=5e-4)
    np.testing.assert_allclose(
        feats[..., 0][inner], ndi.gaussian_filter(image.astype(float), 3.0)[inner], atol=5e-4
    )


def test_anisotropic_twin_matches_at_shared_points():
    # a smooth volume sampled at 2 x 1 x 1 mm and at 1 x 1 x 1 mm: same features at the
    # physical points both grids share (every other 1 mm slice)
    def volume(spacing, shape):
        z, y, x = _grid(shape, spacing)
        return (100 * np.sin(z / 7.0) * np.cos(y / 9.0) + 40 * np.cos(x / 6.0 + z / 11.0)).astype(
            np.float32
        )

    fs = FeatureSet(("gaussian", "gradient", "log", "hessian", "structure_tensor"), (2.0, 4.0))
    coarse = compute_features(volume((2, 1, 1), (25, 40, 40)), spacing=(2, 1, 1), feature_set=fs)
    fine = compute_features(volume((1, 1, 1), (49, 40, 40)), spacing=(1, 1, 1), feature_set=fs)
    inner = (slice(9, 16), slice(17, 23), slice(17, 23))
    shared = (slice(18, 32, 2), slice(17, 23), slice(17, 23))
    for i, name in enumerate(fs.names()):
        a, b = coarse[inner][..., i], fine[shared][..., i]
        # the structure tensor multiplies two sampled derivatives: looser (8 % vs 3 %)
        tolerance = 0.08 if "structure" in name else 0.03
        np.testing.assert_allclose(a, b, atol=tolerance * np.abs(b).max(), err_msg=name)
    # ... whereas treating the coarse grid as 1 mm (spacing ignored) is far off
    wrong = compute_features(volume((2, 1, 1), (25, 40, 40)), spacing=(1, 1, 1), feature_set=fs)
    k = fs.names().index("ch0 gradient 2mm")
    assert np.abs(wrong[inner][..., k] - fine[shared][..., k]).max() > 0.2 * fine[..., k].max()


@pytest.mark.parametrize("ndim", [2, 3])
def test_block_plus_halo_equals_whole_volume_exactly(ndim):
    rng = np.random.default_rng(1)
    shape, spacing = ((30, 50, 45), SPACING) if ndim == 3 else ((70, 45), (0.7, 1.3))
    image = rng.normal(100, 30, shape).astype(np.float32)
    fs = PRESETS["all"]
    whole = compute_features(image, spacing=spacing, feature_set=fs)
    halo = fs.halo_voxels(spacing)
    for block in [tuple(slice(5, 17) for _ in shape), tuple(slice(0, 9) for _ in shape)]:
        outer, inner = with_halo(block, halo, shape)
        part = compute_features(image[outer], spacing=spacing, feature_set=fs)[inner]
        assert np.array_equal(part, whole[block])


def test_channels_and_priors_columns():
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    prior = np.linspace(0, 1, 60).reshape(3, 4, 5)
    fs = FeatureSet(("intensity", "gaussian"), (1.0,))
    feats = compute_features([a, 2 * a], spacing=(1, 1, 1), feature_set=fs, priors=prior)
    assert fs.names(2, 1) == (
        "ch0 intensity",
        "ch0 gaussian 1mm",
        "ch1 intensity",
        "ch1 gaussian 1mm",
        "prior0",
    )
    np.testing.assert_array_equal(feats[..., 2], 2 * a)
    np.testing.assert_allclose(feats[..., 3], 2 * feats[..., 1], rtol=1e-6)
    np.testing.assert_allclose(feats[..., 4], prior, rtol=1e-7)


def test_eigenvalues_match_eigvalsh():
    rng = np.random.default_rng(2)
    for ndim in (2, 3):
        m = rng.normal(size=(500, ndim, ndim))
        m = m + np.swapaxes(m, 1, 2)
        parts = [m[:, i, j] for i in range(ndim) for j in range(i, ndim)]
        ours = np.stack(symmetric_eigenvalues(parts, ndim), axis=1)
        np.testing.assert_allclose(ours, np.linalg.eigvalsh(m)[:, ::-1], atol=1e-4)


def test_kernels_stay_within_the_halo():
    for sigma in (0.2, 0.4, 1.0, 5.0):
        radius = smoothing_radius(sigma)
        assert radius + 1 <= np.ceil(4 * sigma)  # the central difference adds one voxel
        kernel = gaussian_kernel(sigma, radius)
        assert np.isclose(kernel.sum(), 1.0) and np.allclose(kernel, kernel[::-1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_set": "nope"}, "`features` must be one of"),
        ({"priors": np.zeros((2, 2, 2))}, "same voxel grid"),
        ({"spacing": (1.0, 1.0)}, "`spacing` has 2 values"),
    ],
)
def test_bad_input_one_clear_message(kwargs, message):
    args = {"spacing": (1.0, 1.0, 1.0), **kwargs}
    with pytest.raises(ValueError, match=message):
        compute_features(np.zeros((3, 4, 5)), **args)


def test_bad_feature_set_and_channel_grids():
    with pytest.raises(ValueError, match="`features` must be one of"):
        FeatureSet(("intensity", "sobel"))
    with pytest.raises(ValueError, match="positive finite mm"):
        FeatureSet(("gaussian",), (0.0,))
    with pytest.raises(ValueError, match="same voxel grid"):
        compute_features([np.zeros((3, 4)), np.zeros((3, 5))], spacing=(1, 1))
