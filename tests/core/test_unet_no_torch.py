"""Without torch (the ``[unet]`` extra): the package, model list and entropy work, and whatever
needs torch raises one ImportError that names the extra. torch stays installed: the tests hide
it (``sys.modules["torch"] = None`` makes ``import torch`` raise ImportError)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_segtools.core.unet._torch import TORCH_MISSING, require_torch, torch_available

EXTRA = "pip install 'napari-segtools[unet]'"


def test_message_is_one_line_and_names_the_extra():
    assert EXTRA in TORCH_MISSING and "torch==2.13.0" in TORCH_MISSING
    assert "\n" not in TORCH_MISSING


def test_require_torch_raises_the_one_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert torch_available() is False
    with pytest.raises(ImportError) as info:
        require_torch()
    assert str(info.value) == TORCH_MISSING
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_list_models_works_and_load_model_refuses(monkeypatch):
    from napari_segtools import list_models, load_model

    monkeypatch.setitem(sys.modules, "torch", None)
    assert list_models() == ["mni152-brain-tissue"]
    with pytest.raises(ImportError, match=r"napari-segtools\[unet\]") as info:
        load_model("mni152-brain-tissue")
    assert str(info.value) == TORCH_MISSING


def test_entropy_and_prediction_need_no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    from napari_segtools.core.unet.predict import predictive_entropy

    np.testing.assert_allclose(
        predictive_entropy(np.array([[1.0, 0.5], [0.0, 0.5]])), [0, 1], atol=1e-9
    )


def test_fresh_interpreter_without_torch():
    """Nothing imported yet: the top-level API imports, torch modules give the one message."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None
        import napari_segtools as nst
        from napari_segtools.core.unet import predict, package
        assert nst.list_models() == ["mni152-brain-tissue"]
        for target in ("inference", "model", "train", "augment"):
            try:
                __import__(f"napari_segtools.core.unet.{target}")
            except ImportError as exc:
                print(target, exc)
        try:
            nst.load_model("mni152-brain-tissue")
        except ImportError as exc:
            print("load_model", exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in out] == [
        "inference",
        "model",
        "train",
        "augment",
        "load_model",
    ]
    assert all(line.split(" ", 1)[1] == TORCH_MISSING for line in out)


def test_entropy_known_answers():
    from napari_segtools.core.unet.predict import predictive_entropy

    assert predictive_entropy(np.array([[1.0], [0.0], [0.0]]))[0] == pytest.approx(0, abs=1e-9)
    assert predictive_entropy(np.full((3, 1), 1 / 3))[0] == pytest.approx(1)
    with pytest.raises(ValueError, match="needs >= 2 classes"):
        predictive_entropy(np.ones((1, 4)))
