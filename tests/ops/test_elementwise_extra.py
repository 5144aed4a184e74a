"""Issue 9's element-wise surface beyond the tables of ``test_elementwise.py``: bitwise
operators against NumPy, ops recorded with a zero gradient, the special functions' values far
into their ranges against PyTorch, size-0 arrays, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.ops import _special
from strategies import broadcast_shapes, seeds, uniform

# ----------------------------------------------------------------------------- bitwise
BITWISE = {
    "&": (lambda a, b: a & b, np.bitwise_and),
    "|": (lambda a, b: a | b, np.bitwise_or),
    "^": (lambda a, b: a ^ b, np.bitwise_xor),
    "<<": (lambda a, b: a << b, np.left_shift),
    ">>": (lambda a, b: a >> b, np.right_shift),
}


@pytest.mark.parametrize("op", list(BITWISE))
@settings(max_examples=10)
@given(shapes=broadcast_shapes(2), seed=seeds, dtype=st.sampled_from([np.int64, np.int32]))
def test_bitwise_operators_follow_numpy_on_integers(op, shapes, seed, dtype):
    rng = np.random.default_rng(seed)
    a = rng.integers(-100, 100, size=shapes[0]).astype(dtype)
    b = rng.integers(0, 8, size=shapes[1]).astype(dtype)
    fn, ref = BITWISE[op]
    for got, want in [
        (fn(cr.tensor(a), cr.tensor(b)), ref(a, b)),
        (fn(cr.tensor(a), 3), ref(a, 3)),  # a Python int on the right
        (fn(a, cr.tensor(b)), ref(a, b)),  # an ndarray on the left: the reflected operator
    ]:
        assert isinstance(got, cr.Tensor)
        np.testing.assert_array_equal(got.numpy(), want)
        assert got.dtype == np.asarray(want).dtype


def test_invert_is_bitwise_on_integers_and_logical_on_booleans():
    np.testing.assert_array_equal((~cr.tensor([0, 5, -3])).numpy(), [-1, -6, 2])
    np.testing.assert_array_equal((~cr.tensor([0, 5], dtype="uint8")).numpy(), [255, 250])
    np.testing.assert_array_equal((~cr.tensor([True, False])).numpy(), [False, True])
    mask = cr.tensor([1.0, -1.0]) > 0
    np.testing.assert_array_equal((mask & ~mask).numpy(), [False, False])
    np.testing.assert_array_equal((True ^ mask).numpy(), [False, True])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x: ~x, "bitwise_not"),
        (lambda x: x & x, "bitwise_and"),
        (lambda x: x | 1, "bitwise_or"),
        (lambda x: x ^ x, "bitwise_xor"),
        (lambda x: x << 1, "left_shift"),
        (lambda x: 1 >> x, "right_shift"),
    ],
)
def test_bitwise_on_floats_raises_naming_the_op_and_dtypes(call, name):
    with pytest.raises(cr.DTypeError, match=rf"{name}: needs integer or boolean.*float32"):
        call(cr.tensor([1.0, 2.0]))


def test_logical_hint_for_float_masks():
    with pytest.raises(cr.DTypeError, match=r"cr\.logical_and"):
        cr.tensor([1.0]) & cr.tensor([0.0])


# ----------------------------------------------------------------------------- zero gradients
ZERO_GRAD = {
    "sign": (cr.sign, torch.sign),
    "floor": (cr.floor, torch.floor),
    "ceil": (cr.ceil, torch.ceil),
    "trunc": (cr.trunc, torch.trunc),
    "fix": (cr.fix, torch.trunc),
    "round": (lambda x: cr.round(x, 1), lambda x: torch.round(x, decimals=1)),
    "rint": (cr.rint, torch.round),
    "floor_divide": (lambda x: x // 0.7, lambda x: torch.floor_divide(x.detach(), 0.7) + 0 * x),
    "floor_divide_y": (
        lambda x: 3.0 // (x + 2),
        lambda x: torch.floor_divide(3.0, (x + 2).detach()) + 0 * x,
    ),
}


@pytest.mark.parametrize("name", list(ZERO_GRAD))
def test_piecewise_constant_ops_give_zero_gradients_as_pytorch(name):
    fn, ref = ZERO_GRAD[name]
    data = np.array([-1.5, -0.2, 0.0, 0.45, 2.5, 3.7])
    x = cr.tensor(data, requires_grad=True)
    out = fn(x)
    assert out.requires_grad and out.grad_fn is not None
    (g,) = cr.gradients((out * out).sum(), [x])  # no "not used" error
    xt = torch.tensor(data, requires_grad=True)
    outt = ref(xt)
    (gt,) = torch.autograd.grad((outt * outt).sum(), [xt])
    np.testing.assert_array_equal(out.numpy(), outt.detach().numpy())
    np.testing.assert_array_equal(g.numpy(), gt.numpy())
    np.testing.assert_array_equal(g.numpy(), 0)
    assert cr.grad(lambda t: fn(t).sum())(data).numpy().tolist() == [0.0] * 6


def test_python_round_gives_a_tensor():
    t = cr.tensor([0.5, 1.5, 2.26], dtype="float64")
    np.testing.assert_array_equal(round(t).numpy(), [0.0, 2.0, 2.0])
    np.testing.assert_array_equal(round(t, 1).numpy(), [0.5, 1.5, 2.3])


def test_mod_and_floordiv_with_scalars_on_either_side():
    x = cr.tensor([7.5, -7.5], dtype="float64", requires_grad=True)
    np.testing.assert_array_equal((x % 2).numpy(), np.array([7.5, -7.5]) % 2)
    np.testing.assert_array_equal((10 % x).numpy(), 10 % np.array([7.5, -7.5]))
    np.testing.assert_array_equal((x // 2).numpy(), [3.0, -4.0])
    np.testing.assert_array_equal((10 // x).numpy(), [1.0, -2.0])
    q, r = divmod(x, 2)
    np.testing.assert_array_equal(q.numpy() * 2 + r.numpy(), x.numpy())
    (g,) = cr.gradients((10 % x).sum(), [x])  # d/dy (a - floor(a/y) y) = -floor(a/y)
    np.testing.assert_array_equal(g.numpy(), [-1.0, 2.0])
    np.testing.assert_array_equal((cr.tensor([7, -7]) % 3).numpy(), [1, 2])


# ----------------------------------------------------------------------------- heaviside, NaNs
def test_heaviside_gradient_flows_to_values_only_where_x_is_zero():
    x = cr.tensor([-1.0, 0.0, 2.0, 0.0], dtype="float64", requires_grad=True)
    v = cr.tensor([0.5, 0.25, 0.5, 0.75], dtype="float64", requires_grad=True)
    out = cr.heaviside(x, v)
    np.testing.assert_array_equal(out.numpy(), np.heaviside(x.numpy(), v.numpy()))
    gx, gv = cr.gradients((out * cr.tensor([1.0, 2.0, 3.0, 4.0])).sum(), [x, v])
    np.testing.assert_array_equal(gx.numpy(), 0)
    np.testing.assert_array_equal(gv.numpy(), [0.0, 2.0, 0.0, 4.0])
    assert cr.gradcheck(lambda t: cr.heaviside(x.detach(), t), [v.numpy()])


@pytest.mark.parametrize("kwargs", [{}, {"nan": 1.5, "posinf": 9.0, "neginf": -9.0}])
def test_nan_to_num_values_and_gradient_match_torch(kwargs):
    data = np.array([np.nan, np.inf, -np.inf, 0.5, -2.0])
    x = cr.tensor(data, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    out, outt = cr.nan_to_num(x, **kwargs), torch.nan_to_num(xt, **kwargs)
    np.testing.assert_array_equal(out.numpy(), outt.detach().numpy())
    np.testing.assert_array_equal(out.numpy(), np.nan_to_num(data, **kwargs))
    w = np.arange(1.0, 6.0) / 10  # the float64 extremes times w stay finite
    (out * cr.tensor(w)).sum().backward()
    (outt * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 0.4, 0.5])


def test_power_with_tensor_exponent_at_zero_matches_torch():
    x = np.array([0.0, 0.0, 0.0, 2.0, 0.0])
    y = np.array([0.0, 2.0, -1.0, 0.0, 0.5])
    xs = cr.tensor(x, requires_grad=True), cr.tensor(y, requires_grad=True)
    ts = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    with np.errstate(divide="ignore"):  # 0 ** -1 = inf, as NumPy warns
        gx, gy = cr.gradients((xs[0] ** xs[1]).sum(), list(xs))
    tx, ty = torch.autograd.grad((ts[0] ** ts[1]).sum(), list(ts))
    np.testing.assert_array_equal(gx.numpy(), tx.numpy())  # 0 at 0 ** 0, not NaN
    np.testing.assert_array_equal(gy.numpy(), ty.numpy())  # -inf for 0 ** -1, not 0
    assert gy.numpy()[2] == -np.inf and gx.numpy()[0] == 0


# ----------------------------------------------------------------------------- special values
def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64)


@pytest.mark.parametrize(
    ("fn", "ref", "data", "rtol"),
    [
        (cr.special.erfinv, torch.erfinv,
         np.concatenate([np.linspace(-0.999999, 0.999999, 401), 1 - np.logspace(-2, -15, 40)]),
         1e-10),
        (cr.special.erfc, torch.erfc, np.linspace(-6.0, 27.0, 301), 1e-10),
        (cr.special.gammaln, torch.lgamma,
         np.concatenate([np.linspace(-40.3, 0.7, 211), np.logspace(-8, 5, 200)]), 1e-10),
        (cr.special.digamma, torch.digamma,
         np.concatenate([np.linspace(-30.3, 0.7, 211), np.logspace(-8, 8, 200)]), 1e-10),
        # PyTorch's trigamma is good to ~1e-9 relative only (SciPy's agrees with ours to 1e-15)
        (lambda x: cr.special.polygamma(1, x), lambda x: torch.special.polygamma(1, x),
         np.concatenate([np.linspace(-5.3, 0.7, 61), np.logspace(-3, 6, 100)]), 1e-8),
        (lambda x: cr.special.polygamma(3, x), lambda x: torch.special.polygamma(3, x),
         np.concatenate([np.linspace(-5.3, 0.7, 61), np.logspace(-2, 4, 100)]), 1e-10),
    ],
    ids=["erfinv", "erfc", "gammaln", "digamma", "trigamma", "polygamma_3"],
)  # fmt: skip
@pytest.mark.parametrize("use_scipy", [True, False], ids=["scipy", "numpy"])
def test_special_functions_match_torch_across_their_range(
    fn, ref, data, rtol, use_scipy, monkeypatch
):
    """Both evaluations: SciPy's when installed, and the NumPy code the core falls back to."""
    monkeypatch.setattr(_special, "USE_SCIPY", use_scipy)
    data = data[np.abs(data - np.round(data)) > 1e-3]  # no poles (0, -1, -2, ...)
    got = fn(cr.tensor(data)).numpy()
    want = ref(_t(data)).numpy()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("use_scipy", [True, False], ids=["scipy", "numpy"])
