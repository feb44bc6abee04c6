"""``gpubp train``: load a dataset, train with progress and per-epoch lines, and leave a complete run folder.

A run folder holds ``model.npz`` (written once training ends), ``metrics.jsonl`` (one line appended per epoch),
``learning_curve.png`` (with matplotlib) and, with ``--checkpoint-every N``, ``checkpoint.npz``: the full
training state, from which ``--resume`` continues to the very weights an uninterrupted run would reach. The
settings and the data are read and checked before the run folder is claimed (see ``run_folder.py``), and every
file is replaced atomically. ``--force`` replaces an earlier run in the folder: its files stay until the new run
has finished its first epoch, then all of them go, so the folder never mixes two runs, and a new run that fails
before then leaves no new folder and the earlier run whole; no file the run reads (its data, the checkpoint it
resumes) is ever one it writes or removes. The model and the checkpoint record the data's split and
fingerprint, and those of its sample weights, and ``--resume`` refuses data or weights that have changed since.
Ctrl-C, SIGTERM and a divergence end the run with one line saying what is intact.

A network with an identity output layer (``--output identity``) is a regression: the data's labels are read as
real-valued targets (never cut to classes), the output layer gets one neuron per target, and every line, the
metrics file and the plot report R² where a classifier's report accuracy.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from ..data import check_classes, check_targets_vary, read_configured
from ..data.config import FILE_SUFFIXES
from ..data.files import same_file
from ..data.weights import check_some_weight
from ..distributed import RankFailed, get_communicator, write_line
from ..errors import DataError, GpubpError, InputError, ModelFileError, TrainingDiverged
from ..model import save
from ..model.storage import read_npz
from ..network import Network
from ..training import Trainer, save_checkpoint
from ..training.config import VALIDATION_SEED, validation_split
from ..training.report import MetricsLog, describe_network, per_layer, plot_learning_curve, score_name
from .process import signals_deferred, stopped
from .run_folder import ANY_RUN_FILES, claim, claim_new, present
from .settings import CHECKPOINT_NAME, CONFIGS, SPLIT_ENTRY, checkpoint_file, given_values, in_flags, settings_for


def check_flags_apply(settings, args) -> None:
    """A ``SettingError`` for a flag given beside a choice that ignores it (``--momentum`` with sgd, say), even
    at the knob's default value, which the configuration alone would let pass."""
    given = given_values(args)
    for part, config in CONFIGS.items():
        values = getattr(settings, part)
        for name in config.ignored([n for n in given if n in config.knobs()], values.to_dict()):
            raise config.not_read(name, values.to_dict())


def resolve_sizes(sizes, n_in: int, n_out: int, outputs: str = "classes") -> list[int]:
    """``--sizes`` as all layer widths: hidden widths get the data's input and output widths around them
    (``outputs``: what the output width counts, classes or a regression's targets)."""
    if len(sizes) >= 2 and sizes[0] == n_in and sizes[-1] == n_out:
        return list(sizes)
    if len(sizes) >= 3 and (sizes[0] == n_in or sizes[-1] == n_out):
        text = ",".join(map(str, sizes))
        raise InputError(
            f"--sizes {text} looks like all layer widths, but the data has {n_in} features per sample "
            f"and {n_out} {outputs}: write {n_in},{','.join(map(str, sizes[1:-1]))},{n_out}, "
            f"or list only the hidden widths"
        )
    return [n_in, *sizes, n_out]


def describe_data(train_data, test_data, regression: bool = False):
    """``(n_in, n_out)`` of a dataset (``n_out``: its classes, or a regression's targets per row), or a
    ``DataError`` if its arrays cannot be a training set."""
    x, y = np.asarray(train_data[0]), np.asarray(train_data[1])
    if x.ndim != 2 or x.shape[0] == 0:
        raise DataError(f"the training features must be a non-empty 2-D array, one sample per row; got shape {x.shape}")
    if regression:
        return x.shape[1], check_targets_vary(y)
    return x.shape[1], check_classes(np.concatenate([y, np.asarray(test_data[1])]))


def run_of(model_path) -> str | None:
    """The ``run_id`` a model file was saved with (None for models from before run ids)."""
    arrays = read_npz(model_path, ModelFileError, "model file")
    return str(arrays["run_id"]) if "run_id" in arrays else None


def epochs_reached(folder: Path) -> int:
    """How many epochs the run in ``folder`` has recorded in its metrics file (0 where it has none)."""
    try:
        with open(folder / "metrics.jsonl", "rb") as metrics:
            return sum(1 for line in metrics if line.strip())
    except OSError:
        return 0


