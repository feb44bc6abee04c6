"""The network: Nielsen's ``Network(sizes)`` with the whole mini-batch in matrix form, on whichever device is chosen.

A mini-batch is stored one sample per row, so the lecture's column form z^l = W^l a^(l−1) + b^l becomes
Z^l = A^(l−1) W^lᵀ + b^l for all m samples in one GEMM, and BP1–BP4 become matrix products over the batch (no
per-sample loop anywhere). ``weights[l]`` has the lecture's shape (n_(l+1), n_l) and connects layer l to layer
l+1 (layers counted from 0 here, from 1 in the lecture). The network sees the device only through its backend:
``xp`` (NumPy or CuPy) for GEMMs and reductions, ``ops`` for the fused elementwise kernels. Host arrays are
converted at the edges (the public methods); everything between stays on the device in preallocated buffers.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..backend import get_backend
from ..data.files import check_memory
from ..errors import InputError
from .buffers import Layers, Workspace
from .costs import get_cost

DTYPES = ("float32", "float64")
INITS = ("normal", "scaled")


def check_sizes(sizes) -> tuple[int, ...]:
    """``sizes`` as a tuple of layer widths, or an ``InputError`` saying what is wrong with it."""
    try:
        if any(not isinstance(s, (Real, np.number)) or isinstance(s, (bool, np.bool_)) for s in sizes):
            raise TypeError  # True would pass for 1 and "5" for 5: a width is a number
        widths = tuple(int(s) for s in sizes)
        exact = all(float(s) == w for s, w in zip(sizes, widths))
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"sizes must be a list of whole numbers such as [784, 30, 10], not {sizes!r}") from None
    if len(widths) < 2 or not exact or min(widths) < 1:
        raise InputError(
            f"sizes must list at least two layer widths, each a whole number >= 1 "
            f"(input first, output last), such as [784, 30, 10]; got {list(sizes)!r}"
        )
    return widths


def check_seed(seed) -> int | None:
    """``seed`` if it is ``None`` (fresh entropy) or a whole number >= 0, else an ``InputError``."""
    if seed is None:
        return None
    whole = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
    if not whole or seed < 0:
        raise InputError(f"the seed must be a whole number >= 0 (or None for a fresh random one), got {seed!r}")
    return int(seed)


def parameter_bytes(sizes, dtype) -> int:
    """Bytes of the flat parameter buffer and its gradient twin (alignment padding included)."""
    return 2 * Layers.layout(sizes)[2] * np.dtype(dtype).itemsize


def _number(value) -> str:
    """A label as the user wrote it: 12 for 12 or 12.0, 1e+20 for 1e20 (never a wrapped-around int64)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(value)


def check_dtype(dtype) -> np.dtype:
    name = getattr(dtype, "__name__", str(dtype))
    if name not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}: choose float32 (fast, the default) or float64 (exact checks)")
    return np.dtype(name)


def check_init(init) -> str:
    name = init.strip().lower() if isinstance(init, str) else init
    if name not in INITS:
        raise InputError(
            f"unknown init {init!r}: choose normal (N(0, 1), the lecture's) or scaled (weights "
            f"N(0, 1/n_in), network2's: faster learning in wide layers)"
        )
    return name


