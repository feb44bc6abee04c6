"""A training run: epochs of shuffled mini-batches on the device, with a per-epoch history and early stopping.

A ``Trainer`` holds everything a run carries besides the network's weights and generator: its configuration,
the update rule's state (``Optimizer``), the schedule's and early stopping's state (``TrainingState``) and the
``History``. ``Trainer.train`` continues wherever the run stands, so a run interrupted between epochs (a
``partial_fit``, a checkpoint) and continued ends exactly where an uninterrupted one would.

The training set is checked and copied to the device once; each epoch (``epoch.py``) shuffles it and steps through
its mini-batches with no copy, allocation or host sync per step. The clock stops (after a device sync) before the
metrics the user asked for are computed, so ``seconds`` and ``samples_per_s`` measure training alone.

With ``validation_fraction`` f > 0 a fixed share of the training rows (the same for every seed, run and resume;
drawn by its own generator, so the shuffles are those of a run without it) is held out and scored after every
epoch. With ``patience`` N, training stops once the validation score (accuracy, or R² for regression) has not
improved for N epochs, and the network ends with the weights of its best epoch (``History.best_epoch``), whether it
stopped early or not. Those weights are kept as one device copy of the flat parameter buffer, taken whenever the
score improves (a device-to-device copy of the parameters, not a host sync). They are the parameters alone: the
update rule's state (velocity, moments) is never swapped, so it always belongs to the last epoch's weights, and a
call that continues the run swaps those back and goes on exactly as an uninterrupted run would, while a new run
from the best weights starts the rule afresh, as every new run does.

Weights that are not finite before a run are refused; a run whose weights stop being finite raises
``TrainingDiverged`` naming the cause, and one that ends with a saturated hidden layer warns (``diagnosis.py``).
``all_or_nothing`` puts a run back as it was when a call fails, for callers that promise that (the estimator).
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from ..distributed import LocalCommunicator
from ..errors import InputError
from ..model.dropout import Dropout
from ..model.inputs import prepare, prepare_weights
from ..model.memory import (
    RunShape,
    check_fits,
    describe_training,
    is_copied,
    reports_out_of_memory,
    run_footprint,
    shape_of,
    training_advice,
)
from .config import TrainingConfig, held_out_rows, validation_split
from .diagnosis import SATURATION_ROWS, SaturationCheck, check_finite_before_training, diverged, negative_decay_warning
from .epoch import run_epoch
from .history import EpochStats, History, check_rows
from .optimizers import STATE_BUFFERS, Optimizer
from .schedules import Plateau, Schedule


@dataclass
class TrainingState:
    """What training carries from epoch to epoch besides the weights, the generator and the optimizer's buffers."""

    plateau: Plateau | None = None  # the plateau schedule's η and counter
    best_accuracy: float | None = None  # the best validation score so far (accuracy, or R²), reached in best_epoch
    best_epoch: int | None = None
    stale_epochs: int = 0  # epochs since best_epoch
    best_parameters: object = field(default=None, repr=False)  # device copy of the flat parameters at best_epoch
    restored: bool = False  # True: the network holds best_parameters, and best_parameters the last epoch's weights
    dropout_seed: int | None = None  # drawn once from the network's generator, the first time the run drops units

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


@dataclass
class Run:
    """One ``train`` call as ``Trainer.start`` lays it out: the rows trained on (device arrays; host weights and
    their device twin, or None), the held-out validation rows and the test data (device triples, or None), the
    masks, the schedule, the epochs still to train, and the checks."""

    config: TrainingConfig
    n: int  # rows trained on: the training set less the hold-out
    samples: float  # L2's n: those rows, counted by weight where they are weighted
    x: object
    y: object
    labels: object
    weights: np.ndarray | None
    device_weights: object
    validation: tuple | None
    test: tuple | None
    dropout: Dropout | None
    schedule: Schedule
    epochs: range
    steps_per_epoch: int
    saturation: SaturationCheck | None
    comm: object
    rows: np.ndarray | None = None  # a network array's member: the rows of x it trains on (None: all of x)
    held: np.ndarray | None = None  # and those it holds out (None: ``validation``)
    stopped: bool = False  # patience ran out: no more epochs

    def training_set(self, net) -> tuple:
        """The rows trained on, as device arrays ``(x, y, labels)``."""
        return (
            (self.x, self.y, self.labels)
            if self.rows is None
            else take_rows(net, (self.x, self.y, self.labels), self.rows)
        )

    def validation_set(self, net) -> tuple | None:
        """The held-out rows, as device arrays, or None."""
        if self.held is None:
            return self.validation
        return take_rows(net, (self.x, self.y, self.labels), self.held)


