"""Floor 2: functions that make new leaf tensors (NumPy's names, PyTorch's ``*_like``).

Random tensors draw from chainrule's generator, seeded with :func:`chainrule.manual_seed`.
Shapes may be given as separate integers or as one tuple: ``zeros(2, 3) == zeros((2, 3))``.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.compile import replayable
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor


def _shape(shape: tuple) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"a shape is a sequence of integers, got {shape!r}") from exc
    if any(s < 0 for s in out):
        raise ShapeError(f"negative dimension in shape {out}")
    return out


def _dtype(dtype: Any) -> Any:
    return backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)


def _leaf(arr: Any, requires_grad: bool, device: Any = None) -> Tensor:
    if device is not None:  # made on the default device (the backend's), moved when asked
        arr = backend.to_device(arr, device)
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


@replayable  # cr.compile makes it again at each replay
def zeros(
    *shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A tensor of zeros of ``shape``.

    ``shape`` is integers or one tuple (``zeros(2, 3)``, ``zeros((2, 3))``); the dtype is the
    default floating one unless ``dtype`` is given; made on ``device`` when given; a leaf that
    requires grad when asked. Raises :class:`~chainrule.errors.ShapeError` for a dimension
    that is not a non-negative integer.

    >>> zeros(2, 3).shape
    (2, 3)
    """
    return _leaf(backend.xp.zeros(_shape(shape), dtype=_dtype(dtype)), requires_grad, device)


@replayable
def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of ones of ``shape``.

    ``shape`` is integers or one tuple (``ones(2, 3)``, ``ones((2, 3))``); the dtype is the
    default floating one unless ``dtype`` is given; made on ``device`` when given; a leaf that
    requires grad when asked. Raises :class:`~chainrule.errors.ShapeError` for a dimension
    that is not a non-negative integer.
    """
    return _leaf(backend.xp.ones(_shape(shape), dtype=_dtype(dtype)), requires_grad, device)


@replayable
def full(
    shape: Any,
    fill_value: float,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    shape = (shape,) if isinstance(shape, int) else shape
    arr = backend.xp.full(_shape((shape,)), fill_value, dtype=_dtype(dtype))
    return _leaf(arr, requires_grad, device)


@replayable
def arange(
    start: float,
    stop: float | None = None,
    step: float = 1,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    """Evenly spaced values in [start, stop): int64 for integer arguments, else the default
    floating dtype (as PyTorch).

    >>> arange(3)
    tensor([0, 1, 2])
    """
    if stop is None:
        start, stop = 0, start
    ints = all(isinstance(v, int) for v in (start, stop, step))
    if dtype is None:
        dtype = "int64" if ints else backend.get_default_dtype()
    arr = backend.xp.arange(start, stop, step, dtype=backend.as_dtype(dtype))
    return _leaf(arr, requires_grad, device)


@replayable
def linspace(start: float, stop: float, num: int, dtype: Any = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive."""
    return _leaf(backend.xp.linspace(start, stop, num, dtype=_dtype(dtype)), False)


@replayable
def eye(
    n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """An n x m identity matrix (square when ``m`` is omitted)."""
    return _leaf(backend.xp.eye(n, m, dtype=_dtype(dtype)), requires_grad, device)


@replayable
def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Samples uniform in [0, 1) (from the generator :func:`~chainrule.manual_seed` seeds).

    ``shape`` is integers or one tuple (``rand(2, 3)``, ``rand((2, 3))``); the dtype is the
    default floating one unless ``dtype`` is given; made on ``device`` when given; a leaf that
    requires grad when asked. Raises :class:`~chainrule.errors.ShapeError` for a dimension
    that is not a non-negative integer.
    """
    arr = backend.rng().random(_shape(shape)).astype(_dtype(dtype))
    return _leaf(backend.xp.asarray(arr), requires_grad, device)


@replayable
def randn(
    *shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """Standard normal samples (from the generator :func:`~chainrule.manual_seed` seeds).

    ``shape`` is integers or one tuple (``randn(2, 3)``, ``randn((2, 3))``); the dtype is the
    default floating one unless ``dtype`` is given; made on ``device`` when given; a leaf that
    requires grad when asked. Raises :class:`~chainrule.errors.ShapeError` for a dimension
    that is not a non-negative integer.
    """
    arr = backend.rng().standard_normal(_shape(shape)).astype(_dtype(dtype))
    return _leaf(backend.xp.asarray(arr), requires_grad, device)


@replayable
def randint(low: int, high: int, shape: Any) -> Tensor:
    """Integers drawn uniformly from [low, high), int64."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _leaf(backend.xp.asarray(backend.rng().integers(low, high, shape)), False)


def _like(make: Any, t: Any, dtype: Any, requires_grad: bool) -> Tensor:
    """``make(*t.shape, ...)`` with ``t``'s dtype (or ``dtype``), on ``t``'s device."""
    device = None if backend.xp is backend.np else backend.device_of(getattr(t, "data", t))
    dtype = backend.as_dtype(dtype) if dtype is not None else t.dtype
    return make(*t.shape, dtype=dtype, requires_grad=requires_grad, device=device)


@replayable
def zeros_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape and dtype."""
    return _like(zeros, t, dtype, requires_grad)


@replayable
def ones_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape and dtype."""
    return _like(ones, t, dtype, requires_grad)


@replayable
def full_like(t: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with ``t``'s shape and dtype."""
    return _like(lambda *shape, **kw: full(shape, fill_value, **kw), t, dtype, requires_grad)


@replayable
def rand_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples with ``t``'s shape and (floating) dtype."""
    return _like(rand, t, dtype, requires_grad)


@replayable
def randn_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples with ``t``'s shape and (floating) dtype."""
    return _like(randn, t, dtype, requires_grad)
