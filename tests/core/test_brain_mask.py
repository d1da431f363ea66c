"""Brain extraction on T1 heads: the real T1-head sample, and the MNI152 brain in a synthetic head.

Volume ranges (README, Brain extraction): adult grey matter 0.5-0.8 l and white matter
0.4-0.6 l, grey/white ratio 1.1-1.5 (Miller, Alston & Corsellis 1980: 1.3 at 20 years, 1.1 at 50).
"""

from __future__ import annotations

import warnings
from importlib.resources import as_file

import numpy as np
import pytest

from napari_segtools.core.brain_mask import BrainMaskWarning, brain_mask, iter_brain_mask
from napari_segtools.core.io import read_image
from napari_segtools.core.metrics.overlap import dice
from napari_segtools.core.samples import MNI152_FOLDER, MNI152_T1, read_sample, sample_path
from napari_segtools.core.threshold import auto_threshold

HEAD = ("itk_t1_head_3d", "KmeansTest_T1UCharRaw.nii.gz")
STRIPPED = ("itk_t1_head_3d", "KmeansTest_T1RawSkullStrip.nii.gz")

#: head layers outside the brain's smooth envelope: (outer edge in mm, intensity / white matter):
#: CSF, inner table, diploe (marrow), outer table, galea and muscle, subcutaneous fat, skin
LAYERS = (
    (2.0, 0.25),
    (3.5, 0.08),
    (6.5, 0.7),
    (8.0, 0.08),
    (10.0, 0.55),
    (14.0, 1.5),
    (15.5, 0.6),
)


def _layer_profile(distance_mm: np.ndarray, width_mm: float) -> np.ndarray:
    """Head-layer intensity (/ white matter) averaged over a voxel ``width_mm`` wide."""
    fine = np.arange(-10.0, 40.0, 0.05)
    edges = np.array([0.0] + [edge for edge, _ in LAYERS])
    values = np.array([0.25] + [value for _, value in LAYERS] + [0.0])
    profile = values[np.searchsorted(edges, fine)]
    cumulative = np.concatenate([[0.0], np.cumsum(profile) * 0.05])
    grid = np.concatenate([[fine[0]], fine + 0.05])
    upper = np.interp(distance_mm + width_mm / 2, grid, cumulative)
    lower = np.interp(distance_mm - width_mm / 2, grid, cumulative)
    return (upper - lower) / width_mm


