"""Property test: the plain metric functions answer any input with a value or a clear error.

A clear error is a ``ValueError`` or ``TypeError`` naming the argument in backticks. Inputs cover
invalid options, label ids up to 2**64 - 1, every integer width, both byte orders and Fortran
layout.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_segtools import metrics

OVERLAP = [
    metrics.dice,
    metrics.jaccard,
    metrics.precision,
    metrics.recall,
    metrics.specificity,
    metrics.accuracy,
    metrics.f1_score,
    metrics.volume_similarity,
    metrics.fbeta_score,
]
SURFACE = [
    metrics.hausdorff_distance,
    metrics.average_symmetric_surface_distance,
    metrics.mean_average_surface_distance,
    metrics.normalized_surface_distance,
    metrics.center_distance,
]
DTYPES = ["bool", "u1", "<i4", ">i4", "<i8", ">u2", "<u8", ">u8", "<f4"]
LABELS = [1, 2, 255, 2**31 - 1, 2**63 - 1, 2**64 - 1]
ANY = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 200),
    st.text(max_size=3),
    st.none(),
)


@st.composite
def masks(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    label = draw(st.sampled_from(LABELS))
    if dtype.kind in "iu" and label > np.iinfo(dtype).max or dtype.kind in "bf":
        label = 1
    pair = []
    for _ in range(2):
        bits = draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)))
        values = (np.array(bits).reshape(shape) * np.array(label, dtype=object)).astype(dtype)
        pair.append(np.asfortranarray(values) if draw(st.booleans()) else values)
    return pair


@st.composite
def options(draw, ndim):
    opts = {}
    if draw(st.booleans()):
        opts["spacing"] = draw(
            st.one_of(
                st.none(),
                st.lists(st.floats(0.1, 5), min_size=ndim, max_size=ndim).map(tuple),
                st.lists(ANY, max_size=4),
                ANY,
            )
        )
    for key, values in {
        "empty": st.one_of(st.sampled_from(["nan", "worst"]), ANY),
        "percentile": st.one_of(st.floats(0, 100), ANY),
        "tolerance_mm": st.one_of(st.floats(0, 5), ANY),
        "beta": st.one_of(st.floats(0.1, 4), ANY),
        "surface": st.one_of(st.sampled_from(["voxel", "surfel"]), ANY),
    }.items():
        if draw(st.integers(0, 3)) == 0:
            opts[key] = draw(values)
    return opts


def _is_clear(exc: BaseException) -> bool:
    return (
        isinstance(exc, (ValueError, TypeError))
        and "`" in str(exc)
        or (isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc))
    )


@settings(
    max_examples=5000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_plain_metric_answers_with_a_value_or_a_clear_error(data):
    reference, prediction = data.draw(masks())
    func = data.draw(st.sampled_from(OVERLAP + SURFACE))
    kwargs = data.draw(options(reference.ndim))
    if func in SURFACE and "spacing" not in kwargs:
        kwargs["spacing"] = (1.0,) * reference.ndim
    try:
        value = func(reference, prediction, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the assertion is about which errors occur
        assert _is_clear(exc), f"{func.__name__}{kwargs}: {type(exc).__name__}: {exc}"
        return
    assert isinstance(value, float)
    assert math.isnan(value) or value >= 0


@pytest.mark.parametrize("dtype", ["<u8", ">u8", ">i8"])
def test_the_largest_ids_score_like_label_one(dtype):
    ref = np.zeros((5, 6), dtype)
    ref[1:4, 1:5] = np.iinfo(dtype).max
    pred = np.roll(ref, 1, axis=1)
    one = (ref > 0).astype(np.uint8), (pred > 0).astype(np.uint8)
    assert metrics.dice(ref, pred) == metrics.dice(*one) == pytest.approx(2 * 9 / 24)
    assert metrics.hausdorff_distance(ref, pred, spacing=(1, 2)) == 2.0
