"""DataLoader worker processes: one epoch of batches from a dataset whose every sample costs
real NumPy work (a 64x64x3 image: random crop with padding, flip, a 5x5 blur as a separable
convolution, per-channel standardisation), with 0, 1, 2 and 4 workers.

The image augmentation of the convolution issue did not exist when this was written; this
per-sample transform stands in for it.

    python benchmarks/bench_loader.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report

from chainrule.data import DataLoader, Dataset

SIDE, PAD = 64, 4


class Augmented(Dataset):
    """``n`` random images, each augmented on every access (a NumPy transform per sample)."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, SIDE, SIDE, 3), dtype=np.uint8)
        self.labels = rng.integers(0, 10, n)
        k = np.exp(-0.5 * np.arange(-2, 3) ** 2)
        self.kernel = (k / k.sum()).astype(np.float32)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        rng = np.random.default_rng(i)  # augmentation from the sample index: repeatable
        img = self.images[i].astype(np.float32) / 255.0
        img = np.pad(img, ((PAD, PAD), (PAD, PAD), (0, 0)), mode="reflect")
        top, left = rng.integers(0, 2 * PAD + 1, 2)
        img = img[top : top + SIDE, left : left + SIDE]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        img = _blur(_blur(img, self.kernel, 0), self.kernel, 1)  # separable 5x5 blur
        img = (img - img.mean(axis=(0, 1))) / (img.std(axis=(0, 1)) + 1e-6)
        return np.ascontiguousarray(img.transpose(2, 0, 1)), self.labels[i]


def _blur(img: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """``img`` convolved with ``kernel`` along ``axis`` (edges reflected): one shifted slice
    per tap."""
    r = len(kernel) // 2
    pad = [(0, 0)] * img.ndim
    pad[axis] = (r, r)
    p = np.pad(img, pad, mode="reflect")
    n = img.shape[axis]
    return sum(w * np.take(p, range(k, k + n), axis=axis) for k, w in enumerate(kernel))


def epoch_time(loader: DataLoader) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    blas = blas_report()
    ds = Augmented(args.samples)
    loaders = {
        w: DataLoader(
            ds,
            batch_size=args.batch_size,
            shuffle=True,
            generator=0,
            num_workers=w,
            persistent_workers=w > 0,
        )
        for w in args.workers
    }
    times: dict[int, list[float]] = {w: [] for w in args.workers}
    for loader in loaders.values():  # start the persistent workers before timing
        epoch_time(loader)
    for _ in range(args.rounds):  # interleaved rounds
        for w, loader in loaders.items():
            times[w].append(epoch_time(loader))
    for loader in loaders.values():
        if loader.num_workers:
            loader.shutdown_workers()
    print(f"{blas}; {os.cpu_count()} CPU cores; {args.samples} samples, "
          f"batch {args.batch_size}, median of {args.rounds} epochs")  # fmt: skip
    base = statistics.median(times[args.workers[0]])
    print("| workers | epoch (s) | samples/s | speed-up |")
    print("|---|---|---|---|")
    for w in args.workers:
        t = statistics.median(times[w])
        print(f"| {w} | {t:.2f} | {args.samples / t:,.0f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
