"""Cost functions as objects: a value for monitoring and an output-layer δ for backprop (BP1).

Both costs satisfy the lecture's two assumptions: the cost is an average over training examples, C = (1/n) Σ_x C_x,
and each C_x depends on the output activations a^L only. ``value`` returns Σ_x C_x over the rows it is given (a
device scalar; the caller divides by n once), ``delta`` writes s·∂C_x/∂z^L for every row through one fused kernel.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


class QuadraticCost:
    """The lecture's cost, C_x = ½‖y − a^L‖²; its δ is (a − y) ⊙ σ′(z^L)."""

    name = "quadratic"

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

    @staticmethod
    def value(xp, a, y):
        # A saturated output can round a or 1 − a to 0; clipping the logs at the smallest normal number keeps
        # the cost finite (about 87 per such output in float32) instead of nan or inf.
        tiny = np.finfo(a.dtype).tiny
        return -(xp.vdot(y, xp.log(xp.maximum(a, tiny))) + xp.vdot(1 - y, xp.log(xp.maximum(1 - a, tiny))))

    @staticmethod
    def delta(ops, a, y, scale, out):
        return ops.cross_entropy_delta(a, y, scale, out)


COSTS = {cost.name: cost for cost in (QuadraticCost, CrossEntropyCost)}


def get_cost(cost):
    """The cost object for a name (``"quadratic"``, ``"cross-entropy"``) or a cost object itself."""
    if isinstance(cost, str):
        try:
            return COSTS[cost.strip().lower()]
        except KeyError:
            raise InputError(f"unknown cost {cost!r}: choose one of {', '.join(COSTS)}") from None
    if cost in COSTS.values():
        return cost
    raise InputError(f"unknown cost {cost!r}: choose one of {', '.join(COSTS)}")
