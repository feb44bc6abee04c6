"""Training checkpoints: a model file plus what it takes to continue exactly where training stopped.

A checkpoint is an ordinary gpubp model ``.npz`` (``gpubp evaluate`` reads it) with three more entries, each a
JSON string: the state of the network's random generator after the last finished epoch, the history so far, and
the settings the run was started with. Resuming restores all three, so the epochs still to come draw the same
shuffles and the final weights are identical to those of a run that was never interrupted. Checkpoints are
written atomically, like models.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import ModelFileError
from ..model.storage import read, save
from .sgd import EpochStats

STATE_ENTRIES = ("checkpoint_rng", "checkpoint_history", "checkpoint_settings")


def save_checkpoint(path, net, history: list[EpochStats], settings: dict) -> None:
    state = (net.rng.bit_generator.state, [h.as_dict() for h in history], settings)
    save(net, path, {name: np.array(json.dumps(value)) for name, value in zip(STATE_ENTRIES, state)})


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
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path} is a damaged checkpoint ({exc}); resume from an earlier one or retrain") \
            from None
    return net, history, settings
