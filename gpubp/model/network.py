"""The network: Nielsen's ``Network(sizes)`` with the whole mini-batch in matrix form, on whichever device is chosen.

A mini-batch is stored one sample per row, so the lecture's column form z^l = W^l a^(l−1) + b^l becomes
Z^l = A^(l−1) W^lᵀ + b^l for all m samples in one GEMM, and BP1–BP4 become matrix products over the batch (no
per-sample loop anywhere). ``weights[l]`` has the lecture's shape (n_(l+1), n_l) and connects layer l to layer
l+1 (layers counted from 0 here, from 1 in the lecture). The network sees the device only through its backend:
``xp`` (NumPy or CuPy) for GEMMs and reductions, ``ops`` for the fused elementwise kernels. Host arrays are
converted at the edges (the public methods, through ``inputs.py``); everything between stays on the device in
preallocated buffers. This class is the network alone — its parameters, the forward pass, backprop, the
lecture's SGD step and inference; training runs over epochs (``gpubp.training``) and ``gpubp.Network`` adds
Nielsen's ``SGD`` on top of it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import get_backend
from ..backend.kernels import ACTIVATIONS
from . import initializers
from .array_memory import check_network_fits
from .buffers import FlatParameters, Workspace
from .config import NetworkConfig
from .costs import OUTPUTS, classes_of, get_cost
from .inputs import as_rows, check_output_layer, check_parameters, check_sizes, prepare, prepare_inputs
from .memory import describe_network, evaluation_rows, memory_advice, reports_out_of_memory


class Metrics(NamedTuple):
    """What a network's outputs score on data: the mean cost, the rows classified right (None for regression),
    and R² (regression only)."""

    cost: float
    correct: int | None
    r2: float | None


def score(net, a, targets, labels, weights=None) -> Metrics:
    """``Metrics`` of one network's outputs ``a`` against device ``targets`` and ``labels`` (see ``metrics``)."""
    xp = net.backend.xp
    total = net.cost.value(xp, a, targets, weights)
    count = a.shape[0] if weights is None else weights.sum()
    if net.regression:
        residual = targets - a
        spread = targets - targets.mean(axis=0)
        ratio = float(xp.vdot(residual, residual)) / max(float(xp.vdot(spread, spread)), np.finfo(float).tiny)
        return Metrics(float(total) / float(count), None, 1.0 - ratio)
    hits = classes_of(a, net.multilabel) == labels
    correct = xp.count_nonzero(hits.all(axis=-1) if net.multilabel else hits)  # multilabel: every label right
    return Metrics(float(total) / float(count), int(correct), None)


