"""The "Cohort" dock: a batch evaluation's per-case CSV as plots, a summary, and cases to open.

Load the CSV that ``napari-segtools evaluate`` wrote (one method, or several with
``--methods``): the plot shows, for the chosen metric and label, a box per method with a point
per case; the table summarises each method (n, mean, SD, median, quartiles, intervals). Click a
point and that case's image (when the CSV records one), reference and prediction open as
layers, replacing the case opened before. Reading and summarising run in a worker thread.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from magicgui.widgets import ComboBox, Label, Select
from qtpy.QtWidgets import QFileDialog

from .._cli_cohort import method_order
from ..core._types import Progress
from ._cohort_plot import CohortPlot
from ._common import Section, themed
from ._dock import ScrollDock
from ._layers import OUTPUT_KEY, is_output_of, owned_name
from ._metrics_table import format_value
from ._segment_table import StatisticsTable, boxed
from ._worker import RunControls, run_generator

if TYPE_CHECKING:
    import napari

#: owner name in the metadata of the layers a case opens (see ``_layers.OUTPUT_KEY``)
OWNER = "cohort"
#: summary columns the table shows, left to right: the mean and its interval first (the
#: plot shows median and quartiles; the rest is a scroll away in a dock ~400 px wide)
SUMMARY_COLUMNS = (
    "method",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "sd",
    "median",
    "q1",
    "q3",
    "n_nan",
    "warning",
)
#: summary columns in the metric's unit
_VALUE_COLUMNS = ("mean", "sd", "median", "q1", "q3", "ci_low", "ci_high")
#: distance and volume columns of the CLI's CSV (the robust Hausdorff's is its ``hd_key``)
_LENGTHS = frozenset({"hd", "assd", "masd", "center_distance"})
_VOLUMES = frozenset({"reference_volume", "prediction_volume"})
#: metric chosen first when the CSV has it
_FIRST_METRIC = "dice"
#: seed of the summary's bootstrap intervals: the same numbers as the CLI's default files
SEED = 0


def metric_unit(table, metric: str) -> str:
    """Return the unit of ``metric`` in ``table``: mm, mm³, or ``""`` (none, or not known).

    Only a CSV of ``napari-segtools evaluate`` says its distances are in mm (its ``spacing``
    setting); another table's distances get no unit rather than a guessed one.
    """
    if "(mm)" not in str(table.settings.get("spacing", "")):
        return ""
    if metric in _LENGTHS or metric == table.settings.get("hd_key"):
        return "mm"
    return "mm³" if metric in _VOLUMES else ""


def direction(metric: str) -> str:
    """Say which way ``metric`` is better ("higher is better"), or ``""`` when it has none."""
    from ..core.cohort.table import higher_is_better

    try:
        return "higher is better" if higher_is_better(metric) else "lower is better"
    except ValueError:  # counts and volumes
        return ""


def iter_read_table(path: Path):
    """Read the cohort CSV at ``path`` (a worker's generator)."""
    from ..core.cohort.table import read_cohort_table

    yield Progress(0, 1, f"reading {path.name}")
    return read_cohort_table(path)


def iter_summary(table, metric: str):
    """Summarise ``metric`` per method and label (a worker's generator; bootstrap seed 0)."""
    from ..core.cohort.summary import summarize

    yield Progress(0, 1, f"summarising {metric}")
    return summarize(table, metrics=(metric,), seed=SEED)


def iter_read_case(files: dict[str, Path]):
    """Read each of ``files`` (role -> path) with the plugin's reader (a worker's generator)."""
    from .._reader import read_layers

    layers = {}
    for step, (role, path) in enumerate(files.items()):
        yield Progress(step, len(files), f"reading {path.name}")
        if not path.exists():
            raise FileNotFoundError(f"the {role} file {path} does not exist")
        layers[role] = read_layers(path)[0]
    return layers


class CohortWidget(ScrollDock):
    """Cohort view: per-method box and strip plots of a batch evaluation, its summary, its cases."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        #: the loaded :class:`~napari_segtools.core.cohort.table.CohortTable` (None: none)
        self.table = None
        #: its :class:`~napari_segtools.core.cohort.summary.CohortSummary` per metric, as
        #: each metric is first shown
        self.summaries: dict = {}
        #: the CSV loaded
        self.path: Path | None = None
        #: ``(method, case name)`` whose layers are open in the viewer
        self.opened: tuple[str, str] | None = None
        #: the worker of the last load or open (tests wait on it)
        self.worker = None
        self._loads = 0  # counts loads: a late result of an older load or open is dropped
        self._opens = 0  # counts opens: only the newest open adds layers
        self._case_layers: list = []
        self.source = Label(value="no cohort loaded")
        self.metric = ComboBox(
            label="Metric", choices=self._metric_choices, tooltip="Metric plotted and summarised"
        )
        self.label_id = ComboBox(
            label="Label",
            choices=self._label_choices,
            tooltip="Label id (structure) whose per-case values are shown",
        )
        self.methods = Select(
            label="Methods",
            choices=self._method_choices,
            tooltip="Methods shown side by side (Ctrl-click for several)",
        )
        self.methods.native.setMaximumHeight(90)
        self.controls = RunControls(run_text="Load CSV…")
        self.controls.run_button.tooltip = (
            "Open the per-case CSV of `napari-segtools evaluate` (one method, or --methods)"
        )
        #: the dock's one status line
        self.status = self.controls.status
        self.plot = CohortPlot(on_pick=self.open_case, style=self._style_figure)
        self.plot.setToolTip(
            "A point per case, a box per method: quartiles, crimson median, whiskers to the "
            "furthest case within 1.5 IQR.\nClick a point to open that case's image, reference "
            "and prediction (ringed and named on the plot)."
        )
        self.summary_table = StatisticsTable()
        self.summary_table.setToolTip(
            "Per method: cases with a value (n), their mean and its 95 % interval (ci_low, "
            "ci_high), SD, median and quartiles, and the cases without a value (n_nan, left out)"
        )
        super().__init__(
            [
                self.controls,
                Section("Cohort", [self.source, self.metric, self.label_id, self.methods]),
                Section("Plot", [boxed(self.plot)]),
                Section("Summary", [boxed(self.summary_table)]),
            ],
            on_close=self._on_close,
        )
        self.controls.run_button.changed.connect(self._choose_file)
        for chooser in (self.metric, self.label_id, self.methods):
            chooser.changed.connect(self._redraw)
        self.connections.connect(viewer.events.theme, self._on_theme)

    # ---- choices -------------------------------------------------------------------------
    def _metric_choices(self, _widget=None) -> list[str]:
        return [] if self.table is None else list(self.table.metrics)

    def _label_choices(self, _widget=None) -> list[int]:
        return [] if self.table is None else list(self.table.labels)

    def _method_choices(self, _widget=None) -> list[tuple[str, str]]:
        return [(method or "(one method)", method) for method in self.method_order()]

    def method_order(self) -> list[str]:
        """Return the table's methods in the order the CLI was given them (``--methods``)."""
        return [] if self.table is None else method_order(self.table)

    # ---- loading -------------------------------------------------------------------------
    def _choose_file(self, _value=None) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.native, "Open a cohort CSV", "", "CSV files (*.csv);;All files (*)"
        )
        if path:
            self.load(path)

    def load(self, path) -> None:
        """Show the per-case CSV at ``path``; what the previous one showed is cleared now."""
        self._loads += 1
        self._opens += 1
        self._clear()
        self.source.value = f"loading {Path(path).name}…"
        loads = self._loads
        self.worker = run_generator(
            self.controls,
            iter_read_table,
            Path(path),
            on_returned=lambda table: self._on_loaded(loads, Path(path), table),
            title="Cohort",
            quiet=True,
        )

    def _clear(self) -> None:
        self.table = self.path = None
        self.summaries = {}
        self._remove_case_layers()
        self.source.value = "no cohort loaded"
        self.reset_choices()
        self.plot.clear_plot("load a cohort CSV")
        self.summary_table.show_statistics(None)

    def _on_loaded(self, loads: int, path: Path, table) -> None:
        if loads != self._loads or not self.connections.alive:
            return
        if not table.rows:
            self.status.refuse(f"{path.name} has no cases")
            return
        self.table, self.path = table, path
        cases = {row["name"] for row in table.rows}
        self.source.value = f"{path.name}: {len(cases)} cases, {len(table.methods)} method(s)"
        with self._quietly():
            self.reset_choices()
            if _FIRST_METRIC in table.metrics:
                self.metric.value = _FIRST_METRIC
            self.methods.value = self.method_order()
        self._redraw()
        failed = len(table.failed)
        note = f"; {failed} failed case(s) left out" if failed else ""
        self.status.say(f"loaded {path.name}{note}; click a point to open its case")

    @contextlib.contextmanager
    def _quietly(self):
        """Set several choosers with one redraw afterwards instead of one each."""
        choosers = (self.metric, self.label_id, self.methods)
        with contextlib.ExitStack() as stack:
            for chooser in choosers:
                stack.enter_context(chooser.changed.blocked())
            yield

    # ---- plot and table ------------------------------------------------------------------
    def shown_cases(self) -> dict[str, dict[str, float]]:
        """Return the values plotted: method -> case -> value of the chosen metric and label."""
        metric, label = self.metric.value, self.label_id.value
        if self.table is None or metric is None or label is None:
            return {}
        shown = {}
        for method in self.method_order():
            if method not in (self.methods.value or ()):
                continue
            try:
                rows = self.table.cases(method, label)
            except ValueError:  # every case of this method failed for this label
                rows = {}
            shown[method] = {name: row[metric] for name, row in rows.items()}
        return shown

    def summary_rows(self) -> list[dict]:
        """Return the summary rows of the chosen metric and label, one per method shown.

        Empty until the chosen metric's summary has been computed (in a worker).
        """
        summary = self.summaries.get(self.metric.value)
        if summary is None:
            return []
        shown = list(self.shown_cases())
        rows = [
            row
            for row in summary.rows
            if row["label"] == self.label_id.value and row["method"] in shown
        ]
        return sorted(rows, key=lambda row: shown.index(row["method"]))

    def _summarize(self, metric: str) -> None:
        """Summarise ``metric`` in a worker; the table shows it when it is still chosen."""
        loads = self._loads

        def done(summary) -> None:
            if loads != self._loads or not self.connections.alive:
                return
            self.summaries[metric] = summary
            if self.metric.value == metric:
                self._show_summary()

        self.summaries[metric] = None  # asked for once
        self.worker = run_generator(
            self.controls,
            iter_summary,
            self.table,
            metric,
            on_returned=done,
            title="Summary",
            quiet=True,
        )

    def _show_summary(self) -> None:
        """Fill the summary table: 4 significant digits, like the Evaluation dock's table."""
        rows = [
            {k: format_value(k, v) if isinstance(v, float) else v for k, v in row.items()}
            for row in self.summary_rows()
        ]
        unit = metric_unit(self.table, self.metric.value)
        units = dict.fromkeys(_VALUE_COLUMNS, unit) if unit else {}
        self.summary_table.show_statistics(
            SimpleNamespace(rows=rows, columns=SUMMARY_COLUMNS, units=units) if rows else None
        )

    def _redraw(self, _value=None) -> None:
        cases = self.shown_cases()
        if not cases:
            self.plot.clear_plot("no cases to show" if self.table is not None else "")
            self.summary_table.show_statistics(None)
            return
        metric = self.metric.value
        better = direction(metric)
        self.plot.show_cohort(
            cases,
            metric=metric,
            unit=metric_unit(self.table, metric),
            title=f"label {self.label_id.value}" + (f" · {better}" if better else ""),
        )
        if self.opened is not None:
            self.plot.mark(*self.opened)
        if self.metric.value not in self.summaries:
            self._summarize(self.metric.value)
        self._show_summary()

    def _on_theme(self, _event=None) -> None:
        self.plot.restyle()

    def _style_figure(self, figure) -> None:
        themed(figure, self.viewer)

    # ---- opening a case ------------------------------------------------------------------
    def case_files(self, method: str, name: str) -> dict[str, Path]:
        """Return the files of a case: ``image`` (when recorded), prediction and reference.

        A relative path is taken relative to the CSV's folder.
        """
        row = None
        if self.table is not None and method in self.table.methods:
            row = self.table.cases(method, self.label_id.value).get(name)
        if row is None:
            raise ValueError(f"no case {name!r} of method {method!r} in the loaded cohort")
        files = {}
        for role in ("image", "prediction", "reference"):  # layer order: outline on top
            text = row.get(role) or ""
            if text:
                path = Path(text)
                files[role] = path if path.is_absolute() else self.path.parent / path
        if "reference" not in files or "prediction" not in files:
            raise ValueError(f"the CSV records no reference or prediction file for case {name!r}")
        return files

    def open_case(self, method: str, name: str) -> None:
        """Open case ``name`` of ``method`` as layers (the plot's click calls this)."""
        try:
            files = self.case_files(method, name)
        except ValueError as exc:
            self.status.refuse(str(exc))
            return
        self._opens += 1
        opens, loads = self._opens, self._loads
        self.worker = run_generator(
            self.controls,
            iter_read_case,
            files,
            on_returned=lambda layers: self._on_case_read(opens, loads, method, name, layers),
            title="Open case",
            quiet=True,
        )

    def _on_case_read(self, opens: int, loads: int, method: str, name: str, layers) -> None:
        if opens != self._opens or loads != self._loads or not self.connections.alive:
            return
        bad = [
            role for role in ("reference", "prediction") if layers[role][0].dtype.kind not in "iu"
        ]
        if bad:
            self.status.refuse(f"the {bad[0]} of case {name!r} is not a label image")
            return
        self._remove_case_layers()
        names = {"image": "image", "reference": "reference", "prediction": method or "prediction"}
        for role, (data, kwargs, kind) in layers.items():
            kind = "image" if role == "image" else "labels"
            kwargs["name"] = owned_name(self.viewer, f"{name} {names[role]}", OWNER)
            kwargs["metadata"] = {**kwargs.get("metadata", {}), OUTPUT_KEY: OWNER}
            layer = getattr(self.viewer, f"add_{kind}")(data, **kwargs)
            if role == "reference":  # an opaque outline over the half-transparent prediction
                layer.contour, layer.opacity = 1, 1.0
            elif role == "prediction":
                layer.opacity = 0.5
            self._case_layers.append(layer)
        self.opened = (method, name)
        self.plot.mark(method, name)
        self.viewer.reset_view()
        self.status.say(f"opened case {name} ({method or 'prediction'})")

    def _remove_case_layers(self) -> None:
        for layer in self._case_layers:
            if layer in self.viewer.layers and is_output_of(layer, OWNER):
                self.viewer.layers.remove(layer)
        self._case_layers = []
        self.opened = None

    # ---- lifetime ------------------------------------------------------------------------
    def _on_close(self) -> None:
        self._loads += 1  # results still on their way are dropped
        worker = self.worker
        if worker is not None:
            with contextlib.suppress(RuntimeError):
                worker.quit()
