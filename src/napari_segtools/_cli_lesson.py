"""``napari-segtools lesson``: train one of the lecture notes' toy problems and print its table.

``receptive-field`` trains a plain and a dilated 3-layer network with the same weights on the
ring task and prints each one's receptive field, parameters and accuracy; ``class-imbalance``
trains the dilated network with binary cross-entropy, weighted cross-entropy and the Dice loss
on its 0.4 % positive pixels and prints the loss and the test Dice per epoch. Each takes under
a minute on a CPU. ``--open`` then shows the test images, the truth and each network's result
in napari, trained live (the "Lessons" sample shows the default run, stored). Example::

    napari-segtools lesson receptive-field --open
"""

from __future__ import annotations

import argparse

LESSONS = {
    "receptive-field": "plain vs dilated network on the ring task: field, parameters, accuracy",
    "class-imbalance": "BCE vs weighted BCE vs Dice loss at 0.4 % positives: loss, Dice",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `lesson` options to ``parser``."""
    parser.add_argument(
        "lesson",
        choices=tuple(LESSONS),
        help="; ".join(f"{name}: {text}" for name, text in LESSONS.items()).replace("%", "%%"),
    )
    parser.add_argument("--open", action="store_true", help="show the results in napari")
    parser.add_argument("--seed", type=int, default=0, help="seed of images and weights (0)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (10)")


def run(args: argparse.Namespace) -> int:
    """Train the lesson, print its table, and open napari with ``--open``."""
    from napari_segtools import _sample_lessons

    options = {"seed": args.seed, "epochs": args.epochs}
    if args.lesson == "receptive-field":
        from napari_segtools.core.lessons.receptive_field import receptive_field_lesson

        field = receptive_field_lesson(**options)
        title = f"ring task, {len(field.test.images)} test images, {field.epochs} epochs"
        test, table = field.test, field.table()
        results = _sample_lessons.receptive_field_layers(
            _sample_lessons.receptive_field_arrays(field)
        )
    else:
        from napari_segtools.core.lessons.class_imbalance import class_imbalance_lesson

        imbalance = class_imbalance_lesson(**options)
        title = (
            f"ring task, {imbalance.positive_fraction:.2%} positive pixels; loss on the "
            f"training images, Dice on {len(imbalance.test.images)} test images"
        )
        test, table = imbalance.test, imbalance.table()
        results = _sample_lessons.class_imbalance_layers(
            _sample_lessons.class_imbalance_arrays(imbalance)
        )
    print(title)
    print(table)
    if args.open:
        inputs = _sample_lessons.input_layers(_sample_lessons.input_arrays(test))
        _show([*inputs, *results], args.lesson)
    return 0


def _show(layers: list[tuple], lesson: str) -> None:
    import napari
    from napari.layers import Layer

    viewer = napari.Viewer(title=f"napari-segtools lesson {lesson}")
    for data, kwargs, kind in layers:
        viewer.add_layer(Layer.create(data, kwargs, kind))
    viewer.reset_view()
    napari.run()
