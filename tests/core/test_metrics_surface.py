"""Surface metrics: known answers, cross-checks against surface-distance, medpy and MONAI."""

import numpy as np
import pytest
from scipy import ndimage

from napari_segtools import metrics as M
from napari_segtools.core.metrics._surfels import element_size_table

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

SPACING_3D = (2.5, 0.8, 1.3)


@pytest.fixture(scope="module")
def surface_distance():
    """DeepMind's package; 0.1 still uses np.Inf / np.NaN, removed in numpy 2."""
    for name, value in (("Inf", np.inf), ("NaN", np.nan)):
        if name not in np.__dict__:
            setattr(np, name, value)
    return pytest.importorskip("surface_distance")


def blobs(rng, shape, n=2):
    """``n`` random smooth blobs (with concavities, sometimes several components)."""
    out = []
    for _ in range(n):
        field = ndimage.gaussian_filter(rng.random(shape), 1.5)
        out.append(field > np.quantile(field, rng.uniform(0.55, 0.8)))
    return out


def random_cases(seed, count):
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = (18, 21, 16) if i % 2 == 0 else (33, 27)
        spacing = tuple(rng.uniform(0.4, 3.0, len(shape)))
        yield *blobs(rng, shape), spacing


def box(shape, lo, hi):
    mask = np.zeros(shape, bool)
    mask[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = True
    return mask


@pytest.mark.parametrize("surface", ["voxel", "surfel"])
def test_box_shifted_along_every_axis(surface):
    ref = box((12, 12, 12), (2, 2, 2), (8, 8, 8))
    pred = box((12, 12, 12), (3, 3, 3), (9, 9, 9))
    expected = np.sqrt(np.sum(np.square(SPACING_3D)))
    hd = M.hausdorff_distance(ref, pred, spacing=SPACING_3D, surface=surface)
    assert hd == pytest.approx(expected, abs=1e-12)
    sd = M.compute_surface_distances(ref, pred, spacing=SPACING_3D, surface=surface)
    point, distance = sd.hausdorff_location()
    assert distance == pytest.approx(expected)
    corner = 2 if surface == "voxel" else 1.5  # voxel centre vs voxel corner
    high = 8 if surface == "voxel" else 8.5
    assert tuple(point) in ((corner,) * 3, (high,) * 3)


@pytest.mark.parametrize("surface", ["voxel", "surfel"])
def test_sphere_against_shifted_sphere(make_ball, surface):
    spacing = (2.0, 0.7, 0.7)
    ref = make_ball((20, 48, 48), (9.6, 23.5, 24), 11.0, spacing)
    pred = np.roll(ref, 3, axis=1)  # a translation by 3 voxels: HD = 3 * 0.7 mm exactly
    assert M.hausdorff_distance(ref, pred, spacing=spacing, surface=surface) == pytest.approx(2.1)
    assert M.center_distance(ref, pred, spacing=spacing) == pytest.approx(2.1)
    assert (
        M.normalized_surface_distance(ref, pred, spacing=spacing, tolerance_mm=2.1 + 1e-9) == 1.0
    )
    assert 0 < M.normalized_surface_distance(ref, pred, spacing=spacing, tolerance_mm=0.5) < 1
    assert M.dice(ref, pred) < 1


def test_single_voxels():
    ref, pred = np.zeros((5, 6, 7), bool), np.zeros((5, 6, 7), bool)
    ref[1, 2, 3], pred[3, 2, 6] = True, True
    expected = np.hypot(2 * 2.5, 3 * 1.3)
    for func in (
        M.hausdorff_distance,
        M.average_symmetric_surface_distance,
        M.mean_average_surface_distance,
    ):
        assert func(ref, pred, spacing=SPACING_3D) == pytest.approx(expected)
    assert M.normalized_surface_distance(ref, pred, spacing=SPACING_3D, tolerance_mm=6.4) == 1.0
    assert M.normalized_surface_distance(ref, pred, spacing=SPACING_3D, tolerance_mm=6.3) == 0.0
    assert M.hausdorff_distance(ref, ref, spacing=SPACING_3D) == 0.0


def test_no_spacing_means_voxel_units():
    ref = box((10, 10), (2, 2), (5, 5))
    pred = box((10, 10), (2, 4), (5, 7))
    assert M.hausdorff_distance(ref, pred, spacing=None) == 2.0
    assert M.hausdorff_distance(ref, pred, spacing=(1.0, 3.0)) == 6.0


def test_one_empty_mask(surface_distance):
    ref = box((8, 9, 10), (2, 2, 2), (5, 6, 7))
    empty = np.zeros_like(ref)
    for surface in ("voxel", "surfel"):
        sd = M.compute_surface_distances(ref, empty, spacing=SPACING_3D, surface=surface)
        assert len(sd.distances_pred_to_ref) == 0 and np.isinf(sd.distances_ref_to_pred).all()
        assert np.isnan(M.hausdorff_distance(ref, empty, spacing=SPACING_3D, surface=surface))
        assert M.normalized_surface_distance(ref, empty, spacing=SPACING_3D, surface=surface) == 0
    diagonal = np.sqrt(np.sum((np.array(ref.shape) * SPACING_3D) ** 2))
    for func in (M.hausdorff_distance, M.average_symmetric_surface_distance, M.center_distance):
        assert func(empty, ref, spacing=SPACING_3D, empty="worst") == pytest.approx(diagonal)
    peer = surface_distance.compute_surface_distances(ref, empty, SPACING_3D)
    assert surface_distance.compute_surface_dice_at_tolerance(peer, 1.0) == 0.0


def test_both_empty_is_nan():
    empty = np.zeros((6, 6), bool)
    for func in (M.hausdorff_distance, M.normalized_surface_distance, M.cldice):
        assert np.isnan(func(empty, empty, spacing=(1, 1), empty="worst"))
    point, distance = M.compute_surface_distances(empty, empty, spacing=None).hausdorff_location()
    assert np.isnan(distance) and point.shape == (2,) and np.isnan(point).all()


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.8, 1.3), (0.3, 3.1, 1.7)])
def test_surfel_tables_equal_surface_distance(surface_distance, spacing):
    tables = surface_distance.lookup_tables
    np.testing.assert_allclose(
        element_size_table(spacing),
        tables.create_table_neighbour_code_to_surface_area(spacing),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        element_size_table(spacing[:2]),
        tables.create_table_neighbour_code_to_contour_length(spacing[:2]),
        rtol=1e-12,
    )


