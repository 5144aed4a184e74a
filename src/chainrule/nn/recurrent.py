"""Recurrent layers with PyTorch's names, arguments, weight layouts and state_dict keys:
``RNN`` (tanh or relu), ``LSTM``, ``GRU`` and their one-step cells.

Backpropagation through time is the seeds' chain rule summed over every path: the state h_t
feeds both the output at t and the next state h_{t+1}, so ∇h_t ℒ = (from the output at t) +
(∂h_{t+1}/∂h_t)ᵀ ∇h_{t+1} ℒ. The engine adds the two paths where they meet; nothing here is
special to recurrence beyond writing the step once and applying it along the sequence.

Each layer computes x_t W_ihᵀ + b_ih for every time step in one matrix product, then walks the
sequence with one matrix product per step for h_{t-1} W_hhᵀ + b_hh (the gates of an LSTM or GRU
stacked in one matrix, in PyTorch's order: i, f, g, o and r, z, n).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.compile import replayable
from chainrule.errors import ShapeError
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.activation import relu, sigmoid
from chainrule.ops.elementwise import tanh, where
from chainrule.ops.linalg import linear
from chainrule.ops.recurrent import gru_scan, input_terms, lstm_scan, rnn_scan
from chainrule.ops.shape import concatenate, getitem, reshape, stack, swapaxes
from chainrule.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ---------------------------------------------------------------------------- one step
def _rnn_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, act: Any) -> Tensor:
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), with ``xw`` the first two terms."""
    return act(xw + linear(h, w_hh, b_hh))


def _lstm_step(
    xw: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None
) -> tuple[Tensor, Tensor]:
    """i, f, g, o = σ, σ, tanh, σ of the stacked gates; c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c')."""
    n = h.shape[-1]
    gates = xw + linear(h, w_hh, b_hh)
    i = sigmoid(getitem(gates, (..., slice(0, n))))
    f = sigmoid(getitem(gates, (..., slice(n, 2 * n))))
    g = tanh(getitem(gates, (..., slice(2 * n, 3 * n))))
    o = sigmoid(getitem(gates, (..., slice(3 * n, 4 * n))))
    c = f * c + i * g
    return o * tanh(c), c


