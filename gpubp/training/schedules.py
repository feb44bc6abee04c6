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
        self.name, self.eta, self.epochs, self.steps = name, float(eta), epochs, steps
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
