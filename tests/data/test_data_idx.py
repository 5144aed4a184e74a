"""The IDX parser on hand-made files, MNIST-style folders, and the real Fashion-MNIST files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from chainrule.data import (
    FASHION_MNIST_CLASSES,
    load_dataset,
    load_fashion_mnist,
    load_idx_dataset,
    parse_idx,
    read_idx,
)
from chainrule.errors import DataError

CODES = {
    "uint8": 0x08,
    "int8": 0x09,
    "int16": 0x0B,
    "int32": 0x0C,
    "float32": 0x0D,
    "float64": 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``, written independently of the parser under test."""
    head = bytes([0, 0, CODES[array.dtype.name], array.ndim])
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return head + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=True):
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_folder(root, n_train=6, n_test=4, gz=True, spelling="-idx"):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 5, 5)).astype(np.uint8),
        "train-labels": (np.arange(n_train) % 3).astype(np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, 5, 5)).astype(np.uint8),
        "t10k-labels": (np.arange(n_test) % 3).astype(np.uint8),
    }
    for stem, a in arrays.items():
        write_idx(root / f"{stem}{spelling}{a.ndim}-ubyte{suffix}", a, gz=gz)
    return arrays


# ------------------------------------------------------------------------------ parser
@pytest.mark.parametrize("dtype", list(CODES))
def test_parse_every_dtype_round_trip(dtype):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == "uint8":
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx_bytes(a))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, a)
    out[0, 0, 0] = 1  # a writable array of its own


def test_read_gzipped_and_plain_files(tmp_path):
    a = np.arange(30, dtype=np.int32).reshape(3, 10) * 1000
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a-ubyte.gz", a)), a)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a-ubyte", a, gz=False)), a)


def test_parse_rejects_corrupt_headers():
    good = idx_bytes(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(DataError, match="truncated: 2 bytes, shorter than the 4-byte IDX magic"):
        parse_idx(good[:2])
    with pytest.raises(
        DataError, match="bad magic number 0x01000802: an IDX file starts with two zero"
    ):
        parse_idx(b"\x01" + good[1:])
    with pytest.raises(DataError, match="unknown dtype code 0x07"):
        parse_idx(good[:2] + b"\x07" + good[3:])
    with pytest.raises(DataError, match="zero dimensions"):
        parse_idx(b"\x00\x00\x08\x00")
    with pytest.raises(
        DataError, match="truncated header: 2 dimensions need 12 header bytes, the data has 9"
    ):
        parse_idx(good[:9])


def test_parse_rejects_truncated_and_oversized_data():
    good = idx_bytes(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(
        DataError,
        match=r"truncated: the header says shape \(3, 4\) of float32, which needs 48 data "
        r"bytes, but only 45 follow",
    ):
        parse_idx(good[:-3])
    with pytest.raises(DataError, match=r"corrupt: .* but 50 follow \(2 too many\)"):
        parse_idx(good + b"\x00\x00")


def test_read_idx_file_errors(tmp_path):
    with pytest.raises(DataError, match="no such IDX file"):
        read_idx(tmp_path / "missing-ubyte.gz")
    a = np.arange(1000, dtype=np.uint8)
    full = gzip.compress(idx_bytes(a))
    p = tmp_path / "cut-ubyte.gz"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"cut-ubyte\.gz: truncated gzip stream"):
        read_idx(p)
    p.write_bytes(full[:10] + bytes(b ^ 0xFF for b in full[10:]))
    with pytest.raises(DataError, match=r"cut-ubyte\.gz: corrupt gzip data"):
        read_idx(p)
    # a gzip stream holding a truncated IDX file: the message names the file
    p.write_bytes(gzip.compress(idx_bytes(a)[:-1]))
    with pytest.raises(DataError, match=r"cut-ubyte\.gz: truncated: .* 999 follow"):
        read_idx(p)
    empty = tmp_path / "empty-ubyte"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty-ubyte: truncated: 0 bytes"):
        read_idx(empty)


# ------------------------------------------------------------------------------ folders
@pytest.mark.parametrize(("gz", "spelling"), [(True, "-idx"), (False, "-idx"), (True, ".idx")])
def test_load_idx_dataset(tmp_path, gz, spelling):
    arrays = make_folder(tmp_path / "mini", gz=gz, spelling=spelling)
    d = load_idx_dataset(tmp_path / "mini")
    assert d.name == "mini" and d.task == "classification" and d.n_classes == 3
    np.testing.assert_array_equal(d.X_train, arrays["train-images"])
    assert d.X_test.shape == (4, 5, 5) and d.X_train.dtype == np.uint8
    assert d.y_train.dtype == np.int64 and d.y_test.tolist() == [0, 1, 2, 0]
    assert d.class_names == ["0", "1", "2"] and len(d.feature_names) == 25
    assert d.flattened().X_train.shape == (6, 25) and d.n_features == 25


def test_load_idx_dataset_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_idx_dataset(tmp_path / "nowhere")
    root = tmp_path / "mini"
    make_folder(root)
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"lacks t10k-labels-idx1-ubyte\.gz"):
        load_idx_dataset(root)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(
        DataError, match=r"images of shape \(4, 5, 5\) but t10k-labels-idx1-ubyte.gz holds 5 labels"
    ):
        load_idx_dataset(root)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.zeros((4, 2), dtype=np.uint8))
    with pytest.raises(DataError, match="1-D integer"):
        load_idx_dataset(root)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 7], dtype=np.uint8))
    with pytest.raises(DataError, match="label 7 is out of range for 3 classes"):
        load_idx_dataset(root, class_names=["a", "b", "c"])


