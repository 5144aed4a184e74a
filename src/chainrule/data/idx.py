"""The IDX format of MNIST and Fashion-MNIST (``*-ubyte`` files, usually gzipped).

An IDX file is a header and raw big-endian data::

    bytes 0-1   0x00 0x00
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64
    byte  3     number of dimensions d
    4 * d bytes the size of each dimension (big-endian uint32)
    the data    prod(sizes) items, row-major
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chainrule.data.containers import SplitData
from chainrule.errors import DataError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEFAULT_ROOT",
    "FASHION_MNIST_ENV",
    "load_fashion_mnist",
    "load_idx_dataset",
    "parse_idx",
    "read_idx",
]

FASHION_MNIST_DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
"""Where Debian's ``dataset-fashion-mnist`` package installs the files."""
FASHION_MNIST_ENV = "CHAINRULE_FASHION_MNIST"
"""The environment variable naming another Fashion-MNIST folder."""
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_FILES = {  # (split, kind) -> (stem, idx dims)
    ("train", "images"): ("train-images", 3),
    ("train", "labels"): ("train-labels", 1),
    ("test", "images"): ("t10k-images", 3),
    ("test", "labels"): ("t10k-labels", 1),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzipped or not, told apart by its first bytes) into a native-endian
    NumPy array of the shape and dtype its header gives.

    Raises :class:`~chainrule.errors.DataError` for a missing file, a damaged gzip stream, or
    anything :func:`parse_idx` rejects; the message names the file.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"no such IDX file: {str(path)!r}")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError as exc:
            raise DataError(
                f"{p.name}: truncated gzip stream ({exc}); the file is incomplete"
            ) from exc
        except (OSError, zlib.error) as exc:
            raise DataError(f"{p.name}: corrupt gzip data ({exc})") from exc
    return parse_idx(raw, source=p.name)