def run_inputs(data, checkpoint=None) -> list[tuple]:
    """Every file a run reads, ``(path, what)``: its data (a file, not a named dataset), its sample weights, and the
    checkpoint it resumes (``data``: the run's ``DataConfig``)."""
    data_file = data.data if Path(data.data).suffix.lower() in FILE_SUFFIXES else None
    return [
        (data_file, "its data (--data)"),
        (data.weights, "its sample weights (--weights)"),
        (checkpoint, "the checkpoint it resumes (--resume)"),
    ]


def check_inputs_are_kept(out: Path, inputs, continuing: bool = False) -> None:
    """Refuse a run folder where a file that a run of either command writes or removes there (``--force`` replaces
    both) is one of the run's ``inputs`` (``run_inputs``), whatever the spelling, even with ``--force``; the
    checkpoint of a run resumed in its own folder (``continuing``) is the one file that the run replaces by design,
    with its next checkpoint."""
    names = [name for name in ANY_RUN_FILES if "*" not in name] + present(out, [f for f in ANY_RUN_FILES if "*" in f])
    for name in names:
        for source, what in inputs:
            if source is None or (continuing and name == CHECKPOINT_NAME and what.endswith("(--resume)")):
                continue
            if same_file(out / name, source):
                spelled = "" if os.path.abspath(out / name) == os.path.abspath(source) else f" (that is {source})"
                raise InputError(
                    f"a run in {out} writes {out / name}{spelled}, which this run reads as {what}: choose another "
                    f"--out, or move that file"
                )


