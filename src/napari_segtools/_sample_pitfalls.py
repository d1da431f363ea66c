"""npe2 sample data "Metric pitfalls": the gallery's pairs as Labels layers, one case shown.

Each case becomes ``"<case> reference"`` (gold) and ``"<case> prediction"`` (cyan, on top;
where both overlap the colours blend). Where a case compares predictions, each is its own label,
named on hover ("prediction: prediction 2: shifted"). The cases sit on disjoint tiles in
physical space (mm); only the first case is visible. The Evaluation panel's case picker shows
one case at a time, centred, with its title and lesson. Every layer declares its grid in mm
(``metadata["spacing_unit"]``), so no "scale 1" note is raised for it.
"""

from __future__ import annotations

import numpy as np

from ._layer_style import label_features
from .core.metrics.maps import present_labels
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
#: metadata keys naming a gallery layer's case and role ("reference" or "prediction")
CASE_KEY = "pitfall_case"
ROLE_KEY = "pitfall_role"


def _extent(case: PitfallCase) -> np.ndarray:
    return np.asarray(case.reference.shape) * np.asarray(case.reference_spacing)


def _names(case: PitfallCase, data: np.ndarray, role: str) -> dict[int, str]:
    """Hover name of each label of one layer: its role, and what the label stands for."""
    return {
        int(v): f"{role}: {case.label_names[v]}" if v in case.label_names else role
        for v in present_labels(data)
    }


def metric_pitfalls() -> list[tuple]:
    """Layer data tuples of every pitfall case, reference then prediction for each."""
    cases = pitfall_cases()
    cell = np.max([_extent(c) for c in cases], axis=0) + _GAP_MM
    layers = []
    for i, case in enumerate(cases):
        origin = np.array(divmod(i, _COLUMNS), float) * cell
        for role, data, spacing, offset in (
            ("reference", case.reference, case.reference_spacing, np.zeros(2)),
            ("prediction", case.prediction, case.prediction_spacing, case.prediction_offset),
        ):
            meta = {
                "pitfalls": list(case.pitfalls),
                "lesson": case.lesson,
                "title": case.title,
                CASE_KEY: case.name,
                ROLE_KEY: role,
                "spacing_unit": "mm",  # the grid is declared in mm: no "scale 1" note
            }
            kwargs = {
                "name": f"{case.name} {role}",
                "scale": spacing,
                "translate": tuple(origin + np.asarray(offset)),
                "metadata": meta,
                "colormap": _COLOURS[role],
                "features": label_features(_names(case, data, role)),
                "visible": i == 0,
            }
            if role == "prediction":
                kwargs["opacity"] = 0.5
            layers.append((data, kwargs, "labels"))
    return layers
