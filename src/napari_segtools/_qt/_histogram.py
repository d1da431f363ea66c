"""An intensity histogram (log counts) with the selected range or thresholds drawn on it."""

from __future__ import annotations

import contextlib

import numpy as np
from magicgui.widgets import Container
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..core.threshold import Histogram
from ._common import themed

_PLOT_BINS = 256


class HistogramPlot(Container):
    """A small matplotlib canvas in the dock: log-count histogram, range span, threshold lines.

    The figure follows the viewer's napari theme (also when the theme changes). While the
    histogram is being computed, :meth:`set_message` writes a short note on the empty axes.
    """

    def __init__(self, viewer=None, **kwargs):
        super().__init__(labels=False, **kwargs)
        self.margins = (0, 0, 0, 0)
        self._viewer = viewer
        self.figure = Figure(figsize=(3.0, 1.5), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumSize(160, 110)
        self.canvas.setToolTip(
            "Intensity histogram (log counts) of the voxels the automatic methods use; "
            "the shaded band is the selected range"
        )
        self.axes = self.figure.add_subplot()
        self.native.layout().addWidget(self.canvas)
        self._span = None
        self._lines: list = []
        #: what is drawn now: (low, high) or the threshold values
        self.drawn: tuple[float, ...] = ()
        #: the note shown instead of a histogram ("computing histogram...") or ""
        self.message = ""
        self._style_axes()

    def _style_axes(self) -> None:
        self.axes.set_xlabel("intensity", fontsize=7)
        self.axes.set_ylabel("voxels", fontsize=7)
        self.axes.tick_params(labelsize=6)
        if self._viewer is not None:
            themed(self.figure, self._viewer)

    def retheme(self, *_) -> None:
        """Re-colour the figure with the viewer's current theme."""
        with contextlib.suppress(RuntimeError):  # the canvas is gone with a closed dock
            self._style_axes()
            self.canvas.draw_idle()

    def set_message(self, message: str) -> None:
        """Clear the plot and show ``message`` (e.g. "computing histogram...") in its middle."""
        self.axes.clear()
        self._span, self._lines = None, []
        self.message = message
        self.axes.text(0.5, 0.5, message, ha="center", va="center", transform=self.axes.transAxes)
        self.axes.set_xticks([])
        self.axes.set_yticks([])
        self._style_axes()
        for text in self.axes.texts:
            text.set_color(self.axes.xaxis.label.get_color())
        self.canvas.draw_idle()

    def set_histogram(self, hist: Histogram | None) -> None:
        """Draw ``hist`` summed into at most 256 steps (nothing when None)."""
        self.axes.clear()
        self._span, self._lines = None, []
        self.message = ""
        if hist is not None:
            small = hist.coarsened(_PLOT_BINS)
            width = small.centers[1] - small.centers[0] if len(small.centers) > 1 else 1.0
            edges = np.append(small.centers - width / 2, small.centers[-1] + width / 2)
            # one filled step artist, not 256 bars: drawing stays a few milliseconds
            self.axes.stairs(np.maximum(small.counts, 0.5), edges, fill=True, color="0.55")
            self.axes.set_yscale("log")
            self.axes.set_xlim(edges[0], edges[-1])
        self._style_axes()
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
