"""A network array: ``count`` networks of the same sizes and units, stacked so that one pass trains them all.

Its flat parameter buffer is (count, P): row k holds member k's parameters laid out exactly as one network's
(``buffers.FlatParameters``), so the layer views stack the members, weights (count, n_(l+1), n_l) and biases
(count, 1, n_(l+1)), and the lecture's code in ``network.py`` runs unchanged: each product is one batched
``matmul`` over the members (cuBLAS runs it as a strided-batched GEMM, NumPy as a loop in C), each fused kernel
one launch over every member's elements, and an update rule one pass over the whole buffer, its per-member
scalars (count, 1) columns that broadcast along each row. Each member is also an ordinary ``Network`` over a view
of its row (``members``), with the generator ``Network(seed=seeds[k])`` would have, so a member's initial weights,
shuffles, scores and early stopping are exactly those of that network alone; ``arr[k]`` is a copy of it.

``feedforward`` gives every member's outputs (count, n, n_out) and ``predict`` their classes (count, n); the
ensemble's (``ensemble_feedforward``, ``ensemble_predict``) averages the members' outputs.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..config import is_whole
from ..errors import InputError, TrainingWarning
from . import initializers
from .config import NetworkConfig
from .costs import classes_of
from .inputs import as_rows, prepare, prepare_inputs
from .memory import describe_network, reports_out_of_memory
from .network import Network, score


def check_seeds(seeds, count) -> list | None:
    """``count`` as a whole number >= 1, and one seed per member, checked; None where ``seeds`` is None (a fresh
    random seed each, listed only once the array's memory has been checked: a count may be far too large)."""
    if not is_whole(count) or count < 1:
        raise InputError(f"count (the number of networks) must be a whole number >= 1, got {count!r}")
    if seeds is None:
        return None
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__") or len(seeds) != count:
        raise InputError(f"seeds must be a list of {count} seeds, one per network, got {seeds!r:.200}")
    return [NetworkConfig.check_one("seed", seed) for seed in seeds]


class NetworkArray(Network):
    """``count`` networks of ``sizes``, member k seeded by ``seeds[k]`` (see the module's docstring); every other
    knob is ``Network``'s, shared by all members."""

    member_class = Network  # what ``arr[k]`` is (``gpubp.NetworkArray``'s: ``gpubp.Network``, which trains)

    @reports_out_of_memory(describe_network("building"))
    def __init__(
        self,
        sizes,
        count,
        *,
        seeds=None,
        cost=NetworkConfig.cost,
        dtype=NetworkConfig.dtype,
        device=None,
        init=NetworkConfig.init,
        activation=NetworkConfig.activation,
        output=NetworkConfig.output,
        leaky_slope=NetworkConfig.leaky_slope,
    ):
        knobs = dict(activation=activation, leaky_slope=leaky_slope, output=output, cost=cost, dtype=dtype, init=init)
        self._build(sizes, int(count), check_seeds(seeds, count), NetworkConfig(**knobs), device)
        for member in self.members:  # one member's float64 draws at a time
            member.set_parameters(
                *initializers.draw(member.rng, self.sizes, self.inits, (*self.activations, self.output))
            )

    @classmethod
    def from_parameters(cls, sizes, weights, biases, *, seeds=None, device=None, **knobs):
        """An array with the given weights (count, n_(l+1), n_l) and biases (count, n_(l+1)), host arrays, one per
        layer; ``knobs``: ``Network``'s (the members' ``seeds`` seed their shuffles)."""
        arr = cls.__new__(cls)
        count = len(weights[0]) if len(weights) else 0
        arr._build(sizes, count, check_seeds(seeds, count), NetworkConfig(**{**knobs, "seed": None}), device)
        arr.set_parameters(weights, biases)
        return arr

    def _build(self, sizes, count: int, seeds, config: NetworkConfig, device) -> None:
        self.count = count
        self._configure(sizes, config, device, None)  # the memory check, before anything per member
        self.rng = None  # each member draws from its own
        self.members = [self._member(k, seed) for k, seed in enumerate(seeds or [None] * count)]

    def _member(self, k: int, seed) -> Network:
        """Member ``k``: a ``Network`` over row k of the array's parameters and gradient, seeded by ``seed``."""
        member = Network.__new__(Network)
        config = dataclasses.replace(self.config, seed=seed)
        member._configure(self.sizes, config, self.backend.name, None, (self.flat_parameters[k], self.flat_gradient[k]))
        return member

    def groups(self) -> list:
        """The array as consecutive groups of members, each a ``NetworkArray`` over its rows of the buffers, that
        a step takes one after another: on the CPU, as many members as keep a group's parameters and gradient
        within ``backend.group_bytes``; on a GPU, one group of all."""
        budget = self.backend.group_bytes
        size = self.count if budget is None else max(1, min(self.count, budget // (2 * self.flat_parameters[0].nbytes)))
        if size == self.count:
            return [(0, self.count, self)]
        return [
            (k, min(k + size, self.count), self._view(k, min(k + size, self.count))) for k in range(0, self.count, size)
        ]

    def _view(self, first: int, last: int) -> NetworkArray:
        """Members ``first`` to ``last`` as an array of their own over the same rows of the buffers."""
        view = NetworkArray.__new__(NetworkArray)
        view.count, view.members = last - first, self.members[first:last]
        rows = (self.flat_parameters[first:last], self.flat_gradient[first:last])
        view._configure(self.sizes, self.config, self.backend.name, None, rows)
        view.rng, view.labels, view.multilabel = None, self.labels, self.multilabel
        return view

    @property
    def seeds(self) -> list:
        return [member.config.seed for member in self.members]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k: int) -> Network:
        """An ordinary ``Network`` equal to member ``k``, with its own copy of the parameters and of the generator's
        state (training it leaves the array as it is). ``k`` counts from the end where negative, as for a list; a
        member whose weights are not finite (it diverged) has no network to give."""
        k = self._member_index(k)
        if not self.finite_members()[k]:
            raise InputError(
                f"member {k} of this array has weights that are not finite numbers (it diverged, or was set so): "
                f"it has no network to take; train it again with a smaller eta, or take another member"
            )
        member = self.members[k]
        knobs = {**self.config.to_dict(), "seed": member.config.seed}
        copy = self.member_class.from_parameters(self.sizes, *member.parameters(), device=self.backend.name, **knobs)
        copy.rng.bit_generator.state = member.rng.bit_generator.state
        copy.labels, copy.multilabel = self.labels, self.multilabel
        return copy

    def _member_index(self, k) -> int:
        """``k`` as a member's index in 0..count − 1 (negative: from the end), or an ``InputError``."""
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise InputError(
                f"an array's members are taken one at a time, by a whole number (arr[0], arr[-1]), got "
                f"{type(k).__name__} {k!r:.60}: for several, take each, or build an array of those seeds"
            )
        if not -self.count <= k < self.count:
            raise InputError(
                f"arr[{k}]: this array has {self.count} members, 0 to {self.count - 1} (or -1 to -{self.count})"
            )
        return int(k) % self.count

    # ----- parameters ---------------------------------------------------------------------------------------------

    def set_parameters(self, weights, biases) -> None:
        """Every member's weights (count, n_(l+1), n_l) and biases (count, n_(l+1)), host or device arrays."""
        if len(weights) != len(self.weights) or len(biases) != len(self.biases):
            raise InputError(f"parameters do not fit sizes {list(self.sizes)}: one array per layer for each")
        for k, member in enumerate(self.members):
            member.set_parameters([w[k] for w in weights], [b[k] for b in biases])

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(weights, biases)`` as host arrays: weights (count, n_(l+1), n_l), biases (count, n_(l+1))."""
        to_host = self.backend.to_host
        return [to_host(w) for w in self.weights], [to_host(b[:, 0, :]) for b in self.biases]

    def finite_members(self) -> np.ndarray:
        """Which members' weights and biases are all finite numbers, (count,) bools (one host sync)."""
        return self.backend.to_host(self.backend.xp.isfinite(self.flat_parameters).all(axis=1))

    # ----- inference ----------------------------------------------------------------------------------------------

    @reports_out_of_memory(describe_network("evaluating"))
    def feedforward(self, x) -> np.ndarray:
        """Every member's output activations for input rows ``x`` (n, n_in): (count, n, n_out), a host array."""
        rows, _ = as_rows(x, self.sizes[0])
        return self.backend.to_host(self._outputs(prepare_inputs(self, rows, "feedforward input")))

    def predict(self, x) -> np.ndarray:
        """Every member's class of each input row, (count, n) (see ``Network.predict``); for regression, the
        outputs (count, n, n_out)."""
        outputs = self.feedforward(x)
        return outputs if self.regression else classes_of(outputs, self.multilabel)

    def ensemble_feedforward(self, x) -> np.ndarray:
        """The ensemble's outputs: the members' outputs averaged, (n, n_out), over the members whose weights are
        finite (a member that diverged is left out, with a warning naming it; if none is finite, an error)."""
        finite = self.finite_members()
        if not finite.any():
            raise InputError("no member of this array has finite weights (every one diverged): there is no ensemble")
        if not finite.all():
            left_out = ", ".join(map(str, np.flatnonzero(~finite)))
            warnings.warn(
                TrainingWarning(
                    f"the ensemble averages the {finite.sum()} members with finite weights; member(s) {left_out} "
                    f"diverged and are left out"
                ),
                stacklevel=2,
            )
        return self.feedforward(x)[finite].mean(axis=0)

    def ensemble_predict(self, x) -> np.ndarray:
        """The ensemble's class of each row (from the averaged outputs), or its averaged outputs for regression."""
        outputs = self.ensemble_feedforward(x)
        return outputs if self.regression else classes_of(outputs, self.multilabel)

    def _outputs(self, x):
        with self.backend.tf32_math():  # batched GEMMs in TF32 where the backend uses it (``backend/device.py``)
            return super()._outputs(x)

    def metrics(self, x, targets, labels, weights=None) -> list:
        """Each member's ``Metrics`` on device data shared by all members, from one forward pass of the array."""
        outputs = self._outputs(x)
        return [score(self, outputs[k], targets, labels, weights) for k in range(self.count)]

    def evaluate(self, test_data) -> list[int]:
        """Each member's number of test samples classified right (Nielsen's ``evaluate``, per member)."""
        return [m.correct for m in self.metrics(*prepare(self, test_data, "test data"))]

    def total_cost(self, data) -> list[float]:
        """Each member's C = (1/n) Σ_x C_x over ``data = (X, y)``."""
        return [m.cost for m in self.metrics(*prepare(self, data, "data"))]

    def __repr__(self) -> str:
        return (
            f"NetworkArray(sizes={list(self.sizes)}, count={self.count}, cost={self.cost.name!r}, "
            f"dtype={self.dtype.name!r}, device={self.backend.name!r}, init={self.init!r})"
        )
