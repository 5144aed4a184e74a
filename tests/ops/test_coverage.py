"""Every name in ``chainrule.ops.__all__`` is either a differentiable op with its tests in this
folder, or one that gives no gradient (checked here). A new op fails this test until it is
added to one of the two tables, with its tests."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

DIFFERENTIABLE = {
    "test_elementwise.py": {
        "abs", "add", "astype", "clip", "copy", "cos", "divide", "elu", "erf", "exp", "gelu",
        "leaky_relu", "log", "maximum", "minimum", "multiply", "negative", "normal_cdf",
        "power", "relu", "sigmoid", "sin", "softplus", "sqrt", "subtract", "tanh", "where",
        # issue 9 (aliases: fix, mod, radians, degrees, rint; tested under their names too)
        "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cbrt",
        "ceil", "copysign", "cosh", "deg2rad", "degrees", "digamma", "erfc", "erfinv", "exp2",
        "expm1", "fix", "floor", "floor_divide", "fmax", "fmin", "fmod", "gammaln",
        "heaviside", "hypot", "log10", "log1p", "log2", "logaddexp", "logaddexp2", "mod",
        "nan_to_num", "polygamma", "rad2deg", "radians", "reciprocal", "remainder", "rint",
        "round", "sign", "sinc", "sinh", "square", "tan", "trunc", "xlogy",
    },
    "test_activations.py": {
        "celu", "glu", "hardsigmoid", "hardswish", "hardtanh", "logsigmoid", "mish",
        "normalize", "relu6", "selu", "silu", "softmin", "softsign",
    },  # the element-wise ones in test_elementwise.py's tables too
    "test_reduction.py": {
        "logsumexp", "log_softmax", "max", "mean", "min", "softmax", "std", "sum", "var",
        "average", "median", "nanmean", "nansum", "prod",
    },
    "test_scan.py": {"cummax", "cummin", "cumprod", "cumsum", "logcumsumexp"},
    "test_products.py": {
        "cross", "diag", "diagonal", "dot", "einsum", "inner", "kron", "outer", "tensordot",
        "trace", "tril", "triu", "vdot",
    },
    "test_linalg.py": {"linear", "matmul"},
    "test_shape.py": {
        "broadcast_to", "concatenate", "expand_dims", "getitem", "pad", "reshape", "split",
        "squeeze", "stack", "swapaxes", "transpose",
        "array", "array_split", "atleast_1d", "atleast_2d", "atleast_3d", "block", "clamp",
        "column_stack", "dstack", "flatten", "flip", "fliplr", "flipud", "hsplit", "hstack",
        "meshgrid", "moveaxis", "ravel", "repeat", "roll", "rot90", "tile", "vsplit", "vstack",
        "append", "broadcast_arrays", "compress", "delete", "diff", "dsplit", "insert",
        "matrix_transpose", "unstack",
    },
    "test_indexing.py": {
        "gather", "index_add", "masked_fill", "put_along_axis", "scatter", "scatter_add",
        "take", "take_along_axis",
    },
    "test_sort.py": {"partition", "sort", "topk", "unique"},
    "test_loss.py": {"softmax_cross_entropy"},  # cross_entropy: nn.functional (tests there)
}  # fmt: skip

# name -> (call on x = [-1.5, 0.0, 2.5] and y = [0.0, 0.0, 3.0], expected values)
NOT_DIFFERENTIABLE = {
    "argmax": (lambda x, y: cr.argmax(x), 2),
    "argmin": (lambda x, y: cr.argmin(x), 0),
    "equal": (lambda x, y: cr.equal(x, y), [False, True, False]),
    "not_equal": (lambda x, y: cr.not_equal(x, y), [True, False, True]),
    "greater": (lambda x, y: cr.greater(x, y), [False, False, False]),
    "greater_equal": (lambda x, y: cr.greater_equal(x, y), [False, True, False]),
    "less": (lambda x, y: cr.less(x, y), [True, False, True]),
    "less_equal": (lambda x, y: cr.less_equal(x, y), [True, True, True]),
    "logical_and": (lambda x, y: cr.logical_and(x, y), [False, False, True]),
    "logical_or": (lambda x, y: cr.logical_or(x, y), [True, False, True]),
    "logical_not": (lambda x, y: cr.logical_not(x), [False, True, False]),
    "isfinite": (lambda x, y: cr.isfinite(x), [True, True, True]),
    "isnan": (lambda x, y: cr.isnan(x), [False, False, False]),
    "index_data": (lambda x, y: cr.Tensor(cr.index_data(cr.tensor([2, 0]))), [2, 0]),
    "isinf": (lambda x, y: cr.isinf(cr.tensor([-np.inf, 0.0, np.inf])), [True, False, True]),
    "logical_xor": (lambda x, y: cr.logical_xor(x, y), [True, False, False]),
    "bitwise_not": (lambda x, y: cr.bitwise_not(x > 0), [True, True, False]),
    "invert": (lambda x, y: cr.invert(x > 0), [True, True, False]),
    "bitwise_and": (lambda x, y: cr.bitwise_and(x > -2, y > 0), [False, False, True]),
    "bitwise_or": (lambda x, y: cr.bitwise_or(x > 0, y > 0), [False, False, True]),
    "bitwise_xor": (lambda x, y: cr.bitwise_xor(x > -2, y > 0), [True, True, False]),
    "left_shift": (lambda x, y: cr.left_shift(cr.tensor([1, 2, 3]), 2), [4, 8, 12]),
    "right_shift": (lambda x, y: cr.right_shift(cr.tensor([4, 9, -8]), 2), [1, 2, -2]),
    "all": (lambda x, y: cr.all(x), False),
    "any": (lambda x, y: cr.any(y), True),
    "count_nonzero": (lambda x, y: cr.count_nonzero(x), 2),
    "argsort": (lambda x, y: cr.argsort(-x), [2, 1, 0]),
    "argpartition": (lambda x, y: cr.argpartition(-x, 0)[:1], [2]),
    "searchsorted": (lambda x, y: cr.searchsorted(y, x), [0, 0, 2]),
    "nonzero": (lambda x, y: cr.nonzero(x)[0], [0, 2]),
    "argwhere": (lambda x, y: cr.argwhere(x), [[0], [2]]),
}


def test_every_op_is_classified():
    tested = set().union(*DIFFERENTIABLE.values())
    names = set(cr.ops.__all__)
    assert names - tested - set(NOT_DIFFERENTIABLE) == set(), "ops without tests"
    assert (tested | set(NOT_DIFFERENTIABLE)) - names == set(), "tables name missing ops"


@pytest.mark.parametrize("name", list(NOT_DIFFERENTIABLE))
def test_non_differentiable_ops_give_values_without_graph(name):
    call, expected = NOT_DIFFERENTIABLE[name]
    x = cr.tensor([-1.5, 0.0, 2.5], requires_grad=True)
    y = cr.tensor([0.0, 0.0, 3.0], requires_grad=True)
    out = call(x, y)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert not out.requires_grad and out.grad_fn is None


# Primitives that are not in ``ops.__all__``: the pieces public ops are made of, and the
# fused ops that gradient rules call. Each is tested where named.
INTERNAL_PRIMITIVES = {
    "l2_normalize": "test_activations.py (normalize with p=2: torch, gradcheck, zero vectors)",
    "std_sqrt": "test_higher_order.py (var_std) / test_wrong_answers.py (std at zero variance)",
    "_getitem": "test_shape.py (getitem)",
    "_scatter_add": "test_shape.py / test_higher_order.py (getitem's gradient and Hessian)",
    "_concatenate": "test_shape.py (concatenate)",
    "_stack": "test_shape.py (stack)",
    "_pad": "test_shape.py (pad, constant mode)",
    "_put": "test_indexing.py (scatter, put_along_axis)",
    "_sort": "test_sort.py (sort)",
    "_unique": "test_sort.py (unique)",
    "_partition": "test_sort.py (partition)",
    "_take": "test_indexing.py (take)",
    "_flip": "test_shape.py (flip, fliplr, flipud, rot90)",
    "matmul_tn": "test_gradient_helpers.py",
    "step_mask": "test_gradient_helpers.py",
    "softmax_minus": "test_gradient_helpers.py",
    "class_cross_entropy": "test_loss.py (vs torch, finite differences, Hessians)",
    "sigmoid_binary_cross_entropy": "tests/nn (BCEWithLogitsLoss vs torch, Hessians)",
    "clamped_binary_cross_entropy": "tests/nn (BCELoss vs torch)",
    "input_terms": "test_recurrent.py (vs torch's linear, finite differences, Hessians)",
    "rnn_scan": "test_recurrent.py (vs a PyTorch recurrence, finite differences, Hessians)",
    "lstm_scan": "test_recurrent.py (vs a PyTorch recurrence, finite differences, Hessians)",
    "gru_scan": "test_recurrent.py (vs a PyTorch recurrence, finite differences, Hessians)",
    "to_device": "tests/test_device.py (Tensor.to: values and gradients across devices)",
    "conv": "test_conv.py (conv1d/conv2d vs torch, gradchecks), test_higher_order.py",
    "conv_transpose": "test_conv.py (conv_transpose1d/2d, and conv's input gradient)",
    "conv_weight": "test_conv.py (conv's kernel gradient), test_higher_order.py (its gradients)",
    "unfold": "test_conv.py (unfold vs torch, adjoint of fold)",
    "fold": "test_conv.py (fold vs torch, adjoint of unfold)",
    "take_flat": "test_conv.py (max pooling, nearest resampling; adjoint of put_flat)",
    "put_flat": "test_conv.py (max pooling's gradient), test_higher_order.py",
    "window_sum": "test_conv.py (avg pooling vs torch)",
    "window_sum_adjoint": "test_conv.py (avg pooling's gradient, the adjoint pair)",
    "_cummax": "test_scan.py (cummax)",
    "_cummin": "test_scan.py (cummin)",
    "inv": "test_linalg_decompositions.py (cr.linalg.inv)",
    "_solve": "test_linalg_decompositions.py (cr.linalg.solve)",
    "_solve_triangular": "test_linalg_decompositions.py (cr.linalg.solve_triangular)",
    "det": "test_linalg_decompositions.py (cr.linalg.det)",
    "_slogdet": "test_linalg_decompositions.py (cr.linalg.slogdet)",
    "_cholesky": "test_linalg_decompositions.py (cr.linalg.cholesky)",
    "_eigh": "test_linalg_decompositions.py (cr.linalg.eigh)",
    "eigvalsh": "test_linalg_decompositions.py (cr.linalg.eigvalsh)",
    "_svd": "test_linalg_decompositions.py (cr.linalg.svd)",
    "svdvals": "test_linalg_decompositions.py (cr.linalg.svdvals, matrix_norm)",
    "_qr": "test_linalg_decompositions.py (cr.linalg.qr)",
    "pinv": "test_linalg_decompositions.py (cr.linalg.pinv)",
    "_lstsq": "test_linalg_decompositions.py (cr.linalg.lstsq)",
    "_pnorm": "test_linalg_decompositions.py (cr.linalg.norm, vector_norm, matrix_norm)",
    "_cross": "test_products.py (cross)",
    "_weighted_mean": "test_reduction.py (average with weights)",
    "diag_embed": "test_products.py (diagonal's gradient, diag of a vector)",
    "standardize": "test_normalization.py (vs torch, gradchecks, Hessians); tests/nn (norms)",
    "block_max": "test_conv_kernels.py (disjoint max pool vs torch, ties, NaN, gradcheck, Hessian)",
    "self_attention": "test_attention.py (vs torch, finite differences, Hessians)",
}


def test_every_primitive_is_tested():
    import importlib
    import pkgutil

    from chainrule.autograd import Primitive

    found = set()  # every module under chainrule.ops, the files of a family's subpackage too
    for info in pkgutil.walk_packages(cr.ops.__path__, prefix="chainrule.ops."):
        module = importlib.import_module(info.name)
        found |= {n for n, v in vars(module).items() if isinstance(v, Primitive) and v.name == n}
    tested = set().union(*DIFFERENTIABLE.values()) | set(INTERNAL_PRIMITIVES)
    assert found - tested == set(), "primitives without tests"
