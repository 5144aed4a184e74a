"""Ranks, sizes and the collective operations, over MPI (mpi4py) when the program was
launched by ``mpiexec``; a single process (rank 0 of 1) otherwise, without importing MPI.

Arrays travel through host memory: GPU arrays are copied to the host and back.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
import traceback
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import primitive
from chainrule.errors import DistributedError

# Variables the MPI launchers set in every process they start (MPICH/Hydra, Open MPI, PMIx,
# Slurm's srun, Intel MPI).
_LAUNCH_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")

_comm: Any = None  # the mpi4py communicator, once initialised
_checked = False
_exit_status: list[Any] = [None]
_stats = {"allreduce_calls": 0, "allreduce_bytes": 0, "broadcast_bytes": 0}


def launched_by_mpi() -> bool:
    """Whether an MPI launcher (``mpiexec``, ``srun``) started this process."""
    return any(v in os.environ for v in _LAUNCH_VARS)


def init() -> None:
    """Join the MPI job, when this process was started by an MPI launcher (it is done on the
    first call to any function here; calling it is only needed to fail early).

    With more than one rank it installs a hook so that an uncaught exception in any rank
    prints one line naming the rank and aborts the whole job (``MPI_Abort``): the other ranks
    exit instead of waiting forever. It also wraps ``sys.exit`` to note the status, so that a
    rank exiting with a failure status aborts the job the same way at exit.
    Raises :class:`~chainrule.errors.DistributedError` when launched by MPI but mpi4py is
    missing.
    """
    _world()


def _world() -> Any:
    global _comm, _checked
    if _checked:
        return _comm
    if not launched_by_mpi():
        _checked = True
        return None
    try:
        from mpi4py import MPI  # type: ignore[import-not-found]
    except ImportError as exc:  # raised again at every call: never a silent single process
        raise DistributedError(
            f"this process was started by an MPI launcher but mpi4py is missing ({exc}); "
            "pip install 'chainrule[mpi]'"
        ) from exc
    _checked = True
    _comm = MPI.COMM_WORLD
    if _comm.Get_size() > 1:
        _install_abort_hook()
    return _comm


def rank() -> int:
    """This process's rank, 0 to ``size() - 1`` (0 outside MPI)."""
    comm = _world()
    return 0 if comm is None else comm.Get_rank()


def size() -> int:
    """The number of processes in the job (1 outside MPI)."""
    comm = _world()
    return 1 if comm is None else comm.Get_size()


def is_distributed() -> bool:
    """Whether more than one process takes part."""
    return size() > 1


def barrier() -> None:
    """Wait until every rank reaches this call."""
    comm = _world()
    if comm is not None:
        comm.Barrier()


def abort(message: str, code: int = 1) -> None:
    """Print ``chainrule: rank R of N: message`` on stderr and end every rank of the job
    (``MPI_Abort``); outside MPI, exit this process with ``code``."""
    comm = _world()
    where = "" if comm is None else f"rank {comm.Get_rank()} of {comm.Get_size()}: "
    print(f"chainrule: {where}{message}", file=sys.stderr, flush=True)
    if comm is not None and comm.Get_size() > 1:
        # The launcher forwards this rank's stderr through a pipe and takes the abort on
        # another channel; on a busy machine the abort can win and the line is lost. A
        # moment's wait lets it through (only on the way out of a failed job).
        time.sleep(0.5)
        comm.Abort(code)
        os._exit(code)  # Abort ends the job; this process must not run on meanwhile
    raise SystemExit(code)


def _install_abort_hook() -> None:
    """An uncaught exception, or ``sys.exit`` with a failure status, in one rank ends the job
    with a line naming the rank (the others would otherwise wait for it forever)."""
    previous = sys.excepthook
    exit_ = sys.exit

    def exit_and_record(status: Any = None) -> None:
        _exit_status[0] = status
        exit_(status)

    def at_exit() -> None:
        status = _exit_status[0]
        if status not in (None, 0):
            abort(f"exited with status {status!r}; stopping every rank", 1)

    sys.exit = exit_and_record  # type: ignore[assignment]
    atexit.register(at_exit)

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        if os.environ.get("CHAINRULE_DEBUG"):
            traceback.print_exception(kind, value, tb)
        elif kind is not SystemExit:
            text = " ".join(str(value).split())
            if not text:  # e.g. a bare assert: say where
                where = traceback.extract_tb(tb)[-1] if tb is not None else None
                text = f"at {where.filename}:{where.lineno}" if where else "(no message)"
            abort(f"{kind.__name__}: {text}; stopping every rank")
        previous(kind, value, tb)

    sys.excepthook = hook


