"""What a network is made of besides its sizes, declared once: ``NetworkConfig``.

The hidden units' activation (one for every hidden layer, or one per layer), leaky ReLU's slope, the output layer
and the cost, the precision, how the weights are drawn, and the seed. ``Network(sizes, ...)`` takes these fields as
keywords, the command line builds ``--activation``, ``--output``, ``--cost``, ``--init``… from them, and the
estimators map their parameters onto them (see ``gpubp.config``).

Each hidden layer gets the initialization that suits its activation unless ``init`` names one, and the output
layer the last hidden layer's: σ the lecture's N(0, 1) (``normal``: sigmoid networks train exactly as they always
did), ReLU and leaky ReLU ``he``, N(0, 2/n_in) (He et al., 2015: it keeps the variance of z from layer to layer
when half the units are off), tanh and identity ``glorot``, uniform in ±√(6/(n_in + n_out)) (Glorot & Bengio,
2010: the variances of z and of δ both stay put for units that are linear near 0). ``glorot`` is what
``MLPClassifier`` draws, with its bound √(2/(n_in + n_out)) for σ units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend.kernels import ACTIVATIONS
from ..config import Config, Rule, SettingError, choice, knob, number, optional, whole
from .costs import COSTS, OUTPUTS

DTYPES = ("float32", "float64")
INITS = ("normal", "scaled", "he", "glorot")
DEFAULT_INIT = {"sigmoid": "normal", "tanh": "glorot", "relu": "he", "leaky_relu": "he", "identity": "glorot"}


def cost_name(cost):
    """The name of a cost given by name (any case) or as one of the cost classes of ``costs.py``."""
    if isinstance(cost, str):
        return cost.strip().lower()
    return next((name for name, known in COSTS.items() if cost is known), cost)


def dtype_name(dtype):
    """``"float32"`` for ``"float32"``, ``numpy.float32`` or ``numpy.dtype("float32")``."""
    if isinstance(dtype, str):
        return dtype.strip().lower()
    try:
        return np.dtype(dtype).name if dtype is not None else dtype
    except TypeError:
        return dtype


ACTIVATION = choice(*ACTIVATIONS)


def activation_names(value):
    """One activation's name (any case), or a list of them, one per hidden layer: normalized to a name or a
    tuple of names."""
    if isinstance(value, (list, tuple)):
        return tuple(ACTIVATION.normalize(v) for v in value)
    return ACTIVATION.normalize(value)


def are_activations(value) -> bool:
    names = activation_names(value)
    return all(n in ACTIVATIONS for n in (names if isinstance(names, tuple) else (names,))) and names != ()


@dataclass(frozen=True)
class NetworkConfig(Config):
    """The hidden units, the output layer and its cost, the precision, how the weights are drawn, and the seed."""

    activation: str | tuple[str, ...] = knob(
        "sigmoid",
        Rule(
            f"one of {', '.join(ACTIVATIONS)}, or a list of them, one per hidden layer",
            are_activations,
            activation_names,
        ),
        "the hidden units: sigmoid (the lecture's), tanh, relu, leaky_relu or identity; one for every hidden layer, "
        "or a comma-separated list, one per hidden layer",
        what="the hidden activation",
        flag="--activation",
        estimator="activation",
        metavar="NAME[,NAME…]",
    )
    leaky_slope: float = knob(
        0.01,
        number(0, 1, low_open=True, high_open=True),
        "the slope of leaky ReLU units below 0, in (0, 1)",
        what="leaky ReLU's slope",
        applies_to=("activation", ("leaky_relu",)),
        flag="--leaky-slope",
        estimator="leaky_slope",
        metavar="S",
    )
    output: str | None = knob(
        None,
        optional(choice(*OUTPUTS), "the cost's own: sigmoid, or softmax for log-likelihood"),
        "the output layer: sigmoid, softmax (with the log-likelihood cost) or identity (regression, with the quadratic "
        "cost: real-valued targets)",
        what="the output layer",
        flag="--output",
        metavar="|".join(OUTPUTS),
    )
    cost: str = knob(
        "quadratic",
        Rule(f"one of {', '.join(COSTS)}", lambda v: cost_name(v) in COSTS, cost_name),
        "cost function; cross-entropy learns faster from saturated outputs; log-likelihood makes the output layer "
        "a softmax, the outputs class probabilities",
        what="the cost",
        flag="--cost",
        estimator="cost",
        metavar="|".join(COSTS),
    )
    dtype: str = knob(
        "float32",
        Rule(f"one of {', '.join(DTYPES)}", lambda v: dtype_name(v) in DTYPES, dtype_name),
        "floating-point precision: float32 (fast) or float64 (exact checks)",
        what="the dtype",
        flag="--dtype",
        estimator="dtype",
        metavar="|".join(DTYPES),
    )
    init: str | None = knob(
        None,
        optional(choice(*INITS), "each activation's own"),
        "initial weights: normal, N(0, 1), the lecture's; scaled, N(0, 1/n_in), network2's; he, N(0, 2/n_in), for "
        "ReLU; glorot, MLPClassifier's uniform draw; none: sigmoid normal, relu he, tanh and identity glorot",
        what="the initialization",
        flag="--init",
        estimator="init",
        metavar="|".join(INITS),
    )
    seed: int | None = knob(
        None,
        optional(whole(0), "a fresh random seed"),
        "seed of the initial weights and of the shuffle order",
        what="the seed",
        flag="--seed",
        flag_default=0,
        estimator="random_state",
        metavar="S",
    )

    def check_together(self) -> None:
        outputs = COSTS[self.cost].outputs
        if self.output is not None and self.output not in outputs:
            pairs = "; ".join(f"{name}: {' or '.join(cost.outputs)}" for name, cost in COSTS.items())
            raise SettingError(
                f"{{output={self.output!r}}} does not go with {{cost={self.cost!r}}}: each cost has the outputs "
                f"whose δ is its gradient ({pairs})",
                "output",
                "cost",
            )

    @property
    def output_layer(self) -> str:
        """The output layer's activation: the one given, else the cost's own."""
        return self.output or next(iter(COSTS[self.cost].outputs))

    def hidden_activations(self, hidden_layers: int) -> tuple[str, ...]:
        """One activation per hidden layer; a ``SettingError`` where a list does not have one per layer."""
        if isinstance(self.activation, str):
            return (self.activation,) * hidden_layers
        if len(self.activation) != hidden_layers:
            raise SettingError(
                f"{{activation}} lists {len(self.activation)} activations for {hidden_layers} hidden "
                f"layer{'s' if hidden_layers != 1 else ''}: give one per hidden layer, or one name for all",
                "activation",
            )
        return self.activation

    def inits(self, hidden_layers: int) -> tuple[str, ...]:
        """How each layer's weights are drawn: ``init``, else each hidden layer's activation's own, and the output
        layer like the last hidden layer (or, with none, glorot for an identity output and normal otherwise)."""
        if self.init is not None:
            return (self.init,) * (hidden_layers + 1)
        hidden = tuple(DEFAULT_INIT[name] for name in self.hidden_activations(hidden_layers))
        output = hidden[-1] if hidden else "glorot" if self.output_layer == "identity" else "normal"
        return (*hidden, output)