def test_surfel_convention_equals_surface_distance(surface_distance):
    for ref, pred, spacing in random_cases(1, 8):
        ours = M.compute_surface_distances(ref, pred, spacing=spacing, surface="surfel")
        peer = surface_distance.compute_surface_distances(ref, pred, spacing)
        np.testing.assert_allclose(
            np.sort(ours.distances_ref_to_pred), peer["distances_gt_to_pred"], atol=1e-9
        )
        assert ours.areas_pred.sum() == pytest.approx(peer["surfel_areas_pred"].sum(), rel=1e-12)
        for p in (100, 95, 50):
            assert ours.hausdorff(percentile=p) == pytest.approx(
                surface_distance.compute_robust_hausdorff(peer, p), abs=1e-6
            )
        for tol in (0.5, 1.5, 3.0):
            assert ours.nsd(tolerance_mm=tol) == pytest.approx(
                surface_distance.compute_surface_dice_at_tolerance(peer, tol), abs=1e-6
            )
        directed = surface_distance.compute_average_surface_distance(peer)
        assert ours.masd() == pytest.approx(np.mean(directed), abs=1e-6)


def test_voxel_convention_equals_medpy():
    medpy = pytest.importorskip("medpy.metric.binary")
    for ref, pred, spacing in random_cases(2, 6):
        sd = M.compute_surface_distances(ref, pred, spacing=spacing)
        # medpy(result=prediction, reference=reference)
        assert sd.hausdorff() == pytest.approx(medpy.hd(pred, ref, spacing), abs=1e-6)
        assert sd.assd() == pytest.approx(medpy.assd(pred, ref, spacing), abs=1e-6)
        directed = medpy.asd(pred, ref, spacing), medpy.asd(ref, pred, spacing)
        assert sd.masd() == pytest.approx(np.mean(directed), abs=1e-6)
        # medpy's hd95 pools both directions before the percentile: the "pooled" variant
        pooled = M.hausdorff_distance(ref, pred, spacing=spacing, percentile=95, variant="pooled")
        assert pooled == pytest.approx(medpy.hd95(pred, ref, spacing), abs=1e-9)
        assert sd.hausdorff(percentile=95, variant="pooled") == pooled
        assert sd.hausdorff(percentile=95) >= pooled - 1e-9


