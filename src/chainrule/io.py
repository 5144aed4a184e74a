"""Floor 6: weights in and out, as safetensors files. Loading never unpickles.

``cr.save(model_or_state_dict, path)`` writes the arrays of a ``state_dict`` (atomically);
``cr.load(path)`` returns them as ``{name: ndarray}``, or loads them into ``model`` when one is
given. The same files open in PyTorch with ``safetensors.torch.load_file``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule import __version__
from chainrule.errors import CheckpointError, StateDictError
from chainrule.nn import Module
from chainrule.tensor import Tensor
from chainrule.train.checkpoint import load_arrays, save_arrays


def save(obj: Module | dict[str, Any], path: str | Path) -> Path:
    """Save a module's ``state_dict`` (or a dict of arrays/tensors) to a safetensors file.

    The write is atomic: an interrupted save leaves any previous file intact.

    >>> import tempfile, chainrule as cr
    >>> from chainrule import nn
    >>> path = Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> _ = save(nn.Linear(3, 2), path)
    >>> sorted(load(path))
    ['bias', 'weight']
    """
    state = obj.state_dict() if isinstance(obj, Module) else obj
    arrays = {}
    for k, v in state.items():
        arrays[str(k)] = np.asarray(v.numpy() if isinstance(v, Tensor) else v)
    return save_arrays(path, arrays, {"format": "chainrule-weights/1", "version": __version__})


def load(path: str | Path, model: Module | None = None, strict: bool = True) -> Any:
    """Read a safetensors weights file: ``{name: ndarray}``, or ``model`` with them loaded.

    Raises :class:`~chainrule.errors.CheckpointError` for a missing, truncated or corrupt
    file, or (with ``model``) weights that do not fit the model's architecture.
    """
    arrays, _ = load_arrays(path)
    if model is None:
        return arrays
    try:
        model.load_state_dict(arrays, strict=strict)
    except StateDictError as exc:
        raise CheckpointError(f"{path} does not fit the model: {exc}") from exc
    return model
