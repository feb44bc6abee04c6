"""The peers gpubp is measured against, each doing the same math from the same initial weights on the same device.

Every peer trains whole epochs — a fresh shuffle applied on the device, then contiguous mini-batches — and
returns its samples/s per timed epoch, with the device synchronised before and after each. The peers are:
PyTorch with the lecture's equations written by hand (``torch_manual``), PyTorch the usual way
(``nn.Sequential`` of ``Linear`` and the hidden units' module, ``MSELoss(reduction="sum") / 2m``, autograd:
``torch_autograd``), Nielsen's ``network.py`` algorithm, one sample at a time (``per_sample_loop``: sgd, sigmoid
units, no dropout), and scikit-learn's ``MLPClassifier`` with the same layers and units and plain SGD (``sklearn``:
sgd, its activations only, no dropout; on the CPU whatever the device). Both PyTorch peers step with
``torch.optim`` for the rules other than sgd (the manual one computes its gradient by hand, then hands it to the
optimizer), with gpubp's default hyperparameters (``TrainingConfig``'s μ, Adam's betas and ε).

Both PyTorch peers run gpubp's hidden units (``Units``: one activation per hidden layer, leaky ReLU's slope, one
dropout rate per hidden layer): ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``, ``nn.LeakyReLU(slope)`` or
``nn.Identity`` (``torch_activation``), BP2's f′ from the activation as gpubp computes it (``torch_derivative``),
and inverted dropout (``nn.Dropout(p)``; by hand, a mask of ``torch.rand`` ≥ p scaled by 1/(1 − p)), with σ
outputs and the quadratic cost as gpubp's default network has them. Their masks are PyTorch's, not gpubp's hash:
the same work, other draws. The GEMM rate of the device is the hardware's side of the comparison.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..training.config import TrainingConfig

SKLEARN_ACTIVATIONS = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu", "identity": "identity"}


@dataclass(frozen=True)
class Units:
    """A network's hidden units, as every peer builds them: an activation and a dropout rate per hidden layer."""

    activations: tuple[str, ...]
    slope: float = 0.01  # leaky ReLU's
    dropout: tuple[float, ...] = ()  # none: no layer drops

    def rate(self, layer: int) -> float:
        return self.dropout[layer] if self.dropout else 0.0

    @property
    def lecture(self) -> bool:
        """The lecture's units: sigmoid everywhere, no dropout."""
        return set(self.activations) <= {"sigmoid"} and not any(self.dropout)


SIGMOID_ONLY = Units(("sigmoid",))


def timed_epochs(run_epoch, synchronize, epochs: int) -> list[float]:
    """Seconds of each call of ``run_epoch()``, the device synchronised before and after each."""
    seconds = []
    for _ in range(epochs):
        synchronize()
        start = time.perf_counter()
        run_epoch()
        synchronize()
        seconds.append(time.perf_counter() - start)
    return seconds


def gemm_gflops(backend, dtype, n: int, repeats: int = 5) -> float:
    """The device's matrix-multiply rate: the median of ``repeats`` n×n by n×n products, after one warm-up."""
    xp, rng = backend.xp, np.random.default_rng(0)
    a, b = (backend.asarray(rng.random((n, n)), dtype) for _ in range(2))
    out = xp.empty((n, n), dtype)
    seconds = timed_epochs(lambda: xp.dot(a, b, out=out), backend.synchronize, repeats + 1)[1:]
    return 2 * n**3 / float(np.median(seconds)) / 1e9


def torch_device(backend):
    import torch

    return torch.device("cuda" if backend.name == "gpu" else "cpu")


def torch_synchronize(device):
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def torch_optimizer(params, rule: str, eta: float):
    """torch.optim's counterpart of gpubp's ``rule`` (see ``gpubp.training.optimizers``)."""
    import torch

    if rule == "adam":
        return torch.optim.Adam(params, lr=eta, betas=TrainingConfig.betas, eps=TrainingConfig.eps)
    momentum = 0.0 if rule == "sgd" else TrainingConfig.momentum
    return torch.optim.SGD(params, lr=eta, momentum=momentum, nesterov=rule == "nesterov")


def torch_activation(name: str, slope: float = 0.01):
    """The ``torch.nn`` module of a hidden activation of gpubp's."""
    from torch import nn

    modules = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "identity": nn.Identity}
    return nn.LeakyReLU(slope) if name == "leaky_relu" else modules[name]()


