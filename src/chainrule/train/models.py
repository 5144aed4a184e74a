"""The kinds of network ``chainrule train --model`` builds, one record each: how to describe
one in ``config.json`` (its spec) and how to build it from that spec.

* ``mlp``: the seeds' feed-forward network (:func:`~chainrule.train.run.build_mlp`), the
  default, for tabular data;
* ``cnn``: convolution, batch norm, ReLU and max pooling, once per entry of ``channels``, then
  a linear layer: 1-D for signals (MNIST-1D's 40 samples), 2-D for images (digits 8x8,
  Fashion-MNIST 28x28), shaped from the dataset (:func:`image_shape`);
* ``resnet``: the same stages, each followed by a residual block (two convolutions that an
  arrow skips, x + F(x): the seeds' arrows that skip layers), then global average pooling.

The model takes the flattened, standardised rows that :class:`~chainrule.train.run.Preprocess`
makes and unflattens them to (N, C, *spatial) itself, so prediction, evaluation and export
work the same for every kind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chainrule import nn
from chainrule.nn import Module, Sequential

__all__ = ["MODELS", "ModelKind", "build_cnn", "image_shape"]

_PIXEL = re.compile(r"pixel_(\d+)_(\d+)$")


@dataclass(frozen=True)
class ModelKind:
    """One kind of network: its name, its default channels (convolutional kinds) and how to
    build it from its spec."""

    name: str
    build: Callable[[dict[str, Any]], Module]
    channels: tuple[int, ...] = ()
    description: str = ""


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


MODELS: dict[str, ModelKind] = {
    "mlp": ModelKind("mlp", _build_mlp, (), "the seeds' feed-forward network (--hidden)"),
    "cnn": ModelKind("cnn", _build_conv(False), (32, 64),
                     "conv-BN-ReLU-maxpool per --channels entry, then linear"),
    "resnet": ModelKind("resnet", _build_conv(True), (16, 32, 64),
                        "cnn stages each followed by a residual block, global average pool"),
}  # fmt: skip
