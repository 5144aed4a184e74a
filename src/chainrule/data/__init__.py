"""Floor 4: data: datasets, batching, splitting, standardisation, and datasets to load.

* :class:`Dataset`, :class:`TensorDataset`, :class:`Subset`, :func:`random_split`
* :class:`DataLoader` (seeded shuffling, batches gathered with one fancy-index per array),
  :func:`default_collate`, :func:`check_batch_size`
* :mod:`~chainrule.data.transforms`: batch augmentations (RandomCrop, RandomAffine, ...)
* :func:`train_test_split` (stratified for class labels), :class:`StandardScaler`
* :func:`load_dataset` / :func:`list_datasets`: scikit-learn's small datasets, generated ones
  (:func:`make_spirals`, :func:`make_moons`, :func:`make_xor`, :func:`make_sine`), MNIST-1D
  (:func:`load_mnist1d`) and Fashion-MNIST (:func:`load_fashion_mnist`), all offline
* IDX files (:func:`read_idx`, :func:`load_idx_dataset`), a user's :func:`load_csv` and
  :func:`load_npz`, returning :class:`LabeledData`; loaders by name return :class:`SplitData`

Imports only the floors below it (tensor, backend, errors); scikit-learn and mnist1d are
imported when a dataset needs them.
"""

from chainrule.data import transforms
from chainrule.data.containers import LabeledData, SplitData
from chainrule.data.dataset import Dataset, Subset, TensorDataset, random_split
from chainrule.data.files import load_csv, load_npz
from chainrule.data.generated import make_moons, make_sine, make_spirals, make_xor
from chainrule.data.idx import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    load_idx_dataset,
    parse_idx,
    read_idx,
)
from chainrule.data.loader import DataLoader, check_batch_size, default_collate
from chainrule.data.preprocessing import StandardScaler
from chainrule.data.registry import cache_dir, list_datasets, load_dataset, load_mnist1d
from chainrule.data.split import train_test_split

__all__ = [
    "FASHION_MNIST_CLASSES", "DataLoader", "Dataset", "LabeledData", "SplitData",
    "StandardScaler", "Subset", "TensorDataset", "cache_dir", "check_batch_size",
    "default_collate", "list_datasets", "load_csv", "load_dataset", "load_fashion_mnist",
    "load_idx_dataset", "load_mnist1d", "load_npz", "make_moons", "make_sine", "make_spirals",
    "make_xor", "parse_idx", "random_split", "read_idx", "train_test_split", "transforms",
]  # fmt: skip
