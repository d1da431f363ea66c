"""Shared by the hostile-argument tests: the hostile values and the check of one call."""

from __future__ import annotations

import numpy as np
import pytest

HOSTILE = {
    "nan": float("nan"),
    "inf": float("inf"),
    "negative": -1,
    "huge": 10**12,
    "none": None,
    "text": "x",
    "empty list": [],
    "5-D array": np.zeros((2,) * 5),
    "empty array": np.zeros((0, 0)),
    "complex": np.full((16, 16), 1j),
}


def hostile_cases(calls):
    """Yield one pytest param per (call, argument, hostile value) of ``calls``."""
    for name, (_, args, kwargs) in calls.items():
        slots = [("arg", i) for i in range(len(args))] + [("kw", k) for k in kwargs]
        for slot in slots:
            for label in HOSTILE:
                yield pytest.param(name, slot, label, id=f"{name}-{slot[1]}-{label}")


def assert_clear_error(calls, name, slot, label):
    """Call ``calls[name]`` with one argument replaced: a clear error, or a result (not for NaN).

    A clear error is a ``ValueError``/``TypeError`` naming an argument in backticks.
    """
    func, args, kwargs = calls[name]
    args, kwargs = list(args), dict(kwargs)
    if slot[0] == "arg":
        args[slot[1]] = HOSTILE[label]
    else:
        kwargs[slot[1]] = HOSTILE[label]
    try:
        func(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert "`" in str(exc), f"unclear {type(exc).__name__}: {exc}"
        return
    except Exception as exc:  # noqa: BLE001 - the assertion is the point
        pytest.fail(f"{type(exc).__name__} instead of a clear error: {exc}")
    assert label != "nan", "NaN was accepted silently"
