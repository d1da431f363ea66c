"""Cohort view: a 3-method cohort CSV from the CLI, its plot and summary, a case opened by a click."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import cbook
from matplotlib.backend_bases import MouseEvent
from napari.layers import Image, Labels
from tests.core.test_cli_cohort import (
    CASES,
    GEO,
    METHODS,
    image,
    prediction,
    reference,
    write_cohort,
)

from napari_segtools import metrics as M
from napari_segtools._cli import main
from napari_segtools._qt._cohort_plot import box_segments
from napari_segtools._qt.cohort_widget import SUMMARY_COLUMNS, CohortWidget
from napari_segtools.core.cohort.summary import summarize
from napari_segtools.core.cohort.table import read_cohort_table


@pytest.fixture
def cohort(tmp_path):
    """Three methods' folders, references and images, evaluated by the CLI into cases.csv."""
    out = tmp_path / "cases.csv"
    assert main([*write_cohort(tmp_path), "--out", str(out), "--workers", "1"]) == 0
    return out


def expected(metric: str, label: int) -> dict[str, dict[str, float]]:
    """Method -> case -> value, straight from the metrics (the CSV's truth)."""
    return {
        method: {
            case: M.evaluate(
                reference(), prediction(k, i), spacing=GEO.spacing, cldice=False
            ).per_label[label][metric]
            for i, case in enumerate(CASES)
        }
        for k, method in enumerate(METHODS)
    }


def loaded(widget, qtbot, path) -> CohortWidget:
    widget.load(path)
    qtbot.waitUntil(lambda: widget.table is not None, timeout=20_000)
    summarized(widget, qtbot)
    return widget


def summarized(widget, qtbot) -> None:
    """Wait for the worker summarising the chosen metric."""
    qtbot.waitUntil(lambda: widget.summaries.get(widget.metric.value) is not None, timeout=20_000)


def click(widget, method: str, case: str) -> None:
    """Press the mouse on the case's point: matplotlib's pick event reaches the widget."""
    canvas = widget.plot
    canvas.draw()
    x, y = canvas.axes.transData.transform(canvas.point_of(method, case))
    canvas.callbacks.process(
        "button_press_event", MouseEvent("button_press_event", canvas, x, y, 1)
    )


def table_cells(widget) -> list[dict[str, str]]:
    table = widget.summary_table
    return [
        {c: table.item(r, i).text() for i, c in enumerate(SUMMARY_COLUMNS)}
        for r in range(table.rowCount())
    ]


