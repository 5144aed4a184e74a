"""``chainrule train``: train an MLP on a bundled dataset or a CSV/NPZ file, show progress,
print a final table and write a run folder (see :mod:`chainrule.train.run`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli import add_command

DESCRIPTION = """\
Train the seeds' feed-forward network, an MLP with two hidden layers, and keep the result.

With no options: the bundled digits (8x8 images, 10 classes), standardised with the
statistics of the training split only, 10% of the training split held out for validation,
two tanh hidden layers of 128 and 64 units, a softmax output with cross-entropy (label
smoothing 0.1), SGD with momentum 0.9 and L2 weight decay 5e-4, learning rate 0.1 on a
cosine schedule, 40 epochs of batches of 32. Regression data get a linear output and squared
error on standardised targets instead. --model cnn builds a convolutional network instead
(convolution, batch norm, ReLU and max pooling per --channels entry, then a linear layer; 1-D
for signals, 2-D for images), --model resnet adds residual blocks; both shift each training
example at random unless --no-augment and train on all of the training split (no
validation split); on a training split of 10,000 examples or more (e.g.
Fashion-MNIST) they choose AdamW on a one-cycle schedule, a few epochs of larger batches and
no shifts instead (see each option). --model gru or lstm reads each sample as a sequence
(MNIST-1D's 40 values one step at a time, an image row by row) with a bidirectional recurrent
layer of 16 units whose outputs at every step go into a linear layer; --model transformer uses
two pre-norm Transformer encoder layers of width 32 over patches of 5 values instead; these
three train with Adam (lr 0.01) and no weight decay, 40 epochs of batches of 100, unless told
otherwise.

Progress is shown per epoch (a bar on a terminal, one line per epoch otherwise); at the end a
table gives the train/validation/test loss and accuracy, the time and the samples per second.
The run folder (printed) holds config.json, model.safetensors, preprocess.json,
history.json/.csv, metrics.json, curves.png, confusion_matrix.png and checkpoints/ (last and
best, written atomically each epoch): 'chainrule train --resume RUN' continues an interrupted
run to the same weights it would have reached without the interruption."""

EPILOG = """\
examples:
  chainrule train                                   # digits, the defaults above
  chainrule train --dataset mnist1d --hidden 256,128 --epochs 60
  chainrule train --dataset fashion_mnist --model cnn   # ~92% test accuracy
  chainrule train --dataset mnist1d --model gru     # a bidirectional GRU, ~95% test accuracy
  chainrule train --dataset examples/fruit.csv --target fruit --batch-size 16
  chainrule train --config settings.toml --epochs 5 # flags override the file
  chainrule train --resume runs/digits-20250101-120000

config file (TOML): the same names as the options, e.g.
  dataset = "wine"
  hidden = [64, 32]
  optimizer = "adam"
  epochs = 30
  early-stopping = 5
"""


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand."""
    from chainrule.nn.activations import names as activation_names
    from chainrule.train.models import LARGE_TRAINING_SET, conv_data_defaults
    from chainrule.train.settings import (
        DEFAULT_LR,
        LOSSES,
        OPTIMIZERS,
        REGRESSION_SGD_LR,
        SCHEDULES,
    )

    # what cnn/resnet choose on a large training split (one place: train.models)
    big = conv_data_defaults([1, 1, 1], LARGE_TRAINING_SET)
    large = f"cnn/resnet on {LARGE_TRAINING_SET:,}+ training examples"
    p = add_command(
        subparsers,
        "train",
        run,
        help="train an MLP and write a run folder",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    data = p.add_argument_group("data")
    _setting(
        data,
        "--dataset",
        "NAME|FILE",
        help="a bundled dataset (see 'chainrule datasets'; default digits) or a .csv/.npz file",
    )
    _setting(
        data,
        "--task",
        None,
        choices=["classification", "regression", "lm"],
        help="what to learn: inferred from the data by default; lm: a character-level "
        "language model of a text (--dataset kjv, the bundled one, or a UTF-8 file; --model "
        "lstm, gru or transformer; then 'chainrule generate RUN')",
    )
    _setting(
        data,
        "--target",
        "COLUMN",
        help="the column of a CSV file to predict (required for CSV); the array of an NPZ "
        "file (default y)",
    )
    _setting(
        data,
        "--val-size",
        "FRACTION",
        help="share of the training split held out for validation (default 0.1; cnn/resnet "
        f"{conv_data_defaults([1, 1, 1], 1)['val_size']:g}; 0: none)",
    )
    _setting(
        data,
        "--test-size",
        "FRACTION",
        help="test share for datasets without their own test split (default 0.2)",
    )
    model = p.add_argument_group("model")
    _setting(
        model,
        "--model",
        "KIND",
        help="mlp (the default: the seeds' feed-forward network), cnn (convolutions, batch "
        "norm, pooling; 1-D for signals, 2-D for images), resnet (cnn with residual blocks), "
        "gru, lstm (bidirectional, over the sample's steps) or transformer (an encoder over "
        "the steps); gru/lstm/transformer have their own defaults (see above)",
    )
    _setting(
        model,
        "--channels",
        "SIZES",
        help="cnn/resnet: feature maps per stage, comma-separated (default 32,64; resnet 16,32,64)",
    )
    _setting(
        model,
        "--augment",
        None,
        action=argparse.BooleanOptionalAction,
        help="cnn/resnet: shift each training example at random, up to a tenth of its size "
        f"(the default there, but not on {LARGE_TRAINING_SET:,}+ training examples; "
        "--no-augment: off)",
    )
    _setting(
        model,
        "--hidden",
        "SIZES",
        help="hidden layer sizes, comma-separated (default 128,64); gru/lstm/transformer: "
        "each layer's width, all equal (default 16; transformer 32,32)",
    )
    _setting(
        model,
        "--activation",
        "NAME",
        help=f"hidden units g: {', '.join(activation_names())} (default tanh)",
    )
    _setting(
        model,
        "--output",
        "NAME",
        help="output function: softmax (classification, the default there) or linear "
        "(regression, the default there)",
    )
    _setting(
        model,
        "--loss",
        "NAME",
        help=f"classification: {', '.join(LOSSES['classification'])} (default); regression: "
        f"{', '.join(LOSSES['regression'])} (default mse, the squared error)",
    )
    _setting(
        model,
        "--dropout",
        "P",
        help="dropout probability after each hidden layer (default 0)",
    )
    _setting(
        model,
        "--label-smoothing",
        "EPS",
        help="classification: label smoothing of the cross-entropy (default 0.1; 0: none)",
    )
    opt = p.add_argument_group("optimisation")
    lrs = ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
    _setting(
        opt,
        "--optimizer",
        "NAME",
        help=f"{', '.join(OPTIMIZERS)} (default sgd; adam for gru/lstm/transformer; "
        f"{big['optimizer']} at {big['lr']:g} for {large})",
    )
    _setting(
        opt,
        "--lr",
        "LR",
        help=f"learning rate (default {lrs}; sgd on regression {REGRESSION_SGD_LR:g})",
    )
    _setting(
        opt,
        "--momentum",
        "M",
        help="momentum of sgd and rmsprop (default 0.9)",
    )
    _setting(
        opt,
        "--weight-decay",
        "LAMBDA",
        help="L2 regularisation λ, added to the gradient as λθ (default 5e-4; 0 for "
        f"gru/lstm/transformer; {big['weight_decay']:g}, decoupled, with {big['optimizer']} for "
        f"{large})",
    )
    _setting(
        opt,
        "--schedule",
        "NAME",
        help=f"learning-rate schedule: {', '.join(SCHEDULES)} (default cosine; "
        f"{big['schedule']} for {large}; onecycle is stepped per batch)",
    )
    _setting(
        opt, "--epochs", "N", help=f"epochs to train (default 40; {big['epochs']} for {large})"
    )
    _setting(
        opt,
        "--batch-size",
        "N",
        help=f"samples per batch (default 32; 100 for gru/lstm/transformer; {big['batch_size']} "
        f"for {large})",
    )
    _setting(
        opt,
        "--seed",
        "N",
        help="seeds the splits, the initial weights, dropout and the batch order (default 0)",
    )
    _setting(
        opt,
        "--early-stopping",
        "PATIENCE",
        nargs="?",
        const=10,
        help="stop when the validation loss has not improved for PATIENCE epochs (10 when "
        "given without a number) and keep the best weights",
    )
    run_ = p.add_argument_group("run")
    run_.add_argument(
        "--config",
        metavar="FILE.toml",
        help="read settings from a TOML file (keys as the options' names); options given on "
        "the command line override it",
    )
    run_.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="where new run folders go (default ./runs): DIR/<dataset>-<date>-<time>",
    )
    run_.add_argument(
        "--name",
        metavar="NAME",
        help="name the run folder DIR/NAME instead (it must not exist yet)",
    )
    run_.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the run in folder RUN from its last checkpoint (only --epochs and "
        "--early-stopping may change)",
    )
    run_.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard logs (scalars, weight and gradient histograms per epoch) "
        "into RUN/tensorboard: tensorboard --logdir RUN/tensorboard",
    )
    run_.add_argument(
        "--find-lr",
        action="store_true",
        help="instead of training, sweep the learning rate from 1e-7 to 10 over 200 batches "
        "(the range test), write RUN/lr_find.png and .json, and print the suggested rate",
    )
    run_.add_argument(
        "--device",
        metavar="DEVICE",
        default="cpu",
        help="where to train: cpu (default), cuda or cuda:N (a GPU, through CuPy); under "
        "mpiexec, cuda gives each process of a machine its own GPU",
    )
    run_.add_argument(
        "--no-compile",
        action="store_true",
        help="run each training step eagerly instead of replaying it with cr.compile "
        "(the same results; for debugging)",
    )
    run_.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines; print the final table and the run folder only",
    )


