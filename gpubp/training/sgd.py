"""The SGD loop: epochs of shuffled mini-batches on the device, with a per-epoch history.

The training set is checked and copied to the device once. Each epoch draws its shuffle order on the host from
the network's seeded generator (so CPU and GPU runs see the same order), gathers the rows into a second device
buffer in that order, and steps through contiguous slices of it: no copy, no allocation and no host sync per
step. The clock stops (after a device sync) before the metrics the user asked for are computed, so ``seconds``
and ``samples_per_s`` measure training alone.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from numbers import Integral, Real

import numpy as np

from ..distributed import LocalCommunicator
from ..errors import InputError, TrainingDiverged
from .optimizers import prepare_optimizer


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

    def as_dict(self) -> dict:
        return asdict(self)


def check_hyperparameters(epochs, mini_batch_size, eta, n_samples: int) -> None:
    """An ``InputError`` naming the bad knob, if any."""
    if isinstance(epochs, bool) or not isinstance(epochs, Integral) or epochs < 1:
        raise InputError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, Integral) or mini_batch_size < 1:
        raise InputError(f"the mini-batch size must be a whole number >= 1, got {mini_batch_size!r}")
    if mini_batch_size > n_samples:
        raise InputError(f"the mini-batch size {mini_batch_size} is larger than the training set "
                         f"({n_samples} samples): choose at most {n_samples}")
    if isinstance(eta, bool) or not isinstance(eta, Real) or not math.isfinite(eta) or eta <= 0:
        raise InputError(f"the learning rate eta must be a finite number > 0, got {eta!r}")


def train(net, training_data, epochs, mini_batch_size, eta, test_data=None, *, optimizer="sgd", momentum=0.9,
          betas=(0.9, 0.999), eps=1e-8, lmbda=0.0, monitor_training_cost=True, on_epoch=None, on_progress=None,
          history=(), comm=None) -> list[EpochStats]:
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
    computes the costs and accuracy (the others' ``EpochStats`` leave them ``None``).
    """
    comm = comm or LocalCommunicator()
    x, y, labels = net.prepare(training_data, "training data")
    n = x.shape[0]
    check_hyperparameters(epochs, mini_batch_size, eta, n)
    test = net.prepare(test_data, "test data") if test_data is not None else None
    net.optimizer = prepare_optimizer(net, optimizer, momentum, betas, eps, lmbda, n, continuing=bool(history))
    xp = net.backend.xp
    x_epoch, y_epoch = xp.empty_like(x), xp.empty_like(y)
    eta = float(eta)
    history = list(history)
    for epoch in range(len(history) + 1, epochs + 1):
        communicated = comm.seconds
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging epoch is reported below, not warned about
            seconds = _epoch(net, x, y, x_epoch, y_epoch, mini_batch_size, eta, on_progress, comm)
        if not net.is_finite():
            raise TrainingDiverged(epoch, eta)
        stats = EpochStats(epoch, seconds, n / seconds)
        if comm.size > 1:
            stats.allreduce_seconds = comm.seconds - communicated
        if comm.rank == 0 and monitor_training_cost:
            stats.training_cost = net.metrics(x, y, labels)[0]
        if comm.rank == 0 and test is not None:
            stats.test_cost, correct = net.metrics(*test)
            stats.test_accuracy = correct / test[0].shape[0]
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
    return history


def _epoch(net, x, y, x_epoch, y_epoch, mini_batch_size, eta, on_progress, comm) -> float:
    """One pass over the training set in a fresh shuffle order; returns its duration in seconds."""
    backend, n = net.backend, x.shape[0]
    steps = -(-n // mini_batch_size)
    progress_every = max(1, steps // 100)
    backend.synchronize()
    start = time.perf_counter()
    order = backend.asarray(net.rng.permutation(n))
    backend.take_rows(x, order, x_epoch)
    backend.take_rows(y, order, y_epoch)
    for step, k in enumerate(range(0, n, mini_batch_size), start=1):
        rows = min(mini_batch_size, n - k)
        first, last = comm.shard(rows)  # this process's rows of the mini-batch
        net.update_mini_batch(x_epoch[k + first:k + last], y_epoch[k + first:k + last], eta, rows, comm)
        if on_progress is not None and (step % progress_every == 0 or step == steps):
            on_progress(step, steps)
    backend.synchronize()
    return time.perf_counter() - start
