"""The evaluation report: per-label metric values, means over labels, warnings and settings."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Report columns, in display order, with the robust Hausdorff at the default 95th percentile
#: (a report at another percentile names that column by :func:`hd_key`: ``hd90``, ``hd99_5``).
#: ``binary_accuracy`` is one label against everything else; the accuracy of the whole label
#: map is ``pixel_accuracy`` in :data:`OVERALL_NAMES`.
METRIC_NAMES = (
    "tp",
    "fp",
    "fn",
    "tn",
    "binary_accuracy",
    "precision",
    "recall",
    "specificity",
    "mcc",
    "fbeta",
    "f1",
    "iou",
    "dice",
    "volume_similarity",
    "reference_volume",
    "prediction_volume",
    "hd",
    "hd95",
    "assd",
    "masd",
    "nsd",
    "boundary_iou",
    "cldice",
    "center_distance",
    "reference_components",
    "prediction_components",
)

#: The pooled (voxel-weighted) summary: confusion counts summed over the labels, then the ratios.
POOLED_NAMES = ("tp", "fp", "fn", "precision", "recall", "iou", "dice")

#: Scores of the whole label map (background and every label id as classes): the ``overall`` row.
OVERALL_NAMES = ("pixel_accuracy", "cohen_kappa")

#: How a report aggregates over labels (``settings["aggregation"]``).
AGGREGATION = {
    "per_label": "one row per label id: that label against everything else",
    "mean": "unweighted mean over the evaluated labels: each label counts once, however large; "
    "undefined (NaN) values are left out and the labels counted are in not_nan_count",
    "pooled": "confusion counts (TP, FP, FN) summed over the evaluated labels, then the ratios: "
    "voxel-weighted, so large structures dominate it",
    "overall": "pixel accuracy and Cohen's kappa of the whole label maps, background and every "
    "label id as classes, whatever `labels` selects",
    "per_component": "not here: evaluate_instances (core.metrics.instances) matches connected "
    "components and scores each",
}


def hd_key(percentile: float) -> str:
    """Name the robust-Hausdorff column after its percentile.

    An integer percentile p gives ``"hd<p>"``; a fractional one writes its decimal point as an
    underscore (a valid identifier and CSV header): 99.5 gives ``"hd99_5"``.

    Parameters
    ----------
    percentile : float
        Percentile in [0, 100].

    Returns
    -------
    str
        The column / key name.

    Examples
    --------
    >>> hd_key(95), hd_key(90.0), hd_key(99.5)
    ('hd95', 'hd90', 'hd99_5')
    """
    text = f"{float(percentile):.6f}".rstrip("0").rstrip(".")
    return "hd" + text.replace(".", "_")


def metric_names(*, hd_percentile: float = 95) -> tuple[str, ...]:
    """Return the report columns, the robust Hausdorff named for ``hd_percentile``.

    Parameters
    ----------
    hd_percentile : float
        Percentile of the robust Hausdorff distance (its column is ``hd_key(hd_percentile)``).

    Returns
    -------
    tuple of str
        :data:`METRIC_NAMES` with ``hd95`` replaced by the percentile's own name.

    Examples
    --------
    >>> metric_names(hd_percentile=90)[16:18]
    ('hd', 'hd90')
    """
    key = hd_key(hd_percentile)
    return tuple(key if name == "hd95" else name for name in METRIC_NAMES)


@dataclass(frozen=True)
class PitfallWarning:
    """One metric pitfall found in a reference/prediction pair.

    ``pitfall`` is a stable key (``"holes"``, ``"misalignment"``, ``"small_structure"``,
    ``"empty_reference"``, ``"empty_prediction"``, ``"anisotropic_spacing"``,
    ``"resolution_mismatch"``, ``"over_segmentation"``, ``"under_segmentation"``,
    ``"component_count"``); ``severity`` is ``"info"``, ``"warning"`` or ``"critical"``.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segtools.metrics import evaluate
    >>> ref = np.zeros((8, 8), np.uint8); ref[2:6, 2:6] = 1
    >>> [w.pitfall for w in evaluate(ref, np.zeros_like(ref), spacing=(1, 1)).warnings]
    ['empty_prediction']
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
        Unit of each metric: ``"mm"``, ``"mm^3"``, ``"voxel"``, ``"voxel^3"`` or ``""``
        (``"voxel"`` when evaluated with ``spacing=None``; ``settings["units_note"]`` says so).
    warnings : tuple of PitfallWarning
        Pitfalls found.
    settings : dict
        Every option used, with the stated surface convention, HD variant and aggregation
        (``settings["aggregation"]``, see :data:`AGGREGATION`).
    metric_names : tuple of str
        The columns of this report, in order: :data:`METRIC_NAMES` with the robust Hausdorff
        named for its percentile (``hd90`` at 90, see :func:`hd_key`).
    pooled : dict[str, float]
        :data:`POOLED_NAMES`: TP, FP, FN summed over the labels and the ratios of those sums
        (voxel-weighted, beside the unweighted ``mean``).
    overall : dict[str, float]
        :data:`OVERALL_NAMES`: pixel accuracy and Cohen's kappa of the whole label maps
        (background included).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segtools.metrics import evaluate
    >>> ref = np.zeros((8, 8), np.uint8); ref[2:6, 2:6] = 1
    >>> report = evaluate(ref, ref, spacing=None)
    >>> report.mean["dice"], report.units["hd"], report.hd_key
    (1.0, 'voxel', 'hd95')
    >>> report.overall
    {'pixel_accuracy': 1.0, 'cohen_kappa': 1.0}
    """

    per_label: dict[int, dict[str, float]]
    mean: dict[str, float]
    not_nan_count: dict[str, int]
    cases: dict[int, str]
    units: dict[str, str]
    warnings: tuple[PitfallWarning, ...] = ()
    settings: dict = field(default_factory=dict)
    metric_names: tuple[str, ...] = METRIC_NAMES
    pooled: dict[str, float] = field(default_factory=dict)
    overall: dict[str, float] = field(default_factory=dict)

    @property
    def hd_key(self) -> str:
        """Key of the robust Hausdorff column (``"hd95"`` at the 95th percentile)."""
        return next(n for n in self.metric_names if n.startswith("hd") and n != "hd")

    @property
    def columns(self) -> tuple[str, ...]:
        """The value columns of :meth:`to_rows`: the metrics, then :data:`OVERALL_NAMES`."""
        return (*self.metric_names, *OVERALL_NAMES)

    def to_rows(self) -> list[dict]:
        """One dict per label, then the ``"mean"``, ``"pooled"`` and ``"overall"`` rows.

        Each row has ``label``, ``case`` (empty on the last three), then its values: every
        metric for a label and for the mean over labels (NaN excluded), :data:`POOLED_NAMES` for
        the pooled row and :data:`OVERALL_NAMES` for the overall row; a row leaves out the
        columns it has no value for.
        """
        rows = [
            {"label": label, "case": self.cases[label], **values}
            for label, values in self.per_label.items()
        ]
        rows.append({"label": "mean", "case": "", **self.mean})
        rows.append({"label": "pooled", "case": "", **self.pooled})
        rows.append({"label": "overall", "case": "", **self.overall})
        return rows

    def to_dict(self, metadata: dict | None = None) -> dict:
        """JSON-ready dict: settings, units, rows, not-NaN counts, warnings, ``metadata``.

        NaN and infinite values become ``None`` (JSON has no NaN).
        """
        return json_safe(
            {
                "metadata": dict(metadata or {}),
                "settings": self.settings,
                "units": self.units,
                "rows": self.to_rows(),
                "not_nan_count": self.not_nan_count,
                "warnings": [asdict(w) for w in self.warnings],
            }
        )

    def to_json(self, path, metadata: dict | None = None) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` and return the path.

        The file is written whole or not at all (see :func:`write_report`); a path that cannot
        be written raises the ``OSError`` subclass that names it and says why.
        """
        text = json.dumps(self.to_dict(metadata), indent=2)
        from ..io import write_text_atomically

        return write_text_atomically(Path(path), text)

    def to_csv(self, path, metadata: dict | None = None) -> Path:
        """Write :meth:`to_rows` as CSV, preceded by ``# key: value`` lines for settings/units.

        Read it back with ``pandas.read_csv(path, comment="#")``. The file is written whole or
        not at all; a path that cannot be written raises the ``OSError`` subclass that names it.
        """
        buffer = io.StringIO(newline="")
        for key, value in {**(metadata or {}), **self.settings}.items():
            buffer.write(f"# {key}: {json.dumps(json_safe(value))}\n")
        buffer.write(f"# units: {json.dumps(self.units)}\n")
        writer = csv.DictWriter(buffer, fieldnames=["label", "case", *self.columns])
        writer.writeheader()
        writer.writerows(self.to_rows())
        from ..io import write_text_atomically

        return write_text_atomically(Path(path), buffer.getvalue())