class Network:
    """A fully-connected network: its parameters, backpropagation, the lecture's SGD step, and inference.

    ``Network([784, 30, 10])`` is the lecture's: σ units, weights and biases drawn from N(0, 1), from a
    ``numpy.random.Generator`` seeded by ``seed`` on the host, so that the same seed gives the same network on every
    device; the same generator later draws each epoch's shuffle order. ``activation`` makes the hidden units tanh,
    ReLU, leaky ReLU (``leaky_slope``) or identity, one for all hidden layers or a list with one per hidden layer;
    ``output`` makes the output layer σ, a softmax or identity (regression), within what ``cost`` allows; ``init``
    picks how the weights are drawn (``initializers.py``; by default what suits each activation). All of them are
    ``NetworkConfig``'s knobs (``model/config.py``). A network that would not fit the device's memory is refused
    with the figures (``model/memory.py``), and an allocation that fails anyway is a ``gpubp.OutOfMemoryError``.
    """

    @reports_out_of_memory(describe_network("building"))
    def __init__(
        self,
        sizes,
        cost=NetworkConfig.cost,
        dtype=NetworkConfig.dtype,
        device=None,
        seed=NetworkConfig.seed,
        init=NetworkConfig.init,
        activation=NetworkConfig.activation,
        output=NetworkConfig.output,
        leaky_slope=NetworkConfig.leaky_slope,
    ):
        knobs = dict(activation=activation, leaky_slope=leaky_slope, output=output, cost=cost, dtype=dtype)
        self._configure(sizes, NetworkConfig(**knobs, init=init, seed=seed), device, None)
        self.set_parameters(*initializers.draw(self.rng, self.sizes, self.inits, (*self.activations, self.output)))

    @classmethod
    def from_parameters(
        cls,
        sizes,
        weights,
        biases,
        cost=NetworkConfig.cost,
        dtype=NetworkConfig.dtype,
        device=None,
        seed=NetworkConfig.seed,
        init=NetworkConfig.init,
        activation=NetworkConfig.activation,
        output=NetworkConfig.output,
        leaky_slope=NetworkConfig.leaky_slope,
    ):
        """A network with the given weights and biases (host arrays of the lecture's shapes) instead of random ones."""
        net = cls.__new__(cls)
        knobs = dict(activation=activation, leaky_slope=leaky_slope, output=output, cost=cost, dtype=dtype)
        net._configure(sizes, NetworkConfig(**knobs, init=init, seed=seed), device, (weights, biases))
        net.set_parameters(weights, biases)
        return net

    count = None  # one network; a NetworkArray (array.py) stacks ``count`` of them on a leading axis

    @reports_out_of_memory(describe_network("building"))
    def _configure(self, sizes, config: NetworkConfig, device, given, rows=None) -> None:
        """Settings, device and buffers; ``given``: the ``(weights, biases)`` that will be set, or None for draws;
        ``rows``: a network array's rows of its flat parameters and gradient that this network is a view of (its
        member), or None for buffers of its own."""
        self.config = config
        self.sizes = check_sizes(sizes)
        self.num_layers = len(self.sizes)
        self.activations = config.hidden_activations(self.num_layers - 2)  # one name per hidden layer
        self.output, self.inits = config.output_layer, config.inits(self.num_layers - 2)
        self.cost, self.dtype, self.init = get_cost(config.cost), np.dtype(config.dtype), config.init
        check_output_layer(self.sizes, self.cost)
        self.backend = get_backend(device)
        if rows is None:  # a member's buffers are its array's, which checked them
            arrays = None if given is None else [*given[0], *given[1]]
            gpu = self.backend.name == "gpu"
            footprint = (self.sizes, self.dtype, gpu, self.inits, arrays)  # network_footprint's, but the count
            check_network_fits(footprint, self.count, self.backend, *memory_advice(self.dtype))
        self._evaluation_rows = evaluation_rows(self.sizes, self.dtype, self.count or 1)
        self.rng = np.random.default_rng(config.seed)
        # Each layer's kernels, found once: a^l = f(z^l + b^l) and BP2's ⊙ f′ per hidden layer (with leaky ReLU's
        # slope as an extra argument; no f′ kernel for identity units), a^L and BP1's δ for the output layer.
        ops = self.backend.ops
        self._hidden_kernels = [
            (
                getattr(ops, f"bias_{name}"),
                getattr(ops, f"{name}_delta", None),
                (config.leaky_slope,) if ACTIVATIONS[name].slope else (),
            )
            for name in self.activations
        ]
        self._output_forward = getattr(ops, OUTPUTS[self.output])
        self._output_delta = getattr(ops, self.cost.outputs[self.output])
        # Buffers depend on the sizes only, so they outlive set_parameters (the gradient check calls it often).
        self._workspaces: dict[int, Workspace] = {}
        xp, own = self.backend.xp, rows or (None, None)
        self._parameters = FlatParameters(xp, self.sizes, self.dtype, self.count, own[0])
        self._gradient = FlatParameters(xp, self.sizes, self.dtype, self.count, own[1])
        self.weights, self.biases = self._parameters.weights, self._parameters.biases

    @property
    def regression(self) -> bool:
        """Whether the outputs are real values (an identity output layer) rather than class scores."""
        return self.output == "identity"

    # ----- parameters at the edges -------------------------------------------------------------------------------

    @property
    def flat_parameters(self):
        """Every weight and bias in one device buffer (weights first; see ``buffers.FlatParameters``): what an
        update rule steps, early stopping copies and a checkpoint lays its state buffers out like."""
        return self._parameters.flat

    @property
    def flat_gradient(self):
        """The gradient's device buffer, laid out like ``flat_parameters``: what ``compute_gradient`` fills."""
        return self._gradient.flat

    @property
    def n_weights(self) -> int:
        """How many of ``flat_parameters``' first elements are weights (the rest are biases and padding)."""
        return self._parameters.n_weights

    @reports_out_of_memory(describe_network("setting the parameters of"))
    def set_parameters(self, weights, biases) -> None:
        """Replace all weights and biases (host or device arrays of the lecture's shapes, finite), copied to the
        device."""
        # Both lists are converted and checked before either is written, so bad ones leave the network as it was.
        converted = check_parameters(self, weights, biases)
        for target, value in zip(self.weights + self.biases, converted):
            target[...] = value  # a copy: training never writes into arrays the caller still holds

    def is_finite(self) -> bool:
        """Whether every weight and bias is a finite number (one host sync)."""
        return bool(self.backend.xp.isfinite(self._parameters.flat).all())

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(weights, biases)`` as host NumPy arrays."""
        to_host = self.backend.to_host
        return [to_host(w) for w in self.weights], [to_host(b) for b in self.biases]

    # ----- the lecture's algorithm -------------------------------------------------------------------------------

    def _workspace(self, m: int) -> Workspace:
        ws = self._workspaces.get(m)
        if ws is None:
            ws = self._workspaces[m] = Workspace(self.backend.xp, self.sizes, m, self.dtype, self.count)
        return ws

    def _forward(self, x, activations, fed=None, dropout=None):
        """Fill ``activations[1:]`` for the input rows ``x`` (m, n_0); return the output a^L (m, n_L).

        With ``dropout`` (training only), a hidden layer that drops units also writes its activations, masked, into
        ``fed[l]``, which the next layer reads instead (``Workspace.fed``).
        """
        xp = self.backend.xp
        activations[0] = a = x
        for l, (w, b, out) in enumerate(zip(self.weights, self.biases, activations[1:]), start=1):
            xp.matmul(a, w.swapaxes(-1, -2), out=out)  # z^l = a^(l−1) W^lᵀ        (m, n_l)
            if l < len(self.weights):
                forward, _, extra = self._hidden_kernels[l - 1]
                a = forward(out, b, *extra, out)  # a^l = f(z^l + b^l)              (m, n_l)
                if dropout is not None and dropout.drops(l - 1):  # inverted dropout: a^l ⊙ mask / (1 − p)
                    a = dropout.apply(self.backend.ops, l - 1, a, fed[l])
            else:
                a = self._output_forward(out, b, out)  # a^L = σ, softmax or z^L + b^L  (m, n_L)
        return a

    def _backward(self, y, ws: Workspace, scale, fed=None, dropout=None) -> None:
        """BP1–BP4 over the activations that ``_forward`` left in ``ws``.

        Leaves ``scale · Σ_x ∂C_x/∂W^l`` in ``nabla_w`` and ``scale · Σ_x ∂C_x/∂b^l`` in ``nabla_b``. The factor
        (a number, or one per row for sample weights) is applied once, in the output δ: BP2–BP4 are linear in δ,
        so every layer inherits it for free. With ``dropout``, BP4 reads what each layer was fed, and BP2 passes δ
        back through the kept units only, with the forward pass's mask.
        """
        xp, ops, acts, deltas = self.backend.xp, self.backend.ops, ws.activations, ws.deltas
        fed = acts if fed is None else fed
        nabla_w, nabla_b = self._gradient.weights, self._gradient.biases
        self._output_delta(acts[-1], y, scale, deltas[-1])  # BP1: δ^L = s·∇_a C ⊙ f′(z^L)  (m, n_L)
        for l in reversed(range(len(self.weights))):  # weights[l] maps layer l to layer l+1
            delta = deltas[l + 1]  #                                                        (m, n_(l+1))
            xp.matmul(delta.swapaxes(-1, -2), fed[l], out=nabla_w[l])  # BP4: ∂C/∂W = δᵀ a  (n_(l+1), n_l)
            ops.sum_rows(delta, nabla_b[l])  # BP3: ∂C/∂b = δ, summed over x                (n_(l+1),)
            if l > 0:
                xp.matmul(delta, self.weights[l], out=deltas[l])  # Wᵀδ, in row form         (m, n_l)
                if dropout is not None and dropout.drops(l - 1):
                    dropout.apply(ops, l - 1, deltas[l], deltas[l])  # only kept units pass δ back
                _, hidden_delta, extra = self._hidden_kernels[l - 1]
                if hidden_delta is not None:  # BP2: δ^l = Wᵀδ ⊙ f′(z^l), f′ from a^l        (m, n_l)
                    hidden_delta(deltas[l], acts[l], *extra, deltas[l])

    def compute_gradient(self, x, y, scale, dropout=None) -> None:
        """Forward and back over the device rows ``x`` and targets ``y``: ``scale`` · Σ_x ∇C_x in ``flat_gradient``
        (``scale``: a number, or a (rows, 1) device array of each row's factor); ``dropout``: training's masks at
        this step (``dropout.py``), or None."""
        ws = self._workspace(x.shape[-2])  # the rows of the batch (of each member, in an array)
        fed = None if dropout is None else ws.fed(self.backend.xp, x, dropout)
        self._forward(x, ws.activations, fed, dropout)
        self._backward(y, ws, scale, fed, dropout)

    def update_mini_batch(self, x, y, eta) -> None:
        """The lecture's step on one mini-batch of device rows: W ← W − (η/m) Σ_x ∂C_x/∂W, likewise b.

        η/m is folded into BP1's δ, so the step is one subtraction over the flat buffer (``gpubp_sgd``).
        ``gpubp.training`` takes the steps of the other update rules with the same ``compute_gradient``.
        """
        self.compute_gradient(x, y, eta / x.shape[0])
        self.backend.ops.sgd(self._gradient.flat, self._parameters.n_weights, 1.0, self._parameters.flat)

    @reports_out_of_memory(describe_network("computing the gradient of"))
    def backprop(self, x, y):
        """The gradient of the mean cost over the rows of ``x``: ``(nabla_b, nabla_w)`` as host arrays."""
        x, targets, _ = prepare(self, (x, y), "backprop input")
        self.compute_gradient(x, targets, 1.0 / x.shape[0])
        to_host = self.backend.to_host
        return [to_host(nb) for nb in self._gradient.biases], [to_host(nw) for nw in self._gradient.weights]

    # ----- inference and metrics ----------------------------------------------------------------------------------

    def _outputs(self, x):
        """a^L (n, n_out) for device rows ``x``, a chunk of rows at a time through the same hidden-layer buffers, so
        that memory stays bounded (``memory.evaluation_rows``); each chunk's outputs land in their rows of a^L."""
        xp, n, lead = self.backend.xp, x.shape[0], self._lead
        rows = min(n, self._evaluation_rows)
        outputs = xp.empty((*lead, n, self.sizes[-1]), self.dtype)
        hidden = [xp.empty((*lead, rows, width), self.dtype) for width in self.sizes[1:-1]]
        for start in range(0, n, rows):
            m = min(rows, n - start)  # leading rows of a C-contiguous buffer: still C-contiguous, as GEMMs need
            parts = [h[..., :m, :] for h in hidden] + [outputs[..., start : start + m, :]]
            self._forward(x[start : start + m], [None, *parts])
        return outputs

    @property
    def _lead(self) -> tuple:
        """The leading axes of every activation: none, or an array's members."""
        return () if self.count is None else (self.count,)

    @reports_out_of_memory(describe_network("evaluating"))
    def feedforward(self, x) -> np.ndarray:
        """The output activations a^L (n, n_out) for input rows ``x`` (n, n_in), as a host array; for one sample as
        a column (n_in, 1), as Nielsen's ``network.py`` feeds it, its output column (n_out, 1)."""
        rows, column = as_rows(x, self.sizes[0])
        a = self.backend.to_host(self._outputs(prepare_inputs(self, rows, "feedforward input")))
        return np.ascontiguousarray(a.T) if column else a

    def predict(self, x) -> np.ndarray:
        """The class of each input row (or of one column): its most active output neuron; with one output, 1 where
        it is above ½ (``costs.classes_of``); for a ``multilabel`` network, each row's 0/1 indicator of the outputs
        above ½; for regression (an identity output layer), the outputs themselves."""
        if self.regression:
            return self.feedforward(x)
        rows, _ = as_rows(x, self.sizes[0])
        outputs = self._outputs(prepare_inputs(self, rows, "prediction input"))
        return self.backend.to_host(classes_of(outputs, self.multilabel))

    @reports_out_of_memory(describe_network("evaluating"))
    def metrics(self, x, targets, labels, weights=None) -> Metrics:
        """The mean cost (Σ w_x C_x / Σ w_x with sample ``weights``), the number of rows classified right (every
        label right, for a ``multilabel`` network: subset accuracy) and, for
        regression, R² (1 − Σ (y − a)² / Σ (y − ȳ)², over every output), for data on the device; one host sync."""
        return score(self, self._outputs(x), targets, labels, weights)

    @reports_out_of_memory(describe_network("evaluating"))
    def saturated_layers(self, x) -> list[int]:
        """The hidden layers (numbered 1, 2, … from the input) where f′ is 0 at every neuron on the device rows
        ``x``, so that BP2 passes no gradient below them: σ exactly 0 or 1, tanh exactly ±1, every ReLU at 0."""
        xp = self.backend.xp
        saturated = []
        for l, (a, (_, derivative, extra)) in enumerate(zip(self._layers(x)[1:-1], self._hidden_kernels), start=1):
            if derivative is not None:  # f′(z) from a, as BP2 computes it: 1 ⊙ f′
                if not bool(xp.any(derivative(xp.ones_like(a), a, *extra, xp.empty_like(a)))):
                    saturated.append(l)
        return saturated

    @reports_out_of_memory(describe_network("evaluating"))
    def largest_input(self, x, layer: int) -> float:
        """The largest |a^(layer−1)| that hidden ``layer`` (numbered as in ``saturated_layers``) receives from the
        device rows ``x``: the features for layer 1, the layer below's outputs above it."""
        return float(self.backend.xp.abs(self._layers(x)[layer - 1]).max())

    def _layers(self, x) -> list:
        """Every layer's activations a^0 = x, a^1, …, a^L for the few device rows ``x``, in new arrays."""
        xp = self.backend.xp
        activations = [None] + [xp.empty((*self._lead, x.shape[0], n), self.dtype) for n in self.sizes[1:]]
        self._forward(x, activations)
        return activations

    @reports_out_of_memory(describe_network("evaluating"))
    def evaluate(self, test_data) -> int:
        """The number of test samples whose most active output neuron is their label (Nielsen's ``evaluate``); with one
        output, whose output lies on their label's side of ½."""
        return self.metrics(*prepare(self, test_data, "test data")).correct

    @reports_out_of_memory(describe_network("evaluating"))
    def total_cost(self, data) -> float:
        """The lecture's C = (1/n) Σ_x C_x over ``data = (X, y)``."""
        return self.metrics(*prepare(self, data, "data")).cost

    labels = None  # else the class label of each output (a NetworkClassifier's classes_), saved with the model
    # True: each output is a yes/no label of its own (multilabel targets, a NetworkClassifier's indicator y), so a
    # row is predicted as its 0/1 indicator row and counts as right only where every label is (subset accuracy)
    multilabel = False

    def __repr__(self) -> str:
        return (
            f"Network(sizes={list(self.sizes)}, cost={self.cost.name!r}, dtype={self.dtype.name!r}, "
            f"device={self.backend.name!r}, init={self.init!r})"
        )
