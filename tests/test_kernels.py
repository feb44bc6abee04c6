"""Every kernel body compiles (g++ on the host, nvcc for sm_80 and sm_90) and computes what NumPy computes.

The GPU cannot run here, so the kernel bodies are checked two ways: g++ compiles them as host C++ and runs them
on edge values (0, ±1e-8, ±20, ±1000, …) next to ``NumpyOps`` (the update rules on random buffers, weights and
biases apart, bit for bit), and nvcc compiles them for the GPU, where ptxas must find no double-precision
arithmetic in the float32 kernels (a bare ``0.5`` would put it there). The row-wise softmax runs on rows made of
the same edge values.
"""

import ctypes
import itertools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gpubp.backend import KERNELS
from gpubp.backend.kernels import UPDATE_KERNELS, row_kernel_source
from gpubp.backend.numpy_ops import NumpyOps

from kernel_sources import C_TYPES, ELEMENTWISE, ROW_WISE, cuda_source, param_names

EDGE_VALUES = [0.0, 1e-8, -1e-8, 20.0, -20.0, 1000.0, -1000.0, 0.5, 1.0, 0.25, 3.0]
# dropout's inputs are counters and thresholds, not numbers of T: it has tests of its own (test_dropout.py)
POINTWISE = [name for name in ELEMENTWISE if name not in UPDATE_KERNELS and name != "dropout"]
# Each rule's scalars as Optimizer.step passes them: L2 on (sgd's keep = 1 − ηλ/n), μ = 0.9, η = 0.5, Adam at t = 3.
UPDATE_SCALARS = {
    "sgd": [0.995],
    "momentum": [0.01, 0.9, 0.5],
    "nesterov": [0.01, 0.9, 0.5],
    "adam": [0.01, 0.1, 0.999, 0.001, 0.01 / (1 - 0.9**3), (1 - 0.999**3) ** 0.5, 1e-8],
}


def update_inputs(name, dtype, size=1000, n_weights=637, seed=0):
    """Random gradient and state buffers with edge values among them, for one update rule: (args, outputs).

    ``args`` are the rule's inputs in KERNELS' order (g, n_weights, scalars); ``outputs`` its parameters and
    state, which it updates in place (Adam's second moment is never negative)."""
    rng = np.random.default_rng(seed)
    count = 1 + len(param_names(UPDATE_KERNELS[name].out_params))
    buffers = [rng.standard_normal(size).astype(dtype) for _ in range(count)]
    for buf in buffers:
        buf[: len(EDGE_VALUES)] = EDGE_VALUES
        buf[n_weights : n_weights + len(EDGE_VALUES)] = EDGE_VALUES[::-1]
    if name == "adam":
        np.abs(buffers[-1], out=buffers[-1])
    return [buffers[0], n_weights, *UPDATE_SCALARS[name]], buffers[1:]


def test_every_kernel_has_a_numpy_twin():
    assert set(UPDATE_SCALARS) == set(UPDATE_KERNELS)
    assert set(KERNELS) == {name for name in dir(NumpyOps) if not name.startswith("_")} - {"xp", "sum_rows"}


def edge_inputs(count: int, dtype):
    """Every combination of the edge values over ``count`` inputs, one array per input."""
    columns = zip(*itertools.product(EDGE_VALUES, repeat=count))
    return [np.array(column, dtype=dtype) for column in columns]


@pytest.mark.parametrize("dtype", list(C_TYPES))
@pytest.mark.parametrize("name", POINTWISE)
def test_host_build_of_kernel_matches_numpy(host_kernels, name, dtype):
    spec = KERNELS[name]
    inputs = edge_inputs(len(param_names(spec.in_params)), dtype)
    n = len(inputs[0])
    from_kernel, from_numpy = np.full(n, np.nan, dtype), np.full(n, np.nan, dtype)
    function = getattr(host_kernels, f"gpubp_{name}_{C_TYPES[dtype]}")
    function(ctypes.c_long(n), *(a.ctypes.data_as(ctypes.c_void_p) for a in (*inputs, from_kernel)))
    with np.errstate(all="raise"):  # the NumPy twin must not overflow or warn on any edge value either
        getattr(NumpyOps(), name)(*inputs, from_numpy)
    assert np.all(np.isfinite(from_kernel))
    eps = np.finfo(dtype).eps
    # tanh comes from glibc in one and from NumPy in the other: allow a few units in the last place.
    np.testing.assert_allclose(from_kernel, from_numpy, rtol=4 * eps, atol=4 * eps)


