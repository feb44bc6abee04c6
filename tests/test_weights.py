"""Sample weights: a row's weight scales its δ^L and a mini-batch's cost is the weighted mean, so an integer weight
is that many copies of the row; the gradient is the weighted cost's (finite differences), and PyTorch's weighted
mean loss takes the same steps."""

import numpy as np
import pytest

import gpubp
from gpubp.model.gradcheck import max_relative_error

from helpers import random_problem
from torch_reference import shuffled_batches, train


@pytest.mark.parametrize("lmbda", [0.0, 2.0])
@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "log-likelihood"])
def test_an_integer_weight_is_that_many_copies_of_the_row(cost, lmbda):
    """Full-batch sgd in float64, 3 epochs: weights 0, 1, 2, 3 equal a training set holding each row that many
    times (the shuffle order of a full batch changes nothing but the order of a sum: equal to 1e-12), L2 included:
    its n, the samples trained on, is the rows' total weight."""
    sizes = (5, 6, 3)
    x, labels = random_problem(sizes, m=24, seed=1)
    counts = np.arange(24) % 4
    weighted = gpubp.Network(sizes, cost=cost, dtype="float64", device="cpu", seed=2)
    weighted.SGD((x, labels), 3, 24, 0.5, sample_weight=counts, lmbda=lmbda)
    repeated = gpubp.Network(sizes, cost=cost, dtype="float64", device="cpu", seed=2)
    rows = np.repeat(np.arange(24), counts)
    repeated.SGD((x[rows], labels[rows]), 3, len(rows), 0.5, lmbda=lmbda)
    for a, b in zip(sum(weighted.parameters(), []), sum(repeated.parameters(), [])):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def weighted_cost_gradient(net, x, labels, w, h=1e-5):
    """Central differences of Σ w_x C_x / Σ w_x, parameter by parameter: (nabla_w, nabla_b)."""
    weights, biases = net.parameters()
    y = np.eye(net.sizes[-1])[labels]

    def cost(ws, bs):
        net.set_parameters(ws, bs)
        return net.metrics(x, y, labels, w).cost

    result = []
    for arrays in (weights, biases):
        grads = []
        for p in arrays:
            g = np.zeros_like(p)
            for index in np.ndindex(p.shape):
                value = p[index]
                p[index] = value + h
                up = cost(weights, biases)
                p[index] = value - h
                down = cost(weights, biases)
                p[index] = value
                g[index] = (up - down) / (2 * h)
            grads.append(g)
        result.append(grads)
    net.set_parameters(weights, biases)
    return result


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_backprop_with_weights_is_the_weighted_costs_gradient(activation):
    sizes = (4, 5, 3)
    x, labels = random_problem(sizes, m=9, seed=3)
    w = np.random.default_rng(4).random(9) * 3
    net = gpubp.Network(sizes, activation=activation, cost="log-likelihood", dtype="float64", device="cpu", seed=5)
    numeric_w, numeric_b = weighted_cost_gradient(net, x, labels, w)
    net.compute_gradient(x, np.eye(3)[labels], (w / w.sum()).reshape(-1, 1))  # each row's factor w_x / Σ w
    for ours, numeric in zip(net._gradient.weights + net._gradient.biases, numeric_w + numeric_b):
        assert max_relative_error(ours, numeric) <= 1e-7


def test_weighted_steps_equal_pytorchs_weighted_mean_loss():
    sizes, n, batch = (6, 7, 3), 53, 10
    x, labels = random_problem(sizes, m=n, seed=6)
    w = np.random.default_rng(7).random(n) * 2
    net = gpubp.Network(sizes, activation="relu", cost="cross-entropy", dtype="float64", device="cpu", seed=8)
    weights, biases = net.parameters()
    order_rng = np.random.default_rng()
    order_rng.bit_generator.state = net.rng.bit_generator.state
    orders = [order_rng.permutation(n) for _ in range(4)]
    batches = shuffled_batches(net, x, np.eye(3)[labels], 4, batch)
    row_weights = [w[order[k : k + batch]] for order in orders for k in range(0, n, batch)]
    net.SGD((x, labels), 4, batch, 0.3, optimizer="momentum", sample_weight=w, monitor_training_cost=False)
    theirs = train(
        weights, biases, batches, "momentum", 0.3, 0.0, "cross-entropy", "sigmoid", ["relu"], row_weights=row_weights
    )
    for mine, torchs in zip(sum(net.parameters(), []), sum(theirs, [])):
        np.testing.assert_allclose(mine, torchs, rtol=1e-10, atol=1e-12)


def test_the_training_cost_is_the_weighted_mean_and_zero_weight_rows_teach_nothing():
    sizes = (4, 6, 3)
    x, labels = random_problem(sizes, m=40, seed=9)
    w = np.where(np.arange(40) < 30, 1.0, 0.0)
    net = gpubp.Network(sizes, dtype="float64", device="cpu", seed=1)
    history = net.SGD((x, labels), 2, 40, 0.5, sample_weight=w)
    alone = gpubp.Network(sizes, dtype="float64", device="cpu", seed=1)
    alone.SGD((x[:30], labels[:30]), 2, 30, 0.5)
    for a, b in zip(sum(net.parameters(), []), sum(alone.parameters(), [])):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert history[-1].training_cost == pytest.approx(net.total_cost((x[:30], labels[:30])), rel=1e-12)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(39), r"sample_weight must hold one number per training row \(40\), got float64 of shape \(39,\)"),
        (np.array(["a"] * 40), "sample_weight must hold one number per training row"),
        (np.r_[np.ones(39), -1.0], "row 39 has weight -1.0; weights must be finite numbers >= 0"),
        (np.r_[np.ones(39), np.nan], "row 39 has weight nan"),
        (np.zeros(40), "sample_weight is 0 for every row, so nothing would be learned"),
    ],
)
def test_bad_weights_are_refused_in_one_line(weights, message):
    x, labels = random_problem((4, 3), m=40)
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    before = net.parameters()
    with pytest.raises(gpubp.InputError, match=message):
        net.SGD((x, labels), 1, 10, 0.1, sample_weight=weights)
    assert all(np.array_equal(a, b) for a, b in zip(before[0], net.parameters()[0]))


def test_weights_that_leave_nothing_to_train_on_after_the_hold_out_are_refused():
    """Every positive weight on a held-out row: the training rows' weights are all 0 (L2's n would be 0)."""
    x, labels = random_problem((4, 3), m=40)
    held = gpubp.training.config.validation_split(40, 0.25)[1]
    weights = np.zeros(40)
    weights[held] = 1.0
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    with pytest.raises(gpubp.InputError, match="0 for every training row left after the validation hold-out"):
        net.SGD((x, labels), 1, 10, 0.1, sample_weight=weights, validation_fraction=0.25)
