"""Finite-difference check of backprop: every weight and bias nudged by ±h, the cost's change against BP1–BP4.

Central differences D(h) = (C(p + h) − C(p − h)) / 2h of the network's own mean cost, one parameter at a time,
refined by Richardson extrapolation, (4·D(h/2) − D(h)) / 3, which cancels the h² error term: then even a
gradient a hundred thousand times smaller than its layer's largest is checked to about 1e-7. The result is
compared with ``Network.backprop``. Run it in float64: in float32 rounding swamps the difference. The relative
error of one parameter is |g_bp − g_fd| / (|g_bp| + |g_fd|), the denominator floored at 1e-10 so that two zeros
agree. In a large network some gradients are so small next to the cost that rounding in C(p ± h) decides
their differences; ``relative_floor`` > 0 measures those against that fraction of the layer's largest gradient
instead of against themselves (a wrong formula still shows: it is wrong at the large gradients too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .inputs import prepare


@dataclass
class LayerCheck:
    """The largest relative errors in one layer's weights and biases (layer 1 is the first hidden layer)."""

    layer: int
    weights_error: float
    biases_error: float

    @property
    def error(self) -> float:
        return max(self.weights_error, self.biases_error)


def max_relative_error(a: np.ndarray, b: np.ndarray, relative_floor: float = 0.0) -> float:
    scale = np.abs(a) + np.abs(b)
    return float(np.max(np.abs(a - b) / np.maximum(scale, max(relative_floor * float(scale.max()), 1e-10))))


def finite_difference_gradient(net, data, h: float = 1e-3):
    """``(nabla_b, nabla_w)`` of the mean cost over ``data = (X, y)`` by extrapolated central differences."""
    weights, biases = net.parameters()
    x, targets, labels = prepare(net, data, "gradient-check data")
    count = len(weights)

    def cost_at(arrays):
        net.set_parameters(arrays[count:], arrays[:count])
        return net.metrics(x, targets, labels)[0]

    params = biases + weights

    def central(nudged, which, index, step):
        """D(step) for one parameter: ``nudged`` is ``params`` with a copy of array ``which`` to nudge."""
        value = params[which][index]
        nudged[which][index] = value + step
        up = cost_at(nudged)
        nudged[which][index] = value - step
        down = cost_at(nudged)
        nudged[which][index] = value
        return (up - down) / (2 * step)

    gradients = []
    try:
        for which, p in enumerate(params):
            grad = np.zeros_like(p)
            nudged = list(params)
            nudged[which] = p.copy()
            for index in np.ndindex(p.shape):
                grad[index] = (4 * central(nudged, which, index, h / 2) - central(nudged, which, index, h)) / 3
            gradients.append(grad)
    finally:
        net.set_parameters(weights, biases)
    return gradients[:count], gradients[count:]


def gradient_check(net, data, h: float = 1e-3, relative_floor: float = 0.0) -> list[LayerCheck]:
    """Backprop against finite differences, layer by layer."""
    nabla_b, nabla_w = net.backprop(*data)
    fd_b, fd_w = finite_difference_gradient(net, data, h)
    return [
        LayerCheck(
            layer,
            max_relative_error(nabla_w[layer - 1], fd_w[layer - 1], relative_floor),
            max_relative_error(nabla_b[layer - 1], fd_b[layer - 1], relative_floor),
        )
        for layer in range(1, len(nabla_w) + 1)
    ]


KINKED = ("relu", "leaky_relu")  # activations whose derivative jumps at z = 0


def bias_shift_clear_of_zero(z: np.ndarray, margin: float) -> float:
    """The smallest shift δ such that every z + δ is at least ``margin`` away from 0 (z: one unit's values)."""
    if np.all(np.abs(z) >= margin):
        return 0.0
    v = np.sort(z)
    # Shifting so that some v_i lands exactly on ±margin is where the smallest shifts lie; one is valid when the
    # open window of width 2·margin it leaves around 0 holds no value.
    upper = margin - v  # v_i + δ = margin: the window is (v_i − 2m, v_i)
    lower = -margin - v  # v_i + δ = −margin: the window is (v_i, v_i + 2m)
    free_upper = np.searchsorted(v, v, "left") == np.searchsorted(v, v - 2 * margin, "right")
    free_lower = np.searchsorted(v, v + 2 * margin, "left") == np.searchsorted(v, v, "right")
    shifts = np.concatenate([upper[free_upper], lower[free_lower]])
    return float(shifts[np.argmin(np.abs(shifts))])


def clear_of_kinks(net, x, margin: float = 0.05) -> int:
    """Move the biases of ReLU and leaky-ReLU units whose z comes within ``margin`` of the kink on some row of
    ``x``, just far enough that none does; returns how many units moved. A step of 1e-3 in any parameter moves z
    by far less than 0.05, so finite differences then see a smooth cost."""
    weights, biases = net.parameters()
    moved = 0
    for l, unit in enumerate(net.activations, start=1):
        if unit not in KINKED:
            continue
        # z^l through the network's own kernels: the first l layers, with an identity output layer.
        hidden = net.activations[: l - 1] or "identity"  # a name for none: a list must have one per layer
        slope = {"leaky_slope": net.config.leaky_slope} if "leaky_relu" in hidden else {}
        below = type(net).from_parameters(
            net.sizes[: l + 1],
            weights[:l],
            biases[:l],
            cost="quadratic",
            output="identity",
            activation=hidden,
            **slope,
            dtype=net.dtype,
            device=net.backend.name,
        )
        z = below.feedforward(x).reshape(len(x), -1)
        for unit_index in range(z.shape[1]):
            shift = bias_shift_clear_of_zero(z[:, unit_index], margin)
            if shift:
                biases[l - 1][unit_index] += shift
                moved += 1
    net.set_parameters(weights, biases)
    return moved