def test_cohort_plot_summary_and_a_clicked_case(make_napari_viewer, qtbot, cohort):
    viewer = make_napari_viewer()
    widget = loaded(CohortWidget(viewer), qtbot, cohort)
    assert widget.metric.value == "dice" and widget.label_id.value == 1
    assert list(widget.plot.points) == list(METHODS)
    truth = expected("dice", 1)
    for method in METHODS:
        names = widget.plot.points[method]
        assert sorted(names) == list(CASES)
        values = dict(zip(names, widget.plot.values[method], strict=True))
        assert values == pytest.approx(truth[method])
    summary = summarize(read_cohort_table(cohort), metrics=("dice",), seed=0)
    rows = table_cells(widget)
    assert [r["method"] for r in rows] == list(METHODS)
    for cells in rows:
        ref = next(
            s
            for s in summary.rows
            if (s["method"], s["label"], s["metric"]) == (cells["method"], 1, "dice")
        )
        assert cells["n"] == "4"
        # the table shows 4 significant digits: at most 5e-4 off
        assert float(cells["mean"]) == pytest.approx(ref["mean"], rel=5e-4)
        assert float(cells["mean"]) == pytest.approx(
            np.mean(list(truth[cells["method"]].values())), rel=5e-4
        )
        assert float(cells["median"]) == pytest.approx(ref["median"], rel=5e-4)

    # another metric and label: the plot and the table follow
    widget.label_id.value = 2
    widget.metric.value = "hd95"
    summarized(widget, qtbot)
    truth = expected("hd95", 2)
    values = dict(zip(widget.plot.points["atlas"], widget.plot.values["atlas"], strict=True))
    assert values == pytest.approx(truth["atlas"])
    assert widget.plot.axes.get_ylabel() == "hd95 [mm]"  # the CLI's distances are in mm
    widget.methods.value = ["threshold", "unet"]
    assert list(widget.plot.points) == ["unet", "threshold"]
    assert [r["method"] for r in table_cells(widget)] == ["unet", "threshold"]

    # a click on a point opens that case: image, reference and prediction, in millimetres
    click(widget, "threshold", "c1")
    qtbot.waitUntil(lambda: widget.opened == ("threshold", "c1"), timeout=20_000)
    layers = {layer.name: layer for layer in viewer.layers}
    assert set(layers) == {"c1 image", "c1 reference", "c1 threshold"}
    assert isinstance(layers["c1 image"], Image)
    assert isinstance(layers["c1 reference"], Labels)
    assert isinstance(layers["c1 threshold"], Labels)
    np.testing.assert_array_equal(layers["c1 image"].data, image(1))
    np.testing.assert_array_equal(layers["c1 reference"].data, reference())
    np.testing.assert_array_equal(layers["c1 threshold"].data, prediction(2, 1))
    for layer in layers.values():
        np.testing.assert_allclose(layer.scale, GEO.spacing)
        np.testing.assert_allclose(layer.translate, GEO.origin)

    # the next case replaces the first; the user's own layers stay
    viewer.add_points(name="mine")
    widget.open_case("unet", "c3")
    qtbot.waitUntil(lambda: widget.opened == ("unet", "c3"), timeout=20_000)
    assert [layer.name for layer in viewer.layers] == [
        "mine",
        "c3 image",
        "c3 unet",
        "c3 reference",  # its outline on top
    ]
    np.testing.assert_array_equal(viewer.layers["c3 unet"].data, prediction(0, 3))

    # a new CSV: nothing of the old one is left (plot, table, opened case)
    widget.load(cohort.with_name("missing.csv"))
    qtbot.waitUntil(lambda: widget.status.problem is not None, timeout=20_000)
    assert [layer.name for layer in viewer.layers] == ["mine"]
    assert widget.table is None and widget.plot.points == {}
    assert widget.summary_table.rowCount() == 0


def test_three_methods_by_a_hundred_cases_draw_matplotlibs_boxes(
    make_napari_viewer, qtbot, tmp_path
):
    rng = np.random.default_rng(0)
    lines = ["method,name,label,dice,error"]
    for method in ("a", "b", "c"):
        lines += [f"{method},case{i:03d},1,{rng.uniform(0.5, 1):.4f}," for i in range(100)]
    path = tmp_path / "cases.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    widget = loaded(CohortWidget(make_napari_viewer()), qtbot, path)
    assert [len(widget.plot.points[m]) for m in "abc"] == [100, 100, 100]
    # the hand-drawn boxes are matplotlib's: quartiles, 1.5 IQR whiskers, median
    values = np.append(widget.plot.values["a"], [-3.0, 4.0])  # with two far outliers
    stats = cbook.boxplot_stats(values, whis=1.5)[0]
    box, median = box_segments(0, values)
    assert box[0][0][1] == pytest.approx(stats["q1"]) and box[0][2][1] == pytest.approx(
        stats["q3"]
    )
    assert box[1][1][1] == stats["whislo"] and box[2][1][1] == stats["whishi"]
    assert median[0][1] == pytest.approx(stats["med"])
    widget.methods.value = ["a", "b"]
    assert sorted(widget.plot.points) == ["a", "b"]
    widget.methods.value = ["a", "b", "c"]
    assert [len(widget.plot.points[m]) for m in "abc"] == [100, 100, 100]
