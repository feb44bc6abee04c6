"""Cost functions as objects: the output layer's activation, a value for monitoring and the output δ (BP1).

Every cost satisfies the lecture's two assumptions: the cost is an average over training examples,
C = (1/n) Σ_x C_x, and each C_x depends on the output activations a^L only. ``activation`` computes a^L from the
output layer's weighted input (σ for quadratic and cross-entropy, softmax for log-likelihood: the cost decides,
because δ^L depends on the pair), ``value`` returns Σ_x C_x over the rows it is given (a device scalar; the caller
divides by n once), ``delta`` writes s·∂C_x/∂z^L for every row through one fused kernel.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


class QuadraticCost:
    """The lecture's cost, C_x = ½‖y − a^L‖²; its δ is (a − y) ⊙ σ′(z^L)."""

    name = "quadratic"

    @staticmethod
    def activation(ops, z, b, out):
        return ops.bias_sigmoid(z, b, out)  # a^L = σ(z^L + b^L)

    @staticmethod
    def check_targets(xp, targets, what):
        """Any finite target matrix is fine: δ is the gradient of C_x for every y."""

    @staticmethod
    def value(xp, a, y):
        diff = a - y
        return 0.5 * xp.vdot(diff, diff)

    @staticmethod
    def delta(ops, a, y, scale, out):
        return ops.quadratic_delta(a, y, scale, out)


class CrossEntropyCost:
    """C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)]; σ′ cancels, so its δ is a − y (no learning slowdown)."""

    name = "cross-entropy"
    activation, check_targets = QuadraticCost.activation, QuadraticCost.check_targets

    @staticmethod
    def value(xp, a, y):
        # A saturated output can round a or 1 − a to 0; clipping the logs at the smallest normal number keeps
        # the cost finite (about 87 per such output in float32) instead of nan or inf.
        tiny = np.finfo(a.dtype).tiny
        return -(xp.vdot(y, xp.log(xp.maximum(a, tiny))) + xp.vdot(1 - y, xp.log(xp.maximum(1 - a, tiny))))

    @staticmethod
    def delta(ops, a, y, scale, out):
        return ops.cross_entropy_delta(a, y, scale, out)


class LogLikelihoodCost:
    """A softmax output layer, a_j = e^(z_j) / Σ_k e^(z_k), with C_x = −ln a_y (Nielsen's chapter 3, network3).

    For a target row y that sums to 1 (one-hot: the class y), C_x = −Σ_j y_j ln a_j; the softmax's Jacobian
    cancels the log's derivative, so δ^L = a − y exactly as for cross-entropy, and the same kernel computes it.
    The outputs are a probability distribution over the classes.
    """

    name = "log-likelihood"

    @staticmethod
    def activation(ops, z, b, out):
        return ops.bias_softmax(z, b, out)  # a^L = softmax(z^L + b^L), row by row

    @staticmethod
    def value(xp, a, y):
        tiny = np.finfo(a.dtype).tiny  # as for cross-entropy: a saturated softmax can round a_y to 0
        return -xp.vdot(y, xp.log(xp.maximum(a, tiny)))

    @staticmethod
    def delta(ops, a, y, scale, out):
        return ops.cross_entropy_delta(a, y, scale, out)

    @staticmethod
    def check_targets(xp, targets, what):
        """δ = a − y is the gradient only where every target row sums to 1: refuse other target matrices."""
        tolerance = float(np.sqrt(np.finfo(targets.dtype).eps))
        if not bool(xp.all(xp.abs(targets.sum(axis=1) - 1) <= tolerance)):
            raise InputError(
                f"{what}: with the log-likelihood cost each row of the target matrix must sum to 1 "
                f"(a probability for each class, such as one-hot rows); pass class labels instead"
            )


COSTS = {cost.name: cost for cost in (QuadraticCost, CrossEntropyCost, LogLikelihoodCost)}


def get_cost(cost):
    """The cost object for a name (``"quadratic"``, ``"cross-entropy"``, ``"log-likelihood"``) or a cost object."""
    if isinstance(cost, str):
        try:
            return COSTS[cost.strip().lower()]
        except KeyError:
            raise InputError(f"unknown cost {cost!r}: choose one of {', '.join(COSTS)}") from None
    if cost in COSTS.values():
        return cost
    raise InputError(f"unknown cost {cost!r}: choose one of {', '.join(COSTS)}")
