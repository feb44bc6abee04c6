"""``gpubp train``: load a dataset, train with progress and per-epoch lines, and leave a complete run folder.

A run folder holds ``model.npz`` (written once training ends), ``metrics.jsonl`` (rewritten after every epoch),
``learning_curve.png`` (with matplotlib) and, with ``--checkpoint-every N``, ``checkpoint.npz``: the full
training state, from which ``--resume`` continues to the very weights an uninterrupted run would reach. Every
check that can fail runs before the first file is written, and every file is replaced atomically, so an error,
a divergence or a kill never leaves a damaged file behind.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

import numpy as np

from ..data import load_dataset
from ..distributed import get_communicator
from ..errors import DataError, GpubpError, InputError, TrainingDiverged
from ..model import Network, save
from ..model.network import check_init
from ..training import check_hyperparameters, load_checkpoint, save_checkpoint, train
from ..training.optimizers import check_lmbda, check_momentum, check_optimizer
from ..training.schedules import PLATEAU_FACTOR, PLATEAU_PATIENCE
from ..training.sgd import check_training_methods, check_validation_fraction
from ..training.report import PLOT_HINT, plot_learning_curve, write_metrics

DEFAULTS = {"data": "digits", "data_dir": None, "test_fraction": 0.2, "sizes": [30], "epochs": 30, "batch_size": 10,
            "lr": 3.0, "cost": "quadratic", "dtype": "float32", "seed": 0, "checkpoint_every": 0,
            "optimizer": "sgd", "momentum": 0.9, "l2": 0.0, "init": "normal",
            "schedule": "constant", "warmup_epochs": 0, "plateau_factor": PLATEAU_FACTOR,
            "plateau_patience": PLATEAU_PATIENCE, "validation_fraction": 0.0, "patience": None}
METHODS = ("schedule", "warmup_epochs", "plateau_factor", "plateau_patience", "validation_fraction", "patience")
CHANGEABLE_ON_RESUME = ("epochs", "checkpoint_every")
RUN_FILES = ("model.npz", "metrics.jsonl", "learning_curve.png", "checkpoint.npz")


def flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def settings_for(args):
    """The run's settings — defaults, the checkpoint's, and the flags given — and the resumed state if any."""
    given = {key: getattr(args, key) for key in DEFAULTS if getattr(args, key) is not None}
    if "data_dir" in given:
        given["data_dir"] = str(given["data_dir"])
    if args.resume is None:
        return {**DEFAULTS, **given}, None
    net, history, saved = load_checkpoint(args.resume, args.device)
    saved = {**DEFAULTS, **saved}  # a checkpoint from before a setting existed ran with its default
    for key, value in given.items():
        if key not in CHANGEABLE_ON_RESUME and key != "sizes" and value != saved.get(key):
            raise InputError(f"{flag(key)} {value} differs from the checkpoint's {saved.get(key)}: a resumed run "
                             f"keeps the settings it was started with; drop {flag(key)} or start a new run")
    if saved["schedule"] == "cosine" and given.get("epochs", saved["epochs"]) != saved["epochs"]:
        raise InputError(f"the cosine schedule spreads its decay over the run's {saved['epochs']} epochs, so a "
                         f"resumed run keeps them: drop --epochs, or start a new run for a longer one")
    return {**saved, **{k: v for k, v in given.items() if k in CHANGEABLE_ON_RESUME}}, (net, history)


def check_methods(settings, args) -> None:
    """The update rule, its μ, L2's λ and the initializer: the API's own checks, before anything is written."""
    check_optimizer(settings["optimizer"])
    check_momentum(settings["momentum"])
    check_lmbda(settings["l2"])
    check_init(settings["init"])
    if args.momentum is not None and settings["optimizer"] not in ("momentum", "nesterov"):
        raise InputError(f"--momentum applies to --optimizer momentum or nesterov, not {settings['optimizer']}: "
                         f"add --optimizer momentum (or nesterov), or drop --momentum")


def resolve_sizes(sizes, n_in: int, n_classes: int) -> list[int]:
    """``--sizes`` as all layer widths: hidden widths get the data's input and output widths around them."""
    if len(sizes) >= 2 and sizes[0] == n_in and sizes[-1] == n_classes:
        return list(sizes)
    if len(sizes) >= 3 and (sizes[0] == n_in or sizes[-1] == n_classes):
        text = ",".join(map(str, sizes))
        raise InputError(f"--sizes {text} looks like all layer widths, but the data has {n_in} features per sample "
                         f"and {n_classes} classes: write {n_in},{','.join(map(str, sizes[1:-1]))},{n_classes}, "
                         f"or list only the hidden widths")
    return [n_in, *sizes, n_classes]


