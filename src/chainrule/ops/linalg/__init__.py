"""Matrix products (``matmul`` with NumPy's rules, the fused ``linear`` of a layer) and
NumPy's ``numpy.linalg`` with gradients, batched over leading axes.

The table is in four files: :mod:`~chainrule.ops.linalg.products` (matmul, linear, outer,
vecdot, multi_dot), :mod:`~chainrule.ops.linalg.solves` (inverses, solves, determinants,
pseudo-inverses, least squares, matrix powers), :mod:`~chainrule.ops.linalg.decompositions`
(Cholesky, eigh, SVD, QR) and :mod:`~chainrule.ops.linalg.norms` (norms, condition numbers,
ranks). Rules are written with these same ops, so they differentiate again. The public face
is :mod:`chainrule.linalg`.
"""

from chainrule.ops.linalg._common import (
    EighResult,
    LstsqResult,
    QRResult,
    SlogdetResult,
    SVDResult,
)
from chainrule.ops.linalg.decompositions import (
    _cholesky,  # noqa: F401 (internal primitives: the family's whole table is here)
    _eigh,  # noqa: F401
    _qr,  # noqa: F401
    _svd,  # noqa: F401
    cholesky,
    eigh,
    eigvalsh,
    qr,
    svd,
    svdvals,
)
from chainrule.ops.linalg.norms import (
    _pnorm,  # noqa: F401
    cond,
    matrix_norm,
    matrix_rank,
    norm,
    vector_norm,
)
from chainrule.ops.linalg.products import (
    linear,
    matmul,
    matmul_tn,
    matrix_transpose,
    multi_dot,
    outer,
    vecdot,
)
from chainrule.ops.linalg.solves import (
    _logabsdet,  # noqa: F401
    _lstsq,  # noqa: F401
    _solve,  # noqa: F401
    _solve_triangular,  # noqa: F401
    det,
    inv,
    lstsq,
    matrix_power,
    pinv,
    slogdet,
    solve,
    solve_triangular,
)

__all__ = [
    "EighResult", "LstsqResult", "QRResult", "SVDResult", "SlogdetResult", "cholesky", "cond",
    "det", "eigh", "eigvalsh", "inv", "linear", "lstsq", "matmul", "matmul_tn",
    "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "multi_dot", "norm",
    "outer", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "svdvals", "vecdot",
    "vector_norm",
]  # fmt: skip
