"""``NetworkRegressor``: a scikit-learn regressor whose model is a ``gpubp.Network`` with identity outputs.

The lecture's quadratic cost C = 1/2n Σ‖y − a‖² on unbounded outputs (``Network(..., cost="quadratic",
output="identity")``, whose δ^L is a − y), one output per target column. This file holds what is a regressor's:
real targets, one or many per row, the shape ``predict`` returns, and ``score`` as R² (``RegressorMixin``); the
rest — parameters, sample weights, training runs, pickles — is ``estimator.py``'s ``NetworkEstimator``, shared with
``NetworkClassifier``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .estimator import PARAMETERS, NetworkEstimator, store_parameters
from .inputs import check_data, on_device
from .threads import blas_threads_for


class NetworkRegressor(RegressorMixin, NetworkEstimator):
    __doc__ = f"""A fully-connected network with identity outputs and the quadratic cost, as a scikit-learn regressor.

    ``y`` is real targets: (n,) for one (``predict`` then returns (n,)), or (n, k) for k at once (``predict``
    returns (n, k), also for k = 1). ``score`` is R² (``RegressorMixin``: over several targets, their mean). The
    cost is the lecture's, ½‖y − a‖² per row summed over the targets and averaged over the rows; ``MLPRegressor``'s
    loss averages over the targets too (its gradient is the same, a − y).

    Parameters, and how each maps to ``MLPRegressor``'s:
{PARAMETERS.format(model="MLPRegressor", score="R²")}
    Early stopping watches the validation R² over all targets at once, 1 − Σ(y − a)² / Σ(y − ȳ)² over every
    output (scikit-learn's ``r2_score(multioutput="variance_weighted")``; for one target, ``score``'s R²).

    Fitted attributes: ``n_features_in_``, ``feature_names_in_`` (DataFrames with string column names),
    ``coefs_`` and ``intercepts_`` (host arrays in ``MLPRegressor``'s shapes), ``loss_curve_`` (gpubp's training
    cost after each epoch: the weighted mean with weights), ``best_loss_`` (its least; None with early stopping),
    ``n_iter_``, ``validation_scores_`` and ``best_validation_score_`` (validation R²; None without early
    stopping), ``n_layers_``, ``n_outputs_`` (one per target) and ``out_activation_`` ("identity").
    ``network_`` is the ``gpubp.Network`` itself (``gpubp.save(reg.network_, "model.npz")``).
"""

    _score_name = "R²"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        leaky_slope=0.01,
        dropout=0.0,
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may hold several targets per row
        return tags

    # ----- training ------------------------------------------------------------------------------------------------

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing the fitted network (or starting one)."""
        return self._train(X, y, sample_weight, incremental=True, fresh=not hasattr(self, "coefs_"))

    def _targets(self, y, fresh: bool, incremental: bool, classes):
        """``y`` itself, and one output per target column; a fitted network takes as many targets as it has."""
        n_targets = 1 if y.ndim == 1 else y.shape[1]
        if fresh:
            self._one_dimensional = y.ndim == 1
        elif n_targets != self.n_outputs_:
            raise ValueError(
                f"y has {n_targets} target column{'s' if n_targets > 1 else ''}, but this estimator was fitted on "
                f"{self.n_outputs_}: pass as many, or fit afresh"
            )
        return y, n_targets

    def _task_knobs(self) -> dict:
        return {"cost": "quadratic", "output": "identity"}

    # ----- prediction ----------------------------------------------------------------------------------------------

    def predict(self, X) -> np.ndarray:
        """The network's outputs as float64, (n,) where ``fit`` was given y of shape (n,), else (n, k)."""
        check_is_fitted(self)
        X = check_data(self, X)
        net = self._net()
        with blas_threads_for(net, min(X.shape[0], 8192)):
            outputs = net.feedforward(on_device(net, X)).astype(np.float64)
        return outputs[:, 0] if self._one_dimensional else outputs
