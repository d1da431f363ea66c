"""An intensity histogram (log counts) with the selected range or thresholds drawn on it."""

from __future__ import annotations

from magicgui.widgets import Container
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..core.threshold import Histogram

_PLOT_BINS = 256


class HistogramPlot(Container):
    """A small matplotlib canvas in the dock: log-count histogram, range span, threshold lines."""

    def __init__(self, **kwargs):
        super().__init__(labels=False, **kwargs)
        self.figure = Figure(figsize=(3.2, 1.6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(120)
        self.canvas.setToolTip(
            "Intensity histogram (log counts); the shaded band is the selected range"
        )
        self.axes = self.figure.add_subplot()
        self.native.layout().addWidget(self.canvas)
        self._span = None
        self._lines: list = []
        #: what is drawn now: (low, high) or the threshold values
        self.drawn: tuple[float, ...] = ()

    def set_histogram(self, hist: Histogram | None) -> None:
        """Draw ``hist`` summed into at most 256 bars (nothing when None)."""
        self.axes.clear()
        self._span, self._lines = None, []
        if hist is not None:
            small = hist.coarsened(_PLOT_BINS)
            width = small.centers[1] - small.centers[0] if len(small.centers) > 1 else 1.0
            self.axes.bar(small.centers, small.counts, width=width, color="0.45", log=True)
            self.axes.set_xlim(small.centers[0] - width / 2, small.centers[-1] + width / 2)
        self.axes.set_xlabel("intensity", fontsize=7)
        self.axes.set_ylabel("voxels", fontsize=7)
        self.axes.tick_params(labelsize=6)
        self.canvas.draw_idle()

    def set_range(self, low: float, high: float, thresholds=()) -> None:
        """Shade ``[low, high]``, or draw vertical lines at ``thresholds`` when given."""
        if self._span is not None:
            self._span.remove()
            self._span = None
        for line in self._lines:
            line.remove()
        self._lines = [self.axes.axvline(t, color="tab:red", lw=1) for t in thresholds]
        if not len(thresholds):
            self._span = self.axes.axvspan(low, high, color="tab:cyan", alpha=0.35)
        self.drawn = tuple(float(t) for t in thresholds) or (float(low), float(high))
        self.canvas.draw_idle()
