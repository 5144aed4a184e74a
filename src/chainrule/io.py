"""Floor 6: weights and training states in and out, as safetensors files. Loading never
unpickles.

``cr.save(obj, path)`` writes a module's ``state_dict``, a dict of arrays, or a nested
PyTorch-style training state (``{"model": ..., "optimizer": ..., "epoch": 3}``): the arrays go
into the safetensors file, everything else (numbers, strings, lists, the nesting) into its
metadata as JSON. ``cr.load(path)`` returns what was saved, or loads the weights into
``model`` when one is given. ``cr.load_model(run_or_checkpoint)`` rebuilds a trained model and
its preprocessing from a ``chainrule train`` run folder or a checkpoint. A file of flat
arrays opens in PyTorch with ``safetensors.torch.load_file``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from chainrule._version import version
from chainrule.errors import CheckpointError, StateDictError
from chainrule.nn import Module
from chainrule.serialization import (
    CHECKPOINT_FORMAT,
    decode_tree,
    encode_tree,
    json_restore,
    json_safe,
    load_arrays,
    read_json,
    save_arrays,
)
from chainrule.tensor import Tensor
from chainrule.train.checkpoint import load_checkpoint
from chainrule.train.run import Preprocess, build_from_spec, load_run

__all__ = ["load", "load_model", "save"]

_TREE = "chainrule/tree"  # the metadata entry holding the JSON of a nested state


def save(obj: Module | Mapping[str, Any], path: str | Path) -> Path:
    """Save a module's ``state_dict``, a dict of arrays/tensors, or a nested training state.

    A flat dict of arrays (or a module) becomes a plain safetensors file, the one
    ``safetensors.torch.load_file`` reads. A nested dict whose leaves are arrays, tensors
    (chainrule's or PyTorch's), numbers, strings, booleans, ``None`` or lists of them keeps its
    arrays in the file under their paths (``optimizer/state/0/exp_avg``) and the rest as JSON
    in the file's metadata; :func:`load` gives the same nest back (tuples as lists, arrays as
    NumPy arrays). Nothing is pickled. The write is atomic: an interrupted save leaves any
    previous file intact.

    Raises ``TypeError`` naming the entry for a value of another type (a function, an object).

    >>> import tempfile, chainrule as cr
    >>> from chainrule import nn
    >>> path = Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> _ = save(nn.Linear(3, 2), path)
    >>> sorted(load(path))
    ['bias', 'weight']
    >>> net = nn.Linear(3, 2); opt = cr.optim.Adam(net.parameters())
    >>> _ = save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    >>> state = load(path); state["epoch"], sorted(state["model"])
    (3, ['bias', 'weight'])
    """
    state = obj.state_dict() if isinstance(obj, Module) else obj
    if not isinstance(state, Mapping):
        raise TypeError(f"cr.save takes a Module or a dict, got {type(obj).__name__}")
    meta = {"format": "chainrule-weights/1", "version": version()}
    if all(isinstance(k, str) and _is_array(v) for k, v in state.items()):
        arrays = {k: _as_array(v) for k, v in state.items()}
    else:
        arrays = {}
        tree = encode_tree(dict(state), arrays)
        meta = {
            "format": "chainrule-state/1",
            "version": version(),
            _TREE: json.dumps(json_safe(tree), allow_nan=False),
        }
    return save_arrays(path, arrays, meta)


def load(path: str | Path, model: Module | None = None, strict: bool = True) -> Any:
    """Read a file written by :func:`save` (or any safetensors file).

    Returns ``{name: ndarray}`` for a file of arrays, the nested state for one saved from a
    nested dict, or ``model`` with the weights loaded when ``model`` is given (from a
    checkpoint's tensor file, ``RUN/checkpoints/best-<id>.safetensors``, its ``model/``
    entries).

    Raises :class:`~chainrule.errors.CheckpointError` with one line for a missing, truncated
    or corrupt file, a PyTorch pickle (``.pt``/``.pth``: chainrule never unpickles), a
    checkpoint's JSON sidecar or a run folder (load those with :func:`load_model`), or (with
    ``model``) weights that do not fit the model's architecture.
    """
    arrays, metadata = load_arrays(path)
    if _TREE in metadata:
        try:
            state = decode_tree(json_restore(json.loads(metadata[_TREE])), arrays)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path} holds a corrupt state description: {exc!r}") from exc
        if model is None:
            return state
        raise CheckpointError(
            f"{path} holds a nested state ({', '.join(map(str, state))}), not one model's "
            "weights: load it without model= and give its weights to model.load_state_dict"
        )
    if model is None:
        return arrays
    if metadata.get("format") == CHECKPOINT_FORMAT:  # a checkpoint's tensor file
        arrays = {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(arrays, strict=strict)
    except StateDictError as exc:
        raise CheckpointError(f"{path} does not fit the model: {exc}") from exc
    return model


def load_model(path: str | Path, model: Module | None = None) -> tuple[Module, Preprocess | None]:
    """``(model, preprocess)`` from a ``chainrule train`` run or a checkpoint, ready to predict.

    ``path`` is one of:

    - a run folder: its final weights (``model.safetensors``); a run that has not finished
      gives its best checkpoint (else its last);
    - a checkpoint: its sidecar (``RUN/checkpoints/best.json``), the same without ``.json``,
      or a checkpoints folder (its ``best``, else its ``last``);
    - a run's ``model.safetensors``.

    The architecture comes from the run's configuration; for a checkpoint written by
    :func:`cr.train.fit <chainrule.train.fit>` with your own model, pass ``model`` (built as it
    was) and the weights are loaded into it. ``preprocess`` is the run's
    :class:`~chainrule.train.run.Preprocess` (``preprocess(X)`` standardises raw feature rows
    as in training; ``preprocess.class_names``), or ``None`` outside a run folder. The model
    is returned in eval mode. A regression run's checkpoints predict standardised targets; its
    final ``model.safetensors`` predicts in the targets' own units.

    Raises :class:`~chainrule.errors.CheckpointError` naming the file when nothing loadable is
    there, a file is corrupt, or the weights do not fit the architecture.

    >>> import numpy as np, tempfile, chainrule as cr
    >>> from chainrule import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    >>> folder = Path(tempfile.mkdtemp()) / "checkpoints"
    >>> X = np.random.default_rng(0).normal(size=(32, 2)); y = (X[:, 0] > 0).astype(int)
    >>> _ = cr.train.fit(net, nn.CrossEntropyLoss(), cr.optim.SGD(net.parameters(), lr=0.1),
    ...                  (X, y), epochs=2, progress=False,
    ...                  callbacks=[cr.train.ModelCheckpoint(folder, monitor="loss")])
    >>> same, pre = load_model(folder / "best.json",
    ...                        model=nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)))
    >>> pre is None, same.training
    (True, False)
    """
    p = Path(path)
    if not p.exists() and p.suffix != ".json" and p.with_name(p.name + ".json").is_file():
        p = p.with_name(p.name + ".json")
    if not p.exists():
        raise CheckpointError(f"no run folder or checkpoint at {p}")
    run_folder: Path | None = None
    if p.is_dir() and (p / "config.json").is_file():
        run_folder = p
        if (p / "model.safetensors").is_file():
            if model is None:
                run = load_run(p)
                run.model.eval()
                return run.model, run.preprocess
            p = p / "model.safetensors"
        else:
            p = _best_or_last(p / "checkpoints")
    elif p.is_dir():
        p = _best_or_last(p)
    if run_folder is None:
        for candidate in (p.parent, p.parent.parent):
            if (candidate / "config.json").is_file() and (candidate / "preprocess.json").is_file():
                run_folder = candidate
                break
    config = _read_object(run_folder / "config.json") if run_folder is not None else {}
    if p.suffix == ".safetensors":
        weights, _ = load_arrays(p)
        meta: dict[str, Any] = {}
    else:
        arrays, meta = load_checkpoint(p)
        weights = {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}
    if model is None:
        spec = (meta.get("config") or {}).get("model") or config.get("model")
        if not isinstance(spec, dict):
            raise CheckpointError(
                f"{p} does not say how to build its model (it was not written by chainrule "
                "train): pass the model, built as it was trained, as load_model(path, model=...)"
            )
        try:
            model = build_from_spec(spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{p} has a bad model description: {exc}") from exc
    try:
        model.load_state_dict(weights, strict=True)
    except StateDictError as exc:
        raise CheckpointError(f"{p} does not fit the model: {exc}") from exc
    model.eval()
    preprocess = None
    if run_folder is not None and (run_folder / "preprocess.json").is_file():
        try:
            preprocess = Preprocess.from_dict(_read_object(run_folder / "preprocess.json"))
        except TypeError as exc:
            raise CheckpointError(f"{run_folder / 'preprocess.json'} is malformed: {exc}") from exc
    return model, preprocess


def _best_or_last(folder: Path) -> Path:
    for name in ("best.json", "last.json"):
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(f"no checkpoint (best.json or last.json) in {folder}")


def _read_object(path: Path) -> dict[str, Any]:
    data = read_json(path, str(path))
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is corrupt (expected a JSON object)")
    return data


def _is_array(v: Any) -> bool:
    return isinstance(v, (Tensor, np.ndarray, np.generic)) or (
        hasattr(v, "detach") and hasattr(v, "numpy")
    )


def _as_array(v: Any) -> np.ndarray:
    if isinstance(v, Tensor):
        return np.asarray(v.numpy())
    if hasattr(v, "detach") and hasattr(v, "numpy"):
        return v.detach().cpu().numpy()
    return np.asarray(v)
