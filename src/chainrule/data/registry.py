"""The datasets chainrule can load by name, and :func:`load_dataset` to load any of them.

None of them needs the network: scikit-learn's small datasets ship inside scikit-learn, the
generated ones are computed from a seed, MNIST-1D is built offline by the ``mnist1d``
package's generator, and Fashion-MNIST is read from IDX files on disk.
"""

from __future__ import annotations

import difflib
import importlib  # noqa: F401 - its metadata submodule is imported where used
import io
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._atomic import atomic_write_bytes
from chainrule.data.containers import LabeledData, SplitData
from chainrule.data.dataset import _resolve_seed
from chainrule.data.files import load_csv, load_npz
from chainrule.data.generated import make_moons, make_sine, make_spirals, make_xor
from chainrule.data.idx import load_fashion_mnist
from chainrule.errors import DataError

__all__ = ["cache_dir", "list_datasets", "load_dataset", "load_mnist1d"]

DEFAULT_TEST_SIZE = 0.2
CACHE_ENV = "CHAINRULE_CACHE_DIR"


def load_dataset(
    name: str | os.PathLike,
    *,
    test_size: float | int | None = None,
    seed: int | None = 0,
    **options: Any,
) -> SplitData:
    """Load a dataset by name (see :func:`list_datasets`) or from a ``.csv`` / ``.npz`` path,
    split into training and test parts.

    Args:
        name: a registered name (``"digits"``; case, ``-`` and ``_`` do not matter), or a path
            ending in ``.csv`` (then ``target=COLUMN`` is required) or ``.npz``.
        test_size: the test fraction (or count) for datasets without their own split; default
            0.2. Datasets with a fixed split (``mnist1d``, ``fashion_mnist``) refuse it.
        seed: seeds the split, stratified for classification (:func:`train_test_split`), and
            the generation of generated datasets (``None``: drawn from chainrule's
            generator). Fixed-split datasets do not depend on it.
        **options: passed to the loader: ``n_samples``/``noise`` (generated datasets),
            ``root`` (``fashion_mnist``), ``cache`` and the generator's arguments
            (``mnist1d``), ``target``/``task``/``features``/... (:func:`load_csv`),
            ``x_key``/``y_key``/``task`` (:func:`load_npz`).

    Returns a :class:`~chainrule.data.SplitData`.

    Raises :class:`~chainrule.errors.DataError` for an unknown name or option (suggesting the
    closest), a ``test_size`` for a fixed split, and whatever the loader raises;
    ``ImportError`` with an install hint when scikit-learn or mnist1d is missing.

    >>> d = load_dataset("moons", n_samples=100)
    >>> d.X_train.shape, d.X_test.shape, d.task, d.n_classes
    ((80, 2), (20, 2), 'classification', 2)
    """
    text = os.fspath(name)
    if isinstance(name, os.PathLike) or Path(text).suffix.lower() in (".csv", ".npz"):
        return _load_file(Path(text), test_size, seed, options)
    key = _normalise(text)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, [*_REGISTRY, *_ALIASES], n=1, cutoff=0.5)
        hint = f" (did you mean {_ALIASES.get(close[0], close[0])!r}?)" if close else ""
        raise DataError(
            f"unknown dataset {text!r}{hint}; available: {', '.join(_REGISTRY)}, "
            "or a path to a .csv or .npz file"
        )
    entry = _REGISTRY[key]
    _check_options(key, entry.loader, options)
    if entry.fixed_split:
        if test_size is not None:
            raise DataError(
                f"{key} comes with a fixed train/test split; test_size cannot be set for it"
            )
        return entry.loader(**options)
    if entry.generated:
        seed = _resolve_seed(seed)
        options = {"seed": seed, **options}
    data = entry.loader(**options)
    return data.split(DEFAULT_TEST_SIZE if test_size is None else test_size, seed=seed)


def list_datasets() -> dict[str, str]:
    """The registered dataset names, each with a one-line description, in display order.

    >>> list(list_datasets())[:3]
    ['digits', 'iris', 'wine']
    """
    return {name: entry.description for name, entry in _REGISTRY.items()}


