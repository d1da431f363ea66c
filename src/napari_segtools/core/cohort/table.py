"""Per-case metric tables, as ``napari-segtools evaluate`` writes them, read for cohort statistics.

A table has one row per case and label (and method, for a multi-method run): the columns
``name`` (the case), ``label``, an optional ``method``, one column per metric and ``error``.
The summary rows the evaluate verb adds (``mean over cases``, and per case the ``mean`` over
labels, the ``pooled`` and the ``overall`` rows) are left out, and so are columns with no value
in any case row (the whole-map scores of the ``overall`` row); failed cases are kept aside in
:attr:`CohortTable.failed`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import numbers
import os
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

#: columns that are never metrics
_TEXT_COLUMNS = ("method", "name", "label", "case", "error")
_REQUIRED = ("name", "label")
#: summary rows written by ``napari-segtools evaluate``: the mean over cases, and per case the
#: mean over labels, the pooled (voxel-weighted) row and the whole-label-map ("overall") row
_MEAN_OVER_CASES = "mean over cases"
_SUMMARY_LABELS = ("mean", "pooled", "overall")

#: metrics where a larger value is a better segmentation
_HIGHER = frozenset(
    {
        "accuracy",
        "binary_accuracy",
        "boundary_iou",
        "cldice",
        "cohen_kappa",
        "dice",
        "f1",
        "fbeta",
        "iou",
        "jaccard",
        "mcc",
        "nsd",
        "pixel_accuracy",
        "pq",
        "precision",
        "recall",
        "rq",
        "sensitivity",
        "specificity",
        "sq",
        "volume_similarity",
    }
)
#: metrics where a smaller value is a better segmentation
_LOWER = frozenset(
    {
        "absolute_volume_error",
        "assd",
        "center_distance",
        "hd",
        "masd",
        "volume_error",
    }
)
_ROBUST_HD = re.compile(r"^hd\d+(_\d+)?$")  # hd95, hd90, hd99_5 (see metrics.hd_key)
#: the most bootstrap resamples or permutations a cohort statistic accepts: beyond it the
#: Monte Carlo error is negligible and the run would only cost time and memory
MAX_RESAMPLES = 100_000


class TableNotFoundError(FileNotFoundError, ValueError):
    """A ``table`` path that is no file: a ``FileNotFoundError`` and a bad-argument ``ValueError``."""


def higher_is_better(metric: str) -> bool:
    """Say whether a larger value of ``metric`` means a better segmentation.

    Parameters
    ----------
    metric : str
        A metric column name: overlap scores (``dice``, ``iou``, ``nsd``, ``cldice``,
        ``recall``, ...) are better high; distances (``hd``, ``hd95``, ``assd``, ``masd``,
        ``center_distance``) and volume errors are better low.

    Returns
    -------
    bool
        True when higher is better, False when lower is better.

    Raises
    ------
    ValueError
        For a column with no direction (voxel counts such as ``tp`` or ``fp``, volumes,
        an unknown name).

    Examples
    --------
    >>> higher_is_better("dice"), higher_is_better("hd95"), higher_is_better("hd99_5")
    (True, False, False)
    """
    if not isinstance(metric, str):
        raise TypeError(f"`metric` must be a metric column name (str); got {metric!r:.80}")
    if metric in _HIGHER:
        return True
    if metric in _LOWER or _ROBUST_HD.match(metric):
        return False
    raise ValueError(
        f"`metric` {metric!r} has no known direction (better high or low); rank or compare "
        f"a quality metric: {', '.join(sorted(_HIGHER | _LOWER))}, or hd<percentile>"
    )


@dataclass(frozen=True)
class CohortTable:
    """Per-case metric values of one or more methods, ready for cohort statistics.

    Attributes
    ----------
    rows : tuple of dict
        One per case x label (x method): ``"method"`` (str, ``""`` when the table has no
        method column), ``"name"`` (the case), ``"label"`` (int), each metric as a float
        (NaN where the value is empty or undefined: the evaluation's empty-mask policy, see
        ``settings["empty_policy"]``; infinite values are read as NaN too), ``"error"``, and
        any other column (file paths, the ``case`` empty-mask status) as str.
    metrics : tuple of str
        The numeric metric columns, in table order.
    methods : tuple of str
        Sorted distinct methods (``("",)`` when the table has no method column).
    settings : dict
        The ``# key: value`` header lines of the CSV (values parsed as JSON where they are).
    failed : tuple of dict
        Cases whose evaluation failed (``method``, ``name``, ``error``); they have no values
        and are not counted anywhere.

    Examples
    --------
    >>> table = read_cohort_table([
    ...     {"name": "a", "label": 1, "dice": 0.9}, {"name": "b", "label": 1, "dice": ""}])
    >>> table.metrics, table.methods, table.cases(label=1)["b"]["dice"]
    (('dice',), ('',), nan)
    """

    rows: tuple[dict, ...]
    metrics: tuple[str, ...]
    methods: tuple[str, ...]
    settings: dict = field(default_factory=dict)
    failed: tuple[dict, ...] = ()

    @property
    def labels(self) -> tuple[int, ...]:
        """Sorted distinct label ids."""
        return tuple(sorted({row["label"] for row in self.rows}))

    def cases(self, method: str = "", label: int | None = None) -> dict[str, dict]:
        """Rows of one method and label, keyed by case name.

        ``label`` may be left out only when the method has a single label.
        """
        check_name(method, "method", self.methods, "method")
        rows = [row for row in self.rows if row["method"] == method]
        labels = sorted({row["label"] for row in rows})
        if label is None:
            if len(labels) > 1:
                raise ValueError(f"`label` is required: method {method!r} has labels {labels}")
        elif label not in labels:
            raise ValueError(f"`label` {label!r} is not in the table; its labels are {labels}")
        return {row["name"]: row for row in rows if label is None or row["label"] == label}

    def values(self, metric: str, method: str, label: int) -> dict[str, float]:
        """Case name -> value of ``metric`` for one method and label (empty when it has none)."""
        return {
            row["name"]: row[metric]
            for row in self.rows
            if row["method"] == method and row["label"] == label
        }


#: What every cohort function takes as ``table``: a CSV path, row mappings, a pandas DataFrame
#: (duck-typed: pandas is not a dependency) or a :class:`CohortTable` already read.
TableInput: TypeAlias = str | os.PathLike | Sequence[Mapping[str, Any]] | CohortTable | Any


def read_cohort_table(table: TableInput) -> CohortTable:
    """Read a per-case metric table: a CSV path, a sequence of row mappings or a DataFrame.

    Parameters
    ----------
    table : str, os.PathLike, sequence of Mapping, pandas.DataFrame or CohortTable
        The CSV that ``napari-segtools evaluate`` writes (``# key: value`` settings lines,
        then ``name,label,case,<metrics>,error``; a ``method`` column for several methods),
        or the same rows in memory. A DataFrame's ``attrs`` become the settings.

    Returns
    -------
    CohortTable
        The case rows: the ``mean over cases`` rows and the per-case ``mean``, ``pooled`` and
        ``overall`` rows are left out, failed cases set aside.

    Raises
    ------
    FileNotFoundError
        When the path does not exist (a :class:`TableNotFoundError`, also a ``ValueError``).
    TypeError
        When ``table`` is none of the accepted kinds.
    ValueError
        When a required column (``name``, ``label``) is missing, a label is not an integer,
        or a case appears twice for the same method and label.

    Examples
    --------
    >>> rows = [{"method": m, "name": c, "label": 1, "dice": d}
    ...         for m, c, d in [("unet", "a", 0.9), ("unet", "b", 0.8), ("atlas", "a", 0.7)]]
    >>> table = read_cohort_table(rows)
    >>> table.methods, sorted(table.cases("unet", 1))
    (('atlas', 'unet'), ['a', 'b'])
    """
    if isinstance(table, CohortTable):
        return table
    settings: dict = {}
    if isinstance(table, (str, os.PathLike)):
        settings, raw = _read_csv(Path(table))
    elif hasattr(table, "to_dict") and hasattr(table, "columns"):  # a pandas DataFrame
        raw = table.to_dict(orient="records")
        settings = dict(getattr(table, "attrs", {}) or {})
    elif isinstance(table, (list, tuple)) and all(isinstance(r, Mapping) for r in table):
        raw = [dict(r) for r in table]
    else:
        raise TypeError(
            "`table` must be a CSV path, a sequence of row mappings or a pandas DataFrame; "
            f"got {type(table).__name__}"
        )
    return _build(raw, settings)


def check_name(value, name: str, available: Sequence[str], kind: str) -> str:
    """Return ``value`` if it is one of the table's ``available`` names, else a clear error."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a {kind} name (str); got {value!r:.80}")
    if value not in available:
        raise ValueError(
            f"`{name}` {value!r} is not in the table; its {kind}s are "
            f"{', '.join(repr(a) for a in available) or 'none'}"
        )
    return value


