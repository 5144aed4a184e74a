"""chainrule: backpropagation you can read.

Reverse-mode automatic differentiation over NumPy arrays, and on top of it what is needed to
build, train, inspect and ship neural networks. This module only re-exports the public face.
"""

from chainrule import errors
from chainrule.autograd import (
    Node,
    Primitive,
    detect_anomaly,
    enable_grad,
    grad,
    gradients,
    hessian,
    is_grad_enabled,
    jacobian,
    no_grad,
    primitive,
    set_grad_enabled,
    value_and_grad,
    vjp,
)
from chainrule.backend import (
    get_backend,
    get_default_dtype,
    manual_seed,
    set_backend,
    set_default_dtype,
)
from chainrule.check import gradcheck, numerical_grad
from chainrule.creation import (
    arange,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from chainrule.errors import (
    AnomalyError,
    BackwardError,
    ChainruleError,
    DTypeError,
    GradcheckError,
    GraphFreedError,
    InplaceError,
    ShapeError,
)
from chainrule.ops import *  # noqa: F403 - the ops are the public face
from chainrule.ops import __all__ as _ops_all
from chainrule.tensor import Tensor, tensor

__version__ = "0.1.0"

__all__ = [
    "AnomalyError", "BackwardError", "ChainruleError", "DTypeError", "GradcheckError",
    "GraphFreedError", "InplaceError", "Node", "Primitive", "ShapeError", "Tensor",
    "arange", "detect_anomaly", "enable_grad", "errors", "eye", "full", "full_like",
    "get_backend", "get_default_dtype", "grad", "gradcheck", "gradients", "hessian",
    "is_grad_enabled", "jacobian", "linspace", "manual_seed", "no_grad", "numerical_grad",
    "ones", "ones_like", "primitive", "rand", "rand_like", "randint", "randn", "randn_like",
    "set_backend", "set_default_dtype", "set_grad_enabled", "tensor", "value_and_grad",
    "vjp", "zeros", "zeros_like", *_ops_all,
]  # fmt: skip

from chainrule import data as data  # re-exported: cr.data
from chainrule import optim as optim  # re-exported: cr.optim
from chainrule import nn as nn  # re-exported: cr.nn
from chainrule import train as train  # re-exported: cr.train
