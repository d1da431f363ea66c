"""Draw the two deep-learning lessons and store the "Lessons" sample from the same run.

Writes docs/lesson_receptive_field.png, docs/lesson_class_imbalance.png and
sample_images/lessons/lessons.npz (the sample napari opens; byte for byte the same for the same
results).

Run: .venv/bin/python docs/make_lesson_figures.py   (trains both lessons with their defaults,
about 15 s on a CPU, and prints the tables the figures show)
"""

import inspect
import io
import zipfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from napari_segtools import _sample_lessons  # noqa: E402
from napari_segtools.core.io import atomic_write  # noqa: E402
from napari_segtools.core.lessons.class_imbalance import class_imbalance_lesson  # noqa: E402
from napari_segtools.core.lessons.receptive_field import receptive_field_lesson  # noqa: E402

DOCS = Path(__file__).resolve().parent
SAMPLE = DOCS.parent.joinpath("sample_images", *_sample_lessons.SAMPLE_FILE)
COLOURS = {"BCE": "#d62728", "weighted BCE": "#ff7f0e", "Dice loss": "#1f77b4"}


def examples(test, count=6):
    """Return indices of ``count`` test images, malignant and benign alternating."""
    malignant = np.flatnonzero(test.malignant)[: count // 2]
    benign = np.flatnonzero(~test.malignant)[: count // 2]
    return [int(i) for pair in zip(malignant, benign, strict=True) for i in pair]


def crop(stack, test, i, half=10, fill=0.0):
    """Cut the (2 half + 1)-pixel square centred on image ``i``'s lesion (``fill`` outside)."""
    cy, cx = test.centres[i] + half
    padded = np.pad(stack[i], half, constant_values=fill)
    return padded[cy - half : cy + half + 1, cx - half : cx + half + 1], (half, half)


def receptive_field_figure(lesson):
    test, shown = lesson.test, examples(lesson.test)
    fig, axes = plt.subplots(3, len(shown), figsize=(2 * len(shown), 6.8))
    rows = [("test image", None), *((r, r.probabilities) for r in lesson.results)]
    for row, (result, probabilities) in enumerate(rows):
        for col, i in enumerate(shown):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            kind = "malignant" if test.malignant[i] else "benign"
            if probabilities is None:
                image, (cy, cx) = crop(test.images, test, i, fill=-0.2)
                ax.imshow(image, cmap="gray", vmin=-0.2, vmax=1.2)
                ax.set_title(kind, fontsize=10)
                if col == 0:  # the two fields, centred on the lesion's centre pixel
                    for side, colour in ((7, "#ff7f0e"), (15, "#1f77b4")):
                        ax.add_patch(
                            Rectangle(
                                (cx - side / 2, cy - side / 2),
                                side,
                                side,
                                fill=False,
                                lw=1.8,
                                ec=colour,
                            )
                        )
                continue
            image, _ = crop(probabilities, test, i)
            ax.imshow(image, cmap="magma", vmin=0, vmax=1)
            cy, cx = test.centres[i]
            p = probabilities[i, cy - 1 : cy + 2, cx - 1 : cx + 2].mean()
            right = (p >= 0.5) == test.malignant[i]
            ax.set_title(f"p = {p:.2f} {'✓' if right else '✗'}", fontsize=10)
        if probabilities is not None:
            field = " x ".join(map(str, result.field.voxels))
            axes[row, 0].set_ylabel(
                f"{result.network}\nfield {field}\n{result.parameters} parameters\n"
                f"accuracy {result.accuracy:.2f}",
                fontsize=9,
            )
    axes[0, 0].set_ylabel("input\norange 7 x 7,\nblue 15 x 15", fontsize=9)
    fig.suptitle(
        "Receptive field: the ring 5 px from the lesion decides malignant; same 1257 weights",
        fontsize=12,
    )
    fig.tight_layout()
    return fig


def class_imbalance_figure(lesson):
    fig = plt.figure(figsize=(12, 6.4))
    grid = fig.add_gridspec(2, 6, height_ratios=(1.25, 1))
    loss_ax, dice_ax = fig.add_subplot(grid[0, :3]), fig.add_subplot(grid[0, 3:])
    f = lesson.positive_fraction
    prior = -(f * np.log(f) + (1 - f) * np.log(1 - f))  # BCE of "p = f everywhere"
    for r in lesson.results:
        epochs = np.arange(1, len(r.losses) + 1)
        loss_ax.semilogy(epochs, r.losses, "o-", color=COLOURS[r.name], label=r.name)
        dice_ax.plot(epochs, r.dice, "o-", color=COLOURS[r.name], label=r.name)
    loss_ax.axhline(prior, ls="--", color="grey", lw=1)
    loss_ax.text(1, prior * 1.15, f"BCE of calling every pixel negative: {prior:.3f}", fontsize=8)
    loss_ax.set(xlabel="epoch", ylabel="training loss (log)", title="loss")
    dice_ax.set(
        xlabel="epoch", ylabel="Dice on test images", title="segmentation", ylim=(-0.03, 1.03)
    )
    dice_ax.legend(loc="center right")
    test = lesson.test
    shown = [int(i) for i in np.flatnonzero(test.malignant)[:3]]
    for k, name in enumerate(("BCE", "Dice loss")):
        result = next(r for r in lesson.results if r.name == name)
        for j, i in enumerate(shown):
            ax = fig.add_subplot(grid[1, 3 * k + j])
            image, _ = crop(result.probabilities, test, i)
            ax.imshow(image, cmap="magma", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            cy, cx = test.centres[i]
            p = result.probabilities[i, cy - 1 : cy + 2, cx - 1 : cx + 2].max()
            ax.set_title(f"{name}: max p {p:.2f}", fontsize=9)
    fig.suptitle(
        f"Class imbalance: {f:.2%} positive pixels; BCE's loss is near zero, its Dice is "
        f"{lesson.results[0].dice[-1]:.2f}",
        fontsize=12,
    )
    fig.tight_layout()
    return fig


def default_settings():
    """Return the default settings both lessons share: image counts, epochs, seed."""
    field, imbalance = (
        {name: p.default for name, p in inspect.signature(lesson).parameters.items()}
        for lesson in (receptive_field_lesson, class_imbalance_lesson)
    )
    assert field == imbalance, (field, imbalance)
    return field


def write_npz(path, arrays):
    """Write ``arrays`` as a compressed .npz with fixed zip dates, so equal arrays give equal bytes."""
    with atomic_write(path) as partial, zipfile.ZipFile(partial, "w") as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(entry, buffer.getvalue(), zipfile.ZIP_DEFLATED, 9)


def main():
    settings = default_settings()
    field = receptive_field_lesson(**settings)
    print(field.table())
    receptive_field_figure(field).savefig(DOCS / "lesson_receptive_field.png", dpi=90)
    imbalance = class_imbalance_lesson(**settings)
    print(imbalance.table())
    class_imbalance_figure(imbalance).savefig(DOCS / "lesson_class_imbalance.png", dpi=90)
    # both lessons split the same seed the same way: they score the same test images
    assert np.array_equal(field.test.images, imbalance.test.images)
    write_npz(
        SAMPLE,
        {
            **{key: np.array(value) for key, value in settings.items()},
            **_sample_lessons.input_arrays(field.test),
            **_sample_lessons.receptive_field_arrays(field),
            **_sample_lessons.class_imbalance_arrays(imbalance),
        },
    )
    print(f"{SAMPLE}: {SAMPLE.stat().st_size} bytes")


if __name__ == "__main__":
    main()