class Network:
    """A fully-connected sigmoid network trained by backpropagation and mini-batch SGD.

    ``Network([784, 30, 10])`` draws weights and biases from N(0, 1), as in the lecture (``init="normal"``), from
    a ``numpy.random.Generator`` seeded by ``seed`` on the host, so that the same seed gives the same network on
    every device. ``init="scaled"`` divides each weight by √n_in (network2's initializer), so that a neuron's
    z starts near N(0, 1) however wide the layer below. The same generator later draws each epoch's shuffle order.
    """

    best_epoch: int | None = None  # after early stopping: the epoch whose weights training left in the network
    training_state = None  # what SGD carries between calls that continue a history (gpubp.training.sgd)

    def __init__(self, sizes, cost="quadratic", dtype="float32", device=None, seed=None, init="normal"):
        self._configure(sizes, cost, dtype, device, seed, init)
        biases = [self.rng.standard_normal(n) for n in self.sizes[1:]]
        weights = [self.rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]
        if self.init == "scaled":
            weights = [w / np.sqrt(w.shape[1]) for w in weights]
        self.set_parameters(weights, biases)

    @classmethod
    def from_parameters(
        cls, sizes, weights, biases, cost="quadratic", dtype="float32", device=None, seed=None, init="normal"
    ):
        """A network with the given weights and biases (host arrays of the lecture's shapes) instead of random ones."""
        net = cls.__new__(cls)
        net._configure(sizes, cost, dtype, device, seed, init)
        net.set_parameters(weights, biases)
        return net

    def _configure(self, sizes, cost, dtype, device, seed, init) -> None:
        from ..training.optimizers import Optimizer  # training imports the model: import it once both exist

        self.init = check_init(init)
        self.optimizer = Optimizer()  # the lecture's SGD; train() sets the one it is asked for
        self.sizes = check_sizes(sizes)
        self.num_layers = len(self.sizes)
        self.cost = get_cost(cost)
        self.dtype = check_dtype(dtype)
        check_memory(parameter_bytes(self.sizes, self.dtype), f"a network of sizes {list(self.sizes)}", InputError)
        self.backend = get_backend(device)
        self.rng = np.random.default_rng(check_seed(seed))
        # Buffers depend on the sizes only, so they outlive set_parameters (the gradient check calls it often).
        self._workspaces: dict[int, Workspace] = {}
        self._parameters = Layers(self.backend.xp, self.sizes, self.dtype)
        self._gradient = Layers(self.backend.xp, self.sizes, self.dtype)
        self.weights, self.biases = self._parameters.weights, self._parameters.biases

    # ----- parameters at the edges -------------------------------------------------------------------------------

    def set_parameters(self, weights, biases) -> None:
        """Replace all weights and biases (host or device arrays of the lecture's shapes), copied to the device."""
        shapes_w, shapes_b = [tuple(w.shape) for w in self.weights], [tuple(b.shape) for b in self.biases]
        if [tuple(w.shape) for w in weights] != shapes_w or [tuple(b.shape) for b in biases] != shapes_b:
            raise InputError(
                f"parameters do not fit sizes {list(self.sizes)}: weights must have shapes {shapes_w} "
                f"and biases {shapes_b}"
            )
        # Both lists are converted before either is written, so a conversion error leaves the network as it was.
        converted = [self.backend.asarray(p, self.dtype) for p in list(weights) + list(biases)]
        for target, value in zip(self.weights + self.biases, converted):
            target[...] = value  # a copy: training never writes into arrays the caller still holds

    def is_finite(self) -> bool:
        """Whether every weight and bias is a finite number (one host sync)."""
        return bool(self.backend.xp.isfinite(self._parameters.flat).all())

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(weights, biases)`` as host NumPy arrays."""
        to_host = self.backend.to_host
        return [to_host(w) for w in self.weights], [to_host(b) for b in self.biases]

    def prepare_inputs(self, x, what="data"):
        """Check input rows ``x`` (n, n_in) and move them to the device once, C-contiguous in the network's dtype."""
        xp, n_in = self.backend.xp, self.sizes[0]
        kind = getattr(x, "dtype", None)
        try:
            kind = (kind if kind is not None else np.asarray(x).dtype).kind
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what}: X could not be read as an (n, {n_in}) array of numbers ({exc})") from None
        if kind not in "biuf":  # complex would silently lose its imaginary part, strings would be parsed loosely
            got = "complex numbers" if kind == "c" else f"values of kind {kind!r} (not numbers)"
            raise InputError(f"{what}: X must hold real numbers, got {got}; convert it to a real numeric array first")
        try:
            with np.errstate(over="ignore"):  # a value beyond the dtype's range is reported below, with its place
                x_dev = xp.ascontiguousarray(self.backend.asarray(x, self.dtype))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what}: X could not be read as an (n, {n_in}) array of numbers ({exc})") from None
        if x_dev.ndim != 2 or x_dev.shape[0] == 0:
            raise InputError(f"{what}: X must be a non-empty 2-D array (one sample per row), got shape {x_dev.shape}")
        if x_dev.shape[1] != n_in:
            raise InputError(
                f"{what} has {x_dev.shape[1]} features per sample but the network's input layer has "
                f"{n_in} neurons: make the first size {x_dev.shape[1]}"
            )
        if not bool(xp.isfinite(x_dev).all()):
            row, column = divmod(int(xp.argmax(~xp.isfinite(x_dev.ravel()))), n_in)
            value = float((x if hasattr(x, "shape") else np.asarray(x))[row, column])  # as given, before casting
            if np.isfinite(value):
                raise InputError(
                    f"{what}: X holds {value:g} in column {column + 1}, beyond the range of "
                    f"{self.dtype.name} (±{np.finfo(self.dtype).max:.3g}): use dtype float64 (gpubp "
                    f"train --dtype float64) or scale the features"
                )
            raise InputError(
                f"{what}: X contains NaN or infinite values ({value} in column {column + 1}); remove "
                f"or impute them first"
            )
        return x_dev

    def prepare(self, data, what="data"):
        """Check ``(X, y)`` against the network and move it to the device once: ``(X, Y, labels)``.

        ``X`` is (n, n_in); ``y`` is either n integer class labels in [0, n_out) or an (n, n_out) target matrix.
        Returns X and the (n, n_out) targets Y in the network's dtype, and the integer labels (for accuracy).
        """
        xp, n_out = self.backend.xp, self.sizes[-1]
        try:
            x, y = data
        except (TypeError, ValueError):
            raise InputError(f"{what} must be a pair (X, y) of features and labels") from None
        x = self.prepare_inputs(x, what)
        try:
            y = self.backend.asarray(y)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{what}: y could not be read as an array of labels ({exc})") from None
        if y.ndim == 2 and y.shape[1] == 1 and n_out != 1:
            y = y.ravel()  # a column vector of labels, as scikit-learn and pandas often give them
        if y.dtype.kind not in "iubf" or y.shape[:1] != x.shape[:1]:
            raise InputError(
                f"{what}: y must hold one numeric label per row of X ({x.shape[0]} rows), "
                f"got {y.dtype} of shape {y.shape}"
            )
        if y.ndim == 1:
            if y.dtype.kind == "f" and not bool(xp.all(xp.isfinite(y) & (y == xp.floor(y)))):
                raise InputError(f"{what}: labels must be whole numbers (class indices 0..{n_out - 1})")
            low, high = y.min().item(), y.max().item()  # before any cast, so that 1e20 is shown as 1e20
            if low < 0 or high >= n_out:
                raise InputError(
                    f"{what}: labels must lie in 0..{n_out - 1} for a network with {n_out} outputs, "
                    f"found {_number(low)}..{_number(high)}: make the last size {_number(high + 1)} or "
                    f"fix the labels"
                )
            labels = y.astype(np.int64)
            targets = xp.zeros((x.shape[0], n_out), self.dtype)
            targets[xp.arange(x.shape[0]), labels] = 1  # one-hot, (n, n_out)
        elif y.ndim == 2 and y.shape[1] == n_out:
            targets = xp.ascontiguousarray(y, dtype=self.dtype)
            if not bool(xp.isfinite(targets).all()):
                raise InputError(f"{what}: targets contain NaN or infinite values")
            self.cost.check_targets(xp, targets, what)
            labels = xp.argmax(targets, axis=1)
        else:
            raise InputError(f"{what}: y must be n class labels or an (n, {n_out}) target matrix, got shape {y.shape}")
        return x, targets, labels

    # ----- the lecture's algorithm -------------------------------------------------------------------------------

    def _workspace(self, m: int) -> Workspace:
        ws = self._workspaces.get(m)
        if ws is None:
            ws = self._workspaces[m] = Workspace(self.backend.xp, self.sizes, m, self.dtype)
        return ws

    def _forward(self, x, activations):
        """Fill ``activations[1:]`` for the input rows ``x`` (m, n_0); return the output a^L (m, n_L)."""
        xp, ops = self.backend.xp, self.backend.ops
        activations[0] = a = x
        for l, (w, b, out) in enumerate(zip(self.weights, self.biases, activations[1:]), start=1):
            xp.dot(a, w.T, out=out)  # z^l = a^(l−1) W^lᵀ             (m, n_l)
            if l < len(self.weights):
                a = ops.bias_sigmoid(out, b, out)  # a^l = σ(z^l + b^l)    (m, n_l)
            else:  # the output layer's activation is the cost's: σ, or softmax for log-likelihood
                a = self.cost.activation(ops, out, b, out)  # a^L       (m, n_L)
        return a

    def _backward(self, y, ws: Workspace, scale: float) -> None:
        """BP1–BP4 over the activations that ``_forward`` left in ``ws``.

        Leaves ``scale · Σ_x ∂C_x/∂W^l`` in ``nabla_w`` and ``scale · Σ_x ∂C_x/∂b^l`` in ``nabla_b``. The factor
        is applied once, in the output δ: BP2–BP4 are linear in δ, so every layer inherits it for free.
        """
        xp, ops, acts, deltas = self.backend.xp, self.backend.ops, ws.activations, ws.deltas
        nabla_w, nabla_b = self._gradient.weights, self._gradient.biases
        self.cost.delta(ops, acts[-1], y, scale, deltas[-1])  # BP1: δ^L = s·∇_a C ⊙ σ′(z^L)      (m, n_L)
        for l in reversed(range(len(self.weights))):  # weights[l] maps layer l to layer l+1
            delta = deltas[l + 1]  #                                                        (m, n_(l+1))
            xp.dot(delta.T, acts[l], out=nabla_w[l])  # BP4: ∂C/∂W = δᵀ a, summed over x   (n_(l+1), n_l)
            ops.sum_rows(delta, nabla_b[l])  # BP3: ∂C/∂b = δ, summed over x                (n_(l+1),)
            if l > 0:
                xp.dot(delta, self.weights[l], out=deltas[l])  # Wᵀδ, in row form            (m, n_l)
                ops.hidden_delta(deltas[l], acts[l], deltas[l])  # BP2: δ^l = Wᵀδ ⊙ σ′(z^l)  (m, n_l)

    def update_mini_batch(self, x, y, eta, batch_size=None, comm=None):
        """One step on a mini-batch, by ``self.optimizer``'s rule (the lecture's: W ← W − (η/m) Σ_x ∂C_x/∂W,
        likewise b). ``x, y`` are already on the device.

        In data-parallel training ``x, y`` are this process's share of a mini-batch of ``batch_size`` rows and
        ``comm`` sums the shares' gradients (one all-reduce of the flat gradient), so that every process applies
        the step of the whole mini-batch. A share may be empty; its process still takes part in the sum.
        """
        m = batch_size or x.shape[0]
        gradient, params = self._gradient, self._parameters
        if x.shape[0]:
            ws = self._workspace(x.shape[0])
            self._forward(x, ws.activations)
            self._backward(y, ws, self.optimizer.gradient_scale(eta, m))  # η/m for sgd, else 1/m
        else:
            gradient.flat.fill(0)
        if comm is not None:
            comm.allreduce_sum(gradient.flat)
        # one pass over every W and b: for sgd, W ← W − (η/m)·∇W, b ← b − (η/m)·∇b
        self.optimizer.step(self.backend, params.flat, gradient.flat, params.n_weights, eta)

    def backprop(self, x, y):
        """The gradient of the mean cost over the rows of ``x``: ``(nabla_b, nabla_w)`` as host arrays."""
        x, targets, _ = self.prepare((x, y), "backprop input")
        ws = self._workspace(x.shape[0])
        self._forward(x, ws.activations)
        self._backward(targets, ws, 1.0 / x.shape[0])
        to_host = self.backend.to_host
        return [to_host(nb) for nb in self._gradient.biases], [to_host(nw) for nw in self._gradient.weights]

    # ----- inference and metrics ----------------------------------------------------------------------------------

    def _outputs(self, x, rows_per_chunk=8192):
        """a^L for device rows ``x``, ``rows_per_chunk`` at a time so that memory stays bounded."""
        xp = self.backend.xp
        chunks = []
        for start in range(0, x.shape[0], rows_per_chunk):
            part = x[start : start + rows_per_chunk]
            buffers = [None] + [xp.empty((part.shape[0], n), self.dtype) for n in self.sizes[1:]]
            chunks.append(self._forward(part, buffers))
        return chunks[0] if len(chunks) == 1 else xp.concatenate(chunks)

    def feedforward(self, x) -> np.ndarray:
        """The output activations a^L (n, n_out) for input rows ``x`` (n, n_in), as a host array."""
        return self.backend.to_host(self._outputs(self.prepare_inputs(x, "feedforward input")))

    def predict(self, x) -> np.ndarray:
        """The class of each input row: the index of its most active output neuron."""
        return np.argmax(self.feedforward(x), axis=1)

    def metrics(self, x, targets, labels) -> tuple[float, int]:
        """``(mean cost, number correct)`` for data already on the device; one host sync."""
        xp = self.backend.xp
        a = self._outputs(x)
        total = self.cost.value(xp, a, targets)
        correct = xp.count_nonzero(xp.argmax(a, axis=1) == labels)
        return float(total) / x.shape[0], int(correct)

    def evaluate(self, test_data) -> int:
        """The number of test samples whose most active output neuron is their label (Nielsen's ``evaluate``)."""
        return self.metrics(*self.prepare(test_data, "test data"))[1]

    def total_cost(self, data) -> float:
        """The lecture's C = (1/n) Σ_x C_x over ``data = (X, y)``."""
        return self.metrics(*self.prepare(data, "data"))[0]

    # ----- training ------------------------------------------------------------------------------------------------

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None, **options):
        """Mini-batch stochastic gradient descent; returns the per-epoch history (see ``gpubp.training.sgd``)."""
        from ..training.sgd import train

        return train(self, training_data, epochs, mini_batch_size, eta, test_data=test_data, **options)

    def __repr__(self) -> str:
        return (
            f"Network(sizes={list(self.sizes)}, cost={self.cost.name!r}, dtype={self.dtype.name!r}, "
            f"device={self.backend.name!r}, init={self.init!r})"
        )
