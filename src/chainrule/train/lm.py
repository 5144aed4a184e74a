"""Character-level language models: :class:`CharLM` (an embedding, an LSTM, GRU or causal
Transformer encoder, and a readout over the vocabulary), its held-out cross-entropy and
perplexity (:func:`evaluate_lm`), and sampling from it (:func:`generate`).

The model reads characters x_1 .. x_T and at every position t gives logits for x_{t+1}; the
loss is the mean over positions of −log p(x_{t+1} | x_1..x_t) in nats, and the perplexity
exp(loss) is how many characters the model is, on average, choosing between.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import no_grad
from chainrule.data.text import CharVocab, next_char_windows
from chainrule.errors import DataError
from chainrule.nn import (
    GRU,
    LSTM,
    Dropout,
    Embedding,
    Linear,
    Module,
    PositionalEncoding,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from chainrule.nn import functional as F
from chainrule.ops.shape import reshape
from chainrule.tensor import Tensor

__all__ = ["LM_KINDS", "CharLM", "evaluate_lm", "generate"]

LM_KINDS = ("lstm", "gru", "transformer")


class CharLM(Module):
    """ids (N, T) -> logits (N, T, vocab_size) for the next character at every position.

    ``kind`` ``"lstm"``/``"gru"``: Embedding(vocab, embed) -> ``layers`` recurrent layers of
    ``hidden`` units (dropout between them) -> Linear(hidden, vocab). ``"transformer"``:
    Embedding(vocab, hidden) + sinusoidal positions -> ``layers`` pre-norm encoder layers
    (``heads`` heads, causal mask) -> Linear(hidden, vocab); it reads at most ``max_len``
    characters.

    ``forward(ids, state=None)`` returns the logits and, for the recurrent kinds, the final
    state (to carry on from when sampling); for the Transformer the state is None.

    Raises ``ValueError`` for an unknown ``kind``; :class:`~chainrule.errors.ShapeError`
    (from the layers) for ids that are not (N, T).
    """

    def __init__(
        self,
        vocab_size: int,
        kind: str = "lstm",
        embed: int = 64,
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.1,
        heads: int = 4,
        max_len: int = 512,
    ) -> None:
        super().__init__()
        if kind not in LM_KINDS:
            raise ValueError(f"CharLM: kind must be one of {', '.join(LM_KINDS)}, got {kind!r}")
        self.kind, self.vocab_size, self.max_len = kind, int(vocab_size), int(max_len)
        if kind == "transformer":
            self.embed = Embedding(vocab_size, hidden)
            self.positions = PositionalEncoding(hidden, dropout, max_len, batch_first=True)
            layer = TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout, "gelu",
                                            batch_first=True, norm_first=True)  # fmt: skip
            self.encoder = TransformerEncoder(layer, layers)
        else:
            self.embed = Embedding(vocab_size, embed)
            rnn = LSTM if kind == "lstm" else GRU
            self.rnn = rnn(embed, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)  # fmt: skip
            self.drop = Dropout(dropout)
        self.head = Linear(hidden, vocab_size)

    def forward(self, ids: Any, state: Any = None) -> tuple[Tensor, Any]:
        """ids ``(N, T)`` -> ``(logits (N, T, vocab_size), final state or None)``."""
        x = self.embed(ids)
        if self.kind == "transformer":
            steps = x.shape[1]
            causal = np.triu(np.ones((steps, steps), dtype=bool), 1)
            h = self.encoder(self.positions(x * math.sqrt(x.shape[-1])), mask=causal)
            return self.head(h), None
        h, state = self.rnn(x, state)
        return self.head(self.drop(h)), state


def lm_loss(model: CharLM, x: Any, y: Any) -> Tensor:
    """Mean cross-entropy (nats per character) of ``model``'s next-character logits for ids
    ``x`` (N, T) against targets ``y`` (N, T)."""
    logits, _ = model(x)
    v = logits.shape[-1]
    return F.cross_entropy(reshape(logits, (-1, v)), reshape(_ids(y), (-1,)))


def evaluate_lm(
    model: CharLM, ids: np.ndarray, seq_len: int = 128, batch_size: int = 64
) -> dict[str, float]:
    """Cross-entropy per character (nats and bits) and perplexity of ``model`` on the text
    ``ids``, read in non-overlapping windows of ``seq_len`` (the model in eval mode, then its
    mode restored).

    Raises :class:`~chainrule.errors.DataError` when the text is shorter than one window.
    """
    x, y = next_char_windows(ids, seq_len)
    was = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                xb, yb = x[i : i + batch_size], y[i : i + batch_size]
                total += float(lm_loss(model, xb, yb).item()) * yb.size
                count += yb.size
    finally:
        model.train(was)
    nats = total / count
    return {"cross_entropy": nats, "bits_per_char": nats / math.log(2),
            "perplexity": math.exp(nats)}  # fmt: skip


def generate(
    model: CharLM,
    vocab: CharVocab,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    seed: int | None = None,
) -> str:
    """``prompt`` followed by ``length`` characters sampled from ``model``, one at a time:
    each from softmax(logits / temperature) (``temperature`` 0: the most likely character).

    Raises :class:`~chainrule.errors.DataError` for an empty prompt or one with characters
    outside the vocabulary; ``ValueError`` for a negative length or temperature.
    """
    if length < 0 or temperature < 0:
        raise ValueError(f"generate: length and temperature must be >= 0, got {length}, "
                         f"{temperature}")  # fmt: skip
    if not prompt:
        raise DataError("generate: give a prompt of at least one character")
    ids = list(vocab.encode(prompt))
    rng = np.random.default_rng(seed)
    was = model.training
    model.eval()
    try:
        with no_grad():
            state = None
            feed = ids
            for _ in range(length):
                if model.kind == "transformer":
                    logits, _ = model(_ids([ids[-model.max_len :]]))
                else:
                    logits, state = model(_ids([feed]), state)
                last = backend.to_numpy(logits.data[0, -1]).astype(np.float64)
                nxt = _sample(last, temperature, rng)
                ids.append(nxt)
                feed = [nxt]
    finally:
        model.train(was)
    return prompt + vocab.decode(ids[len(prompt) :])


def _sample(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def _ids(a: Any) -> Tensor:
    """Character ids as an int64 tensor (the Trainer hands batches over as floats)."""
    data = a.data if isinstance(a, Tensor) else backend.xp.asarray(np.asarray(a))
    return Tensor._make(data if data.dtype.kind in "iu" else data.astype(np.int64))


# ---------------------------------------------------------------------------- a whole run
LM_DEFAULTS: dict[str, Any] = {
    "model": "lstm", "seq_len": 128, "batch_size": 64, "epochs": 12, "lr": 3e-3,
    "hidden": 128, "layers": 2, "embed": 48, "dropout": 0.1, "heads": 4, "seed": 0,
    "grad_clip": 1.0,
}  # fmt: skip
"""``chainrule train --task lm``'s defaults (``lr`` 1e-3 and ``hidden`` 96 for a Transformer)."""


