"""The "Segments" dock: the segments of a Labels layer, their statistics, edit effects and files.

A 3D Slicer Segment Editor / ITK-SNAP user finds the segment list (rename, recolour, show/hide,
lock), the effects (islands, margin, smoothing, logical operators, hollow, fill), the masking
("Editable area"), statistics and the exports. Everything about a segment lives with the layer
(see :mod:`._segment_layer`), every edit is one napari undo step (Ctrl+Z), and the computation
runs in ``core.segments`` in a worker thread, imported there on first use.

"Keep island under cursor" keeps the island of the selected segment that holds the voxel under
the mouse pointer: point at the island on the canvas, then press Apply.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, PushButton
from napari.layers import Labels
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog

from ..core._types import Progress
from ._common import Section, layer_choices
from ._dock import ScrollDock
from ._history import changed_message, write_labels
from ._layers import layer_to_array
from ._segment_effects import ALL_SEGMENTS, CREATES, EFFECTS, EffectsSection, iter_effect
from ._segment_files import (
    FilesSection,
    is_dicom,
    iter_call,
    source_choices,
    source_grid_of,
    source_path,
    write_source_grid,
)
from ._segment_layer import (
    locked_segments,
    segment_color,
    segment_infos,
    segment_name,
    segment_names,
    set_locked,
    set_segment_color,
    set_segment_name,
    set_visible,
    with_colors,
)
from ._segment_table import SegmentRow, SegmentTable, StatisticsTable, boxed
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

#: wait after the last brush stroke before counting again (ms)
_DEBOUNCE_MS = 300
#: what the count line says while the numbers are being brought up to date
UPDATING = "updating…"


def _fingerprint(labels: np.ndarray) -> int:
    """CRC-32 of the voxels: tells a real change from a mere redraw (napari's undo only redraws).

    ~10 ms for MNI152's 8.7 M voxels, in the worker (zlib releases the GIL).
    """
    return zlib.crc32(np.ascontiguousarray(labels).view(np.uint8))


def iter_summary(labels: np.ndarray, *, spacing, previous: int | None):
    """Count the segments in a worker; ``None`` when the voxels are those of ``previous``."""
    from ..core.segments.statistics import segment_summary

    yield Progress(0, 1, "counting segments")
    crc = _fingerprint(labels)
    if crc == previous:
        return None
    start = time.perf_counter()
    summary = segment_summary(labels, spacing=spacing)
    return crc, summary, time.perf_counter() - start


def _statistics(labels, *, geometry, image):
    from ..core.segments.statistics import segment_statistics

    return segment_statistics(labels, geometry=geometry, image=image)


def _meshes(folder, labels, **kwargs):
    from ..core.segments.mesh import export_meshes

    return export_meshes(folder, labels, **kwargs)


def _dicom_seg(path, labels, **kwargs):
    from ..core.segments.dicom_seg import write_dicom_seg

    return write_dicom_seg(path, labels, **kwargs)


def grid_problem(image, labels) -> str:
    """Why ``image`` cannot be paired voxel by voxel with ``labels`` ('' when it can)."""
    if image.data.shape != labels.data.shape:
        return (
            f"image '{image.name}' has shape {tuple(image.data.shape)} but '{labels.name}' has "
            f"{tuple(labels.data.shape)}; choose an image on the same grid"
        )
    a, b = layer_to_array(image)[1], layer_to_array(labels)[1]
    if not (
        np.allclose(a.spacing, b.spacing)
        and np.allclose(a.origin, b.origin)
        and np.allclose(a.direction, b.direction)
    ):
        return (
            f"image '{image.name}' (spacing {tuple(np.round(a.spacing, 3))} mm) and "
            f"'{labels.name}' (spacing {tuple(np.round(b.spacing, 3))} mm) are not on the same "
            "grid; choose an image on the same grid"
        )
    return ""


class SegmentsWidget(ScrollDock):
    """Segments of a Labels layer: list, statistics, effects (undoable) and exports."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        #: the Labels layer shown (its events are watched)
        self.layer: Labels | None = None
        #: the last count: tuple of ``SegmentSummary`` of :attr:`layer`, or None
        self.summary: tuple | None = None
        #: True from an edit of the layer until its new counts are shown
        self.stale = True
        #: seconds the last ``segment_summary`` took (in the worker)
        self.summary_seconds: float | None = None
        #: the last ``SegmentStatistics`` and whether the segments changed since
        self.statistics = None
        self.statistics_stale = False
        self.worker = None
        self._crc: int | None = None
        self._recount = False  # a count was asked for while one ran
        self._force = False  # the next count may not be skipped (the layer was edited)
        self._effect: tuple | None = None

        self.labels_layer = ComboBox(
            label="Labels",
            choices=self._labels_choices,
            nullable=True,
            tooltip="Labels layer whose segments are listed (follows the selected layer)",
        )
        self.table = SegmentTable(
            on_rename=self.rename,
            on_color=self.set_color,
            on_visible=self.set_visible,
            on_locked=self.set_locked,
            on_select=self.select,
        )
        self.count_controls = RunControls(run_text="Refresh")
        self.count_controls.run_button.tooltip = "Count the voxels of each segment again"
        self.segments_section = Section(
            "Segments", [self.labels_layer, boxed(self.table), self.count_controls]
        )
        self.effects = EffectsSection(self._image_choices)
        self.controls = RunControls(run_text="Apply")
        self.controls.run_button.tooltip = (
            "Apply the effect to the selected segment (one undo step: Ctrl+Z undoes)"
        )
        #: the effects' status line (results, refusals)
        self.status = self.controls.status
        self.stats_image = ComboBox(
            label="Intensity image",
            choices=self._image_choices,
            nullable=True,
            tooltip="Optional: an image on the same grid for intensity statistics (mean, SD…)",
        )
        self.stats_controls = RunControls(run_text="Statistics")
        self.stats_controls.run_button.tooltip = (
            "Volume, surface area, Feret diameter, … of every segment"
        )
        self.stats_table = StatisticsTable()
        self.csv_button = PushButton(text="Export CSV…", tooltip="Save the statistics as CSV")
        self.stats_section = Section(
            "Statistics",
            [self.stats_image, self.stats_controls, boxed(self.stats_table), self.csv_button],
            expanded=False,
        )
        self.files = FilesSection(self._source_choices)
        self.file_controls = RunControls(run_text="")
        # saving is one step: no Run and no Cancel, only the progress bar and the status line
        self.file_controls.run_button.visible = False
        self.file_controls.cancel_button.visible = False
        self.files.body.append(self.file_controls)
        super().__init__(
            [
                self.segments_section,
                self.effects,
                self.effects.area,
                self.controls,
                self.stats_section,
                self.files,
            ],
            on_close=self._on_close,
        )
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(_DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)

        self.labels_layer.changed.connect(self._watch)
        self.count_controls.run_button.changed.connect(self._refresh_now)
        self.controls.run_button.changed.connect(self.apply)
        self.stats_controls.run_button.changed.connect(self.compute_statistics)
        self.csv_button.changed.connect(self._export_csv_dialog)
        self.files.save_button.changed.connect(self._save_dialog)
        self.files.mesh_button.changed.connect(self._mesh_dialog)
        self.files.dicom_button.changed.connect(self._dicom_dialog)
        self.files.source.changed.connect(self._update_dicom_button)
        self.connections.connect(viewer.layers.selection.events.active, self._on_active)
        self.connections.connect(viewer.layers.events.removed, self._on_removed)
        active = viewer.layers.selection.active
        choices = self._labels_choices()
        if not isinstance(active, Labels):  # e.g. the image is selected: its labels, if any
            active = choices[-1][1] if choices else None
        with self.labels_layer.changed.blocked():
            self.labels_layer.value = active
        self._watch(active)

    @property
    def busy(self) -> bool:
        """True while a worker runs or a recount waits (the numbers shown may change)."""
        controls = (self.count_controls, self.controls, self.stats_controls, self.file_controls)
        return self._timer.isActive() or self.stale or any(c.current for c in controls)

    # ---- layers --------------------------------------------------------------------------
    @property
    def _torn_down(self) -> bool:
        connections = getattr(self, "connections", None)
        return connections is not None and not connections.alive

    def _labels_choices(self, _widget=None):
        return layer_choices(
            self.viewer.layers, "labels", where=lambda layer: not layer.multiscale
        )

    def _image_choices(self, _widget=None):
        return layer_choices(self.viewer.layers, "image")

    def _source_choices(self, _widget=None):
        return source_choices(self.viewer, self.layer)

    def _on_active(self, event=None) -> None:
        layer = self.viewer.layers.selection.active
        if (
            isinstance(layer, Labels)
            and layer is not self.labels_layer.value
            and not self._torn_down
        ):
            self.labels_layer.reset_choices()
            self.labels_layer.value = layer

    def _on_removed(self, event=None) -> None:
        if self.layer is not None and self.layer not in self.viewer.layers:
            self._watch(None)

    def _layer_events(self, layer):
        e = layer.events
        return [
            (e.paint, self._on_edited),
            (e.data, self._on_edited),
            (e.set_data, self._on_redrawn),
            (e.colormap, self._fill_table),
            (e.features, self._fill_table),
            (e.selected_label, self._on_selected_label),
        ]

    def _unwatch(self) -> None:
        if self.layer is None:
            return
        for emitter, callback in self._layer_events(self.layer):
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                emitter.disconnect(callback)
        self.layer = None

    def _watch(self, layer=None) -> None:
        """Show ``layer``'s segments and follow its edits (None: nothing shown)."""
        if self._torn_down or (layer is self.layer and layer is not None):
            return
        self._unwatch()
        self.summary, self._crc, self.statistics = None, None, None
        self.stats_table.show_statistics(None)
        self.layer = layer
        if layer is not None:
            for emitter, callback in self._layer_events(layer):
                emitter.connect(callback)
        self.files.source.reset_choices()
        with self.files.source.changed.blocked():  # the likeliest source of the new layer
            self.files.source.value = self._source_choices()[0][1]
        self._update_dicom_button()
        self._fill_table()
        self._refresh_now()

    # ---- segment table -------------------------------------------------------------------
    def _rows(self) -> list[SegmentRow]:
        layer = self.layer
        if layer is None:
            return []
        counts = {s.value: s for s in self.summary or ()}
        locked = set(locked_segments(layer))
        names = segment_names(layer)
        rows = []
        for value in sorted(set(counts) | set(names)):
            s = counts.get(value)
            rgba = segment_color(layer, value)
            rows.append(
                SegmentRow(
                    value,
                    names.get(value, f"label {value}"),
                    rgba,
                    rgba[3] > 0,
                    value in locked,
                    None if s is None and not counts else (s.voxels if s else 0),
                    None if s is None and not counts else (s.volume_ml if s else 0.0),
                    None if s is None and not counts else (s.components if s else 0),
                )
            )
        return rows

    def _fill_table(self, _event=None) -> None:
        if self._torn_down:
            return
        selected = None if self.layer is None else int(self.layer.selected_label)
        self.table.show_rows(self._rows(), selected=selected)

    def _on_selected_label(self, _event=None) -> None:
        if self.layer is not None and int(self.layer.selected_label) in self.table.values:
            self.table.selectRow(self.table.row_of(self.layer.selected_label))

    def rename(self, value: int, name: str) -> None:
        """Name segment ``value`` (shown on hover in napari's status bar)."""
        if self.layer is None:
            return
        if not name:
            self.status.refuse("A segment's name cannot be empty; the old name was kept.")
            self._fill_table()
            return
        set_segment_name(self.layer, value, name)

    def set_color(self, value: int, rgb) -> None:
        """Colour segment ``value`` with ``rgb`` (0..1) in the layer's colormap."""
        if self.layer is not None:
            set_segment_color(self.layer, value, rgb)

    def set_visible(self, value: int, visible: bool) -> None:
        """Show or hide segment ``value`` (alpha 0 in the colormap; its colour is kept)."""
        if self.layer is not None:
            set_visible(self.layer, value, visible)

    def set_locked(self, value: int, locked: bool) -> None:
        """Lock or unlock segment ``value``: effects never change a locked segment."""
        if self.layer is not None:
            set_locked(self.layer, value, locked)
            self._fill_table()

    def select(self, value: int) -> None:
        """Make ``value`` the layer's selected label (the segment effects apply to)."""
        if self.layer is not None and int(self.layer.selected_label) != int(value):
            self.layer.selected_label = int(value)

    # ---- counting ------------------------------------------------------------------------
    def _mark_stale(self) -> None:
        self.stale = True
        self.count_controls.status.say(UPDATING)
        if self.statistics is not None and not self.statistics_stale:
            self.statistics_stale = True
            self.stats_controls.status.refuse(
                "Stale: the segments changed since; press Statistics for current numbers."
            )

    def _on_edited(self, _event=None) -> None:
        """Count again, debounced: the layer's voxels changed (a brush stroke, new data)."""
        self._force = True
        self._mark_stale()
        self._timer.start()

    def _on_redrawn(self, _event=None) -> None:
        """Count again if the voxels differ: napari redrew the layer (undo/redo only redraw)."""
        if not self._timer.isActive():
            self._timer.start()

    def _refresh_now(self, _=None) -> None:
        self._force = True
        self._mark_stale()
        self.refresh()

    def _counting(self) -> bool:
        return self.count_controls.current is not None

    def refresh(self) -> None:
        """Count the layer's segments in a worker (again, once a running count is done)."""
        if self._torn_down:
            return
        if self.layer is None:
            self.summary, self.stale = None, False
            self.count_controls.status.say("Choose a Labels layer.")
            self._fill_table()
            return
        if self._counting():
            self._recount = True
            return
        labels, geometry = layer_to_array(self.layer)
        previous = None if self._force else self._crc
        self._force = False
        run_generator(
            self.count_controls,
            iter_summary,
            labels,
            spacing=geometry.spacing,
            previous=previous,
            on_returned=self._show_summary,
            title="Counting segments",
            quiet=True,
        )
        if not self.stale:  # only checking whether a redraw changed voxels: nothing to show
            self.count_controls.progress.visible = False
            self.count_controls.status.say(self._count_text() if self.summary else "")
        else:
            self.count_controls.status.say(UPDATING)
        self.count_controls.current.finished.connect(self._after_count)

    def _after_count(self) -> None:
        if self._recount and not self._torn_down:
            self._recount = False
            QTimer.singleShot(0, self.refresh)

    def _show_summary(self, result) -> None:
        if self._torn_down or self._recount:
            return
        if result is None:  # only redrawn: the numbers shown are current
            if self.summary is not None:
                self.stale = False
                self.count_controls.status.say(self._count_text())
            return
        self._crc, self.summary, self.summary_seconds = result
        self.stale = False
        if self.layer is not None:
            with_colors(self.layer, [s.value for s in self.summary])
        self._fill_table()
        self.count_controls.status.say(self._count_text())

    def _count_text(self) -> str:
        n = len(self.summary or ())
        return f"{n} segment{'s' if n != 1 else ''}, counted in {self.summary_seconds or 0:.2f} s"

    # ---- statistics ----------------------------------------------------------------------
    def compute_statistics(self, _=None):
        """Compute the statistics of every segment in a worker (returns it, or None)."""
        if self.layer is None:
            self.stats_controls.status.refuse("Choose a Labels layer first.")
            return None
        image = self.stats_image.value
        if image is not None:
            problem = grid_problem(image, self.layer)
            if problem:
                self.stats_controls.status.refuse(f"Refused: {problem}.")
                return None
        labels, geometry = layer_to_array(self.layer)
        self.statistics_stale = False
        return run_generator(
            self.stats_controls,
            iter_call,
            _statistics,
            labels.copy(),
            geometry=geometry,
            image=None if image is None else np.asarray(image.data),
            message="statistics",
            on_returned=self._show_statistics,
            title="Statistics",
        )

    def _show_statistics(self, statistics) -> None:
        if self._torn_down:
            return
        self.statistics = statistics
        self.stats_table.show_statistics(statistics)
        n = len(statistics.rows)
        self.stats_controls.status.say(f"Statistics of {n} segment{'s' if n != 1 else ''}.")

    def export_statistics(self, path) -> Path | None:
        """Write the shown statistics to ``path`` (CSV); say the outcome, never raise."""
        if self.statistics is None:
            self.stats_controls.status.refuse("Nothing to export yet: press Statistics first.")
            return None
        if self.statistics_stale:
            self.stats_controls.status.refuse(
                "Not saved: the statistics are stale; press Statistics first."
            )
            return None
        try:
            written = self.statistics.write_csv(path)
        except (OSError, ValueError) as exc:
            self.stats_controls.status.refuse(f"Not saved: {exc}")
            return None
        written = Path(written) if written is not None else Path(path)
        self.stats_controls.status.say(f"Saved {written}")
        return written

    def _export_csv_dialog(self, _=None) -> None:
        if self.statistics is None:
            self.stats_controls.status.refuse("Nothing to export yet: press Statistics first.")
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Export statistics", "segment_statistics.csv", "CSV files (*.csv)"
        )
        if path:
            self.export_statistics(path)

    # ---- effects -------------------------------------------------------------------------
    def _busy(self) -> bool:
        return self.controls.current is not None

    def _cursor_index(self, layer) -> tuple[int, ...] | None:
        position = np.asarray(self.viewer.cursor.position, float)[-layer.ndim :]
        index = np.round(np.asarray(layer.world_to_data(position), float)).astype(int)
        if np.any(index < 0) or np.any(index >= np.asarray(layer.data.shape)):
            return None
        return tuple(int(i) for i in index)

    def apply(self, _=None):
        """Apply the chosen effect to the selected segment in a worker (returns it, or None).

        The result is written as one undo step; the status says how many voxels changed.
        """
        layer = self.layer
        if layer is None:
            self.status.refuse("Choose a Labels layer first.")
            return None
        if self._busy():
            return None
        key = self.effects.effect.value
        value = int(layer.selected_label)
        name = segment_name(layer, value)
        locked = locked_segments(layer)
        if key not in ALL_SEGMENTS:
            if value == 0:
                self.status.refuse("Select a segment in the table first (0 is the background).")
                return None
            if value in locked:
                self.status.refuse(
                    f"'{name}' (label {value}) is locked: untick Locked in the table to edit "
                    "it. Nothing was changed."
                )
                return None
            present = {s.value for s in self.summary or ()}
            if key not in CREATES and not self.stale and value not in present:
                self.status.refuse(
                    f"Label {value} has no voxels in '{layer.name}': select a segment of the "
                    "table. Nothing was changed."
                )
                return None
        labels, geometry = layer_to_array(layer)
        labels = labels.copy()  # the worker's own: painting meanwhile is kept (see below)
        index = None
        if key == "keep_selected":
            index = self._cursor_index(layer)
            if index is None or int(labels[index]) != value:
                self.status.refuse(
                    f"Point the mouse at an island of '{name}' on the canvas, then press "
                    "Apply. Nothing was changed."
                )
                return None
        area = None
        if self.effects.area.restricted:
            area = self.effects.area.keywords()
            if "intensity_range" in area:
                image = self.effects.area.image.value
                if image is None:
                    self.status.refuse("Choose the image whose intensity range is editable.")
                    return None
                problem = grid_problem(image, layer)
                if problem:
                    self.status.refuse(f"Refused: {problem}.")
                    return None
                area["image"] = np.asarray(image.data)
        call = self.effects.call(value, spacing=geometry.spacing, index=index)
        what = call.description if key in ALL_SEGMENTS else f"{call.description} on '{name}'"
        self._effect = (layer, labels, what)
        self.worker = run_generator(
            self.controls,
            iter_effect,
            call,
            labels,
            area=area,
            locked=locked,
            on_returned=self._write_effect,
            title=EFFECTS[key][0],
        )
        self.worker.finished.connect(self._forget_effect)  # also after an error or a Cancel
        return self.worker

    def _forget_effect(self) -> None:
        self._effect = None

    def _write_effect(self, result) -> None:
        """Write the effect's result as one undo step (only the voxels the effect changed)."""
        if self._torn_down or self._effect is None:
            return
        layer, before, what = self._effect
        self._effect = None
        if layer not in self.viewer.layers:
            self.status.refuse(f"'{layer.name}' was removed; nothing was written.")
            return
        new, _editable = result
        try:
            count = write_labels(layer, new, editable=new != before)
        except (TypeError, ValueError) as exc:
            self.status.refuse(f"Not written: {exc}")
            return
        self.status.say(f"{what}: {changed_message(count)}")

    # ---- files ---------------------------------------------------------------------------
    def _segments(self):
        layer = self.layer
        values = {s.value for s in self.summary or ()} | set(segment_names(layer))
        return segment_infos(layer, values)

    def _file_status(self):
        return self.file_controls.status

    def _source_grid(self):
        """Return the chosen source grid (None: the layer's own grid)."""
        return source_grid_of(self.files.source.value)

    def save_on_source_grid(self, path):
        """Save the layer on the chosen source image's file grid in a worker (returns it).

        The ending of ``path`` picks the format (.nii.gz, .nii, .nrrd, .mha, .seg.nrrd).
        """
        if self.layer is None:
            self._file_status().refuse("Choose a Labels layer first.")
            return None
        try:
            source = self._source_grid()
        except ValueError as exc:
            self._file_status().refuse(f"Not saved: {exc}")
            return None
        labels, geometry = layer_to_array(self.layer)
        return run_generator(
            self.file_controls,
            iter_call,
            write_source_grid,
            path,
            labels.copy(),
            geometry,
            source=source,
            segments=self._segments(),
            message="saving",
            on_returned=self._saved,
            title="Save segmentation",
        )

    def _saved(self, written) -> None:
        if not self._torn_down:
            if isinstance(written, tuple):
                self._file_status().say(
                    f"Wrote {len(written)} file{'s' if len(written) != 1 else ''} to "
                    f"{Path(written[0]).parent if written else ''}"
                )
            else:
                self._file_status().say(f"Saved {written}")

    def export_meshes(self, folder, **options):
        """Export one mesh per segment into ``folder`` in a worker (returns it, or None).

        ``options`` override the dock's settings (``fmt``, ``coordinates``,
        ``smoothing_iterations``, ``decimate_fraction``).
        """
        if self.layer is None:
            self._file_status().refuse("Choose a Labels layer first.")
            return None
        labels, geometry = layer_to_array(self.layer)
        settings = {
            "fmt": self.files.mesh_format.value,
            "coordinates": self.files.coordinates.value,
            "smoothing_iterations": int(self.files.smoothing.value),
            "decimate_fraction": float(self.files.decimate.value),
            **options,
        }
        return run_generator(
            self.file_controls,
            iter_call,
            _meshes,
            folder,
            labels.copy(),
            geometry=geometry,
            segments=self._segments(),
            message="meshes",
            on_returned=self._saved,
            title="Export meshes",
            **settings,
        )

    def _dicom_problem(self) -> tuple[str, str]:
        """Return (the DICOM series to reference, '') or ('', why DICOM SEG cannot be saved)."""
        source = self.files.source.value
        if source is None:
            return "", (
                "DICOM SEG needs the DICOM series the image came from: choose a source image "
                "read from DICOM."
            )
        path = source_path(source)
        if not is_dicom(path):
            where = f"the file {Path(path).name}" if path else "no DICOM file"
            return "", (
                f"DICOM SEG needs an image read from DICOM, but '{source.name}' came from "
                f"{where}; use Save on source grid instead."
            )
        return path, ""

    def _update_dicom_button(self, _=None) -> None:
        if self._torn_down:
            return
        try:
            _path, problem = self._dicom_problem()
        except ValueError as exc:
            problem = str(exc)
        self.files.dicom_button.enabled = not problem
        self.files.dicom_button.tooltip = problem or "Save a DICOM Segmentation object"

    def save_dicom_seg(self, path):
        """Save a DICOM SEG referencing the source DICOM series, in a worker (or refuse)."""
        if self.layer is None:
            self._file_status().refuse("Choose a Labels layer first.")
            return None
        source, problem = self._dicom_problem()
        if problem:
            self._file_status().refuse(problem)
            return None
        labels, geometry = layer_to_array(self.layer)
        return run_generator(
            self.file_controls,
            iter_call,
            _dicom_seg,
            path,
            labels.copy(),
            source=source,
            geometry=geometry,
            segments=self._segments(),
            message="DICOM SEG",
            on_returned=self._saved,
            title="Save DICOM SEG",
        )

    def _save_dialog(self, _=None) -> None:
        if self.layer is None:
            self._file_status().refuse("Choose a Labels layer first.")
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native,
            "Save segmentation on the source grid",
            f"{self.layer.name}.nii.gz",
            "NIfTI (*.nii.gz *.nii);;3D Slicer segmentation (*.seg.nrrd);;NRRD (*.nrrd);;"
            "MetaImage (*.mha)",
        )
        if path:
            self.save_on_source_grid(path)

    def _mesh_dialog(self, _=None) -> None:
        folder = QFileDialog.getExistingDirectory(self.native, "Export meshes into folder")
        if folder:
            self.export_meshes(folder)

    def _dicom_dialog(self, _=None) -> None:
        _source, problem = self._dicom_problem()
        if problem:
            self._file_status().refuse(problem)
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Save DICOM SEG", "segmentation.dcm", "DICOM (*.dcm)"
        )
        if path:
            self.save_dicom_seg(path)

    # ---- lifetime ------------------------------------------------------------------------
    def _on_close(self) -> None:
        self._timer.stop()
        self._unwatch()
        for controls in (
            self.count_controls,
            self.controls,
            self.stats_controls,
            self.file_controls,
        ):
            if controls.current is not None:
                controls.current.quit()