def _setting(group: Any, flag: str, metavar: str | None, **kwargs: Any) -> None:
    """Add the option ``flag`` for a key of the settings: unset, it stays out of the parsed
    namespace (``argparse.SUPPRESS``), so that a ``--config`` file may set it."""
    group.add_argument(flag, default=argparse.SUPPRESS, metavar=metavar, **kwargs)


def run(args: argparse.Namespace) -> int:
    """Train, print the final table and the run folder; 130 when interrupted."""
    from chainrule import distributed
    from chainrule.train.callbacks import ProgressBar
    from chainrule.train.experiment import start_run
    from chainrule.train.settings import TrainSettings, load_settings_file

    if getattr(args, "task", None) == "lm":
        return _train_lm(args)
    keys = TrainSettings.keys()
    flags = {k: v for k, v in vars(args).items() if k in keys}
    values: dict[str, Any] = {}
    if args.config:
        values.update(load_settings_file(args.config))
    values.update(flags)
    if args.resume and (args.out or args.name):
        raise ValueError(
            "--out and --name cannot be used with --resume: a resumed run stays in its folder"
        )
    if args.find_lr and args.resume:
        raise ValueError("--find-lr cannot be used with --resume: it tries rates on a new model")
    if args.find_lr and distributed.size() > 1:
        raise ValueError("--find-lr runs in one process: launch it without mpiexec")
    settings = TrainSettings.from_mapping(values)
    _use_device(args.device)
    callbacks = [] if args.quiet else [ProgressBar(stream=sys.stdout)]
    # --- gradient flow (chainrule.explain, for `chainrule report`): per-layer gradient and
    # weight norms, update ratios, dead ReLUs -> RUN/gradient_flow.json and .png at the end.
    from chainrule.explain import GradientFlow

    flow = GradientFlow()
    flow.rank_zero_only = True  # under mpiexec, rank 0 alone writes into the run folder
    callbacks.append(flow)
    # --- end gradient flow
    training = start_run(
        settings,
        args.out or "runs",
        resume=args.resume,
        explicit=values,
        callbacks=callbacks,
        name=args.name,
    )
    flow.folder = training.folder  # gradient flow: written there when training ends
    if args.find_lr:
        return _find_lr(training, quiet=args.quiet)
    if args.tensorboard:
        from chainrule.train.tensorboard import TensorBoard

        training.trainer.callbacks.append(TensorBoard(training.folder / "tensorboard"))
    training.trainer.compile = not args.no_compile
    _print_start(training, quiet=args.quiet)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_terminated)  # `kill` stops like Ctrl-C
    # the run folder stays locked from the first epoch until its files are written
    with training.lock:
        try:
            training.fit()
        except KeyboardInterrupt as exc:
            _print_interrupted(training)
            # the shell's convention: 128 + the signal's number (130 SIGINT, 143 SIGTERM)
            return 128 + getattr(exc, "signum", signal.SIGINT)
        finally:
            signal.signal(signal.SIGTERM, previous)
        results = training.finish()
    _print_results(training, results)
    return 0


