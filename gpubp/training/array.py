"""Training a network array: every member's run, with its own knobs, rows and shuffles, in one fused pass per step.

Each member has a ``Trainer`` of its own over its view (``model/array.py``), which does everything a run of that
network alone does between steps — the hold-out, the checks, the schedule, early stopping and its best weights,
the history — with the member's ``TrainingConfig``. What differs is the epoch: one loop over the steps of all
members at once. The training data lives on the device once; each step gathers every member's mini-batch by
index into one (count, m, n_in) block (with ``shared_order``, one (m, n_in) block that every member reads, drawn
from the first member's generator), computes all gradients with the lecture's code, and applies all update rules
in one pass (``optimizers.ArrayOptimizer``).

Members may take different numbers of steps (their own rows, a last shorter batch): a member's batch is padded
with rows whose BP1 factor is 0, and a member that has no step j, has stopped early or has diverged takes no update
at step j. Each member then ends exactly where ``Network(seed=seeds[k]).SGD`` with its knobs and rows would, up to
the rounding of the batched products' summation order. A member whose weights stop being finite is reported
(a ``TrainingWarning`` naming it, and ``ArrayHistory.diverged``) and stopped; the others go on.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from ..distributed import LocalCommunicator
from ..errors import GpubpError, InputError, TrainingDiverged, TrainingWarning
from ..model.array_memory import ArrayRunShape, array_run_footprint, check_array_fits
from ..model.dropout import ArrayDropout
from ..model.inputs import prepare
from ..model.memory import is_copied, shape_of, training_advice
from .config import TrainingConfig
from .diagnosis import diverged
from .epoch import host_row_factors
from .optimizers import STATE_BUFFERS, ArrayOptimizer, Optimizer
from .trainer import Trainer

SHARED = ("epochs", "mini_batch_size", "optimizer", "schedule")  # one epoch loop, one kernel, one step count


class ArrayHistory(list):
    """One ``History`` per member; ``diverged`` maps a member that diverged to its ``TrainingDiverged``."""

    def __init__(self, histories, diverged=None):
        super().__init__(histories)
        self.diverged = dict(diverged or {})


def check_shared(configs) -> None:
    """Refuse members whose knobs differ where one epoch loop and one update kernel must serve them all."""
    for name in SHARED:
        values = {getattr(c, name) for c in configs}
        if len(values) > 1:
            raise InputError(
                f"{{{name}}} must be the same for every member of a network array (one epoch loop and one update "
                f"kernel run them all), got {sorted(values, key=str)}: train the members that differ in arrays of "
                f"their own",
                name,
            )


def checked_rows(rows, count: int, n: int, shared_order: bool) -> list:
    """``member_rows``, and with ``shared_order`` every member's the same."""
    chosen = member_rows(rows, count, n)
    if shared_order and any(r is not None and not np.array_equal(r, chosen[0]) for r in chosen):
        raise InputError("shared_order needs every member to train on the same rows: drop rows, or shared_order")
    return chosen


def member_rows(rows, count: int, n: int):
    """``rows`` (None, or one host index array per member into the n training rows) checked."""
    if rows is None:
        return [None] * count
    if isinstance(rows, (str, bytes)) or len(rows) != count:
        raise InputError(f"rows must give one array of row indices per member ({count}), got {len(rows)}")
    checked = []
    for k, r in enumerate(rows):
        r = np.asarray(r)
        if r.ndim != 1 or r.dtype.kind not in "iu" or not len(r) or r.min() < 0 or r.max() >= n:
            raise InputError(
                f"rows[{k}] must be a non-empty list of row numbers in 0..{n - 1} (the training rows member {k} "
                f"trains on, repeats allowed), got {np.array2string(r[:5]) if r.size else 'none'}"
            )
        checked.append(r.astype(np.int64))
    return checked


