"""The metric pitfalls gallery in the Evaluation panel: each case's lesson and warnings shown."""

from __future__ import annotations

import pytest

from napari_segtools._qt.evaluation_widget import EvaluationWidget
from napari_segtools.core.pitfall_gallery import pitfall_cases

#: a phrase of each warning's text as the lecture notes put the lesson
PHRASES = {
    "small_structure": "whether it was found matters more than its overlap",
    "boundary_error": "the interior swamps the outline",
    "component_count": "a large one dominates it",
    "thin_structure": "misses part of the reference's centreline",
    "misalignment": "poor proxies for where a structure lies",
    "holes": "distance metrics of the outline do not see a hole",
    "empty_reference": "not 0 or 1",
    "empty_prediction": "a mean that skips NaN hides the miss",
    "resolution_mismatch": "resampling alone changes the metrics",
    "anisotropic_spacing": "depend strongly on the direction of the error",
    "under_segmentation": "punishes under-segmentation more",
    "over_segmentation": "favours over-segmentation",
}


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


def _run(widget, qtbot):
    """Press Evaluate and wait until the worker has delivered its result and stopped."""
    widget.result = None
    widget.controls.run_button.changed.emit(True)
    worker = widget.worker
    assert worker is not None, widget.status.value
    qtbot.waitUntil(
        lambda: widget.result is not None or widget.controls.last_error is not None, timeout=20000
    )
    qtbot.waitUntil(lambda: not worker.is_running and not widget.drawing, timeout=5000)
    assert widget.controls.last_error is None
    return widget.result


def test_each_case_shows_its_lesson_and_the_warnings_it_teaches(viewer, qtbot):
    cases = pitfall_cases()
    viewer.open_sample("napari-segtools", "metric_pitfalls")  # through the manifest
    assert len(viewer.layers) == 2 * len(cases)
    widget = EvaluationWidget(viewer)
    widget.show_overlays.value = False  # the table and warnings only: no new layers to draw
    picker = widget.picker
    assert picker.present and picker.shown == cases[0].name
    for case in cases:
        picker.case.value = case.name
        visible = {layer.metadata["pitfall_case"] for layer in viewer.layers if layer.visible}
        assert visible == {case.name}
        assert picker.title.value == case.title == viewer.canvas.overlays["text"].text
        assert picker.lesson.value == case.lesson
        assert widget.reference.value.name == f"{case.name} reference"
        assert widget.prediction.value.name == f"{case.name} prediction"
        result = _run(widget, qtbot)
        shown = [widget.warnings.item(i).text() for i in range(widget.warnings.count())]
        for key in case.pitfalls:
            lines = [text for text in shown if f"{key}:" in text]
            assert lines, (case.name, key, shown)
            assert any(PHRASES[key] in text for text in lines), (case.name, key, lines)
        # the panel's own numbers are the ones the lesson prints
        if case.name == "over vs under":
            dice = result.report.per_label
            assert f"{dice[2]['dice']:.3f} against {dice[1]['dice']:.3f}" in case.lesson
            over = next(text for text in shown if "over_segmentation:" in text)
            assert "Look at: precision vs recall, F-beta with beta 0.5" in over
        if case.name == "holes":
            assert f"Dice ({result.report.per_label[1]['dice']:.2f})" in picker.lesson.value
