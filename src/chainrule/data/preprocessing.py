"""Standardisation: zero mean and unit variance per feature, fitted on training data only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.data.dataset import _as_host_array
from chainrule.errors import DataError, ShapeError, StateDictError

__all__ = ["StandardScaler"]

_CHUNK_ROWS = 8192  # statistics are accumulated in float64 over blocks of rows


class StandardScaler:
    """Standardise features: ``(X - mean_) / scale_`` per feature (scikit-learn's name and API).

    Fit it on the training split only (``fit(X_train)``), then ``transform`` the training, the
    validation and the test data with the same statistics. Features are everything after the
    first axis: ``X`` of shape ``(n, *feature_shape)`` gives ``mean_``, ``var_``, ``scale_`` of
    shape ``feature_shape``, so images need no reshaping. Statistics are computed in float64.

    Features with zero variance (constant columns, e.g. always-black pixels) get
    ``scale_ = 1`` and are mapped to 0, never to NaN.

    ``transform`` returns floating input in its own dtype and integer input (e.g. ``uint8``
    pixels) in chainrule's default dtype (float32).

    Raises :class:`~chainrule.errors.DataError` when used before ``fit``, fitted on an empty
    array, or given non-numeric data; :class:`~chainrule.errors.ShapeError` when the feature
    shape differs from the one it was fitted on.

    >>> import numpy as np
    >>> X = np.array([[1.0, 5.0], [3.0, 5.0]])
    >>> s = StandardScaler().fit(X)
    >>> s.mean_.tolist(), s.scale_.tolist(), s.transform(X).tolist()
    ([2.0, 5.0], [1.0, 1.0], [[-1.0, 0.0], [1.0, 0.0]])
    >>> StandardScaler.from_state_dict(s.state_dict()).inverse_transform([[0.0, 0.0]]).tolist()
    [[2.0, 5.0]]
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.mean_: np.ndarray | None = None
        self.var_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_samples_seen_: int = 0

    def fit(self, X: Any) -> StandardScaler:
        """Compute ``mean_``, ``var_`` and ``scale_`` over the first axis of ``X``; returns
        ``self``."""
        X = _numeric(X, "fit")
        if X.shape[0] == 0:
            raise DataError(f"StandardScaler.fit: X is empty (shape {X.shape})")
        n = X.shape[0]
        # Work in units of a power of two m >= max |x| per feature: sums and squares of x / m
        # cannot overflow (features near 1e300 are fine), and dividing by a power of two is
        # exact, so ordinary data get exactly the statistics of the unscaled formulas.
        peak = np.zeros(X.shape[1:], dtype=np.float64)
        for lo in range(0, n, _CHUNK_ROWS):
            np.maximum(peak, np.abs(X[lo : lo + _CHUNK_ROWS]).max(axis=0), out=peak)
        if not np.isfinite(peak).all():
            raise DataError("StandardScaler.fit: X holds NaN or infinite values")
        m = np.ldexp(1.0, np.frexp(peak)[1])  # 2**e > peak (1 for all-zero features)
        m[peak == 0] = 1.0
        total = np.zeros(X.shape[1:], dtype=np.float64)
        for lo in range(0, n, _CHUNK_ROWS):
            total += (X[lo : lo + _CHUNK_ROWS].astype(np.float64) / m).sum(axis=0)
        mean_u = np.array(total / n, dtype=np.float64)
        sq = np.zeros_like(mean_u)
        for lo in range(0, n, _CHUNK_ROWS):
            d = X[lo : lo + _CHUNK_ROWS].astype(np.float64) / m - mean_u
            sq += np.einsum("i...,i...->...", d, d)
        scale_u = np.sqrt(sq / n)
        mean = np.array(mean_u * m, dtype=np.float64)
        scale = np.array(scale_u * m, dtype=np.float64)
        with np.errstate(over="ignore"):  # var_ (not used to scale) is inf beyond 1.3e154
            var = np.array(scale * scale, dtype=np.float64)
        # constant features: rounding can leave a tiny variance and a mean a hair off the
        # value; take the value itself and scale 1, so that they map to exactly 0
        const = scale_u <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean_u), 1.0)
        mean[const] = np.asarray(X[0], dtype=np.float64)[const]
        var[const] = 0.0
        scale[const] = 1.0
        self.mean_, self.var_, self.scale_, self.n_samples_seen_ = mean, var, scale, int(n)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``(X - mean_) / scale_``, shape unchanged."""
        X = self._check(X, "transform")
        out = X.astype(_out_dtype(X), copy=True)
        with np.errstate(over="ignore", invalid="ignore"):
            if self.with_mean:
                out -= self.mean_.astype(out.dtype)
            if self.with_std:
                out /= self.scale_.astype(out.dtype)
        if not np.isfinite(out).all() and np.isfinite(X).all():
            raise DataError(
                "StandardScaler.transform: standardising overflows "
                f"{out.dtype} (|x| up to {float(np.abs(X).max()):.3g}, mean_ and scale_ up to "
                f"{float(np.abs(self.mean_).max()):.3g} and {float(self.scale_.max()):.3g}); "
                "rescale the features first"
            )
        return out

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """``X * scale_ + mean_``: undo :meth:`transform`."""
        X = self._check(X, "inverse_transform")
        out = X.astype(_out_dtype(X), copy=True)
        if self.with_std:
            out *= self.scale_.astype(out.dtype)
        if self.with_mean:
            out += self.mean_.astype(out.dtype)
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The fitted state: ``{"mean", "var", "scale"}`` as float64 arrays, plus
        ``"n_samples_seen"``, ``"with_mean"``, ``"with_std"``. For JSON, turn the arrays into
        lists (``.tolist()``); :meth:`load_state_dict` accepts either."""
        self._require_fitted("state_dict")
        return {
            "mean": self.mean_.copy(),
            "var": self.var_.copy(),
            "scale": self.scale_.copy(),
            "n_samples_seen": self.n_samples_seen_,
            "with_mean": self.with_mean,
            "with_std": self.with_std,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (arrays or nested lists). Raises
        :class:`~chainrule.errors.StateDictError` for missing keys or mismatched shapes."""
        keys = ("mean", "var", "scale", "n_samples_seen", "with_mean", "with_std")
        missing = [k for k in keys if k not in state]
        if missing:
            raise StateDictError(f"StandardScaler.load_state_dict: missing keys {missing}")
        mean, var, scale = (np.asarray(state[k], dtype=np.float64) for k in keys[:3])
        if not mean.shape == var.shape == scale.shape:
            raise StateDictError(
                "StandardScaler.load_state_dict: mean, var and scale shapes differ: "
                f"{mean.shape}, {var.shape}, {scale.shape}"
            )
        self.mean_, self.var_, self.scale_ = mean, var, scale
        self.n_samples_seen_ = int(state["n_samples_seen"])
        self.with_mean, self.with_std = bool(state["with_mean"]), bool(state["with_std"])

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> StandardScaler:
        """A new scaler holding ``state`` (see :meth:`state_dict`)."""
        scaler = cls()
        scaler.load_state_dict(state)
        return scaler

    def __repr__(self) -> str:
        fitted = "unfitted" if self.mean_ is None else f"features {self.mean_.shape}"
        return f"StandardScaler({fitted})"

    # ------------------------------------------------------------------ helpers
    def _require_fitted(self, what: str) -> None:
        if self.mean_ is None:
            raise DataError(
                f"StandardScaler.{what}: the scaler is not fitted; call fit(X_train) first"
            )

    def _check(self, X: Any, what: str) -> np.ndarray:
        self._require_fitted(what)
        X = _numeric(X, what)
        if X.shape[1:] != self.mean_.shape:
            raise ShapeError(
                f"StandardScaler.{what}: X has features of shape {X.shape[1:]} (X shape "
                f"{X.shape}), but the scaler was fitted on features of shape {self.mean_.shape}"
            )
        return X


def _numeric(X: Any, what: str) -> np.ndarray:
    X = _as_host_array(X)
    if X.dtype.kind not in "iubf":
        raise DataError(f"StandardScaler.{what}: X must be numeric, got dtype {X.dtype}")
    if X.ndim == 0:
        raise ShapeError(f"StandardScaler.{what}: X must have a sample axis, got a 0-d array")
    return X


def _out_dtype(X: np.ndarray) -> np.dtype:
    return X.dtype if X.dtype.kind == "f" else backend.get_default_dtype()
