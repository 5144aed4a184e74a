"""The dataset registry: bundled scikit-learn data, generated data, MNIST-1D, errors."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    SplitData,
    list_datasets,
    load_dataset,
    load_mnist1d,
    make_moons,
    make_sine,
    make_spirals,
    make_xor,
)
from chainrule.data import registry as registry_module
from chainrule.errors import DataError

BUNDLED = {  # name: (n_samples, n_features, n_classes or None)
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "diabetes": (442, 10, None),
    "spirals": (1000, 2, 2),
    "moons": (1000, 2, 2),
    "xor": (1000, 2, 2),
    "sine": (1000, 1, None),
}


def _check_split(d: SplitData, n: int, n_features: int, n_classes: int | None) -> None:
    assert len(d.X_train) + len(d.X_test) == n
    assert len(d.X_test) == int(np.ceil(0.2 * n))
    assert d.X_train.shape[1:] == d.X_test.shape[1:] == (n_features,)
    assert d.X_train.dtype == np.float64 and np.isfinite(d.X_train).all()
    assert len(d.y_train) == len(d.X_train) and len(d.y_test) == len(d.X_test)
    assert len(d.feature_names) == n_features and d.description
    if n_classes is None:
        assert d.task == "regression" and d.n_classes is None and d.class_names is None
        assert d.y_train.dtype == np.float64 and d.y_train.ndim == 1 and d.n_outputs == 1
    else:
        assert d.task == "classification" and d.n_classes == n_classes == d.n_outputs
        assert d.y_train.dtype == np.int64 and len(d.class_names) == n_classes
        assert set(np.unique(d.y_train)) == set(range(n_classes))
        assert set(np.unique(d.y_test)) == set(range(n_classes))


@pytest.mark.parametrize("name", list(BUNDLED))
def test_every_bundled_and_generated_dataset(name):
    d = load_dataset(name)
    _check_split(d, *BUNDLED[name])
    assert d.name == name


def test_bundled_class_names_and_stratified_split():
    d = load_dataset("breast_cancer")
    assert d.class_names == ["malignant", "benign"]
    full = np.bincount(np.concatenate([d.y_train, d.y_test]))
    np.testing.assert_allclose(np.bincount(d.y_test) / len(d.y_test), full / full.sum(), atol=0.01)
    assert load_dataset("iris").class_names == ["setosa", "versicolor", "virginica"]
    assert load_dataset("digits").class_names == [str(i) for i in range(10)]


def test_split_seed_and_test_size():
    a, b, c = (
        load_dataset("wine", seed=1),
        load_dataset("wine", seed=1),
        load_dataset("wine", seed=2),
    )
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)
    assert len(load_dataset("iris", test_size=0.5).X_test) == 75
    assert len(load_dataset("iris", test_size=30).X_test) == 30


def test_generated_options_and_seeds():
    d = load_dataset("spirals", n_samples=300, noise=0.0)
    assert len(d.X_train) + len(d.X_test) == 300
    x1 = load_dataset("moons", seed=3).X_train
    np.testing.assert_array_equal(x1, load_dataset("moons", seed=3).X_train)
    assert not np.array_equal(x1, load_dataset("moons", seed=4).X_train)


def test_seed_none_draws_from_chainrule_generator():
    cr.manual_seed(4)
    a = load_dataset("moons", seed=None, n_samples=50)
    cr.manual_seed(4)
    b = load_dataset("moons", seed=None, n_samples=50)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    cr.manual_seed(5)
    first = make_xor(20, seed=None)[0]
    cr.manual_seed(5)
    np.testing.assert_array_equal(make_xor(20, seed=None)[0], first)


def test_make_functions():
    X, y = make_spirals(300, n_classes=3, noise=0.0, seed=1)
    assert X.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]
    np.testing.assert_array_equal(make_spirals(300, n_classes=3, noise=0.0, seed=1)[0], X)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() <= 1.0
    X, y = make_moons(200, noise=0.0)
    upper = X[y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    X, y = make_xor(500, noise=0.0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(int))
    assert 200 < y.sum() < 300
    X, y = make_sine(400, noise=0.1)
    resid = y - np.sin(X[:, 0])
    assert 0.08 < resid.std() < 0.12 and np.abs(X).max() <= np.pi
    with pytest.raises(DataError, match="n_samples"):
        make_moons(0)
    with pytest.raises(DataError, match="noise"):
        make_xor(10, noise=-1.0)
    with pytest.raises(DataError, match="n_classes"):
        make_spirals(10, n_classes=1)


def test_generated_data_does_not_touch_global_state():
    np.random.seed(0)  # noqa: NPY002 - global state on purpose
    cr.manual_seed(0)
    before = np.random.get_state()[1].copy()  # noqa: NPY002 - global state on purpose
    lib = cr.backend.get_rng_state()
    load_dataset("xor")
    assert np.array_equal(np.random.get_state()[1], before) and cr.backend.get_rng_state() == lib  # noqa: NPY002 - global state on purpose


def test_unknown_names_and_options_suggest_the_closest():
    with pytest.raises(
        DataError,
        match=r"unknown dataset 'digts' \(did you mean 'digits'\?\); available: digits, iris",
    ):
        load_dataset("digts")
    with pytest.raises(DataError, match="did you mean 'fashion_mnist'"):
        load_dataset("fashion-mnst")
    with pytest.raises(DataError, match=r"unknown dataset 'zzzz'; available"):
        load_dataset("zzzz")
    with pytest.raises(
        DataError, match=r"unknown option 'n_sample' \(did you mean 'n_samples'\?\)"
    ):
        load_dataset("moons", n_sample=10)
    with pytest.raises(DataError, match="it takes no options"):
        load_dataset("iris", noise=1.0)
    assert load_dataset("Breast-Cancer").name == "breast_cancer"


def test_list_datasets_one_line_each():
    names = list_datasets()
    assert list(names) == [*BUNDLED, "mnist1d", "fashion_mnist"]
    for description in names.values():
        assert description and "\n" not in description and len(description) < 120


def test_missing_optional_dependencies_give_install_hints(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[train\]'"):
        load_dataset("digits")

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(registry_module.importlib.metadata, "version", not_installed)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[mnist1d\]'"):
        load_mnist1d(cache=False)


# ------------------------------------------------------------------------------ MNIST-1D
def test_mnist1d_default_split_and_shapes(mnist1d_run):
    d, _, _ = mnist1d_run
    assert d.X_train.shape == (4000, 40) and d.X_test.shape == (1000, 40)
    assert d.y_train.shape == (4000,) and d.y_test.shape == (1000,)
    assert d.y_train.dtype == np.int64 and set(np.unique(d.y_train)) == set(range(10))
    assert d.n_classes == 10 and d.task == "classification" and len(d.feature_names) == 40
    assert np.isfinite(d.X_train).all()
    # the package centres the whole dataset and scales it to unit standard deviation
    both = np.concatenate([d.X_train, d.X_test])
    assert abs(both.mean()) < 1e-6 and abs(both.std() - 1.0) < 1e-6


def test_mnist1d_writes_nothing_to_the_working_directory(mnist1d_run):
    _, files_in_cwd, _ = mnist1d_run
    assert files_in_cwd == []


def test_mnist1d_restores_global_random_state(mnist1d_run):
    *_, unchanged = mnist1d_run
    assert unchanged


def test_mnist1d_cache_is_written_atomically_and_reused(cache_in_tmp, monkeypatch, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    first = load_dataset("mnist1d", num_samples=300)
    assert (len(first.X_train), len(first.X_test)) == (240, 60)
    files = os.listdir(cache_in_tmp)
    assert len(files) == 1 and files[0].startswith("mnist1d-") and files[0].endswith(".npz")
    assert os.listdir(work) == []  # only the cache folder was written to

    def refuse(args):
        raise AssertionError("regenerated although the cache holds the data")

    monkeypatch.setattr(registry_module, "_generate_mnist1d", refuse)
    again = load_mnist1d(num_samples=300)
    np.testing.assert_array_equal(again.X_train, first.X_train)
    np.testing.assert_array_equal(again.y_test, first.y_test)
    monkeypatch.undo()
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(cache_in_tmp))
    # a damaged cache file is regenerated and replaced
    (cache_in_tmp / files[0]).write_bytes(b"garbage")
    repaired = load_mnist1d(num_samples=300)
    np.testing.assert_array_equal(repaired.X_train, first.X_train)
    assert os.listdir(cache_in_tmp) == files
    np.load(cache_in_tmp / files[0])  # readable again


def test_mnist1d_unwritable_cache_and_bad_arguments(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(blocker / "cache"))
    d = load_mnist1d(num_samples=100)
    assert len(d.X_train) == 80
    with pytest.raises(
        DataError, match=r"unknown argument 'num_sample' \(did you mean 'num_samples'\?\)"
    ):
        load_mnist1d(cache=False, num_sample=10)
    with pytest.raises(DataError, match="unknown argument 'url'"):
        load_mnist1d(cache=False, url="http://example.invalid")
    with pytest.raises(DataError, match="fixed train/test split"):
        load_dataset("mnist1d", test_size=0.5)


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("CHAINRULE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cr.data.cache_dir() == tmp_path / "chainrule"
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path / "mine"))
    assert cr.data.cache_dir() == tmp_path / "mine"


# ------------------------------------------------------------------------------ architecture
def test_data_imports_only_the_floors_below_it():
    allowed = {"chainrule.tensor", "chainrule.backend", "chainrule.errors", "chainrule._atomic"}
    folder = Path(cr.data.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("chainrule")
            ):
                module = node.module
                if module == "chainrule":
                    module = "chainrule." + node.names[0].name
                ok = module in allowed or module.startswith("chainrule.data")
                assert ok, f"{path.name} imports {module}"


def test_importing_chainrule_loads_no_optional_dependency():
    code = "import sys, chainrule; print('sklearn' in sys.modules, 'mnist1d' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
