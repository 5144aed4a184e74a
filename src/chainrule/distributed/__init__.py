"""Floor 4: data-parallel training over MPI, the design of ChainerMN and Horovod.

Launch the same program on N processes (``mpiexec -n 4 python train.py``, or
``mpiexec -n 4 chainrule train ...``). Each process (a *rank*) holds the whole model and a
disjoint share of every batch (:class:`DistributedSampler`); rank 0's weights are broadcast
at the start (:func:`broadcast_parameters`); after each backward the gradients are averaged
over the ranks in a few large allreduces (:func:`allreduce_gradients`, or
:func:`DistributedOptimizer` doing it in ``step``), so every rank takes the same step;
metrics are summed over the ranks; :class:`SyncBatchNorm` normalises with the global batch's
statistics. Outside ``mpiexec`` everything here is a single process of rank 0, and MPI is
not imported.

Faults: an uncaught exception in any rank prints one line naming the rank and aborts the
whole job (``MPI_Abort``); the launcher ends the job when a rank dies.

>>> import chainrule as cr
>>> cr.distributed.rank(), cr.distributed.size()
(0, 1)
"""

from chainrule.distributed.comm import (
    abort,
    all_reduce,
    allgather_json,
    allreduce_,
    allreduce_sum,
    barrier,
    broadcast_,
    comm_stats,
    init,
    is_distributed,
    launched_by_mpi,
    rank,
    size,
)
from chainrule.distributed.parallel import (
    BUCKET_MB,
    DistributedOptimizer,
    allreduce_gradients,
    broadcast_parameters,
    check_consistent,
    is_rank_zero,
)
from chainrule.distributed.sampler import DistributedSampler
from chainrule.distributed.sync_bn import SyncBatchNorm

__all__ = [
    "BUCKET_MB", "DistributedOptimizer", "DistributedSampler", "SyncBatchNorm", "abort",
    "all_reduce", "allgather_json", "allreduce_", "allreduce_gradients", "allreduce_sum",
    "barrier", "broadcast_", "broadcast_parameters", "check_consistent", "comm_stats", "init",
    "is_distributed", "is_rank_zero", "launched_by_mpi", "rank", "size",
]  # fmt: skip