def write_report(
    report: EvaluationReport, path: str | os.PathLike, *, metadata: dict | None = None
) -> Path:
    """Write ``report`` to ``path``: JSON for a ``.json`` suffix, else CSV.

    ``metadata`` (layer or file names, a grid note) is recorded with the settings; the CSV also
    lists the warnings (label and pitfall) in its header, the JSON holds them in full.

    Parameters
    ----------
    report : EvaluationReport
        What :func:`~napari_segtools.metrics.evaluate` returned.
    path : str or os.PathLike
        File to write; ``.json`` gives JSON, any other suffix CSV.
    metadata : dict, optional
        Extra ``key: value`` pairs recorded with the settings.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError, OSError
        When ``path`` cannot be written (missing folder, a folder, no permission, disk full),
        with the path and the reason; nothing is written then and an existing file is kept.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from napari_segtools.metrics import evaluate
    >>> ref = np.zeros((6, 6), np.uint8); ref[1:4, 1:4] = 1
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report.csv"
    >>> write_report(evaluate(ref, ref, spacing=(1, 1)), out, metadata={"case": "a"}).name
    'report.csv'
    """
    path = Path(path)
    metadata = dict(metadata or {})
    if path.suffix.lower() == ".json":
        return report.to_json(path, metadata=metadata)
    warnings = [f"label {w.label}: {w.pitfall}" for w in report.warnings]
    return report.to_csv(path, metadata={**metadata, "warnings": warnings})


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
