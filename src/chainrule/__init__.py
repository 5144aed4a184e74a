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
    gradients,
    inference_mode,
    is_grad_enabled,
    no_grad,
    primitive,
    set_grad_enabled,
)
from chainrule.backend import (
    Device,
    device,
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
    DeviceError,
    DTypeError,
    GradcheckError,
    GraphFreedError,
    InplaceError,
    ShapeError,
)
from chainrule.functional import (
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    linearize,
    value_and_grad,
    vjp,
)
from chainrule.ops import *  # noqa: F403 - the ops are the public face
from chainrule.ops import __all__ as _ops_all
from chainrule.tensor import Tensor, tensor

__version__ = "0.1.0"

__all__ = [
    "AnomalyError", "BackwardError", "ChainruleError", "DTypeError", "Device", "DeviceError",
    "device", "GradcheckError",
    "GraphFreedError", "InplaceError", "Node", "Primitive", "ShapeError", "Tensor",
    "arange", "cuda", "data", "detect_anomaly", "distributed", "enable_grad", "errors", "explain",
    "eye", "full",
    "full_like", "get_backend", "get_default_dtype", "grad", "gradcheck", "gradients", "hessian",
    "is_grad_enabled", "jacobian", "linspace", "load", "load_model", "manual_seed", "nn", "no_grad",
    "numerical_grad", "ones", "ones_like", "optim", "primitive", "rand", "rand_like",
    "randint", "randn", "randn_like", "save", "set_backend", "set_default_dtype",
    "set_grad_enabled", "tensor", "train", "value_and_grad", "vjp", "zeros", "zeros_like",
    "hvp", "jacfwd", "jacrev", "jvp", "linearize",
    "special",
    "linalg",
    "inference_mode",
    *_ops_all,
]  # fmt: skip

# The floors above the engine, in the order they build on each other.
from chainrule import cuda as cuda
from chainrule import data as data
from chainrule import distributed as distributed
from chainrule import explain as explain
from chainrule import linalg as linalg
from chainrule import nn as nn
from chainrule import optim as optim
from chainrule import special as special
from chainrule import train as train
from chainrule.io import load, load_model, save


def __getattr__(name: str):
    """``cr.onnx`` and ``cr.sklearn`` load on first use: they import optional packages."""
    if name in ("onnx", "sklearn"):
        import importlib

        return importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
