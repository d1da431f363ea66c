"""npe2 sample data "Metric pitfalls": the gallery's pairs as Labels layers laid out on a grid.

Each case becomes ``"<case> reference"`` (gold) and ``"<case> prediction"`` (cyan, on top;
where both overlap the colours blend). The cases sit side by side in physical space (mm), so
all are visible at once. Pick a reference in the Evaluation widget and its prediction is paired
by name.
"""

from __future__ import annotations

import numpy as np

from .core.pitfall_gallery import PitfallCase, pitfall_cases

#: cases per row of the layout
_COLUMNS = 4
#: empty space between cases (mm)
_GAP_MM = 8.0
#: one colour per layer role, whatever the label id (0 stays transparent)
_COLOURS = {
    "reference": {None: "#ffcc00", 0: "transparent"},
    "prediction": {None: "#00ccff", 0: "transparent"},
}


def _extent(case: PitfallCase) -> np.ndarray:
    return np.asarray(case.reference.shape) * np.asarray(case.reference_spacing)


def metric_pitfalls() -> list[tuple]:
    """Layer data tuples of every pitfall case, reference then prediction for each."""
    cases = pitfall_cases()
    cell = np.max([_extent(c) for c in cases], axis=0) + _GAP_MM
    layers = []
    for i, case in enumerate(cases):
        origin = np.array(divmod(i, _COLUMNS), float) * cell
        meta = {"pitfall": case.pitfall, "lesson": case.lesson}
        layers.append(
            (
                case.reference,
                {
                    "name": f"{case.name} reference",
                    "scale": case.reference_spacing,
                    "translate": tuple(origin),
                    "metadata": meta,
                    "colormap": _COLOURS["reference"],
                },
                "labels",
            )
        )
        layers.append(
            (
                case.prediction,
                {
                    "name": f"{case.name} prediction",
                    "scale": case.prediction_spacing,
                    "translate": tuple(origin + case.prediction_offset),
                    "metadata": meta,
                    "colormap": _COLOURS["prediction"],
                    "opacity": 0.5,
                },
                "labels",
            )
        )
    return layers
