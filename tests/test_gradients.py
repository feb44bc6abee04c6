"""Backprop is right: finite differences agree with it, and the matrix form equals the lecture's per-sample loop."""

import numpy as np
import pytest

import gpubp
from conftest import random_problem
from reference import mean_cost, mean_gradient

ARCHITECTURES = [(4, 3, 2), (5, 7, 4, 3), (6, 8, 7, 5, 4)]  # the last has three hidden layers
COSTS = ["quadratic", "cross-entropy"]


def finite_difference_gradient(net, data, h=1e-4):
    """Central differences of the network's own cost C(W, b), one parameter at a time (float64)."""
    weights, biases = net.parameters()
    params = biases + weights

    def cost_with(arrays):
        count = len(biases)
        net.set_parameters(arrays[count:], arrays[:count])
        return net.total_cost(data)

    grads = []
    for p_index, p in enumerate(params):
        grad = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            shifted = [q.copy() for q in params]
            shifted[p_index][idx] = p[idx] + h
            up = cost_with(shifted)
            shifted[p_index][idx] = p[idx] - h
            grad[idx] = (up - cost_with(shifted)) / (2 * h)
        grads.append(grad)
    net.set_parameters(weights, biases)
    return grads[:len(biases)], grads[len(biases):]


def max_relative_error(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-10)))


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("sizes", ARCHITECTURES)
def test_backprop_matches_finite_differences(sizes, cost):
    net = gpubp.Network(sizes, cost=cost, dtype="float64", device="cpu", seed=3)
    x, y = random_problem(sizes, m=7, seed=4)
    nabla_b, nabla_w = net.backprop(x, y)
    fd_b, fd_w = finite_difference_gradient(net, (x, y))
    errors = [max_relative_error(a, b) for a, b in zip(nabla_b + nabla_w, fd_b + fd_w)]
    assert max(errors) <= 1e-6, f"per-parameter max relative errors {errors}"


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("sizes", ARCHITECTURES)
def test_matrix_form_equals_per_sample_loop(sizes, cost):
    net = gpubp.Network(sizes, cost=cost, dtype="float64", device="cpu", seed=5)
    x, labels = random_problem(sizes, m=11, seed=6)
    y = np.eye(sizes[-1])[labels]
    weights, biases = net.parameters()
    ref_b, ref_w = mean_gradient(weights, biases, x, y, cost)
    nabla_b, nabla_w = net.backprop(x, labels)
    for ours, ref in zip(nabla_b + nabla_w, ref_b + ref_w):
        assert ours.shape == ref.shape
        assert np.max(np.abs(ours - ref)) <= 1e-12
    assert abs(net.total_cost((x, labels)) - mean_cost(weights, biases, x, y, cost)) <= 1e-12


def test_sgd_step_equals_per_sample_update():
    """update_mini_batch moves every parameter by exactly −η times the per-sample reference's mean gradient."""
    sizes, eta = (5, 7, 4, 3), 0.7
    net = gpubp.Network(sizes, dtype="float64", device="cpu", seed=7)
    x, labels = random_problem(sizes, m=9, seed=8)
    y = np.eye(sizes[-1])[labels]
    weights, biases = net.parameters()
    ref_b, ref_w = mean_gradient(weights, biases, x, y, "quadratic")
    net.update_mini_batch(x, y, eta)
    new_w, new_b = net.parameters()
    for new, old, grad in zip(new_w + new_b, weights + biases, ref_w + ref_b):
        assert np.max(np.abs(new - (old - eta * grad))) <= 1e-12


def test_a_wrong_gradient_fails_the_check():
    """The check can fail: a backprop with BP2's σ′ left out is caught."""
    net = gpubp.Network((4, 5, 3), dtype="float64", device="cpu", seed=1)
    x, y = random_problem((4, 5, 3), m=6, seed=2)
    fd_b, fd_w = finite_difference_gradient(net, (x, y))
    broken = net.backend.ops.hidden_delta
    net.backend.ops.hidden_delta = lambda g, a, out: net.backend.xp.copyto(out, g)
    try:
        nabla_b, nabla_w = net.backprop(x, y)
    finally:
        net.backend.ops.hidden_delta = broken
    assert max_relative_error(nabla_w[0], fd_w[0]) > 1e-2
