"""What a gpubp estimator does besides its task: its parameters checked in its own words and mapped onto gpubp's
``NetworkConfig`` and ``TrainingConfig``, sample weights, training runs that leave the estimator exactly as it was
when they fail, the fitted network's run, and pickles of host arrays only.

``NetworkEstimator`` is the base of ``NetworkClassifier`` and ``NetworkRegressor``; a subclass turns ``y`` into the
network's targets (``_targets``), names its network's cost and output layer (``_task_knobs``), may weight rows
further (``_row_weights``: the classifier's ``class_weight``), and this class does the rest. scikit-learn's rule
holds: ``__init__`` only stores the parameters; each ``fit`` and ``partial_fit`` checks them all, also those the
chosen update rule, schedule or activation ignores (as ``MLPClassifier`` does), and a bad one is a ``ValueError``
naming the parameter as the caller wrote it (``batch_size``, ``learning_rate_init``), never gpubp's knob or flag.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ..config import is_whole
from ..errors import GpubpError
from ..model.config import NetworkConfig
from ..network import Network
from ..training import Trainer, TrainingConfig
from ..training.checkpoint import restore_run
from ..training.config import BETA, held_out_rows
from .inputs import check_data, on_device, on_gpu
from .threads import blas_threads_for

# gpubp's knobs by the estimator's names for them, for messages; Adam's betas are two parameters here.
ESTIMATOR_NAMES = {
    name: declared.estimator
    for config in (NetworkConfig, TrainingConfig)
    for name, declared in config.knobs().items()
    if declared.estimator
}
ESTIMATOR_NAMES["betas"] = "(beta_1, beta_2)"
# scikit-learn's names for gpubp's units where they differ: MLPClassifier's activation="logistic" is σ
SKLEARN_UNITS = {"logistic": "sigmoid"}


# The parameters both estimators share, for their docstrings ({model}: MLPClassifier or MLPRegressor; {score}: what
# early stopping watches). Each maps onto one gpubp knob, whose declaration checks it (its help: docs/training.md).
PARAMETERS = """
    hidden_layer_sizes : tuple of int, default (100,) -- as ``{model}``.
    activation : "relu" (default, as ``{model}``), "tanh", "logistic" (σ, gpubp's "sigmoid": either name),
        "identity" or "leaky_relu"; or a list with one per hidden layer, such as ["relu", "tanh"].
    leaky_slope : float in (0, 1), default 0.01 -- leaky ReLU's slope below 0 (read by "leaky_relu" units only).
    dropout : float in [0, 1) or a list with one per hidden layer, default 0.0 -- inverted dropout: in training
        each hidden unit of each row is dropped with probability p and the kept ones scaled by 1/(1 − p);
        predictions and scores never drop. ``{model}`` has none.
    init : "glorot" (default), None, "he", "scaled" or "normal" -- how the first weights are drawn. "glorot" is
        ``{model}``'s draw: weights and biases uniform in ±√(6/(n_in + n_out)), or ±√(2/(n_in + n_out)) into σ
        units (``{model}`` takes the bound of its hidden units for the output layer too; gpubp that of the
        layer's own units). None is each activation's own: "he" (N(0, 2/n_in), biases 0) for ReLU and leaky
        ReLU, "glorot" for tanh and identity, "normal" (the lecture's N(0, 1)) for σ; "scaled" is N(0, 1/n_in),
        network2's. (He's draw for 100 ReLUs reached a test R² of 0.870 on friedman1 where Glorot's reached 0.928,
        as ``MLPRegressor``'s: docs/scikit-learn.md.)
    optimizer : "adam" (default, as ``solver="adam"``), "sgd" (plain SGD: ``solver="sgd", momentum=0``),
        "momentum" (``solver="sgd", nesterovs_momentum=False``) or "nesterov" (``solver="sgd"``, its default).
    learning_rate_init : float, default 0.001 -- the step size η, as ``{model}``'s: every rule steps by η times
        the mean gradient of the mini-batch. With ``early_stopping`` a larger one may serve better: 0.001 learns
        slowly enough for the validation score to stall early (the digits: 0.953 test accuracy at 0.001 with
        early stopping, 0.978 at 0.01, 0.989 at 0.001 without; medians of 5 seeds, docs/scikit-learn.md). The
        lecture's η = 3 suits plain SGD with σ units.
    batch_size : int or "auto", default "auto" -- ``min(200, n_samples)``, as ``{model}``; a larger size is
        clipped to the training set, with a warning.
    max_iter : int, default 200 -- epochs, as ``{model}``. Training runs them all unless ``early_stopping``
        stops it: there is no ``tol`` test on the training loss.
    momentum : float, default 0.9 -- μ of the momentum and nesterov rules (ignored by the others).
    beta_1, beta_2, epsilon : Adam's, defaults 0.9, 0.999, 1e-8 -- as ``{model}`` and ``torch.optim.Adam``.
    lmbda : float, default 0.0 -- L2 in network2's form, w ← (1 − ηλ/n) w − η·(mean gradient), n the number of
        training rows; biases are not decayed. ``{model}``'s ``alpha`` adds alpha/m·W to each mini-batch's mean
        gradient (m rows), so it is ``lmbda = alpha·n/m``: ``alpha = 1e-4`` at n = 1437, m = 200 is
        ``lmbda ≈ 7e-4``.
    schedule : "constant" (default, as ``learning_rate="constant"``), "plateau" (η divided when the validation
        {score} stalls, like ``learning_rate="adaptive"``; needs ``early_stopping``) or "cosine" (to 0 by epoch
        ``max_iter``; ``fit`` only).
    warmup_epochs : int, default 0 -- linear warm-up of η over the first epochs, per step (``fit`` only).
    plateau_factor, plateau_patience : default None -- gpubp's plateau defaults; set to override them.
    early_stopping : bool, default False -- hold out ``validation_fraction`` of the training data (seeded, not
        stratified, the same rows for every seed) and stop once the validation {score} has not improved for
        ``n_iter_no_change`` epochs, keeping the best epoch's weights (``{model}`` keeps them too). Every
        held-out row counts once in the score, whatever its sample weight (``{model}`` weighs them).
        ``partial_fit`` never holds out.
    validation_fraction : float, default 0.1; n_iter_no_change : int, default 10 -- as ``{model}``.
    dtype : "float32" (default) or "float64".
    device : "auto", "cpu", "gpu" or None (``$GPUBP_DEVICE``, else auto), as ``gpubp.Network``.
    random_state : int, RandomState or None -- an int is gpubp's ``seed``: the same network and shuffles as
        ``Network(..., seed=random_state)``.
    verbose : bool -- print the loss (and the validation {score}) after every epoch.
    warm_start : bool -- ``fit`` continues from the fitted network for ``max_iter`` more epochs; after early
        stopping, from the best epoch's weights with a fresh ``n_iter_no_change`` count (``{model}`` carries its
        count over, so it stops again after one epoch). ``partial_fit`` goes on from the same weights. Either
        refuses a changed ``hidden_layer_sizes``, ``activation``, ``leaky_slope``, cost or ``dtype``: a fitted
        network keeps its layers.

    ``fit(X, y, sample_weight=None)`` and ``partial_fit`` take one weight >= 0 per row: it scales the row's share
    of the cost, a mini-batch's cost being the weighted mean, so that an integer weight counts as that many
    copies of the row. A ``fit`` or ``partial_fit`` that fails (a bad parameter, a divergence, Ctrl-C) leaves the
    estimator exactly as it was. A divergence is ``gpubp.TrainingDiverged``, a ``ValueError`` naming the cause in
    these parameters' words; a fit that ends with a saturated hidden layer warns (``gpubp.TrainingWarning``).

    Inputs: NumPy arrays, lists, pandas DataFrames; CuPy arrays (anything with ``__cuda_array_interface__``) are
    trained and predicted on the GPU where they are, without a copy through the host. Sparse ``X`` raises a
    ``TypeError`` saying to call ``.toarray()``: the network multiplies dense matrices, so a sparse input would be
    densified anyway, and doing it silently could exhaust memory. On the CPU, each fit and prediction limits BLAS
    to the threads that pay off for its size (see ``threads.py``), never more than the caller allows.
"""


def estimator_name(knob: str, value: str | None) -> str:
    """A knob as the estimator's parameters name it: ``batch_size``, ``batch_size=30`` (``GpubpError.renamed``)."""
    name = ESTIMATOR_NAMES.get(knob, knob)
    return name if value is None else f"{name}={value}"


def is_fitted_state(name: str) -> bool:
    """Whether attribute ``name`` is what fitting sets (``coefs_``, the run in ``_trainer``), not a parameter."""
    return name.endswith("_") or name.startswith("_")


def gpubp_activation(activation):
    """``activation`` in gpubp's names (``"logistic"`` is ``"sigmoid"``, in any case, also in a list, as a tuple);
    anything else is left as it is, for the knob's declaration to check."""

    def one(name):
        return SKLEARN_UNITS.get(name.strip().lower(), name) if isinstance(name, str) else name

    return tuple(one(name) for name in activation) if isinstance(activation, (list, tuple)) else one(activation)


def sklearn_units(name: str) -> str:
    """gpubp's name of a layer's units as scikit-learn's ``out_activation_`` names them (σ is ``"logistic"``)."""
    return next((theirs for theirs, ours in SKLEARN_UNITS.items() if ours == name), name)


def checked_knobs(config, values: dict) -> dict:
    """``values`` (knob: value; None for the knob's default) each checked by ``config``'s declaration, less those
    that the choices among them do not read (``momentum`` beside Adam, ``leaky_slope`` beside ReLU), as
    ``MLPClassifier`` ignores ``momentum`` under Adam: a grid over the choices needs no other changes."""
    values = {name: config.check_one(name, value) for name, value in values.items() if value is not None}
    chosen = {name: values.get(name, config.defaults()[name]) for name, _ in config.applies().values()}
    for name in config.ignored(list(values), chosen):
        del values[name]
    return values


def store_parameters(estimator, parameters: dict) -> None:
    """``__init__``'s only work under scikit-learn's rule: keep each parameter as given (``parameters``: the call's
    ``locals()``), checking nothing."""
    for name, value in parameters.items():
        if name != "self":
            setattr(estimator, name, value)


@dataclasses.dataclass
class FitPlan:
    """What one ``fit`` (or ``partial_fit``) trains, its inputs checked (``NetworkEstimator._plan``): ``X`` and the
    network's ``targets``, the rows' ``weights`` (host, or None), the network's ``sizes``, ``NetworkConfig``
    ``knobs`` and ``seed``, and the run's ``TrainingConfig``."""

    X: object
    targets: object
    weights: object
    sizes: list
    knobs: dict
    seed: object
    config: TrainingConfig


class NetworkEstimator(BaseEstimator):
    """The training and pickling machinery of a scikit-learn estimator over a ``gpubp.Network`` (see the module)."""

    _score_name = "accuracy"  # the validation score, as messages and verbose lines name it

    # ----- training ------------------------------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train a fresh network (or, with ``warm_start``, the fitted one) for ``max_iter`` epochs.

        ``sample_weight``: one number >= 0 per row (None: all 1). A row's weight scales its share of the cost, and a
        mini-batch's cost is the weighted mean, so that an integer weight counts as that many copies of the row.
        """
        fresh = not (self.warm_start and hasattr(self, "coefs_"))
        return self._train(X, y, sample_weight, incremental=False, fresh=fresh)

    def _train(self, X, y, sample_weight, incremental: bool, fresh: bool, classes=None):
        """One epoch (``incremental``) or ``max_iter`` of a new network (``fresh``) or of the fitted one.

        A call that fails, in any way and at any point, leaves the estimator exactly as it was before it: fitted or
        not, with the same network.
        """
        with self._all_or_nothing() as runs:
            trainer = None if fresh else self._fitted_trainer()
            epochs_done = 0 if fresh else len(trainer.history)
            plan = self._plan(X, y, sample_weight, incremental, fresh, classes, epochs_done)
            if fresh:
                trainer = Trainer(self._new_network(plan, Network, None))
            else:
                self._check_same_network(trainer.net, plan.knobs)
            self._train_network(runs, trainer, fresh, plan)
        return self

    def _plan(self, X, y, sample_weight, incremental=False, fresh=True, classes=None, epochs_done=0) -> FitPlan:
        """What a call trains, every parameter and input checked: ``X``, the network's targets and the rows'
        weights, the network's sizes, knobs and seed, and the ``TrainingConfig`` up to ``epochs_done`` plus one
        epoch (``incremental``) or ``max_iter``. A fresh plan records ``n_features_in_`` and the task's own
        (``classes_``). ``fit`` trains by it, and ``NetworkSearchCV`` plans each of its fits with it, so that a
        member of its arrays is exactly this estimator's fit."""
        self._check_parameters()
        X, y = check_data(self, X, y, reset=fresh)
        targets, n_outputs = self._targets(y, fresh, incremental, classes)
        weights = self._row_weights(self._sample_weight(sample_weight, X), targets, incremental)
        knobs = self._network_knobs()
        sizes = [X.shape[1], *self._hidden_sizes(), n_outputs]
        seed = self._seed() if fresh else None  # drawn once per fresh network, from a RandomState as it stands
        config = self._training_config(epochs_done, X.shape[0], incremental)
        return FitPlan(X, targets, weights, sizes, knobs, seed, config)

    def _new_network(self, plan: FitPlan, network_class, count):
        """A fresh network for ``plan`` (``count`` None), or an array of ``count`` such networks seeded
        ``plan.seed[k]`` (``network_class``: ``gpubp.NetworkArray``), configured as this estimator's task needs."""
        if count is None:
            net = network_class(plan.sizes, device=self.device, seed=plan.seed, **plan.knobs)
        else:
            net = network_class(plan.sizes, count, seeds=plan.seed, device=self.device, **plan.knobs)
        for each in (net, *getattr(net, "members", ())):
            self._configure_network(each)
        return net

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

    def _train_network(self, runs, trainer: Trainer, fresh: bool, plan: FitPlan) -> None:
        """``trainer``'s run by ``plan``, inside ``_all_or_nothing`` (``runs``); a run of a fitted network goes on
        from the weights its last call left (the best, after early stopping)."""
        if not fresh:  # a new network is simply dropped on failure; a fitted one is put back as it was
            runs.enter_context(trainer.all_or_nothing())
            trainer.restart_early_stopping()
        net, config = trainer.net, plan.config
        X, targets = on_device(net, plan.X), on_device(net, plan.targets)
        report = self._report if self.verbose else None
        with blas_threads_for(net, config.mini_batch_size):
            trainer.train(config, (X, targets), sample_weight=plan.weights, on_epoch=report, on_warning=self._warn)
        self._adopt(trainer, config)

    def _adopt(self, trainer: Trainer, config: TrainingConfig) -> None:
        """Become the estimator fitted by ``trainer``'s run, trained by ``config``."""
        self._trainer = trainer
        self._set_fitted_attributes(trainer.net, validated=config.validation_fraction > 0)

    def _sample_weight(self, sample_weight, X):
        """``sample_weight`` as scikit-learn checks it (``_check_sample_weight``: one finite number >= 0 per row of
        ``X``, or one number for all, not all 0) as float64; None stays None; a GPU array is left to the training
        run's own check (the same rules)."""
        if sample_weight is None or on_gpu(sample_weight):
            return sample_weight
        rows = np.broadcast_to(np.float64(0), (X.shape[0], 1)) if on_gpu(X) else X  # only its row count is read
        return _check_sample_weight(sample_weight, rows, dtype=np.float64, ensure_non_negative=True)

    def _row_weights(self, sample_weight, targets, incremental: bool):
        """Each row's weight in training: the sample weight (a subclass may multiply in more)."""
        return sample_weight

    def _configure_network(self, net: Network) -> None:
        """What a subclass sets on its network besides the knobs, for a new network and one rebuilt from a pickle."""

    def _check_parameters(self) -> None:
        """The parameters that map onto no gpubp knob, in the estimator's words (the rest: ``_network_knobs`` and
        ``_training_config``)."""
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

    def _network_knobs(self) -> dict:
        """The parameters that shape the network as ``NetworkConfig``'s knobs (the seed aside), each checked by its
        declaration, with the task's cost and output layer; a list of activations must have one per hidden layer."""
        values = {
            "activation": gpubp_activation(self.activation),
            "leaky_slope": self.leaky_slope,
            "init": self.init,
            "dtype": self.dtype,
            **self._task_knobs(),
        }
        knobs = checked_knobs(NetworkConfig, values)
        NetworkConfig(**knobs).hidden_activations(len(self._hidden_sizes()))  # the pairs and the layer count
        return knobs

    def _check_same_network(self, net: Network, knobs: dict) -> None:
        """Refuse to train the fitted ``net`` on where a parameter that shaped it has changed since (a fitted
        network keeps its layers and units; ``init`` and ``random_state`` only drew its first weights)."""
        config = NetworkConfig(**knobs)
        hidden = len(net.sizes) - 2
        for name, now, fitted in (
            ("hidden_layer_sizes", tuple(self._hidden_sizes()), tuple(net.sizes[1:-1])),
            ("activation", config.hidden_activations(hidden), net.activations),
            ("leaky_slope", config.leaky_slope, net.config.leaky_slope),
            ("cost", config.cost, net.cost.name),
            ("dtype", config.dtype, net.dtype.name),
        ):
            if now != fitted:
                raise ValueError(
                    f"{name} is {now!r} now, but the fitted network has {fitted!r}: a fitted network keeps its layers "
                    f"and units, so warm_start and partial_fit go on with them; fit afresh (warm_start=False) to "
                    f"change them"
                )

    def _seed(self):
        """An int ``random_state`` is gpubp's seed itself; a RandomState draws one; None leaves it to the OS."""
        if self.random_state is None or isinstance(self.random_state, Integral):
            return self.random_state
        return int(self.random_state.randint(np.iinfo(np.int32).max))

    def _training_config(self, epochs_done: int, n_samples: int, incremental: bool) -> TrainingConfig:
        """The estimator's parameters as a ``TrainingConfig``, for ``n_samples`` rows: up to one more epoch
        (``incremental``) or ``max_iter`` more. A knob goes in only where the chosen rule or schedule reads it
        (``checked_knobs``); each value is checked either way."""
        if self.schedule == "plateau" and not (self.early_stopping and not incremental):
            raise ValueError(
                f"schedule='plateau' divides the learning rate when the validation {self._score_name} stalls: it "
                f"needs fit with early_stopping=True, which holds out validation_fraction of the data"
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
            "dropout": self.dropout,
        }
        values = checked_knobs(TrainingConfig, values)
        fraction = TrainingConfig.check_one("validation_fraction", self.validation_fraction)
        patience = TrainingConfig.check_one("patience", self.n_iter_no_change)
        validation = {}
        if self.early_stopping and not incremental:
            if not fraction:
                raise ValueError(
                    f"early_stopping=True stops on the {self._score_name} of the validation_fraction held out, so "
                    f"validation_fraction must be above 0, got 0"
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
        if self.early_stopping and stats.validation_score is not None:
            line += f", validation {self._score_name} = {stats.validation_score:.4f}"
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
        self.out_activation_ = sklearn_units(net.output)
        self.validation_scores_ = self.best_validation_score_ = None
        # as MLPClassifier's: None with a hold-out (and in NetworkSearchCV's scored members, whose training cost
        # nothing reads, so none was computed)
        self.best_loss_ = None if validated or None in self.loss_curve_ else min(self.loss_curve_)
        if validated:
            self.validation_scores_ = [stats.validation_score for stats in history]
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
            self._configure_network(net)
            trainer = Trainer(net, self._history_rows)
            if self._run is not None:  # the update rule's state (velocity, moments), early stopping's, dropout's seed
                config, steps, weight_decay, arrays, state, best = self._run
                trainer.config = TrainingConfig.from_dict(config)
                optimizer = {"steps": steps, "weight_decay": weight_decay}
                restore_run(trainer, trainer.config, optimizer, arrays, None if state is None else dict(state), best)
            self._trainer = trainer
        return self._trainer

    def __getstate__(self):
        """The estimator with host arrays only, so that a model fitted on a GPU unpickles on any machine, and the
        whole run, so that training on after unpickling goes on exactly as it would have."""
        state = super().__getstate__()
        trainer = state.pop("_trainer", None)
        if trainer is not None:  # coefs_ and intercepts_ already hold its parameters
            net, rule = trainer.net, trainer.optimizer
            state["_network_settings"] = {k: v for k, v in net.config.to_dict().items() if k != "seed"}
            state["_rng_state"] = net.rng.bit_generator.state
            state["_history_rows"] = list(trainer.history)
            state["_run"] = None
            if rule is not None:
                best = trainer.state.best_parameters
                state["_run"] = (
                    trainer.config.to_dict(),
                    rule.steps,
                    rule.weight_decay,
                    rule.state_arrays(net.backend),
                    trainer.state.to_json(),
                    None if best is None else net.backend.to_host(best),
                )
        return state
