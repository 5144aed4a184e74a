"""Floor 1: the array namespace, the default dtype and the random number generator.

Every array computation in chainrule goes through the module-level name ``xp`` held here
(NumPy unless :func:`set_backend` chose another array library with NumPy's API, such as CuPy).
Op code writes ``backend.xp.exp(x)``, never ``numpy.exp(x)``, so swapping the namespace
moves the whole library to another device without touching an op.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from chainrule.errors import DTypeError

xp: ModuleType = np
"""The array namespace in use (``numpy`` by default)."""

_default_dtype: np.dtype = np.dtype(np.float32)
_rng: np.random.Generator = np.random.default_rng()

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def set_backend(name: str) -> ModuleType:
    """Select the array library used by every op: ``"numpy"`` or ``"cupy"``.

    Returns the module now in use. Raises ``ImportError`` with an install hint when the
    library is missing, ``ValueError`` for an unknown name.
    """
    global xp
    if name == "numpy":
        xp = np
    elif name == "cupy":
        try:
            import cupy  # type: ignore[import-not-found]
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise ImportError(
                "the 'cupy' backend needs CuPy and a CUDA GPU: pip install 'chainrule[gpu]'"
            ) from exc
        xp = cupy
    else:
        raise ValueError(f"unknown backend {name!r}; choose 'numpy' or 'cupy'")
    return xp


def get_backend() -> str:
    """Name of the array library in use (``"numpy"`` or ``"cupy"``)."""
    return xp.__name__


def as_dtype(dtype: Any) -> np.dtype:
    """Turn a NumPy dtype, a dtype name (``"float64"``) or a Python type into ``np.dtype``.

    Raises :class:`~chainrule.errors.DTypeError` for anything NumPy cannot read as a dtype.

    >>> as_dtype("float64")
    dtype('float64')
    """
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"not a dtype: {dtype!r} (use e.g. 'float32' or numpy.float64)") from exc


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype given to tensors made from float data (float32 to start with).

    Raises :class:`~chainrule.errors.DTypeError` unless ``dtype`` is a floating dtype.
    """
    global _default_dtype
    d = as_dtype(dtype)
    if d not in FLOAT_DTYPES:
        raise DTypeError(f"the default dtype must be a floating dtype, got {d}")
    _default_dtype = d


def get_default_dtype() -> np.dtype:
    """The floating dtype given to tensors made from float data (``float32`` unless changed)."""
    return _default_dtype


def manual_seed(seed: int) -> None:
    """Seed chainrule's random number generator (``rand``, ``randn``, init, dropout, shuffling)."""
    global _rng
    _rng = np.random.default_rng(seed)


def rng() -> np.random.Generator:
    """The library's random number generator (a NumPy ``Generator``)."""
    return _rng


def get_rng_state() -> dict:
    """The generator's state as a JSON-serialisable dict (for checkpoints)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    _rng.bit_generator.state = state


def to_numpy(a: Any) -> np.ndarray:
    """A host NumPy array for ``a`` (copies from the GPU when the backend is CuPy)."""
    if xp is not np and hasattr(a, "get"):  # pragma: no cover - GPU only
        return a.get()
    return np.asarray(a)