class Trainer:
    """One training run of ``net``: its configuration, update rule, schedule, early stopping and history.

    ``history`` holds the epochs already trained where the run continues one of which nothing else is known (the
    network's weights and generator must be those after its last epoch); the rule then starts afresh.
    """

    def __init__(self, net, history=()):
        self.net = net
        self.history = History(check_rows(history), trainer=self)
        self.config: TrainingConfig | None = None
        self.optimizer: Optimizer | None = None
        self.state = TrainingState()
        self.rng_after: dict | None = None  # the network's generator when this run last ended an epoch

    def check_latest(self) -> None:
        """Refuse to continue this run where its network has trained in another run since (its generator has moved
        on): the run's update-rule and early-stopping state no longer belong to the network's weights."""
        if self.rng_after is not None and self.net.rng.bit_generator.state != self.rng_after:
            raise InputError(
                "this history's run is not its network's latest: the network has trained in another run since, so "
                "the run's update-rule and early-stopping state no longer fit its weights; pass the History the "
                "latest SGD call returned, or none to start a new run"
            )

    def restart_early_stopping(self) -> None:
        """Continue from the weights the network holds (the best ones, after early stopping) with a fresh patience
        count and best score, as a new run would, keeping the epoch count, the update rule's state and dropout's
        seed (its masks' counter runs on with the steps, so they never repeat)."""
        self.state = TrainingState(dropout_seed=self.state.dropout_seed)

    @reports_out_of_memory(describe_training)
    def train(
        self,
        config: TrainingConfig,
        training_data,
        test_data=None,
        *,
        sample_weight=None,
        monitor_training_cost=True,
        on_epoch=None,
        on_progress=None,
        on_warning=None,
        comm=None,
    ) -> History:
        """Train the network in place up to epoch ``config.epochs``; return the history, one row per epoch.

        ``training_data`` and ``test_data`` are ``(X, y)`` pairs (see ``model/inputs.py``); the caller's arrays are
        never written to. ``sample_weight``: one weight >= 0 per training row, each scaling its row's share of the
        cost (see ``epoch.py``); the training cost is then the weighted mean. ``on_epoch(stats)`` is called after
        each epoch, ``on_progress(steps_done, steps)`` about a hundred times per epoch. Weights that become NaN or
        infinite raise ``TrainingDiverged`` at the end of that epoch, before ``on_epoch``; a run that ends with a
        saturated hidden layer calls ``on_warning`` (default ``warnings.warn``) with a ``TrainingWarning``.

        With a communicator (``gpubp.distributed``), this process trains on its share of every mini-batch and the
        shares' gradients are summed: every process ends with the network one process would train. Only rank 0
        computes the costs and scores (the others' ``EpochStats`` leave them ``None``); every process scores the
        validation data, so that all of them take the same early-stopping and plateau decisions.
        """
        comm = comm or LocalCommunicator()
        net = self.net
        self.check_memory(config, training_data, test_data, monitor_training_cost=monitor_training_cost, comm=comm)
        test = prepare(net, test_data, "test data") if test_data is not None else None
        # the data as given goes once its training rows are taken: the run keeps no second copy of the features
        run = self.start(config, prepare(net, training_data, "training data"), sample_weight, test, comm, on_warning)
        x_epoch, y_epoch = net.backend.xp.empty_like(run.x), net.backend.xp.empty_like(run.y)
        for epoch in run.epochs:
            etas = run.schedule.epoch_etas(epoch)
            communicated = comm.seconds
            with np.errstate(over="ignore", invalid="ignore"):  # a diverging epoch is reported below, not warned about
                seconds = run_epoch(
                    net,
                    self.optimizer,
                    run.x,
                    run.y,
                    x_epoch,
                    y_epoch,
                    config.mini_batch_size,
                    etas,
                    comm,
                    on_progress,
                    run.weights,
                    run.dropout,
                    (epoch - 1) * run.steps_per_epoch,
                )
            if not net.is_finite():
                raise diverged(epoch, config, run.samples, net, run.x)
            stats = self.end_epoch(run, epoch, seconds, etas[-1], monitor_training_cost)
            if comm.size > 1:
                stats.allreduce_seconds = comm.seconds - communicated
            if on_epoch is not None:
                on_epoch(stats)
            if run.stopped:
                break
        self.finish(run, on_warning)
        return self.history

    def start(self, config: TrainingConfig, data, sample_weight, test, comm, on_warning, rows=None, gather=True) -> Run:
        """Lay out a call's run over the device data ``(x, y, labels)`` (its rows ``rows``, host indices; None: all
        of them), their ``sample_weight`` (or None) and the device ``test`` data (or None): the hold-out, the checks,
        the update rule, dropout and the schedule. A run refused here leaves the trainer as it was.

        With ``gather`` the rows trained on and the hold-out are copied out of ``data`` once; without (a network
        array's member, whose data all members share) the run keeps their indices, and takes the rows it scores
        when it scores them."""
        net, history = self.net, self.history
        weights = None if sample_weight is None else prepare_weights(sample_weight, data[0].shape[0], "sample_weight")
        chosen = np.arange(data[0].shape[0]) if rows is None else np.asarray(rows)
        n, held_out = config.rows(len(chosen))
        rates = config.dropout_rates(net.num_layers - 2)
        if config.epochs <= len(history):
            raise InputError(
                f"the history already holds {len(history)} epochs, so training up to epoch {config.epochs} has "
                f"nothing to do: ask for more epochs than {len(history)}"
            )
        kept, held = chosen, None
        if held_out:
            kept_at, held_at = validation_split(len(chosen), config.validation_fraction)
            kept, held = chosen[kept_at], chosen[held_at]
        weights = None if weights is None else weights[kept]
        if weights is not None and not weights.any():
            if held_out:
                raise InputError(
                    f"the sample weights are 0 for every training row left after the validation hold-out of "
                    f"{{validation_fraction={config.validation_fraction:g}}}, so nothing would be learned: give "
                    f"some of those rows a positive weight",
                    "validation_fraction",
                )
            raise InputError(
                "the sample weights are 0 for every row this run trains on (its rows), so nothing would be learned: "
                "give some of those rows a positive weight"
            )
        validation = None
        if gather:
            validation = None if held is None else take_rows(net, data, held)
            x, y, labels = data if rows is None and held is None else take_rows(net, data, kept)
            kept = held = None
        else:
            x, y, labels = data
        del data  # with a hold-out, only the rows taken from it stay
        device_weights = None if weights is None else net.backend.asarray(weights, net.dtype)
        check_finite_before_training(net)
        state = self._continue_state(config)
        saturation = None
        if comm.rank == 0:
            saturation = SaturationCheck(net, x if kept is None else take_rows(net, (x,), kept[:SATURATION_ROWS])[0])
        # L2's n is the number of samples trained on: the training set after the validation hold-out, counted by
        # weight where rows are weighted (an integer weight is that many copies of the row, in L2 as in the cost)
        samples = n if weights is None else effective_samples(weights)
        warning = negative_decay_warning(config, samples) if comm.rank == 0 else None
        if warning is not None:
            (on_warning or warnings.warn)(warning)
        rule = self._optimizer_for(config, samples)
        if any(rates) and state.dropout_seed is None:  # once per run (checkpointed): a resumed run has the same masks
            # drawn from a jumped copy of the network's generator: the shuffles stay those of a run without dropout
            state.dropout_seed = int(np.random.Generator(net.rng.bit_generator.jumped()).integers(2**63))
        dropout = Dropout(rates, net.sizes[1:-1], config.mini_batch_size, state.dropout_seed) if any(rates) else None
        self.config, self.optimizer = config, rule  # only now: a run refused above leaves the trainer as it was
        steps_per_epoch = -(-n // config.mini_batch_size)
        schedule = Schedule(
            config.schedule, config.eta, config.epochs, steps_per_epoch, config.warmup_epochs, state.plateau
        )
        epochs = range(len(history) + 1, config.epochs + 1)
        return Run(config, n, samples, x, y, labels, weights, device_weights, validation, test, dropout, schedule,
                   epochs, steps_per_epoch, saturation, comm, kept, held)  # fmt: skip

    def end_epoch(
        self, run: Run, epoch: int, seconds: float, eta: float, monitor_training_cost: bool, training_cost=None
    ) -> EpochStats:
        """Score the epoch that just ended (the training cost, the test and validation data), let early stopping
        and the plateau schedule see it, and add it to the history; ``run.stopped`` tells whether patience ran
        out. ``training_cost``: the cost already computed (a network array scores members that share their rows
        in one pass), or None."""
        net, state, config, comm = self.net, self.state, run.config, run.comm
        stats = EpochStats(epoch, seconds, run.n / seconds, eta=eta)
        if comm.rank == 0 and monitor_training_cost:
            if training_cost is None:
                training_cost = net.metrics(*run.training_set(net), run.device_weights).cost
            stats.training_cost = training_cost
        if comm.rank == 0 and run.test is not None:
            scored = net.metrics(*run.test)
            stats.test_cost, stats.test_r2 = scored.cost, scored.r2
            stats.test_accuracy = None if scored.correct is None else scored.correct / run.test[0].shape[0]
        validation = run.validation_set(net)
        if validation is not None:
            scored = net.metrics(*validation)
            stats.validation_cost, stats.validation_r2 = scored.cost, scored.r2
            if scored.correct is not None:
                stats.validation_accuracy = scored.correct / validation[0].shape[0]
            improved = self._remember_if_best(epoch, stats.validation_score)
            if state.plateau is not None:
                state.plateau.end_epoch(improved, config.plateau_factor, config.plateau_patience)
        self.history.append(stats)
        self.rng_after = net.rng.bit_generator.state
        run.stopped = config.patience is not None and state.stale_epochs >= config.patience
        return stats

    def finish(self, run: Run, on_warning) -> None:
        """End the call: the network gets its best weights (with early stopping), the history its best epoch, and
        a saturated hidden layer is warned about."""
        config, state, history = run.config, self.state, self.history
        if config.patience is not None and state.best_epoch != history[-1].epoch:
            self._swap_best()  # the network ends with its best weights; the last ones are kept to continue
        history.best_epoch = state.best_epoch if config.patience is not None else None
        warning = run.saturation.warning(history[-1].epoch, config) if run.saturation is not None else None
        if warning is not None:
            (on_warning or warnings.warn)(warning)

    @contextmanager
    def all_or_nothing(self):
        """Inside, a failure of any kind (a divergence, Ctrl-C) puts the run back exactly as it was when the block
        began: weights, generator, update rule and its state, schedule and early stopping, history. It costs one
        device copy each of the parameters, of the rule's state buffers and of the best weights."""
        net, rule = self.net, self.optimizer
        parameters, rng_state = net.flat_parameters.copy(), net.rng.bit_generator.state
        rows, best_epoch, config, rng_after = list(self.history), self.history.best_epoch, self.config, self.rng_after
        state = copy.copy(self.state)
        state.plateau = copy.copy(state.plateau)
        if state.best_parameters is not None:
            state.best_parameters = state.best_parameters.copy()
        rule_state = (rule.steps, rule.weight_decay, [b.copy() for b in rule.state]) if rule is not None else None
        try:
            yield
        except BaseException:
            net.backend.xp.copyto(net.flat_parameters, parameters)
            net.rng.bit_generator.state = rng_state
            self.history[:], self.history.best_epoch = rows, best_epoch
            self.config, self.optimizer, self.state, self.rng_after = config, rule, state, rng_after
            if rule is not None:
                rule.steps, rule.weight_decay, rule.state = rule_state
            raise

    def check_memory(
        self,
        config,
        training_data,
        test_data=None,
        *,
        monitor_training_cost=True,
        comm=None,
        saves=False,
        checkpoints=False,
    ) -> None:
        """Refuse, with the figures, a run of ``train``'s arguments whose buffers would not fit the memory the
        device (and the host) can still give, before any is allocated (``model/memory.py``); ``saves`` and
        ``checkpoints``: the caller saves the model at the end, and checkpoints along the way (``gpubp train``)."""
        net = self.net
        try:
            x, x_test = training_data[0], test_data[0] if test_data is not None else None
        except (TypeError, KeyError, IndexError):
            return  # not a pair (X, y): prepare says what is wrong with it
        shape, test_shape = shape_of(x), shape_of(x_test) if x_test is not None else None
        if shape is None or (x_test is not None and test_shape is None):
            return  # data that is not an array of rows: likewise
        gpu, current = net.backend.name == "gpu", self.optimizer
        same_rule = current is not None and current.hyperparameters() == Optimizer(config, 0).hyperparameters()
        reused = bool(self.history) and same_rule  # _optimizer_for keeps its state buffers
        run = RunShape(
            rows=shape[0],
            held_out=held_out_rows(shape[0], config.validation_fraction),
            test_rows=test_shape[0] if test_shape else 0,
            batch=config.mini_batch_size,
            state_buffers=len(STATE_BUFFERS[config.optimizer]),
            held_state_buffers=len(current.state) if reused else 0,
            has_best_copy=self.state.best_parameters is not None,
            features_copied=is_copied(x, net.dtype, gpu),
            test_features_copied=x_test is not None and is_copied(x_test, net.dtype, gpu),
            monitor=monitor_training_cost and (comm is None or comm.rank == 0),
            early_stopping=config.patience is not None,
            ranks=comm.size if comm is not None else 1,
            saves=saves,
            checkpoints=checkpoints,
        )
        check_fits(run_footprint(net, run), net.backend, *training_advice(net))

    def _continue_state(self, config: TrainingConfig) -> TrainingState:
        """The run's state where it continues, else a fresh one; the network gets its last epoch's weights back."""
        if not self.history:
            self.state = TrainingState()
        state = self.state
        if config.patience is not None and state.stale_epochs >= config.patience:
            raise InputError(
                f"this run stopped early after epoch {self.history[-1].epoch}: validation accuracy had not improved "
                f"for {config.patience} epochs since epoch {state.best_epoch}; start a new run to train longer"
            )
        if state.restored:
            self._swap_best()  # continue from the last epoch's weights, as an uninterrupted run would
        if config.schedule != "plateau":
            state.plateau = None
        elif state.plateau is None:
            state.plateau = Plateau()
        return state

    def _optimizer_for(self, config: TrainingConfig, n: int) -> Optimizer:
        """The run's own update rule where the run continues with the same rule and hyperparameters (its state
        carries on), else a fresh one. L2's λ becomes the decay λ/n."""
        fresh = Optimizer(config, config.lmbda / n)
        current = self.optimizer
        if self.history and current is not None and current.hyperparameters() == fresh.hyperparameters():
            current.weight_decay = fresh.weight_decay
            return current
        return fresh

    def _remember_if_best(self, epoch: int, score: float) -> bool:
        """Record the epoch's validation score (accuracy, or R² for regression), and copy the weights if it is the
        best so far."""
        state = self.state
        if state.best_accuracy is not None and score <= state.best_accuracy:
            state.stale_epochs += 1
            return False
        state.best_accuracy, state.best_epoch, state.stale_epochs = score, epoch, 0
        flat = self.net.flat_parameters
        if state.best_parameters is None:
            state.best_parameters = self.net.backend.xp.empty_like(flat)
        self.net.backend.xp.copyto(state.best_parameters, flat)  # one device copy, no host sync
        return True

    def _swap_best(self) -> None:
        """Exchange the network's weights with the best ones (at the end of a run, or to continue after it)."""
        flat, state = self.net.flat_parameters, self.state
        last = flat.copy()
        self.net.backend.xp.copyto(flat, state.best_parameters)
        self.net.backend.xp.copyto(state.best_parameters, last)
        state.restored = not state.restored


def effective_samples(weights) -> int | float:
    """How many samples weighted rows count for (their total weight: a whole number where it is one)."""
    total = float(weights.sum())
    return int(total) if total.is_integer() else total


def take_rows(net, data, rows) -> tuple:
    """The rows ``rows`` (host indices) of device arrays ``(x, y, labels)`` (labels None for regression)."""
    xp, rows = net.backend.xp, net.backend.asarray(rows)
    return tuple(None if a is None else xp.take(a, rows, axis=0) for a in data)
