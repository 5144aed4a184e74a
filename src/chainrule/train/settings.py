"""The settings of a training run: the flags of ``chainrule train`` and the keys of its
``--config`` TOML file, each checked, with the defaults chosen from the task.

The defaults train the seeds' kind of network: two tanh hidden layers (128 and 64 units),
a softmax output with cross-entropy for classification (a linear output with squared error
for regression), SGD with momentum and L2 weight decay (seed 004's Δ = −∇l − λ∇Ω), a cosine
learning-rate schedule, and label smoothing 0.1 for classification.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import optim
from chainrule.errors import DataError
from chainrule.nn import activations, losses
from chainrule.train.models import MODELS

__all__ = [
    "DEFAULT_LR", "LOSSES", "OPTIMIZERS", "OUTPUTS", "REGRESSION_SGD_LR", "RESUMABLE_CHANGES",
    "SCHEDULES",
    "TrainSettings", "load_settings_file",
]  # fmt: skip

OPTIMIZERS = tuple(optim.OPTIMIZERS)
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}
# The squared error's gradient is not bounded like softmax cross-entropy's (ŷ - e(y)): SGD with
# momentum at 0.1 diverges on standardised regression targets (the bundled sine, diabetes).
REGRESSION_SGD_LR = 0.01
SCHEDULES = ("cosine", "step", "onecycle", "none")
OUTPUTS = ("softmax", "linear")
# the losses of each task from their registry, the task's default first, and every alias
LOSSES = {task: losses.names(task) for task in losses.TASKS}
_LOSS_ALIASES = losses.aliases()
_OUTPUT_ALIASES = {"softmax": "softmax", "linear": "linear", "identity": "linear"}
# settings a resumed run may change; everything else must match the run being resumed
RESUMABLE_CHANGES = ("epochs", "early_stopping")


@dataclass
class TrainSettings:
    """The settings of a training run: the flags of ``chainrule train`` and the keys of its
    ``--config`` TOML file (same names, ``-`` or ``_``).

    ``None`` means "chosen from the task, the optimiser or the data" (see :meth:`resolved`;
    the convolutional kinds leave the optimiser, weight decay, schedule, epochs, batch size and
    validation share to their data: :func:`~chainrule.train.models.conv_data_defaults`).
    Build from untrusted values with :meth:`from_mapping`, which checks every value.
    """

    dataset: str = "digits"
    target: str | None = None
    model: str = "mlp"
    hidden: tuple[int, ...] = (128, 64)
    channels: tuple[int, ...] | None = None
    activation: str = "tanh"
    output: str | None = None
    loss: str | None = None
    optimizer: str | None = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = 5e-4
    label_smoothing: float | None = None
    schedule: str | None = "cosine"
    dropout: float = 0.0
    epochs: int | None = 40
    batch_size: int | None = 32
    seed: int = 0
    early_stopping: int | None = None
    val_size: float | None = 0.1
    test_size: float | None = None
    augment: bool | None = None

    @classmethod
    def keys(cls) -> list[str]:
        """The setting names, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], base: TrainSettings | None = None, source: str = ""
    ) -> TrainSettings:
        """``base`` (default: the defaults of the ``model`` in ``values``, :meth:`for_model`)
        with ``values`` applied, each checked.

        Keys may use ``-`` or ``_``. Raises ``ValueError`` naming the setting (and ``source``,
        e.g. the config file) for an unknown key (suggesting the closest) or a bad value.

        >>> TrainSettings.from_mapping({"hidden": "32,16", "batch-size": 8}).hidden
        (32, 16)
        >>> TrainSettings.from_mapping({"hiden": "32"})
        Traceback (most recent call last):
        ...
        ValueError: unknown setting 'hiden' (did you mean 'hidden'?)
        """
        where = f"{source}: " if source else ""
        known = cls.keys()
        changes: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
                raise ValueError(f"{where}unknown setting {raw_key!r}{hint}")
            try:
                changes[key] = _CHECKS[key](value)
            except (TypeError, ValueError) as exc:
                name = key.replace("_", "-")
                raise ValueError(f"{where}{name if source else '--' + name}: {exc}") from None
        return dataclasses.replace(base or cls.for_model(changes.get("model", "mlp")), **changes)

    @classmethod
    def for_model(cls, model: str) -> TrainSettings:
        """The defaults for a kind of network: those above with the kind's own
        (:data:`~chainrule.train.models.MODELS` ``[model].defaults``) on top.

        >>> s = TrainSettings.for_model("gru")
        >>> s.optimizer, s.lr, s.batch_size, s.hidden
        ('adam', 0.01, 100, (16,))
        """
        return dataclasses.replace(cls(), model=model, **MODELS[model].defaults)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (``hidden`` as a list)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        if self.channels is not None:
            d["channels"] = list(self.channels)
        return d

    def resolved(
        self, task: str, input_shape: Sequence[int] | None = None, n_train: int | None = None
    ) -> TrainSettings:
        """Every ``None`` that has a default filled in for ``task`` (``"classification"`` or
        ``"regression"``): softmax + cross-entropy with label smoothing 0.1, or linear +
        squared error; what the model kind chooses from data of ``input_shape`` (C, *spatial)
        with ``n_train`` training examples (its ``data_defaults``; a learning rate or weight
        decay it gives goes with the optimiser it chooses, so only when ``optimizer`` is
        unset); the learning rate of :data:`DEFAULT_LR` (:data:`REGRESSION_SGD_LR` for SGD on
        regression); the general defaults (the class's) for the rest.

        Raises ``ValueError`` for an output or loss that does not suit the task.

        >>> s = TrainSettings.for_model("cnn")
        >>> s.resolved("classification", [1, 8, 8], 1437).optimizer
        'sgd'
        >>> r = s.resolved("classification", [1, 28, 28], 54000)
        >>> r.optimizer, r.lr, r.schedule, r.batch_size
        ('adamw', 0.003, 'onecycle', 128)
        """
        if task not in LOSSES:
            raise ValueError(f"unknown task {task!r}")
        kind = MODELS[self.model]
        chosen: dict[str, Any] = {}
        if kind.data_defaults is not None and input_shape is not None and n_train is not None:
            chosen = kind.data_defaults(input_shape, n_train)
            if self.optimizer is not None:  # its rate and decay go with the chosen optimiser
                chosen = {k: v for k, v in chosen.items() if k not in ("lr", "weight_decay")}
        general = {f.name: f.default for f in dataclasses.fields(TrainSettings)}
        fill = {k: chosen.get(k, general[k]) for k, v in vars(self).items() if v is None}
        s = dataclasses.replace(self, **{k: v for k, v in fill.items() if v is not None})
        want_output = losses.get(LOSSES[task][0]).output  # what the task's losses pair with
        output = s.output or want_output
        loss = s.loss or LOSSES[task][0]
        if output != want_output:
            raise ValueError(
                f"--output {output} does not suit {task}: use --output {want_output} "
                "(softmax for class probabilities, linear for values)"
            )
        if loss not in LOSSES[task]:
            raise ValueError(
                f"--loss {loss} does not suit {task}; choose from {', '.join(LOSSES[task])}"
            )
        smoothing = s.label_smoothing
        if smoothing is None:
            smoothing = 0.1 if task == "classification" else 0.0
        if task == "regression" and smoothing:
            raise ValueError("--label-smoothing is for classification only")
        return dataclasses.replace(
            s,
            channels=s.channels or kind.channels or None,
            augment=s.model != "mlp" if s.augment is None else s.augment,
            output=output,
            loss=loss,
            lr=s.lr if s.lr is not None else _default_lr(str(s.optimizer), task),
            label_smoothing=smoothing,
        )


