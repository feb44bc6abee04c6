"""Training checkpoints: a model file plus what it takes to continue exactly where training stopped.

A checkpoint is an ordinary gpubp model ``.npz`` (``gpubp evaluate`` reads it) with more entries: JSON strings
for the state of the network's random generator after the last finished epoch, the history so far, the settings
the run was started with and the update rule's settings and step count, and the rule's state buffers (velocity,
moments) as arrays. Resuming restores them all, so the epochs still to come draw the same shuffles and take the
same steps, and the final weights are identical to those of a run that was never interrupted. Checkpoints are
written atomically, like models.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import GpubpError, ModelFileError
from ..model.storage import read, save
from .optimizers import Optimizer
from .sgd import EpochStats

STATE_ENTRIES = ("checkpoint_rng", "checkpoint_history", "checkpoint_settings")
OPTIMIZER_ENTRY, OPTIMIZER_STATE = "checkpoint_optimizer", "optimizer_"  # absent from checkpoints before them


def save_checkpoint(path, net, history: list[EpochStats], settings: dict) -> None:
    state = (net.rng.bit_generator.state, [h.as_dict() for h in history], settings)
    entries = {name: np.array(json.dumps(value)) for name, value in zip(STATE_ENTRIES, state)}
    entries[OPTIMIZER_ENTRY] = np.array(json.dumps(net.optimizer.settings()))
    entries.update({OPTIMIZER_STATE + name: array for name, array in net.optimizer.state_arrays(net.backend).items()})
    save(net, path, entries)


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
        if OPTIMIZER_ENTRY in extra:
            state = {name[len(OPTIMIZER_STATE):]: array for name, array in extra.items()
                     if name.startswith(OPTIMIZER_STATE)}
            net.optimizer = Optimizer.restore(json.loads(str(extra[OPTIMIZER_ENTRY])), state, net.backend,
                                              net._parameters.flat)
    except (GpubpError, TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path} is a damaged checkpoint ({exc}); resume from an earlier one or retrain") \
            from None
    return net, history, settings
