"""The "Atlas propagation" dock widget: register atlases onto a target image and fuse labels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FileEdit,
    FloatSpinBox,
    PushButton,
    Select,
    SpinBox,
)
from napari.utils.notifications import show_warning

from .._layer_style import feature_names, labels_style
from ..core.geometry import grid_differences, layer_geometry
from ..core.registration import PRESETS, RegistrationSettings
from ._common import USER_ERRORS, Section, layer_choices
from ._dock import ScrollDock
from ._history import changed_message
from ._layers import write_owned
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

    from ..core.atlas import Atlas

#: the name this dock's output layers carry in ``metadata`` (see ``_layers.write_owned``)
OWNER = "Atlas propagation"
_SOURCES = [("Layer pairs", "layers"), ("Atlas folder", "folder")]
_METRICS = [
    ("Mattes mutual information", "mattes"),
    ("Mean squares", "mean_squares"),
    ("Correlation", "correlation"),
]
_TRANSFORMS = [
    ("Rigid", "rigid"),
    ("Affine (rigid, then affine)", "affine"),
    ("Deformable (affine, then demons)", "deformable"),
]
_FUSIONS = [
    ("Majority vote", "majority"),
    ("STAPLE", "staple"),
    ("Locally weighted vote (NCC)", "weighted"),
]


class AtlasWidget(ScrollDock):
    """Propagate atlas labels onto a target image (single atlas or multi-atlas with fusion)."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.worker = None
        self._pairs: dict[str, tuple] = {}
        self.target = ComboBox(
            label="Target image",
            choices=self._images,
            tooltip="Image layer the atlas labels are propagated onto",
        )
        self.target_mask = ComboBox(
            label="Target mask",
            choices=self._labels,
            nullable=True,
            value=None,
            tooltip="Optional Labels layer on the target's grid (e.g. its brain): registration "
            "compares only the voxels inside it, and labels outside it become background",
        )
        self.source = ComboBox(
            label="Atlases from",
            choices=_SOURCES,
            value="layers",
            tooltip="Atlas (image, labels) pairs open as layers, or a folder "
            "of '<name>_image.nii.gz' + '<name>_labels.nii.gz' files",
        )
        self.atlas_image = ComboBox(
            label="Atlas image", choices=self._images, tooltip="Intensity image of an atlas"
        )
        self.atlas_labels = ComboBox(
            label="Atlas labels", choices=self._labels, tooltip="Labels on the atlas image's grid"
        )
        self.atlas_mask = ComboBox(
            label="Atlas mask",
            choices=self._labels,
            nullable=True,
            value=None,
            tooltip="Optional Labels layer on the atlas image's grid (e.g. the atlas brain): "
            "registration compares only the voxels inside it; added with the pair",
        )
        self.add_pair = PushButton(
            text="Add atlas pair", tooltip="Add the image/labels pair above to the atlas list"
        )
        self.pairs = Select(
            label="Atlases",
            choices=self._pair_choices,
            tooltip="Atlas pairs used (all selected); empty: the pair above",
        )
        self.folder = FileEdit(
            label="Atlas folder",
            mode="d",
            tooltip="Folder with '<name>_image.*' + '<name>_labels.*' files",
        )
        self.preset = ComboBox(
            label="Preset",
            choices=list(PRESETS),
            value="cross modality",
            tooltip="same modality, fast: rigid+affine, mean squares; "
            "cross modality: rigid+affine, mutual information; deformable: "
            "adds diffeomorphic demons (same contrast)",
        )
        self.fusion = ComboBox(
            label="Fusion",
            choices=_FUSIONS,
            value="majority",
            tooltip="How several atlases' labels are combined",
        )
        self.transform = ComboBox(
            label="Transform", choices=_TRANSFORMS, tooltip="Most flexible registration stage"
        )
        self.metric = ComboBox(
            label="Metric",
            choices=_METRICS,
            tooltip="Mutual information for different contrasts; mean squares "
            "or correlation for the same contrast",
        )
        self.sampling = FloatSpinBox(
            label="Sampling (fraction)",
            min=0.01,
            max=1.0,
            step=0.05,
            tooltip="Fraction of target voxels the metric samples",
        )
        self.iterations = SpinBox(
            label="Iterations per level",
            min=1,
            max=1000,
            tooltip="Rigid and affine stages: iteration limit per level",
        )
        self.deformable_iterations = SpinBox(
            label="Deformable iterations",
            min=1,
            max=1000,
            tooltip="Iteration limit per pyramid level",
        )
        self.demons_smoothing_mm = FloatSpinBox(
            label="Field smoothing (mm)",
            min=0.1,
            max=50.0,
            step=0.5,
            tooltip="Demons regularisation sigma",
        )
        self.top_k = SpinBox(
            label="Fuse best k (0 = all)",
            value=0,
            min=0,
            max=100,
            tooltip="Fuse only the k atlases most similar to the target",
        )
        self.n_jobs = SpinBox(
            label="Worker processes",
            value=1,
            min=1,
            max=64,
            tooltip="Register atlases in parallel processes (1: one by one, "
            "each using every core)",
        )
        self.displacement = CheckBox(
            label="Displacement magnitude",
            value=False,
            tooltip="Also show how far each voxel moved (mm)",
        )
        self.advanced = Section(
            "Advanced",
            [
                self.transform,
                self.metric,
                self.sampling,
                self.iterations,
                self.deformable_iterations,
                self.demons_smoothing_mm,
                self.top_k,
                self.n_jobs,
                self.displacement,
            ],
            expanded=False,
        )
        self.controls = RunControls("Propagate")
        #: the dock's status line (the shared one of the run controls)
        self.status = self.controls.status
        self.inputs = Section(
            "Target and atlases",
            [
                self.target,
                self.target_mask,
                self.source,
                self.atlas_image,
                self.atlas_labels,
                self.atlas_mask,
                self.add_pair,
                self.pairs,
                self.folder,
            ],
        )
        self.method = Section("Registration and fusion", [self.preset, self.fusion])
        super().__init__([self.inputs, self.method, self.advanced, self.controls])
        self.source.changed.connect(self._on_source)
        self.preset.changed.connect(self._on_preset)
        self.add_pair.changed.connect(self._on_add_pair)
        self.controls.run_button.changed.connect(self.run)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            self.connections.connect(event, self.reset_choices)
        self._on_source()
        self._on_preset()

    # ------------------------------------------------------------------ inputs
    def _images(self, _widget=None):
        return layer_choices(self.viewer.layers, "image", ndim=(3,))

    def _labels(self, _widget=None):
        return layer_choices(self.viewer.layers, "labels", ndim=(3,))

    def _pair_choices(self, _widget=None):
        alive = {id(ly) for ly in self.viewer.layers}
        self._pairs = {
            k: v for k, v in self._pairs.items() if {id(ly) for ly in v if ly is not None} <= alive
        }
        return list(self._pairs)

    def _on_add_pair(self, *_):
        image, labels = self.atlas_image.value, self.atlas_labels.value
        if image is None or labels is None:
            self.controls.status.refuse("Pick an atlas image and its labels first")
            return
        mask = self.atlas_mask.value
        key = f"{image.name} + {labels.name}" + (f" (mask {mask.name})" if mask else "")
        self._pairs[key] = (image, labels, mask)
        self.pairs.reset_choices()
        self.pairs.value = [*self.pairs.value, key]

    def _on_source(self, *_):
        layers = self.source.value == "layers"
        for widget in (
            self.atlas_image,
            self.atlas_labels,
            self.atlas_mask,
            self.add_pair,
            self.pairs,
        ):
            widget.visible = layers
        self.folder.visible = not layers

    def _on_preset(self, *_):
        s = PRESETS[self.preset.value]
        self.transform.value, self.metric.value = s.transform, s.metric
        self.sampling.value, self.iterations.value = s.sampling, s.iterations
        self.deformable_iterations.value = s.deformable_iterations
        self.demons_smoothing_mm.value = s.demons_smoothing_mm

    def settings(self) -> RegistrationSettings:
        """Return the registration settings: the preset with the advanced fields applied."""
        return replace(
            PRESETS[self.preset.value],
            transform=self.transform.value,
            metric=self.metric.value,
            sampling=self.sampling.value,
            iterations=self.iterations.value,
            deformable_iterations=self.deformable_iterations.value,
            demons_smoothing_mm=self.demons_smoothing_mm.value,
        )

    def _atlases(self) -> list[Atlas] | Path:
        """Return the atlases of the selected pairs (or of the pair in the pickers), or a folder."""
        from ..core.atlas import Atlas

        if self.source.value == "folder":
            folder = Path(self.folder.value)
            if not folder.is_dir():
                raise ValueError(f"atlas folder {str(folder)!r} does not exist")
            from ..core.atlas import _find_pairs

            _find_pairs(folder)  # names only: a folder without pairs is refused at once
            return folder
        pairs = [self._pairs[k] for k in self.pairs.value if k in self._pairs]
        if (
            not pairs
            and self.atlas_image.value is not None
            and self.atlas_labels.value is not None
        ):
            pairs = [(self.atlas_image.value, self.atlas_labels.value, self.atlas_mask.value)]
        if not pairs:
            raise ValueError("add at least one atlas (image + labels layer pair)")
        return [
            Atlas(
                np.asarray(image.data),
                np.asarray(labels.data),
                layer_geometry(image),
                mask=_mask_of(mask, image, "atlas mask"),
            )
            for image, labels, mask in pairs
        ]

    def _label_names(self) -> dict[int, str]:
        """Names the atlas labels layers give their values (napari ``features``), if any."""
        layers = [self._pairs[k][1] for k in self.pairs.value if k in self._pairs]
        if self.atlas_labels.value is not None:
            layers.append(self.atlas_labels.value)
        names: dict[int, str] = {}
        for layer in layers:
            for value, name in feature_names(layer.features).items():
                names.setdefault(value, name)
        return names

    # ------------------------------------------------------------------ run
    def run(self, *_: object) -> None:
        """Start the propagation in a worker; results land in this widget's output layers.

        An atlas folder is read in the worker too (a large or corrupt file never blocks the
        GUI); a file that cannot be read is reported in one line naming it.
        """
        target = self.target.value
        try:
            if target is None:
                raise ValueError("pick a target image layer")
            target_mask = _mask_of(self.target_mask.value, target, "target mask")
            atlases = self._atlases()
        except USER_ERRORS as exc:
            self.controls.status.refuse(str(exc))
            return
        self.worker = run_generator(
            self.controls,
            _read_and_propagate,
            np.asarray(target.data),
            atlases,
            geometry=layer_geometry(target),
            settings=self.settings(),
            fusion=self.fusion.value,
            top_k=self.top_k.value or None,
            n_jobs=self.n_jobs.value,
            displacement=self.displacement.value,
            target_mask=target_mask,
            title="Atlas propagation",
            on_returned=lambda result: self._show(target, result),
        )
        what = "the atlas folder" if isinstance(atlases, Path) else f"{len(atlases)} atlas(es)"
        self.controls.status.say(f"registering {what}...")

    def _show(self, target, result):
        if not self.connections.alive or target not in self.viewer.layers:
            return
        if self.worker is not None and self.worker.abort_requested:
            return  # Cancel came while the last step ran: no layer is made
        name = target.name
        known = self._label_names()
        names = {int(k): known.get(int(k), f"label {k}") for k in result.probabilities if int(k)}
        _, changed = write_owned(
            self.viewer,
            f"{name} atlas labels",
            result.labels,
            source=target,
            owner=OWNER,
            **labels_style(names),
        )
        for i, warped in enumerate(result.warped_images):
            write_owned(
                self.viewer,
                f"{name} warped atlas {i + 1}",
                warped,
                source=target,
                owner=OWNER,
                kind="image",
                colormap="gray",
                blending="additive",
                visible=False,
            )
        for label, prob in result.probabilities.items():
            write_owned(
                self.viewer,
                f"{name} probability {label}",
                prob,
                source=target,
                owner=OWNER,
                kind="image",
                colormap="magma",
                contrast_limits=(0.0, 1.0),
                visible=False,
            )
        for i, disp in enumerate(result.displacement_mm):
            if disp is not None:
                write_owned(
                    self.viewer,
                    f"{name} displacement {i + 1} (mm)",
                    disp,
                    source=target,
                    owner=OWNER,
                    kind="image",
                    colormap="viridis",
                    visible=False,
                )
        similarity = ", ".join(f"{s:.2f}" for s in result.similarity)
        self.controls.status.say(
            f"fused {len(result.selected)} atlas(es) by {self.fusion.value}; "
            f"correlation with target: {similarity}; labels: {changed_message(changed)}"
        )
        for message in result.warnings:
            show_warning(message)
        if result.warnings:  # divergence and plausibility doubts, one line each
            self.controls.status.refuse("\n".join(result.warnings))


def _mask_of(mask, image, what: str) -> np.ndarray | None:
    """Return a mask layer as bool on ``image``'s grid; refuse one on another grid."""
    if mask is None:
        return None
    diffs = grid_differences(
        layer_geometry(image), layer_geometry(mask), image.data.shape, mask.data.shape
    )
    if diffs:
        raise ValueError(
            f"{what} '{mask.name}' is not on the grid of '{image.name}' ({'; '.join(diffs)}); "
            "choose a mask made on that image, or resample it first"
        )
    return np.asarray(mask.data) != 0


def _read_and_propagate(target, atlases, *, top_k, **options):
    """Worker side: read an atlas folder (one-line errors naming the file), then propagate."""
    from ..core._types import Progress
    from ..core.atlas import iter_propagate_atlases, read_atlas_folder

    if isinstance(atlases, Path):
        yield Progress(0, 1, f"reading atlas folder {atlases.name}")
        atlases = read_atlas_folder(atlases)
    top_k = min(top_k, len(atlases)) if top_k else None
    return (yield from iter_propagate_atlases(target, atlases, top_k=top_k, **options))
