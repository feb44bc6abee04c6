"""The peer of a network array: PyTorch's ``torch.func`` ensemble, the way its documentation stacks models.

K copies of the bench's ``nn.Sequential`` (``peers.torch_model``: the same layers, hidden units and σ outputs, from
the array's initial weights) are stacked by ``torch.func.stack_module_state``; one ``vmap`` over
``torch.func.grad`` of a functional forward (``functional_call``) and the quadratic cost C = Σ‖a − y‖² / 2m gives
every member's gradient at once, and the step is functional SGD with a learning rate tensor of shape (K,)
broadcast over each stacked parameter: ``torch.optim`` cannot give each stacked model its own η. Dropout's masks
are drawn per member (``randomness="different"``).

To do the work gpubp's array does, each member shuffles its rows with its own generator every epoch (seeded as
that member is), and each step gathers every member's mini-batch into one (K, m, n_in) block by index; PyTorch
runs with as many threads as the BLAS gpubp uses (``blas_threads``), restored afterwards.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np

from .peers import Units, timed_epochs, torch_device, torch_model, torch_synchronize


def blas_threads() -> int | None:
    """The threads NumPy's BLAS runs with (threadpoolctl's answer), or None where that cannot be told."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return max(counts) if counts else None


@contextlib.contextmanager
def torch_threads(count: int | None):
    """PyTorch's intra-op threads set to ``count`` (None: left as they are) for the block, then restored."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FuncEnsemble:
    """K stacked copies of one network trained by ``vmap(grad(C))`` and a per-member η; ``weights[l]`` is
    (K, n_(l+1), n_l) and ``biases[l]`` (K, n_(l+1)), host arrays, ``etas`` one learning rate per member."""

    def __init__(self, backend, weights, biases, etas, units=None):
        import torch
        from torch.func import functional_call, grad, stack_module_state, vmap

        self.device = torch_device(backend)
        count = len(etas)
        units = units or Units(("sigmoid",) * (len(weights) - 1))  # the lecture's: sigmoid in every hidden layer
        models = [torch_model([w[k] for w in weights], [b[k] for b in biases], units) for k in range(count)]
        self.params, self.buffers = stack_module_state([m.to(self.device) for m in models])
        base = copy.deepcopy(models[0]).to("meta")  # a stateless skeleton that functional_call fills in

        def cost(params, buffers, x, y):
            a = functional_call(base, (params, buffers), (x,))
            return ((a - y) ** 2).sum() / (2 * x.shape[0])

        self.gradients = vmap(grad(cost), randomness="different")
        dtype = next(iter(self.params.values())).dtype
        eta = torch.as_tensor(np.asarray(etas), dtype=dtype, device=self.device)
        # η as a (K, 1, ..., 1) column for each parameter's shape: one broadcast multiply per parameter and step
        self.etas = {name: eta.view(-1, *[1] * (p.dim() - 1)) for name, p in self.params.items()}

    def step(self, x, y) -> None:
        """One SGD step of every member on its own mini-batch: ``x`` (K, m, n_in) and ``y`` (K, m, n_out) tensors."""
        import torch

        gradients = self.gradients(self.params, self.buffers, x, y)
        with torch.no_grad():
            for name, p in self.params.items():
                p.sub_(self.etas[name] * gradients[name])

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(weights, biases)`` as host arrays, stacked like ``NetworkArray.parameters``'."""
        values = [p.detach().cpu().numpy() for p in self.params.values()]
        return values[0::2], values[1::2]  # nn.Linear's weight, then its bias, layer by layer


def torch_func(backend, weights, biases, x, y, batch, etas, epochs, seeds, units=None) -> list[float]:
    """Seconds of each of ``epochs`` epochs of the ``torch.func`` ensemble (see the module's docstring); member k
    shuffles with ``np.random.default_rng(seeds[k])``."""
    import torch

    with torch_threads(blas_threads() if backend.name == "cpu" else None):
        ensemble = FuncEnsemble(backend, weights, biases, etas, units)
        device = ensemble.device
        xd, yd = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        generators, n = [np.random.default_rng(seed) for seed in seeds], len(x)

        def epoch():
            orders = torch.from_numpy(np.stack([g.permutation(n) for g in generators])).to(device)
            for k in range(0, n, batch):
                rows = orders[:, k : k + batch]  # (K, m): each member's rows of this step
                ensemble.step(xd[rows], yd[rows])

        return timed_epochs(epoch, torch_synchronize(device), epochs)
