"""Floor 4: an optimiser's ``state_dict`` and ``load_state_dict`` (PyTorch's layout), the part
of :class:`~chainrule.optim.Optimizer` that turns its state into plain data and back."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import StateDictError
from chainrule.tensor import Tensor


class StateDictMixin:
    """``state_dict`` / ``load_state_dict`` for :class:`~chainrule.optim.Optimizer` (which
    provides ``param_groups``, ``state``, ``defaults`` and ``_check_group``)."""

    param_groups: list[dict[str, Any]]
    state: defaultdict[Tensor, dict[str, Any]]
    defaults: dict[str, Any]

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state as plain data: ``{"state": {index: {name: value}},
        "param_groups": [{hyper-parameter: value, "params": [index, ...]}]}``.

        Parameters are numbered by position across the groups (as PyTorch does); values are
        NumPy arrays (copies) and Python numbers, ready for JSON or safetensors.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _copy_value(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: _copy_value(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index and s
        }
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (ours, one read back from JSON, or PyTorch's converted
        to NumPy) into this optimiser, whose parameters are matched by position.

        Arrays are copied and cast to each parameter's dtype; hyper-parameters are taken from
        the saved groups. Raises :class:`~chainrule.errors.StateDictError` listing every
        mismatch (group count, group sizes, unknown indices, array shapes) before changing
        anything, and :class:`~chainrule.errors.OptimizerError` for a saved hyper-parameter
        out of range.
        """
        name = type(self).__name__
        problems = []
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise StateDictError(
                f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'"
            )
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise StateDictError(
                f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter "
                f"groups, this optimiser has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        for k, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            ids = list(saved.get("params", []))
            if len(ids) != len(group["params"]):
                problems.append(
                    f"group {k} has {len(ids)} parameters saved but {len(group['params'])} here"
                )
                continue
            for i, p in zip(ids, group["params"]):
                by_index[int(i)] = p
        sizes_fit = not problems
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, saved_state in state_dict["state"].items():
            i = int(key)
            p = by_index.get(i)
            if p is None:
                if sizes_fit:
                    problems.append(f"state for parameter {i}, which no group lists")
                continue
            entry = {}
            for field, value in saved_state.items():
                arr = np.asarray(backend.to_numpy(value))
                if field == "step" or (arr.ndim == 0 and p.data.ndim != 0):
                    if arr.size != 1:
                        problems.append(f"state[{i}][{field!r}] is not a single number")
                    else:
                        entry[field] = int(arr.item()) if field == "step" else arr.item()
                elif arr.shape != p.data.shape:
                    problems.append(
                        f"state[{i}][{field!r}] has shape {arr.shape}, parameter {i} has "
                        f"shape {p.data.shape}"
                    )
                else:
                    entry[field] = backend.xp.array(arr, dtype=p.data.dtype, copy=True)
            new_state[p] = entry
        if problems:
            raise StateDictError(
                f"{name}.load_state_dict: the saved state does not fit: " + "; ".join(problems)
            )
        new_groups = []
        for k, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            g = {key: _copy_value(v) for key, v in saved.items() if key != "params"}
            if isinstance(g.get("betas"), list):
                g["betas"] = tuple(g["betas"])
            g["params"] = group["params"]
            for key, value in self.defaults.items():
                g.setdefault(key, value)
            self._check_group(g, k)
            new_groups.append(g)
        self.param_groups[:] = new_groups
        self.state = new_state


def _copy_value(v: Any) -> Any:
    if isinstance(v, list):
        return list(v)
    if hasattr(v, "copy") and hasattr(v, "shape"):
        return backend.to_numpy(v).copy()
    return v
