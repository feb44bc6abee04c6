"""Training checkpoints: a model file plus what it takes to continue a ``Trainer`` exactly where it stopped.

A checkpoint is an ordinary gpubp model ``.npz`` (``gpubp evaluate`` reads it) with more entries: JSON strings
for the state of the network's random generator after the last finished epoch, the history so far, the settings
of whoever wrote it (``gpubp train``'s), and the run itself — its ``TrainingConfig`` as a dict, the update rule's
step count and decay, and the ``TrainingState`` (the plateau's η and counter, the best validation accuracy and
epoch, the epochs since); and arrays with the flat parameters' layout for the rule's state buffers (velocity,
moments) and the best epoch's weights. Resuming restores them all, so the epochs still to come draw the same
shuffles and take the same steps with the same step sizes, stop at the same epoch, and end with weights identical
to those of a run that was never interrupted. Checkpoints written before this format (their rule's settings and
state in ``checkpoint_optimizer`` and ``checkpoint_training_state``, or before either existed) still resume.
Checkpoints are written atomically, like models.

A network array's checkpoint (``save_array_checkpoint``) is an array model file (format 5) with the same entries
for each member, prefixed ``member<k>.`` (``member_entries``, ``restore_member``: the very code of one network's),
so each member's ``Trainer`` — generator, history, rule state, schedule and early stopping — continues as it
would alone; the ``ArrayOptimizer`` stacks the members' restored state buffers again, as it does between calls.
It also records which members diverged (their weights, no longer finite, are stored as zeros: they take no more
steps) and the writer's settings.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import GpubpError, ModelFileError, TrainingDiverged
from ..model.buffers import flat_buffer
from ..model.storage import read, save
from .config import TrainingConfig
from .history import row_from_dict
from .optimizers import Optimizer
from .trainer import Trainer, TrainingState

STATE_ENTRIES = ("checkpoint_rng", "checkpoint_history", "checkpoint_settings")
RUN_ENTRY, OPTIMIZER_STATE, BEST_PARAMETERS = "checkpoint_run", "optimizer_", "checkpoint_best_parameters"
# Before checkpoint_run, the rule's settings and the training state had entries of their own.
OLD_OPTIMIZER_ENTRY, OLD_TRAINING_STATE = "checkpoint_optimizer", "checkpoint_training_state"


ARRAY_ENTRY, MEMBER = "checkpoint_array", "member{}."


def save_checkpoint(path, trainer: Trainer, settings: dict) -> None:
    """Write ``trainer``'s network and run to ``path``, with the writer's ``settings`` (a JSON-ready dict)."""
    entries = member_entries(trainer)
    entries[STATE_ENTRIES[2]] = np.array(json.dumps(settings))
    save(trainer.net, path, entries)


def member_entries(trainer: Trainer) -> dict:
    """The entries of ``trainer``'s run: its network's generator, the history, the configuration, the update rule's
    counters and state buffers, the training state and its best weights."""
    net, rule = trainer.net, trainer.optimizer
    state = (net.rng.bit_generator.state, [h.as_dict() for h in trainer.history])
    entries = {name: np.array(json.dumps(value)) for name, value in zip(STATE_ENTRIES, state)}
    counters = {"steps": rule.steps, "weight_decay": rule.weight_decay}
    run = {"config": trainer.config.to_dict(), "optimizer": counters, "state": trainer.state.to_json()}
    entries[RUN_ENTRY] = np.array(json.dumps(run))
    entries.update({OPTIMIZER_STATE + name: array for name, array in rule.state_arrays(net.backend).items()})
    if trainer.state.best_parameters is not None:
        entries[BEST_PARAMETERS] = net.backend.to_host(trainer.state.best_parameters)
    return entries


def save_array_checkpoint(path, trainer, settings: dict) -> None:
    """Write an ``ArrayTrainer``'s array and every member's run to ``path``, with the writer's ``settings``."""
    arr = trainer.arr
    for k in trainer.diverged:  # not finite, so not storable; it takes no more steps
        arr.flat_parameters[k].fill(0)
    entries = {ARRAY_ENTRY: np.array(json.dumps({"diverged": {str(k): e.epoch for k, e in trainer.diverged.items()}}))}
    for k, member in enumerate(trainer.members):
        entries.update({MEMBER.format(k) + name: value for name, value in member_entries(member).items()})
    entries[STATE_ENTRIES[2]] = np.array(json.dumps(settings))
    save(arr, path, entries)