# ---------------------------------------------------------------------------- collectives
def allreduce_(arrays: list[Any], average: bool = False) -> None:
    """Sum (or average) each array over the ranks, in place, every array on every rank.

    Arrays of one dtype travel together in one message (the caller makes the buckets).
    """
    comm = _world()
    if comm is None or comm.Get_size() == 1 or not arrays:
        return
    from mpi4py import MPI  # type: ignore[import-not-found]

    for group in _by_dtype(arrays):
        flat = np.concatenate([backend.to_numpy(a).reshape(-1) for a in group])  # a new buffer
        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        _stats["allreduce_calls"] += 1
        _stats["allreduce_bytes"] += flat.nbytes
        if average:
            flat /= comm.Get_size()
        _scatter_back(flat, group)


def broadcast_(arrays: list[Any], root: int = 0) -> None:
    """Overwrite each array, in place, with rank ``root``'s."""
    comm = _world()
    if comm is None or comm.Get_size() == 1 or not arrays:
        return
    for group in _by_dtype(arrays):
        flat = np.concatenate([backend.to_numpy(a).reshape(-1) for a in group])
        comm.Bcast(flat, root=root)
        _stats["broadcast_bytes"] += flat.nbytes
        _scatter_back(flat, group)


def allgather_json(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (anything JSON can hold), in rank order. Sent as JSON text, so
    nothing is unpickled."""
    comm = _world()
    if comm is None or comm.Get_size() == 1:
        return [obj]
    data = np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)
    sizes = np.zeros(comm.Get_size(), dtype=np.int64)
    comm.Allgather(np.array([data.size], dtype=np.int64), sizes)
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    from mpi4py import MPI  # type: ignore[import-not-found]

    comm.Allgatherv(data, [out, sizes.tolist(), MPI.UNSIGNED_CHAR])
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return [json.loads(out[a:b].tobytes()) for a, b in zip(bounds[:-1], bounds[1:])]


def allreduce_sum(values: Any) -> np.ndarray:
    """Sums over the ranks of a few float64 numbers (counts, running sums of metrics)."""
    arr = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    allreduce_([arr])
    return arr


@primitive
def all_reduce(x):
    """Differentiable sum over the ranks: every rank gets ``sum_r x_r`` (same shape).

    x̄ = Σ_r ḡ_r: all_reduce(ḡ), the ranks' gradients summed

    The gradient of the summed result is the sum of the ranks' gradients (one more
    ``all_reduce``), which is what synchronised batch normalisation needs.
    """
    out = backend.array_module(x).array(x, copy=True)
    allreduce_([out])
    return out


all_reduce.defvjp(lambda g, out, x: all_reduce(g), keep="")


def comm_stats(reset: bool = False) -> dict[str, int]:
    """What this process sent through collectives so far: ``allreduce_calls``,
    ``allreduce_bytes`` (the payload of each allreduce) and ``broadcast_bytes``."""
    out = dict(_stats)
    if reset:
        for k in _stats:
            _stats[k] = 0
    return out


def _by_dtype(arrays: list[Any]) -> list[list[Any]]:
    groups: dict[Any, list[Any]] = {}
    for a in arrays:
        groups.setdefault((a.dtype, backend.device_of(a)), []).append(a)
    return list(groups.values())


def _scatter_back(flat: np.ndarray, group: list[Any]) -> None:
    start = 0
    for a in group:
        n = a.size
        piece = flat[start : start + n].reshape(a.shape)
        if backend.device_of(a) is backend.CPU:
            a[...] = piece
        else:
            a[...] = backend.to_device(piece, backend.device_of(a))
        start += n
