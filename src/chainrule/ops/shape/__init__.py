"""Ops that move elements around without changing them: reshape, transpose, joins, splits,
flips, rolls, repeats, pads.

Their gradients move ``g`` back: reshape it, transpose it back, cut it, sum the copies.
Indexing (``x[i]``, gather, scatter) lives in :mod:`chainrule.ops.indexing`. The table is in
three files: :mod:`~chainrule.ops.shape.reshaping` (views and reorders of one tensor),
:mod:`~chainrule.ops.shape.joining` (joins and splits) and :mod:`~chainrule.ops.shape.tiling`
(pads, repeats, tiles, differences, nested arrays).
Importing from the package gives every name of its files (the internal primitives too).
"""

from chainrule.ops._axes import accepts_dim  # noqa: F401 (re-exported)
from chainrule.ops.indexing import getitem, index_data  # noqa: F401 (re-exported)
from chainrule.ops.shape.joining import (  # noqa: F401 (re-exported)
    _concatenate,
    _stack,
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
from chainrule.ops.shape.reshaping import (  # noqa: F401 (re-exported)
    _flip,
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
from chainrule.ops.shape.tiling import (  # noqa: F401 (re-exported)
    _pad,
    array,
    diff,
    meshgrid,
    pad,
    repeat,
    tile,
)
