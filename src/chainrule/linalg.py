"""``cr.linalg``: NumPy's ``numpy.linalg`` with gradients (batched over leading axes, as NumPy).

Decompositions, inverses and solves (``inv``, ``solve``, ``solve_triangular``, ``det``,
``slogdet``, ``cholesky``, ``eigh``, ``eigvalsh``, ``svd``, ``svdvals``, ``qr``, ``pinv``,
``lstsq``), norms and numbers (``norm``, ``vector_norm``, ``matrix_norm``, ``cond``,
``matrix_rank``) and products (``matmul``, ``multi_dot``, ``matrix_power``, ``outer``,
``vecdot``, ``tensordot``, ``trace``, ``diagonal``, ``cross``, ``matrix_transpose``).
Singular or non-positive-definite input raises :class:`~chainrule.errors.LinAlgError`
naming the op and the shape. The ops and their gradient rules live in
:mod:`chainrule.ops.linalg`; this module only gathers NumPy's names.

>>> import chainrule as cr
>>> a = cr.tensor([[2.0, 1.0], [1.0, 3.0]], dtype="float64", requires_grad=True)
>>> cr.linalg.det(a).backward()
>>> a.grad
tensor([[ 3., -1.],
        [-1.,  2.]], dtype=float64)
"""

from chainrule.errors import LinAlgError
from chainrule.ops.linalg import (
    EighResult,
    LstsqResult,
    QRResult,
    SlogdetResult,
    SVDResult,
    cholesky,
    cond,
    det,
    eigh,
    eigvalsh,
    inv,
    lstsq,
    matmul,
    matrix_norm,
    matrix_power,
    matrix_rank,
    matrix_transpose,
    multi_dot,
    norm,
    outer,
    pinv,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
    svdvals,
    vecdot,
    vector_norm,
)
from chainrule.ops.products import cross, diagonal, tensordot, trace

__all__ = [
    "EighResult", "LinAlgError", "LstsqResult", "QRResult", "SVDResult", "SlogdetResult",
    "cholesky", "cond", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "lstsq",
    "matmul", "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "multi_dot",
    "norm", "outer", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "svdvals",
    "tensordot", "trace", "vecdot", "vector_norm",
]  # fmt: skip