class _NextChar(Module):
    """Wraps a :class:`CharLM` for the Trainer: float or int ids (N, T) in, the logits of
    every position flattened to (N·T, vocab) out."""

    def __init__(self, lm: CharLM) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, x: Any) -> Tensor:
        logits, _ = self.lm(_ids(x))
        return reshape(logits, (-1, logits.shape[-1]))


def _next_char_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(out, reshape(_ids(y), (-1,)))


def train_char_lm(
    text: str,
    folder: Any,
    settings: dict[str, Any] | None = None,
    callbacks: list | None = None,
) -> dict[str, Any]:
    """Train a :class:`CharLM` on ``text`` (a bundled name such as ``"kjv"`` or a UTF-8 file)
    and write a run folder: ``config.json`` (``"task": "lm"``, the model spec, the vocabulary,
    the settings), ``model.safetensors``, ``history.json``, ``metrics.json`` (held-out
    cross-entropy, bits per character, perplexity, and a sample) and ``checkpoints/``.

    ``settings`` override :data:`LM_DEFAULTS`. The last 10% of the text is held out as the
    test set, the 5% before it is the validation set. Returns the metrics.

    Raises :class:`~chainrule.errors.DataError` for an unreadable or too-short text,
    ``ValueError`` for unknown settings.
    """
    from pathlib import Path

    from chainrule._atomic import atomic_write_json
    from chainrule.backend import manual_seed
    from chainrule.data.text import load_text
    from chainrule.optim import Adam
    from chainrule.optim.lr_scheduler import CosineAnnealingLR
    from chainrule.train.callbacks import ModelCheckpoint
    from chainrule.train.checkpoint import save_arrays
    from chainrule.train.run import FORMAT
    from chainrule.train.trainer import Trainer

    s = dict(LM_DEFAULTS)
    if (settings or {}).get("model") == "transformer":
        s.update(lr=1e-3, hidden=96)
    unknown = set(settings or {}) - set(s)
    if unknown:
        raise ValueError(f"--task lm: unknown settings {sorted(unknown)}; known: {sorted(s)}")
    s.update(settings or {})
    corpus = load_text(text, test_fraction=0.1)
    n_val = max(s["seq_len"] + 1, len(corpus.train) // 18)  # 5% of the whole text
    train_ids, val_ids = corpus.train[:-n_val], corpus.train[-n_val:]
    x, y = next_char_windows(train_ids, s["seq_len"])
    xv, yv = next_char_windows(val_ids, s["seq_len"])
    manual_seed(s["seed"])
    spec = {"type": "char_lm", "vocab_size": len(corpus.vocab), "kind": s["model"],
            "embed": s["embed"], "hidden": s["hidden"], "layers": s["layers"],
            "dropout": s["dropout"], "heads": s["heads"],
            "max_len": max(512, s["seq_len"])}  # fmt: skip
    lm = build_char_lm(spec)
    optimizer = Adam(lm.parameters(), lr=s["lr"])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(
        _NextChar(lm), _next_char_loss, optimizer,
        scheduler=CosineAnnealingLR(optimizer, s["epochs"]), callbacks=[
            ModelCheckpoint(folder / "checkpoints"), *(callbacks or [])],
        progress=False, grad_clip=s["grad_clip"], config={"settings": s, "model": spec},
    )  # fmt: skip
    history = trainer.fit((x, y), (xv, yv), epochs=s["epochs"], batch_size=s["batch_size"],
                          seed=s["seed"])  # fmt: skip
    metrics = {"test": evaluate_lm(lm, corpus.test, s["seq_len"]),
               "train_chars": len(train_ids), "test_chars": len(corpus.test),
               "sample": generate(lm, corpus.vocab, corpus.vocab.decode(corpus.test[:20]), 200,
                                  0.8, seed=s["seed"])}  # fmt: skip
    config = {"format": FORMAT, "task": "lm", "dataset": corpus.name, "model": spec,
              "vocab": "".join(corpus.vocab.chars), "settings": s}  # fmt: skip
    atomic_write_json(folder / "config.json", config)
    save_arrays(folder / "model.safetensors", dict(lm.state_dict()), {"format": FORMAT})
    atomic_write_json(folder / "history.json", {"history": history.to_dict()})
    atomic_write_json(folder / "metrics.json", metrics)
    return metrics


def build_char_lm(spec: dict[str, Any]) -> CharLM:
    """The :class:`CharLM` a run's ``config["model"]`` describes."""
    return CharLM(spec["vocab_size"], kind=spec["kind"], embed=spec["embed"],
                  hidden=spec["hidden"], layers=spec["layers"], dropout=spec["dropout"],
                  heads=spec["heads"], max_len=spec["max_len"])  # fmt: skip


def load_char_lm(folder: Any) -> tuple[CharLM, CharVocab]:
    """A trained language model and its vocabulary from a run folder of ``--task lm``.

    Raises :class:`~chainrule.errors.CheckpointError` naming the file when the folder is not
    such a run or its weights do not fit.
    """
    import json
    from pathlib import Path

    from chainrule.errors import CheckpointError
    from chainrule.train.checkpoint import load_arrays

    folder = Path(folder)
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: not a run folder (no config.json)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if config.get("task") != "lm" or config.get("model", {}).get("type") != "char_lm":
        raise CheckpointError(
            f"{folder}: not a language-model run (train one with 'chainrule train --task lm')"
        )
    try:
        model = build_char_lm(config["model"])
        vocab = CharVocab(tuple(config["vocab"]))
        weights, _ = load_arrays(folder / "model.safetensors")
        model.load_state_dict(weights)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder}: the model does not match config.json: {exc}") from None
    model.eval()
    return model, vocab
