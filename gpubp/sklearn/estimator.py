"""What a gpubp estimator does besides its task: its parameters checked in its own words and mapped onto gpubp's
``TrainingConfig``, training runs that leave the estimator exactly as it was when they fail, the fitted network's
run, and pickles of host arrays only.

``NetworkEstimator`` is the base of ``NetworkClassifier``; a subclass turns ``y`` into the network's targets and
builds the network (``_new_network``), and this class does the rest. scikit-learn's rule holds: ``__init__`` only
stores the parameters; each ``fit`` and ``partial_fit`` checks them all, also those the chosen update rule or
schedule ignores (as ``MLPClassifier`` does), and a bad one is a ``ValueError`` naming the parameter as the caller
wrote it (``batch_size``, ``learning_rate_init``), never gpubp's knob or flag.
"""

from __future__ import annotations

import contextlib
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..config import is_whole
from ..errors import GpubpError
from ..model.config import NetworkConfig
from ..network import Network
from ..training import Trainer, TrainingConfig
from ..training.checkpoint import restore_run
from ..training.config import BETA, held_out_rows
from .inputs import on_device
from .threads import blas_threads_for

# gpubp's knobs by the estimator's names for them, for messages; Adam's betas are two parameters here.
ESTIMATOR_NAMES = {
    name: declared.estimator
    for config in (NetworkConfig, TrainingConfig)
    for name, declared in config.knobs().items()
    if declared.estimator
}
ESTIMATOR_NAMES["betas"] = "(beta_1, beta_2)"


def estimator_name(knob: str, value: str | None) -> str:
    """A knob as the estimator's parameters name it: ``batch_size``, ``batch_size=30`` (``GpubpError.renamed``)."""
    name = ESTIMATOR_NAMES.get(knob, knob)
    return name if value is None else f"{name}={value}"


def is_fitted_state(name: str) -> bool:
    """Whether attribute ``name`` is what fitting sets (``coefs_``, the run in ``_trainer``), not a parameter."""
    return name.endswith("_") or name.startswith("_")


