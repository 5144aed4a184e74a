"""A stand-in for CuPy on machines without a GPU: NumPy's functions on a distinct array type.

It lets the CPU suite drive chainrule's device bookkeeping (``.to("cuda")``, ``.cpu()``,
``model.to``, mixed-device errors, copies to the host) through the same code paths a real GPU
takes. Like CuPy, its functions refuse NumPy arrays (``TypeError``), so a host array leaking
into device code fails here as it would on a GPU; ``get()`` copies to the host; ``device.id``
names the GPU. It says nothing about CuPy's numerics: tests on a real GPU do that.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np


class _Dev:
    def __init__(self, index: int = 0) -> None:
        self.id = index

    def __enter__(self) -> _Dev:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def use(self) -> None:
        pass


class ndarray(np.ndarray):
    """A "device" array: a NumPy array of another type, on GPU 0."""

    @property
    def device(self) -> _Dev:
        return _Dev(0)

    @property
    def __cuda_array_interface__(self) -> dict:  # how CuPy arrays are recognised
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3}

    def get(self) -> np.ndarray:
        return np.array(self, copy=True).view(np.ndarray)

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(super().__array_function__(func, types_, args, kwargs))


def _wrap(r: Any) -> Any:
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    if isinstance(r, (np.ndarray, np.generic)) and not isinstance(r, ndarray):
        return np.asarray(r).view(ndarray)
    return r


def _refuse_host(args: Any) -> None:
    for a in args:
        if isinstance(a, (list, tuple)):
            _refuse_host(a)
        elif isinstance(a, np.ndarray) and not isinstance(a, ndarray):
            raise TypeError(f"Unsupported type {type(a)}")  # what CuPy says


def asarray(a: Any, dtype: Any = None, **kwargs: Any) -> ndarray:
    if isinstance(a, ndarray) and (dtype is None or a.dtype == dtype):
        return a
    return np.array(a, dtype=dtype, copy=True).view(ndarray)


def array(a: Any, dtype: Any = None, copy: bool = True, **kwargs: Any) -> ndarray:
    return np.array(a, dtype=dtype, copy=True).view(ndarray)


class _Ufunc:
    """A NumPy ufunc that refuses host arrays, with ``at`` and ``reduce`` as CuPy's."""

    def __init__(self, fn: np.ufunc) -> None:
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _refuse_host(args)
        return _wrap(self.fn(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.fn, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            _refuse_host(args)
            return _wrap(method(*args, **kwargs))

        return call


def _function(name: str):
    fn = getattr(np, name)
    if isinstance(fn, np.ufunc):
        return _Ufunc(fn)
    if not callable(fn) or isinstance(fn, type):  # constants (nan, pi), dtypes: NumPy's own
        return fn

    def call(*args: Any, **kwargs: Any) -> Any:
        _refuse_host(args)
        return _wrap(fn(*args, **kwargs))

    call.__name__ = name
    return call


def make(devices: int = 1, error: Exception | None = None) -> types.ModuleType:
    """A module object to put in ``sys.modules["cupy"]``: ``devices`` GPUs, or ``error``
    raised by ``cuda.runtime.getDeviceCount`` (a machine with CuPy but no driver)."""
    mod = types.ModuleType("cupy")
    mod.__getattr__ = lambda name: _function(name)  # type: ignore[method-assign]
    mod.ndarray = ndarray
    mod.asarray = asarray
    mod.array = array
    mod.float32, mod.float64, mod.int64 = np.float32, np.float64, np.int64
    tricks = np.lib.stride_tricks
    mod.lib = types.SimpleNamespace(
        stride_tricks=types.SimpleNamespace(
            as_strided=lambda x, *a, **k: _wrap(tricks.as_strided(x, *a, subok=True, **k)),
            sliding_window_view=lambda x, *a, **k: _wrap(
                tricks.sliding_window_view(x, *a, subok=True, **k)
            ),
        )
    )

    def count() -> int:
        if error is not None:
            raise error
        return devices

    runtime = types.SimpleNamespace(getDeviceCount=count)
    current = types.SimpleNamespace(id=0)
    mod.cuda = types.SimpleNamespace(
        runtime=runtime, Device=lambda index=None: _Dev(current.id if index is None else index)
    )
    return mod
