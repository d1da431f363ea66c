"""The Voxel classifier dock's pickers: a checkable list of layers and the table of classes."""

from __future__ import annotations

from collections.abc import Callable

from magicgui.widgets import Container
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
)

#: rows a list or table shows before it scrolls (keeps the dock short)
_ROWS = 4


def _fit_rows(view, rows: int) -> None:
    """Make ``view`` as tall as ``rows`` rows (plus its frame and header)."""
    row = view.fontMetrics().height() + 10
    header = row if isinstance(view, QTableWidget) else 0
    if isinstance(view, QTableWidget):
        view.verticalHeader().setDefaultSectionSize(row)
    view.setFixedHeight(row * rows + header + 2 * view.frameWidth() + 2)


class LayerChecklist(Container):
    """Checkable list of layers (several contrasts on one grid); ``value`` is the ticked ones.

    Parameters
    ----------
    choices : callable
        Returns ``(name, layer)`` pairs, as :func:`._common.layer_choices`.
    label : str
        The field's label.
    on_change : callable, optional
        Called with no argument when a tick changes.
    """

    def __init__(
        self, choices: Callable, *, label: str, tooltip: str, on_change: Callable | None = None
    ) -> None:
        super().__init__(labels=False, label=label, tooltip=tooltip)
        self.margins = (0, 0, 0, 0)
        self._choices = choices
        self._on_change = on_change
        self._layers: list = []
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.list.setToolTip(tooltip)
        self.native.layout().addWidget(self.list)
        self.list.itemChanged.connect(self._changed)
        self.reset_choices()

    @property
    def value(self) -> list:
        """The ticked layers, in the viewer's order."""
        return [
            layer
            for i, layer in enumerate(self._layers)
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    @value.setter
    def value(self, layers) -> None:
        wanted = list(layers)
        self.list.blockSignals(True)
        for i, layer in enumerate(self._layers):
            state = Qt.CheckState.Checked if layer in wanted else Qt.CheckState.Unchecked
            self.list.item(i).setCheckState(state)
        self.list.blockSignals(False)
        self._changed()

    def reset_choices(self, *_) -> None:
        """List the layers offered now; ticks of layers still there are kept."""
        # napari hands a plugin proxies of its layers, new ones at each access: layers are
        # compared with == (the proxy compares the layer it wraps), never with id() or `is`
        ticked = self.value if self._layers else []
        pairs = list(self._choices())
        if [layer for _, layer in pairs] == self._layers and all(
            self.list.item(i).text() == name for i, (name, _) in enumerate(pairs)
        ):
            return
        self.list.blockSignals(True)
        self.list.clear()
        self._layers = [layer for _, layer in pairs]
        for name, layer in pairs:
            item = QListWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            checked = layer in ticked
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self.list.blockSignals(False)
        _fit_rows(self.list, min(max(len(pairs), 2), _ROWS))
        if ticked != self.value:
            self._changed()

    def _changed(self, *_) -> None:
        if self._on_change is not None:
            self._on_change()


class ClassTable(Container):
    """One row per class: colour, label value, name (double-click to rename).

    Clicking a row chooses that class for the brush. ``on_rename(value, name)`` and
    ``on_select(value)`` are called back.
    """

    def __init__(self, *, on_rename: Callable, on_select: Callable) -> None:
        super().__init__(labels=False)
        self.margins = (0, 0, 0, 0)
        self._on_rename = on_rename
        self._on_select = on_select
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", "Label", "Class name"])
        self.table.horizontalHeaderItem(2).setToolTip("Double-click to rename; shown on hover")
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, 26)
        self.table.setToolTip("Click a class to paint it; double-click its name to rename it")
        self.native.layout().addWidget(self.table)
        self.table.itemChanged.connect(self._renamed)
        self.table.itemSelectionChanged.connect(self._selected)
        self._values: list[int] = []
        _fit_rows(self.table, 3)

    def show_classes(self, classes: dict[int, tuple[str, tuple]], selected: int | None) -> None:
        """Show ``{value: (name, rgba 0..1)}``; select the row of ``selected``."""
        self.table.blockSignals(True)
        self.table.setRowCount(len(classes))
        self._values = sorted(classes)
        for row, value in enumerate(self._values):
            name, rgba = classes[value]
            swatch = QTableWidgetItem("")
            swatch.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            # a decoration, not a background: the selected row's highlight does not hide it
            color = QColor.fromRgbF(*[float(c) for c in rgba[:3]], 1.0)
            swatch.setData(Qt.ItemDataRole.DecorationRole, color)
            number = QTableWidgetItem(str(value))
            number.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            label = QTableWidgetItem(name)
            label.setFlags(
                Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsEditable
            )
            for column, item in enumerate((swatch, number, label)):
                self.table.setItem(row, column, item)
        if selected in self._values:
            self.table.selectRow(self._values.index(selected))
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)

    def rename(self, value: int, name: str) -> None:
        """Rename class ``value`` as a user would (edits the name cell)."""
        self.table.item(self._values.index(int(value)), 2).setText(name)

    def _renamed(self, item: QTableWidgetItem) -> None:
        if item.column() == 2 and item.text().strip():
            self._on_rename(self._values[item.row()], item.text().strip())

    def _selected(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) == 1:
            self._on_select(self._values[rows.pop()])


class ImportanceTable(Container):
    """The classifier's most important features (name, share of the total)."""

    def __init__(self, rows: int = 10) -> None:
        super().__init__(labels=False)
        self.margins = (0, 0, 0, 0)
        self.rows = rows
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Feature", "Importance"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.native.layout().addWidget(self.table)
        _fit_rows(self.table, 5)

    def show_importances(self, importances: dict[str, float]) -> None:
        """Show the top ``rows`` features, largest first."""
        top = sorted(importances.items(), key=lambda kv: -kv[1])[: self.rows]
        self.table.setRowCount(len(top))
        for row, (name, share) in enumerate(top):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(f"{share:.3f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, item)

    def shown(self) -> list[tuple[str, float]]:
        """Return the rows shown (feature, importance), for tests."""
        return [
            (self.table.item(r, 0).text(), float(self.table.item(r, 1).text()))
            for r in range(self.table.rowCount())
        ]