def test_special_functions_at_their_edges(use_scipy, monkeypatch):
    monkeypatch.setattr(_special, "USE_SCIPY", use_scipy)
    np.testing.assert_array_equal(
        cr.special.erfinv(cr.tensor([1.0, -1.0, 1.5, np.nan])).numpy(),
        [np.inf, -np.inf, np.nan, np.nan],
    )
    np.testing.assert_array_equal(
        cr.special.gammaln(cr.tensor([0.0, -1.0, -2.0, np.inf])).numpy(), np.inf
    )
    assert cr.special.digamma(cr.tensor(0.0)).item() == -np.inf
    np.testing.assert_array_equal(
        cr.special.xlogy(cr.tensor([0.0, 0.0, 1.0]), cr.tensor([0.0, np.nan, 0.0])).numpy(),
        torch.xlogy(_t([0.0, 0.0, 1.0]), _t([0.0, np.nan, 0.0])).numpy(),
    )
    x = cr.tensor([0.3, -0.6], dtype="float32")
    assert cr.special.erfinv(x).dtype == np.float32 and cr.special.gammaln(x).dtype == np.float32


def test_special_namespace_and_aliases():
    assert cr.special.psi is cr.digamma and cr.special.lgamma is cr.gammaln
    assert cr.special.erf is cr.erf and cr.special.expit is cr.sigmoid
    assert cr.fix is cr.trunc and cr.mod is cr.remainder
    assert cr.radians is cr.deg2rad and cr.degrees is cr.rad2deg and cr.invert is cr.bitwise_not
    x = cr.tensor([0.25, 0.5], dtype="float64", requires_grad=True)
    np.testing.assert_allclose(x.lgamma().numpy(), torch.lgamma(_t([0.25, 0.5])).numpy())
    np.testing.assert_allclose(x.atan2(x * 2).numpy(), np.arctan2([0.25, 0.5], [0.5, 1.0]))


