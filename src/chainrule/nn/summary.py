"""``summary(model, input_size)``: a model's layers as torchinfo's ``summary`` shows them.

Per layer: its name and type, the shape of its output for an input of ``input_size``, its
parameters and trainable parameters (a container counts those of its layers); then the
totals and the memory taken by the parameters and by the activations of one forward and
backward pass.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import no_grad
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["LayerSummary", "ModelSummary", "summary"]


@dataclass
class LayerSummary:
    """One row of a :class:`ModelSummary`."""

    name: str  # the path in the model ("" for the model itself), e.g. "0" or "block.1"
    type: str  # the class name, e.g. "Linear"
    depth: int  # 0 for the model itself
    output_shape: tuple[int, ...] | None  # None when no forward ran (or it returned no tensor)
    params: int  # parameters, its sub-layers' included
    trainable: int  # those with requires_grad
    output_bytes: int = 0


@dataclass
class ModelSummary:
    """What :func:`summary` returns: printable (``str()``), and a table in Jupyter."""

    layers: list[LayerSummary]
    input_size: tuple[int, ...] | None
    total_params: int
    trainable_params: int
    param_bytes: int
    buffer_bytes: int
    input_bytes: int
    activation_bytes: int  # outputs of the leaf layers, kept for the backward pass, and
    # their gradients: twice their size, as torchinfo counts "forward/backward pass size"
    depth: int = 3
    _shown: list[LayerSummary] = field(default_factory=list, repr=False)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.activation_bytes + self.param_bytes + self.buffer_bytes

    def _rows(self) -> list[list[str]]:
        rows = []
        for layer in self.layers:
            if layer.depth > self.depth:
                continue
            label = layer.type if layer.depth == 0 else f"{layer.type} ({layer.name})"
            indent = "" if layer.depth == 0 else "  " * (layer.depth - 1) + "└─"
            rows.append(
                [
                    indent + label,
                    "--" if layer.output_shape is None else str(list(layer.output_shape)),
                    f"{layer.params:,}" if layer.params else "--",
                    f"{layer.trainable:,}" if layer.params else "--",
                ]
            )
        return rows

    def _totals(self) -> list[tuple[str, str]]:
        lines = [
            ("Total params", f"{self.total_params:,}"),
            ("Trainable params", f"{self.trainable_params:,}"),
            ("Non-trainable params", f"{self.non_trainable_params:,}"),
        ]
        if self.input_size is not None:
            lines.append(("Input size", _bytes(self.input_bytes)))
            lines.append(("Forward/backward pass size", _bytes(self.activation_bytes)))
        lines.append(("Params size", _bytes(self.param_bytes)))
        if self.buffer_bytes:
            lines.append(("Buffers size", _bytes(self.buffer_bytes)))
        if self.input_size is not None:
            lines.append(("Estimated total size", _bytes(self.total_bytes)))
        return lines

    def __str__(self) -> str:
        header = ["Layer (type (name))", "Output Shape", "Param #", "Trainable #"]
        rows = self._rows()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        width = sum(widths) + 3 * 4

        def line(r: list[str]) -> str:
            return "   ".join(
                r[i].ljust(widths[i]) if i < 2 else r[i].rjust(widths[i]) for i in range(4)
            ).rstrip()

        out = ["=" * width, line(header), "=" * width, *(line(r) for r in rows), "=" * width]
        totals = self._totals()
        out += [f"{k}: {v}" for k, v in totals[:3]]
        out += ["-" * width, *(f"{k}: {v}" for k, v in totals[3:]), "=" * width]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th style='text-align:{a}'>{h}</th>"
            for h, a in zip(
                ["Layer (type (name))", "Output Shape", "Param #", "Trainable #"],
                ["left", "left", "right", "right"],
            )
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td style='text-align:{'left' if i < 2 else 'right'};"
                f"{'font-family:monospace;white-space:pre' if i == 0 else ''}'>"
                f"{html.escape(c)}</td>"
                for i, c in enumerate(r)
            )
            + "</tr>"
            for r in self._rows()
        )
        totals = "".join(
            f"<tr><td colspan='3'>{html.escape(k)}</td><td style='text-align:right'>{v}</td></tr>"
            for k, v in self._totals()
        )
        return (
            "<table class='chainrule-summary'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            f"<tfoot>{totals}</tfoot></table>"
        )


def summary(
    model: Module,
    input_size: Sequence[int] | None = None,
    *,
    input_data: Any = None,
    dtype: Any = None,
    depth: int = 3,
) -> ModelSummary:
    """A table of ``model``'s layers, as torchinfo's ``summary(model, input_size)``.

    Args:
        model: any :class:`~chainrule.nn.Module`.
        input_size: the shape of one input batch, batch dimension included, e.g. ``(1, 64)``;
            a forward pass on zeros of this shape (eval mode, no gradients) gives each
            layer's output shape and the activation memory. ``None``: parameters only.
        input_data: a tensor or array to run instead of zeros (then ``input_size`` is its
            shape).
        dtype: of the zeros; default the model's parameters' dtype.
        depth: the deepest level of nested layers shown (all are counted).

    Returns a :class:`ModelSummary`: ``print()`` it, or let Jupyter show it as a table; its
    fields (``total_params``, ``layers[i].output_shape``, ...) hold the numbers. Raises what
    the model's forward raises for an input of the wrong shape.

    >>> from chainrule import nn
    >>> s = summary(nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)), (1, 64))
    >>> s.total_params, s.layers[-1].output_shape
    (2410, (1, 10))
    >>> print(s)
    =============================================================
    Layer (type (name))   Output Shape   Param #   Trainable #
    =============================================================
    Sequential            [1, 10]          2,410         2,410
    └─Linear (0)          [1, 32]          2,080         2,080
    └─Tanh (1)            [1, 32]             --            --
    └─Linear (2)          [1, 10]            330           330
    =============================================================
    Total params: 2,410
    Trainable params: 2,410
    Non-trainable params: 0
    -------------------------------------------------------------
    Input size: 256 B
    Forward/backward pass size: 592 B
    Params size: 9.4 KB
    Estimated total size: 10.2 KB
    =============================================================
    """
    named = list(model.named_modules())
    outputs: dict[int, Any] = {}
    handles = []
    x = None
    if input_data is not None or input_size is not None:
        if input_data is not None:
            x = input_data if isinstance(input_data, Tensor) else Tensor(np.asarray(input_data))
        else:
            if dtype is None:
                dtype = next((p.dtype for p in model.parameters()), backend.get_default_dtype())
            x = Tensor(np.zeros(tuple(int(n) for n in input_size), dtype=dtype))
        for _, m in named:
            handles.append(m.register_forward_hook(_recorder(outputs)))
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                model(x)
        finally:
            model.train(was_training)
            for h in handles:
                h.remove()
    layers = []
    activation_bytes = 0
    for name, m in named:
        params = list(m.parameters())
        out = outputs.get(id(m))
        shape = None if out is None else tuple(int(n) for n in out.shape)
        nbytes = 0 if out is None else int(out.data.nbytes)
        if not list(m.children()):
            activation_bytes += 2 * nbytes
        layers.append(
            LayerSummary(
                name=name,
                type=type(m).__name__,
                depth=0 if not name else name.count(".") + 1,
                output_shape=shape,
                params=sum(int(p.size) for p in params),
                trainable=sum(int(p.size) for p in params if p.requires_grad),
                output_bytes=nbytes,
            )
        )
    params = list(model.parameters())
    return ModelSummary(
        layers=layers,
        input_size=None if x is None else tuple(int(n) for n in x.shape),
        total_params=sum(int(p.size) for p in params),
        trainable_params=sum(int(p.size) for p in params if p.requires_grad),
        param_bytes=sum(int(p.data.nbytes) for p in params),
        buffer_bytes=sum(int(b.data.nbytes) for b in model.buffers()),
        input_bytes=0 if x is None else int(x.data.nbytes),
        activation_bytes=activation_bytes,
        depth=depth,
    )


def _recorder(outputs: dict[int, Any]) -> Any:
    def hook(module: Module, args: tuple, out: Any) -> None:
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        if isinstance(first, Tensor):
            outputs[id(module)] = first

    return hook


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    k = int(math.log(n, 1024))
    k = min(k, 3)
    return f"{n / 1024**k:.1f} {['B', 'KB', 'MB', 'GB'][k]}"
