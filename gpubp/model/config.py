"""What a network is made of besides its sizes, declared once: ``NetworkConfig`` (cost, dtype, init, seed).

``Network(sizes, ...)`` takes these fields as keywords, the command line builds ``--cost``, ``--dtype``,
``--init`` and ``--seed`` from them, and the estimator maps its parameters onto them (see ``gpubp.config``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config, Rule, choice, knob, optional, whole
from .costs import COSTS

DTYPES = ("float32", "float64")
INITS = ("normal", "scaled")


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


@dataclass(frozen=True)
class NetworkConfig(Config):
    """The network's output layer and cost, its precision, how its weights are drawn, and the seed."""

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
    init: str = knob(
        "normal",
        choice(*INITS),
        "initial weights: normal, N(0, 1), the lecture's; or scaled, N(0, 1/n_in), network2's, for wide layers, "
        "whose sigmoids normal saturates",
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