_LM_OPTIONS = {"dataset", "model", "epochs", "batch_size", "lr", "hidden", "seed", "dropout"}


def _train_lm(args: argparse.Namespace) -> int:
    """``--task lm``: a character-level language model (:mod:`chainrule.train.lm`)."""
    from chainrule.train.callbacks import ProgressBar
    from chainrule.train.lm import LM_KINDS, train_char_lm
    from chainrule.train.run import new_run_folder

    given = {k: v for k, v in vars(args).items() if k not in ("run", "command", "_subparsers")}
    ignored = sorted(k for k, v in given.items() if v not in (None, False) and k not in (
        *_LM_OPTIONS, "task", "out", "name", "quiet", "device"))  # fmt: skip
    if ignored:
        names = ", ".join("--" + k.replace("_", "-") for k in ignored)
        raise ValueError(f"{names}: not used with --task lm (it takes --dataset, --model, "
                         "--epochs, --batch-size, --lr, --hidden, --dropout, --seed)")  # fmt: skip
    settings: dict[str, Any] = {}
    model = given.get("model", "lstm")
    if model not in LM_KINDS:
        raise ValueError(f"--task lm: --model must be one of {', '.join(LM_KINDS)}, got {model!r}")
    settings["model"] = model
    for key, conv in (("epochs", int), ("batch_size", int), ("lr", float), ("seed", int),
                      ("dropout", float)):  # fmt: skip
        if given.get(key) is not None:
            settings[key] = conv(given[key])
    if given.get("hidden") is not None:
        settings["hidden"] = int(str(given["hidden"]).split(",")[0])
    _use_device(args.device)
    text = str(given.get("dataset") or "kjv")
    folder = new_run_folder(Path(args.out or "runs"), Path(text).stem, args.name)
    callbacks = [] if args.quiet else [ProgressBar(stream=sys.stdout)]
    if not args.quiet:
        print(f"data:   {text}, next-character prediction; model: {model}; run folder {folder}")
    metrics = train_char_lm(text, folder, settings, callbacks)
    t = metrics["test"]
    print(f"test: cross-entropy {t['cross_entropy']:.4f} nats/char ({t['bits_per_char']:.3f} "
          f"bits), perplexity {t['perplexity']:.3f} on {metrics['test_chars']:,} held-out "
          "characters")  # fmt: skip
    if not args.quiet:
        print("sample:", metrics["sample"].replace("\n", " / "))
    print(f"run folder: {folder}   (sample more: chainrule generate {folder})")
    return 0