def test_fashion_mnist_root_argument_and_environment(tmp_path, monkeypatch):
    make_folder(tmp_path / "fm")
    monkeypatch.setenv("CHAINRULE_FASHION_MNIST", str(tmp_path / "fm"))
    d = load_fashion_mnist()
    assert d.name == "fashion_mnist" and len(d.X_train) == 6
    assert d.class_names == FASHION_MNIST_CLASSES and d.n_classes == 10
    assert len(load_dataset("fashion-mnist").X_test) == 4
    make_folder(tmp_path / "other", n_train=9)
    assert len(load_fashion_mnist(root=tmp_path / "other").X_train) == 9


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_FASHION_MNIST", str(tmp_path / "absent"))
    with pytest.raises(DataError) as err:
        load_fashion_mnist()
    msg = str(err.value)
    assert "absent" in msg and "$CHAINRULE_FASHION_MNIST" in msg
    assert "apt install dataset-fashion-mnist" in msg
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in msg
    assert "root=FOLDER" in msg and "CHAINRULE_FASHION_MNIST=FOLDER" in msg
    with pytest.raises(DataError, match="fixed train/test split"):
        load_dataset("fashion_mnist", test_size=0.3)


# ------------------------------------------------------------------------------ the real files
def test_real_fashion_mnist_from_the_debian_package(fashion):
    d = fashion
    assert d.X_train.shape == (60_000, 28, 28) and d.X_test.shape == (10_000, 28, 28)
    assert d.X_train.dtype == np.uint8 and d.X_test.dtype == np.uint8
    assert d.y_train.shape == (60_000,) and d.y_test.shape == (10_000,)
    assert d.y_train.dtype == np.int64
    assert np.bincount(d.y_train).tolist() == [6000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.X_train.max() == 255 and d.X_train.min() == 0
    assert (
        d.n_classes == 10 and d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"
    )
    assert d.input_shape == (28, 28) and d.n_features == 784 and len(d.feature_names) == 784
    # the first training images of Fashion-MNIST are an ankle boot and a T-shirt/top
    assert d.y_train[:3].tolist() == [9, 0, 0]
    flat = d.flattened()
    assert flat.X_train.shape == (60_000, 784) and np.shares_memory(flat.X_train, d.X_train)
