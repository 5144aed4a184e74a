"""float32 stays float32 (the default dtype, and the speed goal): for every op family other
than the element-wise ones (covered in ``test_elementwise.py``), float32 inputs give a float32
output and float32 gradients as the engine hands them over, before ``.grad`` would cast them.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

OPS = {
    "sum": (lambda x: cr.sum(x, axis=-1), [(2, 3)]),
    "mean": (lambda x: cr.mean(x, axis=(0, 1), keepdims=True), [(2, 3)]),
    "var": (lambda x: cr.var(x, axis=0, ddof=1), [(2, 3)]),
    "std": (lambda x: cr.std(x), [(2, 3)]),
    "max": (lambda x: cr.max(x, axis=1), [(2, 3)]),
    "min": (lambda x: cr.min(x), [(2, 3)]),
    "logsumexp": (lambda x: cr.logsumexp(x, axis=-1), [(2, 3)]),
    "softmax": (cr.softmax, [(2, 3)]),
    "log_softmax": (lambda x: cr.log_softmax(x, axis=0), [(2, 3)]),
    "matmul": (cr.matmul, [(2, 3), (3, 4)]),
    "matmul_outer": (cr.matmul, [(4, 1), (1, 3)]),
    "matmul_vector": (cr.matmul, [(3,), (2, 3, 4)]),
    "linear": (cr.linear, [(2, 3), (4, 3), (4,)]),
    "linear_batch_1": (cr.linear, [(1, 3), (4, 3), (4,)]),
    "reshape": (lambda x: cr.reshape(x, (3, 2)), [(2, 3)]),
    "transpose": (lambda x: x.T, [(2, 3)]),
    "expand_dims": (lambda x: cr.expand_dims(x, 1), [(2, 3)]),
    "squeeze": (lambda x: cr.squeeze(x), [(2, 1)]),
    "broadcast_to": (lambda x: cr.broadcast_to(x, (4, 2, 3)), [(2, 3)]),
    "getitem_basic": (lambda x: x[::-1, 1:], [(2, 3)]),
    "getitem_ints": (lambda x: x[[0, 0, 1]], [(2, 3)]),
    "getitem_mask": (lambda x: x[np.array([True, False])], [(2, 3)]),
    "concatenate": (lambda x, y: cr.concatenate([x, y], axis=1), [(2, 3), (2, 1)]),
    "stack": (lambda x, y: cr.stack([x, y]), [(2, 3), (2, 3)]),
    "split": (lambda x: cr.split(x, 3, axis=1)[1], [(2, 3)]),
    "pad": (lambda x: cr.pad(x, 1), [(2, 3)]),
    "pad_reflect": (lambda x: cr.pad(x, 1, mode="reflect"), [(2, 3)]),
    "softmin": (lambda x: cr.softmin(x, axis=0), [(2, 3)]),
    "glu": (lambda x: cr.glu(x, axis=0), [(2, 3)]),
    "normalize": (lambda x: cr.normalize(x, axis=-1), [(2, 3)]),
    "normalize_p1": (lambda x: cr.normalize(x, 1.0, axis=0), [(2, 3)]),
    "cross_entropy": (lambda x: cr.cross_entropy(x, np.array([0, 2])), [(2, 3)]),
    "cross_entropy_smoothed": (
        lambda x: cr.cross_entropy(x, np.array([0, 2]), weight=np.ones(3), label_smoothing=0.1),
        [(2, 3)],
    ),
    "cross_entropy_none": (
        lambda x: cr.cross_entropy(x, np.array([0, 2]), reduction="none"),
        [(2, 3)],
    ),
}


@pytest.mark.parametrize("name", list(OPS))
def test_float32_kept(name):
    fn, arg_shapes = OPS[name]
    xs = [cr.randn(*s, requires_grad=True) for s in arg_shapes]
    assert all(x.dtype == np.float32 for x in xs)
    out = fn(*xs)
    assert out.dtype == np.float32, f"{name} output is {out.dtype}"
    grads = cr.gradients((out * 2.0).sum(), xs)
    for i, g in enumerate(grads):
        assert g.dtype == np.float32, f"{name} gradient {i} is {g.dtype}"
        assert g.shape == xs[i].shape
