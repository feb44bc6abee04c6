"""The network's device buffers: its parameters and gradient laid out in one flat buffer, and per-batch workspaces.

Both are allocated once, when the network is built or first sees a mini-batch size, so that training allocates
nothing per step.
"""

from __future__ import annotations

import numpy as np


class Workspace:
    """Device buffers for mini-batches of ``m`` rows, allocated once and reused by every step of that size."""

    def __init__(self, xp, sizes, m, dtype):
        self.activations = [None] + [xp.empty((m, n), dtype) for n in sizes[1:]]  # a^l, (m, n_l); [0] is the input
        self.deltas = [None] + [xp.empty((m, n), dtype) for n in sizes[1:]]  # δ^l, (m, n_l)


class FlatParameters:
    """One flat device buffer holding every layer's weight matrix (n_(l+1), n_l) and bias vector, and those views.

    The parameters, their gradient and the optimizer's state share this layout, so an update rule is one
    elementwise pass over flat buffers and one all-reduce of the gradient's buffer sums it across processes. All
    weight matrices come first, in the first ``n_weights`` elements, then all biases: L2, which decays weights
    only, is then a comparison of the index. Each view starts on a 256-byte boundary, where GEMM libraries
    (cuBLAS in particular) pick their fastest kernels; the padding between views is zero and stays zero.
    """

    ALIGN = 64  # elements: 256 bytes in float32

    def __init__(self, xp, sizes, dtype):
        shapes, starts, offset = self.layout(sizes)
        self.n_weights = starts[len(shapes)]
        # Written once now (np.zeros would leave the pages to be taken at the first write): the memory check
        # counts this buffer from here on (model/memory.py).
        self.flat = xp.empty(offset, dtype)
        self.flat.fill(0)
        self.weights = [self.flat[s : s + r * c].reshape(r, c) for s, (r, c) in zip(starts, shapes)]
        self.biases = [self.flat[s : s + r] for s, (r, _) in zip(starts[len(shapes) :], shapes)]

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
