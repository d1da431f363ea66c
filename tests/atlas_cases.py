"""Known-truth atlas cases: the MNI152 template with hard GM/WM labels, and deformed copies.

Used by the atlas tests and the benchmark: a target made by warping the template with a known
smooth deformation (plus a bias field and noise) has exactly known labels. Test and benchmark
support, kept out of the wheel: tests import it as ``tests.atlas_cases`` (pytest's importlib
mode makes ``tests`` a package rooted at the repository), ``benchmarks/bench_atlas.py`` puts the
repository root on ``sys.path`` first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from napari_segtools.core._sitk import array_to_sitk, sitk_to_array
from napari_segtools.core.atlas import Atlas
from napari_segtools.core.geometry import Geometry
from napari_segtools.core.samples import (
    MNI152_FOLDER,
    MNI152_GM,
    MNI152_T1,
    MNI152_WM,
    mni152_labels,
    sample_path,
)

GM, WM = 1, 2


@dataclass(frozen=True)
class AtlasCase:
    """An intensity image, its labels (0 background, 1 GM, 2 WM) and its axis-aligned grid."""

    image: np.ndarray
    labels: np.ndarray
    geometry: Geometry

    @property
    def atlas(self) -> Atlas:
        """The case as an :class:`Atlas` (image, labels, geometry)."""
        return Atlas(self.image, self.labels, self.geometry)


def load_mni152(factor: int = 2) -> AtlasCase:
    """The MNI152 2009a T1 template block-averaged by ``factor`` (2 -> 2 mm), with hard labels.

    Labels follow :func:`.samples.mni152_labels`, computed on the averaged probability maps.
    The direction is dropped (axis-aligned grid at the file's origin).
    """
    import SimpleITK as sitk

    maps = {}
    for key, name in (("t1", MNI152_T1), ("gm", MNI152_GM), ("wm", MNI152_WM)):
        img = sitk.Cast(sitk.ReadImage(str(sample_path(MNI152_FOLDER, name))), sitk.sitkFloat32)
        maps[key], geometry = sitk_to_array(sitk.BinShrink(img, [factor] * 3))
    labels = mni152_labels(maps["gm"], maps["wm"])
    return AtlasCase(maps["t1"], labels, Geometry(geometry.spacing, geometry.origin))


def deformed_copy(
    case: AtlasCase,
    *,
    seed: int,
    max_displacement_mm: float = 6.0,
    smoothness_mm: float = 16.0,
    rotation_deg: float = 6.0,
    scaling: float = 0.06,
    translation_mm: float = 5.0,
    bias: float = 0.2,
    noise: float = 0.03,
) -> AtlasCase:
    """Warp ``case`` by a random affine plus smooth displacement; add a bias field and noise.

    Parameters
    ----------
    case : AtlasCase
        The undeformed template.
    seed : int
        Seed of every random draw (the same seed gives the same case).
    max_displacement_mm : float
        Largest length of the non-linear displacement, mm.
    smoothness_mm : float
        Gaussian smoothing sigma of the random displacement field, mm.
    rotation_deg, scaling, translation_mm : float
        Bounds of the random affine part: rotation about each axis (degrees), relative scaling
        per axis, translation per axis (mm).
    bias : float
        Peak relative amplitude of the smooth multiplicative bias field.
    noise : float
        Gaussian noise sigma relative to the image maximum.

    Returns
    -------
    AtlasCase
        Warped image (float32, linear interpolation) and exactly warped labels (nearest
        neighbour) on the same grid as ``case``.
    """
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    geometry = case.geometry
    image = array_to_sitk(case.image.astype(np.float32), geometry)
    spacing = np.asarray(geometry.spacing)
    shape = case.image.shape

    field = np.stack(
        [
            ndi.gaussian_filter(rng.standard_normal(shape), smoothness_mm / spacing)
            for _ in range(3)
        ],
        axis=-1,
    )
    field *= max_displacement_mm / np.linalg.norm(field, axis=-1).max()
    # ITK vectors are (x, y, z): reverse the component axis.
    field_img = sitk.GetImageFromArray(field[..., ::-1].astype(np.float64), isVector=True)
    field_img.CopyInformation(image)
    affine = sitk.AffineTransform(3)
    centre = image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()])
    affine.SetCenter(centre)
    euler = sitk.Euler3DTransform()
    euler.SetRotation(*np.radians(rng.uniform(-rotation_deg, rotation_deg, 3)))
    matrix = np.asarray(euler.GetMatrix()).reshape(3, 3) @ np.diag(
        1 + rng.uniform(-scaling, scaling, 3)
    )
    affine.SetMatrix(matrix.ravel().tolist())
    affine.SetTranslation(rng.uniform(-translation_mm, translation_mm, 3).tolist())
    transform = sitk.CompositeTransform([affine, sitk.DisplacementFieldTransform(field_img)])

    warped = sitk.Resample(image, image, transform, sitk.sitkLinear, 0.0)
    labels = sitk.Resample(
        array_to_sitk(case.labels, geometry), image, transform, sitk.sitkNearestNeighbor, 0
    )
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    coeffs = rng.uniform(-1, 1, 3)
    bias_field = 1 + bias * np.tanh(sum(c * g for c, g in zip(coeffs, grids, strict=True)))
    out = sitk.GetArrayFromImage(warped) * bias_field
    out += rng.normal(0, noise * case.image.max(), shape)
    return AtlasCase(
        np.clip(out, 0, None).astype(np.float32),
        sitk.GetArrayFromImage(labels).astype(np.uint8),
        geometry,
    )
