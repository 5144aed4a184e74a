"""Shared test configuration: hypothesis profile, a fixed seed per test, torch on 1 thread."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import chainrule as cr
from suite_order import LONG_TESTS

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
    if _xdist_controller(config) and getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1  # see "Order under xdist" below


# ------------------------------------------------------------------- order under xdist
# The README's test command runs the suite on two workers (``pytest -n 2``). xdist's load
# scheduling hands the tests out in collection order, in large consecutive chunks at first
# (a quarter of each worker's share), so the end-to-end runs of tests/test_results.py, late in
# the alphabet, started minutes into the suite and it waited for the longest (the Fashion-
# MNIST CNN, 6-8 minutes) at its end with one worker idle. Under xdist, therefore, the tests
# are handed out one at a time (``--maxschedchunk 1``, unless given: a worker that finishes
# takes the next test) and the long ones come first, about longest first, the other slow tests
# after them and the rest in their usual order (the long ones: tests/suite_order.py); without
# xdist nothing changes.
_LONG_RANK = {nodeid: i for i, nodeid in enumerate(LONG_TESTS)}


def _xdist_controller(config) -> bool:
    """Whether this process hands tests out to xdist workers (``-n N``, N > 0)."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_collection_modifyitems(config, items):
    """Under xdist (in each worker; they must all collect the same order): the long tests
    first, as listed in ``LONG_TESTS``, the other slow tests next, then the rest as
    collected."""
    if not hasattr(config, "workerinput"):
        return

    def rank(item) -> tuple[int, int]:
        if item.nodeid in _LONG_RANK:
            return (0, _LONG_RANK[item.nodeid])
        return (1 if item.get_closest_marker("slow") else 2, 0)

    items.sort(key=rank)  # stable: the order among equals is the collection's


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
