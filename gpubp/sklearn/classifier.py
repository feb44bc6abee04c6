"""``NetworkClassifier``: a scikit-learn classifier whose model is a ``gpubp.Network`` trained by a ``gpubp.Trainer``.

The estimator only translates: scikit-learn's conventions (any class labels, feature names, ``fit`` /
``partial_fit`` / ``warm_start``, ``random_state``, fitted attributes in ``MLPClassifier``'s shapes, pickling) on
one side, gpubp's ``NetworkConfig`` and ``TrainingConfig`` on the other. This file holds what is a classifier's:
labels, ``fit`` and ``partial_fit``, the network it builds, predictions. What every gpubp estimator shares — its
parameters checked at each call and mapped onto the knobs, calls that leave it as it was when they fail, the fitted
run and its pickles — is ``estimator.py``'s ``NetworkEstimator``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted

from ..model.costs import classes_of
from ..network import Network
from ..training import Trainer
from .estimator import NetworkEstimator
from .inputs import check_data, encode, labels_of, on_device
from .threads import blas_threads_for


class NetworkClassifier(ClassifierMixin, NetworkEstimator):
    """A fully-connected sigmoid network trained by backpropagation, as a scikit-learn classifier.

    Parameters, and how each maps to ``MLPClassifier``'s (gpubp's hidden units are always the logistic sigmoid,
    ``MLPClassifier(activation="logistic")``; its default ``relu`` has no counterpart):

    hidden_layer_sizes : tuple of int, default (100,) -- as ``MLPClassifier``.
    cost : "log-likelihood" (softmax outputs, ``MLPClassifier``'s log-loss), "cross-entropy" or "quadratic"
        (sigmoid outputs, the lecture's), default "log-likelihood".
    optimizer : "adam" (default, as ``solver="adam"``), "sgd" (plain SGD: ``solver="sgd", momentum=0``),
        "momentum" (``solver="sgd", nesterovs_momentum=False``) or "nesterov" (``solver="sgd"``, its default).
    learning_rate_init : float, default 0.01 -- the step size η, as ``MLPClassifier``'s: every rule steps by
        η times the mean gradient of the mini-batch. ``MLPClassifier``'s 0.001 suits ReLU units; sigmoid units
        under Adam learn too slowly at it for early stopping (digits, 5 seeds: 0.897 test accuracy at 0.001,
        0.982 at 0.01). The lecture's η = 3 suits plain SGD with the quadratic cost.
    batch_size : int or "auto", default "auto" -- ``min(200, n_samples)``, as ``MLPClassifier``; a larger size
        is clipped to the training set, with a warning.
    max_iter : int, default 200 -- epochs, as ``MLPClassifier``. Training runs them all unless ``early_stopping``
        stops it: there is no ``tol`` test on the training loss.
    momentum : float, default 0.9 -- μ of the momentum and nesterov rules (ignored by the others).
    beta_1, beta_2, epsilon : Adam's, defaults 0.9, 0.999, 1e-8 -- as ``MLPClassifier`` and ``torch.optim.Adam``.
    lmbda : float, default 0.0 -- L2 in network2's form, w ← (1 − ηλ/n) w − η·(mean gradient), n the number of
        training rows; biases are not decayed. ``MLPClassifier``'s ``alpha`` corresponds to ``lmbda = alpha·n/m``
        (m the batch size): ``alpha = 1e-4`` at n = 1437, m = 200 is ``lmbda ≈ 7e-4``.
    init : "scaled" (default: weights N(0, 1/n_in), biases N(0, 1), network2's) or "normal" (N(0, 1), the
        lecture's). ``MLPClassifier`` draws Glorot-uniform weights.
    schedule : "constant" (default, as ``learning_rate="constant"``), "plateau" (η divided when the validation
        accuracy stalls, like ``learning_rate="adaptive"``; needs ``early_stopping``) or "cosine" (to 0 by epoch
        ``max_iter``; ``fit`` only).
    warmup_epochs : int, default 0 -- linear warm-up of η over the first epochs, per step (``fit`` only).
    plateau_factor, plateau_patience : default None -- gpubp's plateau defaults; set to override them.
    early_stopping : bool, default False -- hold out ``validation_fraction`` of the training data (seeded, not
        stratified) and stop once the validation accuracy has not improved for ``n_iter_no_change`` epochs,
        keeping the best epoch's weights (``MLPClassifier`` keeps them too). ``partial_fit`` never holds out.
    validation_fraction : float, default 0.1; n_iter_no_change : int, default 10 -- as ``MLPClassifier``.
    dtype : "float32" (default) or "float64".
    device : "auto", "cpu", "gpu" or None (``$GPUBP_DEVICE``, else auto), as ``gpubp.Network``.
    random_state : int, RandomState or None -- an int is gpubp's ``seed``: the same network and shuffles as
        ``Network(..., seed=random_state)``.
    verbose : bool -- print the loss (and validation accuracy) after every epoch.
    warm_start : bool -- ``fit`` continues from the fitted network for ``max_iter`` more epochs; after early
        stopping, from the best epoch's weights with a fresh ``n_iter_no_change`` count (``MLPClassifier`` carries
        its count over, so it stops again after one epoch). ``partial_fit`` goes on from the same weights.

    A ``fit`` or ``partial_fit`` that fails (a bad parameter, a divergence, Ctrl-C) leaves the estimator exactly as
    it was. A divergence is ``gpubp.TrainingDiverged``, a ``ValueError`` naming the cause in these parameters' words;
    a fit that ends with saturated sigmoids warns (``gpubp.TrainingWarning``).

    Fitted attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_`` (DataFrames with string column
    names), ``coefs_`` (host arrays (n_in, n_out) per layer, ``MLPClassifier``'s shapes: gpubp's weights
    transposed) and ``intercepts_``, ``loss_curve_`` (gpubp's training cost after each epoch), ``n_iter_``,
    ``validation_scores_`` and ``best_validation_score_`` (validation accuracy; None without early stopping),
    ``n_layers_``, ``n_outputs_`` (one output per class, also for two classes) and ``out_activation_``.
    ``network_`` is the ``gpubp.Network`` itself (``gpubp.save(clf.network_, "model.npz")``).

    Inputs: NumPy arrays, lists, pandas DataFrames; CuPy arrays (anything with ``__cuda_array_interface__``) are
    trained and predicted on the GPU where they are, without a copy through the host. Sparse matrices raise a
    ``TypeError`` saying to call ``.toarray()``: the network multiplies dense matrices, so a sparse input would be
    densified anyway, and doing it silently could exhaust memory. On the CPU, each fit and prediction limits BLAS
    to the threads that pay off for its size (see ``threads.py``), never more than the caller allows.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        cost="log-likelihood",
        optimizer="adam",
        learning_rate_init=0.01,
        batch_size="auto",
        max_iter=200,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        lmbda=0.0,
        init="scaled",
        schedule="constant",
        warmup_epochs=0,
        plateau_factor=None,
        plateau_patience=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dtype="float32",
        device=None,
        random_state=None,
        verbose=False,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.cost = cost
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.lmbda = lmbda
        self.init = init
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.plateau_factor = plateau_factor
        self.plateau_patience = plateau_patience
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ----- training ------------------------------------------------------------------------------------------------

    def fit(self, X, y):
        """Train a fresh network (or, with ``warm_start``, the fitted one) for ``max_iter`` epochs."""
        fresh = not (self.warm_start and hasattr(self, "coefs_"))
        return self._train(X, y, incremental=False, fresh=fresh)

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; the first call needs ``classes``, every label that will ever appear."""
        fitted = hasattr(self, "coefs_")
        if classes is None and not fitted:
            raise ValueError("classes must be passed on the first call to partial_fit: every label y will hold")
        if classes is not None and fitted and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(
                f"classes={classes!r} differs from the classes_ this estimator was first given, {self.classes_!r}"
            )
        return self._train(X, y, incremental=True, fresh=not fitted, classes=classes)

    def _train(self, X, y, incremental: bool, fresh: bool, classes=None):
        """One epoch (``incremental``) or ``max_iter`` of a new network (``fresh``) or of the fitted one.

        A fresh network's classes are ``classes``, else those of ``y``. A call that fails, in any way and at any
        point, leaves the estimator exactly as it was before it: fitted or not, with the same network.
        """
        with self._all_or_nothing() as runs:
            self._check_parameters()
            X, y = check_data(self, X, y, reset=fresh)
            labels = self.classes_ if not fresh else unique_labels(classes) if classes is not None else labels_of(y)
            if len(labels) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes to tell apart, got 1 class ({labels[0]!r}) in y"
                )
            codes = encode(y, labels)
            trainer = Trainer(self._new_network(X.shape[1], len(labels))) if fresh else self._fitted_trainer()
            self._train_network(runs, trainer, fresh, X, codes, incremental)
            self.classes_ = labels
        return self

    def _new_network(self, n_features: int, n_classes: int) -> Network:
        return Network(
            [n_features, *self._hidden_sizes(), n_classes],
            cost=self.cost,
            dtype=self.dtype,
            device=self.device,
            seed=self._seed(),
            init=self.init,
        )

    # ----- prediction ----------------------------------------------------------------------------------------------

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in the order of ``classes_``.

        Softmax outputs are probabilities already; sigmoid outputs (cross-entropy, quadratic cost) are divided by
        their row's sum.
        """
        check_is_fitted(self)
        X = check_data(self, X)
        net = self._net()
        with blas_threads_for(net, min(X.shape[0], 8192)):
            outputs = net.feedforward(on_device(net, X))
        if self.out_activation_ == "softmax":
            return outputs
        total = outputs.sum(axis=1, keepdims=True)
        return np.divide(outputs, total, out=np.full_like(outputs, 1 / outputs.shape[1]), where=total > 0)

    def predict_log_proba(self, X) -> np.ndarray:
        with np.errstate(divide="ignore"):  # a probability that rounds to 0 is −inf, as in MLPClassifier
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[classes_of(self.predict_proba(X))]

    @property
    def network_(self) -> Network:
        """The fitted ``gpubp.Network``, on ``device`` (rebuilt there from ``coefs_`` after unpickling), labelled
        with ``classes_``, so that ``gpubp.save(clf.network_, path)`` carries them to ``gpubp predict``."""
        check_is_fitted(self)
        self._net().labels = self.classes_
        return self._net()
