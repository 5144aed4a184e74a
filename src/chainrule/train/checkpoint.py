"""Checkpoints that survive being killed: safetensors for arrays, a JSON sidecar for the rest.

A checkpoint named ``last`` in folder ``d`` is two files:

- ``d/last-<k>.safetensors``: every array (model weights and buffers, optimiser state), under
  keys ``model/<name>`` and ``optim/<index>/<key>``;
- ``d/last.json``: the commit record: which tensor file, its SHA-256, and everything that is
  not an array (epoch, history, scheduler state, optimiser hyper-parameters, RNG states,
  configuration), and ``record_sha256``: the SHA-256 of the record itself (its canonical JSON
  without that field), so that an edited sidecar is refused like a corrupt tensor file.

Saving writes the new tensor file under a fresh name, then replaces the sidecar atomically,
then deletes the previous tensor file. Whenever the process dies, the sidecar names a complete
tensor file whose hash it holds, so the previous checkpoint stays loadable. Loading reads JSON
and safetensors only: nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._atomic import atomic_write_bytes, atomic_write_json
from chainrule.errors import CheckpointError
from chainrule.serialization import (  # the names train/ and its tests read from here too
    CHECKPOINT_FORMAT,
    decode_tree,
    encode_tree,
    from_safetensors,
    json_restore,
    json_safe,
    load_arrays,
    read_json,
    save_arrays,
    to_safetensors,
)

__all__ = [
    "FORMAT", "decode_tree", "encode_tree", "json_restore", "json_safe", "load_arrays",
    "load_checkpoint", "meta_problem", "read_json", "save_arrays", "save_checkpoint",
]  # fmt: skip

FORMAT = CHECKPOINT_FORMAT


def save_checkpoint(
    folder: str | Path, name: str, arrays: dict[str, Any], meta: dict[str, Any]
) -> Path:
    """Write checkpoint ``name`` into ``folder`` atomically; returns the sidecar's path.

    ``arrays`` maps keys to NumPy arrays; ``meta`` must be JSON-serialisable (NaN and
    infinities are kept). Raises ``TypeError`` for a ``meta`` that is not, ``OSError`` when
    the folder cannot be written.
    """
    folder = Path(folder)
    sidecar = folder / f"{name}.json"
    previous = _tensor_file(sidecar) if sidecar.exists() else None
    payload = to_safetensors(arrays, {"format": FORMAT})
    tensor_name = f"{name}-{uuid.uuid4().hex[:12]}.safetensors"
    atomic_write_bytes(folder / tensor_name, payload)
    record = {
        "format": FORMAT,
        "tensors": tensor_name,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "meta": json_safe(meta),
    }
    record["record_sha256"] = _record_digest(record)
    atomic_write_json(sidecar, record)
    if previous is not None and previous.name != tensor_name:
        previous.unlink(missing_ok=True)
    # tensor files of saves that died before their sidecar was written
    for stray in folder.glob(f"{name}-*.safetensors"):
        if stray.name != tensor_name and len(stray.stem) == len(name) + 13:
            stray.unlink(missing_ok=True)
    return sidecar


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(arrays, meta)`` of a checkpoint, given its sidecar (``d/last.json``), the sidecar
    without its suffix (``d/last``), or the folder (then its ``last`` checkpoint).

    Raises :class:`~chainrule.errors.CheckpointError` when a file is missing, truncated,
    corrupt or does not match its recorded hash.
    """
    sidecar = Path(path)
    if sidecar.is_dir():
        sidecar = sidecar / "last.json"
    elif sidecar.suffix != ".json":
        sidecar = sidecar.with_name(sidecar.name + ".json")
    if not sidecar.exists():
        raise CheckpointError(f"no checkpoint at {sidecar}")
    record = read_json(sidecar, f"checkpoint {sidecar}")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar} is not a chainrule checkpoint (format {FORMAT})")
    tensor_path = _tensor_file(sidecar, record)
    if record.get("record_sha256") != _record_digest(record):
        raise CheckpointError(
            f"checkpoint {sidecar} was modified after it was written (its content does not "
            "match its record_sha256)"
            if "record_sha256" in record
            else f"checkpoint {sidecar} has no record_sha256 (edited, or written by an older "
            "chainrule); it cannot be trusted"
        )
    if not isinstance(record.get("meta", {}), dict):
        raise CheckpointError(f"checkpoint {sidecar} is malformed: 'meta' is not an object")
    if not tensor_path.exists():
        raise CheckpointError(f"checkpoint {sidecar} names {tensor_path.name}, which is missing")
    payload = tensor_path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != record.get("sha256"):
        raise CheckpointError(
            f"checkpoint file {tensor_path} is truncated or corrupt (SHA-256 does not match "
            "its sidecar)"
        )
    try:
        arrays = from_safetensors(payload)
    except ValueError as exc:
        raise CheckpointError(f"checkpoint file {tensor_path} is corrupt: {exc}") from exc
    return arrays, record.get("meta", {})


def _record_digest(record: dict[str, Any]) -> str:
    """SHA-256 of a sidecar's canonical JSON, without its own ``record_sha256`` field."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN written by hand: no digest can match
        return ""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tensor_file(sidecar: Path, record: dict | None = None) -> Path:
    if record is None:
        try:
            record = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return sidecar.with_suffix(".safetensors")
    name = str(record.get("tensors", ""))
    if not name or Path(name).name != name:  # a bare file name beside the sidecar, no paths
        raise CheckpointError(f"checkpoint {sidecar} names an invalid tensor file {name!r}")
    return sidecar.parent / name


def meta_problem(meta: Any) -> str | None:
    """What is wrong with a checkpoint's ``meta`` as
    :meth:`Trainer.state_dict <chainrule.train.Trainer.state_dict>` writes it, or ``None``:
    an ``epoch`` (a whole number >= 0), a ``history`` of exactly that many increasing epochs
    with one number (or ``None``) per epoch for each logged name, an ``optimizer`` object,
    ``rng``, and ``callbacks`` (when present) a list of objects with a ``type``."""
    if not isinstance(meta, dict):
        return "its meta is not an object"
    missing = [k for k in ("epoch", "optimizer", "history", "rng") if k not in meta]
    if missing:
        return f"it has no {', '.join(map(repr, missing))}"
    epoch = meta["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        return f"'epoch' must be a whole number >= 0, got {epoch!r}"
    h = meta["history"]
    if not isinstance(h, dict) or not isinstance(h.get("epochs"), list):
        return f"'history' must be an object with a list 'epochs', got {_brief(h)}"
    epochs = h["epochs"]
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in epochs) or any(
        b <= a for a, b in zip(epochs, epochs[1:])
    ):
        return "'history.epochs' must be increasing whole numbers"
    if len(epochs) != epoch:
        return f"its history has {len(epochs)} epochs but 'epoch' is {epoch}"
    logged = h.get("history", {})
    if not isinstance(logged, dict):
        return f"'history.history' must be an object, got {_brief(logged)}"
    for name, values in logged.items():
        if not isinstance(values, list) or len(values) != len(epochs):
            return f"'history.history.{name}' must hold one value per epoch ({len(epochs)})"
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                   for v in values):  # fmt: skip
            return f"'history.history.{name}' must hold numbers"
    for key in ("optimizer",):
        if not isinstance(meta[key], dict):
            return f"{key!r} must be an object, got {_brief(meta[key])}"
    cbs = meta.get("callbacks", [])
    if not isinstance(cbs, list) or not all(isinstance(c, dict) and "type" in c for c in cbs):
        return "'callbacks' must be a list of objects with a 'type'"
    return None


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
