"""chainrule's MLPClassifier against scikit-learn's, same hyper-parameters, same data, one run.

For each dataset (digits, breast_cancer, MNIST-1D) the features are standardised on the
training split, then both estimators are fitted with identical hyper-parameters and
``random_state`` (the same seed gives both the same initial weights), alternately, ``--repeats``
times with seeds 0, 1, ...; the table shows the medians of test accuracy, epochs run and fit
time, and the ratio of fit times (scikit-learn / chainrule: above 1 means chainrule is
faster). Both run with the same BLAS thread limit (``--threads``, default 1).

    python benchmarks/bench_sklearn.py                 # float64 and float32, 5 repeats
    python benchmarks/bench_sklearn.py --repeats 3 --dtype float32
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, table

import chainrule as cr
from chainrule.sklearn import MLPClassifier as CrMLP

DATASETS = ("digits", "breast_cancer", "mnist1d")
PARAMS = dict(hidden_layer_sizes=(100,), max_iter=200)  # everything else: the defaults


def load(name: str, dtype: str) -> tuple[np.ndarray, ...]:
    """Standardised train/test features (scaler fitted on train) and labels."""
    d = cr.data.load_dataset(name)
    scaler = StandardScaler().fit(d.X_train)
    X_train = scaler.transform(d.X_train).astype(dtype)
    X_test = scaler.transform(d.X_test).astype(dtype)
    return X_train, d.y_train, X_test, d.y_test


def fit_once(cls: type, seed: int, data: tuple[np.ndarray, ...]) -> tuple[float, float, int]:
    """(seconds to fit, test accuracy, epochs) of one fit."""
    X_train, y_train, X_test, y_test = data
    est = cls(random_state=seed, **PARAMS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.process_time()
        est.fit(X_train, y_train)
        seconds = time.process_time() - start
    return seconds, float(est.score(X_test, y_test)), int(est.n_iter_)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    parser.add_argument("--dtype", choices=("float64", "float32", "both"), default="both")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    args = parser.parse_args(argv)
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    rows = []
    with threadpool_limits(args.threads):
        print(blas_report())
        for name in args.datasets:
            for dtype in dtypes:
                data = load(name, dtype)
                runs: dict[str, list[tuple[float, float, int]]] = {"sk": [], "cr": []}
                for seed in range(args.repeats):
                    pair = [("sk", SkMLP), ("cr", CrMLP)]
                    for key, cls in pair if seed % 2 == 0 else pair[::-1]:
                        runs[key].append(fit_once(cls, seed, data))
                med = {
                    k: [statistics.median(r[i] for r in v) for i in range(3)]
                    for k, v in runs.items()
                }
                rows.append(
                    [
                        name,
                        dtype,
                        f"{data[0].shape[0]}x{data[0].shape[1]}",
                        f"{med['sk'][1]:.4f}",
                        f"{med['cr'][1]:.4f}",
                        f"{med['sk'][2]:.0f}",
                        f"{med['cr'][2]:.0f}",
                        f"{med['sk'][0]:.2f}",
                        f"{med['cr'][0]:.2f}",
                        f"{med['sk'][0] / med['cr'][0]:.2f}x",
                    ]
                )
                print(rows[-1], file=sys.stderr, flush=True)
    header = [
        "dataset", "dtype", "train", "acc sklearn", "acc chainrule", "epochs sk", "epochs cr",
        "fit s sklearn", "fit s chainrule", "speed-up",
    ]  # fmt: skip
    print(
        f"MLPClassifier{tuple(PARAMS.items())}, other parameters default; medians of "
        f"{args.repeats} seeds; {args.threads} BLAS thread(s)"
    )
    print(table(rows, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
