"""Random changes to a batch of images or signals, for data augmentation: ``Compose``,
``RandomCrop`` (with padding), ``RandomHorizontalFlip``, ``RandomAffine`` (small rotations and
shifts) and ``Normalize``, with torchvision's names and arguments.

Each transform takes a whole batch, a NumPy array (N, C, *spatial) with one or two spatial
axes, and returns a new one of the same shape (``RandomCrop``: of the crop size); every example
gets its own random draw, done with array operations (no loop over examples or pixels). A
:class:`~chainrule.data.DataLoader` applies one to the inputs of each batch
(``DataLoader(..., transform=...)``). Random draws come from a generator seeded at
construction (``seed``; ``None``: drawn from chainrule's generator), so a run is repeatable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.data.dataset import _resolve_seed
from chainrule.errors import ShapeError

__all__ = ["Compose", "Normalize", "RandomAffine", "RandomCrop", "RandomHorizontalFlip"]


class _Random:
    def __init__(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(_resolve_seed(seed))


def _spatial(name: str, x: np.ndarray, allowed: tuple[int, ...] = (1, 2)) -> int:
    nd = x.ndim - 2
    if nd not in allowed:
        want = " or ".join({1: "(N, C, L)", 2: "(N, C, H, W)"}[a] for a in allowed)
        raise ShapeError(f"{name} expects a batch of shape {want}, got shape {x.shape}")
    return nd


class Compose:
    """Apply ``transforms`` one after the other.

    >>> import numpy as np
    >>> t = Compose([RandomCrop(4, padding=1, seed=0), RandomHorizontalFlip(seed=0)])
    >>> t(np.ones((2, 1, 4, 4))).shape
    (2, 1, 4, 4)
    """

    def __init__(self, transforms: Sequence[Any]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class RandomCrop(_Random):
    """A random crop of ``size`` from each example, after padding every side by ``padding``
    (``fill`` for ``padding_mode="constant"``, or ``"edge"`` / ``"reflect"``): with
    ``padding`` and ``size`` the input's size, a random shift of up to ``padding`` positions.
    Raises :class:`~chainrule.errors.ShapeError` when the crop is larger than the padded input.
    """

    def __init__(self, size: int | Sequence[int], padding: int = 0, fill: float = 0.0,
                 padding_mode: str = "constant", seed: int | None = None) -> None:  # fmt: skip
        super().__init__(seed)
        self.size = (int(size),) if isinstance(size, (int, np.integer)) else tuple(map(int, size))
        self.padding = int(padding)
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, x: np.ndarray) -> np.ndarray:
        nd = _spatial("RandomCrop", x)
        size = self.size * nd if len(self.size) == 1 else self.size
        p = self.padding
        if p:
            widths = ((0, 0), (0, 0), *((p, p),) * nd)
            if self.padding_mode == "constant":
                x = np.pad(x, widths, constant_values=self.fill)
            else:
                x = np.pad(x, widths, mode=self.padding_mode)
        n = x.shape[0]
        spare = [m - s for m, s in zip(x.shape[2:], size)]
        if len(size) != nd or any(s < 0 for s in spare):
            raise ShapeError(
                f"RandomCrop: crop {size} is larger than the padded input {x.shape[2:]}"
            )
        # one offset per example and axis, then a gather of every crop at once
        idx: list[Any] = [np.arange(n).reshape(n, *(1,) * nd), slice(None)]
        for i, (s, extra) in enumerate(zip(size, spare)):
            start = self.rng.integers(0, extra + 1, size=n)
            pos = start[:, None] + np.arange(s)
            idx.append(pos.reshape(n, *(1,) * i, s, *(1,) * (nd - 1 - i)))
        out = x[tuple(idx)]  # advanced indices around a slice: (N, *size, C)
        return np.moveaxis(out, -1, 1)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip(_Random):
    """Mirror each example of a batch ``(N, C, L)`` or ``(N, C, H, W)`` along its last axis
    with probability ``p``.

    Raises ``ValueError`` for ``p`` outside [0, 1], :class:`~chainrule.errors.ShapeError` for
    a batch of another rank.
    """

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _spatial("RandomHorizontalFlip", x)
        flip = self.rng.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomAffine(_Random):
    """Rotate each image by an angle drawn from ``degrees`` (a number d: [-d, d]) about its
    centre and shift it by up to ``translate`` (fractions of width and height), bilinear
    resampling, ``fill`` outside. Images only (N, C, H, W).

    Raises ``ValueError`` for negative ``degrees``, :class:`~chainrule.errors.ShapeError` for
    a batch of another rank.
    """

    def __init__(self, degrees: float | Sequence[float], translate: Sequence[float] | None = None,
                 fill: float = 0.0, seed: int | None = None) -> None:  # fmt: skip
        super().__init__(seed)
        if isinstance(degrees, (int, float)):
            if degrees < 0:
                raise ValueError(f"RandomAffine: degrees must be >= 0, got {degrees}")
            degrees = (-float(degrees), float(degrees))
        self.degrees = tuple(float(d) for d in degrees)
        self.translate = None if translate is None else tuple(float(t) for t in translate)
        self.fill = fill

    def __call__(self, x: np.ndarray) -> np.ndarray:
        _spatial("RandomAffine", x, (2,))
        n, _, h, w = x.shape
        angle = np.deg2rad(self.rng.uniform(*self.degrees, size=n))
        tx = ty = np.zeros(n)
        if self.translate is not None:
            tx = np.round(self.rng.uniform(-1, 1, size=n) * self.translate[0] * w)
            ty = np.round(self.rng.uniform(-1, 1, size=n) * self.translate[1] * h)
        # inverse map: each output pixel reads the input at R (p - centre - t) + centre
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
        dy = yy[None] - cy - ty[:, None, None]
        dx = xx[None] - cx - tx[:, None, None]
        sy = cos * dy + sin * dx + cy  # a positive angle turns the image counter-clockwise
        sx = cos * dx - sin * dy + cx
        return _bilinear(x, sy, sx, self.fill)

    def __repr__(self) -> str:
        return f"RandomAffine(degrees={self.degrees}, translate={self.translate})"


def _bilinear(x: np.ndarray, sy: np.ndarray, sx: np.ndarray, fill: float) -> np.ndarray:
    """Sample x (N, C, H, W) at real positions (N, H, W), ``fill`` outside the image."""
    n, c, h, w = x.shape
    y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    fy, fx = sy - y0, sx - x0
    out = np.zeros((n, c, h, w), dtype=np.float64)
    batch = np.arange(n)[:, None, None]
    for oy, ox, wt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                       (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):  # fmt: skip
        yi, xi = y0 + oy, x0 + ox
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        v = x[batch, :, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]  # (N, H, W, C)
        v = np.where(inside[..., None], v, fill)
        out += np.moveaxis(v, -1, 1) * wt[:, None]
    return out.astype(x.dtype, copy=False)


class Normalize:
    """``(x - mean) / std`` per channel of a batch ``(N, C, ...)`` (sequences of C values, or
    one value for all); the batch's dtype is kept.

    Raises ``ValueError`` for a ``std`` that is not positive,
    :class:`~chainrule.errors.ShapeError` when the number of values is not C.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {std}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        shape = (1, -1, *(1,) * (x.ndim - 2))
        m, s = self.mean.reshape(shape), self.std.reshape(shape)
        if m.shape[1] not in (1, x.shape[1]):
            raise ShapeError(f"Normalize: {m.shape[1]} means for {x.shape[1]} channels")
        return ((x - m) / s).astype(x.dtype, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def shift_augmentation(shape: Sequence[int], seed: int) -> RandomCrop:
    """What ``chainrule train --augment`` applies to (C, *spatial) inputs: random shifts of up
    to a tenth of the size (at least one position), zeros shifted in."""
    pad = max(1, math.ceil(min(shape[1:]) / 10))
    return RandomCrop(tuple(shape[1:]), padding=pad, seed=seed)
