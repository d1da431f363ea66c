"""One public dialect: every public callable of the package follows the same conventions.

Main inputs are positional and required; every option is keyword-only; physical parameters say
their unit; each callable is a real function with its own name, annotations, numpydoc and a
runnable example; deprecated spellings are marked and map onto current names.
"""

from __future__ import annotations

import inspect
import re

import pytest

import napari_segtools
import napari_segtools.metrics

#: parameter names that hold a physical quantity unless they say their unit
_PHYSICAL = re.compile(
    r"radius|tolerance|sigma|distance|block_size|min_size|max_size|volume|smooth|margin"
)
_UNIT = re.compile(r"_(mm|mm2|mm3|voxels|fraction|percent|iterations)$")


def _public_callables():
    seen = {}
    for module, names in (
        (napari_segtools, napari_segtools._EXPORTS),
        (napari_segtools.metrics, napari_segtools.metrics.__all__),
    ):
        for name in names:
            obj = getattr(module, name)
            if callable(obj) and not getattr(obj, "__deprecated_alias_of__", None):
                seen[f"{module.__name__}.{name}"] = obj
    return seen


PUBLIC = _public_callables()
FUNCTIONS = {k: v for k, v in PUBLIC.items() if inspect.isfunction(v)}
ALIASES = {
    f"napari_segtools.metrics.{name}": getattr(napari_segtools.metrics, name)
    for name in napari_segtools.metrics.DEPRECATED_NAMES
}


def _signature(obj):
    return inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)


def test_the_package_exports_geometry_and_progress():
    from napari_segtools.core._types import Progress
    from napari_segtools.core.geometry import Geometry

    assert napari_segtools.Geometry is Geometry
    assert napari_segtools.Progress is Progress
    assert len(FUNCTIONS) >= 40


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_function_is_a_real_def_with_its_own_name(qualname):
    func = FUNCTIONS[qualname]
    assert func.__name__ == qualname.rsplit(".", 1)[1]
    assert func.__module__.startswith("napari_segtools.")


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_options_are_keyword_only(qualname):
    for p in inspect.signature(FUNCTIONS[qualname]).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            assert p.default is p.empty, f"{qualname}: option `{p.name}` must be keyword-only"


#: inputs a user sets: functions and settings classes (result dataclasses report values in the
#: unit they state, e.g. ``SurfaceDistances.unit``)
INPUTS = {k: v for k, v in PUBLIC.items() if inspect.isfunction(v) or k.endswith("Settings")}


@pytest.mark.parametrize("qualname", sorted(INPUTS))
def test_physical_parameters_carry_their_unit(qualname):
    for name in _signature(INPUTS[qualname]).parameters:
        if _PHYSICAL.search(name):
            assert _UNIT.search(name), f"{qualname}: `{name}` must say its unit (e.g. `{name}_mm`)"


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_signature_is_annotated(qualname):
    sig = inspect.signature(FUNCTIONS[qualname])
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.annotation is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert not missing, f"{qualname}: parameters without a type annotation: {missing}"
    assert sig.return_annotation is not sig.empty, f"{qualname}: no return annotation"


@pytest.mark.parametrize("qualname", sorted(PUBLIC))
def test_numpydoc_with_a_runnable_example(qualname):
    obj = PUBLIC[qualname]
    doc = inspect.getdoc(obj) or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    assert summary.endswith("."), f"{qualname}: needs a one-line summary"
    if inspect.isclass(obj):  # a class documents what it holds, or shows it in use
        assert re.search(r"(Attributes|Parameters|Examples)\n-{8}", doc), f"{qualname}: no doc"
        return
    assert "Examples\n--------" in doc and ">>>" in doc, f"{qualname}: needs a runnable example"
    if _signature(obj).parameters:
        assert "Parameters\n----------" in doc, f"{qualname}: needs a Parameters section"


@pytest.mark.parametrize("qualname", sorted(PUBLIC))
def test_deprecated_keywords_map_onto_current_names(qualname):
    renamed = getattr(PUBLIC[qualname], "__deprecated_keywords__", {})
    params = _signature(PUBLIC[qualname]).parameters
    for old, new in renamed.items():
        assert new in params and old not in params, f"{qualname}: {old} -> {new}"


@pytest.mark.parametrize("qualname", sorted(ALIASES))
def test_deprecated_aliases_point_at_public_functions(qualname):
    alias = ALIASES[qualname]
    assert alias.__name__ == qualname.rsplit(".", 1)[1]
    target = alias.__deprecated_alias_of__
    owner = getattr(napari_segtools.metrics, target.__qualname__.split(".")[0])
    assert owner in PUBLIC.values()


def test_a_deprecated_keyword_warns_and_gives_the_same_result():
    import numpy as np

    ref = np.zeros((9, 9), bool)
    ref[2:7, 2:7] = True
    pred = np.roll(ref, 1, axis=0)
    nsd = napari_segtools.metrics.normalized_surface_distance
    new = nsd(ref, pred, spacing=(1.0, 0.5), tolerance_mm=0.75)
    with pytest.warns(FutureWarning, match="tolerance_mm"):
        old = nsd(ref, pred, spacing=(1.0, 0.5), tolerance=0.75)
    assert old == new and 0 < new < 1


def test_a_positional_option_is_refused():
    import numpy as np

    mask = np.ones((3, 3), bool)
    with pytest.raises(TypeError):
        napari_segtools.metrics.evaluate(mask, mask, (1, 1), None, 2.0)
