"""Floor 3: neural-network building blocks with PyTorch's names, ``cr.nn``.

``Module`` and ``Parameter``; containers; layers; activation modules; losses; the functional
forms in :mod:`chainrule.nn.functional` (``F``); initialisers in :mod:`chainrule.nn.init`;
and the seeds' regularisers :func:`l1_penalty` / :func:`l2_penalty`.
"""

from chainrule.nn import functional, init, utils
from chainrule.nn.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.container import ModuleDict, ModuleList, Sequential
from chainrule.nn.layers import Dropout, Embedding, Flatten, Identity, Linear, Residual
from chainrule.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from chainrule.nn.module import Module, Parameter, RemovableHandle
from chainrule.nn.normalization import BatchNorm1d, LayerNorm
from chainrule.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from chainrule.nn.regularization import l1_penalty, l2_penalty
from chainrule.nn.summary import summary
from chainrule.nn.transformer import (
    PositionalEncoding,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "ELU", "GELU", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "CrossEntropyLoss",
    "Dropout", "Embedding", "Flatten", "HuberLoss", "Identity", "L1Loss", "LayerNorm",
    "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "Module", "ModuleDict", "ModuleList",
    "NLLLoss", "Parameter", "ReLU", "RemovableHandle", "Residual", "Sequential", "Sigmoid",
    "Softmax", "Softplus", "Tanh", "functional", "init", "l1_penalty", "l2_penalty", "summary",
    "utils",
]  # fmt: skip
__all__ += [
    "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "MultiheadAttention", "PositionalEncoding",
    "RNNCell", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer",
]  # fmt: skip
