"""The public dialect of ``napari_segtools.metrics``: real functions, keyword-only options."""

import inspect

import numpy as np
import pytest

from napari_segtools import metrics as M
from napari_segtools.core.metrics import maps, workflow
from napari_segtools.core.pitfall_gallery import disk

FUNCTIONS = [getattr(M, name) for name in M.__all__ if inspect.isfunction(getattr(M, name))]
DISTANCE = {
    "evaluate",
    "iter_evaluate",
    "compute_surface_distances",
    "hausdorff_distance",
    "average_symmetric_surface_distance",
    "mean_average_surface_distance",
    "normalized_surface_distance",
    "center_distance",
    "boundary_iou",
    "evaluate_instances",
    "iter_evaluate_instances",
    "rater_agreement",
    "repeatability",
    "score_against_raters",
}
#: the main inputs of each public function; everything after them is keyword-only
MAIN_INPUTS = {
    "hd_key": {"percentile"},
    "write_report": {"report", "path"},
    "read_cohort_table": {"table"},
    "summarize": {"table"},
    "compare_paired": {"table"},
    "rank_methods": {"table"},
    "higher_is_better": {"metric"},
    "rater_agreement": {"segmentations"},
    "repeatability": {"first", "second"},
    "score_against_raters": {"prediction", "segmentations"},
    "calibration": {"probabilities", "reference"},
    "reliability_diagram": {"report"},
}


def test_every_public_name_is_listed_and_importable():
    assert len(FUNCTIONS) >= 20
    for name in M.__all__:
        assert getattr(M, name) is not None
    with pytest.raises(AttributeError):
        M.no_such_metric  # noqa: B018


@pytest.mark.parametrize("func", FUNCTIONS, ids=lambda f: f.__name__)
def test_public_function_follows_the_dialect(func):
    assert func.__name__ in M.__all__  # its own name, not a factory's
    doc = inspect.getdoc(func)
    assert doc and "Examples" in doc and ">>>" in doc
    params = inspect.signature(func).parameters
    for name, param in params.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if name in MAIN_INPUTS.get(func.__name__, {"reference", "prediction"}):
            assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, name
        else:
            assert param.kind is inspect.Parameter.KEYWORD_ONLY, (func.__name__, name)
        assert param.annotation is not inspect.Parameter.empty, (func.__name__, name)
        physical = "tolerance" in name or "radius" in name
        assert not physical or name.endswith("_mm"), (func.__name__, name)
    if func.__name__ in DISTANCE:
        assert params["spacing"].default is inspect.Parameter.empty


def test_stray_keyword_is_a_type_error_at_the_call():
    a = np.zeros((4, 4), np.uint8)
    a[1:3, 1:3] = 1
    with pytest.raises(TypeError, match="dice\\(\\) got an unexpected keyword argument 'tol'"):
        M.dice(a, a, tol=1)
    with pytest.raises(TypeError, match="normalized_surface_distance.*'bogus'"):
        M.normalized_surface_distance(a, a, spacing=None, bogus=1)
    with pytest.raises(TypeError, match="'bogus'"):
        M.evaluate(a, a, spacing=None, bogus=1)
    with pytest.raises(TypeError, match="both `nsd_tolerance` and `nsd_tolerance_mm`"):
        M.evaluate(a, a, spacing=None, nsd_tolerance=1, nsd_tolerance_mm=1)


def test_metric_names_follow_the_percentile():
    assert M.metric_names() == M.METRIC_NAMES
    assert M.hd_key(95) == "hd95" and M.hd_key(90) == "hd90" and M.hd_key(99.5) == "hd99_5"
    assert M.hd_key(100) == "hd100" and M.hd_key(0.25) == "hd0_25"
    assert "hd95" not in M.metric_names(hd_percentile=90)


def test_error_map_any_dimension_and_present_labels():
    ref = np.array([1, 1, 0, 0, 2, 2])
    pred = np.array([0, 1, 1, 0, 2, 1])
    np.testing.assert_array_equal(maps.error_map(ref, pred), [3, 1, 2, 0, 1, 3])
    np.testing.assert_array_equal(maps.error_map(ref, pred, labels=[2]), [0, 0, 0, 0, 1, 3])
    assert maps.present_labels(ref, pred, np.array([[7]], np.int32)) == [1, 2, 7]
    with pytest.raises(TypeError, match="positional"):
        maps.error_map(ref, pred, [1])


def test_layer_pairing_by_name():
    names = ["image", "liver segmentation", "liver reference", "kidney prediction"]
    assert workflow.default_reference(names) == "liver reference"
    assert workflow.default_prediction(names, "liver reference") == "liver segmentation"
    assert workflow.default_prediction(names, None) == "liver segmentation"
    assert workflow.default_reference(["a", "b"]) is None


def test_iter_evaluation_passes_the_options_and_the_resolution():
    ref = np.zeros((12, 12), np.uint8)
    ref[2:8, 2:8] = 1
    pred = np.roll(ref, 1, axis=1)
    inputs = workflow.EvaluationInputs(ref, pred, (1.0, 1.0), prediction_spacing=(2.0, 2.0))
    options = workflow.EvaluationOptions(nsd_tolerance_mm=0.5, hd_percentile=90)
    gen = workflow.iter_evaluation(inputs, options=options, overlay_label=1)
    from napari_segtools.core._types import run_to_completion

    result = run_to_completion(gen)
    assert result.report.settings["nsd_tolerance_mm"] == 0.5 and result.report.hd_key == "hd90"
    assert "resolution_mismatch" in {w.pitfall for w in result.report.warnings}
    assert result.overlay.label == 1 and result.overlay.hd == pytest.approx(1.0)
    np.testing.assert_array_equal(result.error_map, maps.error_map(ref, pred, labels=[1]))
    none = run_to_completion(workflow.iter_evaluation(inputs, overlays=False))
    assert none.error_map is None and none.overlay is None


def test_gallery_disk_spacing_is_keyword_only():
    assert int(disk((9, 9), (4.0, 4.0), 2.0, spacing=(2.0, 1.0)).sum()) == 7
    with pytest.raises(TypeError, match="positional"):
        disk((9, 9), (4.0, 4.0), 2.0, (2.0, 1.0))
