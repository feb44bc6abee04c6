"""Output layers and costs: which output activations each cost goes with, BP1's kernel for each pair, and C's value.

Every cost satisfies the lecture's two assumptions: the cost is an average over training examples,
C = (1/n) Σ_x C_x, and each C_x depends on the output activations a^L only. The output layer's activation is σ
(``sigmoid``), a softmax (``softmax``) or none (``identity``, for regression); ``outputs`` lists, for each cost,
the outputs it makes sense with and the fused kernel that writes BP1's δ^L = s·∂C_x/∂z^L for that pair (the
first is the cost's default output), ``value`` returns Σ_x C_x over the rows it is given, or Σ_x w_x C_x with
sample weights (a device scalar; the caller divides by n, or Σ w, once), and ``check_targets`` refuses targets for
which δ would not be C's gradient or C has no minimum. ``classes_of`` is the one rule that reads a class off a row
of outputs or targets, for accuracy and prediction alike.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def class_count(n_outputs: int) -> int:
    """How many classes a network of ``n_outputs`` output neurons tells apart: one per output, and two for one."""
    return max(n_outputs, 2)


def classes_of(rows, multilabel: bool = False):
    """The class each row of outputs (or of a target matrix) stands for, on the rows' device: the index of its
    largest entry; with one output neuron, the binary class: 1 where it is above ½, the sigmoid's midpoint, else 0
    (as scikit-learn reads one output). Used by ``predict``, accuracy, ``evaluate``, the estimator and the CLI; a
    network array's outputs (members, rows, n_out) give each member's classes, (members, rows).

    A ``multilabel`` network's outputs are each a yes/no label of their own (``Network.multilabel``), so a row
    stands for a set of labels, not one class: its 0/1 indicator row, 1 wherever the output is above ½."""
    if multilabel:
        return (rows > 0.5).astype(np.int64)
    if rows.shape[-1] == 1:
        return (rows[..., 0] > 0.5).astype(np.int64)
    return rows.argmax(axis=-1)


def check_in_unit_interval(xp, targets, what: str, cost: str) -> None:
    """Refuse targets outside [0, 1], where a cost of logarithms has no minimum, naming the first one's place."""
    outside = (targets < 0) | (targets > 1)
    if bool(outside.any()):
        row, column = divmod(int(xp.argmax(outside.ravel())), targets.shape[1])
        raise InputError(
            f"{what}: the {cost} cost takes targets in [0, 1] (outside it the cost has no minimum and training "
            f"runs off to minus infinity), but row {row + 1}, column {column + 1} is {float(targets[row, column]):g}: "
            f"pass class labels, or targets in [0, 1], or use the quadratic cost"
        )


class QuadraticCost:
    """The lecture's cost, C_x = ½‖y − a^L‖²; its δ is (a − y) ⊙ σ′(z^L)."""

    name = "quadratic"
    # σ outputs: δ = (a − y) ⊙ σ′; identity outputs (regression, the lecture's cost on unbounded outputs): δ = a − y
    outputs = {"sigmoid": "quadratic_delta", "identity": "error_delta"}

    @staticmethod
    def check_targets(xp, targets, what):
        """Any finite target matrix is fine: δ is the gradient of C_x for every y."""

    @staticmethod
    def value(xp, a, y, weights=None):
        diff = a - y
        return 0.5 * (xp.vdot(diff, diff) if weights is None else xp.vdot(weights, (diff * diff).sum(axis=1)))


class CrossEntropyCost:
    """C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)]; σ′ cancels, so its δ is a − y (no learning slowdown)."""

    name = "cross-entropy"
    outputs = {"sigmoid": "error_delta"}

    @staticmethod
    def check_targets(xp, targets, what):
        """y ln a + (1 − y) ln(1 − a) is bounded, with its minimum at a = y, only for y in [0, 1]."""
        check_in_unit_interval(xp, targets, what, "cross-entropy")

    @staticmethod
    def value(xp, a, y, weights=None):
        # A saturated output can round a or 1 − a to 0; clipping the logs at the smallest normal number keeps
        # the cost finite (about 87 per such output in float32) instead of nan or inf.
        tiny = np.finfo(a.dtype).tiny
        log_a, log_1a = xp.log(xp.maximum(a, tiny)), xp.log(xp.maximum(1 - a, tiny))
        if weights is None:
            return -(xp.vdot(y, log_a) + xp.vdot(1 - y, log_1a))
        return -xp.vdot(weights, (y * log_a + (1 - y) * log_1a).sum(axis=1))


class LogLikelihoodCost:
    """A softmax output layer, a_j = e^(z_j) / Σ_k e^(z_k), with C_x = −ln a_y (Nielsen's chapter 3, network3).

    For a target row y that sums to 1 (one-hot: the class y), C_x = −Σ_j y_j ln a_j; the softmax's Jacobian
    cancels the log's derivative, so δ^L = a − y exactly as for cross-entropy, and the same kernel computes it.
    The outputs are a probability distribution over the classes.
    """

    name = "log-likelihood"
    outputs = {"softmax": "error_delta"}  # a^L = softmax(z^L + b^L), row by row

    @staticmethod
    def value(xp, a, y, weights=None):
        tiny = np.finfo(a.dtype).tiny  # as for cross-entropy: a saturated softmax can round a_y to 0
        logs = xp.log(xp.maximum(a, tiny))
        return -(xp.vdot(y, logs) if weights is None else xp.vdot(weights, (y * logs).sum(axis=1)))

    @staticmethod
    def check_targets(xp, targets, what):
        """δ = a − y is the gradient only where every target row sums to 1, and −Σ y ln a has a minimum only for y in
        [0, 1]: refuse other target matrices."""
        check_in_unit_interval(xp, targets, what, "log-likelihood")
        tolerance = float(np.sqrt(np.finfo(targets.dtype).eps))
        if not bool(xp.all(xp.abs(targets.sum(axis=1) - 1) <= tolerance)):
            raise InputError(
                f"{what}: with the log-likelihood cost each row of the target matrix must sum to 1 "
                f"(a probability for each class, such as one-hot rows); pass class labels instead"
            )


COSTS = {cost.name: cost for cost in (QuadraticCost, CrossEntropyCost, LogLikelihoodCost)}
OUTPUTS = {"sigmoid": "bias_sigmoid", "softmax": "bias_softmax", "identity": "bias_identity"}  # a^L's kernels


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
