"""TensorBoard logs of a training run, as Keras's ``TensorBoard`` callback writes them.

The event files are written by tensorboardX's ``SummaryWriter`` (the ``tensorboard`` extra:
``pip install 'chainrule[tensorboard]'``) and read by TensorBoard itself
(``tensorboard --logdir LOG_DIR``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.train.callbacks import Callback


class TensorBoard(Callback):
    """Write scalars and histograms for TensorBoard into ``log_dir``, laid out as Keras does.

    - ``log_dir/train``: ``epoch_loss`` and each training metric (``epoch_accuracy``, ...),
      ``epoch_learning_rate``, ``epoch_samples_per_s``; with ``update_freq="batch"`` (or an
      integer N: every N batches) also ``batch_loss`` at the global batch step;
    - ``log_dir/validation``: ``epoch_loss`` and the metrics on the validation data (the
      ``val_*`` logs), so that TensorBoard draws both runs on one chart;
    - every ``histogram_freq`` epochs (0: never), histograms of each parameter
      (``weights/<name>``, e.g. ``weights/0.weight``) and of its gradient on the epoch's last
      batch (``gradients/<name>``), in ``log_dir/train``.

    The step of epoch quantities is the epoch number (1-based). A resumed run appends to the
    same folders. Raises ``ImportError`` naming the extra when tensorboardX is not installed.
    """

    def __init__(
        self,
        log_dir: str | Path = "logs",
        histogram_freq: int = 1,
        update_freq: str | int = "epoch",
    ) -> None:
        try:
            import tensorboardX  # noqa: F401
        except ImportError as exc:  # pragma: no cover - the extra is part of `test`
            raise ImportError(
                "cr.train.TensorBoard needs tensorboardX: pip install 'chainrule[tensorboard]'"
            ) from exc
        if update_freq != "epoch" and update_freq != "batch" and not isinstance(update_freq, int):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or an int, got {update_freq!r}")
        self.log_dir = Path(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers: dict[str, Any] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._batches = 0
        self._step = 0

    def _writer(self, name: str) -> Any:
        if name not in self._writers:
            from tensorboardX import SummaryWriter

            self._writers[name] = SummaryWriter(str(self.log_dir / name))
        return self._writers[name]

    def on_train_begin(self, trainer: Any) -> None:
        self._step = trainer.epoch * getattr(trainer, "batches_per_epoch", 0)

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        self._batches = 0
        self._grads = {}

    def on_after_backward(self, trainer: Any) -> None:
        self._batches += 1
        if self._histograms_due(trainer.epoch + 1) and self._batches == trainer.batches_per_epoch:
            self._grads = {
                name: backend.to_numpy(p.grad.data).copy()
                for name, p in trainer.model.named_parameters()
                if p.grad is not None
            }

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, float]) -> None:
        self._step += 1
        if isinstance(self.update_freq, int) and self._step % self.update_freq == 0:
            self._writer("train").add_scalar("batch_loss", float(logs["loss"]), self._step)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        train, val = self._writer("train"), None
        for key, value in logs.items():
            if key == "time":
                continue
            if key.startswith("val_"):
                val = val or self._writer("validation")
                val.add_scalar(f"epoch_{key[4:]}", float(value), epoch)
            elif key == "lr":
                train.add_scalar("epoch_learning_rate", float(value), epoch)
            else:
                train.add_scalar(f"epoch_{key}", float(value), epoch)
        if self._histograms_due(epoch):
            for name, p in trainer.model.named_parameters():
                train.add_histogram(f"weights/{name}", backend.to_numpy(p.data), epoch)
            for name, g in self._grads.items():
                train.add_histogram(f"gradients/{name}", g, epoch)
        for w in self._writers.values():
            w.flush()

    def on_train_end(self, trainer: Any) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def _histograms_due(self, epoch: int) -> bool:
        return self.histogram_freq > 0 and epoch % self.histogram_freq == 0
