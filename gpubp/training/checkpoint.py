"""Training checkpoints: a model file plus what it takes to continue exactly where training stopped.

A checkpoint is an ordinary gpubp model ``.npz`` (``gpubp evaluate`` reads it) with three more entries, each a
JSON string: the state of the network's random generator after the last finished epoch, the history so far, and
the settings the run was started with. Resuming restores all three, so the epochs still to come draw the same
shuffles and the final weights are identical to those of a run that was never interrupted. Checkpoints are
written atomically, like models.
"""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np

from ..errors import ModelFileError
from ..model.storage import read, save
from .sgd import EpochStats

STATE_ENTRIES = ("checkpoint_rng", "checkpoint_history", "checkpoint_settings")


def save_checkpoint(path, net, history: list[EpochStats], settings: dict) -> None:
    state = (net.rng.bit_generator.state, [h.as_dict() for h in history], settings)
    save(net, path, {name: np.array(json.dumps(value)) for name, value in zip(STATE_ENTRIES, state)})


def load_checkpoint(path, device=None):
    """``(net, history, settings)`` from a checkpoint written by ``save_checkpoint``.

    Anything in its state that ``save_checkpoint`` would not have written — settings that are not a JSON object,
    history rows with missing, extra or mistyped fields or out of order, a generator state for another bit
    generator — raises ``ModelFileError``. The settings' values are the caller's to check.
    """
    net, extra = read(path, device)
    if not all(name in extra for name in STATE_ENTRIES):
        raise ModelFileError(f"{path} is a gpubp model but not a checkpoint: --resume takes the checkpoint.npz "
                             f"that --checkpoint-every writes into the run's folder")
    try:
        rng_state, rows, settings = (json.loads(str(extra[name])) for name in STATE_ENTRIES)
        net.rng.bit_generator.state = rng_state
        history = [history_row(row, epoch) for epoch, row in enumerate(rows, start=1)]
        if not isinstance(settings, dict):
            raise TypeError(f"its settings are a JSON {type(settings).__name__}, not an object")
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ModelFileError(f"{path} is a damaged checkpoint ({exc}); resume from an earlier one or retrain") \
            from None
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
