"""Plots: valid PNG files for curves and confusion matrices."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from chainrule.train import History, plot_confusion_matrix, plot_history

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND", "the PNG is truncated"
    return struct.unpack(">II", data[16:24])


def _history(n: int = 5) -> History:
    h = History()
    for e in range(1, n + 1):
        h.append(e, {"loss": 1 / e, "accuracy": 1 - 0.5 / e, "val_loss": 1.2 / e,
                     "val_accuracy": 1 - 0.6 / e, "lr": 0.1, "time": 0.1})  # fmt: skip
    return h


def test_plot_history_writes_a_png_matplotlib_reads_back(tmp_path):
    import matplotlib.image

    path = plot_history(_history(), tmp_path / "curves.png")
    w, h = png_size(path)
    assert w > h > 100  # one panel per quantity side by side: loss and accuracy
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (h, w)
    assert pixels.std() > 0.01  # something was drawn
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, no leftovers


def test_plot_history_without_validation_and_with_nan(tmp_path):
    h = History()
    h.append(1, {"loss": float("nan"), "mse": 2.0})
    h.append(2, {"loss": 0.5, "mse": 1.0})
    png_size(plot_history(h, tmp_path / "c.png"))


def test_plot_history_empty_raises(tmp_path):
    with pytest.raises(ValueError, match="the history is empty"):
        plot_history(History(), tmp_path / "c.png")


@pytest.mark.parametrize("n", [2, 40])
def test_plot_confusion_matrix(tmp_path, n):
    cm = np.random.default_rng(0).integers(0, 50, size=(n, n))
    path = plot_confusion_matrix(cm, tmp_path / "cm.png", [f"class {i}" for i in range(n)])
    w, h = png_size(path)
    assert w > 100 and h > 100
