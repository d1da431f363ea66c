"""The Segments dock's tables: one row per segment (edited in place), and the statistics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from magicgui.widgets import Container
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)

#: columns of the segment table, in order
COLUMNS = ("Value", "Name", "Colour", "Show", "Lock", "ml", "Voxels", "Islands")
_NAME, _COLOUR, _VISIBLE, _LOCKED = 1, 2, 3, 4
_HEADER_HELP = {
    "Value": "Label value of the segment's voxels",
    "Name": "Shown when hovering over the segment; double-click to rename",
    "Colour": "Click to choose the segment's colour",
    "Show": "Untick to hide the segment (alpha 0), tick to show it again",
    "Lock": "A locked segment is never changed by an effect",
    "Voxels": "Number of voxels",
    "ml": "Volume in millilitres (voxel count x voxel volume)",
    "Islands": "Number of islands (connected components, face connectivity)",
}


def boxed(qwidget) -> Container:
    """Wrap one plain Qt widget in a label-less magicgui Container (for a Section)."""
    box = Container(labels=False)
    box.margins = (0, 0, 0, 0)
    box.native.layout().addWidget(qwidget)
    return box


@dataclass(frozen=True)
class SegmentRow:
    """What one row of the segment table shows."""

    value: int
    name: str
    rgba: tuple[float, float, float, float]
    visible: bool
    locked: bool
    voxels: int | None = None
    volume_ml: float | None = None
    components: int | None = None


def _item(text: str, *, editable: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
    if editable:
        flags |= Qt.ItemFlag.ItemIsEditable
    item.setFlags(flags)
    return item


def _check(checked: bool) -> QTableWidgetItem:
    item = QTableWidgetItem("")
    item.setFlags(
        Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable
    )
    item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
    return item


def _number(value, digits: int | None = None) -> str:
    if value is None:
        return "…"
    if digits is None:
        return f"{int(value):,}".replace(",", " ")
    return f"{float(value):.{digits}f}"


class SegmentTable(QTableWidget):
    """One row per segment: value, name, colour, visible, locked, voxels, volume, islands.

    Edits call back: ``on_rename(value, name)``, ``on_color(value, rgb)``,
    ``on_visible(value, bool)``, ``on_locked(value, bool)``, ``on_select(value)``.
    """

    def __init__(
        self,
        *,
        on_rename: Callable[[int, str], None],
        on_color: Callable[[int, tuple], None],
        on_visible: Callable[[int, bool], None],
        on_locked: Callable[[int, bool], None],
        on_select: Callable[[int], None],
    ) -> None:
        super().__init__(0, len(COLUMNS))
        self._callbacks = (on_rename, on_color, on_visible, on_locked, on_select)
        self._filling = False
        #: the value shown in each row, top to bottom
        self.values: list[int] = []
        self.setHorizontalHeaderLabels(COLUMNS)
        for column, name in enumerate(COLUMNS):
            self.horizontalHeaderItem(column).setToolTip(_HEADER_HELP[name])
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(_NAME, QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(30)
        self.setColumnWidth(_NAME, 110)
        # as wide as a 450 px dock allows; the counts scroll into view sideways
        self.setMinimumWidth(360)
        self.setMinimumHeight(110)
        self.setMaximumHeight(260)
        self.itemChanged.connect(self._on_item_changed)
        self.itemSelectionChanged.connect(self._on_selection)

    def show_rows(self, rows: Sequence[SegmentRow], *, selected: int | None = None) -> None:
        """Show ``rows`` (replacing the table), keeping ``selected`` selected."""
        self._filling = True
        try:
            self.setRowCount(len(rows))
            self.values = [row.value for row in rows]
            for r, row in enumerate(rows):
                self.setItem(r, 0, _item(str(row.value)))
                self.setItem(r, _NAME, _item(row.name, editable=True))
                self.setCellWidget(r, _COLOUR, self._swatch(row))
                self.setItem(r, _COLOUR, _item(""))
                self.setItem(r, _VISIBLE, _check(row.visible))
                self.setItem(r, _LOCKED, _check(row.locked))
                self.setItem(r, COLUMNS.index("ml"), _item(_number(row.volume_ml, 2)))
                self.setItem(r, COLUMNS.index("Voxels"), _item(_number(row.voxels)))
                self.setItem(r, COLUMNS.index("Islands"), _item(_number(row.components)))
                for column in (5, 6, 7):
                    self.item(r, column).setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
            if selected in self.values:
                self.selectRow(self.values.index(selected))
        finally:
            self._filling = False

    def row_of(self, value: int) -> int:
        """Return the row showing ``value`` (ValueError when none does)."""
        return self.values.index(int(value))

    def text(self, value: int, column: str) -> str:
        """Return the text shown for ``value`` in ``column`` (one of :data:`COLUMNS`)."""
        return self.item(self.row_of(value), COLUMNS.index(column)).text()

    def _swatch(self, row: SegmentRow) -> QPushButton:
        r, g, b, _ = (int(round(255 * c)) for c in row.rgba)
        button = QPushButton()
        button.setFixedSize(30, 16)
        button.setToolTip(f"Colour of '{row.name}': click to change")
        button.setStyleSheet(f"background-color: rgb({r}, {g}, {b}); border: 1px solid #808080;")
        value = row.value
        button.clicked.connect(lambda *_: self._choose_color(value, QColor(r, g, b)))
        return button

    def _choose_color(self, value: int, initial: QColor) -> None:
        color = QColorDialog.getColor(initial, self, "Segment colour")
        if color.isValid():
            self._callbacks[1](value, (color.redF(), color.greenF(), color.blueF()))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        value = self.values[item.row()]
        checked = item.checkState() == Qt.CheckState.Checked
        if item.column() == _NAME:
            self._callbacks[0](value, item.text().strip())
        elif item.column() == _VISIBLE:
            self._callbacks[2](value, checked)
        elif item.column() == _LOCKED:
            self._callbacks[3](value, checked)

    def _on_selection(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        if not self._filling and len(rows) == 1:
            self._callbacks[4](self.values[rows.pop()])


def _heading(column: str, unit: str) -> str:
    """``volume_ml`` in ml -> ``volume (ml)``; ``surface_area_mm2`` -> ``surface area (mm²)``."""
    if not unit:
        return column.replace("_", " ")
    name = column.removesuffix(f"_{unit}").replace("_", " ")
    return f"{name} ({unit.replace('mm2', 'mm²').replace('mm3', 'mm³')})"


class StatisticsTable(QTableWidget):
    """The statistics of each segment: a row per segment, a column per measure (with unit)."""

    def __init__(self) -> None:
        super().__init__(0, 0)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMinimumHeight(120)
        self.setMaximumHeight(240)

    def show_statistics(self, statistics) -> None:
        """Show a ``SegmentStatistics`` (its rows, columns and units); None clears."""
        self.clear()
        if statistics is None:
            self.setRowCount(0)
            self.setColumnCount(0)
            return
        columns = list(statistics.columns)
        units = dict(getattr(statistics, "units", {}) or {})
        self.setColumnCount(len(columns))
        self.setRowCount(len(statistics.rows))
        self.setHorizontalHeaderLabels([_heading(c, units.get(c, "")) for c in columns])
        for r, row in enumerate(statistics.rows):
            for c, column in enumerate(columns):
                value = row.get(column)
                if isinstance(value, float):
                    text = "" if math.isnan(value) else f"{value:.6g}"
                else:
                    text = "" if value is None else str(value)
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                self.setItem(r, c, item)
        self.resizeColumnsToContents()