def claim_run_folder(args, epochs, inputs, resumed_run=None, command="train"):
    """The claimed run folder of ``command``; refuses one where the run would write over one of its ``inputs``
    (``run_inputs``), one holding another run's files (of either command) without ``--force``, a resume into a
    folder whose model is of another run than the checkpoint (``resumed_run``: the checkpoint's run id), and a
    resume to fewer ``epochs`` than the model beside the checkpoint has already reached."""
    if args.out is None and args.resume is None:
        return claim_new(Path("runs"), time.strftime("%Y%m%d-%H%M%S"), command), []
    out = args.out if args.out is not None else args.resume.parent
    continuing = args.resume is not None and out.resolve() == args.resume.parent.resolve()
    check_inputs_are_kept(out, inputs, continuing)
    folder = claim(out, command=command)
    if (
        continuing
        and resumed_run is not None
        and (out / "model.npz").exists()
        and run_of(out / "model.npz") != resumed_run
    ):
        folder.release()
        raise InputError(
            f"{out / 'model.npz'} is not from the run of {args.resume}, and resuming would replace it: "
            f"resume into another folder with --out, or move that model away"
        )
    reached = epochs_reached(out) if continuing and (out / "model.npz").exists() else 0
    if reached > epochs and not args.force:
        folder.release()
        raise InputError(
            f"{out} already holds this run's model after epoch {reached}, and resuming to epoch {epochs} "
            f"would replace it with an earlier one: pass --epochs {reached} or more, resume into another "
            f"folder with --out, or add --force to replace it"
        )
    earlier = [] if continuing else folder.run_files()
    if earlier and not args.force:
        folder.release()
        raise InputError(
            f"{out} already holds a run ({', '.join(earlier)}): choose another --out, or add --force to replace it"
        )
    return folder, earlier


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
            self.bar = self.tqdm(
                total=total, desc=f"epoch {self.epoch}/{self.epochs}", unit="batch", leave=False, dynamic_ncols=True
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """End the current epoch's bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.epoch += 1


def train_command(args) -> int:
    """``gpubp train``; in a data-parallel job, any process's failure ends every process (``end_job``)."""
    comm = get_communicator(args.distributed, args.device)
    try:
        return start_run(args, comm)
    except BaseException as exc:
        if comm.size == 1:
            raise
        end_job(comm, exc)


def end_job(comm, exc: BaseException, command: str = "train") -> None:
    """End a data-parallel job after ``exc`` on this rank, with one line that rank 0 writes: its own failure, or
    the one another rank handed it (``gpubp.distributed``), followed by the state of the run's files."""
    if isinstance(exc, RankFailed):  # another rank's line, to which rank 0 added what is intact
        line, code = f"{exc}", exc.code
    elif isinstance(exc, GpubpError):
        line, code = f"gpubp {command}: error on rank {comm.rank} of {comm.size}: {in_flags(exc)}", 2
    elif isinstance(exc, KeyboardInterrupt):
        stop = stopped(exc)
        why = "interrupted" if stop.signum == signal.SIGINT else f"stopped by {signal.Signals(stop.signum).name}"
        line, code = f"gpubp {command}: rank {comm.rank} of {comm.size} {why}", stop.exit_status
        line += f"; {stop.state}" if stop.state else ""
    else:  # a bug: its traceback here, on this rank's stderr, and its one line from rank 0
        traceback.print_exc()
        sys.stderr.flush()
        line, code = f"gpubp {command}: error on rank {comm.rank} of {comm.size}: {type(exc).__name__}: {exc}", 1
    if comm.rank == 0:
        write_line(line)
        comm.abort(code)
    comm.report_failure(line, code)


class RunFiles:
    """What the run has written into its claimed folder, and what it says about them when it stops early."""

    def __init__(self, folder, earlier, settings, history, resumed_from, regression=False):
        self.folder, self.earlier, self.settings = folder, earlier, settings
        self.metrics = MetricsLog(folder.path / "metrics.jsonl", history, regression)
        self.checkpoint = (resumed_from, len(history)) if resumed_from is not None else None
        self.model = None

    def after_epoch(self, trainer, stats) -> None:
        with signals_deferred():  # a stop lands between epochs, with the files and self.checkpoint in step
            if self.earlier:  # --force: the earlier run goes once this one has an epoch of its own to show
                self.folder.remove(self.earlier)
                self.earlier = []
            self.metrics.append(stats)
            every = self.settings.run.checkpoint_every
            if every and stats.epoch % every == 0:
                path = self.folder.path / CHECKPOINT_NAME
                save_checkpoint(path, trainer, self.settings.to_store())
                self.metrics.sync()
                self.checkpoint = (path, stats.epoch)

    def save_model(self, net) -> None:
        path = self.folder.path / "model.npz"
        save_run_model(path, net, self.settings)
        self.metrics.close()
        self.model = path

    def state(self, smaller_lr=None) -> str:
        """Which of this run's files can be used: the model, else the last checkpoint (and how to continue)."""
        if self.model is not None:
            return f"the model is saved in {self.model}"
        if self.checkpoint is not None:
            path, epoch = self.checkpoint
            lr = "" if smaller_lr is None else f" --lr {smaller_lr:g}"
            return (
                f"the checkpoint of epoch {epoch} ({path}) is intact: gpubp train --resume {path}{lr} continues from it"
            )
        hint = "" if self.settings.run.checkpoint_every else " (--checkpoint-every N writes one to resume from)"
        earlier = f"; the earlier run's files in {self.folder.path} are untouched" if self.earlier else ""
        return f"no model or checkpoint was written for this run{hint}{earlier}"


def save_run_model(path, net, settings) -> None:
    """``net`` saved as a run's model: with the run's id, the record of its data's split and whether it ran in
    TF32 (what ``gpubp evaluate`` and ``--resume`` read back)."""
    extra = {
        "run_id": np.array(settings.run_id),
        SPLIT_ENTRY: np.array(json.dumps(settings.data_split.to_json())),
        "tf32": np.array(uses_tf32(net)),
    }
    save(net, path, extra)


def read_data(settings):
    """The run's dataset, whether it is a regression, and the widths ``(n_in, n_out)`` its data gives."""
    regression = settings.network.output_layer == "identity"
    dataset = read_configured(settings.data, regression)
    return dataset, regression, describe_data(dataset.train, dataset.test, regression)


def check_weighted_rows(dataset, settings, held_out: int) -> None:
    """Refuse sample weights that leave the rows trained on (after the test split and the hold-out) no weight."""
    if dataset.weights is None:
        return
    kept = validation_split(len(dataset.train[1]), settings.training.validation_fraction)[0]
    left = " left after the validation hold-out" if held_out else ""
    check_some_weight(dataset.weights[kept], settings.data.weights, f"the {len(kept)} training rows{left}")


def start_run(args, comm) -> int:
    """Read the settings and the data, build the network (or take the checkpoint's, on the same data), check that
    the run fits in memory, claim the run folder (rank 0 only: only rank 0 talks and writes), then train and
    report."""
    if args.resume is not None:
        args.resume = checkpoint_file(args.resume)
    settings, resumed = settings_for(args)
    check_flags_apply(settings, args)
    data = settings.data
    dataset, regression, (n_in, n_out) = read_data(settings)
    train_data, test_data = dataset.train, dataset.test
    outputs = "targets" if regression else "classes"
    if resumed is None:
        sizes = resolve_sizes(settings.sizes, n_in, n_out, outputs)
        net = Network(sizes, device=args.device, **settings.network.to_dict())
        net.labels = dataset.classes
        trainer = Trainer(net)
    else:
        trainer = resumed[0]
        check_unchanged(settings.data_split, dataset.split, data, args.resume)
        if args.sizes is not None and resolve_sizes(args.sizes, n_in, n_out, outputs) != list(trainer.net.sizes):
            raise InputError(
                f"--sizes differs from the checkpoint's {list(trainer.net.sizes)}: a resumed run keeps its network; "
                f"drop --sizes or start a new run"
            )
        if settings.training.epochs <= len(trainer.history):
            raise InputError(
                f"the checkpoint already holds {len(trainer.history)} epochs: pass --epochs greater than "
                f"{len(trainer.history)} to train further"
            )
    settings.sizes = list(trainer.net.sizes)
    held_out = settings.training.rows(len(train_data[1]))[1]
    check_weighted_rows(dataset, settings, held_out)
    settings.data_split = dataset.split.holding_out(settings.training.validation_fraction, held_out, VALIDATION_SEED)
    writes = comm.rank == 0  # rank 0 saves the model, and the checkpoints
    checkpoints = writes and bool(settings.run.checkpoint_every)
    trainer.check_memory(settings.training, train_data, test_data, comm=comm, saves=writes, checkpoints=checkpoints)
    data = (train_data, test_data, held_out, dataset.weights)
    if comm.rank != 0:
        return train_and_report(args, comm, settings, trainer, data, None)
    inputs = run_inputs(settings.data, args.resume)
    folder, earlier = claim_run_folder(args, settings.training.epochs, inputs, resumed[1] if resumed else None)
    try:
        files = RunFiles(folder, earlier, settings, trainer.history, args.resume if resumed else None, regression)
        return train_and_report(args, comm, settings, trainer, data, files)
    finally:
        folder.release()


def check_unchanged(recorded, current, data, checkpoint) -> None:
    """Refuse to resume on data (a ``DataConfig``) or sample weights other than the run's, saying what changed; a
    checkpoint from before data records cannot tell, which a warning says."""
    if recorded is None:
        warnings.warn(
            f"{checkpoint} was written by a gpubp that recorded no fingerprint of its data, so whether {data.data} "
            f"has changed since cannot be checked",
            stacklevel=2,
        )
        return
    changed = recorded.differences(current, "the run's")
    if changed:
        raise InputError(
            f"{data.data} has changed since {checkpoint} was written: it has {'; and '.join(changed)}; resume with "
            f"the data the run started with, or start a new run",
            "header",
            "targets",
        )
    changed = recorded.weight_differences(current)
    if changed:
        raise InputError(
            f"{data.weights} has changed since {checkpoint} was written: it has {'; and '.join(changed)}; resume "
            f"with the weights the run started with, or start a new run"
        )


def uses_tf32(net) -> bool:
    """Whether the network's GEMMs run in TensorFloat-32 (float32 on a GPU with ``$CUPY_TF32`` set, which the run
    inherits from its environment)."""
    return net.backend.tf32 and net.dtype == np.float32


def tf32_note(net) -> str:
    if not uses_tf32(net):
        return ""
    return f"; float32 matrix products in TensorFloat-32 (CUPY_TF32={os.environ.get('CUPY_TF32')}, inherited)"


def device_line(net) -> str:
    backend = net.backend
    return f"device: {backend.name} — {backend.device_name} ({backend.reason})" + tf32_note(net)


def describe_run(args, comm, settings, trainer, train_data, test_data, held_out) -> list[str]:
    """The lines a run starts with: the device, the network and its training, the data, the methods."""
    net, training = trainer.net, settings.training
    lines = [device_line(net)]
    if comm.size > 1:
        lines.append(f"data-parallel: {comm.size} processes over {comm.kind}, each a share of every mini-batch")
    rule = training.optimizer + (
        f" (μ = {training.momentum:g})" if training.optimizer in ("momentum", "nesterov") else ""
    )
    l2 = f", L2 λ = {training.lmbda:g}" if training.lmbda else ""
    rates = training.dropout_rates(net.num_layers - 2)
    dropout = f", dropout {per_layer(rates)}" if any(rates) else ""
    lines.append(
        f"network: {describe_network(net)}; {rule}{l2}{dropout}, η = {training.eta:g}, batch "
        f"{training.mini_batch_size}, {training.epochs} epochs, seed {settings.network.seed}"
    )
    weighted = "" if settings.data.weights is None else f", weighted by {settings.data.weights}"
    lines.append(
        f"data: {settings.data.data}, {len(train_data[1])} training and {len(test_data[1])} test samples"
        + (f", {held_out} of them held out for validation" if held_out else "")
        + weighted
    )
    if training.schedule != "constant" or training.warmup_epochs or training.patience:
        plateau = (
            f", plateau: η / {training.plateau_factor:g} after {training.plateau_patience} epochs"
            if training.schedule == "plateau"
            else ""
        )
        stopping = f", early stopping after {training.patience} epochs without improvement" if training.patience else ""
        lines.append(
            f"methods: {training.schedule} schedule, {training.warmup_epochs} warm-up epochs{plateau}{stopping}"
        )
    if trainer.history:
        changed = [f"η = {lr:g} from epoch {epoch}" for epoch, lr in settings.lr_changes]
        lines.append(
            f"resuming after epoch {len(trainer.history)} from {args.resume}"
            + (f" ({', '.join(changed)})" if changed else "")
        )
    return lines


def train_and_report(args, comm, settings, trainer, data, files) -> int:
    """Train from the run's last epoch to ``--epochs``; rank 0 (with ``files``) reports and writes as it goes.
    ``data`` is the training and test data and how many training rows are held out for validation."""
    train_data, test_data, held_out, weights = data
    training = settings.training
    regression = trainer.net.regression
    score, field = score_name(regression)
    if files is not None:
        for line in describe_run(args, comm, settings, trainer, train_data, test_data, held_out):
            print(line)
        print(f"run folder: {files.folder.path}")
    progress = Progress(
        files is not None and not args.quiet and sys.stderr.isatty(), len(trainer.history) + 1, training.epochs
    )
    steps = -(-(len(train_data[1]) - held_out) // training.mini_batch_size)  # per epoch, for the all-reduce time

    def after_epoch(stats):
        progress.close()
        allreduce = (
            ""
            if stats.allreduce_seconds is None
            else f"  all-reduce {1e3 * stats.allreduce_seconds / steps:.2f} ms/step"
        )
        validation = (
            ""
            if stats.validation_cost is None
            else f"validation cost {stats.validation_cost:.4f} {score} {stats.validation_score:.4f}  "
        )
        eta = f"η {stats.eta:.3g}  " if training.schedule != "constant" or training.warmup_epochs else ""
        print(
            f"epoch {stats.epoch:3d}/{training.epochs}  cost {stats.training_cost:.4f}  {validation}"
            f"test {score} {getattr(stats, 'test_' + field):.4f}  {eta}{stats.samples_per_s:,.0f} samples/s"
            f"{allreduce}",
            flush=True,
        )
        files.after_epoch(trainer, stats)

    try:
        history = trainer.train(
            training,
            train_data,
            test_data,
            sample_weight=weights,
            on_epoch=after_epoch if files is not None else None,
            on_progress=progress.step,
            comm=comm,
        )
        if files is None:
            return 0
        files.save_model(trainer.net)
        no_plot = plot_learning_curve(files.folder.path / "learning_curve.png", history, history.best_epoch, regression)
    except TrainingDiverged as exc:
        progress.close()
        message = in_flags(exc)
        raise GpubpError(f"{message}; {files.state(exc.eta)}" if files else str(message)) from None
    except GpubpError as exc:  # a data-parallel job ends with rank 0's line saying what is intact
        progress.close()
        if files is None or comm.size == 1:
            raise
        raise exc.followed_by(files.state()) from None
    except KeyboardInterrupt as exc:
        progress.close()
        stop = stopped(exc)
        if files is not None:
            stop.state = files.state()
        raise stop from None
    finally:
        if files is not None:
            files.metrics.close()
    final = kept = history[-1]
    if history.best_epoch is not None:
        kept = history[history.best_epoch - 1]
        ended = "stopped early" if final.epoch < training.epochs else "finished"
        print(
            f"{ended} after epoch {final.epoch}; the model is epoch {kept.epoch}'s, the best on validation "
            f"({score} {kept.validation_score:.4f})"
        )
    tested = [getattr(h, "test_" + field) for h in history]
    print(
        f"done: test {score} {tested[kept.epoch - 1]:.4f} (best {max(tested):.4f}) after {final.epoch} epochs, "
        f"{sum(h.seconds for h in history):.2f} s of training"
    )
    out = files.folder.path
    print(
        f"wrote {files.model}, {out / 'metrics.jsonl'}"
        + (f"; no plot: {no_plot}" if no_plot else f", {out / 'learning_curve.png'}")
    )
    return 0
