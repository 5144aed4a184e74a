"""``chainrule datasets``: the datasets ``chainrule train --dataset`` takes by name."""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Any

from chainrule.cli import add_command

DESCRIPTION = """\
List the bundled datasets: none needs the network. scikit-learn's small datasets ship inside
scikit-learn, the generated ones are computed from the seed, MNIST-1D is generated offline by
the mnist1d package, and Fashion-MNIST is read from IDX files (Debian's dataset-fashion-mnist
package, or a folder named by $CHAINRULE_FASHION_MNIST). Your own data: a .csv file with
--target COLUMN, or an .npz file with arrays X and y."""


def register(subparsers: Any) -> None:
    """Add the ``datasets`` subcommand."""
    p = add_command(
        subparsers,
        "datasets",
        run,
        help="list the bundled datasets",
        description=DESCRIPTION,
    )
    p.add_argument("--names", action="store_true", help="print the names only, one per line")


def run(args: argparse.Namespace) -> int:
    """Print the table of datasets (or their names)."""
    from chainrule.cli._output import print_table
    from chainrule.data import list_datasets

    datasets = list_datasets()
    if args.names:
        print("\n".join(datasets))
        return 0
    rows = [[name, description, _availability(name)] for name, description in datasets.items()]
    print_table(["name", "description", "available"], rows, left=3)
    print("train on one: chainrule train --dataset NAME; your own: --dataset FILE.csv --target COL")
    return 0


def _availability(name: str) -> str:
    if name == "mnist1d":
        return "yes" if importlib.util.find_spec("mnist1d") else "pip install mnist1d"
    if name == "fashion_mnist":
        from chainrule.data.idx import FASHION_MNIST_DEFAULT_ROOT, FASHION_MNIST_ENV

        folder = Path(os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DEFAULT_ROOT)
        if folder.is_dir() and any(folder.glob("*ubyte*")):
            return "yes"
        return "apt install dataset-fashion-mnist"
    if name in _GENERATED or importlib.util.find_spec("sklearn"):
        return "yes"
    return "pip install scikit-learn"


_GENERATED = ("spirals", "moons", "xor", "sine")
