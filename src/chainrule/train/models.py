"""The kinds of network ``chainrule train --model`` builds, one record each: how to describe
one in ``config.json`` (its spec) and how to build it from that spec.

* ``mlp``: the seeds' feed-forward network (:func:`~chainrule.train.run.build_mlp`), the
  default, for tabular data;
* ``cnn``: convolution, batch norm, ReLU and max pooling, once per entry of ``channels``, then
  a linear layer: 1-D for signals (MNIST-1D's 40 samples), 2-D for images (digits 8x8,
  Fashion-MNIST 28x28), shaped from the dataset (:func:`image_shape`);
* ``resnet``: the same stages, each followed by a residual block (two convolutions that an
  arrow skips, x + F(x): the seeds' arrows that skip layers), then global average pooling;
* ``gru``, ``lstm``: a bidirectional recurrent network reading each sample as a sequence
  (MNIST-1D's 40 values one at a time, an image row by row), its outputs at every step
  flattened into a linear layer (:class:`SequenceModel`);
* ``transformer``: the same with a pre-norm Transformer encoder (a linear embedding of each
  step and sinusoidal positions) in place of the recurrent layers; a 1-D signal's steps are
  patches of 5 consecutive values.

Each kind also carries the training defaults that suit it (``defaults``: optimiser, learning
rate, epochs, batch size, hidden sizes...), which :class:`~chainrule.train.settings.TrainSettings`
starts from; flags and config files override them.

The model takes the flattened, standardised rows that :class:`~chainrule.train.run.Preprocess`
makes and unflattens them to (N, C, *spatial) itself, so prediction, evaluation and export
work the same for every kind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chainrule import nn
from chainrule.nn import Module, Sequential
from chainrule.ops.shape import moveaxis, reshape
from chainrule.tensor import Tensor

__all__ = [
    "LARGE_TRAINING_SET", "MODELS", "SEQUENCE_KINDS", "ModelKind", "SequenceModel", "build_cnn",
    "build_sequence_model", "conv_data_defaults", "image_shape",
]  # fmt: skip

_PIXEL = re.compile(r"pixel_(\d+)_(\d+)$")


@dataclass(frozen=True)
class ModelKind:
    """One kind of network: its name, its default channels (convolutional kinds) and how to
    build it from its spec."""

    name: str
    build: Callable[[dict[str, Any]], Module]
    channels: tuple[int, ...] = ()
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Training settings this kind starts from (names of ``TrainSettings``' fields); ``None``
    for those it chooses from the data (:attr:`data_defaults`)."""
    data_defaults: Callable[[Sequence[int], int], dict[str, Any]] | None = None
    """``(input_shape, n_train) -> settings``: what this kind chooses for the settings left
    ``None`` once the data is loaded (:meth:`TrainSettings.resolved
    <chainrule.train.settings.TrainSettings.resolved>`); a setting it leaves out takes the
    general default."""


def image_shape(input_shape: Sequence[int], feature_names: Sequence[str] = ()) -> list[int]:
    """The (C, *spatial) a convolutional network sees for samples of ``input_shape``: images
    (H, W) get one channel; flat rows whose features are named ``pixel_<row>_<col>`` (the
    digits) are images again; any other flat row is a 1-D signal (1, L).

    >>> image_shape([28, 28]), image_shape([40])
    ([1, 28, 28], [1, 40])
    >>> image_shape([4], ["pixel_0_0", "pixel_0_1", "pixel_1_0", "pixel_1_1"])
    [1, 2, 2]
    """
    shape = [int(s) for s in input_shape]
    if len(shape) >= 2:
        return [1, *shape[-2:]] if len(shape) == 2 else shape[-3:]
    matches = [_PIXEL.match(str(n)) for n in feature_names]
    if shape and matches and len(matches) == shape[0] and all(matches):
        h = 1 + max(int(m.group(1)) for m in matches if m)
        w = 1 + max(int(m.group(2)) for m in matches if m)
        if h * w == shape[0]:
            return [1, h, w]
    return [1, *shape]


