"""Training: the mini-batch SGD loop, its per-epoch history, checkpoints, and reports of a run."""

from .checkpoint import load_checkpoint, save_checkpoint
from .sgd import EpochStats, check_hyperparameters, train

__all__ = ["EpochStats", "check_hyperparameters", "load_checkpoint", "save_checkpoint", "train"]
