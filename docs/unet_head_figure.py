"""Draw the shipped U-Net's tissue map on the real T1 head sample: docs/unet_t1_head.png.

Run: .venv/bin/python docs/unet_head_figure.py
The head is skull-stripped with `napari_segtools.brain_mask` (the model expects a stripped
brain); the sample's own skull-stripped image is drawn for comparison and gives the Dice score.
Prints the mask's Dice and volume, the model's grey and white matter volumes, and a three-class
Otsu split of the intensities inside the mask (README, Brain extraction).
"""

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from napari_segtools import load_model  # noqa: E402
from napari_segtools.core.brain_mask import brain_mask  # noqa: E402
from napari_segtools.core.metrics.overlap import dice  # noqa: E402
from napari_segtools.core.samples import read_sample  # noqa: E402
from napari_segtools.core.threshold import auto_threshold  # noqa: E402

head, geometry = read_sample("itk_t1_head_3d", "KmeansTest_T1UCharRaw.nii.gz")
reference = read_sample("itk_t1_head_3d", "KmeansTest_T1RawSkullStrip.nii.gz")[0] > 0
start = time.perf_counter()
brain = brain_mask(head, spacing=geometry.spacing)
seconds = time.perf_counter() - start
labels = load_model("mni152-brain-tissue").predict(
    np.where(brain, head, 0), geometry=geometry, device="cpu"
)
litres = np.prod(geometry.spacing) / 1e6
grey, white = ((labels == k).sum() * litres for k in (1, 2))
csf_grey, grey_white = auto_threshold(head, method="multiotsu", classes=3, mask=brain)
split = {
    name: round(float(sel.sum() * litres), 3)
    for name, sel in (
        ("CSF l", brain & (head <= csf_grey)),
        ("GM l", brain & (head > csf_grey) & (head <= grey_white)),
        ("WM l", brain & (head > grey_white)),
    )
}
print(
    f"brain_mask: {seconds:.2f} s, {brain.sum() * litres:.3f} l "
    f"(skull strip {reference.sum() * litres:.3f} l), Dice {dice(reference, brain):.3f}"
)
print(f"model: GM {grey:.3f} l, WM {white:.3f} l, GM/WM {grey / white:.2f}")
print(f"three-class Otsu inside the mask: {split}, GM/WM {split['GM l'] / split['WM l']:.2f}")

colours = matplotlib.colors.ListedColormap(
    [(0, 0, 0, 0), (0.9, 0.65, 0.2, 0.55), (0.3, 0.55, 0.95, 0.55)]
)
z, y, x = labels.shape[0] // 2 + 8, labels.shape[1] // 2, labels.shape[2] // 2
views = [
    (np.s_[z], geometry.spacing[1] / geometry.spacing[2]),
    (np.s_[:, y], geometry.spacing[0] / geometry.spacing[2]),
    (np.s_[:, :, x], geometry.spacing[0] / geometry.spacing[1]),
]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.8))
for ax, (cut, aspect) in zip(axes, views, strict=True):
    ax.imshow(head[cut], cmap="gray", aspect=aspect, origin="lower")
    ax.imshow(
        labels[cut], cmap=colours, vmin=0, vmax=2, aspect=aspect, origin="lower",
        interpolation="nearest",
    )  # fmt: skip
    ax.contour(reference[cut], [0.5], colors="red", linewidths=1.2, linestyles="dashed")
    ax.contour(brain[cut], [0.5], colors="cyan", linewidths=1.0)
    ax.axis("off")
fig.suptitle(
    "mni152-brain-tissue inside brain_mask on the real T1 head: grey matter orange, white blue;\n"
    f"brain_mask cyan, the sample's skull strip red dashed (Dice {dice(reference, brain):.3f})"
)
fig.tight_layout()
out = Path(__file__).with_name("unet_t1_head.png")
fig.savefig(out, dpi=80)
print(f"saved {out}")