def parse_idx(buffer: bytes, source: str = "IDX data") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file; see the module docstring for the layout.

    Checks the magic number (two zero bytes, a known dtype code, at least one dimension), that
    the header is complete, and that exactly ``prod(dims) * itemsize`` data bytes follow.
    Raises :class:`~chainrule.errors.DataError` saying which check failed, with the numbers.

    >>> parse_idx(bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])).tolist()
    [[1, 2, 3], [4, 5, 6]]
    >>> parse_idx(bytes([0, 0, 0x08, 1, 0, 0, 0, 4, 1, 2]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainrule.errors.DataError: IDX data: truncated: ... needs 4 data bytes, but only 2 follow
    """
    n = len(buffer)
    if n < 4:
        raise DataError(f"{source}: truncated: {n} bytes, shorter than the 4-byte IDX magic number")
    zero0, zero1, code, ndim = buffer[0], buffer[1], buffer[2], buffer[3]
    magic = int.from_bytes(buffer[:4], "big")
    if zero0 != 0 or zero1 != 0:
        raise DataError(
            f"{source}: bad magic number 0x{magic:08X}: an IDX file starts with two zero bytes "
            "(is it an IDX file? gzipped files must start with the gzip header)"
        )
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise DataError(
            f"{source}: bad magic number 0x{magic:08X}: unknown dtype code 0x{code:02X} "
            f"(known: {known})"
        )
    if ndim == 0:
        raise DataError(f"{source}: bad magic number 0x{magic:08X}: zero dimensions")
    header = 4 + 4 * ndim
    if n < header:
        raise DataError(
            f"{source}: truncated header: {ndim} dimensions need {header} header bytes, "
            f"the data has {n}"
        )
    dims = struct.unpack(f">{ndim}I", buffer[4:header])
    dtype = _DTYPES[code]
    count = int(np.prod(dims, dtype=np.int64))
    need = count * dtype.itemsize
    have = n - header
    what = f"the header says shape {dims} of {dtype.newbyteorder('=').name}"
    if have < need:
        raise DataError(
            f"{source}: truncated: {what}, which needs {need} data bytes, but only {have} follow"
        )
    if have > need:
        raise DataError(
            f"{source}: corrupt: {what}, which needs {need} data bytes, but {have} follow "
            f"({have - need} too many)"
        )
    data = np.frombuffer(buffer, dtype=dtype, count=count, offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def load_idx_dataset(
    folder: str | Path,
    *,
    name: str | None = None,
    class_names: Sequence[str] | None = None,
    description: str | None = None,
    hint: str = "",
) -> SplitData:
    """Load an MNIST-style folder: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each may end in ``.gz``; the
    ``train-images.idx3-ubyte`` spelling is accepted too).

    Returns a :class:`~chainrule.data.SplitData` with the file's split: ``X_train``,
    ``X_test`` as stored (``(n, 28, 28)`` uint8 for MNIST), ``y_train``, ``y_test`` int64.
    ``n_classes`` is ``len(class_names)`` when given, else the largest label + 1.

    Raises :class:`~chainrule.errors.DataError` for a missing folder or file (the message lists
    what is missing and ends with ``hint``), an unreadable file, labels that are not 1-D
    non-negative integers, or image and label counts that differ.
    """
    root = Path(folder).expanduser()
    files, missing = {}, []
    for key, (stem, dims) in _FILES.items():
        found = _find(root, stem, dims)
        if found is None:
            missing.append(f"{stem}-idx{dims}-ubyte.gz")
        files[key] = found
    if missing:
        where = "does not exist" if not root.is_dir() else f"lacks {', '.join(missing)}"
        raise DataError(f"IDX dataset folder {str(root)!r} {where}{hint}")
    parts = {}
    for split in ("train", "test"):
        images = read_idx(files[(split, "images")])
        labels = read_idx(files[(split, "labels")])
        lname = files[(split, "labels")].name
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(
                f"{lname}: labels must be a 1-D integer array, got {labels.dtype} of shape "
                f"{labels.shape}"
            )
        if images.ndim < 2 or images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{files[(split, 'images')].name} holds images of shape {images.shape} but "
                f"{lname} holds {labels.shape[0]} labels; the counts must match"
            )
        if labels.size and labels.min() < 0:
            raise DataError(f"{lname}: negative label {labels.min()}")
        parts[split] = (images, labels.astype(np.int64))
    top = int(max(parts["train"][1].max(initial=0), parts["test"][1].max(initial=0)))
    n_classes = len(class_names) if class_names is not None else top + 1
    if top >= n_classes:
        raise DataError(f"{root}: label {top} is out of range for {n_classes} classes")
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    X_train, y_train = parts["train"]
    X_test, y_test = parts["test"]
    shape = X_train.shape[1:]
    return SplitData(
        name=name or root.name,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        task="classification",
        n_classes=n_classes,
        feature_names=[f"pixel_{'_'.join(map(str, i))}" for i in np.ndindex(*shape)],
        class_names=names,
        description=description
        or (
            f"IDX images from {root}: {len(X_train)} train / {len(X_test)} test, "
            f"{'x'.join(map(str, shape))} {X_train.dtype}, {n_classes} classes"
        ),
    )


def load_fashion_mnist(root: str | Path | None = None) -> SplitData:
    """Fashion-MNIST: 60,000 train / 10,000 test 28x28 uint8 grey images of 10 kinds of
    clothing (``FASHION_MNIST_CLASSES``), read from IDX files on disk; never downloads.

    The folder is ``root`` if given, else the ``CHAINRULE_FASHION_MNIST`` environment variable,
    else ``/usr/share/datasets/fashion-mnist``, where Debian's ``dataset-fashion-mnist``
    package puts the files. Returns a :class:`~chainrule.data.SplitData` (``X_*`` of shape
    ``(n, 28, 28)`` uint8, ``y_*`` int64 in ``0..9``; use ``.flattened()`` for an MLP).

    Raises :class:`~chainrule.errors.DataError` when the files are missing (saying how to get
    them) or damaged.
    """
    if root is not None:
        folder, origin = Path(root), "the root argument"
    elif os.environ.get(FASHION_MNIST_ENV):
        folder, origin = Path(os.environ[FASHION_MNIST_ENV]), f"${FASHION_MNIST_ENV}"
    else:
        folder, origin = Path(FASHION_MNIST_DEFAULT_ROOT), "the default folder"
    hint = (
        f" (folder from {origin}). To get Fashion-MNIST: `sudo apt install "
        f"dataset-fashion-mnist` (Debian/Ubuntu, installs into {FASHION_MNIST_DEFAULT_ROOT}), "
        f"or download {FASHION_MNIST_URL}{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte.gz "
        f"into a folder and pass root=FOLDER or set {FASHION_MNIST_ENV}=FOLDER"
    )
    return load_idx_dataset(
        folder,
        name="fashion_mnist",
        class_names=FASHION_MNIST_CLASSES,
        description=(
            "Fashion-MNIST (Zalando): 28x28 grey images of 10 kinds of clothing, "
            "60,000 train / 10,000 test, uint8 pixels 0-255"
        ),
        hint=hint,
    )


def _find(root: Path, stem: str, dims: int) -> Path | None:
    for name in (f"{stem}-idx{dims}-ubyte", f"{stem}.idx{dims}-ubyte"):
        for suffix in (".gz", ""):
            p = root / f"{name}{suffix}"
            if p.is_file():
                return p
    return None
