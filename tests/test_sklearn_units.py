"""The hidden units of both estimators: activation (MLPClassifier's names and gpubp's, one per layer), leaky ReLU's
slope, dropout and the initialization, each mapped onto its one knob declaration and refused in the estimator's
words; the defaults MLPClassifier and MLPRegressor share with them; a fitted network that keeps its layers."""

import inspect
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

from gpubp.model.config import NetworkConfig  # noqa: E402
from gpubp.sklearn import NetworkClassifier, NetworkRegressor  # noqa: E402
from gpubp.training.config import TrainingConfig  # noqa: E402

ESTIMATORS = [NetworkClassifier, NetworkRegressor]


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:400] / 16.0, y[:400]


def small(kind, **params):
    settings = dict(hidden_layer_sizes=(12, 8), max_iter=3, learning_rate_init=0.01, random_state=0, device="cpu")
    return kind(**{**settings, **params})


def defaults(kind) -> dict:
    return {name: p.default for name, p in inspect.signature(kind).parameters.items()}


@pytest.mark.parametrize("ours, theirs", [(NetworkClassifier, MLPClassifier), (NetworkRegressor, MLPRegressor)])
def test_the_defaults_are_mlps_where_the_parameters_mean_the_same(ours, theirs):
    same = (
        "hidden_layer_sizes activation learning_rate_init batch_size max_iter momentum beta_1 beta_2 epsilon "
        "early_stopping validation_fraction n_iter_no_change random_state verbose warm_start"
    ).split()
    assert {name: defaults(ours)[name] for name in same} == {name: defaults(theirs)[name] for name in same}
    assert defaults(ours)["optimizer"] == defaults(theirs)["solver"] == "adam"


def test_the_two_estimators_share_every_default_but_the_classifiers_own():
    classifier, regressor = defaults(NetworkClassifier), defaults(NetworkRegressor)
    assert set(classifier) - set(regressor) == {"cost", "class_weight"} and set(regressor) <= set(classifier)
    assert all(classifier[name] == regressor[name] for name in regressor)


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_the_units_map_onto_the_networks_knobs(digits, kind):
    x, y = digits
    net = small(kind, activation=["tanh", "leaky_relu"], leaky_slope=0.2, init="he").fit(x, y).network_
    assert net.activations == ("tanh", "leaky_relu") and net.config.leaky_slope == 0.2 and net.inits == ("he",) * 3
    net = small(kind, activation="LOGISTIC", init=None).fit(x, y).network_  # σ by MLPClassifier's name, any case
    assert net.activations == ("sigmoid", "sigmoid") and net.inits == ("normal",) * 3  # σ's own: the lecture's
    assert net.output == ("softmax" if kind is NetworkClassifier else "identity")
    logistic = small(kind, activation="logistic").fit(x, y)
    sigmoid = small(kind, activation="sigmoid").fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(logistic.coefs_, sigmoid.coefs_))
    # leaky_slope is read by leaky ReLU units only: beside others it is checked, then left out, as MLPClassifier
    # leaves momentum out under Adam, so that a grid over activations needs nothing else
    relu = small(kind, leaky_slope=0.3).fit(x, y)
    assert relu.network_.config.leaky_slope == NetworkConfig.defaults()["leaky_slope"]


@pytest.mark.parametrize("kind", ESTIMATORS)
@pytest.mark.parametrize(
    "params, message",
    [
        (
            dict(activation="softplus"),
            "activation (the hidden activation) must be " + NetworkConfig.knobs()["activation"].check.requirement,
        ),
        (dict(activation=["relu"]), "activation lists 1 activations for 2 hidden layers: give one per hidden layer"),
        (dict(activation=[]), "activation (the hidden activation) must be"),
        (dict(leaky_slope=1.5), "leaky_slope (leaky ReLU's slope) must be a finite number in (0, 1)"),
        (dict(activation="relu", leaky_slope=0.0), "leaky_slope (leaky ReLU's slope) must be"),  # checked anyway
        (
            dict(dropout=1.0),
            "dropout (the dropout rate) must be " + TrainingConfig.knobs()["dropout"].check.requirement,
        ),
        (dict(dropout=[0.5]), "dropout lists 1 rates for 2 hidden layers: give one per hidden layer"),
        (dict(init="xavier"), "init (the initialization) must be one of normal, scaled, he, glorot"),
    ],
)
def test_a_bad_unit_parameter_is_refused_in_the_estimators_words(digits, kind, params, message):
    x, y = digits
    clf = small(kind, **params)
    with pytest.raises(ValueError) as info:
        clf.fit(x, y)
    assert message in str(info.value)
    assert "--" not in str(info.value) and not hasattr(clf, "coefs_")


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_dropout_trains_only_and_its_masks_go_on_across_calls(digits, kind):
    x, y = digits
    dropped = small(kind, dropout=[0.5, 0.2], max_iter=2).fit(x, y)
    assert not all(np.array_equal(a, b) for a, b in zip(dropped.coefs_, small(kind, max_iter=2).fit(x, y).coefs_))
    predict = dropped.predict_proba if kind is NetworkClassifier else dropped.predict
    assert np.array_equal(predict(x), predict(x))  # predictions never drop
    # the masks' counter runs on: partial_fit twice is fit for two epochs, and so is a pickle in between
    stepped = small(kind, dropout=[0.5, 0.2])
    first = {"classes": np.arange(10)} if kind is NetworkClassifier else {}
    stepped.partial_fit(x, y, **first)
    stepped = pickle.loads(pickle.dumps(stepped)).partial_fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(stepped.coefs_, dropped.coefs_))


@pytest.mark.parametrize("kind", ESTIMATORS)
def test_a_fitted_network_keeps_its_layers_and_units(digits, kind):
    x, y = digits
    fitted = small(kind, activation="tanh").fit(x, y)
    for change in (dict(activation="relu"), dict(hidden_layer_sizes=(12,)), dict(dtype="float64")):
        name = next(iter(change))
        with pytest.raises(ValueError, match=f"{name} is .* now, but the fitted network has .* fit afresh"):
            fitted.set_params(**change, warm_start=True).fit(x, y)
        fitted.set_params(**small(kind, activation="tanh").get_params())
    assert fitted.n_iter_ == 3
    fitted.set_params(init="normal", dropout=0.3).partial_fit(x, y)  # the first draw and training's own: no change
    assert fitted.n_iter_ == 4
