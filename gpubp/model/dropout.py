"""Inverted dropout's masks: which hidden units each training step drops, the same on every device and every rank.

With rate p (``TrainingConfig.dropout``, as in PyTorch and network3: the probability of dropping a unit), each
hidden unit of each training row is kept with probability 1 − p, its activation scaled by 1/(1 − p), or set to 0;
evaluation and prediction never drop. The mask is not drawn from a generator but computed, by the ``dropout``
kernel (``backend/kernels.py``) and its NumPy twin alike, as a hash of one 64-bit counter per element: SplitMix64's
finalizer of key + counter·φ, whose outputs for consecutive counters are what SplitMix64 itself returns, a
generator that passes BigCrush. An element is dropped when the top 53 bits of its hash fall below round(p·2^53).

The counters are laid out so that no two elements of a run share one. Step t (counted over the whole run, across
epochs, so masks never repeat) owns the counters [t·S, (t + 1)·S) with S = B·Σ_l n_l (B the mini-batch size, n_l
the hidden widths); hidden layer l owns B·n_l of them from offset B·Σ_{k<l} n_k; row r of the mini-batch (its row
in the whole mini-batch, not in this process's share) and unit j get offset + r·n_l + j. A data-parallel process
therefore draws exactly the masks one process would for the same rows, and a resumed run, which knows t, the
masks it would have drawn. The same counter masks the forward activation and the backward δ of BP2, so no mask is
stored. ``key`` comes from a seed that the training run draws once from the network's generator and checkpoints.

A network array's members each have their own ``Dropout`` (rates, key, step count); ``ArrayDropout`` applies
them all in one kernel call per layer, each member's key, counter start, threshold and scale a (count, 1, 1)
column, so that every member draws exactly the masks it would draw alone.
"""

from __future__ import annotations

import numpy as np

MASK_64 = (1 << 64) - 1


def mix64(value: int) -> int:
    """SplitMix64's finalizer, in Python integers: the dropout key of a seed."""
    value &= MASK_64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK_64
    return value ^ (value >> 31)


class Dropout:
    """The masks of one run: a rate per hidden layer of ``widths`` (0: that layer never drops), for mini-batches of
    ``batch_size`` rows, under ``seed``. ``at(step, first_row)`` points them at one step (and a process's first row
    of its mini-batch); ``apply`` then masks a layer's activations or δ."""

    def __init__(self, rates, widths, batch_size: int, seed: int):
        self.rates = tuple(float(p) for p in rates)
        self.thresholds = [np.uint64(round(p * 2**53)) for p in self.rates]
        self.scales = [1.0 / (1.0 - p) for p in self.rates]
        self.widths = tuple(widths)
        self.offsets = [batch_size * sum(self.widths[:l]) for l in range(len(self.widths))]
        self.stride = batch_size * sum(self.widths)
        self.key = np.uint64(mix64(seed))
        self.starts = [np.uint64(0)] * len(self.widths)

    def drops(self, layer: int) -> bool:
        """Whether hidden layer ``layer`` (counted from 0) drops anything."""
        return self.rates[layer] > 0

    def at(self, step: int, first_row: int = 0) -> Dropout:
        self.starts = [
            np.uint64((step * self.stride + offset + first_row * width) & MASK_64)
            for offset, width in zip(self.offsets, self.widths)
        ]
        return self

    def apply(self, ops, layer: int, x, out):
        """``out`` = ``x`` ⊙ (hidden layer ``layer``'s mask)/(1 − p), at the step ``at`` chose."""
        return ops.dropout(x, self.key, self.starts[layer], self.thresholds[layer], self.scales[layer], out)


class ArrayDropout:
    """The masks of a network array's members, one ``Dropout`` each (None: that member drops nothing), on
    ``backend``. ``at(steps, first_row, rows)`` points them at each member's own step count, for a share of
    ``rows`` rows per member from ``first_row``; ``apply`` masks a layer of every member in one call."""

    def __init__(self, members, widths, batch_size: int, backend, dtype):
        none = Dropout([0.0] * len(widths), widths, batch_size, 0)
        self.members = [none if d is None else d for d in members]
        first = self.members[0]
        self.widths, self.offsets, self.stride = first.widths, first.offsets, first.stride
        column = (len(self.members), 1, 1)
        self.key = backend.asarray(np.array([d.key for d in self.members], np.uint64).reshape(column))
        self.thresholds = [
            backend.asarray(np.array([d.thresholds[l] for d in self.members], np.uint64).reshape(column))
            for l in range(len(widths))
        ]
        self.scales = [
            backend.asarray(np.array([d.scales[l] for d in self.members]).reshape(column), dtype)
            for l in range(len(widths))
        ]
        self.rates = tuple(max(d.rates[l] for d in self.members) for l in range(len(widths)))
        self.backend, self.starts = backend, []

    def drops(self, layer: int) -> bool:
        return self.rates[layer] > 0

    def at(self, steps, first_row: int, rows: int) -> ArrayDropout:
        """Member k at its step ``steps[k]``: the kernel's flat index of its element (r, j) is k·rows·n_l + r·n_l + j,
        so its start is the counter of its own first element less k·rows·n_l (modulo 2^64)."""
        self.starts = [
            self.backend.asarray(
                np.array(
                    [
                        (int(step) * self.stride + offset + (first_row - k * rows) * width) & MASK_64
                        for k, step in enumerate(steps)
                    ],
                    np.uint64,
                ).reshape(-1, 1, 1)
            )
            for offset, width in zip(self.offsets, self.widths)
        ]
        return self

    def apply(self, ops, layer: int, x, out):
        return ops.dropout(x, self.key, self.starts[layer], self.thresholds[layer], self.scales[layer], out)
