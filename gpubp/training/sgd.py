"""The SGD loop: epochs of shuffled mini-batches on the device, with a per-epoch history and early stopping.

The training set is checked and copied to the device once. Each epoch draws its shuffle order on the host from
the network's seeded generator (so CPU and GPU runs see the same order), gathers the rows into a second device
buffer in that order, and steps through contiguous slices of it: no copy, no allocation and no host sync per
step; the step sizes come from the schedule as a list of host floats. The clock stops (after a device sync)
before the metrics the user asked for are computed, so ``seconds`` and ``samples_per_s`` measure training alone.

With ``validation_fraction`` f > 0 a fixed share of the training rows (the same for every seed, run and resume;
drawn by its own generator, so the shuffles are those of a run without it) is held out and scored after every
epoch. With ``patience`` N, training stops once validation accuracy has not improved for N epochs, and the
network ends with the weights of its best epoch (``net.best_epoch``), whether it stopped early or not. Those
weights are kept as one device copy of the flat parameter buffer, taken whenever validation accuracy improves
(a device-to-device copy of the parameters, not a host sync). They are the parameters alone: the update
rule's state (``net.optimizer``: velocity, moments) is never swapped, so it always belongs to the last epoch's
weights, and a call that continues the history swaps those back and goes on exactly as an uninterrupted run,
while a new run from the best weights starts the rule afresh, as every new run does.
Everything needed to resume exactly (best weights and counters, the plateau's η) lives in one
``TrainingState`` on the network (``net.training_state``), which checkpoints save beside the optimizer's state.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from numbers import Integral, Real

import numpy as np

from ..distributed import LocalCommunicator
from ..errors import InputError, TrainingDiverged
from .optimizers import prepare_optimizer
from .schedules import (
    PLATEAU_FACTOR,
    PLATEAU_PATIENCE,
    Plateau,
    Schedule,
    check_plateau,
    check_schedule,
    check_warmup_epochs,
)

VALIDATION_SEED = 1729  # the hold-out is a property of the data, not of the run: one fixed generator for it


@dataclass
class EpochStats:
    """One row of the history ``SGD`` returns. Costs are the lecture's C = (1/n) Σ_x C_x."""

    epoch: int
    seconds: float
    samples_per_s: float
    training_cost: float | None = None
    test_cost: float | None = None
    test_accuracy: float | None = None
    allreduce_seconds: float | None = None  # data-parallel runs: time this process spent summing gradients
    validation_cost: float | None = None
    validation_accuracy: float | None = None
    eta: float | None = None  # the step size in force at the epoch's last step

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingState:
    """What training carries from epoch to epoch besides the weights, the generator and the optimizer's buffers."""

    plateau: Plateau | None = None  # the plateau schedule's η and counter
    best_accuracy: float | None = None  # the best validation accuracy so far, reached in best_epoch
    best_epoch: int | None = None
    stale_epochs: int = 0  # epochs since best_epoch
    best_parameters: object = field(default=None, repr=False)  # device copy of the flat parameters at best_epoch
    restored: bool = False  # True: the network holds best_parameters, and best_parameters the last epoch's weights

    def to_json(self) -> dict:
        """Everything but ``best_parameters`` (an array, saved beside it) as JSON-ready values."""
        values = {k: v for k, v in asdict(self).items() if k != "best_parameters"}
        values["plateau"] = asdict(self.plateau) if self.plateau is not None else None
        return values

    @classmethod
    def from_json(cls, values: dict, best_parameters=None) -> TrainingState:
        plateau = Plateau(**values.pop("plateau")) if values.get("plateau") is not None else None
        values.pop("plateau", None)
        return cls(plateau=plateau, best_parameters=best_parameters, **values)


def check_hyperparameters(epochs, mini_batch_size, eta, n_samples: int) -> None:
    """An ``InputError`` naming the bad knob, if any."""
    if isinstance(epochs, bool) or not isinstance(epochs, Integral) or epochs < 1:
        raise InputError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, Integral) or mini_batch_size < 1:
        raise InputError(f"the mini-batch size must be a whole number >= 1, got {mini_batch_size!r}")
    if mini_batch_size > n_samples:
        raise InputError(
            f"the mini-batch size {mini_batch_size} is larger than the training set "
            f"({n_samples} samples): choose at most {n_samples}"
        )
    if isinstance(eta, bool) or not isinstance(eta, Real) or not math.isfinite(eta) or eta <= 0:
        raise InputError(f"the learning rate eta must be a finite number > 0, got {eta!r}")