class NetworkEstimator(BaseEstimator):
    """The training and pickling machinery of a scikit-learn estimator over a ``gpubp.Network`` (see the module)."""

    # ----- training ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _all_or_nothing(self):
        """Inside, a failure of any kind (a bad parameter, a divergence, Ctrl-C) leaves the estimator exactly as it
        was: its fitted attributes, and the fitted run that ``_train_network`` changes in place, which it enters
        into the ``contextlib.ExitStack`` this yields. gpubp's errors come out naming the estimator's parameters."""
        saved = {name: value for name, value in vars(self).items() if is_fitted_state(name)}
        with contextlib.ExitStack() as runs:
            try:
                yield runs
            except BaseException as exc:
                for name in [name for name in vars(self) if is_fitted_state(name)]:
                    delattr(self, name)
                vars(self).update(saved)
                if isinstance(exc, GpubpError):
                    raise exc.renamed(estimator_name) from None
                raise

    def _train_network(self, runs, trainer: Trainer, fresh: bool, X, targets, incremental: bool) -> None:
        """One epoch (``incremental``) or ``max_iter`` of ``trainer``'s run on ``X`` and the network's ``targets``,
        inside ``_all_or_nothing`` (``runs``); a run of a fitted network goes on from the weights its last call left
        (the best, after early stopping)."""
        if not fresh:  # a new network is simply dropped on failure; a fitted one is put back as it was
            runs.enter_context(trainer.all_or_nothing())
            trainer.restart_early_stopping()
        net = trainer.net
        X, targets = on_device(net, X), on_device(net, targets)
        config = self._training_config(len(trainer.history), X.shape[0], incremental)
        with blas_threads_for(net, config.mini_batch_size):
            trainer.train(config, (X, targets), on_epoch=self._report if self.verbose else None, on_warning=self._warn)
        self._trainer = trainer
        self._set_fitted_attributes(net, validated=config.validation_fraction > 0)

    def _check_parameters(self) -> None:
        """The parameters that map onto no gpubp knob, in the estimator's words (the rest: ``_training_config``)."""
        for name in ("warm_start", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not (isinstance(self.verbose, (bool, np.bool_)) or is_whole(self.verbose) and self.verbose >= 0):
            raise ValueError(f"verbose must be True, False or a whole number >= 0, got {self.verbose!r}")
        self._hidden_sizes()
        if not (self.random_state is None or is_whole(self.random_state)):
            if not isinstance(self.random_state, np.random.RandomState):
                raise ValueError(
                    f"random_state must be None, a whole number >= 0 (gpubp's seed) or a numpy RandomState, got "
                    f"{self.random_state!r}"
                )

    def _hidden_sizes(self) -> list[int]:
        """``hidden_layer_sizes`` as a list of widths: one whole number, or a sequence of them (empty: none)."""
        hidden = self.hidden_layer_sizes
        try:
            widths = [hidden] if is_whole(hidden) else [] if isinstance(hidden, (str, bytes)) else list(hidden)
        except TypeError:
            widths = []
        if not (widths or isinstance(hidden, (tuple, list))) or not all(is_whole(w) and w >= 1 for w in widths):
            raise ValueError(
                f"hidden_layer_sizes must be a whole number >= 1 or a sequence of them, such as (100,) or (64, 32), "
                f"got {hidden!r}"
            )
        return [int(width) for width in widths]

    def _seed(self):
        """An int ``random_state`` is gpubp's seed itself; a RandomState draws one; None leaves it to the OS."""
        if self.random_state is None or isinstance(self.random_state, Integral):
            return self.random_state
        return int(self.random_state.randint(np.iinfo(np.int32).max))

    def _training_config(self, epochs_done: int, n_samples: int, incremental: bool) -> TrainingConfig:
        """The estimator's parameters as a ``TrainingConfig``, for ``n_samples`` rows: up to one more epoch
        (``incremental``) or ``max_iter`` more. A knob goes in only where the chosen rule or schedule reads it (as
        ``MLPClassifier`` ignores ``momentum`` under Adam), so that a grid over rules needs no other changes; each
        value is checked either way."""
        if self.schedule == "plateau" and not (self.early_stopping and not incremental):
            raise ValueError(
                "schedule='plateau' divides the learning rate when the validation accuracy stalls: it "
                "needs fit with early_stopping=True, which holds out validation_fraction of the data"
            )
        if self.schedule == "cosine" and incremental:
            raise ValueError(
                "schedule='cosine' decays the learning rate to 0 by the last of max_iter epochs, which "
                "partial_fit cannot know: use fit, or schedule='constant'"
            )
        if self.warmup_epochs and incremental:
            raise ValueError(
                "warmup_epochs needs a run of more epochs than the warm-up, and each partial_fit is a "
                "run of one: use fit, or warmup_epochs=0"
            )
        for name, value in (("beta_1", self.beta_1), ("beta_2", self.beta_2)):
            if not BETA.accepts(value):
                raise ValueError(f"{name} (one of Adam's betas) must be {BETA.requirement}, got {value!r}")
        values = {
            "optimizer": self.optimizer,
            "momentum": self.momentum,
            "betas": (self.beta_1, self.beta_2),
            "eps": self.epsilon,
            "lmbda": self.lmbda,
            "schedule": self.schedule,
            "warmup_epochs": self.warmup_epochs,
            "plateau_factor": self.plateau_factor,
            "plateau_patience": self.plateau_patience,
        }
        values = {name: value for name, value in values.items() if value is not None}  # None: gpubp's default
        values = {name: TrainingConfig.check_one(name, value) for name, value in values.items()}
        defaults = TrainingConfig.defaults()
        chosen = {name: values.get(name, defaults[name]) for name, _ in TrainingConfig.applies().values()}
        for name in TrainingConfig.ignored(list(values), chosen):
            del values[name]
        fraction = TrainingConfig.check_one("validation_fraction", self.validation_fraction)
        patience = TrainingConfig.check_one("patience", self.n_iter_no_change)
        validation = {}
        if self.early_stopping and not incremental:
            if not fraction:
                raise ValueError(
                    "early_stopping=True stops on the accuracy of the validation_fraction held out, so "
                    "validation_fraction must be above 0, got 0"
                )
            validation = {"validation_fraction": fraction, "patience": patience}
        held_out = held_out_rows(n_samples, validation.get("validation_fraction", 0.0))
        epochs = 1 if incremental else TrainingConfig.check_one("epochs", self.max_iter)
        batch = self._batch_size(n_samples - held_out)
        epochs += epochs_done
        return TrainingConfig(epochs=epochs, mini_batch_size=batch, eta=self.learning_rate_init, **values, **validation)

    def _batch_size(self, n_train: int):
        """``batch_size`` for ``n_train`` training rows: ``min(200, n_train)`` for ``"auto"``, as ``MLPClassifier``;
        a whole number larger than ``n_train`` is clipped to it, with a warning; anything else goes to the
        configuration's check as it is."""
        if isinstance(self.batch_size, str):
            if self.batch_size != "auto":
                raise ValueError(f"batch_size must be 'auto' or a whole number >= 1, got {self.batch_size!r}")
            return max(1, min(200, n_train))
        if is_whole(self.batch_size) and self.batch_size > n_train >= 1:
            warnings.warn(
                f"batch_size {self.batch_size} is larger than the {n_train} training samples: using {n_train}",
                stacklevel=6,
            )
            return n_train
        return self.batch_size

    def _report(self, stats) -> None:
        line = f"Iteration {stats.epoch}, loss = {stats.training_cost:.8f}"
        if self.early_stopping and stats.validation_accuracy is not None:
            line += f", validation accuracy = {stats.validation_accuracy:.4f}"
        print(line, flush=True)

    def _warn(self, warning) -> None:
        """A ``TrainingWarning`` of the run, naming the estimator's parameters."""
        warnings.warn(warning.renamed(estimator_name), stacklevel=2)

    def _set_fitted_attributes(self, net: Network, validated: bool) -> None:
        weights, biases = net.parameters()
        history = self._trainer.history
        self.coefs_ = [np.ascontiguousarray(w.T) for w in weights]  # (n_in, n_out), MLPClassifier's layout
        self.intercepts_ = biases
        self.loss_curve_ = [stats.training_cost for stats in history]
        self.n_iter_ = len(history)
        self.n_layers_, self.n_outputs_ = net.num_layers, net.sizes[-1]
        self.out_activation_ = "softmax" if net.cost.name == "log-likelihood" else "logistic"
        self.validation_scores_ = self.best_validation_score_ = None
        if validated:
            self.validation_scores_ = [stats.validation_accuracy for stats in history]
            self.best_validation_score_ = max(s for s in self.validation_scores_ if s is not None)

    # ----- the fitted network, pickles -----------------------------------------------------------------------------

    @property
    def network_(self) -> Network:
        """The fitted ``gpubp.Network``, on ``device`` (rebuilt there from ``coefs_`` after unpickling)."""
        check_is_fitted(self)
        return self._net()

    def _net(self) -> Network:
        return self._fitted_trainer().net

    def _fitted_trainer(self) -> Trainer:
        """The fitted network's training run; after unpickling, rebuilt on ``device`` from what was pickled."""
        if getattr(self, "_trainer", None) is None:
            sizes = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
            net = Network.from_parameters(
                sizes, [c.T for c in self.coefs_], self.intercepts_, device=self.device, **self._network_settings
            )
            net.rng.bit_generator.state = self._rng_state
            trainer = Trainer(net, self._history_rows)
            if self._rule is not None:  # the update rule's state (velocity, moments): training on continues exactly
                config, steps, weight_decay, arrays = self._rule
                trainer.config = TrainingConfig.from_dict(config)
                restore_run(trainer, trainer.config, {"steps": steps, "weight_decay": weight_decay}, arrays, None, None)
            self._trainer = trainer
        return self._trainer

    def __getstate__(self):
        """The estimator with host arrays only, so that a model fitted on a GPU unpickles on any machine."""
        state = super().__getstate__()
        trainer = state.pop("_trainer", None)
        if trainer is not None:  # coefs_ and intercepts_ already hold its parameters
            net, rule = trainer.net, trainer.optimizer
            state["_network_settings"] = {"cost": net.cost.name, "dtype": net.dtype.name, "init": net.init}
            state["_rng_state"] = net.rng.bit_generator.state
            state["_history_rows"] = list(trainer.history)
            state["_rule"] = None
            if rule is not None:
                arrays = rule.state_arrays(net.backend)
                state["_rule"] = (trainer.config.to_dict(), rule.steps, rule.weight_decay, arrays)
        return state
