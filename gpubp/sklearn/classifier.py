"""``NetworkClassifier``: a scikit-learn classifier whose model is a ``gpubp.Network`` trained by a ``gpubp.Trainer``.

The estimator only translates: scikit-learn's conventions (any class labels, multilabel indicator matrices, feature
names, sample and class weights, ``fit`` / ``partial_fit`` / ``warm_start``, ``random_state``, fitted attributes in
``MLPClassifier``'s shapes, pickling) on one side, gpubp's ``NetworkConfig`` and ``TrainingConfig`` on the other.
This file holds what is a classifier's: labels, class weights, ``partial_fit``'s classes, the cost and output layer,
predictions. What every gpubp estimator shares — its parameters checked at each call and mapped onto the knobs,
sample weights, calls that leave it as it was when they fail, the fitted run and its pickles — is
``estimator.py``'s ``NetworkEstimator``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted

from ..config import is_real
from ..model.costs import classes_of
from ..network import Network
from .estimator import PARAMETERS, NetworkEstimator, store_parameters
from .inputs import check_data, encode, labels_of, on_device, on_gpu
from .threads import blas_threads_for


class NetworkClassifier(ClassifierMixin, NetworkEstimator):
    __doc__ = f"""A fully-connected network trained by backpropagation, as a scikit-learn classifier.

    ``y`` is one class label per row (any labels: strings, non-contiguous integers), or for multilabel targets a 0/1
    indicator matrix (n, k), one column per label, as ``MLPClassifier`` takes it: each output is then a sigmoid
    of its own, trained with the cross-entropy cost; ``predict`` returns the indicator matrix (each label where
    its probability is above ½), ``predict_proba`` each label's probability, ``score`` the subset accuracy (a row
    counts where every label is right; so do the validation scores of early stopping), and ``classes_`` is
    ``arange(k)``.

    Parameters, and how each maps to ``MLPClassifier``'s:

    cost : None (default), "log-likelihood", "cross-entropy" or "quadratic". None is the task's own:
        "log-likelihood" for class labels (softmax outputs, ``MLPClassifier``'s log-loss), "cross-entropy" for
        multilabel targets (a sigmoid per label, ``MLPClassifier``'s binary log-loss per label). "cross-entropy"
        and "quadratic" (the lecture's) put sigmoid outputs on class labels too; "log-likelihood" refuses
        multilabel targets (a softmax makes the labels compete).
    class_weight : None (default), "balanced" or a dict {{label: weight}} -- each row's weight in the cost is its
        class's weight times its ``sample_weight``. "balanced" is scikit-learn's ``compute_class_weight``,
        n / (k · the weight of each class's rows), over the ``y`` of each ``fit`` (``partial_fit`` refuses it: a
        chunk's class counts are not the data's; pass the dict it computes for the whole data). A dict's classes
        not named weigh 1. ``MLPClassifier`` has no ``class_weight``. Not for multilabel targets (a row has
        several labels): use ``sample_weight``.
{PARAMETERS.format(model="MLPClassifier", score="accuracy")}
    Fitted attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_`` (DataFrames with string column
    names), ``coefs_`` (host arrays (n_in, n_out) per layer, ``MLPClassifier``'s shapes: gpubp's weights
    transposed) and ``intercepts_``, ``loss_curve_`` (gpubp's training cost after each epoch: the weighted mean
    with weights), ``best_loss_`` (its least; None with early stopping), ``n_iter_``, ``validation_scores_`` and
    ``best_validation_score_`` (validation accuracy, subset accuracy for multilabel targets; None without early
    stopping), ``n_layers_``, ``n_outputs_`` (one output per class, also for two classes, one per label for
    multilabel targets) and ``out_activation_`` ("softmax" or "logistic"). ``network_`` is the ``gpubp.Network``
    itself (``gpubp.save(clf.network_, "model.npz")``).
"""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        leaky_slope=0.01,
        dropout=0.0,
        cost=None,
        class_weight=None,
        optimizer="adam",
        learning_rate_init=0.001,
        batch_size="auto",
        max_iter=200,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        lmbda=0.0,
        init="glorot",
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
        store_parameters(self, locals())

    # ----- training ------------------------------------------------------------------------------------------------

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``; the first call needs ``classes``, every label that will ever appear (for
        multilabel targets, where the columns are the labels, ``classes`` may be left out)."""
        fitted = hasattr(self, "coefs_")
        if classes is not None and fitted and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(
                f"classes={classes!r} differs from the classes_ this estimator was first given, {self.classes_!r}"
            )
        return self._train(X, y, sample_weight, incremental=True, fresh=not fitted, classes=classes)

    def _targets(self, y, fresh: bool, incremental: bool, classes):
        """The network's targets for ``y`` (class indices, or the indicator matrix) and its number of outputs; a
        fresh network's classes are ``classes``, else those of ``y`` (``arange(k)`` for multilabel targets)."""
        multilabel = y.ndim == 2
        if fresh:
            if multilabel:
                labels = np.arange(y.shape[1])
                if classes is not None and not np.array_equal(unique_labels(classes), labels):
                    raise ValueError(
                        f"classes={classes!r} does not name y's {y.shape[1]} label columns: for multilabel targets "
                        f"classes_ is {labels!r} (or leave classes out)"
                    )
            elif classes is None and incremental:
                raise ValueError("classes must be passed on the first call to partial_fit: every label y will hold")
            else:
                labels = unique_labels(classes) if classes is not None else labels_of(y)
            if len(labels) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes to tell apart, got 1 class ({labels[0]!r}) in y"
                )
            self.classes_, self._multilabel = labels, multilabel
        elif multilabel != self._multilabel or multilabel and y.shape[1] != len(self.classes_):
            fitted = f"{len(self.classes_)} label columns" if self._multilabel else "class labels"
            given = f"{y.shape[1]} label columns" if multilabel else "class labels"
            raise ValueError(
                f"y holds {given}, but this estimator was fitted on {fitted}: pass targets like those, or fit afresh"
            )
        return (y if multilabel else encode(y, self.classes_)), len(self.classes_)

    def _task_knobs(self) -> dict:
        """The cost (and so the output layer) for this estimator's targets: ``cost``, else the task's own."""
        if self.cost is None:
            return {"cost": "cross-entropy" if self._multilabel else "log-likelihood"}
        if self._multilabel and isinstance(self.cost, str) and self.cost.strip().lower() == "log-likelihood":
            raise ValueError(
                "cost='log-likelihood' puts a softmax on the outputs, which makes the labels compete, but multilabel "
                "targets need one yes/no output per label: use cost='cross-entropy' (or None, which chooses it)"
            )
        return {"cost": self.cost}

    def _configure_network(self, net: Network) -> None:
        net.multilabel = self._multilabel

    def _check_parameters(self) -> None:
        super()._check_parameters()
        weights = self.class_weight
        if not (weights is None or isinstance(weights, dict) or isinstance(weights, str) and weights == "balanced"):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {weights!r}")
        if isinstance(weights, dict) and not all(is_real(w) and w >= 0 for w in weights.values()):
            raise ValueError(f"class_weight's weights must be finite numbers >= 0, got {weights!r}")

    def _row_weights(self, sample_weight, targets, incremental: bool):
        """Each row's weight: its class's ``class_weight`` times its ``sample_weight`` (either may be None)."""
        if self.class_weight is None:
            return sample_weight
        if self._multilabel:
            raise ValueError(
                "class_weight weighs each row by its class, but a row of multilabel targets has several labels: "
                "weigh rows with sample_weight instead"
            )
        if self.class_weight == "balanced" and incremental:
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: a chunk's class counts are not the data's. "
                "Compute them once with sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, "
                "y=y) over all of y (or a large sample of it) and pass the dict as class_weight"
            )
        if isinstance(self.class_weight, dict):
            unknown = [label for label in self.class_weight if label not in self.classes_.tolist()]
            if unknown:
                raise ValueError(
                    f"class_weight names labels {unknown} that are not in classes_ {self.classes_.tolist()}"
                )
        codes, weights = (array.get() if on_gpu(array) else array for array in (targets, sample_weight))  # n each
        per_class = self._class_weights(codes, weights)
        if weights is None:
            rows = per_class[codes]
        else:
            with np.errstate(invalid="ignore"):  # a class whose rows all weigh 0 is balanced to ∞: they stay 0
                rows = np.where(weights > 0, per_class[codes] * weights, 0.0)
        if not rows.any():
            raise ValueError(
                "class_weight (with sample_weight) gives every row weight zero, so nothing would be learned: give "
                "some class a weight above 0"
            )
        return rows

    def _class_weights(self, codes, weights) -> np.ndarray:
        """Each class's weight, in the order of ``classes_``: ``class_weight``'s (1 for a class it does not name),
        or, balanced, scikit-learn's ``compute_class_weight("balanced")``: the rows' total weight over k times each
        class's (n / (k · count) without sample weights; with them, as scikit-learn's linear models balance)."""
        k = len(self.classes_)
        if isinstance(self.class_weight, dict):
            index = {label: i for i, label in enumerate(self.classes_.tolist())}
            per_class = np.ones(k)
            for label, weight in self.class_weight.items():
                per_class[index[label]] = weight
            return per_class
        totals = np.bincount(codes, weights=weights, minlength=k)
        with np.errstate(divide="ignore"):  # a class whose rows all weigh 0 gets ∞ (its rows stay at 0 below)
            return totals.sum() / (k * totals)

    # ----- prediction ----------------------------------------------------------------------------------------------

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in the order of ``classes_``; for multilabel targets, each
        label's probability (n, k), its sigmoid output.

        Softmax outputs are probabilities already; sigmoid outputs for class labels (cross-entropy, quadratic cost)
        are divided by their row's sum.
        """
        check_is_fitted(self)
        X = check_data(self, X)
        net = self._net()
        with blas_threads_for(net, min(X.shape[0], 8192)):
            outputs = net.feedforward(on_device(net, X))
        if self.out_activation_ == "softmax" or self._multilabel:
            return outputs
        total = outputs.sum(axis=1, keepdims=True)
        return np.divide(outputs, total, out=np.full_like(outputs, 1 / outputs.shape[1]), where=total > 0)

    def predict_log_proba(self, X) -> np.ndarray:
        with np.errstate(divide="ignore"):  # a probability that rounds to 0 is −inf, as in MLPClassifier
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """Each row's class (from ``classes_``), or for multilabel targets its 0/1 indicator row (int64, as
        ``MLPClassifier``'s), by the network's one rule (``costs.classes_of``)."""
        check_is_fitted(self)
        indices = classes_of(self.predict_proba(X), self._multilabel)
        return indices if self._multilabel else self.classes_[indices]

    @property
    def network_(self) -> Network:
        """The fitted ``gpubp.Network``, on ``device`` (rebuilt there from ``coefs_`` after unpickling), labelled
        with ``classes_``, so that ``gpubp.save(clf.network_, path)`` carries them to ``gpubp predict``."""
        check_is_fitted(self)
        self._net().labels = self.classes_
        return self._net()
