"""One epoch of training: a fresh shuffle, then one step of the update rule per contiguous mini-batch.

The shuffle order is drawn on the host from the network's seeded generator (so CPU and GPU runs see the same
order), and the rows are gathered into a second device buffer in that order, so that each step reads a
contiguous slice of it: no copy, no allocation and no host sync per step. Each step computes the gradient of the
mini-batch's mean cost (BP1's δ scaled by η/m for sgd, else 1/m), sums it across processes in data-parallel
training, and applies the rule in one fused pass over the flat parameters.

Two things change the step, only where they are asked for:

- **Sample weights**: a row's weight scales its δ^L, and the mini-batch's cost is the weighted mean, so the row's
  factor is w_i / Σ_batch w (times η for sgd), in place of 1/m: an integer weight counts as that many copies of the
  row. The factors of a whole epoch are worked out on the host once it is shuffled (its step sizes are known) and
  copied to the device in one piece; each step passes its (rows, 1) slice to BP1's kernel.
- **Dropout**: the masks of step t (counted over the run, so masks never repeat; see ``model/dropout.py``) for
  this process's rows of the mini-batch.
"""

from __future__ import annotations

import time

import numpy as np


def run_epoch(
    net, rule, x, y, x_epoch, y_epoch, batch, etas, comm, on_progress, weights=None, dropout=None, first_step=0
) -> float:
    """One pass over the training rows ``x, y`` (device arrays; ``x_epoch``, ``y_epoch`` the buffers they are
    shuffled into), step k with step size ``etas[k]``; ``weights``: the rows' sample weights on the host, or None;
    ``dropout``: the run's masks, or None; ``first_step``: the run's step count before this epoch. Returns the
    epoch's duration in seconds.

    In data-parallel training each step computes this process's share of the mini-batch of ``rows`` rows and
    ``comm`` sums the shares' gradients (one all-reduce of the flat gradient), so that every process applies the
    step of the whole mini-batch. A share may be empty; its process still takes part in the sum.
    """
    backend, n = net.backend, x.shape[0]
    params, gradient, n_weights = net.flat_parameters, net.flat_gradient, net.n_weights
    steps = -(-n // batch)
    progress_every = max(1, steps // 100)
    backend.synchronize()
    start = time.perf_counter()
    host_order = net.rng.permutation(n)
    order = backend.asarray(host_order)
    backend.take_rows(x, order, x_epoch)
    backend.take_rows(y, order, y_epoch)
    factors = None if weights is None else row_factors(net, rule, weights[host_order], batch, etas)
    for step, (k, eta) in enumerate(zip(range(0, n, batch), etas), start=1):
        rows = min(batch, n - k)
        first, last = comm.shard(rows)  # this process's rows of the mini-batch
        if last > first:
            # η/m for sgd, else 1/m; with sample weights, each row's own factor
            scale = rule.gradient_scale(eta, rows) if factors is None else factors[k + first : k + last]
            masks = None if dropout is None else dropout.at(first_step + step - 1, first)
            net.compute_gradient(x_epoch[k + first : k + last], y_epoch[k + first : k + last], scale, masks)
        else:
            gradient.fill(0)
        comm.allreduce_sum(gradient)
        rule.step(backend, params, gradient, n_weights, eta)  # one pass over every W and b
        if on_progress is not None and (step % progress_every == 0 or step == steps):
            on_progress(step, steps)
    backend.synchronize()
    return time.perf_counter() - start


def row_factors(net, rule, weights, batch: int, etas):
    """Each shuffled row's factor in BP1, w_i / Σ_batch w (times η for sgd), as a (n, 1) device array; a mini-batch
    whose weights are all 0 contributes nothing."""
    return net.backend.asarray(host_row_factors(rule, weights, batch, etas).reshape(-1, 1), net.dtype)


def host_row_factors(rule, weights, batch: int, etas) -> np.ndarray:
    """``row_factors`` on the host, (n,) float64."""
    starts = np.arange(0, len(weights), batch)
    sums = np.add.reduceat(weights, starts)
    per_batch = np.array([rule.gradient_scale(eta, 1) for eta in etas]) / np.where(sums > 0, sums, np.inf)
    return weights * np.repeat(per_batch, np.diff(np.append(starts, len(weights))))