@pytest.mark.parametrize("surface", ["voxel", "surfel"])
def test_hd_variants_known_answer_and_bounds(surface):
    # a 3x3 square and the same square with one stray voxel 2 voxels away: 8 reference
    # elements at distance 0 and, from the prediction, 8 zeros and one 2.0 (voxel convention)
    ref = box((6, 6), (1, 1), (4, 4))
    pred = ref.copy()
    pred[5, 2] = True
    sd = M.compute_surface_distances(ref, pred, spacing=(1.0, 1.0), surface=surface)
    if surface == "voxel":
        # numpy's linear interpolation: directed 0.6 * 2 (rank 7.6 of 9), pooled 0.2 * 2
        assert sd.hausdorff(percentile=95) == pytest.approx(1.2)
        assert sd.hausdorff(percentile=95, variant="pooled") == pytest.approx(0.4)
    for percentile in (50, 90, 95, 99):
        directed = sd.hausdorff(percentile=percentile)
        pooled = sd.hausdorff(percentile=percentile, variant="pooled")
        assert 0 <= pooled <= directed  # a pooled quantile lies between the directed ones
    assert sd.hausdorff(variant="pooled") == sd.hausdorff() == 2.0  # at 100 they coincide
    with pytest.raises(ValueError, match="`variant` must be one of"):
        sd.hausdorff(percentile=95, variant="mean")
    with pytest.raises(ValueError, match="`variant` must be one of"):
        M.hausdorff_distance(ref, pred, spacing=None, variant="max")


def test_voxel_convention_equals_monai():
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    for ref, pred, spacing in random_cases(3, 4):
        sd = M.compute_surface_distances(ref, pred, spacing=spacing)
        y_pred = torch.from_numpy(pred[None, None].astype(np.float32))
        y = torch.from_numpy(ref[None, None].astype(np.float32))
        kw = {"spacing": list(spacing)}
        for p in (None, 95):
            peer = float(monai_metrics.compute_hausdorff_distance(y_pred, y, percentile=p, **kw))
            assert sd.hausdorff(percentile=p or 100) == pytest.approx(peer, rel=1e-6)
        peer = float(
            monai_metrics.compute_average_surface_distance(y_pred, y, symmetric=True, **kw)
        )
        assert sd.assd() == pytest.approx(peer, rel=1e-6)
        two = [torch.cat([1 - t, t], 1) for t in (y_pred, y)]
        peer = float(monai_metrics.compute_surface_dice(*two, [1.5], **kw))
        assert sd.nsd(tolerance_mm=1.5) == pytest.approx(peer, rel=1e-6)


def test_array_border_voxels_are_surface():
    full = np.ones((4, 5), bool)
    sd = M.compute_surface_distances(full, full, spacing=None)
    assert len(sd.points_ref) == 4 * 5 - 2 * 3  # every voxel but the 2x3 interior


def test_cldice_of_a_broken_vessel():
    from skimage.morphology import skeletonize

    ref = np.zeros((9, 30), bool)
    ref[3:6, 2:28] = True
    pred = ref.copy()
    pred[:, 12:16] = False  # a gap: precision of the centreline stays 1, sensitivity drops
    assert M.cldice(ref, ref) == 1.0
    skel = skeletonize(ref)
    tsens = np.count_nonzero(skel & pred) / np.count_nonzero(skel)
    assert tsens < 1
    assert M.cldice(ref, pred) == pytest.approx(2 * tsens / (1 + tsens))


