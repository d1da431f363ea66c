"""The evaluation report: per-label metric values, means over labels, warnings and settings."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Report columns, in display order.
METRIC_NAMES = (
    "tp", "fp", "fn", "tn", "accuracy", "precision", "recall", "specificity", "fbeta", "f1",
    "iou", "dice", "volume_similarity", "reference_volume", "prediction_volume",
    "hd", "hd95", "assd", "masd", "nsd", "cldice", "center_distance",
    "reference_components", "prediction_components",
)  # fmt: skip


@dataclass(frozen=True)
class PitfallWarning:
    """One metric pitfall found in a reference/prediction pair.

    ``pitfall`` is a stable key (``"holes"``, ``"misalignment"``, ``"small_structure"``,
    ``"empty_reference"``, ``"empty_prediction"``, ``"anisotropic_spacing"``,
    ``"resolution_mismatch"``, ``"over_segmentation"``, ``"under_segmentation"``,
    ``"component_count"``); ``severity`` is ``"info"``, ``"warning"`` or ``"critical"``.
    """

    label: int | None
    pitfall: str
    severity: str
    message: str
    look_at: str


@dataclass(frozen=True)
class EvaluationReport:
    """Result of :func:`napari_segtools.metrics.evaluate`.

    Attributes
    ----------
    per_label : dict[int, dict[str, float]]
        Metric name -> value for each evaluated label id.
    mean : dict[str, float]
        Mean over labels of each metric, undefined (NaN) values excluded.
    not_nan_count : dict[str, int]
        Number of labels that contributed to each mean.
    cases : dict[int, str]
        ``"both_empty"``, ``"reference_empty"``, ``"prediction_empty"`` or ``"ok"`` per label.
    units : dict[str, str]
        Unit of each metric: ``"mm"``, ``"mm^3"``, ``"voxels"``, ``"voxels^3"`` or ``""``.
    warnings : tuple of PitfallWarning
    settings : dict
        Every option used, with the stated surface convention.
    """

    per_label: dict[int, dict[str, float]]
    mean: dict[str, float]
    not_nan_count: dict[str, int]
    cases: dict[int, str]
    units: dict[str, str]
    warnings: tuple[PitfallWarning, ...] = ()
    settings: dict = field(default_factory=dict)

    def to_rows(self) -> list[dict]:
        """One dict per label plus a ``"mean"`` row: ``label``, ``case``, then every metric.

        The mean row's ``case`` is empty; its values are the means over labels (NaN excluded).
        """
        rows = [
            {"label": label, "case": self.cases[label], **values}
            for label, values in self.per_label.items()
        ]
        rows.append({"label": "mean", "case": "", **self.mean})
        return rows

    def to_dict(self, metadata: dict | None = None) -> dict:
        """JSON-ready dict: settings, units, rows, not-NaN counts, warnings, ``metadata``.

        NaN and infinite values become ``None`` (JSON has no NaN).
        """
        return json_safe({
            "metadata": dict(metadata or {}),
            "settings": self.settings,
            "units": self.units,
            "rows": self.to_rows(),
            "not_nan_count": self.not_nan_count,
            "warnings": [asdict(w) for w in self.warnings],
        })  # fmt: skip

    def to_json(self, path, metadata: dict | None = None) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(metadata), indent=2))
        return path

    def to_csv(self, path, metadata: dict | None = None) -> Path:
        """Write :meth:`to_rows` as CSV, preceded by ``# key: value`` lines for settings/units.

        Read it back with ``pandas.read_csv(path, comment="#")``.
        """
        path = Path(path)
        with path.open("w", newline="") as fh:
            for key, value in {**(metadata or {}), **self.settings}.items():
                fh.write(f"# {key}: {json.dumps(json_safe(value))}\n")
            fh.write(f"# units: {json.dumps(self.units)}\n")
            writer = csv.DictWriter(fh, fieldnames=["label", "case", *METRIC_NAMES])
            writer.writeheader()
            writer.writerows(self.to_rows())
        return path


def json_safe(value):
    """Replace NaN/inf by None and numpy scalars/tuples by plain Python values, recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