def build_cnn(
    input_shape: Sequence[int],
    channels: Sequence[int],
    n_outputs: int,
    dropout: float = 0.0,
    residual: bool = False,
) -> Sequential:
    """Unflatten to ``input_shape`` (C, *spatial), then per entry c of ``channels``: a
    convolution to c maps (3 wide for images, 5 for signals, padded to keep the size), batch
    norm, ReLU, (``residual``: a block conv-BN-ReLU-conv-BN that an arrow skips, then ReLU),
    and 2x2 max pooling while the maps are at least 2 wide; then (``residual``: global average
    pooling) flatten, dropout and a linear layer to ``n_outputs``.

    Raises ``ValueError`` for a spatial rank other than 1 or 2 or non-positive sizes.

    >>> build_cnn([1, 8, 8], [8], 10)[1:]
    Sequential(
      (1): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (2): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
      (3): ReLU()
      (4): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
      (5): Flatten(start_dim=1, end_dim=-1)
      (6): Linear(in_features=128, out_features=10, bias=True)
    )
    """
    shape = [int(s) for s in input_shape]
    nd = len(shape) - 1
    if nd not in (1, 2) or any(s <= 0 for s in shape) or not channels:
        raise ValueError(f"a cnn needs input (C, L) or (C, H, W) and channels, got {shape}")
    conv, norm, pool = (
        (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
        if nd == 1
        else (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
    )
    k = 5 if nd == 1 else 3
    layers: list[Module] = [nn.Unflatten(1, tuple(shape))]
    c_in, size = shape[0], shape[1:]
    for c in channels:
        layers += [conv(c_in, c, k, padding=k // 2, bias=False), norm(c), nn.ReLU()]
        if residual:
            block = Sequential(
                conv(c, c, k, padding=k // 2, bias=False), norm(c), nn.ReLU(),
                conv(c, c, k, padding=k // 2, bias=False), norm(c),
            )  # fmt: skip
            layers += [nn.Residual(block), nn.ReLU()]
        if min(size) >= 2:
            layers.append(pool(2))
            size = [s // 2 for s in size]
        c_in = c
    if residual:
        layers.append(nn.AdaptiveAvgPool1d(1) if nd == 1 else nn.AdaptiveAvgPool2d(1))
        size = [1] * nd
    layers.append(nn.Flatten())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(c_in * math.prod(size), int(n_outputs)))
    return Sequential(*layers)


def _build_mlp(spec: dict[str, Any]) -> Module:
    from chainrule.train.run import build_mlp

    return build_mlp(
        spec["input_dim"], spec["hidden"], spec["n_outputs"], spec["activation"],
        spec.get("dropout", 0.0),
    )  # fmt: skip


def _build_conv(residual: bool) -> Callable[[dict[str, Any]], Module]:
    def build(spec: dict[str, Any]) -> Module:
        return build_cnn(
            spec["input_shape"], spec["channels"], spec["n_outputs"], spec.get("dropout", 0.0),
            residual=residual,
        )  # fmt: skip

    return build


class SequenceModel(Module):
    """Flattened rows (N, C·S·…) read as sequences: unflattened to (N, *input_shape) =
    (N, C, S, …), each step s the C·… values at position s (N, S, F), run through ``encoder``
    (batch first; of a recurrent layer's (output, state) the output is kept), the outputs at
    all S steps flattened (N, S·width), dropout, and ``head`` (a Linear to the outputs).

    ``width`` is the encoder's output features per step. Raises
    :class:`~chainrule.errors.ShapeError` (from the reshape) for rows of another length.

    >>> import chainrule as cr
    >>> m = SequenceModel([1, 40], cr.nn.GRU(1, 4, batch_first=True), 4, 10)
    >>> m(cr.randn(3, 40)).shape
    (3, 10)
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        encoder: Module,
        width: int,
        n_outputs: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) < 2:
            raise ValueError(f"SequenceModel: input_shape is (C, S, ...), got {self.input_shape}")
        self.steps = self.input_shape[1]
        self.features = math.prod(self.input_shape) // self.steps
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(width) * self.steps, int(n_outputs))

    def forward(self, x: Tensor) -> Tensor:
        """Flattened samples ``(N, prod(input_shape))`` -> outputs ``(N, n_outputs)``."""
        n = x.shape[0]
        x = moveaxis(reshape(x, (n, *self.input_shape)), 1, -1)  # (N, S, ..., C)
        out = self.encoder(reshape(x, (n, self.steps, self.features)))
        if isinstance(out, tuple):  # (output, h_n) of a recurrent layer
            out = out[0]
        return self.head(self.dropout(reshape(out, (n, -1))))

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, steps={self.steps}, features={self.features}"


SEQUENCE_KINDS = ("gru", "lstm", "transformer")
"""The kinds :func:`build_sequence_model` builds."""


def build_sequence_model(
    kind: str,
    input_shape: Sequence[int],
    hidden: Sequence[int],
    n_outputs: int,
    dropout: float = 0.0,
    heads: int = 4,
) -> SequenceModel:
    """A :class:`SequenceModel` over samples of ``input_shape`` (C, S, …): ``kind``
    ``"gru"``/``"lstm"``: a bidirectional GRU/LSTM of ``len(hidden)`` layers of ``hidden[0]``
    units (dropout between layers); ``"transformer"``: Linear(F, d) per step, sinusoidal
    positions, ``len(hidden)`` pre-norm encoder layers of width d = ``hidden[0]`` (``heads``
    heads, feed-forward 4d, GELU) and a final LayerNorm. The Transformer reads a 1-D signal
    (C, L) in patches: each step the next 5 values (4, 3 or 2 when 5 does not divide L) of
    every channel, as a vision Transformer reads an image; single values carry too little
    for attention to compare (measured on MNIST-1D with ``train``'s defaults: 65% test
    accuracy one value a step, 88% in patches of 5).

    Raises ``ValueError`` for an unknown kind, no or unequal hidden sizes (one layer size,
    repeated per layer), or a width the heads do not divide.

    >>> build_sequence_model("lstm", [1, 40], [16], 10).encoder
    LSTM(1, 16, batch_first=True, bidirectional=True)
    """
    sizes = [int(h) for h in hidden]
    if kind not in SEQUENCE_KINDS:
        raise ValueError(f"unknown sequence model {kind!r}; known: {', '.join(SEQUENCE_KINDS)}")
    if not sizes or len(set(sizes)) != 1:
        raise ValueError(
            f"--model {kind}: --hidden gives the width of each layer, all equal (e.g. 32,32 for "
            f"two layers of 32), got {','.join(map(str, sizes)) or 'none'}"
        )
    width, layers = sizes[0], len(sizes)
    shape = [int(s) for s in input_shape]
    encoder: Module
    if kind == "transformer":
        if len(shape) == 2:  # a 1-D signal: tokens of a few consecutive values (patches)
            patch = next((p for p in (5, 4, 3, 2) if shape[1] % p == 0), 1)
            shape = [shape[0], shape[1] // patch, patch]
        if width % heads:
            raise ValueError(
                f"--model transformer: the width {width} must be a multiple of the {heads} heads"
            )
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, "gelu",
                                           batch_first=True, norm_first=True)  # fmt: skip
        encoder = Sequential(
            nn.Linear(math.prod(shape) // shape[1], width),
            nn.PositionalEncoding(width, dropout, max_len=shape[1], batch_first=True),
            nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width)),
        )
    else:
        rnn = nn.GRU if kind == "gru" else nn.LSTM
        encoder = rnn(math.prod(shape) // shape[1], width, layers, batch_first=True,
                      bidirectional=True, dropout=dropout if layers > 1 else 0.0)  # fmt: skip
        width *= 2
    return SequenceModel(shape, encoder, width, n_outputs, dropout)


def _build_sequence(kind: str) -> Callable[[dict[str, Any]], Module]:
    def build(spec: dict[str, Any]) -> Module:
        return build_sequence_model(
            kind, spec["input_shape"], spec["hidden"], spec["n_outputs"], spec.get("dropout", 0.0)
        )

    return build


# Adam at 0.01 on a cosine schedule, batches of 100, no weight decay: a bidirectional GRU of 16
# units reaches ~95% on MNIST-1D in 40 epochs (README), the Transformer in patches ~88%.
_SEQUENCE_DEFAULTS = {
    "optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "epochs": 40, "batch_size": 100,
    "hidden": (16,), "augment": False,
}  # fmt: skip

LARGE_TRAINING_SET = 10_000
"""Training splits of at least this many examples get the convolutional kinds' large-data
settings (:func:`conv_data_defaults`)."""

# the settings a convolutional kind leaves to conv_data_defaults (None until the data is known)
_CONV_CHOSEN = dict.fromkeys(
    ("optimizer", "weight_decay", "schedule", "epochs", "batch_size", "val_size")
)


def conv_data_defaults(input_shape: Sequence[int], n_train: int) -> dict[str, Any]:
    """The training settings ``cnn`` and ``resnet`` choose from their data, for those a run
    leaves unset (``input_shape``: (C, *spatial); ``n_train``: training examples).

    Both train on all of the training split (no validation split: the test split measures
    them). A small training split (the digits' 1,437 examples, MNIST-1D's 4,000) otherwise
    takes the general defaults: SGD at 0.1 with momentum 0.9 and weight decay 5e-4 on a
    cosine schedule, 40 epochs of 32, random shifts (holding out 10% cost the digits' CNN
    about 0.7 points of test accuracy: 98.3-98.6% against 99.2-99.7% over seeds 0-3). A
    large one (at least :data:`LARGE_TRAINING_SET`, such as Fashion-MNIST's 60,000) would
    take hours that way; it trains for 6 epochs of 128 with AdamW at 0.003 (decoupled weight
    decay 0.05) on a one-cycle schedule, and no shifts (a regulariser for long runs; these
    settings were tuned without them): Fashion-MNIST's ``--model cnn`` reaches 92% test
    accuracy in under 10 minutes on 2 cores (README).

    >>> conv_data_defaults([1, 8, 8], 1437)
    {'val_size': 0.0}
    >>> conv_data_defaults([1, 28, 28], 60000)["optimizer"]
    'adamw'
    """
    if n_train < LARGE_TRAINING_SET:
        return dict(_SMALL_DATA)
    return dict(_LARGE_DATA)


_SMALL_DATA = {"val_size": 0.0}
_LARGE_DATA = {
    "optimizer": "adamw", "lr": 0.003, "weight_decay": 0.05, "schedule": "onecycle",
    "epochs": 6, "batch_size": 128, "val_size": 0.0, "augment": False,
}  # fmt: skip

MODELS: dict[str, ModelKind] = {
    "mlp": ModelKind("mlp", _build_mlp, (), "the seeds' feed-forward network (--hidden)"),
    "cnn": ModelKind("cnn", _build_conv(False), (32, 64),
                     "conv-BN-ReLU-maxpool per --channels entry, then linear",
                     _CONV_CHOSEN, conv_data_defaults),
    "resnet": ModelKind("resnet", _build_conv(True), (16, 32, 64),
                        "cnn stages each followed by a residual block, global average pool",
                        _CONV_CHOSEN, conv_data_defaults),
    "gru": ModelKind("gru", _build_sequence("gru"), (),
                     "bidirectional GRU over the sample's steps, all outputs into a linear layer",
                     _SEQUENCE_DEFAULTS),
    "lstm": ModelKind("lstm", _build_sequence("lstm"), (),
                      "bidirectional LSTM over the sample's steps, all outputs into a linear layer",
                      _SEQUENCE_DEFAULTS),
    "transformer": ModelKind("transformer", _build_sequence("transformer"), (),
                             "pre-norm Transformer encoder over the steps, then a linear layer",
                             {**_SEQUENCE_DEFAULTS, "hidden": (32, 32)}),
}  # fmt: skip
