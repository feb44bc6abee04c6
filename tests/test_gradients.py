"""Backprop is right: finite differences agree with it, and the matrix form equals the lecture's per-sample loop."""

import numpy as np
import pytest

import gpubp
from gpubp.model.gradcheck import finite_difference_gradient, gradient_check, max_relative_error

from helpers import random_problem
from reference import mean_cost, mean_gradient

ARCHITECTURES = [(4, 3, 2), (5, 7, 4, 3), (6, 8, 7, 5, 4)]  # the last has three hidden layers
COSTS = ["quadratic", "cross-entropy", "log-likelihood"]


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("sizes", ARCHITECTURES)
def test_backprop_matches_finite_differences(sizes, cost):
    net = gpubp.Network(sizes, cost=cost, dtype="float64", device="cpu", seed=3)
    checks = gradient_check(net, random_problem(sizes, m=7, seed=4))
    assert [c.layer for c in checks] == list(range(1, len(sizes)))
    assert max(c.error for c in checks) <= 1e-6, checks


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
    data = random_problem((4, 5, 3), m=6, seed=2)
    forward, _, extra = net._hidden_kernels[0]
    net._hidden_kernels[0] = (forward, lambda g, a, out: net.backend.xp.copyto(out, g), extra)
    checks = gradient_check(net, data)
    assert checks[0].error > 1e-2 and checks[1].error <= 1e-6


def test_finite_differences_leave_the_network_as_it_was():
    net = gpubp.Network((3, 2), dtype="float64", device="cpu", seed=1)
    before = net.parameters()
    fd_b, fd_w = finite_difference_gradient(net, random_problem((3, 2), m=4))
    assert fd_w[0].shape == (2, 3) and fd_b[0].shape == (2,)
    assert all(np.array_equal(a, b) for a, b in zip(before[0] + before[1], net.parameters()[0] + net.parameters()[1]))
    assert max_relative_error(np.zeros(2), np.zeros(2)) == 0


def test_softmax_log_likelihood_gradient_equals_torch_cross_entropy():
    """torch's autograd through sigmoid hidden layers and F.cross_entropy (log-softmax + NLL, mean) gives the same
    gradient as backprop with the log-likelihood cost, and the same mean cost."""
    torch = pytest.importorskip("torch")
    sizes = (6, 8, 5, 4)
    net = gpubp.Network(sizes, cost="log-likelihood", dtype="float64", device="cpu", seed=11)
    x, labels = random_problem(sizes, m=13, seed=12)
    weights, biases = net.parameters()
    tw = [torch.tensor(w, requires_grad=True) for w in weights]
    tb = [torch.tensor(b, requires_grad=True) for b in biases]
    a = torch.tensor(x)
    for l, (w, b) in enumerate(zip(tw, tb), start=1):
        z = a @ w.T + b
        a = z if l == len(tw) else torch.sigmoid(z)  # cross_entropy takes the output layer's z (logits)
    loss = torch.nn.functional.cross_entropy(a, torch.tensor(labels))
    loss.backward()
    nabla_b, nabla_w = net.backprop(x, labels)
    for ours, theirs in zip(nabla_w + nabla_b, tw + tb):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert net.total_cost((x, labels)) == pytest.approx(loss.item(), rel=1e-12)


def test_softmax_is_stable_and_sums_to_one():
    """At ±1000 the outputs are exact 0s and 1s with no overflow and no warning; each row sums to 1."""
    net = gpubp.Network.from_parameters(
        (2, 3),
        [np.array([[1000.0, 0], [0, 1000], [-1000, -1000]])],
        [np.zeros(3)],
        cost="log-likelihood",
        dtype="float32",
        device="cpu",
    )
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = net.feedforward(np.array([[1.0, 0], [0, 1], [-1, -1], [1, 1]], np.float32))
    assert np.array_equal(a[:3], np.eye(3, dtype=np.float32))
    np.testing.assert_allclose(a[3], [0.5, 0.5, 0])
    assert np.isfinite(net.total_cost((np.array([[1.0, 0]], np.float32), [2])))  # ln 0 clipped, like cross-entropy


def test_log_likelihood_refuses_targets_that_are_not_distributions():
    net = gpubp.Network((3, 2), cost="log-likelihood", dtype="float64", device="cpu", seed=0)
    with pytest.raises(gpubp.InputError, match="must sum to 1"):
        net.SGD((np.zeros((4, 3)), np.ones((4, 2))), 1, 2, 0.1)
    net.SGD((np.zeros((4, 3)), np.full((4, 2), 0.5)), 1, 2, 0.1)  # soft labels that sum to 1 are fine
