"""npe2 sample data: real images shipped in ``sample_images/`` and synthetic phantoms.

Every sample opens with its file's spacing as the layer scale and a reference Labels layer
whose values are named (shown when hovering) and drawn in colours that stand out on the image.
Nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from ._layer_style import labels_style
from .core import samples
from .core.geometry import Geometry, layer_kwargs
from .core.phantoms import phantom
from .core.samples import read_sample

_BRAIN_TISSUES = (
    "ConnectedThreshold_WhiteMatter",
    "ConnectedThreshold_Ventricle",
    "ConnectedThreshold_GrayMatter",
)

#: names of each reference's values, shown when hovering over them
BONE = {1: "bone"}
BRAIN_SLICE = {1: "white matter", 2: "ventricle", 3: "grey matter"}
MNI152 = {1: "grey matter", 2: "white matter"}
T1_BRAIN = {1: "brain (approx.)"}
PHANTOM = {1: "ellipsoid", 2: "bright core", 3: "dark lesion"}


def _layer(data, geometry: Geometry, name: str, kind: str, **extra) -> tuple:
    return data, layer_kwargs(geometry, name=name, **extra), kind


def ct_head() -> list[tuple]:
    """Head CT (int16 HU, 0.96x0.96x1.5 mm, GPL-2.0) and its bone mask (226-3071 HU)."""
    ct, geometry = read_sample("ct_head_invesalius", "ct_head_0051.nii.gz")
    bone, _ = read_sample("ct_head_invesalius", "ct_head_0051_bone_mask.nii.gz")
    return [
        _layer(ct, geometry, "head CT", "image", contrast_limits=(-221, 185), colormap="gray"),
        _layer(bone, geometry, "head CT bone reference", "labels", **labels_style(BONE)),
    ]


def brain_slice() -> list[tuple]:
    """Open the ITK Software Guide proton-density brain slice with ITK's reference masks.

    The masks are ITK's ConnectedThreshold results: 1 white matter, 2 ventricle, 3 grey matter.
    """
    image, geometry = read_sample("itk_brain_slices", "BrainProtonDensitySlice.png")
    labels = np.zeros(image.shape, np.uint8)
    for value, name in enumerate(_BRAIN_TISSUES, start=1):
        mask, _ = read_sample("itk_brain_slices", "reference", f"{name}.png")
        labels[(mask > 0) & (labels == 0)] = value
    return [
        _layer(image, geometry, "brain PD slice", "image", colormap="gray"),
        _layer(
            labels, geometry, "brain PD slice reference", "labels", **labels_style(BRAIN_SLICE)
        ),
    ]


def mni152() -> list[tuple]:
    """MNI ICBM152 2009a T1 template (1 mm) with hard grey/white-matter labels."""
    t1, labels, geometry = samples.mni152()
    return [
        _layer(t1, geometry, "MNI152 T1", "image", colormap="gray"),
        _layer(labels, geometry, "MNI152 reference", "labels", **labels_style(MNI152)),
    ]


def t1_head() -> list[tuple]:
    """Real T1 head MRI (2x2x3 mm, coronal slices) with ITK's rough brain mask (approximate)."""
    t1, geometry = read_sample("itk_t1_head_3d", "KmeansTest_T1UCharRaw.nii.gz")
    strip, _ = read_sample("itk_t1_head_3d", "KmeansTest_T1RawSkullStrip.nii.gz")
    return [
        _layer(t1, geometry, "T1 head", "image", colormap="gray"),
        _layer(
            (strip > 0).astype(np.uint8),
            geometry,
            "T1 head brain mask (approx.)",
            "labels",
            **labels_style(T1_BRAIN),
        ),
    ]


def _phantom_layers(shape, spacing, name: str) -> list[tuple]:
    image, labels = phantom(shape, spacing)
    geometry = Geometry(spacing)
    return [
        _layer(image, geometry, name, "image", colormap="gray"),
        _layer(labels, geometry, f"{name} reference", "labels", **labels_style(PHANTOM)),
    ]


def phantom_3d() -> list[tuple]:
    """3-D phantom on a 2.5x0.8x0.8 mm grid with its exact ground truth."""
    return _phantom_layers((40, 128, 128), (2.5, 0.8, 0.8), "phantom 3D")


def phantom_2d() -> list[tuple]:
    """2-D phantom on a 1.0x0.5 mm grid with its exact ground truth."""
    return _phantom_layers((128, 160), (1.0, 0.5), "phantom 2D")