def check_validation_fraction(fraction, n_samples: int, mini_batch_size) -> int:
    """The number of rows ``fraction`` holds out of ``n_samples`` (0 for a fraction of 0), or an ``InputError``."""
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0 <= fraction < 1:
        raise InputError(f"the validation fraction must lie in [0, 1) (0: no validation data), got {fraction!r}")
    held_out = round(n_samples * fraction)
    if fraction and held_out < 1:
        raise InputError(
            f"a validation fraction of {fraction:g} holds out no sample of {n_samples}: choose at "
            f"least {1 / n_samples:.2g}"
        )
    if n_samples - held_out < mini_batch_size:
        raise InputError(
            f"a validation fraction of {fraction:g} leaves {n_samples - held_out} training samples, "
            f"fewer than one mini-batch of {mini_batch_size}: hold out less or use smaller batches"
        )
    return held_out


def check_patience(patience) -> None:
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, Integral) or patience < 1):
        raise InputError(
            f"patience must be a whole number of epochs >= 1 (or None: no early stopping), got {patience!r}"
        )


def check_training_methods(
    epochs,
    mini_batch_size,
    n_samples,
    schedule,
    warmup_epochs,
    plateau_factor,
    plateau_patience,
    validation_fraction,
    patience,
) -> str:
    """Each knob of the schedule, validation and early stopping checked; returns the schedule's name."""
    schedule = check_schedule(schedule)
    check_warmup_epochs(warmup_epochs, epochs)
    check_plateau(plateau_factor, plateau_patience)
    held_out = check_validation_fraction(validation_fraction, n_samples, mini_batch_size)
    check_patience(patience)
    for needed, what in ((schedule == "plateau", "the plateau schedule"), (patience is not None, "patience")):
        if needed and not held_out:
            raise InputError(
                f"{what} watches the validation accuracy, but there is no validation data: "
                f"hold some out with a validation fraction such as 0.1"
            )
    return schedule


