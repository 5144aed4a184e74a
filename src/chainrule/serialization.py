"""Floor 3: arrays in and out as safetensors files, nested states as JSON trees. Loading
never unpickles.

What :func:`chainrule.save` / :func:`chainrule.load` and the trainer's checkpoints share:
``{name: array}`` written to one safetensors file atomically and read back with its metadata
(a PyTorch pickle, a checkpoint's sidecar or a file cut short named for what it is), a nest
of dicts and lists split into its arrays and a JSON tree (:func:`encode_tree`), and JSON made
safe for NaN and infinities. The ``safetensors`` package is imported when a file is read or
written, not with chainrule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend
from chainrule._atomic import atomic_write_bytes
from chainrule.errors import CheckpointError
from chainrule.tensor import Tensor

CHECKPOINT_FORMAT = "chainrule-checkpoint/1"
"""The ``format`` of a training checkpoint's sidecar and tensor file (chainrule.train)."""


def to_safetensors(arrays: dict[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file holding ``{name: array}`` and string ``metadata``."""
    from safetensors.numpy import save as st_save

    # np.asarray(order="C") rather than ascontiguousarray, which turns a 0-d array (a
    # BatchNorm's num_batches_tracked) into shape (1,)
    return st_save(
        {k: np.asarray(v, order="C") for k, v in arrays.items()}, metadata=metadata or None
    )


def from_safetensors(payload: bytes) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file's bytes; ``ValueError`` when they are corrupt."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    try:
        return st_load(payload)
    except SafetensorError as exc:
        raise ValueError(str(exc)) from exc


def save_arrays(
    path: str | Path, arrays: dict[str, Any], metadata: dict[str, str] | None = None
) -> Path:
    """Write ``{name: array}`` to one safetensors file, atomically; returns the path."""
    return atomic_write_bytes(path, to_safetensors(arrays, metadata))


def load_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(arrays, metadata)`` of a safetensors file. Never unpickles.

    Raises :class:`~chainrule.errors.CheckpointError` for a missing, truncated or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        hint = ""
        if path.is_dir() and any((path / f).is_file() for f in ("config.json", "last.json")):
            hint = f"; {path} is a run or checkpoint folder: load it with cr.load_model"
        raise CheckpointError(f"no weights file at {path}{hint}")
    payload = path.read_bytes()
    reason = not_safetensors(path, payload)
    if reason:
        raise CheckpointError(reason)
    try:
        arrays = from_safetensors(payload)
        metadata = safetensors_metadata(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{path} is not a readable safetensors file (truncated or corrupt): {exc}"
        ) from exc
    return arrays, metadata


def read_json(path: Path, what: str) -> Any:
    """The JSON value in file ``path``.

    Raises :class:`~chainrule.errors.CheckpointError` "``what`` is corrupt (not JSON)" when it
    does not parse, ``OSError`` when it cannot be read.
    """
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{what} is corrupt (not JSON): {exc}") from exc


def json_safe(obj: Any, nonfinite: Callable[[float], Any] | None = None) -> Any:
    """``obj`` ready for strict JSON: NumPy scalars as Python ones, tuples as lists, keys as
    strings, and each NaN or infinity as ``nonfinite(value)``; by default as
    ``{"__float__": "nan"}`` (or ``"inf"``, ``"-inf"``), which :func:`json_restore` reads back.
    """
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)} if nonfinite is None else nonfinite(obj)
    if isinstance(obj, dict):
        return {str(k): json_safe(v, nonfinite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v, nonfinite) for v in obj]
    return obj


def json_restore(obj: Any) -> Any:
    """Undo the encoding of non-finite floats done when saving."""
    if isinstance(obj, dict):
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        return {k: json_restore(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_restore(v) for v in obj]
    return obj


def safetensors_metadata(payload: bytes) -> dict[str, str]:
    """The string metadata in a safetensors file's header."""
    # The format: 8-byte little-endian header length, then a JSON header whose optional
    # "__metadata__" entry holds string pairs.
    n = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8 : 8 + n].decode("utf-8"))
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def encode_tree(obj: Any, arrays: dict[str, np.ndarray], prefix: str = "") -> Any:
    """A JSON tree of ``obj`` with every array moved into ``arrays`` (replaced by
    ``{"__array__": key}``, the key being its path, e.g. ``optim/state/0/exp_avg``).

    ``obj`` is a nest of dicts, lists and tuples whose leaves are arrays (NumPy arrays and
    scalars, chainrule tensors, PyTorch CPU tensors), numbers, strings, booleans or ``None``.
    Dicts with keys that are not all strings keep their keys in an ``__items__`` list.
    Raises ``TypeError`` naming the path of any other leaf, and ``ValueError`` when two
    arrays would get the same key.
    """
    if isinstance(obj, Tensor):
        obj = backend.to_numpy(obj.data)
    elif hasattr(obj, "detach") and hasattr(obj, "numpy"):  # a PyTorch tensor, duck-typed
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        if prefix in arrays:
            raise ValueError(f"two arrays would be saved under the same key {prefix!r}")
        arrays[prefix] = obj
        return {"__array__": prefix}

    def sub(k: Any) -> str:
        return f"{prefix}/{k}" if prefix else str(k)

    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: encode_tree(v, arrays, sub(k)) for k, v in obj.items()}
        return {"__items__": [[k, encode_tree(v, arrays, sub(k))] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [encode_tree(v, arrays, sub(i)) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"cannot save {type(obj).__name__} at {prefix or 'the top level'!r}: only arrays, "
        "tensors, numbers, strings, None and dicts or lists of them (nothing is pickled)"
    )


def decode_tree(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`encode_tree` (tuples come back as lists)."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        if set(obj) == {"__items__"}:
            return {k: decode_tree(v, arrays) for k, v in obj["__items__"]}
        return {k: decode_tree(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_tree(v, arrays) for v in obj]
    return obj


def not_safetensors(path: Path, payload: bytes) -> str | None:
    """One line saying what ``payload`` is when it is recognisably not a safetensors file (a
    PyTorch pickle, a checkpoint's JSON sidecar, a file cut short); ``None`` otherwise."""
    n = int.from_bytes(payload[:8], "little") if len(payload) >= 8 else -1
    # a safetensors header's length may well start with pickle's opening bytes (896: 80 03)
    header = 0 < n <= len(payload) - 8 and payload[8:9] == b"{"
    if not header and (
        payload[:4] == b"PK\x03\x04"
        or (payload[:1] == b"\x80" and payload[1:2] in b"\x02\x03\x04\x05")
    ):
        return (
            f"{path} is a pickle (PyTorch's .pt/.pth format), not a safetensors file: chainrule "
            "never unpickles; save it with safetensors.torch.save_file(state_dict, "
            "'weights.safetensors')"
        )
    if payload.lstrip()[:1] == b"{":
        try:
            record = json.loads(payload)
        except ValueError:
            record = None
        if isinstance(record, dict) and record.get("format") == CHECKPOINT_FORMAT:
            return (
                f"{path} is a checkpoint's JSON sidecar, not a tensor file: load the model with "
                f"cr.load_model({str(path)!r}) (the whole training state: "
                "cr.train.load_checkpoint)"
            )
        if isinstance(record, dict):
            return f"{path} is a JSON file, not a safetensors file"
    if len(payload) < 8:
        return (
            f"{path} is not a readable safetensors file (truncated or corrupt): only "
            f"{len(payload)} bytes, fewer than a header's 8"
        )
    n = int.from_bytes(payload[:8], "little")
    if n > 100_000_000:  # not a header length at all: some other kind of file
        return None
    if 8 + n > len(payload):
        return (
            f"{path} is truncated: its header needs {8 + n:,} bytes, the file holds "
            f"{len(payload):,}"
        )
    try:
        header = json.loads(payload[8 : 8 + n])
        end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
            default=0,
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    if 8 + n + end > len(payload):
        return (
            f"{path} is truncated: its header describes {8 + n + end:,} bytes, the file holds "
            f"{len(payload):,}"
        )
    return None
