"""Ops that move elements around without changing them: reshape, transpose, joins, splits,
flips, rolls, repeats, pads.

Their gradients move ``g`` back: reshape it, transpose it back, cut it, sum the copies.
Indexing (``x[i]``, gather, scatter) lives in :mod:`chainrule.ops.indexing`. The table is in
three files: :mod:`~chainrule.ops.shape.reshaping` (views and reorders of one tensor),
:mod:`~chainrule.ops.shape.joining` (joins and splits) and :mod:`~chainrule.ops.shape.tiling`
(pads, repeats, tiles, differences, nested arrays).
"""

from chainrule.ops._axes import accepts_dim
from chainrule.ops.indexing import getitem, index_data
from chainrule.ops.shape.joining import (
    _concatenate,  # noqa: F401 (internal primitives: the family's whole table is here)
    _stack,  # noqa: F401
    append,
    array_split,
    block,
    column_stack,
    compress,
    concatenate,
    delete,
    dsplit,
    dstack,
    hsplit,
    hstack,
    insert,
    split,
    stack,
    unstack,
    vsplit,
    vstack,
)
from chainrule.ops.shape.reshaping import (
    _flip,  # noqa: F401
    as_tensor,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    broadcast_arrays,
    broadcast_to,
    expand_dims,
    flatten,
    flip,
    fliplr,
    flipud,
    matrix_transpose,
    moveaxis,
    normalize_axis,
    ravel,
    reshape,
    roll,
    rot90,
    squeeze,
    swapaxes,
    to_device,
    transpose,
)
from chainrule.ops.shape.tiling import (
    _pad,  # noqa: F401
    array,
    diff,
    meshgrid,
    pad,
    repeat,
    tile,
)

__all__ = [
    "accepts_dim", "append", "array", "array_split", "as_tensor", "atleast_1d", "atleast_2d",
    "atleast_3d", "block", "broadcast_arrays", "broadcast_to", "column_stack", "compress",
    "concatenate", "delete", "diff", "dsplit", "dstack", "expand_dims", "flatten", "flip",
    "fliplr", "flipud", "getitem", "hsplit", "hstack", "index_data", "insert",
    "matrix_transpose", "meshgrid", "moveaxis", "normalize_axis", "pad", "ravel", "repeat",
    "reshape", "roll", "rot90", "split", "squeeze", "stack", "swapaxes", "tile", "to_device",
    "transpose", "unstack", "vsplit", "vstack",
]  # fmt: skip