def describe_data(train_data, test_data):
    """``(n_in, n_classes)`` of a dataset, or a ``DataError`` if its arrays cannot be a training set."""
    x, y = np.asarray(train_data[0]), np.asarray(train_data[1])
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"the training features must be a non-empty 2-D array, one sample per row; got shape "
                        f"{x.shape}")
    labels = np.concatenate([y, np.asarray(test_data[1])])
    return x.shape[1], int(labels.max()) + 1


def run_folder(args) -> Path:
    """Where the run writes; refuses to overwrite another run's files without ``--force``."""
    if args.out is not None:
        out = args.out
    elif args.resume is not None:
        out = args.resume.parent
    else:
        stamp, out = time.strftime("%Y%m%d-%H%M%S"), None
        for suffix in [""] + [f"-{k}" for k in range(2, 100)]:
            out = Path("runs") / f"{stamp}{suffix}"
            if not out.exists():
                break
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder: name a folder for the run")
    continuing = args.resume is not None and out.resolve() == args.resume.parent.resolve()
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if existing and not (args.force or continuing):
        raise InputError(f"{out} already holds a run ({', '.join(existing)}): choose another --out, or add --force "
                         f"to replace it")
    return out


class Progress:
    """One tqdm bar per epoch on a terminal; nothing otherwise (the per-epoch lines are printed regardless)."""

    def __init__(self, enabled: bool, first_epoch: int, epochs: int):
        self.epoch, self.epochs = first_epoch, epochs
        self.tqdm = None
        if enabled:
            try:
                from tqdm import tqdm

                self.tqdm = tqdm
            except ImportError:
                pass
        self.bar = None

    def step(self, done: int, total: int) -> None:
        if self.tqdm is None:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=total, desc=f"epoch {self.epoch}/{self.epochs}", unit="batch", leave=False,
                                 dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """End the current epoch's bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.epoch += 1


def run(args) -> int:
    """Train; in a data-parallel job, any process's failure ends every process, each with its message."""
    comm = get_communicator(args.distributed, args.device)
    try:
        return run_on(args, comm)
    except BaseException as exc:
        if comm.size == 1:
            raise
        if not isinstance(exc, GpubpError):
            traceback.print_exc()
        print(f"gpubp train: error on rank {comm.rank} of {comm.size}: {exc}", file=sys.stderr, flush=True)
        comm.abort(2 if isinstance(exc, GpubpError) else 1)