def test_polygamma_order_must_be_a_non_negative_integer():
    for n in (-1, 1.5, True):
        with pytest.raises(ValueError, match=r"polygamma: n must be an integer >= 0"):
            cr.special.polygamma(n, cr.tensor([1.0]))


# ----------------------------------------------------------------------------- size 0
SIZE0_UNARY = [cr.tan, cr.arcsinh, cr.log1p, cr.expm1, cr.square, cr.cbrt, cr.sinc, cr.floor,
               cr.sign, cr.erfc, cr.special.erfinv, cr.special.gammaln, cr.special.digamma,
               cr.nan_to_num]  # fmt: skip
SIZE0_BINARY = [cr.arctan2, cr.hypot, cr.logaddexp, cr.fmod, cr.remainder, cr.fmax,
                cr.copysign, cr.special.xlogy, cr.floor_divide]  # fmt: skip


@settings(max_examples=10)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=2).filter(
    lambda s: 0 in s))  # fmt: skip
def test_size_zero_inputs_give_size_zero_values_and_gradients(shape):
    x = cr.tensor(uniform(0, shape, 0.2, 0.8), requires_grad=True)
    y = cr.tensor(uniform(1, shape[-1:], 0.2, 0.8), requires_grad=True)
    for fn in SIZE0_UNARY:
        (g,) = cr.gradients(fn(x).sum(), [x])
        assert fn(x).shape == shape and g.shape == shape, fn.__name__
    for fn in SIZE0_BINARY:
        gx, gy = cr.gradients(fn(x, y).sum(), [x, y])
        assert gx.shape == shape and gy.shape == y.shape, fn.__name__
        np.testing.assert_array_equal(gy.numpy(), 0)


@pytest.mark.parametrize(
    "fn", [cr.arctan2, cr.hypot, cr.logaddexp, cr.fmod, cr.fmax, cr.copysign, cr.special.xlogy]
)
def test_binary_ops_name_themselves_and_the_shapes_that_do_not_broadcast(fn):
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(
        cr.ShapeError, match=rf"{fn.__name__}: cannot apply to shapes \(2, 3\) and \(4,\)"
    ):
        fn(x, cr.tensor(np.ones(4)))
