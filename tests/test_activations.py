"""Hidden units beyond the sigmoid, output layers beyond σ and softmax, and the initializations that suit them.

Every activation × (cost, output) pair × update rule trains 50 steps equal to torch.nn with torch.optim in float64
(within 1e-10), and backprop agrees with float64 finite differences for each activation and output, away from
ReLU's kink; sigmoid networks draw and train exactly what they always did.
"""

import numpy as np
import pytest

import gpubp
from gpubp.model.gradcheck import gradient_check
from gpubp.training.config import RULES

from helpers import random_problem
from torch_reference import shuffled_batches, train

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
PAIRS = [
    ("quadratic", "sigmoid"),
    ("cross-entropy", "sigmoid"),
    ("log-likelihood", "softmax"),
    ("quadratic", "identity"),
]
ETA = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 0.005}


def targets(labels, classes, output):
    """One-hot rows for classification; for an identity output, real targets with some spread."""
    onehot = np.eye(classes)[labels]
    return onehot * 2.0 - 0.5 if output == "identity" else onehot


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("cost, output", PAIRS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fifty_steps_match_torch(activation, cost, output, rule):
    sizes, n, batch = (6, 7, 5, 3), 95, 10  # 10 steps an epoch, the last of 5 rows; 5 epochs = 50 steps
    x, labels = random_problem(sizes, m=n, seed=7)
    y = targets(labels, sizes[-1], output)
    slope = {"leaky_slope": 0.1} if activation == "leaky_relu" else {}
    net = gpubp.Network(
        sizes, activation=activation, cost=cost, output=output, dtype="float64", device="cpu", seed=8, **slope
    )
    weights, biases = net.parameters()
    batches = shuffled_batches(net, x, y, 5, batch)
    data = (x, y if output == "identity" else labels)
    net.SGD(data, 5, batch, ETA[rule], optimizer=rule, lmbda=2.0, monitor_training_cost=False)
    theirs = train(weights, biases, batches, rule, ETA[rule], 2.0 / n, cost, output, [activation] * 2, slope=0.1)
    for mine, torchs, before in zip(sum(net.parameters(), []), sum(theirs, []), weights + biases):
        assert np.max(np.abs(mine - before)) > 1e-4  # the rule moved them
        np.testing.assert_allclose(mine, torchs, rtol=1e-10, atol=1e-12)


def hidden_z(net, x):
    """Every hidden unit's z for rows ``x``, through the network's own forward pass."""
    zs, a = [], x
    for (w, b), unit in zip(zip(*(p[:-1] for p in net.parameters())), net.activations):
        zs.append(a @ w.T + b)
        a = {"relu": np.maximum(zs[-1], 0), "leaky_relu": np.maximum(zs[-1], 0.01 * zs[-1])}.get(unit, zs[-1])
    return zs


@pytest.mark.parametrize("cost, output", PAIRS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backprop_matches_finite_differences(activation, cost, output):
    """Away from ReLU's kink: the first seed whose hidden units all have |z| > 0.05 on the data (a step of 1e-3
    in any parameter moves z by far less), so that the cost is smooth wherever the differences look."""
    sizes = (5, 6, 4, 3)
    x, labels = random_problem(sizes, m=7, seed=4)
    y = targets(labels, sizes[-1], output) if output == "identity" else labels
    for seed in range(100):
        net = gpubp.Network(
            sizes, activation=activation, cost=cost, output=output, dtype="float64", device="cpu", seed=seed
        )
        if activation not in ("relu", "leaky_relu") or min(np.abs(z).min() for z in hidden_z(net, x)) > 0.05:
            break
    else:
        pytest.fail("no seed below 100 keeps every unit away from the kink")
    checks = gradient_check(net, (x, y))
    assert max(c.error for c in checks) <= 1e-6, checks


def test_each_hidden_layer_may_have_its_own_activation():
    sizes = (4, 5, 6, 3)
    x, labels = random_problem(sizes, m=30, seed=1)
    net = gpubp.Network(
        sizes, activation=["relu", "TANH"], cost="log-likelihood", dtype="float64", device="cpu", seed=2
    )
    assert net.activations == ("relu", "tanh") and net.inits == ("he", "glorot", "glorot")
    weights, biases = net.parameters()
    batches = shuffled_batches(net, x, np.eye(3)[labels], 2, 10)
    net.SGD((x, labels), 2, 10, 0.1, monitor_training_cost=False)
    theirs = train(weights, biases, batches, "sgd", 0.1, 0.0, "log-likelihood", "softmax", ["relu", "tanh"])
    for mine, torchs in zip(sum(net.parameters(), []), sum(theirs, [])):
        np.testing.assert_allclose(mine, torchs, rtol=1e-10, atol=1e-12)
    with pytest.raises(gpubp.InputError, match="lists 3 activations for 2 hidden layers: give one per hidden layer"):
        gpubp.Network(sizes, activation=["relu", "tanh", "relu"])


@pytest.mark.parametrize(
    "knobs, message",
    [
        (dict(activation="swish"), "activation (the hidden activation) must be one of sigmoid, tanh, relu, leaky_relu"),
        (dict(activation=[]), "must be one of sigmoid, tanh, relu, leaky_relu, identity, or a list of them"),
        (dict(leaky_slope=0.1), "leaky_slope applies to activation leaky_relu, not sigmoid"),
        (
            dict(activation="leaky_relu", leaky_slope=1.0),
            "leaky_slope (leaky ReLU's slope) must be a finite number in (0, 1)",
        ),
        (dict(output="identity", cost="cross-entropy"), "output='identity' does not go with cost='cross-entropy'"),
        (dict(output="softmax", cost="quadratic"), "output='softmax' does not go with cost='quadratic'"),
        (dict(output="sigmoid", cost="log-likelihood"), "log-likelihood: softmax"),
        (dict(output="linear"), "output (the output layer) must be one of sigmoid, softmax, identity"),
    ],
)
def test_units_that_do_not_make_sense_are_refused_in_one_line(knobs, message):
    with pytest.raises(gpubp.SettingError) as info:
        gpubp.Network((4, 5, 3), **knobs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_sigmoid_networks_draw_what_they_always_drew():
    """σ units and no init draw N(0, 1) biases, then N(0, 1) weights, from the seeded generator, as before."""
    rng = np.random.default_rng(5)
    biases = [rng.standard_normal(n) for n in (7, 3)]
    weights = [rng.standard_normal(shape) for shape in ((7, 4), (3, 7))]
    net = gpubp.Network((4, 7, 3), dtype="float64", device="cpu", seed=5)
    assert net.inits == ("normal", "normal") and net.init is None
    for ours, drawn in zip(sum(net.parameters(), []), weights + biases):
        assert np.array_equal(ours, drawn)
    assert net.rng.bit_generator.state == rng.bit_generator.state  # the same shuffles afterwards


def test_he_and_glorot_draw_what_their_papers_and_mlpclassifier_do():
    he = gpubp.Network((400, 300, 10), activation="relu", dtype="float64", device="cpu", seed=0)
    w, b = he.parameters()
    assert abs(w[0].std() - np.sqrt(2 / 400)) < 0.01 * np.sqrt(2 / 400) and not b[0].any()
    glorot = gpubp.Network((400, 300, 10), activation="tanh", dtype="float64", device="cpu", seed=0)
    w, b = glorot.parameters()
    bound = np.sqrt(6 / 700)
    assert np.abs(w[0]).max() <= bound and np.abs(w[0]).max() > 0.99 * bound and np.abs(b[0]).max() <= bound
    assert abs(w[0].std() - bound / np.sqrt(3)) < 0.01 * bound  # uniform on ±bound
    sigmoid = gpubp.Network((400, 300, 10), init="glorot", dtype="float64", device="cpu", seed=0)
    assert np.abs(sigmoid.parameters()[0][0]).max() <= np.sqrt(2 / 700)  # MLPClassifier's factor for logistic units
    assert gpubp.Network((4, 3), output="identity").inits == ("glorot",)


def test_a_regression_network_fits_real_targets_and_scores_r2():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = np.stack([x @ [1.0, -2.0, 0.5], np.sin(x[:, 0])], axis=1)
    net = gpubp.Network((3, 32, 2), activation="tanh", output="identity", dtype="float64", device="cpu", seed=1)
    history = net.SGD((x, y), 60, 20, 0.02, test_data=(x, y), optimizer="adam")
    assert history[-1].test_accuracy is None and history[-1].test_r2 > 0.95
    residual, spread = y - net.feedforward(x), y - y.mean(axis=0)
    assert history[-1].test_r2 == pytest.approx(1 - (residual**2).sum() / (spread**2).sum(), rel=1e-9)
    assert np.array_equal(net.predict(x), net.feedforward(x))  # a regressor predicts its outputs
    one = gpubp.Network((3, 8, 1), output="identity", dtype="float64", device="cpu", seed=1)
    one.SGD((x, y[:, 0]), 2, 20, 0.01)  # one target per row may be a 1-D array
    with pytest.raises(gpubp.InputError, match=r"y must hold 1 real target per row of X \(400 rows\)"):
        one.SGD((x, y), 2, 20, 0.01)
    with pytest.raises(gpubp.InputError, match="targets contain NaN"):
        one.SGD((x, np.full(400, np.nan)), 2, 20, 0.01)


def test_a_model_file_keeps_its_units(tmp_path):
    units = dict(activation=["leaky_relu", "identity"], leaky_slope=0.2, output="identity")
    net = gpubp.Network((4, 5, 6, 2), **units, device="cpu", seed=3)
    gpubp.save(net, tmp_path / "m.npz")
    loaded = gpubp.load(tmp_path / "m.npz", device="cpu")
    assert (loaded.activations, loaded.output, loaded.config.leaky_slope) == (
        ("leaky_relu", "identity"),
        "identity",
        0.2,
    )
    x = np.random.default_rng(0).standard_normal((9, 4))
    assert np.array_equal(loaded.feedforward(x), net.feedforward(x))
