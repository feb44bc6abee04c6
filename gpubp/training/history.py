"""The record of a training run: one ``EpochStats`` per epoch, in a ``History`` that knows the run it came from.

``Network.SGD`` returns a ``History``. Passed back as ``SGD(..., history=history)``, it continues that very run:
the update rule's state, the schedule's and early stopping's carry on, as if training had never paused. Any other
list of ``EpochStats`` rows (one read back from a file, say) continues the epoch count with a fresh rule state.
``check_rows`` is the one check of such rows, for the API and for checkpoints alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import InputError


@dataclass
class EpochStats:
    """One row of the history ``SGD`` returns. Costs are the lecture's C = (1/n) Σ_x C_x."""

    epoch: int
    seconds: float
    samples_per_s: float
    training_cost: float | None = None
    test_cost: float | None = None
    test_accuracy: float | None = None
    allreduce_seconds: float | None = None  # data-parallel runs: time this process spent summing gradients
    validation_cost: float | None = None
    validation_accuracy: float | None = None
    eta: float | None = None  # the step size in force at the epoch's last step
    test_r2: float | None = None  # regression (identity outputs): R² where classifiers have accuracy
    validation_r2: float | None = None

    @property
    def validation_score(self) -> float | None:
        """What early stopping and the plateau schedule watch: validation accuracy, or R² for regression."""
        return self.validation_accuracy if self.validation_r2 is None else self.validation_r2

    def as_dict(self) -> dict:
        return asdict(self)


class History(list):
    """The ``EpochStats`` of every epoch so far, in order.

    ``best_epoch``: with early stopping (``patience``), the epoch whose weights the network ended with, the best on
    validation, whether training stopped early or not; else ``None``. ``trainer``: the run that wrote it, which
    ``SGD(..., history=this)`` continues. A pickled or copied history keeps its rows and ``best_epoch`` only.
    """

    def __init__(self, rows=(), best_epoch: int | None = None, trainer=None):
        super().__init__(rows)
        self.best_epoch, self.trainer = best_epoch, trainer

    def __reduce__(self):
        return History, (list(self), self.best_epoch)

    def __copy__(self):
        return History(self, self.best_epoch)


def check_rows(rows, what: str = "history") -> list[EpochStats]:
    """``rows`` as a list of ``EpochStats`` numbered 1, 2, 3… (None: no rows), or an ``InputError`` naming the first
    that is not."""
    if rows is None:
        return []
    if isinstance(rows, (str, bytes, dict)):  # iterable, but never rows: a path, a row's as_dict()
        raise InputError(f"{what} must be a list of EpochStats rows (what SGD returns), got {rows!r:.200}")
    try:
        rows = list(rows)
    except TypeError:
        raise InputError(f"{what} must be a list of EpochStats rows (what SGD returns), got {rows!r:.200}") from None
    for epoch, row in enumerate(rows, start=1):
        if not isinstance(row, EpochStats):
            raise InputError(f"{what} must hold EpochStats rows (what SGD returns); row {epoch} is {row!r:.200}")
        if type(row.epoch) is not int or row.epoch != epoch:
            raise InputError(f"{what}'s row {epoch} is numbered {row.epoch!r}: the epochs must run 1, 2, 3, …")
    return rows


def row_from_dict(row, epoch: int) -> EpochStats:
    """One history row as ``as_dict`` wrote it (a checkpoint's JSON), checked field by field: a ``TypeError`` or
    ``ValueError`` says what is wrong."""
    names = {field.name for field in fields(EpochStats)}
    required = {"epoch", "seconds", "samples_per_s"}
    if not isinstance(row, dict) or set(row) - names or required - set(row):
        raise TypeError(f"history row {epoch} is not a row of {sorted(names)}: {str(row)[:200]}")
    for name, value in row.items():
        if value is None and name not in required:
            continue  # a metric this run did not compute
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"history row {epoch} has {name} = {value!r}, not a number")
    if row["epoch"] != epoch or not isinstance(row["epoch"], int):
        raise ValueError(f"history row {epoch} is numbered {row['epoch']!r}")
    return EpochStats(**row)