def check_subset(chosen, available: Sequence, name: str, kind: str) -> tuple:
    """Return ``chosen`` (one or several of ``available``) as a tuple; None means all."""
    if chosen is None:
        return tuple(available)
    if isinstance(chosen, (str, numbers.Integral)):
        chosen = (chosen,)
    try:
        chosen = tuple(chosen)
    except TypeError:
        raise TypeError(f"`{name}` must be a tuple of {kind}s; got {chosen!r:.80}") from None
    unknown = [c for c in chosen if not isinstance(c, Hashable) or c not in available]
    if unknown:
        raise ValueError(
            f"`{name}` {unknown!r:.200} not in the table; its {kind}s are "
            f"{', '.join(map(str, available)) or 'none'}"
        )
    return chosen


def _read_csv(path: Path) -> tuple[dict, list[dict]]:
    """Return the ``# key: value`` settings and the data rows of a CSV file."""
    if not path.is_file():
        raise TableNotFoundError(f"`table` {path} does not exist or is not a file")
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    header = list(itertools.takewhile(lambda line: line.startswith("#"), lines))
    settings = {}
    for line in header:
        key, sep, value = line[1:].strip().partition(":")
        if sep:
            settings[key.strip()] = _json_or_text(value.strip())
    reader = csv.DictReader(io.StringIO("".join(lines[len(header) :]), newline=""))
    return settings, [dict(row) for row in reader]


