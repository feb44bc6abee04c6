"""Training checkpoints: a model file plus what it takes to continue exactly where training stopped.

A checkpoint is an ordinary gpubp model ``.npz`` (``gpubp evaluate`` reads it) with more entries: JSON strings
for the state of the network's random generator after the last finished epoch, the history so far, the settings
the run was started with, the update rule's settings and step count, and the ``TrainingState`` (the plateau's η
and counter, the best validation accuracy and epoch, the epochs since); and arrays with the flat parameters'
layout for the rule's state buffers (velocity, moments) and the best epoch's weights. Resuming restores them
all, so the epochs still to come draw the same shuffles and take the same steps with the same step sizes, stop
at the same epoch, and end with weights identical to those of a run that was never interrupted. Checkpoints
written before the optimizer or training state existed still resume (with a fresh one). Checkpoints are
written atomically, like models.
"""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np

from ..errors import GpubpError, ModelFileError
from ..model.buffers import flat_buffer
from ..model.storage import read, save
from .optimizers import Optimizer
from .sgd import EpochStats, TrainingState

STATE_ENTRIES = ("checkpoint_rng", "checkpoint_history", "checkpoint_settings")
OPTIMIZER_ENTRY, OPTIMIZER_STATE = "checkpoint_optimizer", "optimizer_"  # absent from checkpoints before them
TRAINING_STATE, BEST_PARAMETERS = "checkpoint_training_state", "checkpoint_best_parameters"


def save_checkpoint(path, net, history: list[EpochStats], settings: dict) -> None:
    state = (net.rng.bit_generator.state, [h.as_dict() for h in history], settings)
    entries = {name: np.array(json.dumps(value)) for name, value in zip(STATE_ENTRIES, state)}
    entries[OPTIMIZER_ENTRY] = np.array(json.dumps(net.optimizer.settings()))
    entries.update({OPTIMIZER_STATE + name: array for name, array in net.optimizer.state_arrays(net.backend).items()})
    if net.training_state is not None:
        entries[TRAINING_STATE] = np.array(json.dumps(net.training_state.to_json()))
        if net.training_state.best_parameters is not None:
            entries[BEST_PARAMETERS] = net.backend.to_host(net.training_state.best_parameters)
    save(net, path, entries)


def load_checkpoint(path, device=None):
    """``(net, history, settings)`` from a checkpoint written by ``save_checkpoint``.

    Anything in its state that ``save_checkpoint`` would not have written — settings that are not a JSON object,
    history rows with missing, extra or mistyped fields or out of order, a generator state for another bit
    generator — raises ``ModelFileError``. The settings' values are the caller's to check.
    """
    net, extra = read(path, device)
    if not all(name in extra for name in STATE_ENTRIES):
        raise ModelFileError(
            f"{path} is a gpubp model but not a checkpoint: --resume takes the checkpoint.npz "
            f"that --checkpoint-every writes into the run's folder"
        )
    try:
        rng_state, rows, settings = (json.loads(str(extra[name])) for name in STATE_ENTRIES)
        net.rng.bit_generator.state = rng_state
        history = [history_row(row, epoch) for epoch, row in enumerate(rows, start=1)]
        if not isinstance(settings, dict):
            raise TypeError(f"its settings are a JSON {type(settings).__name__}, not an object")
        if OPTIMIZER_ENTRY in extra:
            state = {
                name[len(OPTIMIZER_STATE) :]: array for name, array in extra.items() if name.startswith(OPTIMIZER_STATE)
            }
            net.optimizer = Optimizer.restore(
                json.loads(str(extra[OPTIMIZER_ENTRY])), state, net.backend, net._parameters.flat
            )
        if TRAINING_STATE in extra:
            best = extra.get(BEST_PARAMETERS)
            if best is not None:
                best = flat_buffer("best weights", best, net.backend, net._parameters.flat)
            net.training_state = TrainingState.from_json(json.loads(str(extra[TRAINING_STATE])), best)
    except (GpubpError, TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"{path} is a damaged checkpoint ({exc}); resume from an earlier one or retrain") from None
    return net, history, settings


def history_row(row, epoch: int) -> EpochStats:
    """One saved history row, checked field by field: the epochs must run 1, 2, 3… and every value be a number."""
    names = {field.name for field in fields(EpochStats)}
    required = {"epoch", "seconds", "samples_per_s"}
    if not isinstance(row, dict) or set(row) - names or required - set(row):
        raise TypeError(f"history row {epoch} is not a row of {sorted(names)}: {json.dumps(row)[:200]}")
    for name, value in row.items():
        if value is None and name not in required:
            continue  # a metric this run did not compute
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"history row {epoch} has {name} = {value!r}, not a number")
    if row["epoch"] != epoch or not isinstance(row["epoch"], int):
        raise ValueError(f"history row {epoch} is numbered {row['epoch']!r}")
    return EpochStats(**row)
