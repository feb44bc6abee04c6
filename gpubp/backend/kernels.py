"""Every elementwise and row-wise kernel of training, as the one table of CUDA C bodies (``KERNELS``).

The steps: after each GEMM, the fused bias-add and activation of a hidden layer (``bias_<activation>``) or of the
output layer (σ, softmax, identity); BP1's output δ of each cost and output pair; BP2's hidden δ, the incoming
``Wᵀδ`` times the activation's derivative f′ written in terms of the activation a = f(z) the forward pass kept
(σ′ = a(1 − a), tanh′ = 1 − a², ReLU′ = [a > 0]), so no z is stored and nothing is recomputed; dropout's mask; and
the update rules (sgd, momentum, nesterov, adam), each one pass over the flat parameter buffer. ``cupy_ops.py``
compiles each entry as a ``cupy.ElementwiseKernel`` (the softmax as a ``cupy.RawKernel``) named
``gpubp_<step>``, one pass over memory each, and ``numpy_ops.py`` performs the same arithmetic, in the same order,
with in-place NumPy ufuncs, so a CPU run and a GPU run agree to rounding. The tests compile every body with g++
(against ``NumpyOps``), with nvcc, and as CuPy generates it.

Literals are written ``T(…)`` so that float32 kernels never compute in double precision. σ is computed as
``0.5·tanh(0.5·z) + 0.5``: it equals 1/(1+e^−z), never overflows on either device and raises no warning at
z = ±1000. ReLU is ``fmax(x, 0)`` and leaky ReLU ``fmax(x, slope·x)`` (0 < slope < 1), the same functions on both
devices, which also agree on NaN. ``sum_rows`` (BP3's sum over the batch) is a reduction, not an elementwise
kernel: each backend uses its library's.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    ``z[row * cols + j]`` and a bias as ``b[(row / bias_rows) * cols + j]``: one network's bias is shared by all
    its rows (``bias_rows`` = rows), and each member of a network array has its own for its ``bias_rows`` rows.
    """

    in_params: str
    out_params: str
    body: str


@dataclass(frozen=True)
class Activation:
    """A unit's activation f, in C of ``{x}``, and its derivative f′ in C of the activation ``{a}`` = f(x) (None
    where f′ = 1, and BP2 has nothing to multiply); ``slope``: whether both read the kernel's ``slope``. f′ is
    written so that ``g * f′`` multiplies left to right as the NumPy twin does (σ′: (g·a)·(1 − a))."""

    f: str
    prime: str | None
    slope: bool = False


ACTIVATIONS = {
    "sigmoid": Activation("T(0.5) * tanh(T(0.5) * {x}) + T(0.5)", "{a} * (T(1) - {a})"),
    "tanh": Activation("tanh({x})", "(T(1) - {a} * {a})"),
    "relu": Activation("fmax({x}, T(0))", "({a} > T(0) ? T(1) : T(0))"),
    # slope in (0, 1): then f(x) > 0 exactly where x > 0, so f′ reads the sign from a
    "leaky_relu": Activation("fmax({x}, slope * {x})", "({a} > T(0) ? T(1) : slope)", slope=True),
    "identity": Activation("{x}", None),
}
OUTPUTS = ("sigmoid", "softmax", "identity")  # the output layer's activations (costs.py pairs them with costs)


def forward_kernel(name: str) -> KernelSpec:
    """a = f(z + b): the bias-add after the GEMM and the activation in one pass (b broadcasts over the rows)."""
    activation = ACTIVATIONS[name]
    inputs = "T z, T b, T slope" if activation.slope else "T z, T b"
    return KernelSpec(inputs, "T a", "T x = z + b; a = " + activation.f.format(x="x"))


def delta_kernel(name: str) -> KernelSpec:
    """BP2: δ = g ⊙ f′(z), with f′ from a = f(z); g is the GEMM result δ_next W (and may be d)."""
    activation = ACTIVATIONS[name]
    inputs = "T g, T a, T slope" if activation.slope else "T g, T a"
    return KernelSpec(inputs, "T d", "d = g * " + activation.prime.format(a="a"))


KERNELS: dict[str, KernelSpec | RowKernelSpec] = {
    **{f"bias_{name}": forward_kernel(name) for name in ACTIVATIONS},
    **{f"{name}_delta": delta_kernel(name) for name, activation in ACTIVATIONS.items() if activation.prime},
    # BP1 with a sigmoid output and the quadratic cost: δ = s·(a − y) ⊙ σ′(z), σ′ = a(1 − a). The scale s is a
    # number (η/m or 1/m) or one per row, (m, 1), for sample weights.
    "quadratic_delta": KernelSpec(
        "T a, T y, T scale", "T d", "d = scale * (a - y) * " + ACTIVATIONS["sigmoid"].prime.format(a="a")
    ),
    # BP1 where the output's derivative cancels against the cost's (cross-entropy with σ, log-likelihood with
    # softmax) or is 1 (the quadratic cost with an identity output): δ = s·(a − y)
    "error_delta": KernelSpec("T a, T y, T scale", "T d", "d = scale * (a - y)"),
    # Inverted dropout: keep element i with probability 1 − p, scaled by 1/(1 − p), else 0. Its mask is a hash of
    # the element's counter start + i (SplitMix64's finalizer of key + counter·φ, φ = 2^64/golden ratio): the
    # same on every device, and the same for the forward pass and BP2, with no mask stored. An element is dropped
    # when the hash's top 53 bits fall below threshold = round(p·2^53).
    "dropout": KernelSpec(
        "T x, uint64 key, uint64 start, uint64 threshold, T scale",
        "T y",
        "unsigned long long h = key + (start + (unsigned long long)i) * 0x9E3779B97F4A7C15ull; "
        "h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull; h = (h ^ (h >> 27)) * 0x94D049BB133111EBull; "
        "h = h ^ (h >> 31); y = (h >> 11) >= threshold ? x * scale : T(0)",
    ),
    # a = softmax(z + b) over each row: subtracting the row's largest entry first keeps every exp in (0, 1], so it
    # never overflows (z = ±1000 included) and the largest term is exactly 1, so the sum is never 0. z may be a.
    "bias_softmax": RowKernelSpec(
        "T z, T b",
        "T a",
        """
    const T *zr = z + row * cols; T *ar = a + row * cols; const T *br = b + (row / bias_rows) * cols;
    T top = zr[0] + br[0];
    for (long long j = 1; j < cols; ++j) { T v = zr[j] + br[j]; top = v > top ? v : top; }
    T total = T(0);
    for (long long j = 0; j < cols; ++j) { ar[j] = exp((zr[j] + br[j]) - top); total += ar[j]; }
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
    """``long long rows, long long cols, long long bias_rows, const float *z, …, float *a``: the C parameters of a
    row-wise kernel."""
    pointers = [f"const {c_type} *{p.split()[-1]}" for p in spec.in_params.split(",")]
    pointers += [f"{c_type} *{p.split()[-1]}" for p in spec.out_params.split(",")]
    return ", ".join(["long long rows", "long long cols", "long long bias_rows", *pointers])
