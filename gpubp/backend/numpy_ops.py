"""The CPU side of every kernel: ``NumpyOps`` does each C body of ``kernels.py`` as in-place NumPy ufuncs.

Each method performs the arithmetic of the ``KERNELS`` entry of the same name, in the same order, so a CPU run and
a GPU run agree to rounding (the tests run every C body through g++ against these methods). A step that is
several ufuncs is several passes over memory; large arrays therefore go through a cache-sized block at a time
(``_row_blocked`` for the batch-shaped steps, ``_flat_blocked`` for the update rules over the flat parameter
buffer), so that the passes cost about one pass of memory traffic, as the GPU's fused kernel does.
"""

from __future__ import annotations

import numpy as np


def _row_blocked(step):
    """Run a NumpyOps step on blocks of rows that fit the CPU's cache, when its output is larger than one block.

    Each ufunc of a step is a pass over memory; on a block that stays in cache, the step's several passes cost
    about one pass of memory traffic, as the GPU's fused kernel does. Arguments with the output's rows are
    sliced along; others (a bias row, a scalar) are passed whole. A network array's (members, rows, cols) output
    is taken as many members at a time as fit a block (one member, in blocks of its rows, where one does not), each
    of its 3-D arguments (the members' biases, their rows' factors) with them. The arithmetic is unchanged.
    """

    def blocked(self, *args):
        out = args[-1]
        if out.ndim == 3 and out.nbytes > BLOCK_BYTES:  # a network array's members, as many at once as fit a block
            members = BLOCK_BYTES // out[0].nbytes
            for k in range(0, out.shape[0], max(1, members)):
                part = slice(k, k + members) if members > 1 else k  # a member larger than a block: its rows, 2-D
                blocked(self, *(a[part] if getattr(a, "ndim", 0) == 3 else a for a in args))
            return out
        if out.nbytes <= BLOCK_BYTES or out.ndim != 2:
            return step(self, *args)
        rows = max(1, BLOCK_BYTES // (out.itemsize * out.shape[1]))
        for start in range(0, out.shape[0], rows):
            step(
                self,
                *(
                    a[start : start + rows] if getattr(a, "shape", ())[:1] == out.shape[:1] and a.ndim == 2 else a
                    for a in args
                ),
            )
        return out

    blocked.__doc__ = step.__doc__
    return blocked


def _flat_blocked(unregularized):
    """Run a NumpyOps update rule over a flat buffer: weights, then biases, each a cache-sized block at a time.

    The C body's ``i < n_weights`` becomes the split: the weights' blocks get the rule's L2 scalar, the biases'
    blocks ``unregularized`` in its place (no decay). Arrays of the buffer's shape are sliced along; scalars are
    cast to the buffer's dtype, as CuPy casts them to ``T``. A network array's region (members, columns) is all
    weights (``n_weights`` its size) or all biases (0), and its per-member scalars, (members, 1) arrays, broadcast
    over the columns, as in the kernel. The arithmetic is unchanged.
    """

    def wrap(step):
        def blocked(self, g, n_weights, regularizer, *rest):
            as_t = g.dtype.type
            rest = [a if isinstance(a, np.ndarray) else as_t(a) for a in rest]
            regularizer = regularizer if isinstance(regularizer, np.ndarray) else as_t(regularizer)
            width = g.shape[-1]
            split = n_weights if g.ndim == 1 else width if n_weights >= g.size else 0
            block = max(1, BLOCK_BYTES // (g.itemsize * (g.size // width)))
            regions = ((0, split, regularizer), (split, width, as_t(unregularized)))
            if _all_equal(regularizer, unregularized):  # no L2: one region, half the calls on small networks
                regions = ((0, width, as_t(unregularized)),)
            for low, high, scalar in regions:
                for start in range(low, high, block):
                    part = (..., slice(start, min(start + block, high)))
                    step(self, g[part], scalar, *(a[part] if a.shape == g.shape else a for a in rest))

        blocked.__doc__ = step.__doc__
        return blocked

    return wrap


def _all_equal(scalar, value) -> bool:
    """Whether a kernel's scalar argument (a number, or one per member) is ``value`` everywhere; a number is
    compared as a number (``np.all`` costs microseconds, a one-network step at small sizes only tens)."""
    if isinstance(scalar, np.ndarray):
        return bool((scalar == value).all())
    return bool(scalar == value)


COLUMN_LOOP, COLUMN_LOOP_FROM = 16, 1024  # rows of at most 16 columns, 1,024 elements at least: see _row_reduce
BLOCK_BYTES = 256 * 1024  # per array; a step touches three or four, which then fit a 1–2 MB L2 cache
# SplitMix64's constants (kernels.py's dropout): φ = 2^64 / golden ratio, and the finalizer's two multipliers.
GOLDEN, MIX_1, MIX_2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _as_dtype(scale, out: np.ndarray):
    """A scale as the kernel's ``T scale`` takes it: a number cast to the output's dtype, or an array that
    broadcasts (one per row, (rows, 1); one per member and row, (members, rows, 1))."""
    return scale if isinstance(scale, np.ndarray) else out.dtype.type(scale)


class NumpyOps:
    """The kernels for NumPy arrays: the same operations as the C bodies, as in-place ufuncs (no temporaries).

    Where a body reuses an operand (``a(1 − a)``) NumPy needs one scratch array; scratch arrays are cached by
    shape and dtype, so the training loop allocates nothing after its first step. Large arrays are processed a
    cache-sized block of rows at a time (see ``_row_blocked``).
    """

    xp = np

    def __init__(self) -> None:
        self._scratch: dict[tuple, np.ndarray] = {}

    def _scratch_like(self, a: np.ndarray, slot: int = 0) -> np.ndarray:
        key = (slot, a.shape, a.dtype.str)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.empty(a.shape, a.dtype)
        return buf

    def _one_minus(self, a: np.ndarray) -> np.ndarray:
        return np.subtract(1, a, out=self._scratch_like(a))

    def _row_column(self, a: np.ndarray) -> np.ndarray:
        """A scratch (rows, 1) column for a per-row reduction of ``a`` (any leading axes)."""
        return self._scratch_like(a[..., :1])

    def _mask_like(self, a: np.ndarray) -> np.ndarray:
        """A scratch boolean array of ``a``'s shape."""
        key = ("mask", a.shape)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.empty(a.shape, bool)
        return buf

    # ----- a = f(z + b), each activation's forward kernel ----------------------------------------------------------

    @_row_blocked
    def bias_sigmoid(self, z, b, out):
        np.add(z, b, out=out)
        np.multiply(out, 0.5, out=out)
        np.tanh(out, out=out)
        np.multiply(out, 0.5, out=out)
        return np.add(out, 0.5, out=out)

    @_row_blocked
    def bias_tanh(self, z, b, out):
        np.add(z, b, out=out)
        return np.tanh(out, out=out)

    @_row_blocked
    def bias_relu(self, z, b, out):
        np.add(z, b, out=out)
        return np.fmax(out, 0, out=out)

    @_row_blocked
    def bias_leaky_relu(self, z, b, slope, out):
        np.add(z, b, out=out)
        scaled = np.multiply(out, out.dtype.type(slope), out=self._scratch_like(out))
        return np.fmax(out, scaled, out=out)

    @_row_blocked
    def bias_identity(self, z, b, out):
        return np.add(z, b, out=out)

    # ----- BP2: δ = g ⊙ f′, f′ from the activation a ---------------------------------------------------------------

    @_row_blocked
    def sigmoid_delta(self, g, a, out):
        np.multiply(g, a, out=out)
        return np.multiply(out, self._one_minus(a), out=out)

    @_row_blocked
    def tanh_delta(self, g, a, out):
        prime = np.multiply(a, a, out=self._scratch_like(a))
        np.subtract(1, prime, out=prime)
        return np.multiply(g, prime, out=out)

    @_row_blocked
    def relu_delta(self, g, a, out):
        return np.multiply(g, np.greater(a, 0, out=self._mask_like(a)), out=out)  # g·1 or g·0, as the kernel

    @_row_blocked
    def leaky_relu_delta(self, g, a, slope, out):
        kept, prime = np.greater(a, 0, out=self._mask_like(a)), self._scratch_like(a)
        if np.ndim(slope) == 0 and 0 < slope < 1:  # the knob's slopes: f′ = max([a > 0], slope) is 1 or the slope
            np.fmax(kept, out.dtype.type(slope), out=prime)  # exactly, at a tenth of the masked copy's time
        else:  # any slope, or one per element (the tests' edge values)
            np.copyto(prime, slope)
            np.copyto(prime, 1, where=kept)
        return np.multiply(g, prime, out=out)

    # ----- BP1 -----------------------------------------------------------------------------------------------------

    @_row_blocked
    def quadratic_delta(self, a, y, scale, out):
        np.subtract(a, y, out=out)
        np.multiply(_as_dtype(scale, out), out, out=out)
        np.multiply(out, a, out=out)
        return np.multiply(out, self._one_minus(a), out=out)

    @_row_blocked
    def error_delta(self, a, y, scale, out):
        np.subtract(a, y, out=out)
        return np.multiply(_as_dtype(scale, out), out, out=out)

    # ----- dropout -------------------------------------------------------------------------------------------------

    def dropout(self, x, key, start, threshold, scale, out):
        """The kernel's hash of each element's counter, in uint64 arithmetic (which wraps modulo 2^64 as C's
        does), a cache-sized block of the flattened arrays at a time. For a network array, ``key``, ``start``,
        ``threshold`` and ``scale`` are one per member, (members, 1, 1): member k's elements have flat indices from
        k·(its size), as in the kernel, so each member is masked as the scalar call masks its own block."""
        if isinstance(key, np.ndarray):
            size = x[0].size
            for member, columns in enumerate(zip(key.ravel(), start.ravel(), threshold.ravel(), scale.ravel())):
                member_key, member_start, member_threshold, member_scale = columns
                first = (int(member_start) + member * size) % 2**64
                self._dropout(x[member], member_key, first, member_threshold, member_scale, out[member])
            return out
        return self._dropout(x, key, start, threshold, scale, out)

    def _dropout(self, x, key, start, threshold, scale, out):
        flat_x, flat_out = x.reshape(-1), out.reshape(-1)
        block = max(1, BLOCK_BYTES // 8)
        for low in range(0, flat_x.size, block):
            high = min(low + block, flat_x.size)
            h = self._scratch_like(self._counters(high - low), 1)
            np.add(self._counters(high - low), np.uint64((int(start) + low) % 2**64), out=h)
            np.multiply(h, GOLDEN, out=h)
            np.add(h, np.uint64(key), out=h)
            shifted = self._scratch_like(h, 2)
            for shift, factor in ((30, MIX_1), (27, MIX_2), (31, None)):
                np.bitwise_xor(h, np.right_shift(h, np.uint64(shift), out=shifted), out=h)
                if factor is not None:
                    np.multiply(h, factor, out=h)
            np.right_shift(h, np.uint64(11), out=h)
            part = flat_out[low:high]
            np.multiply(flat_x[low:high], out.dtype.type(scale), out=part)
            np.copyto(part, 0, where=np.less(h, np.uint64(threshold), out=self._mask_like(h)))
        return out

    def _counters(self, count: int) -> np.ndarray:
        """0, 1, …, count − 1 as uint64, cached."""
        key = ("counters", count)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.arange(count, dtype=np.uint64)
        return buf

    def _l2_gradient(self, g, decay, p):
        """∇ + decay·w, in scratch; g itself where there is no decay (g + 0·w is g, bit for bit)."""
        if _all_equal(decay, 0):
            return g
        grad = np.multiply(p, decay, out=self._scratch_like(g))
        return np.add(g, grad, out=grad)

    def sgd(self, g, n_weights, keep, p):
        if _all_equal(keep, 1):  # the lecture's step, one pass already: 1·w is w, so no product, no blocks, no split
            return np.subtract(p, g, out=p)
        return self._decayed_sgd(g, n_weights, keep, p)

    @_flat_blocked(unregularized=1)
    def _decayed_sgd(self, g, keep, p):
        np.multiply(p, keep, out=p)
        np.subtract(p, g, out=p)

    @_flat_blocked(unregularized=0)
    def momentum(self, g, decay, mu, eta, p, v):
        step = np.multiply(self._l2_gradient(g, decay, p), eta, out=self._scratch_like(g, 1))
        np.multiply(v, mu, out=v)
        np.subtract(v, step, out=v)
        np.add(p, v, out=p)

    @_flat_blocked(unregularized=0)
    def nesterov(self, g, decay, mu, eta, p, buf):
        grad = self._l2_gradient(g, decay, p)
        np.multiply(buf, mu, out=buf)
        np.add(buf, grad, out=buf)
        step = np.multiply(buf, mu, out=self._scratch_like(g, 1))
        np.add(grad, step, out=step)
        np.multiply(step, eta, out=step)
        np.subtract(p, step, out=p)

    @_flat_blocked(unregularized=0)
    def adam(self, g, decay, one_minus_beta1, beta2, one_minus_beta2, step_size, correction2, eps, p, m, v):
        grad = self._l2_gradient(g, decay, p)
        scratch = np.subtract(grad, m, out=self._scratch_like(g, 1))
        np.multiply(scratch, one_minus_beta1, out=scratch)
        np.add(m, scratch, out=m)
        np.multiply(v, beta2, out=v)
        np.multiply(grad, one_minus_beta2, out=scratch)
        np.multiply(scratch, grad, out=scratch)
        np.add(v, scratch, out=v)
        np.sqrt(v, out=scratch)
        np.divide(scratch, correction2, out=scratch)
        np.add(scratch, eps, out=scratch)
        np.divide(m, scratch, out=scratch)
        np.multiply(scratch, step_size, out=scratch)
        np.subtract(p, scratch, out=p)

    @_row_blocked
    def bias_softmax(self, z, b, out):
        # The kernel's loops, one ufunc per loop over all rows at once. A network array's (members, rows, cols) adds
        # each member's bias (members, 1, cols) to its own rows, as the kernel's bias_rows does.
        np.add(z, b, out=out)
        top = self._row_reduce(np.maximum, out)
        np.subtract(out, top, out=out)
        np.exp(out, out=out)
        total = self._row_reduce(np.add, out)
        return np.divide(out, total, out=out)

    def _row_reduce(self, ufunc, a):
        """``ufunc`` over each row of ``a`` into a scratch column. A short row (up to ``COLUMN_LOOP`` columns, the
        classes of a softmax) is folded a column at a time, the kernel's own order: NumPy's reduce over a short last
        axis costs 0.1–0.25 µs a row (at 10 columns, 5× the column loop over 200 rows, 12× over an array's 60 × 200
        rows). A longer row is one reduce, which adds pairwise: a sum then differs from the kernel's by a few units in
        the last place."""
        column = self._row_column(a)
        if a.shape[-1] > COLUMN_LOOP or a.size < COLUMN_LOOP_FROM:
            return ufunc.reduce(a, axis=-1, out=column, keepdims=True)
        np.copyto(column, a[..., :1])
        for j in range(1, a.shape[-1]):
            ufunc(column, a[..., j : j + 1], out=column)
        return column

    def sum_rows(self, a, out):
        # add.reduce skips np.sum's Python wrapper: a microsecond that matters at batch size 10. For a network
        # array, over each member's rows: (members, rows, n) into its biases' (members, 1, n).
        return np.add.reduce(a, axis=-2, out=out, keepdims=out.ndim == a.ndim)
