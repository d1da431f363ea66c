"""Histogram or cumulative distribution of boundary distances, with HDp and the NSD tolerance."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..core.metrics.report import hd_key

PLOT_KINDS = ("histogram", "CDF")
#: most vertices drawn per CDF curve (more only slow matplotlib down)
_CDF_POINTS = 1000


class DistancePlot(FigureCanvasQTAgg):
    """Matplotlib canvas for the dock: boundary distances of one label, both directions."""

    def __init__(self, parent=None, *, style: Callable[[Figure], None] | None = None):
        self.figure = Figure(figsize=(4, 2.6), layout="constrained")
        super().__init__(self.figure)
        self.setParent(parent)
        self.setMinimumHeight(150)
        self.setMinimumWidth(120)
        self.axes = self.figure.add_subplot()
        #: colours the figure (napari's theme); applied after every redraw
        self.style = style
        #: x position of each marker line drawn last, by name (``hd_key(percentile)``, "tolerance")
        self.markers: dict[str, float] = {}
        self.clear_plot("no evaluation yet")

    def clear_plot(self, message: str = "") -> None:
        """Empty the plot, with an optional centred message."""
        self.axes.clear()
        self.markers = {}
        if message:
            self.axes.text(
                0.5, 0.5, message, ha="center", va="center", transform=self.axes.transAxes
            )
        self.axes.set_xticks([])
        self.axes.set_yticks([])
        self.restyle()

    def text_color(self):
        """Colour of text and neutral lines: the theme's once styled (black before)."""
        return getattr(self, "_text_color", "black")

    def restyle(self) -> None:
        """Apply :attr:`style` (the theme) to the figure, its texts and legend, and redraw."""
        if self.style is not None:
            self.style(self.figure)
            color = self._text_color = self.axes.xaxis.label.get_color()
            for text in self.axes.texts:
                text.set_color(color)
            legend = self.axes.get_legend()
            if legend is not None:
                legend.get_frame().set_facecolor(self.axes.get_facecolor())
                legend.get_frame().set_edgecolor(color)
                for text in legend.get_texts():
                    text.set_color(color)
            for line in self.axes.get_lines():
                if line.get_gid() == "tolerance":
                    line.set_color(color)
        self.draw_idle()

    def show_distances(
        self,
        ref_to_pred: np.ndarray,
        pred_to_ref: np.ndarray,
        *,
        hd_value: float,
        percentile: float,
        tolerance: float,
        unit: str,
        kind: str = "histogram",
        title: str = "",
    ) -> None:
        """Plot both directed distance sets and mark HD at ``percentile`` (``hd_value``) and the tolerance.

        Distances and ``tolerance`` are in ``unit`` (mm, or voxels without spacing).
        """
        self.axes.clear()
        sets = {"reference → prediction": ref_to_pred, "prediction → reference": pred_to_ref}
        top = max([float(np.max(d)) for d in sets.values() if d.size] + [tolerance, 1e-9])
        bins = np.linspace(0.0, top * 1.02, 31)
        for name, dist in sets.items():
            if not dist.size:
                continue
            if kind == "CDF":
                x = np.sort(dist)
                y = np.arange(1, x.size + 1) / x.size
                if x.size > _CDF_POINTS:  # the curve's shape needs no more vertices than pixels
                    keep = np.unique(np.linspace(0, x.size - 1, _CDF_POINTS).astype(int))
                    x, y = x[keep], y[keep]
                self.axes.step(x, y, where="post", label=name)
            else:
                self.axes.hist(dist, bins=bins, alpha=0.6, label=name)
        self.markers = {hd_key(percentile): float(hd_value), "tolerance": float(tolerance)}
        hd_text = f"HD{percentile:g} = {hd_value:.3g} {unit}"
        self.axes.axvline(hd_value, color="crimson", ls="--", label=hd_text)
        self.axes.axvline(
            tolerance,
            color=self.text_color(),
            ls=":",
            label=f"NSD tolerance = {tolerance:g} {unit}",
            gid="tolerance",
        )
        self.axes.set_xlabel(f"boundary distance [{unit}]")
        self.axes.set_ylabel("fraction of boundary" if kind == "CDF" else "boundary voxels")
        self.axes.set_title(title, fontsize="small")
        # a fixed place: "best" searches every vertex (a second on large boundaries)
        self.axes.legend(fontsize="x-small", loc="upper right")
        self.restyle()