def _json_or_text(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _is_empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value) -> float | None:
    """``value`` as a float (NaN for empty or non-finite), or None when it is not a number."""
    if _is_empty(value):
        return math.nan
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else math.nan


def _is_metric(cells: list) -> bool:
    """Say whether a column holds a metric: numbers or empty cells, one defined at least."""
    numbers = [_number(cell) for cell in cells]
    return all(x is not None for x in numbers) and any(
        x is not None and math.isfinite(x) for x in numbers
    )


def _label(value, where: str) -> int:
    number = _number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        raise ValueError(f"`table` {where}: label must be an integer id; got {value!r}")
    return int(number)


def _build(raw: list[dict], settings: dict) -> CohortTable:
    columns = list(dict.fromkeys(key for row in raw for key in row))
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise ValueError(
            f"`table` lacks the column(s) {', '.join(missing)}; it has {', '.join(columns)}"
        )
    kept, failed = [], []
    for i, row in enumerate(raw):
        name = "" if _is_empty(row.get("name")) else str(row["name"]).strip()
        label = row.get("label")
        method = "" if _is_empty(row.get("method")) else str(row["method"]).strip()
        error = "" if _is_empty(row.get("error")) else str(row["error"])
        if name == _MEAN_OVER_CASES or str(label).strip() in _SUMMARY_LABELS:
            continue
        if _is_empty(label) or (isinstance(label, float) and math.isnan(label)):
            if not error:
                raise ValueError(f"`table` row {i + 1} (case {name!r}) has no label and no error")
            failed.append({"method": method, "name": name, "error": error})
            continue
        kept.append((i, row, method, name, _label(label, f"row {i + 1}"), error))
    candidates = [c for c in columns if c not in _TEXT_COLUMNS]
    metrics = tuple(c for c in candidates if _is_metric([r.get(c) for _, r, *_ in kept]))
    rows: list[dict] = []
    seen: set[tuple] = set()
    for i, row, method, name, label, error in kept:
        key = (method, name, label)
        if key in seen:
            raise ValueError(
                f"`table` row {i + 1}: case {name!r} label {label}"
                + (f" method {method!r}" if method else "")
                + " appears twice"
            )
        seen.add(key)
        values: dict = {c: _number(row.get(c)) for c in metrics}
        text = {
            c: "" if _is_empty(row.get(c)) else str(row[c])
            for c in columns
            if c not in metrics and c not in _TEXT_COLUMNS
        }
        case = {"case": str(row.get("case") or "")} if "case" in columns else {}
        rows.append(
            {"method": method, "name": name, "label": label, **case, **values, "error": error}
            | text
        )
    methods = tuple(sorted({row["method"] for row in rows})) or ("",)
    return CohortTable(tuple(rows), metrics, methods, settings, tuple(failed))


def write_rows_csv(
    path: str | os.PathLike, rows, settings: dict, columns: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` as CSV after ``# key: json`` settings lines, whole or not at all.

    NaN and infinite numbers become empty cells in the settings' JSON (``null``) and ``nan`` in
    the rows, as the evaluate verb writes them.
    """
    from ..io import write_text_atomically
    from ..metrics.report import json_safe

    columns = list(columns or dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO(newline="")
    for key, value in settings.items():
        buffer.write(f"# {key}: {json.dumps(json_safe(value))}\n")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomically(Path(path), buffer.getvalue())


def software() -> str:
    """Return the ``software`` setting recorded in every written table."""
    from napari_segtools import __version__

    return f"napari-segtools {__version__}"
