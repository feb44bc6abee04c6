"""Training: the mini-batch SGD loop and its per-epoch history."""

from .sgd import EpochStats, check_hyperparameters, train

__all__ = ["EpochStats", "check_hyperparameters", "train"]