def _find_lr(training: Any, quiet: bool) -> int:
    """The learning-rate range test on the run's model, optimiser and training data."""
    from chainrule._atomic import atomic_write_json
    from chainrule.train.lr_finder import lr_find

    d, s = training.data, training.settings
    result = lr_find(
        training.model,
        training.loss_fn,
        training.optimizer,
        (d.X_train, d.y_train),
        batch_size=s.batch_size,
        seed=s.seed,
    )
    png = result.plot(training.folder / "lr_find.png")
    atomic_write_json(training.folder / "lr_find.json", result.to_dict())
    if not quiet:
        print(
            f"learning-rate range test: {len(result.lrs)} batches of {s.batch_size}, "
            f"{s.optimizer}, lr {result.lrs[0]:.3g} to {result.lrs[-1]:.3g}"
            + (" (stopped: the loss diverged)" if result.stopped else "")
        )
    print(f"suggested learning rate: {result.suggestion:.3g} (steepest descent of the loss; "
          f"minimum / 10: {result.lr_min:.3g})")  # fmt: skip
    print(f"curve: {png}")
    print(f"to train with it, run the same command with --lr {result.suggestion:.3g} "
          "instead of --find-lr")  # fmt: skip
    return 0


def _use_device(name: str) -> None:
    """Make ``name`` the default device: ``cuda`` selects the CuPy backend (one line of error
    when CuPy or a GPU is missing) and, under mpiexec, GPU ``local rank % GPUs`` of each
    machine for each process."""
    from chainrule import backend

    dev = backend.device(name)
    if dev.type == "cpu":
        return
    cp = backend.cupy()
    index = dev.index
    if index is None:
        local = next((os.environ[v] for v in _LOCAL_RANK_VARS if v in os.environ), "0")
        index = int(local) % max(1, int(cp.cuda.runtime.getDeviceCount()))
    backend.to_device(np.zeros(1, dtype=np.float32), backend.Device("cuda", index))
    cp.cuda.Device(index).use()


