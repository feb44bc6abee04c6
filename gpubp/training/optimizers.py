"""Update rules: how one mini-batch's gradient moves the weights — sgd, momentum, Nesterov or Adam, with L2.

Each rule is one fused elementwise pass over the network's flat parameter buffer (the ``gpubp_<rule>`` kernels
of ``backend/kernels.py``), reading the flat gradient buffer, the only buffer summed across processes in
data-parallel training. A rule's state (velocity, moments) lives in flat buffers with the parameters' layout,
so the same index ``i`` addresses a parameter, its gradient and its state. The arithmetic is torch.optim's:

- ``sgd``: w ← w − η∇ (the lecture's rule; η/m is folded into BP1's δ, so the step is one subtraction);
- ``momentum``: heavy ball, v ← μv − η∇, w ← w + v (Nielsen's and scikit-learn's form; it equals
  ``torch.optim.SGD(momentum=μ)`` while η is constant);
- ``nesterov``: ``torch.optim.SGD(momentum=μ, nesterov=True)``: buf ← μ·buf + ∇, w ← w − η(∇ + μ·buf);
- ``adam``: ``torch.optim.Adam(betas, eps)`` with bias correction, its factors computed on the host per step.

∇ is the mean gradient over the mini-batch. L2 regularization is network2's, w ← (1 − ηλ/n)w − (η/m)Σ∇w with n
the training-set size, the biases not decayed: it adds (λ/n)·w to the weights' gradient, which is torch's
``weight_decay = λ/n`` for every rule (for Adam, L2 added to the gradient, not AdamW's decoupled decay).
"""

from __future__ import annotations

import numpy as np

from ..model.buffers import flat_buffer
from .config import TrainingConfig

STATE_BUFFERS = {
    "sgd": (),
    "momentum": ("velocity",),
    "nesterov": ("momentum_buffer",),
    "adam": ("first_moment", "second_moment"),
}


class Optimizer:
    """The update rule ``config`` names, with its hyperparameters and its state.

    ``weight_decay`` is L2's λ/n, n the number of rows trained on. The state buffers are allocated on the first
    step, like the parameter buffer.
    """

    def __init__(self, config: TrainingConfig, weight_decay: float):
        self.rule, self.momentum, self.betas, self.eps = config.optimizer, config.momentum, config.betas, config.eps
        self.weight_decay = weight_decay
        self.steps = 0
        self.state = []

    def hyperparameters(self) -> tuple:
        """What makes two optimizers the same rule (the decay may change, e.g. with the training-set size)."""
        return self.rule, self.momentum, self.betas, self.eps

    def gradient_scale(self, eta, m):
        """The factor backprop folds into BP1's δ: η/m for sgd (the step is then one subtraction), else 1/m (numbers,
        or NumPy arrays of them: a network array's steps)."""
        return eta / m if self.rule == "sgd" else 1.0 / m

    def step(self, backend, params, gradient, n_weights: int, eta: float) -> None:
        """Move ``params`` (the flat buffer, weights in its first ``n_weights`` elements) along ``gradient``."""
        if len(self.state) != len(STATE_BUFFERS[self.rule]):
            self.state = [backend.xp.zeros_like(params) for _ in STATE_BUFFERS[self.rule]]
        self.steps += 1
        getattr(backend.ops, self.rule)(gradient, n_weights, *self.scalars(eta, self.steps), params, *self.state)

    def scalars(self, eta, steps):
        """The rule's kernel scalars after L2's and before the buffers, for step number ``steps`` (from 1) at step
        size ``eta``: numbers, or NumPy arrays of them (a network array's steps of an epoch)."""
        decay = self.weight_decay
        if self.rule == "sgd":
            return (1.0 - eta * decay,)
        if self.rule in ("momentum", "nesterov"):
            return decay, self.momentum, eta
        beta1, beta2 = self.betas
        # torch.optim.Adam's bias corrections, in its order of operations, on the host: no device sync.
        step_size = eta / (1 - beta1**steps)
        correction2 = (1 - beta2**steps) ** 0.5
        return decay, 1 - beta1, beta2, 1 - beta2, step_size, correction2, self.eps

    # ----- checkpoints ------------------------------------------------------------------------------------------

    def state_arrays(self, backend) -> dict:
        """The state buffers as host arrays, named after what they hold."""
        return {name: backend.to_host(buf) for name, buf in zip(STATE_BUFFERS[self.rule], self.state)}

    def restore(self, steps: int, arrays: dict, backend, params) -> None:
        """Continue from a checkpoint: ``steps`` taken, the state buffers ``state_arrays`` wrote, on ``backend``
        laid out like the flat parameter buffer ``params``; a ``ValueError`` says what does not fit."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"the optimizer's step count is {steps!r}")
        self.steps = steps
        if steps:
            self.state = [
                flat_buffer(f"the optimizer's {name}", arrays[name], backend, params)
                for name in STATE_BUFFERS[self.rule]
            ]


class ArrayOptimizer:
    """A network array's update rules stepped as one: ``rules``, one ``Optimizer`` per member (its hyperparameters,
    L2 decay and step count), over the array's (count, P) buffers. The state buffers are (count, P) too, and each
    member's ``Optimizer.state`` is its row of them (views), so a member's state is what it would be alone.

    ``plan`` works out every scalar of an epoch's steps on the host, (count, steps) per scalar, and puts them on
    the device at once; step j then runs the rule's kernel over the weights and over the biases of each run of
    consecutive members that take it (two launches for all of them), the scalars their (count, 1) columns.
    """

    def __init__(self, rules, backend, params):
        self.rules, self.rule = rules, rules[0].rule
        names = STATE_BUFFERS[self.rule]
        if all(len(r.state) == len(names) for r in rules):  # continuing: the members' rows, stacked once more
            self.state = [backend.xp.stack([r.state[i] for r in rules]) for i in range(len(names))]
        else:
            self.state = [backend.xp.zeros_like(params) for _ in names]
        for k, rule in enumerate(rules):
            rule.state = [buffer[k] for buffer in self.state]

    def plan(self, backend, dtype, etas: np.ndarray, active: np.ndarray) -> list:
        """The kernel scalars of each member's steps of an epoch, device arrays (count, steps): member k takes step
        j with step size ``etas[k, j]`` where ``active[k, j]``; each member's step count advances by its steps."""
        columns = []
        for rule, eta, taken in zip(self.rules, etas, active):
            steps = rule.steps + np.cumsum(taken)
            rule.steps = int(steps[-1]) if len(steps) else rule.steps
            columns.append([np.broadcast_to(np.asarray(v, np.float64), eta.shape) for v in rule.scalars(eta, steps)])
        return [backend.asarray(np.stack(values), dtype) for values in zip(*columns)]

    def step(self, backend, params, gradient, n_weights: int, plan: list, j: int, runs) -> None:
        """Step ``j`` of the plan for the members of each ``(first, last)`` run: their weights, then their biases
        (in one pass where no member has L2, which is then the same arithmetic for both)."""
        kernel = getattr(backend.ops, self.rule)
        regions = ((slice(None, n_weights), True), (slice(n_weights, None), False))
        if not any(rule.weight_decay for rule in self.rules):
            regions = ((slice(None), False),)
        for first, last in runs:
            scalars = [values[first:last, j : j + 1] for values in plan]
            for region, weights in regions:
                p = params[first:last, region]
                state = [buffer[first:last, region] for buffer in self.state]
                kernel(gradient[first:last, region], p.size if weights else 0, *scalars, p, *state)
