"""The "Voxel classifier" dock: ilastik-style pixel classification from scribbles, in mm.

Paint a few strokes of each class into a scribbles Labels layer, press Train (or tick "Live
update" and the preview of the shown slice follows every stroke), then "Apply to volume".
Features are computed at scales in mm (``core.classify``), so a classifier trained on one
spacing works on another. Layer glue only: every computation runs in a worker thread, in
``napari_segtools.core.classify`` (imported there on first use, with scikit-learn).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, LineEdit, PushButton, SpinBox
from napari.layers import Labels
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog

from .._layer_style import label_colormap, label_features
from ..core._types import Progress
from ..core.geometry import grid_differences, voxel_volume
from ._classifier_inputs import ClassTable, ImportanceTable, LayerChecklist
from ._common import USER_ERRORS, Section, layer_choices
from ._dock import ScrollDock
from ._history import changed_message
from ._layers import (
    current_slice_index,
    find_layer,
    is_output_of,
    layer_to_array,
    write_owned,
)
from ._segment_layer import segment_color, segment_names, set_segment_name, with_colors
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

#: the name this dock's output layers carry in ``metadata`` (see ``_layers.write_owned``)
OWNER = "Voxel classifier"
#: metadata key of the live preview layer: the dock's preview, never a user's layer
PREVIEW_KEY = "napari_segtools_classifier_preview"
#: classes a new scribbles layer starts with (value -> name; renamed in the table)
DEFAULT_CLASSES = {1: "background", 2: "foreground"}
#: what the core's refusal of a file with types off its allow-list says
UNTRUSTED = "outside the allow-list"
#: the class drawn see-through in the preview and the result (by its name, any case)
BACKGROUND = "background"
#: wait between two napari layer updates split over turns (ms): long enough for Qt to handle
#: input and paint between them (a 0 ms timer may run in the same pass of the event loop)
_TURN_MS = 30
#: wait after the last brush stroke before training again (ms)
_DEBOUNCE_MS = 200
#: the preset shown once a feature box or the scales are edited by hand
CUSTOM = "custom"
#: what the classifier combo box says for each of the core's ``CLASSIFIERS``
CLASSIFIER_NAMES = {
    "random_forest": "Random forest",
    "extra_trees": "Extra trees",
    "gradient_boosting": "Gradient boosting",
    "knn": "k nearest neighbours",
    "svm": "Support vector machine",
    "decision_tree": "Decision tree",
}
#: what each feature's box says (the core's names are the keys)
FEATURE_LABELS = {
    "intensity": "intensity",
    "gaussian": "smoothed",
    "gradient": "gradient",
    "log": "LoG (blobs)",
    "dog": "DoG (blobs)",
    "hessian": "Hessian (ridges)",
    "structure_tensor": "structure tensor",
    "local_mean": "local mean",
    "local_sd": "local SD",
}
#: what the preview layer looks like: the classes' colours, see-through, under the scribbles
_PREVIEW_OPACITY = 0.45


def _features_module():
    from ..core.classify import features

    return features


def parse_sigmas(text: str) -> tuple[float, ...]:
    """Read "1, 2, 4" (mm) as a tuple of positive floats; ValueError with one line otherwise.

    Examples
    --------
    >>> parse_sigmas("1, 2.5 4")
    (1.0, 2.5, 4.0)
    """
    parts = [p for p in text.replace(";", ",").replace(",", " ").split() if p]
    try:
        sigmas = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"Scales (mm): '{text}' is not a list of numbers such as '1, 2, 4'."
        ) from None
    if not sigmas or any(not np.isfinite(s) or s <= 0 for s in sigmas):
        raise ValueError(f"Scales (mm): give positive numbers such as '1, 2, 4'; got '{text}'.")
    return sigmas


def _scribbled_values(scribbles: np.ndarray) -> list[int]:
    """Return the label values > 0 present in ``scribbles``.

    ``np.bincount`` of non-negative labels: ~15 ms for MNI152's 8.7 M voxels, where
    ``np.unique`` (a sort) took ~100 ms on the GUI thread (measured).
    """
    flat = scribbles.ravel()
    if flat.size and np.issubdtype(flat.dtype, np.integer) and flat.min() >= 0:
        return [int(v) for v in np.flatnonzero(np.bincount(flat)) if v]
    return [int(v) for v in np.unique(flat) if v]


def _area_or_volume(voxels: int, spacing) -> str:
    """Say ``voxels`` as ml (3-D) or cm² (2-D)."""
    amount = voxels * voxel_volume(spacing)
    return f"{amount / 100:.2f} cm²" if len(spacing) == 2 else f"{amount / 1000:.2f} ml"


# ----------------------------------------------------------------------------- workers
@dataclass(frozen=True)
class _Trained:
    """What a training worker hands back."""

    classifier: Any
    preview: Any  # the SlicePreview used (its feature cache is kept for the next stroke)
    labels: np.ndarray  # predicted labels of the shown slice (the whole image in 2-D)
    index: tuple[int, ...]
    importances: dict[str, float]
    train_s: float
    preview_s: float
    samples: int


def _iter_train(images, scribbles, *, options, preview, preview_args, index) -> Any:
    """Train on the scribbles, then predict the shown slice (in the worker).

    A volume trains from its :class:`SlicePreview` (``preview``, made from ``preview_args`` if
    None), whose cached slice features make the next stroke's retraining cost only the
    classifier's time. A 2-D image (``index`` empty) trains with the core's
    ``train_voxel_classifier`` and its preview is the whole image.
    """
    from ..core.classify.classifier import train_voxel_classifier
    from ..core.classify.preview import SlicePreview

    yield Progress(0, 2, "features and training")
    start = time.perf_counter()
    if index:
        if preview is None:
            preview = SlicePreview(images, **preview_args)
        classifier = preview.train(scribbles, **options)
    else:
        classifier = train_voxel_classifier(
            images,
            scribbles,
            spacing=preview_args["spacing"],
            features=preview_args["feature_set"],
            priors=preview_args["priors"],
            **options,
        )
    train_s = time.perf_counter() - start
    importances = classifier.feature_importances
    yield Progress(1, 2, "preview")
    start = time.perf_counter()
    if index:
        labels = preview.predict(classifier, index[0]).labels
    else:
        result = yield from classifier.iter_predict(images, priors=preview_args["priors"])
        labels = result.labels
    preview_s = time.perf_counter() - start
    samples = int(np.count_nonzero(scribbles))
    return _Trained(classifier, preview, labels, index, importances, train_s, preview_s, samples)


def _iter_preview(classifier, images, *, preview, preview_args, index) -> Any:
    """Predict the shown slice only (the slice changed, the classifier did not)."""
    from ..core.classify.preview import SlicePreview

    yield Progress(0, 1, "preview of the slice")
    start = time.perf_counter()
    if preview is None:
        preview = SlicePreview(images, **preview_args)
    labels = preview.predict(classifier, index[0]).labels
    return preview, labels, index, time.perf_counter() - start


@dataclass(frozen=True)
class _Applied:
    labels: np.ndarray
    probabilities: tuple[tuple[int, np.ndarray], ...]
    uncertainty: np.ndarray | None
    counts: dict[int, int]
    seconds: float


def _iter_apply(classifier, images, *, priors, probabilities, uncertainty) -> Any:
    """Classify every voxel (chunked, cancellable), then count the classes (in the worker)."""
    start = time.perf_counter()
    result = yield from classifier.iter_predict(
        images, priors=priors, probabilities=probabilities, uncertainty=uncertainty
    )
    labels = np.asarray(result.labels)
    values = [int(v) for v in classifier.class_values]
    voxels = np.bincount(labels.ravel(), minlength=max(values) + 1)
    counts = {v: int(voxels[v]) for v in values}
    probs = ()
    if probabilities and result.probabilities is not None:
        probs = tuple(
            (v, np.ascontiguousarray(result.probabilities[k], np.float32))
            for k, v in enumerate(values)
        )
    return _Applied(labels, probs, result.uncertainty, counts, time.perf_counter() - start)


def _iter_call(func, *args, message: str, **kwargs) -> Any:
    yield Progress(0, 1, message)
    return func(*args, **kwargs)


def _load(path, *, trusted: bool):
    """Load a classifier file; an untrusted refusal comes back as its message (no raise)."""
    from ..core.classify.classifier import load_voxel_classifier

    try:
        return load_voxel_classifier(path, trusted=trusted), ""
    except USER_ERRORS as exc:
        return None, str(exc)


# ------------------------------------------------------------------------------ widget
class ClassifierWidget(ScrollDock):
    """Classify voxels from scribbles: features in mm, a scikit-learn classifier, live preview."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        #: the trained or loaded classifier (``VoxelClassifier``), or None
        self.classifier = None
        #: the classifier no longer matches the dock's inputs (a setting changed since)
        self.classifier_stale = False
        #: the last training's figures (seconds, samples) for the status line and tests
        self.last_train: _Trained | None = None
        self.layer: Labels | None = None  # the scribbles layer watched
        self._preview_cache: tuple | None = None  # (key, SlicePreview)
        self._preview_index: tuple[int, ...] | None = None  # the slice the preview shows
        self._generation = 0  # bumped by every change of inputs: older results are dropped
        self._pending = False  # a live retrain was asked for while one ran
        self._trust_path: str | None = None
        self.worker = None
        self._scheduled = 0  # callbacks waiting for a later turn (see _later)

        features = _features_module()
        self._all_features = tuple(features.FEATURES)
        self._presets = dict(features.PRESETS)

        self.images = LayerChecklist(
            self._image_choices,
            label="Images",
            tooltip="Tick the image(s) to classify: several contrasts (T1, T2, ...) must lie on "
            "one voxel grid",
            on_change=self._on_inputs,
        )
        self.scribbles = ComboBox(
            label="Scribbles",
            choices=self._labels_choices,
            nullable=True,
            tooltip="Labels layer holding your strokes: each label value is one class, 0 is "
            "unlabelled",
        )
        self.new_button = PushButton(
            text="New scribbles layer",
            tooltip="Add '<image> scribbles' on the image's grid with two named classes, "
            "selected and ready to paint",
        )
        self.classes = ClassTable(on_rename=self.rename_class, on_select=self.select_class)
        self.add_class_button = PushButton(
            text="Add class", tooltip="Add a class and pick it for the brush"
        )
        self.inputs = Section(
            "Inputs",
            [
                self.images,
                self.scribbles,
                self.new_button,
                self.classes,
                self.add_class_button,
            ],
        )
        self.preset = ComboBox(
            label="Features",
            choices=[*self._presets, CUSTOM],
            value="basic" if "basic" in self._presets else next(iter(self._presets)),
            tooltip="Voxel features: basic (smoothed intensity), edges (gradients), texture "
            "(structure tensor, Hessian), all; ticking boxes below makes a custom set",
        )
        self.feature_boxes = {
            name: CheckBox(
                text=FEATURE_LABELS.get(name, name), value=False, tooltip=f"feature '{name}'"
            )
            for name in self._all_features
        }
        grid = [
            Container(
                widgets=list(self.feature_boxes.values())[i : i + 2],
                layout="horizontal",
                labels=False,
            )
            for i in range(0, len(self.feature_boxes), 2)
        ]
        for row in grid:
            row.margins = (0, 0, 0, 0)
        self.feature_grid = Container(widgets=grid, labels=False, label="")
        self.feature_grid.margins = (0, 0, 0, 0)
        self.sigmas = LineEdit(
            label="Scales (mm)",
            value="",
            tooltip="Gaussian scales in mm, e.g. '1, 2, 4' (the same in every direction, "
            "whatever the voxel spacing)",
        )
        self.method = ComboBox(
            label="Classifier",
            choices=[(CLASSIFIER_NAMES.get(c, c), c) for c in self._classifier_names()],
            value="random_forest",
            tooltip="scikit-learn classifier; a random forest is ilastik's default",
        )
        self.balanced = CheckBox(
            text="Balance classes",
            value=False,
            tooltip="Weigh each class by the inverse of its scribbled voxels (class_weight="
            "'balanced'): a few strokes of a small class count as much as many of a large one",
        )
        self.features = Section(
            "Features and classifier",
            [self.preset, self.feature_grid, self.sigmas, self.method, self.balanced],
        )
        self.priors = LayerChecklist(
            self._image_choices,
            label="Prior maps",
            tooltip="Optional images on the same grid used as extra features as they are "
            "(e.g. an atlas probability map)",
            on_change=self._on_inputs,
        )
        self.n_estimators = SpinBox(
            label="Trees", value=50, min=1, max=1000, tooltip="Number of trees (forests, boosting)"
        )
        self.max_depth = SpinBox(
            label="Max depth",
            value=0,
            min=0,
            max=100,
            tooltip="Deepest split of a tree; 0 = no limit",
        )
        self.advanced = Section(
            "Advanced", [self.priors, self.n_estimators, self.max_depth], expanded=False
        )
        self.live = CheckBox(
            text="Live update",
            value=False,
            tooltip="Train again after each brush stroke and preview the shown slice",
        )
        self.train_controls = RunControls("Train")
        self.train_controls.run_button.tooltip = (
            "Train on the scribbles and preview the shown slice"
        )
        self.train_section = Section("Train and preview", [self.live, self.train_controls])
        self.importances = ImportanceTable(10)
        self.importance_section = Section(
            "Feature importances", [self.importances], expanded=False
        )
        self.probabilities = CheckBox(
            text="Probability layers",
            value=False,
            tooltip="Add one Image layer per class with its probability (0-1)",
        )
        self.uncertainty = CheckBox(
            text="Uncertainty layer",
            value=False,
            tooltip="Add the uncertainty of each voxel's class (0 certain, 1 undecided)",
        )
        self.controls = RunControls("Apply to volume")
        self.controls.run_button.tooltip = (
            "Classify every voxel into '<image> classifier' (one undo step: Ctrl+Z undoes)"
        )
        #: the dock's main status line (apply results; refusals of bad input)
        self.status = self.controls.status
        self.apply_section = Section(
            "Apply to volume", [self.probabilities, self.uncertainty, self.controls]
        )
        self.save_button = PushButton(text="Save…", tooltip="Save the classifier (.skops)")
        self.load_button = PushButton(text="Load…", tooltip="Load a saved classifier")
        buttons = Container(
            widgets=[self.save_button, self.load_button], layout="horizontal", labels=False
        )
        buttons.margins = (0, 0, 0, 0)
        self.trust = CheckBox(
            text="Trust this file",
            value=False,
            visible=False,
            tooltip="Load a file whose types are not on the safe list: only for files you "
            "made or trust, as loading may run code in it",
        )
        self.file_controls = RunControls(run_text="")
        self.file_controls.run_button.visible = False
        self.file_controls.cancel_button.visible = False
        self.file_section = Section(
            "Classifier file", [buttons, self.trust, self.file_controls], expanded=False
        )
        super().__init__(
            [
                self.inputs,
                self.features,
                self.advanced,
                self.train_section,
                self.importance_section,
                self.apply_section,
                self.file_section,
            ],
            on_close=self._on_close,
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(_DEBOUNCE_MS)
        self._timer.timeout.connect(self._live_train)
        self._step_timer = QTimer()
        self._step_timer.setSingleShot(True)
        self._step_timer.setInterval(_DEBOUNCE_MS)
        self._step_timer.timeout.connect(self.preview_slice)

        self._on_preset(self.preset.value)
        self.preset.changed.connect(self._on_preset)
        for box in self.feature_boxes.values():
            box.changed.connect(self._on_custom)
        self.sigmas.changed.connect(self._on_custom)
        for widget in (self.method, self.balanced, self.n_estimators, self.max_depth):
            widget.changed.connect(self._on_inputs)
        self.scribbles.changed.connect(self._watch)
        self.new_button.changed.connect(self.new_scribbles)
        self.add_class_button.changed.connect(self.add_class)
        self.train_controls.run_button.changed.connect(self.train)
        self.live.changed.connect(self._on_live)
        self.controls.run_button.changed.connect(self.apply)
        self.save_button.changed.connect(self._save_dialog)
        self.load_button.changed.connect(self._load_dialog)
        self.trust.changed.connect(self._on_trust)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            self.connections.connect(event, self._on_layers)
        self.connections.connect(viewer.dims.events.current_step, self._on_step)
        active = viewer.layers.selection.active
        ticked = [active] if active in self._image_layers() else self._image_layers()[:1]
        self.images.value = ticked
        self._watch(self.scribbles.value)

    @property
    def busy(self) -> bool:
        """True while a worker runs or a live retrain waits (the preview may still change)."""
        controls = (self.train_controls, self.controls, self.file_controls)
        timers = self._timer.isActive() or self._step_timer.isActive() or self._scheduled > 0
        return timers or self._pending or any(c.current for c in controls)

    def _later(self, callback, turns: int = 1) -> None:
        """Run ``callback`` ``turns`` turns later (:data:`_TURN_MS`); :attr:`busy` until then."""
        self._scheduled += 1

        def run() -> None:
            self._scheduled -= 1
            if self.connections.alive:
                callback()

        QTimer.singleShot(turns * _TURN_MS, run)

    # ---- layers --------------------------------------------------------------------------
    @staticmethod
    def _classifier_names() -> tuple[str, ...]:
        from ..core.classify.classifier import CLASSIFIERS

        return tuple(CLASSIFIERS)

    def _image_layers(self) -> list:
        return [layer for _, layer in self._image_choices()]

    def _image_choices(self, _widget=None):
        return layer_choices(
            self.viewer.layers,
            "image",
            where=lambda layer: not layer.multiscale and not is_output_of(layer, OWNER),
        )

    def _labels_choices(self, _widget=None):
        return layer_choices(
            self.viewer.layers,
            "labels",
            where=lambda layer: (
                not layer.multiscale
                and PREVIEW_KEY not in layer.metadata
                and not is_output_of(layer, OWNER)
            ),
        )

    def _on_layers(self, event=None) -> None:
        if not self.connections.alive:
            return
        self.images.reset_choices()
        self.priors.reset_choices()
        self.scribbles.reset_choices()
        if self.layer is not None and self.layer not in self.viewer.layers:
            self._watch(None)

    @property
    def image(self):
        """The first ticked image (names the outputs), or None."""
        images = self.images.value
        return images[0] if images else None

    def _layer_events(self, layer):
        e = layer.events
        return [
            (e.paint, self._on_painted),
            (e.data, self._on_painted),
            (e.features, self._fill_classes),
            (e.colormap, self._fill_classes),
            (e.selected_label, self._fill_classes),
        ]

    def _watch(self, layer=None) -> None:
        """Follow the scribbles layer ``layer``: its classes in the table, its strokes."""
        if self.layer is not None:
            for emitter, callback in self._layer_events(self.layer):
                with contextlib.suppress(TypeError, ValueError, RuntimeError):
                    emitter.disconnect(callback)
        self.layer = layer if isinstance(layer, Labels) else None
        if self.layer is not None:
            for emitter, callback in self._layer_events(self.layer):
                emitter.connect(callback)
        self._fill_classes()
        self._on_inputs()

    def _class_names(self) -> dict[int, str]:
        if self.layer is None:
            return {}
        names = segment_names(self.layer)
        names.pop(0, None)
        return names

    def _fill_classes(self, event=None) -> None:
        if not self.connections.alive or self.layer is None:
            self.classes.show_classes({}, None)
            return
        names = self._class_names()
        classes = {v: (n, segment_color(self.layer, v)) for v, n in names.items()}
        self.classes.show_classes(classes, int(self.layer.selected_label))

    def new_scribbles(self, _=None) -> Labels | None:
        """Add ``"<image> scribbles"`` on the first ticked image's grid, ready to paint."""
        image = self.image
        if image is None:
            self.status.refuse("Tick an image first: the scribbles go on its voxel grid.")
            return None
        layer = self.viewer.add_labels(
            np.zeros(image.data.shape, np.uint8),
            name=f"{image.name} scribbles",
            scale=image.scale,
            translate=image.translate,
            affine=image.affine,
            features=label_features(DEFAULT_CLASSES),
            colormap=label_colormap(DEFAULT_CLASSES),
            visible=False,
        )
        with_colors(layer, DEFAULT_CLASSES)
        self.scribbles.reset_choices()
        self.scribbles.value = layer
        # added hidden; the (empty, hidden) preview layer is added a turn later, the scribbles
        # shown the turn after and selected in paint mode after that: each napari layer update
        # (~60-120 ms on software OpenGL) is a short stall of its own, not one long one
        self._later(partial(self._add_preview_then_reveal, layer))
        self.status.say(
            "Paint a few strokes of each class (pick it in the table), then press Train."
        )
        return layer

    def _add_preview_then_reveal(self, layer: Labels) -> None:
        image = self.image
        if not self.connections.alive or layer not in self.viewer.layers:
            return
        preview = self.preview_layer
        if image is not None and (preview is None or preview.data.shape != image.data.shape):
            self._add_preview_layer(image, keep_active=False)  # the scribbles are selected next
        self._later(partial(self._reveal_scribbles, layer))

    def _reveal_scribbles(self, layer: Labels) -> None:
        if self.connections.alive and layer in self.viewer.layers:
            layer.visible = True
            self._later(partial(self._select_scribbles, layer))

    def _select_scribbles(self, layer: Labels) -> None:
        if self.connections.alive and layer in self.viewer.layers:
            self._paint_with(layer, 1)

    def _paint_with(self, layer: Labels, value: int) -> None:
        self.viewer.layers.selection.active = layer
        layer.selected_label = int(value)
        layer.brush_size = max(3, int(min(layer.data.shape[-2:]) / 60))
        layer.mode = "paint"

    def rename_class(self, value: int, name: str) -> None:
        """Name class ``value`` of the scribbles layer (shown on hover and in the outputs)."""
        if self.layer is not None:
            set_segment_name(self.layer, value, name)

    def select_class(self, value: int) -> None:
        """Pick class ``value`` for the brush."""
        if self.layer is not None and int(self.layer.selected_label) != int(value):
            self.layer.selected_label = int(value)

    def add_class(self, _=None) -> int | None:
        """Add a class to the scribbles layer and pick it for the brush; return its value."""
        if self.layer is None:
            self.status.refuse("Choose or create a scribbles layer first.")
            return None
        value = max(self._class_names(), default=0) + 1
        set_segment_name(self.layer, value, f"class {value}")
        with_colors(self.layer, [value])
        self._paint_with(self.layer, value)
        return value

    # ---- settings ------------------------------------------------------------------------
    def _on_preset(self, value) -> None:
        if value == CUSTOM:
            return
        preset = self._presets[value]
        for name, box in self.feature_boxes.items():
            with box.changed.blocked():
                box.value = name in preset.features
        with self.sigmas.changed.blocked():
            self.sigmas.value = ", ".join(f"{s:g}" for s in preset.sigmas_mm)
        self._on_inputs()

    def _on_custom(self, _=None) -> None:
        if self.preset.value != CUSTOM:
            with self.preset.changed.blocked():
                self.preset.value = CUSTOM
        self._on_inputs()

    def feature_set(self):
        """Return the features chosen in the dock (a ``FeatureSet``); ValueError with one line."""
        features = _features_module()
        chosen = tuple(name for name, box in self.feature_boxes.items() if box.value)
        if not chosen:
            raise ValueError("Tick at least one feature.")
        return features.FeatureSet(features=chosen, sigmas_mm=parse_sigmas(self.sigmas.value))

    def _options(self) -> dict:
        """Return the classifier's options (``train_voxel_classifier`` keywords, no inputs)."""
        return {
            "classifier": self.method.value,
            "class_weight": "balanced" if self.balanced.value else None,
            "n_estimators": int(self.n_estimators.value),
            "max_depth": int(self.max_depth.value) or None,
        }

    def _on_inputs(self, _=None) -> None:
        """Mark the preview and any running preview stale: an input or a setting changed."""
        if not getattr(self, "connections", None) or not self.connections.alive:
            return
        self._generation += 1
        self._clear_preview()
        if self.classifier is not None:
            self.classifier_stale = True
        if self.live.value:
            self._timer.start()

    # ---- inputs --------------------------------------------------------------------------
    def _gather(self, status, *, scribbles: bool = True) -> dict | None:
        """Arrays of the chosen layers on one grid, or None after saying why (one line)."""
        images = self.images.value
        if not images:
            status.refuse("Tick at least one image layer.")
            return None
        arrays, geometries = zip(*(layer_to_array(layer) for layer in images), strict=True)
        first, shape = geometries[0], arrays[0].shape
        layers = [*images, *self.priors.value]
        if scribbles:
            if self.layer is None:
                status.refuse(
                    "Choose a scribbles layer, or press 'New scribbles layer' and paint."
                )
                return None
            layers.append(self.layer)
        for layer in layers[1:]:
            data, geometry = layer_to_array(layer)
            diffs = grid_differences(first, geometry, shape, data.shape)
            if diffs:
                status.refuse(
                    f"'{layer.name}' is not on the grid of '{images[0].name}' "
                    f"({'; '.join(diffs)}); choose layers on one voxel grid."
                )
                return None
        priors = [np.asarray(layer.data) for layer in self.priors.value] or None
        gathered = {
            "images": list(arrays) if len(arrays) > 1 else arrays[0],
            "spacing": tuple(float(s) for s in first.spacing),
            "priors": priors,
            "shape": shape,
        }
        if scribbles:
            gathered["scribbles"] = np.array(self.layer.data, copy=True)
        return gathered

    def _scribble_problem(self, values: list[int]) -> str:
        if not values:
            return "No scribbles yet: paint a few strokes of each class, then train."
        if len(values) == 1:
            name = self._class_names().get(values[0], f"label {values[0]}")
            return (
                f"Only one class ('{name}') is scribbled: paint at least one other class "
                "(e.g. background)."
            )
        return ""

    def _slice_index(self, shape) -> tuple[int, ...]:
        image = self.image
        if image is None or len(shape) < 3:
            return ()
        return current_slice_index(self.viewer, image)[:1]

    def _preview_args(self, gathered, feature_set) -> tuple[tuple, dict]:
        args = {
            "spacing": gathered["spacing"],
            "feature_set": feature_set,
            "priors": gathered["priors"],
            "axis": 0,
        }
        key = (
            tuple(id(layer.data) for layer in self.images.value),
            tuple(id(layer.data) for layer in self.priors.value),
            gathered["spacing"],
            feature_set,
        )
        return key, args

    def _cached_preview(self, key):
        if self._preview_cache is not None and self._preview_cache[0] == key:
            return self._preview_cache[1]
        return None

    # ---- training ------------------------------------------------------------------------
    def train(self, _=None, *, live: bool = False):
        """Train on the scribbles in a worker, then preview the shown slice (returns it)."""
        if self.train_controls.current is not None:
            if not live:
                return None
            self._pending = True
            self.train_controls.current.quit()  # a newer stroke supersedes it
            return None
        gathered = self._gather(self.train_controls.status)
        if gathered is None:
            return None
        values = _scribbled_values(gathered["scribbles"])
        problem = self._scribble_problem(values)
        if problem:
            self.train_controls.status.refuse(problem)
            return None
        try:
            feature_set = self.feature_set()
        except ValueError as exc:
            self.train_controls.status.refuse(str(exc))
            return None
        names = self._class_names()
        options = self._options()
        options["class_names"] = [names.get(v, f"label {v}") for v in values]
        key, preview_args = self._preview_args(gathered, feature_set)
        index = self._slice_index(gathered["shape"])
        worker = run_generator(
            self.train_controls,
            _iter_train,
            gathered["images"],
            gathered["scribbles"],
            options=options,
            preview=self._cached_preview(key),
            preview_args=preview_args,
            index=index,
            on_returned=partial(self._trained, self._generation, key),
            title="Train voxel classifier",
            quiet=True,  # seconds at most, with the dock's own bar: napari's costs ~100 ms a step
        )
        self.train_controls.status.say("training…")
        worker.finished.connect(self._after_train)
        return worker

    def _trained(self, generation: int, key, result: _Trained) -> None:
        if not self.connections.alive:
            return
        self._preview_cache = (key, result.preview)
        self.classifier = result.classifier
        self.classifier_stale = generation != self._generation
        self.last_train = result
        self.importances.show_importances(result.importances)
        if not self.importance_section.expanded:
            self.importance_section.collapsible.expand(animate=False)
        classes = len(result.classifier.class_values)
        self.train_controls.status.say(
            f"Trained on {result.samples} scribbled voxels, {classes} classes, in "
            f"{result.train_s:.2f} s; slice preview {result.preview_s:.2f} s."
        )
        if generation == self._generation:  # next turn: one napari layer update per turn
            self._later(partial(self._show_preview, generation, result.labels, result.index))

    def _after_train(self) -> None:
        if self._pending and self.connections.alive:
            self._pending = False
            self._later(self._live_train)

    def _on_painted(self, event=None) -> None:
        if not self.connections.alive:
            return
        self._generation += 1
        if self.live.value:
            self._timer.start()  # restarting it debounces a burst of strokes
        else:
            self._clear_preview()

    def _on_live(self, on: bool) -> None:
        if on:
            self._timer.start()

    def _live_train(self) -> None:
        if self.connections.alive and self.live.value:
            self.train(live=True)

    # ---- preview -------------------------------------------------------------------------
    @property
    def preview_layer(self) -> Labels | None:
        """The dock's preview Labels layer, or None."""
        return next(
            (
                layer
                for layer in self.viewer.layers
                if isinstance(layer, Labels) and PREVIEW_KEY in layer.metadata
            ),
            None,
        )

    def _result_style(self, names: dict[int, str]) -> dict:
        """Labels keywords of a result: the scribbles' colours, hover names, see-through background.

        A class named "background" is drawn transparent (its voxels keep their value and name),
        so the result shows the structures over the image, as in Slicer and ITK-SNAP.
        """
        colors: dict[Any, Any] = dict(label_colormap(names))
        if self.layer is not None:  # the scribbles' colours, so a class looks the same
            colors.update({v: segment_color(self.layer, v)[:3] for v in names})
        for value, name in names.items():
            if name.strip().lower() == BACKGROUND:
                colors[value] = (0.0, 0.0, 0.0, 0.0)
        return {"features": label_features(names), "colormap": colors}

    def _preview_style(self) -> dict:
        return self._result_style(self._class_names())

    def _add_preview_layer(self, image, *, keep_active: bool = True) -> Labels:
        """Add the empty, hidden preview layer under the scribbles (replacing an old one)."""
        layer = self.preview_layer
        if layer is not None:
            self.viewer.layers.remove(layer)
        self._preview_index = None
        active = self.viewer.layers.selection.active
        layer = self.viewer.add_labels(
            np.zeros(image.data.shape, np.uint8),
            name=f"{image.name} classifier preview",
            scale=image.scale,
            translate=image.translate,
            affine=image.affine,
            opacity=_PREVIEW_OPACITY,
            metadata={PREVIEW_KEY: True},
            visible=False,
            **self._preview_style(),
        )
        if self.layer is not None and self.layer in self.viewer.layers:  # under the strokes
            below = self.viewer.layers.index(self.layer)
            self.viewer.layers.move(self.viewer.layers.index(layer), below)
        if keep_active and active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active
        return layer

    def _show_preview(self, generation: int, labels: np.ndarray, index: tuple[int, ...]) -> None:
        """Show the predicted slice ``index`` (the only non-empty part of the preview layer).

        A new preview layer is added hidden in this turn and filled and shown in the next, so
        adding it and napari's first draw of it fall into two short stalls, not one long one.
        """
        image = self.image
        if image is None or not self.connections.alive or generation != self._generation:
            return
        layer = self.preview_layer
        if layer is None or layer.data.shape != tuple(image.data.shape):
            self._add_preview_layer(image)
            self._later(partial(self._fill_preview, generation, labels, index))
            return
        self._fill_preview(generation, labels, index)

    def _fill_preview(self, generation: int, labels: np.ndarray, index: tuple[int, ...]) -> None:
        layer = self.preview_layer
        if not self.connections.alive or layer is None or generation != self._generation:
            return
        data = layer.data
        if self._preview_index is not None and self._preview_index != index:
            data[self._preview_index] = 0
        data[index] = np.asarray(labels, data.dtype)
        self._preview_index = index
        style = self._preview_style()
        shown = {k: list(layer.features.get(k, ())) for k in ("index", "name")}
        if shown != style["features"]:
            layer.features = style["features"]  # a class was added or renamed
            layer.colormap = style["colormap"]
        if layer.visible:
            layer.refresh()
        else:
            layer.visible = True

    def _clear_preview(self) -> None:
        """Empty the preview: it never shows a result of other inputs than the dock's."""
        layer = self.preview_layer
        if layer is None or self._preview_index is None:
            return
        layer.data[self._preview_index] = 0
        shown = not self._preview_index or self._slice_index(layer.data.shape) == (
            self._preview_index
        )
        self._preview_index = None
        if shown:  # a slice not shown needs no redraw
            layer.refresh()

    def preview_slice(self, _=None):
        """Predict the shown slice with the current classifier in a worker (returns it)."""
        if not self.connections.alive or self.classifier is None or self.classifier_stale:
            return None
        if self.train_controls.current is not None:
            return None
        gathered = self._gather(self.train_controls.status, scribbles=False)
        if gathered is None:
            return None
        key, args = self._preview_args(gathered, self.classifier.feature_set)
        index = self._slice_index(gathered["shape"])
        if not index:  # a 2-D preview is the whole image: nothing to follow
            return None
        worker = run_generator(
            self.train_controls,
            _iter_preview,
            self.classifier,
            gathered["images"],
            preview=self._cached_preview(key),
            preview_args=args,
            index=index,
            on_returned=partial(self._previewed, self._generation, key),
            title="Classifier preview",
            quiet=True,
        )
        return worker

    def _previewed(self, generation: int, key, result) -> None:
        preview, labels, index, _seconds = result
        if not self.connections.alive:
            return
        self._preview_cache = (key, preview)
        self._show_preview(generation, labels, index)

    def _on_step(self, event=None) -> None:
        """Another slice is shown: preview it (live), else clear the old slice's preview."""
        if not self.connections.alive or self._preview_index is None:
            return
        image = self.image
        if image is None or image.ndim < 3:
            return
        if self._slice_index(image.data.shape) == self._preview_index:
            return
        self._clear_preview()
        if self.live.value:  # after napari's own redraw, and once while scrolling
            self._step_timer.start()

    # ---- apply ---------------------------------------------------------------------------
    def apply(self, _=None):
        """Classify the whole volume in a worker into ``"<image> classifier"`` (returns it)."""
        if self.controls.current is not None:
            return None
        if self.classifier is None:
            self.status.refuse("Train or load a classifier first.")
            return None
        gathered = self._gather(self.status, scribbles=False)
        if gathered is None:
            return None
        n_images = 1 if isinstance(gathered["images"], np.ndarray) else len(gathered["images"])
        expected = getattr(self.classifier, "n_channels", n_images)
        if expected != n_images:
            self.status.refuse(
                f"The classifier was trained on {expected} image(s); tick {expected} "
                f"(ticked: {n_images})."
            )
            return None
        worker = run_generator(
            self.controls,
            _iter_apply,
            self.classifier,
            gathered["images"],
            priors=gathered["priors"],
            probabilities=bool(self.probabilities.value),
            uncertainty=bool(self.uncertainty.value),
            on_returned=partial(self._write_result, self.image, gathered["spacing"]),
            title="Apply voxel classifier",
        )
        self.worker = worker
        return worker

    def _output_names(self) -> dict[int, str]:
        classifier = self.classifier
        names = dict(zip(classifier.class_values, classifier.class_names, strict=True))
        return {int(v): str(n) for v, n in names.items()}

    def _write_result(self, image, spacing, result: _Applied) -> None:
        if not self.connections.alive or image not in self.viewer.layers:
            return
        if self.worker is not None and self.worker.abort_requested:
            return
        names = self._output_names()
        _, changed = write_owned(
            self.viewer,
            f"{image.name} classifier",
            result.labels,
            source=image,
            owner=OWNER,
            kind="labels",
            **self._result_style(names),
        )
        extra = [
            (f"{image.name} classifier P({names.get(v, v)})", p, "inferno")
            for v, p in result.probabilities
        ]
        if result.uncertainty is not None:
            extra.append((f"{image.name} classifier uncertainty", result.uncertainty, "magma"))
        for k, (name, data, cmap) in enumerate(extra, start=1):  # one new layer per turn
            self._later(partial(self._write_map, image, name, data, cmap), k)
        volumes = ", ".join(
            f"{names.get(v, v)} {_area_or_volume(n, spacing)}" for v, n in result.counts.items()
        )
        stale = " (settings changed since training)" if self.classifier_stale else ""
        if extra:
            volumes += f"; {len(extra)} map layer{'s' if len(extra) > 1 else ''} added hidden"
        self.status.say(
            f"Classified in {result.seconds:.2f} s{stale}: {volumes}; {changed_message(changed)}"
        )

    def _write_map(self, image, name, data, colormap) -> None:
        if not self.connections.alive or image not in self.viewer.layers:
            return
        # added hidden: several additive maps at once wash the image out; the user picks one.
        # A map shown since keeps being shown when applied again
        new = not is_output_of(find_layer(self.viewer, name), OWNER)
        write_owned(
            self.viewer,
            name,
            data,
            source=image,
            owner=OWNER,
            kind="image",
            colormap=colormap,
            contrast_limits=(0.0, 1.0),
            blending="additive",
            **({"visible": False} if new else {}),
        )

    # ---- files ---------------------------------------------------------------------------
    def save_classifier(self, path):
        """Save the classifier to ``path`` in a worker (returns it, or None after a refusal)."""
        if self.classifier is None:
            self.file_controls.status.refuse("Nothing to save: train or load a classifier.")
            return None
        return run_generator(
            self.file_controls,
            _iter_call,
            self.classifier.save,
            path,
            message="saving",
            on_returned=self._saved,
            title="Save classifier",
        )

    def _saved(self, written) -> None:
        if self.connections.alive:
            self.file_controls.status.say(f"Saved {written}")

    def load_classifier(self, path, trusted: bool = False):
        """Load a classifier from ``path`` in a worker (returns it).

        A file with types off the safe list is refused unless ``trusted``; the dock then shows
        "Trust this file" for the user to tick.
        """
        if self.file_controls.current is not None:
            return None
        return run_generator(
            self.file_controls,
            _iter_call,
            _load,
            str(path),
            trusted=bool(trusted),
            message="loading",
            on_returned=partial(self._loaded, str(path)),
            title="Load classifier",
        )

    def _loaded(self, path: str, result) -> None:
        if not self.connections.alive:
            return
        classifier, problem = result
        if classifier is None:
            self._trust_path = path
            offer = UNTRUSTED in problem and not self.trust.value
            self.trust.visible = offer
            if offer:
                types = problem.split(UNTRUSTED, 1)[1].split(";", 1)[0].strip(" :")
                problem = (
                    f"{Path(path).name} holds types outside the safe list ({types}): loading it "
                    "could run code. Tick 'Trust this file' only if you trust its author."
                )
            self.file_controls.status.refuse(f"Not loaded: {problem}")
            return
        self.trust.visible = False
        self._trust_path = None
        self.classifier = classifier
        self.classifier_stale = False
        self._generation += 1
        self._clear_preview()
        self._show_settings(classifier)
        with contextlib.suppress(*USER_ERRORS, AttributeError):
            self.importances.show_importances(classifier.feature_importances)
        names = ", ".join(str(n) for n in classifier.class_names)
        self.file_controls.status.say(f"Loaded {Path(path).name}: classes {names}.")

    def _show_settings(self, classifier) -> None:
        """Show the loaded classifier's features and method (without marking it stale)."""
        feature_set = classifier.feature_set
        for widget in (self.preset, self.sigmas, self.method, *self.feature_boxes.values()):
            widget.changed.disconnect()
        match = [k for k, v in self._presets.items() if v == feature_set]
        self.preset.value = match[0] if match else CUSTOM
        for name, box in self.feature_boxes.items():
            box.value = name in feature_set.features
        self.sigmas.value = ", ".join(f"{s:g}" for s in feature_set.sigmas_mm)
        if classifier.classifier in self.method.choices:
            self.method.value = classifier.classifier
        self.preset.changed.connect(self._on_preset)
        for box in self.feature_boxes.values():
            box.changed.connect(self._on_custom)
        self.sigmas.changed.connect(self._on_custom)
        self.method.changed.connect(self._on_inputs)

    def _on_trust(self, on: bool) -> None:
        if on and self._trust_path is not None:
            self.load_classifier(self._trust_path, trusted=True)

    def _save_dialog(self, _=None) -> None:
        if self.classifier is None:
            self.file_controls.status.refuse("Nothing to save: train or load a classifier.")
            return
        name = f"{self.image.name if self.image else 'voxel'} classifier.skops"
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save classifier", name, "Classifier (*.skops)"
        )
        if path:
            self.save_classifier(path)

    def _load_dialog(self, _=None) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.native, "Load classifier", "", "Classifier (*.skops);;All files (*)"
        )
        if path:
            self.load_classifier(path)

    # ---- lifetime ------------------------------------------------------------------------
    def _on_close(self) -> None:
        self._timer.stop()
        self._step_timer.stop()
        self._watch_off()
        for controls in (self.train_controls, self.controls, self.file_controls):
            if controls.current is not None:
                controls.current.quit()
        layer = self.preview_layer
        if layer is not None and self._preview_index is None:  # empty: nothing to keep
            with contextlib.suppress(ValueError, KeyError):
                self.viewer.layers.remove(layer)

    def _watch_off(self) -> None:
        if self.layer is not None:
            for emitter, callback in self._layer_events(self.layer):
                with contextlib.suppress(TypeError, ValueError, RuntimeError):
                    emitter.disconnect(callback)
        self.layer = None