# what MPI launchers set to a process's rank among those of its machine
_LOCAL_RANK_VARS = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "PMIX_LOCAL_RANK")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that training stops the way Ctrl-C stops it."""

    signum = signal.SIGTERM


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def _print_start(training: Any, quiet: bool) -> None:
    d, s = training.data, training.settings
    pre = d.preprocess
    parts = [f"{len(d.X_train):,} train"]
    if d.X_val is not None:
        parts.append(f"{len(d.X_val):,} validation")
    parts.append(f"{len(d.X_test):,} test")
    kind = f"{pre.n_classes} classes" if pre.task == "classification" else "regression"
    if pre.task == "regression" and d.y_train.shape[1] > 1:
        kind += f" of {d.y_train.shape[1]} values"
    sizes = "-".join(str(n) for n in [pre.n_features, *s.hidden, training.spec["n_outputs"]])
    from chainrule.train.experiment import loss_description
    from chainrule.train.models import SEQUENCE_KINDS

    if s.model == "mlp":
        arch = f"MLP {sizes}, {s.activation} hidden units"
    elif s.model in SEQUENCE_KINDS:
        steps, f, n = training.model.steps, training.model.features, len(s.hidden)
        what = "encoder layer" if s.model == "transformer" else "bidirectional layer"
        arch = (f"{s.model.upper()} over {steps} steps of {f} value{'s' * (f > 1)}, {n} {what}"
                f"{'s' * (n > 1)} of {s.hidden[0]}")  # fmt: skip
    else:
        shape = "x".join(str(n) for n in training.spec["input_shape"])
        chans = ",".join(str(c) for c in training.spec["channels"])
        arch = f"{s.model.upper()} on {shape} inputs, channels {chans}" + (
            ", shifted at random" if s.augment else ""
        )
    lines = [
        f"data:   {d.split.name}: {', '.join(parts)} samples; {pre.n_features} features, {kind}",
        f"model:  {arch}"
        + (f", dropout {s.dropout:g}" if s.dropout else "")
        + f", {s.output} output; loss: {loss_description(s)}",
        f"train:  {s.optimizer} lr {s.lr:g}"
        + (f" momentum {s.momentum:g}" if s.optimizer in ("sgd", "rmsprop") else "")
        + (f" weight decay {s.weight_decay:g}" if s.weight_decay else "")
        + (f", {s.schedule} schedule" if s.schedule != "none" else "")
        + f"; {s.epochs} epochs of batches of {s.batch_size}, seed {s.seed}"
        + (f"; early stopping after {s.early_stopping}" if s.early_stopping else ""),
    ]
    if training.resumed_from is not None:
        done = _checkpoint_epoch(training.resumed_from)
        lines.append(f"resume: from {training.resumed_from} (epoch {done} of {s.epochs})")
    lines.append(f"run:    {training.folder}")
    if not quiet:
        print("\n".join(lines), flush=True)


def _checkpoint_epoch(path: Path) -> str:
    import json

    try:
        return str(json.loads(Path(path).read_text())["meta"]["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?"


def _print_interrupted(training: Any) -> None:
    ckpt = training.checkpoint
    if ckpt.is_file():
        done = _checkpoint_epoch(ckpt)
        msg = (
            f"chainrule train: interrupted; the last checkpoint (epoch {done}) is intact in "
            f"{ckpt.parent}. Continue with: chainrule train --resume {training.folder}"
        )
    else:
        msg = "chainrule train: interrupted before the first epoch ended; nothing to resume"
    print(msg, file=sys.stderr, flush=True)


def _print_results(training: Any, results: dict[str, Any]) -> None:
    from chainrule.cli._output import fmt_number, fmt_rate, fmt_seconds, print_table

    classification = results["task"] == "classification"
    names = ["loss", "accuracy"] if classification else ["mse", "mae", "r2"]
    columns = ["split", "samples", *names, "time", "samples/s"]
    rows = []
    for split in ("train", "validation", "test"):
        r = results.get(split)
        if r is None:
            continue
        rows.append(
            [
                split,
                f"{r['samples']:,}",
                *(fmt_number(r.get(n)) for n in names),
                fmt_seconds(r.get("time_s")),
                fmt_rate(r.get("samples_per_s")),
            ]
        )
    epochs = results["epochs"]
    print()
    print_table(columns, rows, title=f"{training.data.split.name}: results after {epochs} epochs")
    notes = [
        f"train time is for {epochs} epoch{'s' if epochs != 1 else ''}; "
        "validation and test time for one pass"
    ]
    if classification:
        notes.append(f"loss: {results['loss']}")
    else:
        notes.append("mse, mae, r2 in the target's own units")
    if results.get("stopped_early"):
        notes.append(f"stopped early; weights of the best epoch ({results.get('best_epoch')})")
    print("\n".join(notes))
    print(f"run folder: {training.folder}")