def row_inputs(dtype):
    """For a row-wise kernel: a matrix whose rows are every triple of edge values, and a bias row."""
    z = np.array(list(itertools.product(EDGE_VALUES, repeat=3)), dtype)
    return [z, np.array([0.0, 20.0, -1e-8], dtype)]


@pytest.mark.parametrize("members", [None, 11], ids=["one network", "an array of 11"])
@pytest.mark.parametrize("dtype", list(C_TYPES))
@pytest.mark.parametrize("name", list(ROW_WISE))
def test_host_build_of_row_kernel_matches_numpy(host_kernels, name, dtype, members):
    """One network's rows share its bias row; a network array's (members, rows, cols) rows use their member's."""
    z, b = row_inputs(dtype)
    if members is not None:  # 1331 rows: 11 members of 121, each with its own bias
        z = z.reshape(members, -1, z.shape[1])
        b = np.stack([b * k for k in range(members)])[:, None, :]
    *lead, rows, cols = z.shape
    from_kernel, from_numpy = np.full(z.shape, np.nan, dtype), np.full(z.shape, np.nan, dtype)
    function = getattr(host_kernels, f"gpubp_{name}_{C_TYPES[dtype]}")
    function(
        ctypes.c_longlong(z.size // cols),
        ctypes.c_longlong(cols),
        ctypes.c_longlong(rows),
        *(np.ascontiguousarray(a).ctypes.data_as(ctypes.c_void_p) for a in (z, b)),
        from_kernel.ctypes.data_as(ctypes.c_void_p),
    )
    with np.errstate(all="raise", under="ignore"):  # e^(−2000) rounding to 0 is the right answer, not a fault
        getattr(NumpyOps(), name)(z, b, from_numpy)
    assert np.all(np.isfinite(from_kernel))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(from_kernel, from_numpy, rtol=4 * eps, atol=4 * eps)


def test_softmax_is_right_and_stable_at_the_edges():
    ops = NumpyOps()
    for dtype in (np.float32, np.float64):
        z = np.array([[-1000, 0, 1000], [1000, 1000, -1000], [0, 0, 0], [1, 2, 3], [-1000, -1000, -1000]], dtype)
        out = np.empty_like(z)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            ops.bias_softmax(z, np.zeros(3, dtype), out)
        exact = np.exp(z.astype(np.longdouble) - z.max(axis=1, keepdims=True))
        exact /= exact.sum(axis=1, keepdims=True)
        assert np.all(np.abs(out - exact) <= 2 * np.finfo(dtype).eps)
        assert np.array_equal(out[0], [0, 0, 1]) and np.array_equal(out[1], [0.5, 0.5, 0])
        assert np.allclose(out.sum(axis=1), 1, rtol=0, atol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("shape", [(300, 10), (6, 200, 10), (4, 16), (300, 17), (3, 50, 40)])
def test_softmax_rows_short_or_long_are_the_kernels_sums(shape):
    """Short rows (NumPy's twin folds them a column at a time, ``_row_reduce``) are the kernel's loop exactly, in
    its order; long ones (one pairwise reduce) agree to rounding; a member's bias is added to its own rows."""
    rng = np.random.default_rng(0)
    z = rng.normal(0, 5, shape).astype(np.float32)
    b = rng.normal(0, 1, (*shape[:-2], 1, shape[-1])).astype(np.float32)
    out = NumpyOps().bias_softmax(z, b, np.empty_like(z))
    v = z + b
    top = v[..., :1].copy()
    for j in range(1, shape[-1]):
        top = np.maximum(top, v[..., j : j + 1])
    e = np.exp(v - top)
    total = e[..., :1].copy()
    for j in range(1, shape[-1]):
        total = total + e[..., j : j + 1]  # the kernel's sum, column by column, in float32
    if shape[-1] <= 16 and z.size >= 1024:
        np.testing.assert_array_equal(out, e / total)
    np.testing.assert_allclose(out, e / total, rtol=8 * np.finfo(np.float32).eps, atol=1e-30)  # 40 terms


def test_sigmoid_and_its_derivative_are_right_and_stable_at_the_edges():
    """σ (bias_sigmoid with b = 0) is exact to rounding and never overflows; σ′ as BP2 computes it from a = σ(z)
    (hidden_delta with an incoming gradient of 1) is a(1 − a), 1/4 at 0 and 0 where σ saturates."""
    ops = NumpyOps()
    for dtype in (np.float32, np.float64):
        z = np.array([[-1000, -20, -1e-8, 0, 1e-8, 20, 1000]], dtype)
        a, prime = np.empty_like(z), np.empty_like(z)
        with np.errstate(all="raise"):
            ops.bias_sigmoid(z, np.zeros(z.shape[1], dtype), a)
            ops.sigmoid_delta(np.ones_like(z), a, prime)
        exact = 1 / (1 + np.exp(-z.astype(np.longdouble)))
        assert np.all(np.abs(a - exact) <= 2 * np.finfo(dtype).eps)
        assert a[0, 0] == 0 and a[0, -1] == 1 and a[0, 3] == 0.5
        assert np.all(np.abs(prime - exact * (1 - exact)) <= 2 * np.finfo(dtype).eps)
        assert prime[0, 3] == 0.25 and prime[0, 0] == 0 and prime[0, -1] == 0


@pytest.mark.parametrize("dtype", list(C_TYPES))
@pytest.mark.parametrize("name", list(UPDATE_KERNELS))
def test_host_build_of_update_rule_matches_numpy_bit_for_bit(host_kernels, name, dtype):
    """Only +, −, ×, ÷ and √, each rounded once, in the same order: the C body and NumPy agree exactly, and
    ``i < n_weights`` decays the weights alone (a rule with its L2 term zeroed differs only before n_weights)."""
    args, outputs = update_inputs(name, dtype)
    from_kernel = [o.copy() for o in outputs]
    size = len(args[0])
    c_args = [
        a if isinstance(a, np.ndarray) else np.full(size, a, np.int64 if k == 1 else dtype) for k, a in enumerate(args)
    ]
    getattr(host_kernels, f"gpubp_{name}_{C_TYPES[dtype]}")(
        ctypes.c_long(size), *(a.ctypes.data_as(ctypes.c_void_p) for a in (*c_args, *from_kernel))
    )
    from_numpy = [o.copy() for o in outputs]
    getattr(NumpyOps(), name)(*args, *from_numpy)
    for k, (c, py) in enumerate(zip(from_kernel, from_numpy)):
        assert np.array_equal(c, py, equal_nan=True), f"output {k}"
        assert np.all(np.isfinite(py))
    no_l2 = [o.copy() for o in outputs]
    getattr(NumpyOps(), name)(*args[:2], 1.0 if name == "sgd" else 0.0, *args[3:], *no_l2)
    n_weights = args[1]
    assert np.array_equal(no_l2[0][n_weights:], from_numpy[0][n_weights:])
    assert not np.array_equal(no_l2[0][:n_weights], from_numpy[0][:n_weights])


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("dtype", list(C_TYPES))
def test_nvcc_compiles_every_kernel(tmp_path, arch, dtype):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed (the CUDA toolkit is needed to compile kernels without a GPU)")
    source = tmp_path / f"kernels_{dtype}.cu"
    source.write_text(cuda_source(C_TYPES[dtype]))
    result = subprocess.run(
        [
            nvcc,
            "-cubin",
            f"-arch={arch}",
            "-Xptxas",
            "--warn-on-double-precision-use",
            "-o",
            str(tmp_path / "kernels.cubin"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    if dtype == "float32":
        assert "double precision" not in result.stderr, result.stderr
    cubin = (tmp_path / "kernels.cubin").read_bytes()
    for name in KERNELS:
        assert f"gpubp_{name}_{C_TYPES[dtype]}".encode() in cubin


@pytest.mark.parametrize("name", POINTWISE)
def test_cache_blocking_changes_no_bit(name, monkeypatch):
    """NumpyOps works through large arrays a block of rows at a time; the result is bit-for-bit the same."""
    from gpubp.backend import numpy_ops

    rng = np.random.default_rng(0)
    shape = (1000, 300)  # 1.2 MB in float32: several blocks, the last one short
    names = param_names(KERNELS[name].in_params)
    inputs = [rng.standard_normal(shape).astype(np.float32) for _ in names]
    given = {"b": inputs[names.index("b")][0] if "b" in names else None, "scale": 0.3, "slope": 0.05}
    inputs = [given[p] if p in given else array for p, array in zip(names, inputs)]  # a bias row, the scalars
    blocked, whole = np.empty(shape, np.float32), np.empty(shape, np.float32)
    getattr(NumpyOps(), name)(*inputs, blocked)
    monkeypatch.setattr(numpy_ops, "BLOCK_BYTES", 1 << 40)
    getattr(NumpyOps(), name)(*inputs, whole)
    assert np.array_equal(blocked, whole)


@pytest.mark.parametrize("name", list(UPDATE_KERNELS))
def test_cache_blocking_of_update_rules_changes_no_bit(name, monkeypatch):
    """The update rules walk the flat buffer a block at a time, weights then biases; bit for bit the same."""
    from gpubp.backend import numpy_ops

    args, outputs = update_inputs(name, np.float32, size=300_000, n_weights=200_003)  # 1.2 MB: several blocks
    blocked, whole = [o.copy() for o in outputs], [o.copy() for o in outputs]
    getattr(NumpyOps(), name)(*args, *blocked)
    monkeypatch.setattr(numpy_ops, "BLOCK_BYTES", 1 << 40)
    getattr(NumpyOps(), name)(*args, *whole)
    assert all(np.array_equal(a, b) for a, b in zip(blocked, whole))


def cupy_kernel_source(cupy, name: str, dtype) -> str:
    """The exact CUDA source CuPy generates for one of gpubp's kernels: arrays 1-D; ``scale``, leaky ReLU's
    ``slope``, dropout's counters and the update rules' inputs other than ``g`` scalars.

    This uses CuPy's code generator (``cupy._core._kernel``), which is not public API: the test that calls it
    skips, saying so, where CuPy's internals have changed.
    """
    from cupy._core import _carray, _kernel, _scalar

    from gpubp.backend.cupy_ops import CupyOps

    ndarray_kind, indexer_kind, scalar_kind = 1, 2, 3  # CuPy's _ArgKind enum
    kernel = getattr(CupyOps(cupy), name)
    inputs = len(param_names(KERNELS[name].in_params))
    scalars = {"scale", "slope", "key", "start", "threshold"}
    scalars |= set(param_names(KERNELS[name].in_params)[1:] if name in UPDATE_KERNELS else ())
    infos = [
        _kernel._ArgInfo(scalar_kind, _scalar.CScalar, dtype if p.ctype == "T" else p.dtype, 0, True, True)
        if k < inputs and p.name in scalars
        else _kernel._ArgInfo(ndarray_kind, cupy.ndarray, dtype, 1, True, True)
        for k, p in enumerate(kernel.params[:-1])
    ]
    infos.append(_kernel._ArgInfo(indexer_kind, _carray.Indexer, None, 1, True, True))
    type_map = _kernel._TypeMap((("T", dtype),))
    return _kernel._get_elementwise_kernel_code(
        tuple(infos), type_map, kernel.params, kernel.operation, kernel.name, kernel.preamble
    )


@pytest.mark.cupy
@pytest.mark.parametrize("dtype", list(C_TYPES))
def test_the_source_cupy_generates_compiles(tmp_path, dtype):
    """Where CuPy is installed (no GPU needed), nvcc compiles the very source CuPy would hand to NVRTC."""
    import cupy

    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    try:
        sources = [cupy_kernel_source(cupy, name, np.dtype(dtype).type) for name in ELEMENTWISE]
    except (AttributeError, AssertionError, TypeError, ImportError) as exc:
        pytest.skip(f"CuPy's internal code generator is not the one this test knows ({exc!r})")
    for name, text in zip(ELEMENTWISE, sources):
        if name in UPDATE_KERNELS or name == "dropout":  # ``i`` must be the flat index: a 1-D indexer set to i
            assert "CUPY_FOR(i, _ind.size())" in text and "_ind.set(i);" in text and "CIndexer<1, 1>" in text
    source = tmp_path / "cupy_kernels.cu"
    sources += [row_kernel_source(name, C_TYPES[dtype]) for name in ROW_WISE]  # RawKernels: the source as given
    source.write_text("#include <cupy/carray.cuh>\n" + "\n".join(sources))
    include = Path(cupy.__file__).parent / "_core" / "include"
    result = subprocess.run(
        [
            nvcc,
            "-cubin",
            "-arch=sm_90",
            "-std=c++17",
            "-I",
            str(include),
            "-Xptxas",
            "--warn-on-double-precision-use",
            "-o",
            str(tmp_path / "k.cubin"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    if dtype == "float32":
        assert "double precision" not in result.stderr, result.stderr
    cubin = (tmp_path / "k.cubin").read_bytes()
    assert all(f"gpubp_{name}".encode() in cubin for name in KERNELS)


@pytest.mark.parametrize("dtype", list(C_TYPES))
@pytest.mark.parametrize("name", list(UPDATE_KERNELS))
def test_an_update_over_a_network_arrays_rows_is_each_members_own_update(name, dtype):
    """A network array steps each member's row with its own scalars, (members, 1) columns: the NumPy twin over a
    region of rows (all weights, or all biases) computes for each member exactly its own step over that region."""
    members, width = 4, 300
    args, outputs = update_inputs(name, dtype, size=members * width, n_weights=0)
    g = args[0].reshape(members, width)
    rows = [o.reshape(members, width) for o in outputs]
    scalars = [np.array([s * (1 + k / 10) for k in range(members)], dtype)[:, None] for s in UPDATE_SCALARS[name]]
    expected = [r.copy() for r in rows]
    for k in range(members):
        own = [e[k] for e in expected]
        getattr(NumpyOps(), name)(g[k], width, *[s[k, 0] for s in scalars], *own)  # all weights: L2 applies
    getattr(NumpyOps(), name)(g, g.size, *scalars, *rows)
    for got, want in zip(rows, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [1e-6, 0.01, 0.5, 0.999])
def test_leaky_relus_derivative_with_the_knobs_slopes_is_one_or_the_slope_exactly(dtype, slope):
    """The NumPy twin's fast path for a slope in (0, 1), max([a > 0], slope), against the kernel's a > 0 ? 1 : slope
    on edge values of a (±0, ±inf, NaN, the smallest subnormal)."""
    from gpubp.backend.numpy_ops import NumpyOps

    tiny = np.finfo(dtype).smallest_subnormal
    a = np.array([[0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny, 2.5, -2.5]], dtype)
    g = np.array([[1.5, -2.0, 3.0, -4.0, 0.25, 1e30, -1e-30, 7.0, -7.0]], dtype)
    out = np.empty_like(g)
    NumpyOps().leaky_relu_delta(g, a, slope, out)
    np.testing.assert_array_equal(out, g * np.where(a > 0, dtype(1), dtype(slope)))