def member_weights(sample_weight, count: int) -> list:
    """``sample_weight`` as one entry per member: a list of arrays (or None) gives each member its own (each checked
    by its run); anything else, a list of numbers too, is every member's."""
    if not (isinstance(sample_weight, list) and all(w is None or hasattr(w, "__len__") for w in sample_weight)):
        return [sample_weight] * count
    if len(sample_weight) != count:
        raise InputError(
            f"sample_weight lists {len(sample_weight)} weight arrays for an array of {count} networks: give one per "
            f"member (each one weight per training row, or None), or one array for all"
        )
    return sample_weight


class ArrayTrainer:
    """The training run of a network array: one ``Trainer`` per member, and the members' update rules as one."""

    def __init__(self, arr, histories=None):
        self.arr = arr
        histories = [()] * arr.count if histories is None else histories
        self.members = [Trainer(member, history) for member, history in zip(arr.members, histories)]
        self.rules: ArrayOptimizer | None = None
        self.diverged: dict[int, TrainingDiverged] = {}
        self._blocks = None  # the gathered mini-batches' blocks (``_gathered``)

    def train(
        self,
        configs,
        training_data,
        test_data=None,
        *,
        rows=None,
        sample_weight=None,
        shared_order=False,
        monitor_training_cost=True,
        on_epoch=None,
        on_progress=None,
        on_warning=None,
        on_member_warning=None,
        comm=None,
        on_array_epoch=None,
    ) -> ArrayHistory:
        """Train every member up to its ``configs[k].epochs`` (see ``Trainer.train``); ``rows[k]``: the training
        rows member k trains on (None: all); ``sample_weight``: one weight per training row for every member, or a
        list of one such array (or None) per member (a cross-validation's class weights, balanced per fold);
        ``on_epoch(k, stats)`` after each member's epoch; ``on_array_epoch(epoch)`` once every member has ended
        that epoch (where a checkpoint holds every member's run whole); ``on_member_warning(k, warning)``, if given,
        takes member k's warnings as that network alone would give them (not named "member k", and no warning of
        its divergence: the caller finds it in ``ArrayHistory.diverged``)."""
        arr, comm = self.arr, comm or LocalCommunicator()
        check_shared(configs)
        chosen = self.check_memory(configs, training_data, test_data, rows, shared_order, monitor_training_cost, comm)
        data = prepare(arr, training_data, "training data")
        test = prepare(arr, test_data, "test data") if test_data is not None else None
        if chosen is None:  # the data's shape could not be read before prepare; it could now
            chosen = checked_rows(rows, arr.count, data[0].shape[0], shared_order)
        warn = on_warning or warnings.warn
        active = [k not in self.diverged and not self._stopped(k, configs[k]) for k in range(arr.count)]
        warns = [
            member_warning(warn, k) if on_member_warning is None else functools.partial(on_member_warning, k)
            for k in range(arr.count)
        ]
        weights = member_weights(sample_weight, arr.count)
        runs = [
            self._start(k, config, data, w, test, comm, warns[k], r) if live else None
            for k, (config, r, w, live) in enumerate(zip(configs, chosen, weights, active))
        ]
        if not any(active):
            raise InputError("every member of this array has stopped (early, or diverged): start a new run")
        self.rules = self._rules(arr)
        batch = configs[0].mini_batch_size
        groups = [(low, high, view, self._dropout(runs[low:high], batch)) for low, high, view in arr.groups()]
        epochs = next(run.epochs for run in runs if run is not None)
        for epoch in epochs:
            with np.errstate(over="ignore", invalid="ignore"), arr.backend.tf32_math():  # batched GEMMs' TF32
                seconds, etas = self._epoch(runs, groups, epoch, shared_order, comm, on_progress)
            finite = arr.finite_members()
            costs = self._training_costs(runs, finite, comm) if monitor_training_cost else {}
            for k, run in enumerate(runs):
                if run is None or run.stopped:
                    continue
                if not finite[k]:
                    self.diverged[k] = error = diverged(epoch, run.config, run.samples, arr.members[k], run.x)
                    if on_member_warning is None:
                        warn(TrainingWarning(f"member {k} diverged and was stopped: {error.template}", *error.knobs))
                    runs[k] = None
                    continue
                stats = self.members[k].end_epoch(run, epoch, seconds, etas[k], monitor_training_cost, costs.get(k))
                if on_epoch is not None:
                    on_epoch(k, stats)
                if run.stopped:
                    self.members[k].finish(run, warns[k])  # its best weights, now: it takes no more steps
            if all(run is None or run.stopped for run in runs):
                break
            if on_array_epoch is not None:
                on_array_epoch(epoch)
        for k, run in enumerate(runs):
            if run is not None and not run.stopped:
                self.members[k].finish(run, warns[k])
        if len(self.diverged) == arr.count:
            raise next(iter(self.diverged.values()))
        return ArrayHistory([t.history for t in self.members], self.diverged)

    def _training_costs(self, runs, finite, comm) -> dict:
        """The training cost of each live member that shares its training rows and weights with its neighbours (the
        candidates of one fold), from one forward pass of those members at a time: {member: cost}. The others are
        left to their own ``end_epoch``."""
        costs: dict[int, float] = {}
        if comm.rank != 0:
            return costs
        live = [k for k, run in enumerate(runs) if run is not None and not run.stopped and finite[k]]
        for first, last in same_rows(runs, live):
            if last - first > 1:
                run = runs[first]
                view = self.arr._view(first, last)
                scored = view.metrics(*run.training_set(view), run.device_weights)
                costs.update((first + j, m.cost) for j, m in enumerate(scored))
        return costs

    @staticmethod
    def _held_out(k: int, n: int, config) -> int:
        """Member k's held-out rows of its ``n``; first of all, a batch or hold-out that does not fit them is
        refused, naming the member (before the memory check, which would otherwise blame the memory)."""
        try:
            return config.rows(n)[1]
        except GpubpError as exc:
            raise exc.preceded_by(f"member {k}") from None

    def _start(self, k: int, config, data, weights, test, comm, warn, rows):
        """Member k's run laid out by its ``Trainer`` over the shared data; a refusal names the member."""
        try:
            return self.members[k].start(config, data, weights, test, comm, warn, rows=rows, gather=False)
        except GpubpError as exc:
            raise exc.preceded_by(f"member {k}") from None

    def check_memory(self, configs, training_data, test_data, rows, shared_order, monitor, comm):
        """Refuse, before anything is allocated, a run of ``train``'s arguments that would not fit the device's
        memory, saying how many members would (``model/array_memory.py``); the members' rows checked first (and
        returned), then each member's batch and hold-out, so that the memory is never blamed for those. None where
        the data's shape cannot be read here (``prepare`` then says what is wrong with it)."""
        arr = self.arr
        try:
            x, x_test = training_data[0], test_data[0] if test_data is not None else None
        except (TypeError, KeyError, IndexError):
            return  # not a pair (X, y): prepare says what is wrong with it
        shape, test_shape = shape_of(x), shape_of(x_test) if x_test is not None else None
        if shape is None or (x_test is not None and test_shape is None):
            return  # likewise
        chosen = checked_rows(rows, arr.count, shape[0], shared_order)
        counts = [shape[0] if r is None else len(r) for r in chosen]
        held = [self._held_out(k, n, config) for k, (n, config) in enumerate(zip(counts, configs))]
        rule = Optimizer(configs[0], 0)
        kept = self.rules is not None and all(
            t.optimizer is not None and t.optimizer.hyperparameters() == rule.hyperparameters() for t in self.members
        )
        gpu = arr.backend.name == "gpu"
        run = ArrayRunShape(
            rows=shape[0],
            trained=max(n - h for n, h in zip(counts, held)),
            held_out=max(held),
            test_rows=test_shape[0] if test_shape else 0,
            batch=configs[0].mini_batch_size,
            state_buffers=0 if kept else len(STATE_BUFFERS[rule.rule]),
            best_copies=any(t.state.best_parameters is None for t in self.members),
            features_copied=is_copied(x, arr.dtype, gpu),
            test_features_copied=x_test is not None and is_copied(x_test, arr.dtype, gpu),
            monitor=monitor and comm.rank == 0,
            shared_order=shared_order,
            dropout=any(any(c.dropout_rates(arr.num_layers - 2)) for c in configs),
            ranks=comm.size,
        )
        advice, *knobs = training_advice(arr)
        if rows is not None:  # members' own rows: their permutations and plans grow with them
            advice = advice.replace(", or free memory", ", fewer or shorter rows per member, or free memory")
        check_array_fits(lambda count: array_run_footprint(arr, run, count), arr.count, arr.backend, advice, *knobs)
        return chosen

    def _stopped(self, k: int, config: TrainingConfig) -> bool:
        """Whether member k stopped early in an earlier call of this run (it stays as it ended)."""
        state, history = self.members[k].state, self.members[k].history
        return bool(history) and config.patience is not None and state.stale_epochs >= config.patience

    def _rules(self, arr) -> ArrayOptimizer:
        rules = [t.optimizer for t in self.members]
        if self.rules is not None and all(a is b for a, b in zip(self.rules.rules, rules)):
            return self.rules  # the same rules continue: their state buffers too
        return ArrayOptimizer(rules, arr.backend, arr.flat_parameters)

    def _dropout(self, runs, batch: int) -> ArrayDropout | None:
        """The masks of the members of ``runs`` (a group's), or None where none of them drops units."""
        members = [None if run is None else run.dropout for run in runs]
        if all(d is None for d in members):
            return None
        return ArrayDropout(members, self.arr.sizes[1:-1], batch, self.arr.backend, self.arr.dtype)

    def _epoch(self, runs, groups, epoch: int, shared_order: bool, comm, on_progress):
        """One epoch of every member still training, a group of members at a time (``groups``: their first and
        last member, their array, their masks), each group all its steps; returns the epoch's seconds and each
        member's last step size."""
        arr, backend = self.arr, self.arr.backend
        count = arr.count
        batch = next(run.config.mini_batch_size for run in runs if run is not None)
        backend.synchronize()
        start = time.perf_counter()
        shuffles, etas = [None] * count, [None] * count
        for k, run in enumerate(runs):
            if run is not None and not run.stopped:
                shuffles[k] = self.members[k].net.rng.permutation(run.n)
                etas[k] = run.schedule.epoch_etas(epoch)
        if shared_order:  # every member reads the first one's order (its generator draws it; the others' stay)
            first = next(k for k, o in enumerate(shuffles) if o is not None)
            shuffles = [None if o is None else shuffles[first] for o in shuffles]
        steps = max(len(e) for e in etas if e is not None)
        index = np.zeros((count, steps * batch), np.int64)
        factors = np.zeros((count, steps * batch))
        step_etas, taken = np.ones((count, steps)), np.zeros((count, steps), bool)
        first_steps = np.zeros(count, np.int64)
        for k, run in enumerate(runs):
            if shuffles[k] is None:
                continue
            n, rule, shuffle = run.n, self.members[k].optimizer, shuffles[k]
            index[k, :n] = shuffle if run.rows is None else run.rows[shuffle]  # rows of the shared data
            step_etas[k, : len(etas[k])], taken[k, : len(etas[k])] = etas[k], True
            if run.weights is None:  # η/m or 1/m for each row of each mini-batch, as the member alone scales BP1
                sizes = np.minimum(batch, n - np.arange(0, n, batch))
                factors[k, :n] = np.repeat(rule.gradient_scale(np.asarray(etas[k]), sizes), sizes)
            else:  # the weights follow their rows through the shuffle
                factors[k, :n] = host_row_factors(rule, run.weights[shuffle], batch, etas[k])
            first_steps[k] = (epoch - 1) * run.steps_per_epoch
        plan = self.rules.plan(backend, arr.dtype, step_etas, taken)
        index_dev = backend.asarray(index)
        factors_dev = backend.asarray(factors.reshape(count, steps, batch, 1), arr.dtype)
        x, y = runs_data(runs)
        params, gradient, n_weights = arr.flat_parameters, arr.flat_gradient, arr.n_weights
        progress_every = max(1, steps * len(groups) // 100)
        everyone, all_taking = [(0, count)], taken.all(axis=0)
        first, last = comm.shard(batch)  # this process's rows of every mini-batch (padded to the batch size)
        x_batch, y_batch = self._gathered(x, y, last - first, shared_order)
        done, total = 0, steps * len(groups)
        for low, high, group, masks in groups:  # a group's whole epoch, then the next's: its buffers stay in cache
            x_rows = x_batch if shared_order else x_batch[low:high]
            y_rows = y_batch if shared_order else y_batch[low:high]
            for j in range(steps):
                if last > first:
                    rows = index_dev[0 if shared_order else slice(low, high), j * batch + first : j * batch + last]
                    backend.take_rows(x, rows, x_rows)
                    backend.take_rows(y, rows, y_rows)
                    if masks is not None:
                        masks.at(first_steps[low:high] + j, first, last - first)
                    group.compute_gradient(x_rows, y_rows, factors_dev[low:high, j, first:last], masks)
                else:
                    gradient[low:high].fill(0)
                comm.allreduce_sum(gradient[low:high])
                runs_j = everyone if all_taking[j] else member_runs(taken[:, j])
                within = [(max(a, low), min(b, high)) for a, b in runs_j if a < high and b > low]
                self.rules.step(backend, params, gradient, n_weights, plan, j, within)
                done += 1
                if on_progress is not None and (done % progress_every == 0 or done == total):
                    on_progress(done, total)
        backend.synchronize()
        return time.perf_counter() - start, [None if e is None else e[-1] for e in etas]

    def _gathered(self, x, y, rows: int, shared_order: bool) -> tuple:
        """The blocks each step gathers the members' mini-batches into, (count, rows, n) or, with ``shared_order``,
        (rows, n); allocated once per run and kept, as the workspaces keep a reference to the last block they were
        fed: a fresh block per epoch would stand beside it."""
        lead = () if shared_order else (self.arr.count,)
        wanted = [((*lead, rows, x.shape[1]), x.dtype), ((*lead, rows, y.shape[1]), y.dtype)]
        if self._blocks is None or [(b.shape, b.dtype) for b in self._blocks] != wanted:
            self._blocks = None  # the old blocks go before the new ones come
            self._blocks = tuple(self.arr.backend.xp.empty(shape, dtype) for shape, dtype in wanted)
        return self._blocks


def member_warning(warn, k: int):
    """``warn`` for member k's run: its warnings name the member."""

    def warn_member(warning) -> None:
        if isinstance(warning, TrainingWarning):
            warning = TrainingWarning(f"member {k}: {warning.template}", *warning.knobs)
        warn(warning)

    return warn_member


def same_rows(runs, live) -> list[tuple[int, int]]:
    """The ``(first, last)`` spans of consecutive ``live`` members whose runs train on the same rows with the same
    weights (an array's data is shared, so only the indices and weights can differ)."""
    spans: list[list[int]] = []
    for k in live:
        if spans and spans[-1][1] == k and same_training_set(runs[spans[-1][0]], runs[k]):
            spans[-1][1] = k + 1
        else:
            spans.append([k, k + 1])
    return [(first, last) for first, last in spans]


def same_training_set(a, b) -> bool:
    rows = (a.rows is None and b.rows is None) or (
        a.rows is not None and b.rows is not None and np.array_equal(a.rows, b.rows)
    )
    weights = (a.weights is None and b.weights is None) or (
        a.weights is not None and b.weights is not None and np.array_equal(a.weights, b.weights)
    )
    return rows and weights


def runs_data(runs) -> tuple:
    run = next(run for run in runs if run is not None)
    return run.x, run.y


def member_runs(taking: np.ndarray) -> list[tuple[int, int]]:
    """The ``(first, last)`` runs of consecutive members that take a step."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], taking.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))
