"""Training checkpoints: a model file plus what it takes to continue exactly where training stopped.

A checkpoint is an ordinary gpubp model ``.npz`` (``gpubp evaluate`` reads it) with more entries, JSON strings:
the state of the network's random generator after the last finished epoch, the history so far, the settings the
run was started with, and the ``TrainingState`` (the plateau's η and counter, the best validation accuracy and
epoch, the epochs since); the best epoch's weights are one more array, the flat parameter buffer. Resuming
restores them all, so the epochs still to come draw the same shuffles with the same step sizes, stop at the same
epoch, and end with weights identical to those of a run that was never interrupted. Checkpoints written before
the training state existed still resume (with a fresh one). Checkpoints are written atomically, like models.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import ModelFileError
from ..model.storage import read, save
from .sgd import EpochStats, TrainingState

STATE_ENTRIES = ("checkpoint_rng", "checkpoint_history", "checkpoint_settings")
TRAINING_STATE, BEST_PARAMETERS = "checkpoint_training_state", "checkpoint_best_parameters"


def save_checkpoint(path, net, history: list[EpochStats], settings: dict) -> None:
    state = (net.rng.bit_generator.state, [h.as_dict() for h in history], settings)
    extra = {name: np.array(json.dumps(value)) for name, value in zip(STATE_ENTRIES, state)}
    if net.training_state is not None:
        extra[TRAINING_STATE] = np.array(json.dumps(net.training_state.to_json()))
        if net.training_state.best_parameters is not None:
            extra[BEST_PARAMETERS] = net.backend.to_host(net.training_state.best_parameters)
    save(net, path, extra)


def load_checkpoint(path, device=None):
    """``(net, history, settings)`` from a checkpoint written by ``save_checkpoint``."""
    net, extra = read(path, device)
    if not all(name in extra for name in STATE_ENTRIES):
        raise ModelFileError(f"{path} is a gpubp model but not a checkpoint: --resume takes the checkpoint.npz "
                             f"that --checkpoint-every writes into the run's folder")
    try:
        rng_state, history, settings = (json.loads(str(extra[name])) for name in STATE_ENTRIES)
        net.rng.bit_generator.state = rng_state
        history = [EpochStats(**row) for row in history]
        if TRAINING_STATE in extra:
            best = extra.get(BEST_PARAMETERS)
            if best is not None and best.shape != net._parameters.flat.shape:
                raise ValueError(f"best weights of shape {best.shape}, not {net._parameters.flat.shape}")
            best = net.backend.asarray(best, net.dtype) if best is not None else None
            net.training_state = TrainingState.from_json(json.loads(str(extra[TRAINING_STATE])), best)
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path} is a damaged checkpoint ({exc}); resume from an earlier one or retrain") \
            from None
    return net, history, settings
