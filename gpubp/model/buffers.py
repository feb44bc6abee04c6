"""The network's device buffers: its parameters and gradient laid out in one flat buffer, and per-batch workspaces.

Both are allocated once, when the network is built or first sees a mini-batch size, so that training allocates
nothing per step.
"""

from __future__ import annotations

import numpy as np


class Workspace:
    """Device buffers for mini-batches of ``m`` rows, allocated once and reused by every step of that size; for an
    array of ``count`` networks, one (m, n_l) block per member, stacked (count, m, n_l)."""

    def __init__(self, xp, sizes, m, dtype, count=None):
        lead = () if count is None else (count,)
        self.activations = [None] + [xp.empty((*lead, m, n), dtype) for n in sizes[1:]]  # a^l, (m, n_l); [0]: input
        self.deltas = [None] + [xp.empty((*lead, m, n), dtype) for n in sizes[1:]]  # δ^l, (m, n_l)
        self.dropped = None  # under dropout: each hidden layer's masked activations (allocated on first use)

    def fed(self, xp, x, dropout) -> list:
        """What each layer is fed under ``dropout``: the input ``x``, then each hidden layer's masked activations
        where it drops units, its activations themselves where it does not."""
        if self.dropped is None:
            self.dropped = [None] + [xp.empty_like(a) for a in self.activations[1:]]
        hidden = range(1, len(self.activations) - 1)
        return [x, *(self.dropped[l] if dropout.drops(l - 1) else self.activations[l] for l in hidden), None]


class FlatParameters:
    """One flat device buffer holding every layer's weight matrix (n_(l+1), n_l) and bias vector, and those views.

    The parameters, their gradient and the optimizer's state share this layout, so an update rule is one
    elementwise pass over flat buffers and one all-reduce of the gradient's buffer sums it across processes. All
    weight matrices come first, in the first ``n_weights`` elements, then all biases: L2, which decays weights
    only, is then a comparison of the index. Each view starts on a 256-byte boundary, where GEMM libraries
    (cuBLAS in particular) pick their fastest kernels; the padding between views is zero and stays zero.

    For an array of ``count`` networks (``model/array.py``) the buffer is (count, P): member k's parameters are row
    k, laid out as one network's, so that each member is an ordinary network over a view of its row, and the
    update rule is still one pass over all of them. Its views stack the members: weights (count, n_(l+1), n_l),
    biases (count, 1, n_(l+1)), which broadcast over each member's rows.
    """

    ALIGN = 64  # elements: 256 bytes in float32

    def __init__(self, xp, sizes, dtype, count=None, flat=None):
        shapes, starts, offset = self.layout(sizes)
        self.n_weights = starts[len(shapes)]
        if flat is None:
            # Written once now (np.zeros would leave the pages to be taken at the first write): the memory check
            # counts this buffer from here on (model/memory.py).
            flat = xp.empty(offset if count is None else (count, offset), dtype)
            flat.fill(0)
        self.flat = flat
        if count is None:
            self.weights = [flat[s : s + r * c].reshape(r, c) for s, (r, c) in zip(starts, shapes)]
            self.biases = [flat[s : s + r] for s, (r, _) in zip(starts[len(shapes) :], shapes)]
        else:  # reshape of a strided slice: a view, (count, r, c) with the members P elements apart
            self.weights = [flat[:, s : s + r * c].reshape(count, r, c) for s, (r, c) in zip(starts, shapes)]
            self.biases = [flat[:, s : s + r].reshape(count, 1, r) for s, (r, _) in zip(starts[len(shapes) :], shapes)]

    @classmethod
    def layout(cls, sizes):
        """The weight shapes, where each weight matrix and then each bias vector starts, and the buffer's length
        (computed with Python integers, so that any sizes can be sized up before anything is allocated)."""
        shapes = [(n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        starts, offset = [], 0
        for rows, cols in shapes + [(rows, 1) for rows, _ in shapes]:
            starts.append(offset)
            offset = cls._aligned(offset + rows * cols)
        return shapes, starts, offset

    @classmethod
    def _aligned(cls, offset: int) -> int:
        return -(-offset // cls.ALIGN) * cls.ALIGN


def flat_buffer(what: str, array, backend, params):
    """``array``, read from a file, as a device buffer laid out like the flat parameters ``params``; a
    ``ValueError`` naming ``what`` if it does not fit (another shape or dtype, NaN or infinite entries)."""
    if array.shape != params.shape or array.dtype != params.dtype or not np.isfinite(array).all():
        raise ValueError(f"{what} is not {params.size} finite {params.dtype} numbers")
    return backend.asarray(array, params.dtype)
