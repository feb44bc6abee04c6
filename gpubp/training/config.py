"""Every training knob, declared once: ``TrainingConfig``, and the one function that sizes the validation hold-out.

``Network.SGD`` takes these fields as keywords, the command line builds ``gpubp train``'s flags from them, a
checkpoint stores ``to_dict()``, and ``NetworkClassifier`` maps its parameters onto them (``estimator=``). What
each knob does is in its ``help``; how the update rules, schedules and early stopping use them is in
``optimizers.py``, ``schedules.py`` and ``trainer.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config, Rule, SettingError, choice, knob, number, optional, whole

RULES = ("sgd", "momentum", "nesterov", "adam")
SCHEDULES = ("constant", "plateau", "cosine")
VALIDATION_SEED = 1729  # the hold-out is a property of the data, not of the run: one fixed generator for it
BETA = number(0, 1, high_open=True)


RATE = number(0, 1, high_open=True)


def dropout_rates(value):
    """One dropout rate, or a list of them, one per hidden layer: a float or a tuple of floats."""
    return tuple(float(v) for v in value) if isinstance(value, (list, tuple)) else float(value)


def are_rates(value) -> bool:
    rates = value if isinstance(value, (list, tuple)) else (value,)
    return len(rates) > 0 and all(RATE.accepts(p) for p in rates)


def is_betas(value) -> bool:
    """A pair of numbers in [0, 1), as a tuple or a list (JSON's)."""
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(BETA.accepts(b) for b in value)


@dataclass(frozen=True)
class TrainingConfig(Config):
    """How a network is trained: epochs, mini-batches, η, the update rule, L2, the schedule and early stopping."""

    epochs: int = knob(30, whole(1), "train up to this epoch", flag="--epochs", estimator="max_iter", metavar="N")
    mini_batch_size: int = knob(
        10,
        whole(1),
        "samples per mini-batch",
        what="the mini-batch size",
        flag="--batch-size",
        estimator="batch_size",
        metavar="M",
    )
    eta: float = knob(
        3.0,
        number(0, low_open=True),
        "learning rate η",
        what="the learning rate η",
        flag="--lr",
        estimator="learning_rate_init",
        metavar="η",
    )
    optimizer: str = knob(
        "sgd",
        choice(*RULES),
        "update rule: sgd (the lecture's); momentum or nesterov (with momentum μ), which keep learning at large "
        "batch sizes and through long shallow valleys; adam (per-weight step sizes, little tuning; use a small "
        "learning rate such as 0.01)",
        what="the update rule",
        flag="--optimizer",
        estimator="optimizer",
        metavar="|".join(RULES),
    )
    momentum: float = knob(
        0.9,
        number(0, 1, high_open=True),
        "momentum μ of the momentum and nesterov rules; higher carries further",
        what="momentum μ",
        applies_to=("optimizer", ("momentum", "nesterov")),
        flag="--momentum",
        estimator="momentum",
        metavar="μ",
    )
    betas: tuple[float, float] = knob(
        (0.9, 0.999),
        Rule("a pair (β1, β2) of numbers in [0, 1)", is_betas, lambda v: (float(v[0]), float(v[1]))),
        "Adam's β1 and β2, the decays of its means of the gradients and of their squares",
        what="Adam's betas",
        applies_to=("optimizer", ("adam",)),
        flag="--betas",
        metavar="β1,β2",
    )
    eps: float = knob(
        1e-8,
        number(0, low_open=True),
        "Adam's ε, added to the root of its second moment",
        what="Adam's ε",
        applies_to=("optimizer", ("adam",)),
        flag="--eps",
        estimator="epsilon",
        metavar="ε",
    )
    lmbda: float = knob(
        0.0,
        number(0),
        "L2 regularization λ (network2's: w ← (1 − ηλ/n)w − η∇, biases not decayed; PyTorch's weight_decay = λ/n): "
        "use it when test accuracy trails training accuracy; 0: none",
        what="the L2 strength λ",
        flag="--l2",
        estimator="lmbda",
        metavar="λ",
    )
    schedule: str = knob(
        "constant",
        choice(*SCHEDULES),
        "how η changes: constant; plateau divides it by the plateau factor when validation accuracy (a regression's "
        "R²) stalls (needs a validation fraction); cosine decays it to 0 by the last epoch",
        what="the learning-rate schedule",
        flag="--schedule",
        estimator="schedule",
        metavar="|".join(SCHEDULES),
    )
    warmup_epochs: int = knob(
        0,
        whole(0),
        "raise η linearly from near 0 over the first K epochs, step by step; for large batches and large η, which "
        "diverge or stall without it; 0: none",
        what="the warm-up in epochs",
        flag="--warmup-epochs",
        estimator="warmup_epochs",
        metavar="K",
    )
    plateau_factor: float = knob(
        2.0,
        number(1, low_open=True),
        "the plateau schedule divides η by D > 1 (2 is Nielsen's halving); larger D settles faster but may stop "
        "learning early",
        what="the plateau factor that divides η",
        applies_to=("schedule", ("plateau",)),
        flag="--plateau-factor",
        estimator="plateau_factor",
        metavar="D",
    )
    plateau_patience: int = knob(
        5,
        whole(1),
        "the plateau schedule lowers η after P epochs without better validation accuracy (a regression's R²); raise "
        "it when that is noisy",
        what="the plateau patience in epochs",
        applies_to=("schedule", ("plateau",)),
        flag="--plateau-patience",
        estimator="plateau_patience",
        metavar="P",
    )
    dropout: float | tuple[float, ...] = knob(
        0.0,
        Rule("a rate in [0, 1), or a list of them, one per hidden layer", are_rates, dropout_rates),
        "inverted dropout: drop each hidden unit of each training row with probability p and scale the kept ones by "
        "1/(1 − p), training only; one p for every hidden layer or a comma-separated list, one per hidden layer; 0: "
        "none",
        what="the dropout rate",
        flag="--dropout",
        estimator="dropout",
        metavar="P[,P…]",
    )
    validation_fraction: float = knob(
        0.0,
        number(0, 1, high_open=True),
        "hold out this share of the training data, the same rows in every run, and report its cost and accuracy "
        "each epoch; to choose epochs and η without looking at the test set; 0: none",
        what="the validation fraction",
        flag="--validation-fraction",
        estimator="validation_fraction",
        metavar="F",
    )
    patience: int | None = knob(
        None,
        optional(whole(1), "no early stopping"),
        "stop when validation accuracy (a regression's R²) has not improved for N epochs and keep the best epoch's "
        "weights; to stop before overfitting without guessing the epochs",
        what="the early-stopping patience in epochs",
        flag="--patience",
        estimator="n_iter_no_change",
        metavar="N",
    )

    def check_together(self) -> None:
        if self.warmup_epochs and self.warmup_epochs >= self.epochs:
            raise SettingError(
                f"{{warmup_epochs={self.warmup_epochs}}} leaves no epoch at full η in a run of "
                f"{{epochs={self.epochs}}}: choose fewer warm-up epochs than epochs",
                "warmup_epochs",
                "epochs",
            )
        for needed, name in ((self.schedule == "plateau", "schedule"), (self.patience is not None, "patience")):
            if needed and not self.validation_fraction:
                what = "{schedule} plateau" if name == "schedule" else "{patience}"
                raise SettingError(
                    f"{what} watches the validation accuracy, but there is no validation data: hold some out, with "
                    f"{{validation_fraction=0.1}} say",
                    name,
                    "validation_fraction",
                )

    def dropout_rates(self, hidden_layers: int) -> tuple[float, ...]:
        """One dropout rate per hidden layer; a ``SettingError`` where a list does not have one per layer."""
        if isinstance(self.dropout, float):
            return (self.dropout,) * hidden_layers
        if len(self.dropout) != hidden_layers:
            raise SettingError(
                f"{{dropout}} lists {len(self.dropout)} rates for {hidden_layers} hidden "
                f"layer{'s' if hidden_layers != 1 else ''}: give one per hidden layer, or one rate for all",
                "dropout",
            )
        return self.dropout

    def rows(self, n_samples: int) -> tuple[int, int]:
        """``(training rows, held-out rows)`` of ``n_samples`` rows, or a ``SettingError`` where the mini-batch or
        the hold-out does not fit them."""
        held_out = held_out_rows(n_samples, self.validation_fraction)
        if self.validation_fraction and held_out < 1:
            raise SettingError(
                f"{{validation_fraction={self.validation_fraction:g}}} holds out no sample of {n_samples}: choose "
                f"at least {1 / n_samples:.2g}",
                "validation_fraction",
            )
        if self.mini_batch_size > n_samples - held_out:
            if held_out:
                raise SettingError(
                    f"{{validation_fraction={self.validation_fraction:g}}} leaves {n_samples - held_out} training "
                    f"samples, fewer than one mini-batch of {self.mini_batch_size}: hold out less or use a smaller "
                    f"{{mini_batch_size}}",
                    "validation_fraction",
                    "mini_batch_size",
                )
            raise SettingError(
                f"{{mini_batch_size={self.mini_batch_size}}} is larger than the training set ({n_samples} samples): "
                f"choose at most {n_samples}",
                "mini_batch_size",
            )
        return n_samples - held_out, held_out


def held_out_rows(n_samples: int, fraction: float) -> int:
    """How many of ``n_samples`` rows a validation fraction holds out: the one rule for every face of gpubp."""
    return round(n_samples * fraction)


def validation_split(n_samples: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(training rows, validation rows)``: the row indices of a fixed, seeded hold-out, each in ascending order."""
    order = np.random.default_rng(VALIDATION_SEED).permutation(n_samples)
    held_out = held_out_rows(n_samples, fraction)
    return np.sort(order[held_out:]), np.sort(order[:held_out])
