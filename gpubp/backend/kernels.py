"""The elementwise and row-wise kernels of backprop, written once as CUDA C bodies and once as NumPy ufunc sequences.

Every elementwise step of training lives here: the fused bias-add + σ that follows each GEMM, the output δ of
each cost (BP1) and the hidden δ (BP2), both with σ′ = a(1 − a) from the activation the forward pass kept, and
the update rules (sgd, momentum, nesterov, adam), each one pass
over the flat parameter buffer; so does the one row-wise step, the softmax output layer. ``KERNELS`` holds each
step's C body; ``CupyOps`` turns them into ``cupy.ElementwiseKernel`` objects (the softmax into a
``cupy.RawKernel``) named ``gpubp_<step>`` (one pass over memory each), and ``NumpyOps`` (in ``numpy_ops.py``)
performs the same arithmetic, in the same order, with in-place NumPy ufuncs, so a CPU run and a GPU run agree to
rounding. σ is computed as ``0.5·tanh(0.5·z) + 0.5``: it equals 1/(1+e^−z), never overflows on either device and
raises no warning at z = ±1000. The tests compile every body with g++ (against ``NumpyOps``) and with nvcc.
``sum_rows`` (BP3's sum over the batch) is a reduction, not an elementwise kernel: each backend uses its library's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KernelSpec:
    """One elementwise step: CuPy-style parameter lists and a C body over the elements (``T`` is the dtype)."""

    in_params: str
    out_params: str
    body: str


@dataclass(frozen=True)
class RowKernelSpec:
    """One row-wise step: a C body run once per row ``row`` of a C-contiguous (rows, cols) matrix.

    Every parameter is a pointer to the start of its array (``T`` is the dtype): the body indexes a matrix as
    ``z[row * cols + j]`` and a vector shared by all rows (a bias) as ``b[j]``.
    """

    in_params: str
    out_params: str
    body: str


# Literals are written T(…) so that float32 kernels never compute in double precision. σ′ is written in terms of
# the activation a = σ(z), which the forward pass kept: σ′(z) = a(1 − a), no second σ.
_SIGMA = "T(0.5) * tanh(T(0.5) * {z}) + T(0.5)"
_SIGMA_PRIME = "{a} * (T(1) - {a})"

KERNELS: dict[str, KernelSpec | RowKernelSpec] = {
    # a = σ(z + b): the bias-add after the GEMM and σ in one pass (b broadcasts over the batch rows)
    "bias_sigmoid": KernelSpec("T z, T b", "T a", "a = " + _SIGMA.format(z="(z + b)")),
    # BP1, quadratic cost: δ = s·(a − y) ⊙ σ′(z), with σ′(z) = a(1 − a)
    "quadratic_delta": KernelSpec("T a, T y, T scale", "T d", "d = scale * (a - y) * " + _SIGMA_PRIME.format(a="a")),
    # BP1, cross-entropy cost: σ′ cancels, δ = s·(a − y)
    "cross_entropy_delta": KernelSpec("T a, T y, T scale", "T d", "d = scale * (a - y)"),
    # BP2: δ = (δ_next W) ⊙ σ′(z), with σ′(z) = a(1 − a); g is the GEMM result δ_next W
    "hidden_delta": KernelSpec("T g, T a", "T d", "d = g * " + _SIGMA_PRIME.format(a="a")),
    # a = softmax(z + b) over each row: subtracting the row's largest entry first keeps every exp in (0, 1], so it
    # never overflows (z = ±1000 included) and the largest term is exactly 1, so the sum is never 0. z may be a.
    "bias_softmax": RowKernelSpec(
        "T z, T b",
        "T a",
        """
    const T *zr = z + row * cols; T *ar = a + row * cols;
    T top = zr[0] + b[0];
    for (long long j = 1; j < cols; ++j) { T v = zr[j] + b[j]; top = v > top ? v : top; }
    T total = T(0);
    for (long long j = 0; j < cols; ++j) { ar[j] = exp((zr[j] + b[j]) - top); total += ar[j]; }
    for (long long j = 0; j < cols; ++j) ar[j] = ar[j] / total;""",
    ),
}

# The update rules run over the flat parameter buffer p, whose first n_weights elements are the weight matrices
# and the rest the biases (see model/buffers.py): ``i < n_weights`` applies L2 to the weights alone. g is the
# gradient buffer, already summed over the mini-batch (and over processes); the state buffers have p's layout.
# Each rule's first scalar is its L2 term; the arithmetic is torch.optim's, in the same order.
_L2_GRADIENT = "T grad = i < n_weights ? g + decay * p : g; "
UPDATE_KERNELS: dict[str, KernelSpec] = {
    # sgd, network2's form: w ← (1 − ηλ/n)·w − (η/m)·Σ∇w, b ← b − (η/m)·Σ∇b; g already carries η/m
    "sgd": KernelSpec("T g, int64 n_weights, T keep", "T p", "p = (i < n_weights ? keep : T(1)) * p - g"),
    # heavy ball: v ← μv − η∇, w ← w + v (∇ is the mean gradient plus the L2 term λ/n·w)
    "momentum": KernelSpec(
        "T g, int64 n_weights, T decay, T mu, T eta", "T p, T v", _L2_GRADIENT + "v = mu * v - eta * grad; p = p + v"
    ),
    # torch.optim.SGD(nesterov=True): buf ← μ·buf + ∇, w ← w − η(∇ + μ·buf)
    "nesterov": KernelSpec(
        "T g, int64 n_weights, T decay, T mu, T eta",
        "T p, T buf",
        _L2_GRADIENT + "buf = mu * buf + grad; p = p - eta * (grad + mu * buf)",
    ),
    # torch.optim.Adam: m ← m + (1 − β1)(∇ − m), v ← β2·v + (1 − β2)∇², w ← w − s·m / (√v / c2 + ε), with
    # s = η / (1 − β1^t) and c2 = √(1 − β2^t) computed on the host for step t
    "adam": KernelSpec(
        "T g, int64 n_weights, T decay, T one_minus_beta1, T beta2, T one_minus_beta2, "
        "T step_size, T correction2, T eps",
        "T p, T m, T v",
        _L2_GRADIENT + "m = m + one_minus_beta1 * (grad - m); "
        "v = beta2 * v + one_minus_beta2 * grad * grad; "
        "p = p - step_size * (m / (sqrt(v) / correction2 + eps))",
    ),
}
KERNELS.update(UPDATE_KERNELS)
ROW_THREADS = 128  # threads per block of a row-wise kernel: one thread per row


def row_kernel_source(name: str, c_type: str) -> str:
    """The CUDA source of row-wise kernel ``name`` for one element type, as ``CupyOps`` hands it to NVRTC.

    A grid-stride loop over the rows gives each thread whole rows: ``gpubp_<name>_<float|double>(rows, cols,
    inputs…, outputs…)``.
    """
    return (
        f'extern "C" __global__ void gpubp_{name}_{c_type}({row_kernel_parameters(KERNELS[name], c_type)}) {{\n'
        f"  typedef {c_type} T;\n"
        f"  for (long long row = blockIdx.x * (long long)blockDim.x + threadIdx.x; row < rows;"
        f" row += (long long)blockDim.x * gridDim.x) {{{KERNELS[name].body}\n  }}\n}}\n"
    )


def row_kernel_parameters(spec: RowKernelSpec, c_type: str) -> str:
    """``long long rows, long long cols, const float *z, …, float *a``: the C parameters of a row-wise kernel."""
    pointers = [f"const {c_type} *{p.split()[-1]}" for p in spec.in_params.split(",")]
    pointers += [f"{c_type} *{p.split()[-1]}" for p in spec.out_params.split(",")]
    return ", ".join(["long long rows", "long long cols", *pointers])


class CupyOps:
    """The kernels for CuPy arrays: one ``cupy.ElementwiseKernel`` per elementwise entry of ``KERNELS`` and one
    ``cupy.RawKernel`` per dtype for each row-wise entry, built once.

    CuPy compiles each kernel on its first call for a given dtype and caches the binary on disk.

    The softmax is a ``RawKernel`` with one thread per row, not a ``ReductionKernel`` or CuPy functions. The output
    layer is narrow (10 classes is typical), so a thread reads its row from L1 three times and writes it once, in
    one launch. A ``ReductionKernel`` needs two reductions (max, sum) and two elementwise passes, and CuPy
    functions (max, subtract, exp, sum, divide) five launches and temporaries; at batch 10, where a whole step
    takes tens of microseconds, every launch (about 5 µs) counts. One thread per row underuses the GPU only
    where the batch is small and the output layer wide, and then the layer is cheap next to its GEMM.
    """

    def __init__(self, cupy) -> None:
        self.xp = cupy
        self._kernels = {
            name: cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.body, name=f"gpubp_{name}")
            for name, spec in KERNELS.items()
            if isinstance(spec, KernelSpec)
        }
        self._row_kernels = {
            (name, np.dtype(dtype)): cupy.RawKernel(row_kernel_source(name, c_type), f"gpubp_{name}_{c_type}")
            for name, spec in KERNELS.items()
            if isinstance(spec, RowKernelSpec)
            for dtype, c_type in (("float32", "float"), ("float64", "double"))
        }

    def _run_rows(self, name, *arrays):
        """Launch row-wise kernel ``name`` over C-contiguous (rows, cols) arrays (the last one is the output)."""
        rows, cols = arrays[-1].shape
        blocks = min(-(-rows // ROW_THREADS), 65535)  # the loop inside strides over any rows beyond the grid
        self._row_kernels[name, arrays[-1].dtype]((blocks,), (ROW_THREADS,), (np.int64(rows), np.int64(cols), *arrays))
        return arrays[-1]

    def bias_sigmoid(self, z, b, out):
        return self._kernels["bias_sigmoid"](z, b, out)

    def quadratic_delta(self, a, y, scale, out):
        return self._kernels["quadratic_delta"](a, y, a.dtype.type(scale), out)

    def cross_entropy_delta(self, a, y, scale, out):
        return self._kernels["cross_entropy_delta"](a, y, a.dtype.type(scale), out)

    def hidden_delta(self, g, a, out):
        return self._kernels["hidden_delta"](g, a, out)

    def bias_softmax(self, z, b, out):
        return self._run_rows("bias_softmax", z, b, out)

    def sum_rows(self, a, out):
        return self.xp.sum(a, axis=0, out=out)

    def _update(self, name, g, n_weights, *scalars_then_state):
        as_t = g.dtype.type  # a scalar of another type would not bind to T
        args = [a if isinstance(a, self.xp.ndarray) else as_t(a) for a in scalars_then_state]
        return self._kernels[name](g, int(n_weights), *args)

    # ops.sgd(g, n_weights, keep, p), ops.momentum(g, n_weights, decay, mu, eta, p, v), …: KERNELS' parameters
    sgd = functools.partialmethod(_update, "sgd")
    momentum = functools.partialmethod(_update, "momentum")
    nesterov = functools.partialmethod(_update, "nesterov")
    adam = functools.partialmethod(_update, "adam")
