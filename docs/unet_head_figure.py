"""Draw the shipped U-Net's tissue map on the real T1 head sample: docs/unet_t1_head.png.

Run: .venv/bin/python docs/unet_head_figure.py
The head is skull-stripped with its sample brain mask first (the model expects a stripped brain).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from napari_segtools import load_model  # noqa: E402
from napari_segtools.core.samples import read_sample  # noqa: E402

head, geometry = read_sample("itk_t1_head_3d", "KmeansTest_T1UCharRaw.nii.gz")
mask, _ = read_sample("itk_t1_head_3d", "KmeansTest_T1RawSkullStrip.nii.gz")
labels = load_model("mni152-brain-tissue").predict(
    np.where(mask > 0, head, 0), geometry=geometry, device="cpu"
)
litres = np.prod(geometry.spacing) / 1e6
print(
    {name: round(float((labels == k).sum() * litres), 3) for k, name in ((1, "GM l"), (2, "WM l"))}
)

colours = matplotlib.colors.ListedColormap(
    [(0, 0, 0, 0), (0.9, 0.65, 0.2, 0.55), (0.3, 0.55, 0.95, 0.55)]
)
z, y, x = labels.shape[0] // 2 + 8, labels.shape[1] // 2, labels.shape[2] // 2
views = [
    (head[z], labels[z], geometry.spacing[1] / geometry.spacing[2]),
    (head[:, y], labels[:, y], geometry.spacing[0] / geometry.spacing[2]),
    (head[:, :, x], labels[:, :, x], geometry.spacing[0] / geometry.spacing[1]),
]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.5))
for ax, (image, label, aspect) in zip(axes, views, strict=False):
    ax.imshow(image, cmap="gray", aspect=aspect, origin="lower")
    ax.imshow(
        label, cmap=colours, vmin=0, vmax=2, aspect=aspect, origin="lower", interpolation="nearest"
    )
    ax.axis("off")
fig.suptitle("mni152-brain-tissue on the real T1 head (grey matter orange, white matter blue)")
fig.tight_layout()
out = Path(__file__).with_name("unet_t1_head.png")
fig.savefig(out, dpi=80)
print(f"saved {out}")
