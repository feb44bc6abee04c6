"""Training: the configuration of a run, the update rules and schedules, the run itself, checkpoints, reports."""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainingConfig
from .history import EpochStats, History
from .trainer import Trainer

__all__ = ["EpochStats", "History", "Trainer", "TrainingConfig", "load_checkpoint", "save_checkpoint"]
