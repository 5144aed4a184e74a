"""Floor 1: the array namespace, the default dtype and the random number generator.

Every array computation in chainrule goes through the module-level name ``xp`` held here
(NumPy unless :func:`set_backend` chose another array library with NumPy's API, such as CuPy).
Op code writes ``backend.xp.exp(x)``, never ``numpy.exp(x)``, so swapping the namespace
moves the whole library to another device without touching an op.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import numpy as np

from chainrule.errors import DeviceError, DTypeError

xp: ModuleType = np
"""The array namespace in use (``numpy`` by default): the default device's."""

_default_dtype: np.dtype = np.dtype(np.float32)
_rng: np.random.Generator | None = None  # made on first use: numpy.random loads then

FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def set_backend(name: str) -> ModuleType:
    """Select the array library used by every op: ``"numpy"`` (CPU) or ``"cupy"`` (GPU).

    The backend is also the default device: tensors made without a ``device`` (``cr.zeros``,
    batches from a ``DataLoader``, new parameters) are made on it. Returns the module now in
    use. Raises :class:`~chainrule.errors.DeviceError` when CuPy is missing or no CUDA GPU
    answers (checked once per process), ``ValueError`` for an unknown name.
    """
    global xp
    if name == "numpy":
        xp = np
    elif name == "cupy":
        xp = cupy()
    else:
        raise ValueError(f"unknown backend {name!r}; choose 'numpy' or 'cupy'")
    return xp


def get_backend() -> str:
    """Name of the array library in use (``"numpy"`` or ``"cupy"``)."""
    return xp.__name__


# ---------------------------------------------------------------------------------- devices
class Device:
    """Where a tensor's data lives: ``cpu`` (a NumPy array) or ``cuda:N`` (a CuPy array on
    GPU ``N``). Made by :func:`device`; compares equal by type and index, as PyTorch's.

    >>> device("cuda:1")
    device(type='cuda', index=1)
    >>> str(device("cpu")), device("cpu") == device("cpu")
    ('cpu', True)
    """

    __slots__ = ("index", "type")

    def __init__(self, type: str, index: int | None = None) -> None:
        self.type = type
        self.index = index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"


CPU = Device("cpu")


def device(spec: str | Device) -> Device:
    """Read a device: ``"cpu"``, ``"cuda"`` (the current GPU), ``"cuda:N"``, or a ``Device``.

    Only parses the name; nothing is checked until data moves there. Raises
    :class:`~chainrule.errors.DeviceError` for any other name.

    >>> device("cuda"), device("cpu")
    (device(type='cuda'), device(type='cpu'))
    """
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        kind, _, index = spec.strip().lower().partition(":")
        if kind == "cpu" and not index:
            return CPU
        if kind in ("cuda", "gpu") and (not index or index.isdigit()):
            return Device("cuda", int(index) if index else None)
    raise DeviceError(f"unknown device {spec!r}; use 'cpu', 'cuda' or 'cuda:N'")


def is_device(spec: Any) -> bool:
    """Whether ``spec`` names a device (a ``Device``, or a string such as ``"cpu"``,
    ``"cuda:1"``, ``"gpu"``) rather than a dtype: how ``.to(*args)`` of a tensor or a module
    tells its positional arguments apart."""
    return isinstance(spec, Device) or (
        isinstance(spec, str) and spec.split(":")[0].strip().lower() in ("cpu", "cuda", "gpu")
    )


def device_of(a: Any) -> Device:
    """The device an array lives on: ``cpu`` for NumPy arrays and scalars, ``cuda:N`` for
    CuPy arrays."""
    if type(a) is np.ndarray:
        return CPU
    index = getattr(getattr(a, "device", None), "id", None)  # NumPy's .device is "cpu"
    return CPU if index is None else Device("cuda", int(index))


