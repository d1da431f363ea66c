"""Deprecated spellings that keep working for one release, with a warning naming the new one."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .geometry import Geometry

F = TypeVar("F", bound=Callable[..., Any])

#: Release after which the deprecated spellings are removed.
REMOVED_IN = "0.3"


def _warn(message: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{message}; the old spelling goes away in {REMOVED_IN}",
        FutureWarning,
        stacklevel=stacklevel,
    )


def renamed_keywords(**old_to_new: str) -> Callable[[F], F]:
    """Accept old keyword names as deprecated aliases of new ones.

    The wrapped function keeps its own signature, name and docstring; a call with an old name
    warns with a :class:`FutureWarning` and passes the value on under the new name. Giving both
    names is a ``TypeError``.

    Examples
    --------
    >>> @renamed_keywords(tolerance="tolerance_mm")
    ... def nsd(*, tolerance_mm=1.0):
    ...     return tolerance_mm
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     nsd(tolerance=2.0), caught[0].category.__name__
    (2.0, 'FutureWarning')
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{func.__name__}() got both `{old}` and `{new}`; use `{new}`"
                        )
                    _warn(f"{func.__name__}(): `{old}` is deprecated, use `{new}`")
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        wrapper.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
        wrapper.__deprecated_keywords__ = dict(old_to_new)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def deprecated_alias(func: F, old_name: str) -> F:
    """Return ``func`` under a deprecated old name that warns when called.

    Examples
    --------
    >>> def dice(a, b):
    ...     return 1.0
    >>> compute_dice = deprecated_alias(dice, "compute_dice")
    >>> compute_dice.__name__
    'compute_dice'
    """

    @functools.wraps(func)
    def alias(*args: Any, **kwargs: Any) -> Any:
        _warn(f"{old_name}() is deprecated, use {func.__qualname__}()")
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of :func:`{func.__qualname__}`; warns, then calls it.\n"
    alias.__deprecated_alias_of__ = func  # type: ignore[attr-defined]
    return alias  # type: ignore[return-value]


def geometry_of(spacing: Any, origin: Any = None, direction: Any = None) -> Geometry:
    """Build the :class:`Geometry` that deprecated loose spacing/origin/direction values give."""
    matrix = None if direction is None else np.asarray(direction, float)
    return Geometry(tuple(spacing), () if origin is None else tuple(origin), matrix)  # type: ignore[arg-type]


#: how to find the number of axes a deprecated spacing describes, from the call's arguments
NdimOf = Callable[[tuple, dict], "int | None"]


def array_ndim(position: int, name: str) -> NdimOf:
    """Return an :data:`NdimOf` reading the dimensionality of one array argument."""

    def ndim(args: tuple, kwargs: dict) -> int | None:
        array = args[position] if len(args) > position else kwargs.get(name)
        return None if array is None else int(np.ndim(array))

    return ndim


def loose_geometry_keywords(**groups: tuple[str, NdimOf]) -> Callable[[F], F]:
    """Accept ``<prefix>spacing/origin/direction`` as deprecated spellings of a Geometry keyword.

    ``groups`` maps each new keyword to ``(old prefix, ndim)``, ``ndim`` giving the number of
    axes from the call (so an old scalar spacing still works). The old keywords warn with a
    :class:`FutureWarning` and become one :class:`Geometry`; giving both spellings is a
    ``TypeError``. The wrapper is a plain function even around a generator function, so the
    conversion and its warning happen at the call.

    Examples
    --------
    >>> @loose_geometry_keywords(geometry=("", array_ndim(0, "image")))
    ... def voxel_size(image, *, geometry):
    ...     return geometry.spacing
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     voxel_size(np.zeros((2, 2)), spacing=2), caught[0].category.__name__
    ((2.0, 2.0), 'FutureWarning')
    """
    from ._validate import check_spacing

    parts = ("spacing", "origin", "direction")

    def decorate(func: F) -> F:
        def convert(args: tuple, kwargs: dict) -> None:
            for new, (prefix, ndim_of) in groups.items():
                old = [prefix + part for part in parts]
                given = {name: kwargs.pop(name) for name in old if name in kwargs}
                if not given:
                    continue
                if new in kwargs:
                    raise TypeError(f"{func.__name__}() got both `{new}` and {', '.join(given)}")
                if old[0] not in given:
                    raise TypeError(f"{func.__name__}(): pass `{new}=Geometry(spacing, ...)`")
                _warn(
                    f"{func.__name__}(): `{'`, `'.join(given)}` "
                    f"{'is' if len(given) == 1 else 'are'} deprecated, use "
                    f"`{new}=Geometry(spacing, origin, direction)`",
                    stacklevel=4,
                )
                spacing = given[old[0]]
                ndim = ndim_of(args, kwargs)
                if ndim is not None:
                    spacing = check_spacing(spacing, ndim, old[0])
                kwargs[new] = geometry_of(spacing, given.get(old[1]), given.get(old[2]))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            convert(args, kwargs)
            return func(*args, **kwargs)

        wrapper.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
        wrapper.__deprecated_keywords__ = {  # type: ignore[attr-defined]
            prefix + part: new for new, (prefix, _) in groups.items() for part in parts
        }
        return wrapper  # type: ignore[return-value]

    return decorate
