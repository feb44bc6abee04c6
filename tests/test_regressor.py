"""NetworkRegressor: identity outputs with the lecture's quadratic cost as a scikit-learn regressor (its estimator
checks run in test_sklearn_checks.py): the shapes predict returns, R², several targets, partial_fit, early stopping
on R², pickles that go on exactly, and gpubp's Network underneath."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes, make_friedman1  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import gpubp  # noqa: E402
from gpubp.sklearn import NetworkRegressor  # noqa: E402
from gpubp.sklearn.threads import blas_threads_for  # noqa: E402


def small(**params):
    settings = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=20, random_state=0, device="cpu")
    return NetworkRegressor(**{**settings, **params})


@pytest.fixture(scope="module")
def diabetes():
    x, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(x), (y - y.mean()) / y.std()


@pytest.fixture(scope="module")
def two_targets(diabetes):
    x, y = diabetes
    return x, np.column_stack([y, np.tanh(x[:, 2]) - x[:, 8]])


def test_predict_returns_the_shape_of_y(diabetes, two_targets):
    x, y = diabetes
    assert small().fit(x, y).predict(x).shape == (442,)
    assert small().fit(x, y[:, None]).predict(x).shape == (442, 1)
    fitted = small().fit(*two_targets)
    assert fitted.predict(x).shape == (442, 2) and fitted.n_outputs_ == 2
    assert fitted.predict(x).dtype == np.float64 and fitted.out_activation_ == "identity"
    # One target as (n,) or (n, 1) is the same fit.
    assert np.array_equal(small().fit(x, y).predict(x), small().fit(x, y[:, None]).predict(x)[:, 0])


def test_score_is_r2_and_several_targets_are_learned_at_once(two_targets):
    x, y = two_targets
    reg = small(max_iter=200, learning_rate_init=0.003).fit(x, y)
    assert reg.score(x, y) == pytest.approx(r2_score(y, reg.predict(x)), rel=1e-12)
    per_target = r2_score(y, reg.predict(x), multioutput="raw_values")
    assert per_target.min() > 0.5, per_target


def test_the_regressor_is_gpubps_network_with_identity_outputs(diabetes):
    x, y = diabetes
    reg = small(optimizer="sgd", dtype="float64", batch_size=20, max_iter=3).fit(x, y)
    net = gpubp.Network([10, 16, 1], activation="relu", output="identity", init="glorot", dtype="float64", seed=0)
    with blas_threads_for(net, 20):  # the fit's BLAS threads: the same arithmetic, so the same bits by construction
        history = net.SGD((x, y), 3, 20, 0.01)
    weights, biases = net.parameters()
    assert all(np.array_equal(c, w.T) for c, w in zip(reg.coefs_, weights))
    assert reg.loss_curve_ == [h.training_cost for h in history] and reg.best_loss_ == min(reg.loss_curve_)
    # The loss is the lecture's: ½‖y − a‖² per row, averaged over the rows.
    assert reg.loss_curve_[-1] == pytest.approx(0.5 * np.mean((y - reg.predict(x)) ** 2), rel=1e-12)
    assert reg.network_.regression and reg.network_.cost.name == "quadratic"


def test_two_partial_fit_epochs_equal_fit_with_two_epochs(two_targets):
    x, y = two_targets
    fitted = small(max_iter=2).fit(x, y)
    stepped = small().partial_fit(x, y).partial_fit(x, y)
    assert stepped.n_iter_ == 2 and stepped.loss_curve_ == fitted.loss_curve_
    assert all(
        np.array_equal(a, b) for a, b in zip(stepped.coefs_ + stepped.intercepts_, fitted.coefs_ + fitted.intercepts_)
    )


def test_partial_fit_takes_as_many_targets_as_the_fitted_network(two_targets):
    x, y = two_targets
    reg = small().partial_fit(x, y)
    with pytest.raises(ValueError, match="y has 1 target column, but this estimator was fitted on 2"):
        reg.partial_fit(x, y[:, 0])
    assert reg.n_iter_ == 1


def test_early_stopping_watches_the_validation_r2(diabetes, capsys):
    x, y = diabetes
    reg = small(early_stopping=True, n_iter_no_change=3, max_iter=300, verbose=True).fit(x, y)
    assert reg.n_iter_ < 300 and len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.3 and reg.best_loss_ is None
    rows, held = gpubp.training.config.validation_split(len(x), 0.1)
    assert reg.best_validation_score_ == pytest.approx(r2_score(y[held], reg.predict(x[held])), rel=1e-5)
    assert ", validation R² = " in capsys.readouterr().out


def test_a_pickled_regressor_predicts_and_trains_on_exactly(two_targets):
    """The whole network travels (leaky ReLU units and their slope, identity outputs) and the whole run (Adam's
    moments, dropout's seed, early stopping's state): training on after unpickling is training on."""
    x, y = two_targets
    reg = small(activation="leaky_relu", leaky_slope=0.2, dropout=0.1, early_stopping=True, max_iter=5).fit(x, y)
    restored = pickle.loads(pickle.dumps(reg))
    assert np.array_equal(restored.predict(x), reg.predict(x))
    restored.set_params(warm_start=True).fit(x, y)
    reg.set_params(warm_start=True).fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(restored.coefs_, reg.coefs_))
    assert restored.validation_scores_ == reg.validation_scores_


def test_a_fitted_network_keeps_its_layers(diabetes):
    x, y = diabetes
    reg = small().fit(x, y)
    for change in (dict(activation="tanh"), dict(hidden_layer_sizes=(8,)), dict(dtype="float64")):
        with pytest.raises(ValueError, match=f"{next(iter(change))} is .* now, but the fitted network has"):
            reg.set_params(**change).partial_fit(x, y)
        reg.set_params(**small().get_params())
    reg.set_params(init="he", random_state=3).partial_fit(x, y)  # they only drew the first weights: no change
    assert reg.n_iter_ == 21


@pytest.mark.parametrize(
    "y, message",
    [
        (np.array(["a", "b"] * 221), "regression targets must be real numbers"),
        (np.r_[np.zeros(441), np.nan], "Input y contains NaN"),
        (np.zeros((442, 2, 2)), "Found array with dim 3"),
    ],
)
def test_bad_targets_are_refused(diabetes, y, message):
    x, _ = diabetes
    with pytest.raises(ValueError, match=message):
        small().fit(x, y)


def test_grid_search_and_cross_validation_score_r2(diabetes):
    x, y = diabetes
    search = GridSearchCV(small(), {"learning_rate_init": [1e-4, 0.01]}, cv=3).fit(x, y)
    assert search.best_params_ == {"learning_rate_init": 0.01} and search.best_score_ > 0.3
    scores = cross_val_score(make_pipeline(StandardScaler(), small()), x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.2


def test_mlpregressors_r2_is_reached_on_friedman1():
    """The benchmark's setting in small (scripts/regressor-accuracy): the same sizes, units, Adam, batch and
    epochs."""
    x, y = make_friedman1(n_samples=1000, random_state=0)
    x_train, x_test, y_train, y_test = x[:800], x[800:], y[:800], y[800:]
    mean, std = y_train.mean(), y_train.std()
    common = dict(hidden_layer_sizes=(64,), batch_size=50, max_iter=200, learning_rate_init=0.003, random_state=0)
    ours = NetworkRegressor(**common).fit(x_train, (y_train - mean) / std).score(x_test, (y_test - mean) / std)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MLPRegressor(**common, alpha=0.0, tol=0.0, n_iter_no_change=200)
        theirs.fit(x_train, (y_train - mean) / std)
    assert theirs.n_iter_ == 200
    assert ours >= theirs.score(x_test, (y_test - mean) / std) - 0.01