def to_device(a: Any, dev: str | Device) -> Any:
    """``a`` as an array on ``dev`` (the same array when it is already there).

    Moving data to a GPU selects the CuPy backend (see :func:`set_backend`) so that what is
    made next (batches, gradients, optimiser state) is made there too. Raises
    :class:`~chainrule.errors.DeviceError` as :func:`cupy` does, or when the GPU index does not
    exist.
    """
    dev = device(dev)
    if dev.type == "cpu":
        return to_numpy(a)
    cp = cupy()
    count = _gpu_count
    index = cp.cuda.Device().id if dev.index is None else dev.index
    if index >= count:
        raise DeviceError(f"no device cuda:{index}: this machine has {count} GPU(s)")
    if xp is np:
        set_backend("cupy")
    if device_of(a) == Device("cuda", index):
        return a
    with cp.cuda.Device(index):
        return cp.asarray(a)


def array_module(a: Any) -> ModuleType:
    """The array namespace that computes on ``a`` (NumPy for host arrays, else the backend's)."""
    return np if device_of(a) is CPU else xp


def common_device(what: str, arrays: Any) -> Device:
    """The one device of ``arrays`` (NumPy and CuPy arrays; other values, scalars included,
    are ignored; CPU when there are none).

    Raises :class:`~chainrule.errors.DeviceError` naming ``what`` and both devices when two
    arrays live on different devices.
    """
    found: Device | None = None
    for a in arrays:
        if type(a) is not np.ndarray and not hasattr(a, "__cuda_array_interface__"):
            continue  # numbers, NumPy scalars, dtypes, shapes: usable on any device
        d = device_of(a)
        if found is None:
            found = d
        elif d != found:
            raise DeviceError(
                f"{what}: expected all tensors on one device, found {found} and {d}; "
                "move them with .to(device) first"
            )
    return CPU if found is None else found


class host:
    """Context manager: NumPy is the array namespace inside, whatever the backend (how ops
    whose inputs all live on the CPU run while the GPU backend is on; not thread-safe)."""

    def __enter__(self) -> None:
        global xp
        self.prev = xp
        xp = np

    def __exit__(self, *exc: Any) -> None:
        global xp
        xp = self.prev


_cupy_module: ModuleType | None = None
_cupy_error: str | None = None
_gpu_count = 0


def cupy() -> ModuleType:
    """The CuPy module, once it is known to import and to see at least one GPU.

    Checked once per process; raises :class:`~chainrule.errors.DeviceError` with a one-line
    reason when CuPy is not installed or when no driver or GPU answers.
    """
    global _cupy_module, _cupy_error, _gpu_count
    if _cupy_module is not None:
        return _cupy_module
    if _cupy_error is None:
        _cupy_error = _probe_cupy()
    if _cupy_error:
        raise DeviceError(_cupy_error)
    import cupy as cp  # type: ignore[import-not-found]

    _cupy_module = cp
    return cp


def gpu_count() -> int:
    """The number of GPUs CuPy sees: 0 when CuPy, a driver or a GPU is missing."""
    try:
        cupy()
    except DeviceError:
        return 0
    return _gpu_count


def _probe_cupy() -> str:
    """'' when CuPy imports and sees a GPU, else the one-line reason it cannot be used."""
    global _gpu_count
    try:
        import cupy as cp  # type: ignore[import-not-found]
    except ImportError as exc:
        return (
            f"the 'cuda' device needs CuPy, which is not installed ({exc}); "
            "pip install 'chainrule[gpu]'"
        )
    try:
        count = int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:  # CUDARuntimeError, or a driver library that does not load
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"CuPy is installed but no CUDA driver or GPU answers: {reason}"
    if count < 1:
        return "CuPy is installed but no CUDA GPU answers: the driver reports 0 devices"
    _gpu_count = count
    return ""


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
    global _rng
    if _rng is None:
        _rng = np.random.default_rng()
    return _rng


def get_rng_state() -> dict:
    """The generator's state as a JSON-serialisable dict (for checkpoints)."""
    return rng().bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    rng().bit_generator.state = state


def to_numpy(a: Any) -> np.ndarray:
    """A host NumPy array for ``a`` (copies from the GPU when the backend is CuPy)."""
    if type(a) is np.ndarray:
        return a
    if device_of(a) is not CPU:  # a CuPy array: copied to the host
        return a.get()
    return np.asarray(a)


