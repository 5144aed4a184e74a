"""Floor 5: training: the fit loop, callbacks, metrics, history, checkpoints and plots."""

from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    HistoryLogger,
    LambdaCallback,
    LRScheduler,
    ModelCheckpoint,
    ProgressBar,
    format_epoch,
)
from chainrule.train.checkpoint import load_checkpoint, save_checkpoint
from chainrule.train.history import History
from chainrule.train.lr_finder import LRFinderResult, lr_find
from chainrule.train.metrics import (
    Accuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    R2Score,
    TopKAccuracy,
    confusion_matrix,
    get_metric,
)
from chainrule.train.plots import plot_confusion_matrix, plot_history
from chainrule.train.tensorboard import TensorBoard
from chainrule.train.trainer import Trainer, fit, predict

__all__ = [
    "Accuracy", "CSVLogger", "Callback", "EarlyStopping", "History", "HistoryLogger",
    "LRFinderResult", "LRScheduler", "LambdaCallback", "MeanAbsoluteError", "MeanSquaredError",
    "Metric", "ModelCheckpoint", "ProgressBar", "R2Score", "TensorBoard", "TopKAccuracy", "Trainer",
    "confusion_matrix", "fit", "format_epoch", "get_metric", "load_checkpoint", "lr_find",
    "plot_confusion_matrix", "plot_history", "predict", "save_checkpoint",
]  # fmt: skip
