"""PyTorch as the independent reference of a training run: ``torch.nn`` layers and activations, the same cost
averaged over the mini-batch, ``torch.optim``'s rule, from the same float64 weights through the same mini-batches.

λ is given as ``weight_decay = λ/n`` on the weights only; dropout's masks, where given, are the ones gpubp drew
(scaled by 1/(1 − p), as inverted dropout is), applied to each hidden layer's activations; sample weights make each
mini-batch's cost the weighted mean.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the peer tests need PyTorch (the test extra installs it)")
nn, F = torch.nn, torch.nn.functional

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda slope: nn.LeakyReLU(slope),
    "identity": nn.Identity,
}
MOMENTUM, BETAS, EPS = 0.9, (0.9, 0.999), 1e-8


def optimizer(groups, rule: str, eta: float):
    return {
        "sgd": lambda: torch.optim.SGD(groups, lr=eta),
        "momentum": lambda: torch.optim.SGD(groups, lr=eta, momentum=MOMENTUM),
        "nesterov": lambda: torch.optim.SGD(groups, lr=eta, momentum=MOMENTUM, nesterov=True),
        "adam": lambda: torch.optim.Adam(groups, lr=eta, betas=BETAS, eps=EPS),
    }[rule]()


def per_sample_cost(outputs, y, cost: str, output: str):
    """C_x for each row: the lecture's ½‖y − a‖², or cross-entropy, or −ln of the softmax's target class."""
    if cost == "quadratic":
        a = torch.sigmoid(outputs) if output == "sigmoid" else outputs
        return 0.5 * ((a - y) ** 2).sum(dim=1)
    if cost == "cross-entropy":
        return F.binary_cross_entropy_with_logits(outputs, y, reduction="none").sum(dim=1)
    return F.cross_entropy(outputs, y.argmax(dim=1), reduction="none")  # log-likelihood with a softmax output


def train(
    weights,
    biases,
    batches,
    rule="sgd",
    eta=0.5,
    weight_decay=0.0,
    cost="quadratic",
    output="sigmoid",
    activations=("sigmoid",),
    slope=0.01,
    masks=None,
    row_weights=None,
):
    """Train from the float64 ``weights`` and ``biases`` over ``batches`` of ``(x, one-hot or target y)``; returns the
    weights and biases after the last step. ``activations``: one per hidden layer; ``masks[step][layer]``: the
    scaled dropout mask of each hidden layer at each step, or None; ``row_weights[step]``: each row's weight."""
    linears = []
    for w, b in zip(weights, biases):
        layer = nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
        linears.append(layer)
    units = [ACTIVATIONS[name](slope) if name == "leaky_relu" else ACTIVATIONS[name]() for name in activations]
    ws, bs = [layer.weight for layer in linears], [layer.bias for layer in linears]
    opt = optimizer([{"params": ws, "weight_decay": weight_decay}, {"params": bs, "weight_decay": 0.0}], rule, eta)
    for step, (x, y) in enumerate(batches):
        a = torch.from_numpy(x)
        for l, (layer, unit) in enumerate(zip(linears[:-1], units)):
            a = unit(layer(a))
            if masks is not None and masks[step][l] is not None:
                a = a * torch.from_numpy(masks[step][l])
        costs = per_sample_cost(linears[-1](a), torch.from_numpy(y), cost, output)
        if row_weights is None:
            loss = costs.mean()  # the lecture's C = (1/m) Σ_x C_x, so that lr = η
        else:
            w_rows = torch.from_numpy(row_weights[step])
            loss = (w_rows * costs).sum() / w_rows.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [w.detach().numpy() for w in ws], [b.detach().numpy() for b in bs]


def shuffled_batches(net, x, y, epochs: int, batch: int) -> list:
    """The mini-batches ``net.SGD`` will step through: its generator's shuffle orders, drawn again."""
    shuffles = np.random.default_rng()
    shuffles.bit_generator.state = net.rng.bit_generator.state
    batches = []
    for _ in range(epochs):
        order = shuffles.permutation(len(x))
        batches += [(x[order[k : k + batch]], y[order[k : k + batch]]) for k in range(0, len(x), batch)]
    return batches
