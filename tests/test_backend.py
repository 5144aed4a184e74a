"""The array namespace (NumPy here; CuPy where a GPU and CuPy exist), the default dtype and the
random generator."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend


def test_numpy_is_the_default_namespace_and_every_op_goes_through_it():
    assert cr.get_backend() == "numpy"
    assert backend.xp is np
    assert isinstance((cr.ones(2) * 2).data, np.ndarray)


def test_unknown_backend_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown backend 'jax'; choose 'numpy' or 'cupy'"):
        cr.set_backend("jax")
    assert backend.xp is np


def test_cupy_backend_switches_or_says_why():
    """On a GPU machine it switches and back; elsewhere one DeviceError says why (no CuPy, or
    CuPy without a GPU: tests/test_device.py covers both with a stand-in)."""
    try:
        xp = cr.set_backend("cupy")
    except cr.DeviceError as exc:
        assert "pip install 'chainrule[gpu]'" in str(exc) or "no CUDA" in str(exc)
        assert backend.xp is np  # a failed switch leaves NumPy in place
        return
    try:
        assert cr.get_backend() == "cupy"
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        np.testing.assert_allclose(backend.to_numpy(x.grad.data), [2.0, 4.0])
        assert isinstance(x.data, xp.ndarray)
    finally:
        cr.set_backend("numpy")


def test_default_dtype_is_float32_and_must_be_floating():
    assert cr.get_default_dtype() == np.float32
    cr.set_default_dtype("float64")
    assert cr.tensor([1.0]).dtype == np.float64
    with pytest.raises(cr.DTypeError, match="must be a floating dtype, got int64"):
        cr.set_default_dtype("int64")
    with pytest.raises(cr.DTypeError, match="not a dtype"):
        cr.set_default_dtype("floaty")


def test_rng_state_round_trip_reproduces_draws():
    cr.manual_seed(7)
    state = backend.get_rng_state()
    a = cr.randn(5).numpy()
    backend.set_rng_state(state)
    np.testing.assert_array_equal(cr.randn(5).numpy(), a)
    cr.manual_seed(7)
    np.testing.assert_array_equal(cr.randn(5).numpy(), a)
