"""Learning-rate schedules: the step size η of every mini-batch step, worked out on the host.

A schedule hands ``train`` a list of host floats for each epoch, one per step, so that changing η never needs a
device sync inside an epoch. With t the index of a step in the run (0 for the first), S steps per epoch, E epochs
and W warm-up epochs:

- ``constant`` (the default): η at every step, exactly as given (so a run without a schedule is bit-identical to
  one before schedules existed).
- ``cosine``: η · ½(1 + cos(π p)), p = (t − W·S) / ((E − W)·S): a smooth decay from η towards 0 over the steps
  after the warm-up, reaching 0 at the end of the last epoch (Loshchilov & Hutter's SGDR without restarts).
- ``plateau``: η divided by ``plateau_factor`` each time the validation accuracy has not improved for
  ``plateau_patience`` epochs (Nielsen's "no-improvement-in-n" rule, scikit-learn's ``adaptive``; torch's
  ``ReduceLROnPlateau`` in mode "max"). It needs validation data; the counter restarts after each reduction.
- A linear warm-up over the first W epochs multiplies any of them by (t + 1) / (W·S), so η grows from η/(W·S) to
  η at the last warm-up step (Goyal et al., 2017: large batches need it for the first epochs).

The plateau's state (its current η and counter) is the only state a schedule carries across epochs: ``Plateau``
holds it, and a checkpoint saves it so that a resumed run continues with the very same step sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from ..errors import InputError

SCHEDULES = ("constant", "plateau", "cosine")
PLATEAU_FACTOR = 2.0  # Nielsen halves η (chapter 3); scikit-learn's adaptive divides by 5, torch's plateau by 10
PLATEAU_PATIENCE = 5  # epochs without improvement before η falls: short enough to matter in a 30-epoch run


def _whole(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_schedule(schedule) -> str:
    """The schedule's name, or an ``InputError`` listing the choices."""
    name = schedule.strip().lower() if isinstance(schedule, str) else schedule
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    return name


def check_warmup_epochs(warmup_epochs, epochs) -> None:
    if not _whole(warmup_epochs) or warmup_epochs < 0:
        raise InputError(f"the warm-up must be a whole number of epochs >= 0 (0: none), got {warmup_epochs!r}")
    if warmup_epochs and _whole(epochs) and warmup_epochs >= epochs:
        raise InputError(
            f"a warm-up of {warmup_epochs} epochs leaves no epoch at full η in a run of {epochs} "
            f"epochs: choose fewer warm-up epochs than epochs"
        )


def check_plateau(factor, patience) -> None:
    if isinstance(factor, bool) or not isinstance(factor, Real) or not math.isfinite(factor) or factor <= 1:
        raise InputError(f"the plateau factor divides η, so it must be a finite number > 1, got {factor!r}")
    if not _whole(patience) or patience < 1:
        raise InputError(f"the plateau patience must be a whole number of epochs >= 1, got {patience!r}")


@dataclass
class Plateau:
    """The plateau schedule's state: how far it has cut η so far (a factor, so that a base η changed on resume
    is cut as far), and the epochs since accuracy improved or η last fell."""

    scale: float = 1.0
    wait: int = 0

    def end_epoch(self, improved: bool, factor: float, patience: int) -> None:
        self.wait = 0 if improved else self.wait + 1
        if self.wait >= patience:
            self.scale, self.wait = self.scale / factor, 0


class Schedule:
    """η for every step of a run of ``epochs`` epochs of ``steps`` steps each."""

    def __init__(self, name, eta, epochs, steps, warmup_epochs=0, plateau=None):
        self.name, self.eta, self.epochs, self.steps = check_schedule(name), float(eta), epochs, steps
        self.warmup_steps = warmup_epochs * steps
        self.plateau = plateau  # a Plateau for the plateau schedule, else None

    def epoch_etas(self, epoch: int) -> list[float]:
        """The step sizes of epoch ``epoch`` (counted from 1), one per step."""
        base = self.eta * self.plateau.scale if self.plateau is not None else self.eta
        if self.name != "cosine" and not self.warmup_steps:
            return [base] * self.steps
        first = (epoch - 1) * self.steps
        return [base * self._warmup(t) * self._decay(t) for t in range(first, first + self.steps)]

    def _warmup(self, t: int) -> float:
        return min(1.0, (t + 1) / self.warmup_steps) if self.warmup_steps else 1.0

    def _decay(self, t: int) -> float:
        if self.name != "cosine":
            return 1.0
        progress = max(0, t - self.warmup_steps) / (self.epochs * self.steps - self.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
