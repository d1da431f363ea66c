"""Box and strip plot of one metric over a cohort: a box per method, a pickable point per case."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import AutoLocator

#: half width of the horizontal jitter of the strip points (in box widths of 1)
_JITTER = 0.14
#: pick radius of a point, in display points
_PICK_RADIUS = 4
#: space around the axes for tick labels and the title: left, right, top, bottom (pixels)
#: (the left one holds the y label and tick labels as wide as "6.335" or "0.125")
_MARGINS_PX = (72, 10, 26, 44)
#: gid of the box and whisker lines (no folder, so no method, can be named so)
_BOX = "\0box"
#: half width of a box
_HALF_BOX = 0.27


def box_segments(x: float, values: np.ndarray) -> tuple[list, list]:
    """Return the line segments of a box at ``x``, and of its median.

    The box spans the quartiles (numpy's linear quantiles, as the summary's q1/q3), the
    whiskers reach the furthest values within 1.5 IQR of it, as ``pyplot.boxplot`` draws them.
    """
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    low = values[values >= q1 - reach].min()
    high = values[values <= q3 + reach].max()
    left, right, cap = x - _HALF_BOX, x + _HALF_BOX, _HALF_BOX / 2
    box = [
        [(left, q1), (right, q1), (right, q3), (left, q3), (left, q1)],
        [(x, q1), (x, low)],
        [(x, q3), (x, high)],
        [(x - cap, low), (x + cap, low)],
        [(x - cap, high), (x + cap, high)],
    ]
    return box, [(left, median), (right, median)]


class CohortPlot(FigureCanvasQTAgg):
    """Matplotlib canvas: per method a box (median, quartiles, 1.5 IQR whiskers) and its cases.

    Parameters
    ----------
    on_pick : callable, optional
        Called with ``(method, case name)`` when a case's point is clicked.
    style : callable, optional
        Colours the figure (napari's theme); applied after every redraw.
    """

    def __init__(
        self,
        parent=None,
        *,
        on_pick: Callable[[str, str], None] | None = None,
        style: Callable[[Figure], None] | None = None,
    ) -> None:
        # fixed margins in pixels instead of a layout engine: constrained layout measured
        # ~50 of the ~90 ms of a 3 x 100-point redraw (it lays out every tick label again)
        self.figure = Figure(figsize=(4, 2.8))
        super().__init__(self.figure)
        self.setParent(parent)
        self.setMinimumHeight(180)
        self.setMinimumWidth(120)
        self.axes = self.figure.add_subplot()
        # volumes (~1e5-1e6 mm³) in scientific notation: their plain tick labels did not fit
        # the left margin
        self.axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
        self.style = style
        self.on_pick = on_pick
        #: per method shown: the case names of its points, in the order of the points
        self.points: dict[str, list[str]] = {}
        #: per method shown: the finite values drawn (the box's data)
        self.values: dict[str, np.ndarray] = {}
        #: the ring and name of the case open in the viewer (empty: none)
        self._marker: tuple = ()
        self.mpl_connect("pick_event", self.pick)
        self.clear_plot("load a cohort CSV")

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Keep the axes' margins at :data:`_MARGINS_PX` whatever the canvas size."""
        super().resizeEvent(event)
        width, height = max(self.width(), 1), max(self.height(), 1)
        left, right, top, bottom = _MARGINS_PX
        self.figure.subplots_adjust(
            left=min(left / width, 0.4),
            right=max(1 - right / width, 0.6),
            top=max(1 - top / height, 0.6),
            bottom=min(bottom / height, 0.4),
        )

    def _take_data_off(self) -> None:
        """Remove the drawn data but keep the axes and their ticks.

        ``axes.clear`` re-creates every tick; with the boxes as two collections (below) a
        3 x 100-point redraw and draw measured 34 ms -> 16 ms (median of 15, Agg).
        """
        for artist in [*self.axes.collections, *self.axes.lines, *self.axes.texts]:
            artist.remove()
        self.points, self.values, self._marker = {}, {}, ()

    def clear_plot(self, message: str = "") -> None:
        """Empty the plot, with an optional centred message."""
        self._take_data_off()
        if message:
            self.axes.text(
                0.5, 0.5, message, ha="center", va="center", transform=self.axes.transAxes
            )
        self.axes.set_xticks([])
        self.axes.set_yticks([])
        self.axes.set_ylabel("")
        self.axes.set_title("")
        self.restyle()

    def restyle(self) -> None:
        """Apply :attr:`style` (the theme) to the figure and its texts, and redraw when idle."""
        if self.style is not None:
            self.style(self.figure)
            color = self.axes.xaxis.label.get_color()
            for text in self.axes.texts:
                text.set_color(color)
            for collection in self.axes.collections:
                if collection.get_gid() == _BOX:
                    collection.set_color(color)
            for ring in self._marker[:1]:
                ring.set_markeredgecolor(color)
        self.draw_idle()

    def show_cohort(
        self,
        cases: Mapping[str, Mapping[str, float]],
        *,
        metric: str,
        unit: str = "",
        title: str = "",
    ) -> None:
        """Draw ``cases`` (method -> case name -> value of ``metric``), a column per method.

        The y axis is labelled ``metric [unit]`` (just ``metric`` without a unit). NaN and
        infinite values have no place on the axis: they are left out and counted in the
        method's tick label.
        """
        self._take_data_off()
        rng = np.random.default_rng(0)  # the same jitter on every redraw
        ticks, boxes, medians = [], [], []
        for x, (method, by_name) in enumerate(cases.items()):
            names = list(by_name)
            values = np.array([by_name[n] for n in names], float)
            finite = np.isfinite(values)
            self.points[method] = [n for n, ok in zip(names, finite, strict=True) if ok]
            self.values[method] = values = values[finite]
            left_out = len(names) - len(values)
            ticks.append(
                f"{method or 'cases'}\nn={len(values)}"
                + (f", {left_out} left out" if left_out else "")
            )
            self.axes.scatter(
                x + rng.uniform(-_JITTER, _JITTER, len(values)),
                values,
                s=14,
                color=f"C{x % 10}",  # a method keeps its colour whatever else is shown
                alpha=0.75,
                zorder=3,
                picker=_PICK_RADIUS,
                gid=method,
            )
            if len(values):
                box, median = box_segments(x, values)
                boxes += box
                medians.append(median)
        # two collections instead of pyplot.boxplot's six Line2D per box (see _take_data_off)
        self.axes.add_collection(LineCollection(boxes, linewidths=1, gid=_BOX, zorder=2))
        self.axes.add_collection(LineCollection(medians, colors="crimson", zorder=4))
        self.axes.set_xticks(range(len(ticks)), ticks, fontsize="small")
        self.axes.set_xlim(-0.6, len(ticks) - 0.4)
        self.axes.yaxis.set_major_locator(AutoLocator())
        every = np.concatenate([np.zeros(0), *self.values.values()])
        if every.size:
            low, high = float(every.min()), float(every.max())
            pad = 0.05 * (high - low) or 0.05 * max(abs(high), 1.0)
            self.axes.set_ylim(low - pad, high + pad)
        self.axes.set_ylabel(f"{metric} [{unit}]" if unit else metric)
        self.axes.set_title(title, fontsize="small")
        self.restyle()

    def point_of(self, method: str, name: str) -> tuple[float, float]:
        """Return the data coordinates of the point of case ``name`` of ``method``."""
        collection = next(c for c in self.axes.collections if c.get_gid() == method)
        return tuple(collection.get_offsets()[self.points[method].index(name)])

    def mark(self, method: str, name: str) -> None:
        """Ring the point of the case that is open in the viewer and write its name beside it.

        Ring and name take the text colour (the median line is crimson: they must not be
        mistaken for each other); the name sits towards the plot's centre.
        """
        for artist in self._marker:
            artist.remove()
        self._marker = ()
        if name in self.points.get(method, ()):
            x, y = self.point_of(method, name)
            color = self.axes.xaxis.label.get_color()
            (ring,) = self.axes.plot([x], [y], "o", ms=11, mfc="none", mec=color, mew=2, zorder=5)
            left = x > sum(self.axes.get_xlim()) / 2
            low = y < sum(self.axes.get_ylim()) / 2
            label = self.axes.annotate(
                name,
                (x, y),
                xytext=(-9 if left else 9, 5 if low else -5),
                textcoords="offset points",
                ha="right" if left else "left",
                va="bottom" if low else "top",
                fontsize="small",
                color=color,
                zorder=5,
            )
            self._marker = (ring, label)
        self.draw_idle()

    def pick(self, event) -> None:
        """Matplotlib pick handler: the clicked point's case goes to :attr:`on_pick`.

        Of several points under the cursor, the nearest one is taken.
        """
        method = event.artist.get_gid()
        if method not in self.points or not len(event.ind) or self.on_pick is None:
            return
        index = np.asarray(event.ind)
        where = event.artist.get_offset_transform().transform(event.artist.get_offsets()[index])
        mouse = np.array([event.mouseevent.x, event.mouseevent.y], float)
        nearest = index[int(np.argmin(np.hypot(*(where - mouse).T)))]
        self.on_pick(method, self.points[method][int(nearest)])