def load_mnist1d(*, cache: bool = True, **args: Any) -> SplitData:
    """MNIST-1D: 1-D signals of length 40 made from templates of the 10 digits, generated
    offline with the ``mnist1d`` package's ``make_dataset`` and its default arguments
    (``get_dataset_args()``: 5,000 samples, seed 42, split 4,000 train / 1,000 test).

    ``args`` override the generator's arguments (``num_samples``, ``train_split``, ``seed``,
    ...; ``url`` is refused: nothing is downloaded). The package's global seeding
    (``random.seed``, ``numpy.random.seed``) is undone afterwards, and nothing is written to the
    working directory. With ``cache=True`` the arrays are kept in :func:`cache_dir` as
    ``mnist1d-<hash>.npz`` (written to a temporary file then renamed, so never half-written;
    a damaged cache file is regenerated, an unwritable cache folder ignored).

    Returns a :class:`~chainrule.data.SplitData`: ``X_*`` float64 of shape ``(n, 40)``,
    ``y_*`` int64 in ``0..9``. Raises ``ImportError`` with an install hint when ``mnist1d``
    is missing, :class:`~chainrule.errors.DataError` for an unknown argument.
    """
    import hashlib
    import importlib.metadata  # here, not at the top: it takes as long to import as the engine

    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ImportError(
            "the mnist1d dataset needs the mnist1d package: pip install 'chainrule[mnist1d]'"
        ) from exc
    args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items()}
    key = hashlib.sha256(json.dumps([version, sorted(args.items())]).encode()).hexdigest()[:16]
    path = cache_dir() / f"mnist1d-{key}.npz"
    arrays = _read_cache(path) if cache else None
    if arrays is None:
        arrays = _generate_mnist1d(args)
        if cache:
            _write_cache(path, arrays)
    X_train, y_train, X_test, y_test = arrays
    length = X_train.shape[1]
    return SplitData(
        name="mnist1d",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        task="classification",
        n_classes=10,
        feature_names=[f"x{i}" for i in range(length)],
        class_names=[str(i) for i in range(10)],
        description=(
            "MNIST-1D (Greydanus & Kobak): digit templates turned into noisy 1-D signals of "
            f"length {length}, generated offline; {len(X_train):,} train / {len(X_test):,} test, "
            "10 classes"
        ),
    )


