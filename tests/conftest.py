"""Shared test configuration: hypothesis profile, a fixed seed per test, torch on 1 thread."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import chainrule as cr

# Derandomised: every run (CI included) draws the same examples, so a failure is reproducible
# and a green run stays green. Set HYPOTHESIS_PROFILE=explore to search with fresh randomness.
settings.register_profile(
    "default",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "25")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    parent=settings.get_profile("default"),
    derandomize=False,
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "200")),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seed_and_dtype():
    """Every test starts from the same seed and the float32 default dtype."""
    cr.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - tests that use NumPy's global state get a fixed one
    prev = cr.get_default_dtype()
    yield
    cr.set_default_dtype(prev)


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # torch is a test dependency; the tests that need it fail loudly
        pass
