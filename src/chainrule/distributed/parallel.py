"""Data parallelism: the same model on every rank, each rank a share of every batch.

At the start, rank 0's parameters and buffers are broadcast to the others, after checking that
every rank holds a model of the same shapes and data of the same size. After each backward,
the gradients are averaged over the ranks (an allreduce in a few large buckets) before the
optimiser steps, so every rank takes the same step and the weights stay identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chainrule import backend
from chainrule.autograd import enable_grad
from chainrule.distributed.comm import allgather_json, allreduce_, broadcast_, rank, size
from chainrule.errors import DistributedError
from chainrule.nn import Module
from chainrule.tensor import Tensor

BUCKET_MB = 25.0
"""Default size of one allreduce message (MiB), as PyTorch's DDP ``bucket_cap_mb``."""


def check_consistent(model: Module | None = None, n_samples: int | None = None) -> None:
    """Refuse a start where ranks disagree: raises
    :class:`~chainrule.errors.DistributedError` on every rank, naming rank 0 and the first
    rank that differs and what each has, when the number of samples or the names, shapes or
    dtypes of the model's parameters and buffers differ. A collective: every rank calls it.
    """
    mine: dict[str, Any] = {}
    if n_samples is not None:
        mine["samples"] = int(n_samples)
    if model is not None:
        mine["tensors"] = [
            [name, list(t.shape), str(t.dtype)] for name, t in model.state_dict().items()
        ]
    every = allgather_json(mine)
    ref = every[0]
    for r, other in enumerate(every[1:], start=1):
        if other.get("samples") != ref.get("samples"):
            raise DistributedError(
                f"the ranks hold data of different sizes: rank 0 has {ref.get('samples')} "
                f"samples, rank {r} has {other.get('samples')}; give every rank the same data"
            )
        a, b = ref.get("tensors", []), other.get("tensors", [])
        if a != b:
            raise DistributedError(
                f"the ranks hold different models: {_first_difference(a, b, r)}; build the "
                "same model on every rank"
            )


def broadcast_parameters(model: Module, root: int = 0) -> None:
    """Overwrite every parameter and buffer with rank ``root``'s, in place (so that every rank
    starts from the same weights whatever its random state)."""
    tensors = [t for t in (*model.parameters(), *model.buffers())]
    for bucket in _buckets([t.data for t in tensors], BUCKET_MB):
        broadcast_(bucket, root)


def allreduce_gradients(
    parameters: Iterable[Tensor], bucket_mb: float = BUCKET_MB, average: bool = True
) -> None:
    """Average (or sum) every parameter's ``.grad`` over the ranks, in place, in buckets of
    about ``bucket_mb`` MiB. A parameter without a gradient counts as zeros (and gets the
    result), so that every rank sends the same buckets."""
    params = [p for p in parameters if p.requires_grad]
    if size() == 1 or not params:
        return
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = Tensor._make(backend.array_module(p.data).zeros_like(p.data))
        grads.append(p.grad.data)
    for bucket in _buckets(grads, bucket_mb):
        allreduce_(bucket, average=average)


def DistributedOptimizer(optimizer: Any, bucket_mb: float = BUCKET_MB) -> Any:
    """Make ``optimizer`` average the gradients over the ranks before each step (Horovod's
    ``DistributedOptimizer``). The same object is returned, its class now a subclass that does
    so, so a scheduler built on it keeps working.

    Use with :func:`broadcast_parameters` at the start; each rank's loss is the mean over its
    share of the batch. Clip gradients after the average: call :func:`allreduce_gradients`
    yourself and use a plain optimiser instead.
    """
    cls = type(optimizer)
    if getattr(cls, "_averages_gradients", False):
        return optimizer
    sub = _DISTRIBUTED.get(cls)
    if sub is None:
        sub = _DISTRIBUTED[cls] = type(
            f"Distributed{cls.__name__}",
            (cls,),
            {"_averages_gradients": True, "step": _distributed_step, "__module__": __name__},
        )
    optimizer.__class__ = sub
    optimizer._bucket_mb = float(bucket_mb)
    return optimizer


_DISTRIBUTED: dict[type, type] = {}


def _distributed_step(self: Any, closure: Callable[[], Any] | None = None) -> Any:
    loss = None
    if closure is not None:
        with enable_grad():
            loss = closure()
    allreduce_gradients(
        (p for group in self.param_groups for p in group["params"]), self._bucket_mb
    )
    super(type(self), self).step()
    return loss


def _buckets(arrays: list[Any], bucket_mb: float) -> list[list[Any]]:
    """Consecutive arrays grouped into lists of at most ``bucket_mb`` MiB (an array larger
    than that is a bucket of its own)."""
    limit = bucket_mb * 2**20
    out: list[list[Any]] = []
    current: list[Any] = []
    used = 0
    for a in arrays:
        if current and used + a.nbytes > limit:
            out.append(current)
            current, used = [], 0
        current.append(a)
        used += a.nbytes
    if current:
        out.append(current)
    return out


def _first_difference(a: list, b: list, r: int) -> str:
    names_a = {t[0]: t for t in a}
    names_b = {t[0]: t for t in b}
    for name, ta in names_a.items():
        tb = names_b.get(name)
        if tb is None:
            return f"rank 0 has {name!r} {tuple(ta[1])}, rank {r} has no {name!r}"
        if ta != tb:
            return (
                f"{name!r} is {tuple(ta[1])} {ta[2]} on rank 0 but {tuple(tb[1])} {tb[2]} "
                f"on rank {r}"
            )
    extra = next(iter(set(names_b) - set(names_a)))
    return f"rank {r} has {extra!r} {tuple(names_b[extra][1])}, rank 0 has no {extra!r}"


def is_rank_zero() -> bool:
    """Whether this process is rank 0 (the one that prints and writes)."""
    return rank() == 0
