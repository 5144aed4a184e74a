"""The ReLU's forward against a cached zero row (``ops.activation._relu_into``): identical to
``numpy.maximum(x, 0)`` (NaN kept, -0.0 and infinities as NumPy's) on every size around the
row's length, contiguous or not, float32 and float64, as a result or into a buffer, and its
gradient still PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.ops import activation


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("extra", [-1, 0, 1, 7])
def test_relu_rows_equal_numpy_maximum(dtype, extra):
    n = 2 * activation.ZERO_RUN + extra
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    x[:6] = [np.nan, -0.0, 0.0, -np.inf, np.inf, -1.0]
    want = np.maximum(x, 0)
    got = cr.relu(cr.tensor(x)).numpy()
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got[0]) and got.dtype == dtype
    buf = np.empty_like(x)
    assert activation._relu_into(buf, x) is buf
    np.testing.assert_array_equal(buf, want)
    x2 = x[: 2 * (n // 2)].reshape(-1, 2).T  # not contiguous: the scalar path
    np.testing.assert_array_equal(cr.relu(cr.tensor(x2)).numpy(), np.maximum(x2, 0))


def test_relu_rows_small_shapes_and_gradient():
    for shape in [(), (0,), (3, 0, 2), (1,), (5, 7)]:
        x = np.random.default_rng(1).standard_normal(shape)
        np.testing.assert_array_equal(cr.relu(cr.tensor(x)).numpy(), np.maximum(x, 0))
    x = np.random.default_rng(2).standard_normal((3, activation.ZERO_RUN + 5))
    x[0, :4] = 0.0
    t = cr.tensor(x, requires_grad=True)
    cr.relu(t).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    torch.relu(tt).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    np.testing.assert_array_equal(cr.relu(cr.tensor(x)).numpy(), torch.relu(tt).detach().numpy())