def torch_derivative(name: str, a, slope: float = 0.01):
    """f′ of a hidden activation from its output ``a``, as gpubp's BP2 computes it; None for identity (f′ = 1)."""
    import torch

    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name in ("relu", "leaky_relu"):
        below = torch.full_like(a, 0.0 if name == "relu" else slope)  # in a's dtype: float64's slope is exact
        return torch.where(a > 0, torch.ones_like(a), below)
    return None


def torch_tensors(arrays, device) -> list:
    """Copies of host arrays on ``device``: a peer trains its own, never the caller's (``from_numpy`` would share a
    CPU array's memory, and the next peer would start from this one's trained weights)."""
    import torch

    return [torch.from_numpy(np.array(a)).to(device) for a in arrays]


def torch_manual(
    backend, weights, biases, x, y, batch, eta, epochs, seed=0, rule="sgd", units=SIGMOID_ONLY
) -> list[float]:
    """The lecture's equations in PyTorch tensors: forward, BP1–BP4 and the step (by hand for sgd, else
    torch.optim's), no autograd; hidden ``units`` as ``Units`` says, dropout's masks drawn by ``torch.rand``."""
    import torch

    device = torch_device(backend)
    ws, bs = torch_tensors(weights, device), torch_tensors(biases, device)
    xd, yd = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    rng, n = np.random.default_rng(seed), len(x)
    optimizer = None if rule == "sgd" else torch_optimizer(ws + bs, rule, eta)
    hidden = [torch_activation(name, units.slope) for name in units.activations]
    generator = torch.Generator(device=device).manual_seed(seed)

    @torch.no_grad()
    def epoch():
        order = torch.from_numpy(rng.permutation(n)).to(device)
        xs, ys = xd.index_select(0, order), yd.index_select(0, order)
        for k in range(0, n, batch):
            acts, kept, masks = [xs[k : k + batch]], [], []  # acts: what each layer is fed; kept: f(z) undropped
            for l, (w, b) in enumerate(zip(ws, bs)):
                z = torch.addmm(b, acts[-1], w.t())
                if l == len(ws) - 1:
                    acts.append(torch.sigmoid(z))
                    break
                kept.append(hidden[l](z))
                p = units.rate(l)
                mask = None
                if p:
                    drawn = torch.rand(z.shape, generator=generator, device=device, dtype=z.dtype)
                    mask = (drawn >= p).to(z.dtype) / (1 - p)
                masks.append(mask)
                acts.append(kept[-1] if mask is None else kept[-1] * mask)
            a = acts[-1]
            delta = (a - ys[k : k + batch]) * a * (1 - a)
            step = eta / len(a) if optimizer is None else 1.0 / len(a)
            for l in reversed(range(len(ws))):
                grad_w, grad_b = delta.t() @ acts[l], delta.sum(0)
                if l > 0:
                    delta = delta @ ws[l]
                    if masks[l - 1] is not None:
                        delta = delta * masks[l - 1]
                    derivative = torch_derivative(units.activations[l - 1], kept[l - 1], units.slope)
                    if derivative is not None:
                        delta = delta * derivative
                if optimizer is None:
                    ws[l].sub_(grad_w, alpha=step)
                    bs[l].sub_(grad_b, alpha=step)
                else:
                    ws[l].grad, bs[l].grad = grad_w.mul_(step), grad_b.mul_(step)
            if optimizer is not None:
                optimizer.step()

    return timed_epochs(epoch, torch_synchronize(device), epochs)