def test_hausdorff_location_on_a_spurious_voxel():
    ref = box((10, 20), (2, 2), (6, 6))
    pred = ref.copy()
    pred[8, 18] = True  # farthest from the reference: HD is attained here
    sd = M.compute_surface_distances(ref, pred, spacing=(2.0, 0.5))
    point, distance = sd.hausdorff_location()
    assert tuple(point) == (8.0, 18.0)
    assert distance == pytest.approx(np.hypot(3 * 2.0, 13 * 0.5))
    assert distance == sd.hausdorff()


def test_spacing_none_states_voxel_units():
    ref = box((10, 10), (2, 2), (5, 5))
    assert M.compute_surface_distances(ref, ref, spacing=None).unit == "voxel"
    assert M.compute_surface_distances(ref, ref, spacing=(1.0, 2.0)).unit == "mm"


SURFACE_FUNCS = [
    M.hausdorff_distance,
    M.average_symmetric_surface_distance,
    M.mean_average_surface_distance,
    M.normalized_surface_distance,
    M.center_distance,
    M.compute_surface_distances,
]


@pytest.mark.parametrize("func", SURFACE_FUNCS, ids=lambda f: f.__name__)
def test_distance_metrics_keyword_only_with_required_spacing(func):
    import inspect

    ref = box((10, 10), (2, 2), (5, 5))
    params = inspect.signature(func).parameters
    assert params["spacing"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["spacing"].default is inspect.Parameter.empty
    assert func.__doc__ and "Examples" in func.__doc__
    with pytest.raises(TypeError, match="positional"):
        func(ref, ref, (1.0, 1.0))
    with pytest.raises(TypeError, match="spacing"):
        func(ref, ref)
    with pytest.raises(TypeError, match="bogus"):
        func(ref, ref, spacing=None, bogus=1)


def test_deprecated_surface_names_warn_and_give_equal_results():
    ref = box((12, 12), (2, 2), (7, 7))
    pred = box((12, 12), (3, 2), (9, 8))
    sd = M.compute_surface_distances(ref, pred, spacing=(0.5, 1.5))
    pairs = [
        (lambda: M.compute_hausdorff(sd, percentile=90), sd.hausdorff(percentile=90)),
        (lambda: M.compute_assd(sd), sd.assd()),
        (lambda: M.compute_masd(sd), sd.masd()),
        (lambda: M.compute_nsd(sd, tolerance_mm=0.6), sd.nsd(tolerance_mm=0.6)),
    ]
    for old, new in pairs:
        with pytest.warns(FutureWarning, match="deprecated"):
            assert old() == new
    with pytest.warns(FutureWarning):
        point, distance = M.hausdorff_location(sd)
    np.testing.assert_array_equal(point, sd.hausdorff_location()[0])
    assert distance == sd.hausdorff() == pytest.approx(np.hypot(2 * 0.5, 1 * 1.5))
    with pytest.warns(FutureWarning, match="tolerance_mm"):
        assert M.compute_nsd(sd, tolerance=0.6) == sd.nsd(tolerance_mm=0.6)
    with pytest.warns(FutureWarning, match="tolerance_mm"):
        old = M.normalized_surface_distance(ref, pred, spacing=(0.5, 1.5), tolerance=0.6)
    assert old == M.normalized_surface_distance(ref, pred, spacing=(0.5, 1.5), tolerance_mm=0.6)
    assert old == sd.nsd(tolerance_mm=0.6)
    assert "compute_hausdorff" not in M.__all__ and "compute_hausdorff" in M.DEPRECATED_NAMES


def test_percentile_and_tolerance_are_checked():
    ref = box((10, 10), (2, 2), (5, 5))
    with pytest.raises(ValueError, match="`percentile` must lie in"):
        M.hausdorff_distance(ref, ref, spacing=None, percentile=101)
    with pytest.raises(ValueError, match="`tolerance_mm`"):
        M.normalized_surface_distance(ref, ref, spacing=None, tolerance_mm=-1)