def validation_split(n_samples: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(training rows, validation rows)``: the row indices of a fixed, seeded hold-out, each in ascending order."""
    order = np.random.default_rng(VALIDATION_SEED).permutation(n_samples)
    held_out = round(n_samples * fraction)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


def train(
    net,
    training_data,
    epochs,
    mini_batch_size,
    eta,
    test_data=None,
    *,
    optimizer="sgd",
    momentum=0.9,
    betas=(0.9, 0.999),
    eps=1e-8,
    lmbda=0.0,
    schedule="constant",
    warmup_epochs=0,
    plateau_factor=PLATEAU_FACTOR,
    plateau_patience=PLATEAU_PATIENCE,
    validation_fraction=0.0,
    patience=None,
    monitor_training_cost=True,
    on_epoch=None,
    on_progress=None,
    history=(),
    comm=None,
) -> list[EpochStats]:
    """Train ``net`` in place up to epoch ``epochs``; return one ``EpochStats`` per epoch.

    ``training_data`` and ``test_data`` are ``(X, y)`` pairs (see ``Network.prepare``); the caller's arrays are
    never written to. ``on_epoch(stats)`` is called after each epoch, ``on_progress(steps_done, steps)`` about a
    hundred times per epoch. ``history`` holds the epochs already trained (to resume from a checkpoint: the
    network's weights and generator must be those saved after its last epoch). Weights that become NaN or
    infinite raise ``TrainingDiverged`` at the end of that epoch, before ``on_epoch``.

    ``optimizer`` is the update rule (``sgd``, ``momentum``, ``nesterov``, ``adam``; see ``optimizers.py``) with
    its ``momentum`` μ or Adam's ``betas`` and ``eps``; ``lmbda`` is network2's L2 strength λ (torch's
    ``weight_decay`` = λ/n). The rule's state is kept in ``net.optimizer`` and carries on when ``history``
    continues a run with the same rule; otherwise training starts with a fresh state.

    With a communicator (``gpubp.distributed``), this process trains on its share of every mini-batch and the
    shares' gradients are summed: every process ends with the network one process would train. Only rank 0
    computes the costs and accuracy (the others' ``EpochStats`` leave them ``None``); every process scores the
    validation data, so that all of them take the same early-stopping and plateau decisions.

    ``schedule``, ``warmup_epochs``, ``plateau_factor`` and ``plateau_patience`` choose the step sizes (see
    ``gpubp.training.schedules``); ``validation_fraction`` and ``patience`` the hold-out and early stopping (see
    the module docstring).
    """
    comm = comm or LocalCommunicator()
    x, y, labels = net.prepare(training_data, "training data")
    check_hyperparameters(epochs, mini_batch_size, eta, x.shape[0])
    schedule = check_training_methods(
        epochs,
        mini_batch_size,
        x.shape[0],
        schedule,
        warmup_epochs,
        plateau_factor,
        plateau_patience,
        validation_fraction,
        patience,
    )
    xp, validation = net.backend.xp, None
    if validation_fraction:
        rows, held_out = (net.backend.asarray(r) for r in validation_split(x.shape[0], validation_fraction))
        validation = (xp.take(x, held_out, axis=0), xp.take(y, held_out, axis=0), xp.take(labels, held_out))
        x, y, labels = xp.take(x, rows, axis=0), xp.take(y, rows, axis=0), xp.take(labels, rows)
    n = x.shape[0]
    test = net.prepare(test_data, "test data") if test_data is not None else None
    # L2's n is the number of samples trained on: the training set after the validation hold-out
    rule = prepare_optimizer(net, optimizer, momentum, betas, eps, lmbda, n, continuing=bool(history))
    x_epoch, y_epoch = xp.empty_like(x), xp.empty_like(y)
    history = list(history)
    state = _training_state(net, history, schedule, float(eta), patience)
    net.optimizer = rule  # only now: a run refused above leaves the network's optimizer as it was
    steps = Schedule(schedule, eta, epochs, -(-n // mini_batch_size), warmup_epochs, state.plateau)
    for epoch in range(len(history) + 1, epochs + 1):
        communicated = comm.seconds
        etas = steps.epoch_etas(epoch)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging epoch is reported below, not warned about
            seconds = _epoch(net, x, y, x_epoch, y_epoch, mini_batch_size, etas, on_progress, comm)
        if not net.is_finite():
            raise TrainingDiverged(epoch, eta)
        stats = EpochStats(epoch, seconds, n / seconds, eta=etas[-1])
        if comm.size > 1:
            stats.allreduce_seconds = comm.seconds - communicated
        if comm.rank == 0 and monitor_training_cost:
            stats.training_cost = net.metrics(x, y, labels)[0]
        if comm.rank == 0 and test is not None:
            stats.test_cost, correct = net.metrics(*test)
            stats.test_accuracy = correct / test[0].shape[0]
        if validation is not None:
            stats.validation_cost, correct = net.metrics(*validation)
            stats.validation_accuracy = correct / validation[0].shape[0]
            improved = _remember_if_best(net, state, epoch, stats.validation_accuracy)
            if state.plateau is not None:
                state.plateau.end_epoch(improved, plateau_factor, plateau_patience)
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
        if patience is not None and state.stale_epochs >= patience:
            break
    if patience is not None and state.best_epoch != history[-1].epoch:
        _swap_best(net, state)  # the network ends with its best weights; the last ones are kept to continue
    net.best_epoch = state.best_epoch if patience is not None else None
    return history


def _training_state(net, history, schedule: str, eta: float, patience) -> TrainingState:
    """The network's state where ``history`` continues its training, else a fresh one; set on ``net``."""
    state = net.training_state if history and net.training_state is not None else TrainingState()
    if patience is not None and state.stale_epochs >= patience:
        raise InputError(
            f"this run stopped early after epoch {history[-1].epoch}: validation accuracy had not "
            f"improved for {patience} epochs since epoch {state.best_epoch}; start a new run to train "
            f"longer"
        )
    if state.restored:
        _swap_best(net, state)  # continue from the last epoch's weights, as an uninterrupted run would
    if schedule != "plateau":
        state.plateau = None
    elif state.plateau is None:
        state.plateau = Plateau()
    net.training_state = state
    return state


def _remember_if_best(net, state: TrainingState, epoch: int, accuracy: float) -> bool:
    """Record the epoch's validation accuracy, and copy the weights if it is the best so far."""
    if state.best_accuracy is not None and accuracy <= state.best_accuracy:
        state.stale_epochs += 1
        return False
    state.best_accuracy, state.best_epoch, state.stale_epochs = accuracy, epoch, 0
    flat = net._parameters.flat
    if state.best_parameters is None:
        state.best_parameters = net.backend.xp.empty_like(flat)
    net.backend.xp.copyto(state.best_parameters, flat)  # one device copy, no host sync
    return True


def _swap_best(net, state: TrainingState) -> None:
    """Exchange the network's weights with the best ones (at the end of a run, or to continue after it)."""
    flat = net._parameters.flat
    last = flat.copy()
    net.backend.xp.copyto(flat, state.best_parameters)
    net.backend.xp.copyto(state.best_parameters, last)
    state.restored = not state.restored


def _epoch(net, x, y, x_epoch, y_epoch, mini_batch_size, etas, on_progress, comm) -> float:
    """One pass over the training set in a fresh shuffle order, step k with step size ``etas[k]``; returns its
    duration in seconds."""
    backend, n = net.backend, x.shape[0]
    steps = -(-n // mini_batch_size)
    progress_every = max(1, steps // 100)
    backend.synchronize()
    start = time.perf_counter()
    order = backend.asarray(net.rng.permutation(n))
    backend.take_rows(x, order, x_epoch)
    backend.take_rows(y, order, y_epoch)
    for step, (k, eta) in enumerate(zip(range(0, n, mini_batch_size), etas), start=1):
        rows = min(mini_batch_size, n - k)
        first, last = comm.shard(rows)  # this process's rows of the mini-batch
        net.update_mini_batch(x_epoch[k + first : k + last], y_epoch[k + first : k + last], eta, rows, comm)
        if on_progress is not None and (step % progress_every == 0 or step == steps):
            on_progress(step, steps)
    backend.synchronize()
    return time.perf_counter() - start
