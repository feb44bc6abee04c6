"""The elementwise kernels of backprop, written once as CUDA C bodies and once as NumPy ufunc sequences.

Every elementwise step of training lives here: σ, σ′, the fused bias-add + σ that follows each GEMM, the output
δ of each cost (BP1) and the hidden δ (BP2). ``KERNELS`` holds each step's C body; ``CupyOps`` turns them into
``cupy.ElementwiseKernel`` objects named ``gpubp_<step>`` (one pass over memory each), and ``NumpyOps`` performs
exactly the same arithmetic, in the same order, with in-place NumPy ufuncs, so a CPU run and a GPU run agree to
rounding. σ is computed as ``0.5·tanh(0.5·z) + 0.5``: it equals 1/(1+e^−z), never overflows on either device and
raises no warning at z = ±1000. The tests compile every body with g++ (against ``NumpyOps``) and with nvcc.
``sum_rows`` (BP3's sum over the batch) is a reduction, not an elementwise kernel: each backend uses its library's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KernelSpec:
    """One elementwise step: CuPy-style parameter lists and a C body over the elements (``T`` is the dtype)."""

    in_params: str
    out_params: str
    body: str


# Literals are written T(…) so that float32 kernels never compute in double precision.
_SIGMA = "T(0.5) * tanh(T(0.5) * {z}) + T(0.5)"

KERNELS: dict[str, KernelSpec] = {
    # a = σ(z)
    "sigmoid": KernelSpec("T z", "T a", "a = " + _SIGMA.format(z="z")),
    # σ′(z) = σ(z)(1 − σ(z))
    "sigmoid_prime": KernelSpec("T z", "T sp", "T s = " + _SIGMA.format(z="z") + "; sp = s * (T(1) - s)"),
    # a = σ(z + b): the bias-add after the GEMM and σ in one pass (b broadcasts over the batch rows)
    "bias_sigmoid": KernelSpec("T z, T b", "T a", "a = " + _SIGMA.format(z="(z + b)")),
    # BP1, quadratic cost: δ = s·(a − y) ⊙ σ′(z), with σ′(z) = a(1 − a)
    "quadratic_delta": KernelSpec("T a, T y, T scale", "T d", "d = scale * (a - y) * a * (T(1) - a)"),
    # BP1, cross-entropy cost: σ′ cancels, δ = s·(a − y)
    "cross_entropy_delta": KernelSpec("T a, T y, T scale", "T d", "d = scale * (a - y)"),
    # BP2: δ = (δ_next W) ⊙ σ′(z), with σ′(z) = a(1 − a); g is the GEMM result δ_next W
    "hidden_delta": KernelSpec("T g, T a", "T d", "d = g * a * (T(1) - a)"),
}


def _row_blocked(step):
    """Run a NumpyOps step on blocks of rows that fit the CPU's cache, when its output is larger than one block.

    Each ufunc of a step is a pass over memory; on a block that stays in cache, the step's several passes cost
    about one pass of memory traffic, as the GPU's fused kernel does. Arguments with the output's rows are
    sliced along; others (a bias row, a scalar) are passed whole. The arithmetic is unchanged.
    """

    def blocked(self, *args):
        out = args[-1]
        if out.nbytes <= BLOCK_BYTES or out.ndim != 2:
            return step(self, *args)
        rows = max(1, BLOCK_BYTES // (out.itemsize * out.shape[1]))
        for start in range(0, out.shape[0], rows):
            step(self, *(a[start:start + rows] if getattr(a, "shape", ())[:1] == out.shape[:1] and a.ndim == 2
                         else a for a in args))
        return out

    blocked.__doc__ = step.__doc__
    return blocked


BLOCK_BYTES = 256 * 1024  # per array; a step touches three or four, which then fit a 1–2 MB L2 cache


class NumpyOps:
    """The kernels for NumPy arrays: the same operations as the C bodies, as in-place ufuncs (no temporaries).

    Where a body reuses an operand (``a(1 − a)``) NumPy needs one scratch array; scratch arrays are cached by
    shape and dtype, so the training loop allocates nothing after its first step. Large arrays are processed a
    cache-sized block of rows at a time (see ``_row_blocked``).
    """

    xp = np

    def __init__(self) -> None:
        self._scratch: dict[tuple, np.ndarray] = {}

    def _scratch_like(self, a: np.ndarray) -> np.ndarray:
        key = (a.shape, a.dtype.str)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.empty(a.shape, a.dtype)
        return buf

    def _one_minus(self, a: np.ndarray) -> np.ndarray:
        return np.subtract(1, a, out=self._scratch_like(a))

    @_row_blocked
    def sigmoid(self, z, out):
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        np.multiply(out, 0.5, out=out)
        return np.add(out, 0.5, out=out)

    @_row_blocked
    def sigmoid_prime(self, z, out):
        self.sigmoid(z, out)
        return np.multiply(out, self._one_minus(out), out=out)

    @_row_blocked
    def bias_sigmoid(self, z, b, out):
        np.add(z, b, out=out)
        return self.sigmoid(out, out)

    @_row_blocked
    def quadratic_delta(self, a, y, scale, out):
        np.subtract(a, y, out=out)
        np.multiply(out.dtype.type(scale), out, out=out)
        np.multiply(out, a, out=out)
        return np.multiply(out, self._one_minus(a), out=out)

    @_row_blocked
    def cross_entropy_delta(self, a, y, scale, out):
        np.subtract(a, y, out=out)
        return np.multiply(out.dtype.type(scale), out, out=out)

    @_row_blocked
    def hidden_delta(self, g, a, out):
        np.multiply(g, a, out=out)
        return np.multiply(out, self._one_minus(a), out=out)

    def sum_rows(self, a, out):
        # add.reduce skips np.sum's Python wrapper: a microsecond that matters at batch size 10.
        return np.add.reduce(a, axis=0, out=out)


class CupyOps:
    """The kernels for CuPy arrays: one ``cupy.ElementwiseKernel`` per entry of ``KERNELS``, built once.

    CuPy compiles each kernel on its first call for a given dtype and caches the binary on disk.
    """

    def __init__(self, cupy) -> None:
        self.xp = cupy
        self._kernels = {
            name: cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.body, name=f"gpubp_{name}")
            for name, spec in KERNELS.items()
        }

    def sigmoid(self, z, out):
        return self._kernels["sigmoid"](z, out)

    def sigmoid_prime(self, z, out):
        return self._kernels["sigmoid_prime"](z, out)

    def bias_sigmoid(self, z, b, out):
        return self._kernels["bias_sigmoid"](z, b, out)

    def quadratic_delta(self, a, y, scale, out):
        return self._kernels["quadratic_delta"](a, y, a.dtype.type(scale), out)

    def cross_entropy_delta(self, a, y, scale, out):
        return self._kernels["cross_entropy_delta"](a, y, a.dtype.type(scale), out)

    def hidden_delta(self, g, a, out):
        return self._kernels["hidden_delta"](g, a, out)

    def sum_rows(self, a, out):
        return self.xp.sum(a, axis=0, out=out)