def run_on(args, comm) -> int:
    root = comm.rank == 0
    say = print if root else (lambda *_, **__: None)  # only rank 0 talks and writes
    settings, resumed = settings_for(args)
    check_methods(settings, args)
    train_data, test_data = load_dataset(settings["data"], settings["data_dir"], settings["test_fraction"])
    n_in, n_classes = describe_data(train_data, test_data)
    if resumed is None:
        sizes = resolve_sizes(settings["sizes"], n_in, n_classes)
        net = Network(sizes, cost=settings["cost"], dtype=settings["dtype"], device=args.device, seed=settings["seed"],
                      init=settings["init"])
        history = []
    else:
        net, history = resumed
        if args.sizes is not None and resolve_sizes(args.sizes, n_in, n_classes) != list(net.sizes):
            raise InputError(f"--sizes differs from the checkpoint's {list(net.sizes)}: a resumed run keeps its "
                             f"network; drop --sizes or start a new run")
        if settings["epochs"] <= len(history):
            raise InputError(f"the checkpoint already holds {len(history)} epochs: pass --epochs greater than "
                             f"{len(history)} to train further")
    settings["sizes"] = list(net.sizes)
    check_hyperparameters(settings["epochs"], settings["batch_size"], settings["lr"], len(train_data[1]))
    check_training_methods(settings["epochs"], settings["batch_size"], len(train_data[1]),
                           *(settings[key] for key in METHODS))
    held_out = check_validation_fraction(settings["validation_fraction"], len(train_data[1]), settings["batch_size"])
    every = settings["checkpoint_every"]
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise InputError(f"--checkpoint-every must be a whole number >= 0 (0: no checkpoints), got {every!r}")
    out = run_folder(args)
    checkpoint_path, model_path = out / "checkpoint.npz", out / "model.npz"

    backend = net.backend
    say(f"device: {backend.name} — {backend.device_name} ({backend.reason})")
    if comm.size > 1:
        say(f"data-parallel: {comm.size} processes over {comm.kind}, each a share of every mini-batch")
    rule = settings["optimizer"] + (f" (μ = {settings['momentum']:g})" if settings["optimizer"] in
                                    ("momentum", "nesterov") else "")
    l2 = f", L2 λ = {settings['l2']:g}" if settings["l2"] else ""
    say(f"network: sizes {list(net.sizes)}, {net.cost.name} cost, {net.dtype.name}, {net.init} init; {rule}{l2}, "
        f"η = {settings['lr']:g}, batch {settings['batch_size']}, {settings['epochs']} epochs, seed {settings['seed']}")
    say(f"data: {settings['data']}, {len(train_data[1])} training and {len(test_data[1])} test samples"
        + (f", {held_out} of them held out for validation" if held_out else ""))
    if settings["schedule"] != "constant" or settings["warmup_epochs"] or settings["patience"]:
        say(f"methods: {settings['schedule']} schedule, {settings['warmup_epochs']} warm-up epochs"
            + (f", plateau: η / {settings['plateau_factor']:g} after {settings['plateau_patience']} epochs"
               if settings["schedule"] == "plateau" else "")
            + (f", early stopping after {settings['patience']} epochs without improvement"
               if settings["patience"] else ""))
    if history:
        say(f"resuming after epoch {len(history)} from {args.resume}")
    progress = Progress(root and not args.quiet and sys.stderr.isatty(), len(history) + 1, settings["epochs"])
    steps = -(-(len(train_data[1]) - held_out) // settings["batch_size"])  # per epoch, for the all-reduce time
    run_history = list(history)
    last_checkpoint = len(history) if resumed else None

    def after_epoch(stats):
        nonlocal last_checkpoint
        if not root:
            return
        progress.close()
        allreduce = "" if stats.allreduce_seconds is None else \
            f"  all-reduce {1e3 * stats.allreduce_seconds / steps:.2f} ms/step"
        validation = "" if stats.validation_accuracy is None else \
            f"validation cost {stats.validation_cost:.4f} accuracy {stats.validation_accuracy:.4f}  "
        eta = f"η {stats.eta:.3g}  " if settings["schedule"] != "constant" or settings["warmup_epochs"] else ""
        print(f"epoch {stats.epoch:3d}/{settings['epochs']}  cost {stats.training_cost:.4f}  {validation}"
              f"test accuracy {stats.test_accuracy:.4f}  {eta}{stats.samples_per_s:,.0f} samples/s{allreduce}",
              flush=True)
        run_history.append(stats)
        out.mkdir(parents=True, exist_ok=True)
        write_metrics(out / "metrics.jsonl", run_history)
        if every and stats.epoch % every == 0:
            save_checkpoint(checkpoint_path, net, run_history, settings)
            last_checkpoint = stats.epoch

    try:
        train(net, train_data, settings["epochs"], settings["batch_size"], settings["lr"], test_data=test_data,
              optimizer=settings["optimizer"], momentum=settings["momentum"], lmbda=settings["l2"],
              on_epoch=after_epoch, on_progress=progress.step, history=history, comm=comm,
              **{key: settings[key] for key in METHODS})
    except TrainingDiverged as exc:
        progress.close()
        kept = (f"the checkpoint of epoch {last_checkpoint} ({checkpoint_path}) is intact"
                if last_checkpoint else "no model or checkpoint was written for this run")
        raise GpubpError(f"{exc}; {kept}") from None
    if not root:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    save(net, model_path)
    plotted = plot_learning_curve(out / "learning_curve.png", run_history, net.best_epoch)
    final = kept = run_history[-1]
    if net.best_epoch is not None:
        kept = run_history[net.best_epoch - 1]
        stopped = "stopped early" if final.epoch < settings["epochs"] else "finished"
        print(f"{stopped} after epoch {final.epoch}; the model is epoch {kept.epoch}'s, the best on validation "
              f"(accuracy {kept.validation_accuracy:.4f})")
    print(f"done: test accuracy {kept.test_accuracy:.4f} (best {max(h.test_accuracy for h in run_history):.4f}) "
          f"after {final.epoch} epochs, {sum(h.seconds for h in run_history):.2f} s of training")
    print(f"wrote {model_path}, {out / 'metrics.jsonl'}"
          + (f", {out / 'learning_curve.png'}" if plotted else f"; no plot: {PLOT_HINT}"))
    return 0
