"""``cr.cuda``: what PyTorch users ask of ``torch.cuda``, answered through CuPy.

>>> import chainrule as cr
>>> cr.cuda.is_available() in (True, False)
True
"""

from __future__ import annotations

from chainrule import backend

__all__ = ["current_device", "device_count", "get_device_name", "is_available", "synchronize"]


def is_available() -> bool:
    """Whether CuPy is installed and at least one GPU answers (probed once per process)."""
    return device_count() > 0


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without CuPy, a driver or a GPU)."""
    return backend.gpu_count()


def current_device() -> int:
    """The index of the current GPU; raises :class:`~chainrule.errors.DeviceError` without."""
    return int(backend.cupy().cuda.Device().id)


def get_device_name(index: int | None = None) -> str:
    """The name of GPU ``index`` (the current one by default), e.g. ``"NVIDIA H100"``."""
    cp = backend.cupy()
    props = cp.cuda.runtime.getDeviceProperties(current_device() if index is None else index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    """Wait until the current GPU has finished its queued work (for timing)."""
    backend.cupy().cuda.Device().synchronize()
