"""Shared test configuration: hypothesis profile, a fixed seed per test, torch on 1 thread."""

from __future__ import annotations

import importlib.util
import os
import sys

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


# PyTorch's CPU wheel exists for Python 3.11 only here (PyPI gives other Pythons a multi-GB
# CUDA build), so on other interpreters without torch the modules that compare against it are
# skipped, with this one reason. On 3.11, or with torch installed, a module that cannot import
# torch is a collection error, as any broken import is.
TORCH_OPTIONAL = sys.version_info[:2] != (3, 11)
NO_TORCH = (
    f"PyTorch reference test: torch is not installed for Python "
    f"{sys.version_info.major}.{sys.version_info.minor} (its CPU wheel is for 3.11 only)"
)


def _torch_importable() -> bool:
    return importlib.util.find_spec("torch") is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Where torch is optional and missing, a module (or its doctests) failing to collect for
    want of torch is reported as skipped, all under one reason, instead of as an error."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.failed
        and TORCH_OPTIONAL
        and "No module named 'torch'" in str(report.longrepr)
        and not _torch_importable()
    ):
        report.outcome = "skipped"
        report.longrepr = (__file__, 0, f"Skipped: {NO_TORCH}")
        report.result = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """The same for a test that imports torch itself, where torch is optional and missing."""
    outcome = yield
    report = outcome.get_result()
    exc = call.excinfo
    if (
        report.failed
        and TORCH_OPTIONAL
        and exc is not None
        and exc.errisinstance(ModuleNotFoundError)
        and (getattr(exc.value, "name", None) or "").split(".")[0] == "torch"
        and not _torch_importable()
    ):
        report.outcome = "skipped"
        report.longrepr = (__file__, 0, f"Skipped: {NO_TORCH}")