def load_checkpoint(path, device=None, network=None) -> tuple[Trainer, dict]:
    """``(trainer, settings)`` from a checkpoint written by ``save_checkpoint``; ``trainer.net`` is a ``network``
    (default: ``gpubp.model.Network``) and ``trainer.config`` the configuration it last trained with (``None`` for
    a checkpoint from before configurations were stored).

    Anything in its state that ``save_checkpoint`` would not have written — settings that are not a JSON object,
    history rows with missing, extra or mistyped fields or out of order, a generator state for another bit
    generator, a configuration no ``TrainingConfig`` accepts — raises ``ModelFileError``. The settings' values are
    the caller's to check.
    """
    net, extra = read(path, device) if network is None else read(path, device, network)
    if not all(name in extra for name in STATE_ENTRIES):
        raise ModelFileError(
            f"{path} is a gpubp model but not a checkpoint: --resume takes the checkpoint.npz that "
            f"--checkpoint-every writes into the run's folder"
        )
    try:
        settings = json.loads(str(extra[STATE_ENTRIES[2]]))
        if not isinstance(settings, dict):
            raise TypeError(f"its settings are a JSON {type(settings).__name__}, not an object")
        trainer = Trainer(net, history_of(extra))
        restore_member(trainer, extra)
        if RUN_ENTRY not in extra and OLD_OPTIMIZER_ENTRY in extra:
            old = json.loads(str(extra[OLD_OPTIMIZER_ENTRY]))
            rule = TrainingConfig(optimizer=old["rule"], momentum=old["momentum"], betas=old["betas"], eps=old["eps"])
            state = json.loads(str(extra[OLD_TRAINING_STATE])) if OLD_TRAINING_STATE in extra else None
            arrays = {n[len(OPTIMIZER_STATE) :]: a for n, a in extra.items() if n.startswith(OPTIMIZER_STATE)}
            restore_run(trainer, rule, old, arrays, state, extra.get(BEST_PARAMETERS))
    except (GpubpError, TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"{path} is a damaged checkpoint ({exc}); resume from an earlier one or retrain") from None
    return trainer, settings


def history_of(entries) -> list:
    """The history rows a checkpoint's entries hold, each checked."""
    rows = json.loads(str(entries[STATE_ENTRIES[1]]))
    return [row_from_dict(row, epoch) for epoch, row in enumerate(rows, start=1)]


def restore_member(trainer: Trainer, entries) -> None:
    """Give ``trainer`` (whose history is ``history_of(entries)``) the generator state, configuration, update
    rule and training state ``member_entries`` wrote."""
    net = trainer.net
    net.rng.bit_generator.state = json.loads(str(entries[STATE_ENTRIES[0]]))
    if RUN_ENTRY in entries:
        arrays = {name[len(OPTIMIZER_STATE) :]: a for name, a in entries.items() if name.startswith(OPTIMIZER_STATE)}
        run = json.loads(str(entries[RUN_ENTRY]))
        trainer.config = TrainingConfig.from_dict(run["config"])
        restore_run(trainer, trainer.config, run["optimizer"], arrays, run["state"], entries.get(BEST_PARAMETERS))


def load_array_checkpoint(path, device=None, network=None):
    """``(array trainer, settings)`` from a checkpoint written by ``save_array_checkpoint`` (``network``: the
    array's class, default ``gpubp.model.NetworkArray``); anything it would not have written is a
    ``ModelFileError``."""
    from ..model.array import NetworkArray
    from .array import ArrayTrainer

    arr, extra = read(path, device, array=network or NetworkArray)
    if ARRAY_ENTRY not in extra or STATE_ENTRIES[2] not in extra:
        raise ModelFileError(f"{path} is a gpubp model but not a sweep's checkpoint: resume from the sweep's folder")
    try:
        settings = json.loads(str(extra[STATE_ENTRIES[2]]))
        if not isinstance(settings, dict):
            raise TypeError(f"its settings are a JSON {type(settings).__name__}, not an object")
        members = [
            {name[len(MEMBER.format(k)) :]: v for name, v in extra.items() if name.startswith(MEMBER.format(k))}
            for k in range(arr.count)
        ]
        trainer = ArrayTrainer(arr, [history_of(entries) for entries in members])
        for member, entries in zip(trainer.members, members):
            restore_member(member, entries)
        for k, epoch in json.loads(str(extra[ARRAY_ENTRY]))["diverged"].items():
            trainer.diverged[int(k)] = TrainingDiverged(int(epoch), "before the checkpoint")
    except (GpubpError, TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"{path} is a damaged checkpoint ({exc}); resume from an earlier one or retrain") from None
    return trainer, settings


def restore_run(trainer: Trainer, rule: TrainingConfig, optimizer: dict, arrays, state, best) -> None:
    """Give ``trainer`` the update rule ``rule`` names with its saved ``optimizer`` counters and state ``arrays``,
    and the saved training ``state`` (JSON) with its ``best`` weights; a ``ValueError`` says what does not fit."""
    net = trainer.net
    trainer.optimizer = Optimizer(rule, float(optimizer["weight_decay"]))
    trainer.optimizer.restore(optimizer["steps"], arrays, net.backend, net.flat_parameters)
    if state is not None:
        if best is not None:
            best = flat_buffer("best weights", best, net.backend, net.flat_parameters)
        trainer.state = TrainingState.from_json(state, best)
