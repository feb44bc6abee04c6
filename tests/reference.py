"""The lecture's algorithm, one sample at a time, as an independent reference for the matrix-form engine.

Column vectors, z = W a + b, σ = 1/(1 + e^−z) (softmax e^z / Σ e^z in the output layer for log-likelihood), BP1–BP4
per sample, gradients averaged over the mini-batch: the
per-sample loop that gpubp's matrix form must reproduce. It lives in the tests only.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def feedforward(weights, biases, x, cost):
    """Every layer's activation for one sample, the output layer's by the cost's rule."""
    activations = [x]
    for l, (w, b) in enumerate(zip(weights, biases), start=1):
        z = w @ activations[-1] + b
        activations.append(softmax(z) if cost == "log-likelihood" and l == len(weights) else sigmoid(z))
    return activations


def backprop_one(weights, biases, x, y, cost):
    """∂C_x/∂b and ∂C_x/∂W for one sample ``x`` (column) with target ``y`` (column); ``biases`` are columns."""
    activations = feedforward(weights, biases, x, cost)
    a = activations[-1]
    delta = (a - y) * a * (1 - a) if cost == "quadratic" else a - y  # BP1
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in reversed(range(len(weights))):
        nabla_b[l] = delta  # BP3
        nabla_w[l] = delta @ activations[l].T  # BP4
        if l > 0:
            delta = (weights[l].T @ delta) * activations[l] * (1 - activations[l])  # BP2
    return nabla_b, nabla_w


def mean_gradient(weights, biases, xs, ys, cost):
    """The gradient of C = (1/m) Σ_x C_x, summed one sample at a time."""
    biases = [b.reshape(-1, 1) for b in biases]
    total_b = [np.zeros_like(b) for b in biases]
    total_w = [np.zeros_like(w) for w in weights]
    for x, y in zip(xs, ys):
        nabla_b, nabla_w = backprop_one(weights, biases, x[:, None], y[:, None], cost)
        total_b = [t + n for t, n in zip(total_b, nabla_b)]
        total_w = [t + n for t, n in zip(total_w, nabla_w)]
    m = len(xs)
    return [t.ravel() / m for t in total_b], [t / m for t in total_w]


def mean_cost(weights, biases, xs, ys, cost):
    """C = (1/m) Σ_x C_x, evaluated one sample at a time."""
    total = 0.0
    for x, y in zip(xs, ys):
        a = feedforward(weights, biases, x, cost)[-1]  # x and the biases are 1-D here, so a stays 1-D
        if cost == "quadratic":
            total += 0.5 * np.sum((y - a) ** 2)
        elif cost == "log-likelihood":
            total += -np.sum(y * np.log(a))
        else:
            total += -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))
    return total / len(xs)


def sgd(weights, biases, xs, ys, epochs, batch_size, eta, rng, cost):
    """The lecture's mini-batch SGD over ``epochs`` epochs, each in the order ``rng.permutation(n)`` draws, one sample
    at a time within each mini-batch: W ← W − η·(mean gradient), likewise b. Returns the final weights and biases."""
    weights, biases = [w.copy() for w in weights], [b.copy() for b in biases]
    for _ in range(epochs):
        order = rng.permutation(len(xs))
        for k in range(0, len(xs), batch_size):
            rows = order[k : k + batch_size]
            nabla_b, nabla_w = mean_gradient(weights, biases, xs[rows], ys[rows], cost)
            weights = [w - eta * g for w, g in zip(weights, nabla_w)]
            biases = [b - eta * g for b, g in zip(biases, nabla_b)]
    return weights, biases