def torch_model(weights, biases, units=SIGMOID_ONLY):
    """``nn.Sequential`` of gpubp's network: ``Linear`` layers with copies of its weights, each hidden one followed
    by its activation's module and, where it drops units, ``nn.Dropout``; σ outputs."""
    import torch
    from torch import nn

    layers = []
    for l, (w, b) in enumerate(zip(weights, biases)):
        linear = nn.Linear(w.shape[1], w.shape[0], dtype=torch.from_numpy(w).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if l == len(weights) - 1:
            layers.append(nn.Sigmoid())
        else:
            layers.append(torch_activation(units.activations[l], units.slope))
            if units.rate(l):
                layers.append(nn.Dropout(units.rate(l)))
    return nn.Sequential(*layers)


def torch_autograd(
    backend, weights, biases, x, y, batch, eta, epochs, seed=0, rule="sgd", units=SIGMOID_ONLY
) -> list[float]:
    """PyTorch the usual way: nn.Sequential with the hidden ``units``' modules (``torch_model``), MSELoss(sum)/2m,
    autograd and torch.optim's ``rule`` with lr = η."""
    import torch
    from torch import nn

    device = torch_device(backend)
    torch.manual_seed(seed)  # nn.Dropout's masks
    model = torch_model(weights, biases, units).to(device)
    loss_fn = nn.MSELoss(reduction="sum")
    optimizer = torch_optimizer(model.parameters(), rule, eta)
    xd, yd = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    rng, n = np.random.default_rng(seed), len(x)

    def epoch():
        order = torch.from_numpy(rng.permutation(n)).to(device)
        xs, ys = xd.index_select(0, order), yd.index_select(0, order)
        for k in range(0, n, batch):
            optimizer.zero_grad(set_to_none=True)
            targets = ys[k : k + batch]
            (loss_fn(model(xs[k : k + batch]), targets) / (2 * len(targets))).backward()
            optimizer.step()

    return timed_epochs(epoch, torch_synchronize(device), epochs)


def per_sample_loop(backend, weights, biases, x, y, batch, eta, epochs, seed=0) -> list[float]:
    """Nielsen's network.py: backprop one column-vector sample at a time, gradients summed per mini-batch."""
    xp = backend.xp
    ws = [backend.asarray(w) for w in weights]
    bs = [backend.asarray(b).reshape(-1, 1) for b in biases]
    xd, yd = backend.asarray(x), backend.asarray(y)
    rng, n = np.random.default_rng(seed), len(x)

    def sigmoid(z):
        return 1.0 / (1.0 + xp.exp(-z))

    def epoch():
        order = rng.permutation(n)
        for k in range(0, n, batch):
            nabla_w = [xp.zeros_like(w) for w in ws]
            nabla_b = [xp.zeros_like(b) for b in bs]
            for i in order[k : k + batch]:
                activation = xd[i].reshape(-1, 1)
                activations = [activation]
                for w, b in zip(ws, bs):
                    activation = sigmoid(w @ activation + b)
                    activations.append(activation)
                delta = (activation - yd[i].reshape(-1, 1)) * activation * (1 - activation)
                for l in reversed(range(len(ws))):
                    nabla_b[l] += delta
                    nabla_w[l] += delta @ activations[l].T
                    if l > 0:
                        delta = (ws[l].T @ delta) * activations[l] * (1 - activations[l])
            count = len(order[k : k + batch])
            for w, b, nw, nb in zip(ws, bs, nabla_w, nabla_b):
                w -= (eta / count) * nw
                b -= (eta / count) * nb

    with np.errstate(over="ignore"):  # exp(−z) overflows to inf for very negative z; σ is still right (0)
        return timed_epochs(epoch, backend.synchronize, epochs)


def sklearn_mlp(backend, weights, biases, x, y, batch, eta, epochs, seed=0, units=SIGMOID_ONLY) -> list[float]:
    """scikit-learn's MLPClassifier, always on the CPU: the same hidden layers and units (``logistic`` for sigmoid;
    one activation for every layer, no dropout, as MLPClassifier has them), plain SGD (no momentum, no L2, no early
    stopping) with ``learning_rate_init`` = η, one ``partial_fit`` (one epoch) at a time.

    Its output layer is softmax with the log-loss (scikit-learn has no other for classifiers): the same GEMMs, and
    its step is η times the mean gradient, as gpubp's. It starts from gpubp's weights (with two classes
    scikit-learn has a single output unit, so its own output layer is kept). Each epoch includes what
    ``partial_fit`` checks and converts per call (the labels' one-hot encoding: well under 1% of an epoch here).
    """
    from sklearn.neural_network import MLPClassifier

    labels = np.argmax(y, axis=1)
    mlp = MLPClassifier(
        hidden_layer_sizes=[w.shape[0] for w in weights[:-1]],
        activation=SKLEARN_ACTIVATIONS[units.activations[0]],
        solver="sgd",
        learning_rate_init=eta,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=batch,
        shuffle=True,
        early_stopping=False,
        random_state=seed,
    )
    mlp.partial_fit(x[:batch], labels[:batch], classes=np.arange(y.shape[1]))  # builds the layers
    for coef, intercept, w, b in zip(mlp.coefs_, mlp.intercepts_, weights, biases):
        if coef.shape == w.T.shape:
            coef[...], intercept[...] = w.T, b
    return timed_epochs(lambda: mlp.partial_fit(x, labels), lambda: None, epochs)
