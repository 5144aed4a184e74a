"""Floor 2: the primitives, each a forward in backend array calls plus a gradient rule.

One file per family, each readable as a table of derivatives:
elementwise, reduction, linalg, shape, activation, loss.
"""

from chainrule.ops.activation import (
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    normal_cdf,
    relu,
    sigmoid,
    softmax,
    softplus,
)
from chainrule.ops.elementwise import (
    abs,
    add,
    astype,
    clip,
    copy,
    cos,
    divide,
    equal,
    erf,
    exp,
    floor,
    greater,
    greater_equal,
    isfinite,
    isnan,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    round,
    sign,
    sin,
    sqrt,
    subtract,
    tanh,
    where,
)
from chainrule.ops.linalg import linear, matmul
from chainrule.ops.loss import cross_entropy, softmax_cross_entropy
from chainrule.ops.reduction import (
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    std,
    sum,
    var,
)
from chainrule.ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    index_data,
    pad,
    reshape,
    split,
    squeeze,
    stack,
    swapaxes,
    transpose,
)

__all__ = [
    "abs", "add", "argmax", "argmin", "astype", "broadcast_to", "clip", "concatenate", "copy",
    "cos", "cross_entropy", "divide", "elu", "equal", "erf", "exp", "expand_dims", "floor",
    "gelu", "getitem", "greater", "greater_equal", "index_data", "isfinite", "isnan",
    "leaky_relu", "less", "less_equal", "linear", "log", "log_softmax", "logical_and",
    "logical_not", "logical_or", "logsumexp", "matmul", "max", "maximum", "mean", "min",
    "minimum", "multiply", "negative", "normal_cdf", "not_equal", "pad", "power", "relu",
    "reshape", "round", "sigmoid", "sign", "sin", "softmax", "softmax_cross_entropy",
    "softplus", "split", "sqrt", "squeeze", "stack", "std", "subtract", "sum", "swapaxes",
    "tanh", "transpose", "var", "where",
]  # fmt: skip