def synthetic_head(spacing=(2, 3, 2), *, seed=0, bias=0.2, noise=0.03):
    """The skull-stripped MNI152 brain in a synthetic head, averaged onto ``spacing``.

    The 1 mm template is block-averaged onto the grid (partial volume); sulcal CSF fills its
    smooth envelope; outside it lie CSF, skull (dark tables around bright marrow), muscle, fat
    and skin, 15.5 mm in all with a smooth +-30 % thickness variation; a neck with the spinal
    cord continuing the brainstem, and two eyes in bright orbital fat with optic nerves running
    to the brain's base; a smooth multiplicative bias field (``exp(+-bias)``) and Rician noise
    (``noise`` x white matter). Returns the image, the true brain (template > 0, at least half
    of the voxel) and the spacing.
    """
    from scipy import ndimage as ndi
    from skimage.transform import downscale_local_mean

    rng = np.random.default_rng(seed)
    t1, _ = read_sample(MNI152_FOLDER, MNI152_T1)  # 1 mm, axes towards S, P, L
    factors = tuple(int(s) for s in spacing)
    t1 = t1[tuple(slice(0, n // k * k) for n, k in zip(t1.shape, factors, strict=True))]
    wm = float(np.percentile(t1[t1 > 0], 90))
    pad = [(int(40 / s), int(12 / s)) if axis == 0 else (int(22 / s),) * 2
           for axis, s in enumerate(spacing)]  # fmt: skip
    brain_sum = np.pad(downscale_local_mean(t1.astype(np.float32), factors), pad)
    fraction = np.pad(downscale_local_mean((t1 > 0).astype(np.float32), factors), pad)
    truth = fraction >= 0.5
    envelope = ndi.binary_fill_holes(ndi.binary_closing(fraction > 0, iterations=2))
    outside = ndi.distance_transform_edt(~envelope, sampling=spacing)
    thickness = 1 + 0.3 * np.tanh(
        ndi.zoom(rng.normal(size=(3, 3, 3)), [n / 3 for n in envelope.shape], order=1)
    )
    depth = outside / thickness - min(spacing) / 2
    image = np.where(
        envelope,
        brain_sum + (1 - fraction) * 0.25 * wm,
        _layer_profile(depth, float(np.mean(spacing))) * wm,
    )
    mm = [g * s for g, s in zip(np.ogrid[tuple(map(slice, image.shape))], spacing, strict=True)]
    inside = np.argwhere(truth)
    lowest = inside[:, 0].min()
    cord_y, cord_x = (
        c * s for c, s in zip(np.argwhere(truth[lowest]).mean(0), spacing[1:], strict=True)
    )
    below = mm[0] < (lowest + 1) * spacing[0]
    head = envelope | (depth <= LAYERS[-1][0])
    neck = below & ((mm[1] - cord_y) ** 2 / 45**2 + (mm[2] - cord_x) ** 2 / 50**2 <= 1) & ~head
    image[neck] = 0.55 * wm
    canal = (mm[1] - cord_y) ** 2 + (mm[2] - cord_x) ** 2
    for radius, value in ((12, 0.08), (9, 0.25), (5, 0.9)):  # bone ring, CSF, spinal cord
        image[below & (canal <= radius**2)] = value * wm
    front = inside[:, 1].min() * spacing[1]  # the frontal pole
    floor = np.percentile(inside[inside[:, 1] * spacing[1] < front + 30, 0], 5) * spacing[0]
    for side in (-1, 1):
        eye = (floor - 14, front + 12, cord_x + 32 * side)
        orbit = (
            ((mm[0] - eye[0]) / 18) ** 2 + ((mm[1] - eye[1] - 12) / 28) ** 2
            + ((mm[2] - eye[2]) / 18) ** 2
        ) <= 1  # fmt: skip
        image[orbit & ~envelope] = 1.5 * wm  # orbital fat
        to_eye = sum((m - e) ** 2 for m, e in zip(mm, eye, strict=True))
        image[to_eye <= 12**2] = 0.6 * wm  # sclera
        image[to_eye <= 11**2] = 0.15 * wm  # vitreous
        for t in np.linspace(0, 1, 40):  # optic nerve, 4 mm across
            point = (eye[0] + 8 * t, eye[1] + 11 + 30 * t, eye[2] - 20 * t * side)
            nerve = sum((m - p) ** 2 for m, p in zip(mm, point, strict=True)) <= 4
            image[nerve & ~truth] = 0.9 * wm
    axes = np.meshgrid(*[np.linspace(-1, 1, n) for n in image.shape], indexing="ij", sparse=True)
    c = rng.normal(size=6)
    field = (
        c[0] * axes[0] + c[1] * axes[1] + c[2] * axes[2] + c[3] * axes[0] * axes[1]
        + c[4] * axes[2] ** 2 + c[5] * axes[0] ** 2
    )  # fmt: skip
    image = image * np.exp(bias * field / np.abs(field).max())
    real = image + rng.normal(0, noise * wm, image.shape)
    image = np.hypot(real, rng.normal(0, noise * wm, image.shape))
    return image.astype(np.float32), truth, tuple(float(s) for s in spacing)


@pytest.fixture(scope="module")
def sample():
    """The T1 head as stored (coronal, 3 x 2 x 2 mm), its reference brain and our mask."""
    with as_file(sample_path(*HEAD)) as head_file, as_file(sample_path(*STRIPPED)) as stripped:
        head, geometry = read_image(head_file)  # as stored: no reorientation
        reference = read_image(stripped)[0] > 0
    return head, geometry, reference, brain_mask(head, spacing=geometry.spacing)


def test_dice_against_the_skull_stripped_sample(sample):
    head, geometry, reference, mask = sample
    assert geometry.spacing == (3.0, 2.0, 2.0)  # coronal slices along the stored axis 0
    assert mask.dtype == bool and mask.shape == head.shape
    assert dice(reference, mask) >= 0.95  # measured 0.967; the issue asks for 0.93
    litres = np.prod(geometry.spacing) / 1e6
    assert mask.sum() * litres == pytest.approx(reference.sum() * litres, rel=0.05)  # 1.54 l


def test_axis_order_and_flips_do_not_change_the_mask(sample):
    head, geometry, _, mask = sample
    turned = np.transpose(head, (2, 0, 1))[::-1, :, ::-1]
    spacing = (geometry.spacing[2], geometry.spacing[0], geometry.spacing[1])
    result = brain_mask(turned, spacing=spacing)
    assert np.array_equal(np.transpose(result[::-1, :, ::-1], (1, 2, 0)), mask)


def test_brain_volume_and_tissue_split_are_adult(sample):
    """Inside the mask a three-class Otsu split gives adult CSF, grey and white volumes."""
    head, geometry, _, mask = sample
    litres = np.prod(geometry.spacing) / 1e6
    assert 1.2 <= mask.sum() * litres <= 1.8  # measured 1.54 l
    csf_grey, grey_white = auto_threshold(head, method="multiotsu", classes=3, mask=mask)
    grey = (mask & (head > csf_grey) & (head <= grey_white)).sum() * litres
    white = (mask & (head > grey_white)).sum() * litres
    assert 0.5 <= grey <= 0.8  # measured 0.68 l
    assert 0.4 <= white <= 0.6  # measured 0.55 l
    assert 1.1 <= grey / white <= 1.5  # measured 1.24


def test_the_shipped_tissue_model_inside_the_mask(sample):
    """The pipeline of the README: the stripped head through the shipped model (2 mm).

    Measured (overlap 0): grey 1.01 l, white 0.43 l. White is adult; grey holds the partial-
    volume CSF the model calls grey (README), so grey + white is the brain tissue, 1.44 l.
    """
    from napari_segtools.core.unet.domain import DomainWarning
    from napari_segtools.core.unet.package import load_model

    head, geometry, _, mask = sample
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = load_model("mni152-brain-tissue").predict(
            np.where(mask, head, 0), geometry=geometry, device="cpu", overlap=0.0
        )
    assert not [w for w in caught if w.category is DomainWarning]  # a stripped brain: in domain
    litres = np.prod(geometry.spacing) / 1e6
    grey, white = ((labels == k).sum() * litres for k in (1, 2))
    assert 0.4 <= white <= 0.6
    assert 0.8 <= grey <= 1.2
    assert 1.2 <= grey + white <= mask.sum() * litres
    assert 1.8 <= grey / white <= 3.0  # 2.35 here, 2.46 at overlap 0.5 (README: partial volume)


@pytest.mark.parametrize("spacing", [(2, 3, 2), (3, 2, 2)])
def test_mni152_brain_in_a_synthetic_head(spacing):
    image, truth, spacing = synthetic_head(spacing)
    mask = brain_mask(image, spacing=spacing)
    assert dice(truth, mask) >= 0.97  # measured 0.991 on both grids
    assert mask.sum() == pytest.approx(truth.sum(), rel=0.05)


def test_a_volume_outside_the_range_warns():
    image = np.zeros((30, 30, 30))
    image[5:25, 5:25, 5:25] = 40.0  # scalp
    image[9:21, 9:21, 9:21] = 100.0  # a 12-voxel cube of brain: 1.7 l at 10 mm voxels
    with pytest.warns(BrainMaskWarning, match=r"1\.73 l, outside the expected 0\.8-1\.5 l"):
        mask = brain_mask(image, spacing=(10, 10, 10), volume_range_mm3=(0.8e6, 1.5e6))
    assert mask.sum() == 12**3


def test_iter_brain_mask_reports_its_stages_and_returns_the_mask():
    image = np.zeros((30, 30, 30))
    image[5:25, 5:25, 5:25] = 40.0
    image[9:21, 9:21, 9:21] = 100.0
    gen = iter_brain_mask(image, spacing=(10, 10, 10))
    steps = []
    while True:
        try:
            steps.append(next(gen).step)
        except StopIteration as stop:
            mask = stop.value
            break
    assert steps == [0, 1, 2, 3, 4, 5] and mask.sum() == 12**3


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "match"),
    [
        (np.ones((20, 20)), {"spacing": (1, 1)}, ValueError, "`image` must be 3-D"),
        (np.ones((0, 5, 5)), {"spacing": (1, 1, 1)}, ValueError, "`image` is empty"),
        (np.zeros((20, 20, 20)), {"spacing": (8, 8, 8)}, ValueError, "single value"),
        (np.ones((20, 20, 20), bool), {"spacing": (8, 8, 8)}, TypeError, "integer or float"),
        (None, {"spacing": None}, TypeError, "`spacing` is required"),
        (np.pad(np.ones((16, 16, 16)), 7), {"spacing": (8, 8, 8)}, ValueError, "shows no brain"),
        (None, {"spacing": (2, 2)}, ValueError, "`spacing` has 2 values"),
        (None, {"spacing": (2, -3, 2)}, ValueError, "positive finite millimetres"),
        (None, {"spacing": (0.2, 0.3, 0.2)}, ValueError, "give the voxel size in mm"),
        (None, {"spacing": (8, 8, 8), "erosion_mm": -1}, ValueError, "`erosion_mm`"),
        (None, {"spacing": (8, 8, 8), "brain_threshold_fraction": 1.5}, ValueError, "lie in"),
        (None, {"spacing": (8, 8, 8), "volume_range_mm3": (2e6, 1e6)}, ValueError, "low < high"),
        (None, {"spacing": (8, 8, 8), "volume_range_mm3": 5}, TypeError, "two volumes"),
    ],
)
def test_bad_input_is_named(image, kwargs, error, match):
    if image is None:  # a valid small head, so that only the option is wrong
        image = np.zeros((30, 30, 30))
        image[5:25, 5:25, 5:25] = 40.0
        image[9:21, 9:21, 9:21] = 100.0
    with pytest.raises(error, match=match):
        brain_mask(image, **kwargs)