def _default_lr(optimizer: str, task: str) -> float:
    if optimizer == "sgd" and task == "regression":
        return REGRESSION_SGD_LR
    return DEFAULT_LR[optimizer]


def load_settings_file(path: str | Path) -> dict[str, Any]:
    """The settings in a TOML file: top-level ``key = value`` pairs named as
    :class:`TrainSettings`' fields (``-`` or ``_``), checked with
    :meth:`TrainSettings.from_mapping`; returns them as a dict (only the keys present).

    Raises :class:`~chainrule.errors.DataError` for a missing or malformed file,
    ``ValueError`` for an unknown key (naming the closest) or a bad value.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = p.write_text('dataset = "wine"\\nhidden = [32, 16]\\nbatch-size = 16\\n')
    >>> load_settings_file(p)
    {'dataset': 'wine', 'hidden': [32, 16], 'batch-size': 16}
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"no such config file: {str(path)!r}")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not a UTF-8 text file ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path.name}: not valid TOML ({exc})") from exc
    TrainSettings.from_mapping(values, source=path.name)  # check keys and values
    return values


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty text, got {v!r}")
    return v.strip()


def _opt_str(v: Any) -> str | None:
    return None if v is None or v == "" else _str(v)


def _choice(choices: Any, aliases: Mapping[str, str] | None = None) -> Any:
    def check(v: Any) -> str:
        name = _str(v).lower().replace("-", "_")
        if aliases is not None:
            name = aliases.get(name, name)
        if name not in choices:
            close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown value {v!r}{hint}; choose from {', '.join(choices)}")
        return name

    return check


def _opt_choice(choices: Any, aliases: Mapping[str, str] | None = None) -> Any:
    check = _choice(choices, aliases)
    return lambda v: None if v is None or v == "" else check(v)


def _int(v: Any, low: int = 0) -> int:
    if isinstance(v, bool):
        raise ValueError(f"expected a whole number, got {v!r}")
    if isinstance(v, str):
        v = v.strip()
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {v!r}") from None
    if not math.isfinite(f) or f != int(f):
        raise ValueError(f"expected a whole number, got {v!r}")
    if f < low:
        raise ValueError(f"must be at least {low}, got {int(f)}")
    return int(f)


def _float(
    v: Any, low: float, high: float, low_open: bool = False, high_open: bool = True
) -> float:
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {v!r}")
    try:
        f = float(v.strip() if isinstance(v, str) else v)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {v!r}") from None
    ok_low = f > low if low_open else f >= low
    ok_high = f < high if high_open else f <= high
    if not (math.isfinite(f) and ok_low and ok_high):
        if high == math.inf:
            want = f"a number {'>' if low_open else '>='} {low:g}"
        else:
            lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
            want = f"a number in {lo}{low:g}, {high:g}{hi}"
        raise ValueError(f"expected {want}, got {v!r}")
    return f


def _hidden(v: Any) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = [v]
    if isinstance(v, str):
        text = v.strip()
        if text.lower() in ("", "none"):
            return ()
        v = [p for p in text.replace(" ", ",").split(",") if p]
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"expected layer sizes such as 128,64, got {v!r}")
    try:
        sizes = tuple(_int(p, low=1) for p in v)
    except ValueError as exc:
        raise ValueError(
            f"expected positive layer sizes such as 128,64, got {v!r} ({exc})"
        ) from None
    return sizes


def _early(v: Any) -> int | None:
    if v is None or v is False:
        return None
    if v is True:
        return 10
    n = _int(v, low=0)
    return n or None


def _test_size(v: Any) -> float | None:
    if v is None or v == "":
        return None
    f = _float(v, 0.0, math.inf, low_open=True)
    if f >= 1:
        if f != int(f):
            raise ValueError(f"a fraction in (0, 1) or a whole number of samples, got {v!r}")
        return int(f)
    return f


def _channels(v: Any) -> tuple[int, ...] | None:
    if v is None or (isinstance(v, str) and v.strip().lower() in ("", "none")):
        return None
    sizes = _hidden(v)
    if not sizes:
        raise ValueError(f"expected channel counts such as 32,64, got {v!r}")
    return sizes


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "yes", "on", "1", "false", "no",
                                                     "off", "0"):  # fmt: skip
        return v.strip().lower() in ("true", "yes", "on", "1")
    if isinstance(v, (int, np.integer)) and v in (0, 1):
        return bool(v)
    raise ValueError(f"expected true or false, got {v!r}")


_CHECKS: dict[str, Any] = {
    "dataset": _str,
    "target": _opt_str,
    "model": _choice(list(MODELS)),
    "hidden": _hidden,
    "channels": _channels,
    "augment": lambda v: None if v is None else _bool(v),
    "activation": _choice(activations.names()),
    "output": _opt_choice(OUTPUTS, _OUTPUT_ALIASES),
    "loss": _opt_choice(sorted(set(_LOSS_ALIASES.values())), _LOSS_ALIASES),
    "optimizer": _opt_choice(OPTIMIZERS),
    "lr": lambda v: None if v is None else _float(v, 0.0, math.inf, low_open=True),
    "momentum": lambda v: _float(v, 0.0, 1.0),
    "weight_decay": lambda v: None if v is None else _float(v, 0.0, math.inf),
    "label_smoothing": lambda v: None if v is None else _float(v, 0.0, 1.0),
    "schedule": _opt_choice(SCHEDULES),
    "dropout": lambda v: _float(v, 0.0, 1.0),
    "epochs": lambda v: None if v is None else _int(v, low=1),
    "batch_size": lambda v: None if v is None else _int(v, low=1),
    "seed": lambda v: _int(v, low=0),
    "early_stopping": _early,
    "val_size": lambda v: None if v is None else _float(v, 0.0, 1.0),
    "test_size": _test_size,
}
