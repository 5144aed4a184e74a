"""Fixtures for the data tests: the slow datasets are built once per session (per worker)."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from chainrule.data import load_fashion_mnist, load_mnist1d


@pytest.fixture(scope="session")
def mnist1d_run(tmp_path_factory):
    """MNIST-1D generated with the package defaults, no cache, from an empty working directory.

    Returns ``(data, files_left_in_cwd, global_rng_states_unchanged)``.
    """
    work = tmp_path_factory.mktemp("mnist1d_cwd")
    old = os.getcwd()
    np.random.seed(123)  # noqa: NPY002 - global state on purpose
    random.seed(123)
    np_before = np.random.get_state()[1].copy()  # noqa: NPY002 - global state on purpose
    py_before = random.getstate()
    os.chdir(work)
    try:
        data = load_mnist1d(cache=False)
    finally:
        os.chdir(old)
    unchanged = np.array_equal(np.random.get_state()[1], np_before) and (  # noqa: NPY002 - global state on purpose
        random.getstate() == py_before
    )
    return data, sorted(os.listdir(work)), unchanged


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST from the Debian package's folder, decoded once."""
    return load_fashion_mnist()


@pytest.fixture
def cache_in_tmp(tmp_path, monkeypatch):
    """Point chainrule's cache folder at a fresh temporary folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(folder))
    return folder
