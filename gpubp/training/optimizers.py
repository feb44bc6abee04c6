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

import math
from numbers import Real

from ..errors import InputError
from ..model.buffers import flat_buffer

RULES = ("sgd", "momentum", "nesterov", "adam")
STATE_BUFFERS = {
    "sgd": (),
    "momentum": ("velocity",),
    "nesterov": ("momentum_buffer",),
    "adam": ("first_moment", "second_moment"),
}


def _real(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)


def check_optimizer(rule) -> str:
    name = rule.strip().lower() if isinstance(rule, str) else rule
    if name not in RULES:
        raise InputError(f"unknown optimizer {rule!r}: choose one of {', '.join(RULES)}")
    return name


def check_momentum(momentum) -> float:
    if not _real(momentum) or not 0 <= momentum < 1:
        raise InputError(f"momentum μ must be a number in [0, 1), such as 0.9; got {momentum!r}")
    return float(momentum)


def check_lmbda(lmbda) -> float:
    if not _real(lmbda) or lmbda < 0:
        raise InputError(f"the L2 strength λ (lmbda, --l2) must be a finite number >= 0 (0: none), got {lmbda!r}")
    return float(lmbda)


def check_betas(betas) -> tuple[float, float]:
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise InputError(f"Adam's betas must be a pair (β1, β2) such as (0.9, 0.999), got {betas!r}") from None
    if not all(_real(b) and 0 <= b < 1 for b in (beta1, beta2)):
        raise InputError(f"Adam's betas must each be a number in [0, 1), such as (0.9, 0.999); got {betas!r}")
    return float(beta1), float(beta2)


def check_eps(eps) -> float:
    if not _real(eps) or eps <= 0:
        raise InputError(f"Adam's eps must be a finite number > 0, such as 1e-8; got {eps!r}")
    return float(eps)


class Optimizer:
    """An update rule, its hyperparameters and its state; ``net.optimizer`` holds the one a network trains with.

    ``weight_decay`` is λ/n. The state buffers are allocated on the first step, like the parameter buffer.
    """

    def __init__(self, rule="sgd", momentum=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.rule = check_optimizer(rule)
        self.momentum = check_momentum(momentum)
        self.betas = check_betas(betas)
        self.eps = check_eps(eps)
        self.weight_decay = check_lmbda(weight_decay)
        self.steps = 0
        self.state = []

    def hyperparameters(self) -> tuple:
        """What makes two optimizers the same rule (the decay may change, e.g. with the training-set size)."""
        return self.rule, self.momentum, self.betas, self.eps

    def gradient_scale(self, eta: float, m: int) -> float:
        """The factor backprop folds into BP1's δ: η/m for sgd (the step is then one subtraction), else 1/m."""
        return eta / m if self.rule == "sgd" else 1.0 / m

    def step(self, backend, params, gradient, n_weights: int, eta: float) -> None:
        """Move ``params`` (the flat buffer, weights in its first ``n_weights`` elements) along ``gradient``."""
        if len(self.state) != len(STATE_BUFFERS[self.rule]):
            self.state = [backend.xp.zeros_like(params) for _ in STATE_BUFFERS[self.rule]]
        self.steps += 1
        ops, decay = backend.ops, self.weight_decay
        if self.rule == "sgd":
            ops.sgd(gradient, n_weights, 1.0 - eta * decay, params)
        elif self.rule in ("momentum", "nesterov"):
            getattr(ops, self.rule)(gradient, n_weights, decay, self.momentum, eta, params, *self.state)
        else:
            beta1, beta2 = self.betas
            # torch.optim.Adam's bias corrections, in its order of operations, on the host: no device sync.
            step_size = eta / (1 - beta1**self.steps)
            correction2 = (1 - beta2**self.steps) ** 0.5
            ops.adam(
                gradient,
                n_weights,
                decay,
                1 - beta1,
                beta2,
                1 - beta2,
                step_size,
                correction2,
                self.eps,
                params,
                *self.state,
            )

    # ----- checkpoints ------------------------------------------------------------------------------------------

    def settings(self) -> dict:
        """The rule, its hyperparameters and step count, JSON-ready."""
        return {
            "rule": self.rule,
            "momentum": self.momentum,
            "betas": list(self.betas),
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "steps": self.steps,
        }

    def state_arrays(self, backend) -> dict:
        """The state buffers as host arrays, named after what they hold."""
        return {name: backend.to_host(buf) for name, buf in zip(STATE_BUFFERS[self.rule], self.state)}

    @classmethod
    def restore(cls, settings: dict, arrays: dict, backend, params) -> Optimizer:
        """The optimizer that ``settings()`` and ``state_arrays()`` describe, its state on ``backend`` laid out
        like the flat parameter buffer ``params``; a ``ValueError`` says what does not fit."""
        optimizer = cls(
            settings["rule"], settings["momentum"], tuple(settings["betas"]), settings["eps"], settings["weight_decay"]
        )
        optimizer.steps = int(settings["steps"])
        if optimizer.steps < 0:
            raise ValueError(f"the optimizer's step count is {optimizer.steps}")
        if optimizer.steps:
            optimizer.state = [
                flat_buffer(f"the optimizer's {name}", arrays[name], backend, params)
                for name in STATE_BUFFERS[optimizer.rule]
            ]
        return optimizer


def prepare_optimizer(net, rule, momentum, betas, eps, lmbda, n: int, continuing: bool) -> Optimizer:
    """The optimizer ``train`` uses: the network's own where training continues a history with the same rule
    and hyperparameters (its state carries on), else a fresh one. L2's λ becomes the decay λ/n."""
    fresh = Optimizer(rule, momentum, betas, eps, check_lmbda(lmbda) / n)
    current = net.optimizer
    if continuing and current.hyperparameters() == fresh.hyperparameters():
        current.weight_decay = fresh.weight_decay
        return current
    return fresh
