"""chainrule: backpropagation you can read.

Reverse-mode automatic differentiation over NumPy arrays, and on top of it what is needed to
build, train, inspect and ship neural networks. This module only re-exports the public face.
"""

import importlib
from typing import Any

# With the engine come the layers, optimisers and data (the floors above load on first use).
from chainrule import cuda as cuda
from chainrule import data as data
from chainrule import errors
from chainrule import linalg as linalg
from chainrule import nn as nn
from chainrule import optim as optim
from chainrule import special as special
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
from chainrule.compile import compile
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
from chainrule.nn.functional import cross_entropy
from chainrule.ops import *  # noqa: F403 - the ops are the public face
from chainrule.ops import __all__ as _ops_all
from chainrule.tensor import Tensor, tensor

# The floors above load on first use (``cr.train``, ``from chainrule import explain``): they
# import heavier packages (rich, matplotlib, safetensors, onnx) that the engine never needs.
_LAZY_MODULES = ("cli", "distributed", "explain", "io", "onnx", "sklearn", "train")
_LAZY_NAMES = {"load": "io", "load_model": "io", "save": "io"}
_LAZY_IN_ALL = ("distributed", "explain", "train", *_LAZY_NAMES)  # not onnx, sklearn: optional

__all__ = [
    "AnomalyError", "BackwardError", "ChainruleError", "DTypeError", "Device", "DeviceError",
    "device", "GradcheckError",
    "GraphFreedError", "InplaceError", "Node", "Primitive", "ShapeError", "Tensor",
    "arange", "cuda", "data", "detect_anomaly", "enable_grad", "errors",
    "eye", "full",
    "full_like", "get_backend", "get_default_dtype", "grad", "gradcheck", "gradients", "hessian",
    "is_grad_enabled", "jacobian", "linspace", "manual_seed", "nn", "no_grad",
    "numerical_grad", "ones", "ones_like", "optim", "primitive", "rand", "rand_like",
    "randint", "randn", "randn_like", "set_backend", "set_default_dtype",
    "set_grad_enabled", "tensor", "value_and_grad", "vjp", "zeros", "zeros_like",
    "hvp", "jacfwd", "jacrev", "jvp", "linearize",
    "special",
    "linalg",
    "inference_mode",
    "compile",
    "cross_entropy",
    *_ops_all,
    *_LAZY_IN_ALL,
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """The heavy floors and what they define, imported on first access (PEP 562), and
    ``__version__``."""
    if name == "__version__":  # from the package's metadata, read on first use
        from chainrule._version import version

        value = version()
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"chainrule.{name}")
    elif name in _LAZY_NAMES:
        value = getattr(importlib.import_module(f"chainrule.{_LAZY_NAMES[name]}"), name)
    else:
        raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
    globals()[name] = value  # later accesses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"__version__", *_LAZY_MODULES, *_LAZY_NAMES})