def cache_dir() -> Path:
    """Where chainrule caches generated data: ``$CHAINRULE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/chainrule``, else ``~/.cache/chainrule`` (created on first write)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chainrule"


# ---------------------------------------------------------------------------------- loaders
def _sklearn_loader(fn: str, task: str) -> Callable[[], LabeledData]:
    def load() -> LabeledData:
        try:
            from sklearn import datasets
        except ImportError as exc:
            raise ImportError(
                f"the {fn[5:]} dataset ships with scikit-learn: pip install 'chainrule[train]'"
            ) from exc
        bunch = getattr(datasets, fn)()
        X = np.asarray(bunch.data, dtype=np.float64)
        names = [str(f) for f in bunch.feature_names]
        desc = _REGISTRY[fn[5:]].description
        if task == "regression":
            y = np.asarray(bunch.target, dtype=np.float64)
            return LabeledData(fn[5:], X, y, task, None, names, None, desc)
        y = np.asarray(bunch.target, dtype=np.int64)
        classes = [str(c) for c in bunch.target_names]
        return LabeledData(fn[5:], X, y, task, len(classes), names, classes, desc)

    return load


def _generated_loader(
    name: str, make: Callable[..., tuple[np.ndarray, np.ndarray]], task: str
) -> Callable[..., LabeledData]:
    def load(
        n_samples: int = 1000, noise: float | None = None, seed: int | None = 0
    ) -> LabeledData:
        kwargs = {} if noise is None else {"noise": noise}
        X, y = make(n_samples, seed=seed, **kwargs)
        names = [f"x{i}" for i in range(X.shape[1])]
        if task == "regression":
            return LabeledData(name, X, y, task, None, names, None, _REGISTRY[name].description)
        k = int(y.max()) + 1
        classes = [str(i) for i in range(k)]
        return LabeledData(name, X, y, task, k, names, classes, _REGISTRY[name].description)

    return load


@dataclass(frozen=True)
class _Entry:
    loader: Callable[..., LabeledData | SplitData]
    description: str
    fixed_split: bool = False
    generated: bool = False


_REGISTRY: dict[str, _Entry] = {
    "digits": _Entry(
        _sklearn_loader("load_digits", "classification"),
        "8x8 images of handwritten digits (scikit-learn): 1,797 samples, 64 features, 10 classes",
    ),
    "iris": _Entry(
        _sklearn_loader("load_iris", "classification"),
        "Iris flowers by species (scikit-learn): 150 samples, 4 features, 3 classes",
    ),
    "wine": _Entry(
        _sklearn_loader("load_wine", "classification"),
        "Wines by cultivar from chemical analysis (scikit-learn): 178 samples, 13 features, "
        "3 classes",
    ),
    "breast_cancer": _Entry(
        _sklearn_loader("load_breast_cancer", "classification"),
        "Breast tumours, malignant or benign (scikit-learn, Wisconsin): 569 samples, "
        "30 features, 2 classes",
    ),
    "diabetes": _Entry(
        _sklearn_loader("load_diabetes", "regression"),
        "Diabetes progression after one year (scikit-learn): 442 samples, 10 features, regression",
    ),
    "spirals": _Entry(
        _generated_loader("spirals", make_spirals, "classification"),
        "Two interleaved spirals (generated): 1,000 samples, 2 features, 2 classes",
        generated=True,
    ),
    "moons": _Entry(
        _generated_loader("moons", make_moons, "classification"),
        "Two interleaving half moons (generated): 1,000 samples, 2 features, 2 classes",
        generated=True,
    ),
    "xor": _Entry(
        _generated_loader("xor", make_xor, "classification"),
        "XOR of the signs of two coordinates (generated): 1,000 samples, 2 features, 2 classes",
        generated=True,
    ),
    "sine": _Entry(
        _generated_loader("sine", make_sine, "regression"),
        "Noisy sine, y = sin(x) + noise (generated): 1,000 samples, 1 feature, regression",
        generated=True,
    ),
    "mnist1d": _Entry(
        load_mnist1d,
        "MNIST-1D signals (mnist1d package, generated offline): 4,000 train / 1,000 test, "
        "40 features, 10 classes",
        fixed_split=True,
    ),
    "fashion_mnist": _Entry(
        load_fashion_mnist,
        "Fashion-MNIST clothing images (IDX, Debian dataset-fashion-mnist): "
        "60,000 train / 10,000 test, 28x28, 10 classes",
        fixed_split=True,
    ),
}
_ALIASES = {"mnist_1d": "mnist1d", "fashion": "fashion_mnist", "fashionmnist": "fashion_mnist"}


# ---------------------------------------------------------------------------------- helpers
def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _check_options(key: str, loader: Callable[..., Any], options: dict[str, Any]) -> None:
    import inspect

    params = inspect.signature(loader).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [p for p in params if p != "seed"]
    for option in options:
        if option not in allowed:
            close = difflib.get_close_matches(option, allowed, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(
                f"load_dataset({key!r}): unknown option {option!r}{hint}; "
                f"it takes {allowed or 'no options'}"
            )


def _load_file(path: Path, test_size: Any, seed: int, options: dict[str, Any]) -> SplitData:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if "target" not in options:
            raise DataError(
                f"{path.name}: a CSV file needs the name of its target column (target=COLUMN)"
            )
        data = load_csv(path, **options)
    elif suffix == ".npz":
        data = load_npz(path, **options)
    else:
        raise DataError(f"{path.name}: unsupported file type {suffix!r}; use .csv or .npz")
    return data.split(DEFAULT_TEST_SIZE if test_size is None else test_size, seed=seed)


def _generate_mnist1d(args: dict[str, Any]) -> tuple[np.ndarray, ...]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ImportError(
            f"the mnist1d dataset needs the mnist1d package ({exc}): "
            "pip install 'chainrule[mnist1d]'"
        ) from exc
    spec = get_dataset_args()
    known = [k for k in vars(spec) if k != "url"]
    for k, v in args.items():
        if k not in known:
            close = difflib.get_close_matches(k, known, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"load_mnist1d: unknown argument {k!r}{hint}; it takes {known}")
        setattr(spec, k, v)
    # make_dataset seeds Python's and NumPy's global generators: put them back afterwards
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        d = make_dataset(spec)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
    return (
        np.asarray(d["x"], dtype=np.float64),
        np.asarray(d["y"], dtype=np.int64),
        np.asarray(d["x_test"], dtype=np.float64),
        np.asarray(d["y_test"], dtype=np.int64),
    )


_CACHE_KEYS = ("X_train", "y_train", "X_test", "y_test")


def _read_cache(path: Path) -> tuple[np.ndarray, ...] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[k] for k in _CACHE_KEYS)
    except Exception:  # a damaged cache file is regenerated
        return None
    X_train, y_train, X_test, y_test = arrays
    if (
        X_train.ndim != 2
        or X_test.ndim != 2
        or len(X_train) != len(y_train)
        or len(X_test) != len(y_test)
    ):
        return None
    return arrays


def _write_cache(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **dict(zip(_CACHE_KEYS, arrays)))
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError:  # an unwritable cache folder only costs the regeneration next time
        pass
