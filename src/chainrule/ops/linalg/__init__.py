"""Matrix products (``matmul`` with NumPy's rules, the fused ``linear`` of a layer) and
NumPy's ``numpy.linalg`` with gradients, batched over leading axes.

The table is in four files: :mod:`~chainrule.ops.linalg.products` (matmul, linear, outer,
vecdot, multi_dot), :mod:`~chainrule.ops.linalg.solves` (inverses, solves, determinants,
pseudo-inverses, least squares, matrix powers), :mod:`~chainrule.ops.linalg.decompositions`
(Cholesky, eigh, SVD, QR) and :mod:`~chainrule.ops.linalg.norms` (norms, condition numbers,
ranks). Rules are written with these same ops, so they differentiate again. The public face
is :mod:`chainrule.linalg`.
Importing from the package gives every name of its files (the internal primitives too).
"""

from chainrule.ops.linalg._common import (  # noqa: F401 (re-exported)
    EighResult,
    LstsqResult,
    QRResult,
    SlogdetResult,
    SVDResult,
)
from chainrule.ops.linalg.decompositions import (  # noqa: F401 (re-exported)
    _cholesky,
    _eigh,
    _qr,
    _svd,
    cholesky,
    eigh,
    eigvalsh,
    qr,
    svd,
    svdvals,
)
from chainrule.ops.linalg.norms import (  # noqa: F401 (re-exported)
    _pnorm,
    cond,
    matrix_norm,
    matrix_rank,
    norm,
    vector_norm,
)
from chainrule.ops.linalg.products import (  # noqa: F401 (re-exported)
    linear,
    matmul,
    matmul_tn,
    matrix_transpose,
    multi_dot,
    outer,
    vecdot,
)
from chainrule.ops.linalg.solves import (  # noqa: F401 (re-exported)
    _lstsq,
    _slogdet,
    _solve,
    _solve_triangular,
    det,
    inv,
    lstsq,
    matrix_power,
    pinv,
    slogdet,
    solve,
    solve_triangular,
)
