"""Histogram or cumulative distribution of boundary distances, with HDp and the NSD tolerance."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from ..core.metrics.report import hd_key

PLOT_KINDS = ("histogram", "CDF")


class DistancePlot(FigureCanvasQTAgg):
    """Matplotlib canvas for the dock: boundary distances of one label, both directions."""

    def __init__(self, parent=None):
        self.figure = Figure(figsize=(4, 2.6), layout="constrained")
        super().__init__(self.figure)
        self.setParent(parent)
        self.setMinimumHeight(200)
        self.axes = self.figure.add_subplot()
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
                self.axes.step(x, np.arange(1, x.size + 1) / x.size, where="post", label=name)
            else:
                self.axes.hist(dist, bins=bins, alpha=0.6, label=name)
        self.markers = {hd_key(percentile): float(hd_value), "tolerance": float(tolerance)}
        hd_text = f"HD{percentile:g} = {hd_value:.3g} {unit}"
        self.axes.axvline(hd_value, color="crimson", ls="--", label=hd_text)
        self.axes.axvline(
            tolerance, color="black", ls=":", label=f"NSD tolerance = {tolerance:g} {unit}"
        )
        self.axes.set_xlabel(f"boundary distance [{unit}]")
        self.axes.set_ylabel("fraction of boundary" if kind == "CDF" else "boundary voxels")
        self.axes.set_title(title, fontsize="small")
        self.axes.legend(fontsize="x-small")
        self.draw_idle()