def _gru_step(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """r, z = σ(x_r + h_r), σ(x_z + h_z); n = tanh(x_n + r ⊙ h_n); h' = (1 − z) ⊙ n + z ⊙ h."""
    k = h.shape[-1]
    hw = linear(h, w_hh, b_hh)
    r = sigmoid(getitem(xw, (..., slice(0, k))) + getitem(hw, (..., slice(0, k))))
    z = sigmoid(getitem(xw, (..., slice(k, 2 * k))) + getitem(hw, (..., slice(k, 2 * k))))
    n = tanh(getitem(xw, (..., slice(2 * k, 3 * k))) + r * getitem(hw, (..., slice(2 * k, 3 * k))))
    return n + z * (h - n)


# ---------------------------------------------------------------------------- packed batches
@replayable  # cr.compile makes it again at each replay
def _zero_state(shape: tuple[int, ...], dtype: Any) -> Any:
    """The zero initial state of a recurrent layer."""
    return backend.xp.zeros(shape, dtype=dtype)


class PackedSequence:
    """A batch of sequences of different lengths, as PyTorch packs it: ``data`` holds the valid
    steps time-major, (sum(lengths), *), ``batch_sizes[t]`` how many sequences are still running
    at step t; ``sorted_indices`` / ``unsorted_indices`` map between the caller's batch order
    and the decreasing-length order used inside (``None`` when the caller's batch was sorted).
    Made by :func:`chainrule.nn.utils.rnn.pack_padded_sequence`.
    """

    def __init__(
        self,
        data: Tensor,
        batch_sizes: np.ndarray,
        sorted_indices: np.ndarray | None = None,
        unsorted_indices: np.ndarray | None = None,
    ) -> None:
        self.data = data
        self.batch_sizes = np.asarray(batch_sizes, dtype=np.int64)
        self.sorted_indices = sorted_indices
        self.unsorted_indices = unsorted_indices

    def __iter__(self):  # unpacks like PyTorch's namedtuple
        return iter((self.data, self.batch_sizes, self.sorted_indices, self.unsorted_indices))

    @property
    def lengths(self) -> np.ndarray:
        """Each sequence's length, in the sorted (decreasing) order."""
        return (self.batch_sizes[None, :] > np.arange(self.batch_sizes[0])[:, None]).sum(1)

    def __repr__(self) -> str:
        return (
            f"PackedSequence(data shape {tuple(self.data.shape)}, "
            f"batch_sizes={self.batch_sizes.tolist()})"
        )


def _packed_positions(batch_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time, sorted-batch) position of each row of packed data."""
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    b = np.arange(len(t)) - np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)
    return t, b


def _unpack(packed: PackedSequence, padding_value: float = 0.0) -> Tensor:
    """Packed data -> padded (T, N, *) in sorted batch order (a gather, so gradients flow)."""
    data = packed.data
    sizes = packed.batch_sizes
    steps, batch = len(sizes), int(sizes[0])
    t, b = _packed_positions(sizes)
    index = np.full((steps, batch), len(t), dtype=np.int64)  # padding: an extra row
    index[t, b] = np.arange(len(t))
    pad = Tensor._make(backend.xp.full((1, *data.shape[1:]), padding_value, dtype=data.data.dtype))
    return getitem(concatenate([data, pad], axis=0), backend.xp.asarray(index))


def _pack(padded: Tensor, batch_sizes: np.ndarray) -> Tensor:
    """Padded (T, N, *) in sorted batch order -> packed data (the valid steps, time-major)."""
    t, b = _packed_positions(batch_sizes)
    return getitem(padded, (backend.xp.asarray(t), backend.xp.asarray(b)))


# ---------------------------------------------------------------------------- layers
class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters (PyTorch's names and order), the walk over
    layers, directions and time, batch_first, unbatched input and packed batches.

    Each direction of each layer runs as one fused primitive (``chainrule.ops.recurrent``);
    packed batches, and any layer whose ``fused`` is set to False, run the same recurrence
    composed of per-step ops instead (slower; the tests compare the two).
    """

    fused = True

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if hidden_size <= 0 or input_size < 0 or num_layers <= 0:
            raise ValueError(
                f"{name}: input_size, hidden_size and num_layers must be positive, got "
                f"{input_size}, {hidden_size} and {num_layers}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout}")
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        gates = _GATES[mode] * self.hidden_size
        dtype = backend.get_default_dtype()
        xp = backend.xp
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                width = self.input_size if layer == 0 else self.hidden_size * self._dirs
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", Parameter(xp.empty((gates, width), dtype)))
                setattr(self, f"weight_hh_{name}", Parameter(xp.empty((gates, hidden_size), dtype)))
                if bias:
                    setattr(self, f"bias_ih_{name}", Parameter(xp.empty(gates, dtype)))
                    setattr(self, f"bias_hh_{name}", Parameter(xp.empty(gates, dtype)))
        self.reset_parameters()

    @property
    def _dirs(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        """Every weight and bias U(−1/√hidden_size, 1/√hidden_size), as PyTorch draws them."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, suffix: str) -> tuple[Tensor, Tensor, Any, Any]:
        name = f"l{layer}{suffix}"
        return (
            getattr(self, f"weight_ih_{name}"),
            getattr(self, f"weight_hh_{name}"),
            getattr(self, f"bias_ih_{name}", None),
            getattr(self, f"bias_hh_{name}", None),
        )

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """input (L, N, input_size), or (N, L, input_size) with ``batch_first``, or unbatched
        (L, input_size), or a :class:`PackedSequence`; ``hx`` the initial state(s),
        (num_layers * num_directions, N, hidden_size) each (zeros by default; for an LSTM the
        pair (h_0, c_0)). Returns (output, h_n) — (output, (h_n, c_n)) for an LSTM — with
        output (L, N, num_directions * hidden_size) (batch first if asked; packed if the input
        was) and h_n like h_0.

        Raises :class:`~chainrule.errors.ShapeError` naming the layer for an input of the wrong
        rank or feature size, or initial states of the wrong shape.
        """
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            x = _unpack(input)
            lengths = input.lengths
            unbatched = False
        else:
            x = input if isinstance(input, Tensor) else Tensor._make(backend.xp.asarray(input))
            if x.ndim not in (2, 3):
                raise ShapeError(
                    f"{self!r} expects input of shape (L, N, {self.input_size}) "
                    f"({'N, L' if self.batch_first else 'L, N'} order), or (L, "
                    f"{self.input_size}) unbatched; got shape {tuple(x.shape)}"
                )
            unbatched = x.ndim == 2
            if unbatched:
                x = reshape(x, (x.shape[0], 1, x.shape[1]))
            elif self.batch_first:
                x = swapaxes(x, 0, 1)
        if x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{self!r} expects input_size {self.input_size} in the last axis, got shape "
                f"{tuple(x.shape)}"
            )
        batch = x.shape[1]
        h0, c0 = self._initial_states(hx, batch, unbatched, x, input if packed else None)
        out, h_n, c_n = self._run(x, h0, c0, lengths)
        if packed:
            out = PackedSequence(
                _pack(out, input.batch_sizes),
                input.batch_sizes,
                input.sorted_indices,
                input.unsorted_indices,
            )
            if input.unsorted_indices is not None:
                h_n = getitem(h_n, (slice(None), backend.xp.asarray(input.unsorted_indices)))
                if c_n is not None:
                    c_n = getitem(c_n, (slice(None), backend.xp.asarray(input.unsorted_indices)))
        elif unbatched:
            out = reshape(out, (out.shape[0], out.shape[2]))
            h_n = reshape(h_n, (h_n.shape[0], h_n.shape[2]))
            if c_n is not None:
                c_n = reshape(c_n, (c_n.shape[0], c_n.shape[2]))
        elif self.batch_first:
            out = swapaxes(out, 0, 1)
        return out, ((h_n, c_n) if self.mode == "LSTM" else h_n)

    def _initial_states(
        self, hx: Any, batch: int, unbatched: bool, x: Tensor, packed: Any
    ) -> tuple[Tensor, Tensor | None]:
        want = (self.num_layers * self._dirs, batch, self.hidden_size)
        zeros = Tensor._make(_zero_state(want, x.data.dtype))
        lstm = self.mode == "LSTM"
        if hx is None:
            return zeros, (zeros if lstm else None)
        states = list(hx) if lstm else [hx]
        if len(states) != (2 if lstm else 1):
            raise ValueError(f"{self!r}: hx must be the pair (h_0, c_0)")
        out = []
        for s in states:
            s = s if isinstance(s, Tensor) else Tensor._make(backend.xp.asarray(s))
            if unbatched:
                s = reshape(s, (s.shape[0], 1, *s.shape[1:])) if s.ndim == 2 else s
            if tuple(s.shape) != want:
                shown = (want[0], want[2]) if unbatched else want
                raise ShapeError(f"{self!r}: expected hidden state {shown}, got {tuple(s.shape)}")
            if packed is not None and packed.sorted_indices is not None:
                s = getitem(s, (slice(None), backend.xp.asarray(packed.sorted_indices)))
            out.append(s)
        return out[0], (out[1] if lstm else None)

    def _run(
        self, x: Tensor, h0: Tensor, c0: Tensor | None, lengths: np.ndarray | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        steps = x.shape[0]
        masks = None
        if lengths is not None:
            masks = [backend.xp.asarray((t < lengths)[:, None]) for t in range(steps)]
        h_last, c_last = [], []
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes()):
                k = layer * self._dirs + d
                h = getitem(h0, k)
                c = getitem(c0, k) if c0 is not None else None
                xs = x if d == 0 else _reverse(x, lengths)
                ys, h, c = self._direction(xs, h, c, self._weights(layer, suffix), masks)
                outs.append(ys if d == 0 else _reverse(ys, lengths))
                h_last.append(h)
                if c is not None:
                    c_last.append(c)
            x = outs[0] if len(outs) == 1 else concatenate(outs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, stack(h_last), (stack(c_last) if c_last else None)

    def _direction(
        self, x: Tensor, h: Tensor, c: Tensor | None, weights: tuple, masks: list | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        if masks is None and self.fused:
            return self._fused(x, h, c, weights)
        w_ih, w_hh, b_ih, b_hh = weights
        xw = linear(x, w_ih, b_ih)  # every step's input term in one product
        act = relu if self.mode == "RNN_RELU" else tanh
        ys = []
        for t in range(x.shape[0]):
            xt = getitem(xw, t)
            if self.mode == "LSTM":
                h_new, c_new = _lstm_step(xt, h, c, w_hh, b_hh)
            elif self.mode == "GRU":
                h_new, c_new = _gru_step(xt, h, w_hh, b_hh), None
            else:
                h_new, c_new = _rnn_step(xt, h, w_hh, b_hh, act), None
            if masks is None:
                h, c = h_new, c_new
                ys.append(h)
            else:  # a finished sequence keeps its state and outputs zeros
                m = masks[t]
                h = where(m, h_new, h)
                c = where(m, c_new, c) if c is not None else None
                ys.append(where(m, h_new, 0.0))
        return stack(ys), h, c

    def _fused(
        self, x: Tensor, h: Tensor, c: Tensor | None, weights: tuple
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """One primitive for the whole walk over time (``ops.recurrent``)."""
        w_ih, w_hh, b_ih, b_hh = weights
        n = self.hidden_size
        if self.mode != "GRU" and b_hh is not None:  # both biases join the input term
            b_ih = b_hh if b_ih is None else b_ih + b_hh
        xw = input_terms(x, w_ih, b_ih)
        if self.mode == "GRU":  # b_hh sits inside r ⊙ (h W_hnᵀ + b_hn): it cannot join xw
            if b_hh is None:
                b_hh = Tensor._make(backend.xp.zeros(3 * n, dtype=x.data.dtype))
            ys = getitem(gru_scan(xw, h, w_hh, b_hh), (..., slice(4 * n, 5 * n)))
            return ys, getitem(ys, -1), None
        if self.mode == "LSTM":
            out = lstm_scan(xw, h, c, w_hh)
            ys = getitem(out, 6)
            return ys, getitem(ys, -1), getitem(out, (4, -1))
        ys = rnn_scan(xw, h, w_hh, relu=self.mode == "RNN_RELU")
        return ys, getitem(ys, -1), None

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):  # fmt: skip
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


def _reverse(x: Tensor, lengths: np.ndarray | None) -> Tensor:
    """Each sequence reversed in time within its own length (padding stays where it is)."""
    steps = x.shape[0]
    if lengths is None:
        return getitem(x, slice(None, None, -1))
    t = np.arange(steps)[:, None]
    index = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    cols = np.broadcast_to(np.arange(len(lengths)), index.shape)
    return getitem(x, (backend.xp.asarray(index), backend.xp.asarray(cols)))


class RNN(RNNBase):
    """Elman network: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (``nonlinearity``
    ``"tanh"`` or ``"relu"``), stacked ``num_layers`` deep, optionally bidirectional. See
    :meth:`RNNBase.forward` for shapes; parameters ``weight_ih_l0``, ``weight_hh_l0``,
    ``bias_ih_l0``, ``bias_hh_l0`` (``_reverse`` for the backward direction) as in PyTorch.

    >>> import chainrule as cr
    >>> out, h = cr.nn.RNN(3, 5, num_layers=2)(cr.randn(7, 4, 3))
    >>> out.shape, h.shape
    ((7, 4, 5), (2, 4, 5))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(
            "RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers, bias,
            batch_first, dropout, bidirectional,
        )  # fmt: skip

    @property
    def nonlinearity(self) -> str:
        return self.mode[4:].lower()


class _GatedRNN(RNNBase):
    """PyTorch's constructor of LSTM and GRU: RNNBase's arguments without ``mode``, which the
    class gives."""

    _mode = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:  # fmt: skip
        super().__init__(self._mode, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional)  # fmt: skip


class LSTM(_GatedRNN):
    """Long short-term memory (PyTorch's gate order i, f, g, o): c_t = f ⊙ c_{t−1} + i ⊙ g,
    h_t = o ⊙ tanh(c_t). Returns (output, (h_n, c_n)); see :meth:`RNNBase.forward`.

    >>> import chainrule as cr
    >>> out, (h, c) = cr.nn.LSTM(3, 5, batch_first=True)(cr.randn(4, 7, 3))
    >>> out.shape, h.shape, c.shape
    ((4, 7, 5), (1, 4, 5), (1, 4, 5))
    """

    _mode = "LSTM"


class GRU(_GatedRNN):
    """Gated recurrent unit (PyTorch's gate order r, z, n): n = tanh(x_n + r ⊙ (h W_hnᵀ +
    b_hn)), h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}. See :meth:`RNNBase.forward`.

    >>> import chainrule as cr
    >>> out, h = cr.nn.GRU(3, 5, bidirectional=True)(cr.randn(7, 4, 3))
    >>> out.shape, h.shape
    ((7, 4, 10), (2, 4, 5))
    """

    _mode = "GRU"


# ---------------------------------------------------------------------------- cells
class _CellBase(Module):
    def __init__(self, gates: int, input_size: int, hidden_size: int, bias: bool) -> None:
        super().__init__()
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bias
        dtype = backend.get_default_dtype()
        xp = backend.xp
        width = gates * self.hidden_size
        self.weight_ih = Parameter(xp.empty((width, self.input_size), dtype))
        self.weight_hh = Parameter(xp.empty((width, self.hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(xp.empty(width, dtype))
            self.bias_hh = Parameter(xp.empty(width, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias U(−1/√hidden_size, 1/√hidden_size), as PyTorch draws them."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _prepare(self, input: Any, states: list) -> tuple[Tensor, list[Tensor], bool]:
        x = input if isinstance(input, Tensor) else Tensor._make(backend.xp.asarray(input))
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(
                f"{self!r} expects input of shape (N, {self.input_size}) or "
                f"({self.input_size},), got shape {tuple(x.shape)}"
            )
        unbatched = x.ndim == 1
        if unbatched:
            x = reshape(x, (1, self.input_size))
        want = (x.shape[0], self.hidden_size)
        out = []
        for s in states:
            if s is None:
                s = Tensor._make(_zero_state(want, x.data.dtype))
            elif not isinstance(s, Tensor):
                s = Tensor._make(backend.xp.asarray(s))
            if unbatched and s.ndim == 1:
                s = reshape(s, (1, s.shape[0]))
            if tuple(s.shape) != want:
                raise ShapeError(
                    f"{self!r}: expected hidden state {want[1:] if unbatched else want}, "
                    f"got {tuple(s.shape)}"
                )
            out.append(s)
        return linear(x, self.weight_ih, self.bias_ih), out, unbatched

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


def _squeeze0(t: Tensor, unbatched: bool) -> Tensor:
    return reshape(t, (t.shape[-1],)) if unbatched else t


class RNNCell(_CellBase):
    """One step of :class:`RNN`: input (N, input_size) or (input_size,), hx like the output
    (N, hidden_size) (zeros by default) -> h'."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(1, input_size, hidden_size, bias)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        xw, (h,), unbatched = self._prepare(input, [hx])
        act = tanh if self.nonlinearity == "tanh" else relu
        return _squeeze0(_rnn_step(xw, h, self.weight_hh, self.bias_hh, act), unbatched)


class LSTMCell(_CellBase):
    """One step of :class:`LSTM`: (input, (h, c)) -> (h', c'); states zeros by default."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(4, input_size, hidden_size, bias)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        xw, (h, c), unbatched = self._prepare(input, [None, None] if hx is None else list(hx))
        h, c = _lstm_step(xw, h, c, self.weight_hh, self.bias_hh)
        return _squeeze0(h, unbatched), _squeeze0(c, unbatched)


class GRUCell(_CellBase):
    """One step of :class:`GRU`: (input, h) -> h'; h zeros by default."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(3, input_size, hidden_size, bias)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        xw, (h,), unbatched = self._prepare(input, [hx])
        return _squeeze0(_gru_step(xw, h, self.weight_hh, self.bias_hh), unbatched)