# ---------------------------------------------------------------------------- BLAS threads
# OpenBLAS starts one thread per core, and its threads spin while they wait for work. On a
# machine whose cores are busy with other processes, those spinning threads and the ones doing
# the work take turns on too few cores: measured on 2 shared cores (benchmarks/bench_threads.py)
# the 784-256-256-10 MLP's products at batch 128 ran 10x slower with 2 threads than with 1, and
# MNIST-1D trained in 60 s instead of 10 s. Products too small to split (batch 1) run on one
# thread either way. So training asks for one thread per *idle* core, at least one.

THREADS_AUTO = "auto"


def choose_threads(
    cores: int | None = None, load: float | None = None, own: float | None = None
) -> int:
    """The BLAS thread count training uses by default (``threads="auto"``): one per core
    left idle by the *rest* of the machine, at least 1 and at most ``cores``.

    ``cores`` defaults to the cores this process may run on, ``load`` to the 1-minute load
    average (Unix; 0 where the platform has none), ``own`` to this process's share of that
    load (:func:`own_load`: a training process counts itself, and must not take its own
    threads for another user's). Idle cores are ``cores - max(0, load - own)`` rounded to the
    nearest whole core: on 2 cores a load of 0.4 from others leaves 2 threads, 0.6 leaves 1.

    >>> choose_threads(8, 0.0, 0.0), choose_threads(8, 5.2, 0.0), choose_threads(2, 9.0, 0.0)
    (8, 3, 1)
    >>> choose_threads(2, 2.0, own=2.0)  # the load is this process's own training
    2
    """
    import math
    import os

    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cores = cores or os.cpu_count() or 1
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if own is None:
        own = own_load()
    others = max(0.0, load - own)
    return max(1, min(int(cores), math.floor(cores - others + 0.5)))


def own_load() -> float:
    """How many cores this process has kept busy on average since it started (its CPU time
    over its age, all threads; Linux's ``/proc``, 0 elsewhere or in its first second): its
    own part of the load average, roughly."""
    import os

    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time
    except (OSError, ValueError, IndexError):
        return 0.0
    cpu = sum(os.times()[:2])  # user + system time of this process
    return cpu / age if age >= 1 else 0.0


class _KernelThreads(threading.local):
    def __init__(self) -> None:
        self.stack = [1]  # per thread: blocks entered on one thread never pop another's


_KERNEL_THREADS = _KernelThreads()


def kernel_threads() -> int:
    """Threads for chainrule's own native kernels (:mod:`chainrule.ops._native`): as many as
    the innermost :class:`blas_threads` block of this thread chose, 1 outside any."""
    return _KERNEL_THREADS.stack[-1]


class blas_threads:
    """Context manager: NumPy's BLAS (and OpenMP) use ``n`` threads inside the block, the
    previous limits again after it. ``n`` is a positive int, ``"auto"`` (see
    :func:`choose_threads`) or ``None`` (leave the limits alone).

    Needs ``threadpoolctl`` (installed with the ``train`` extra); without it the block runs
    with the libraries' own defaults, and :attr:`threads` is ``None``. Raises ``ValueError``
    for another ``n``.

    >>> import chainrule as cr
    >>> with cr.backend.blas_threads(1) as limit:
    ...     limit.threads
    1
    """

    def __init__(self, n: int | str | None = THREADS_AUTO) -> None:
        if (
            n is not None
            and n != THREADS_AUTO
            and (isinstance(n, bool) or not isinstance(n, int) or n < 1)
        ):
            raise ValueError(f"threads={n!r}: expected a positive int, 'auto' or None")
        self.n = n
        self.threads: int | None = None
        self._limiter: Any = None

    def __enter__(self) -> blas_threads:
        if self.n is None:
            return self
        chosen = choose_threads() if self.n == THREADS_AUTO else int(self.n)
        _KERNEL_THREADS.stack.append(chosen)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: the libraries keep their own thread counts
            return self
        self.threads = chosen
        self._limiter = threadpool_limits(limits=self.threads)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.n is not None:  # __enter__ pushed the kernels' thread count
            _KERNEL_THREADS.stack.pop()
        if self._limiter is not None:
            self._limiter.restore_original_limits()
            self._limiter = None
