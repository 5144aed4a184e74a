"""cr.nn.summary: per-layer output shapes and parameter counts, totals, memory; as HTML."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn


def _model():
    cr.manual_seed(0)
    block = nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16), nn.GELU())
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Residual(block),
                         nn.Dropout(0.1), nn.Linear(16, 3))  # fmt: skip


def test_counts_shapes_and_memory_match_pytorch():
    model = _model()
    model.get_submodule("3.module.0").weight.requires_grad_(False)
    s = cr.nn.summary(model, (5, 8))
    ref = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                              torch.nn.Sequential(torch.nn.Linear(16, 16),
                                                  torch.nn.LayerNorm(16), torch.nn.GELU()),
                              torch.nn.Dropout(0.1), torch.nn.Linear(16, 3))  # fmt: skip
    assert (
        s.total_params
        == sum(p.numel() for p in ref.parameters())
        == 8 * 16 + 16 + 32 + 272 + 32 + 51
    )
    assert s.trainable_params == s.total_params - 256 and s.non_trainable_params == 256
    rows = {layer.name: layer for layer in s.layers}
    assert rows[""].type == "Sequential" and rows[""].output_shape == (5, 3)
    assert rows["0"].output_shape == (5, 16) and rows["0"].params == 144
    assert rows["3"].params == 16 * 16 + 16 + 32 and rows["3"].trainable == 16 + 32
    assert rows["3.module.1"].depth == 3 and rows["5"].output_shape == (5, 3)
    assert s.param_bytes == 4 * s.total_params and s.buffer_bytes == 4 * 32 + 8
    assert s.input_bytes == 5 * 8 * 4
    leaves = [
        la for la in s.layers if la.name and not list(model.get_submodule(la.name).children())
    ]
    assert s.activation_bytes == 2 * sum(la.output_bytes for la in leaves)
    assert s.activation_bytes == 2 * 4 * 5 * (16 * 3 + 16 * 3 + 16 + 3)
    # the forward ran in eval mode, without a graph, and the mode is restored
    assert model.training and not any(m._forward_hooks for m in model.modules())
    text = str(s)
    assert (
        "Residual (3)" in text and "Total params: 531" in text and "Trainable params: 275" in text
    )
    assert "Non-trainable params: 256" in text and "Estimated total size" in text


def test_depth_input_data_and_no_input():
    model = _model()
    shallow = str(cr.nn.summary(model, (2, 8), depth=1))
    assert "Linear (3.module.0)" not in shallow and "Residual (3)" in shallow
    s = cr.nn.summary(model, input_data=np.ones((7, 8), dtype=np.float32))
    assert s.input_size == (7, 8) and s.layers[0].output_shape == (7, 3)
    bare = cr.nn.summary(model)
    assert bare.input_size is None and all(la.output_shape is None for la in bare.layers)
    assert "Input size" not in str(bare) and "Total params: 531" in str(bare)
    with pytest.raises(cr.ShapeError):
        cr.nn.summary(model, (2, 9))


def test_html_in_jupyter():
    html = _model()._repr_html_()
    assert html.startswith("<table") and "Residual (3)" in html and "531" in html
    assert cr.nn.summary(_model(), (1, 8))._repr_html_().count("<tr>") >= 11
