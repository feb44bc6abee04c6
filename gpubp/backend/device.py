"""Decide the device once: ``get_backend`` picks CuPy on a CUDA GPU or NumPy on the CPU and says why.

The choice is ``"auto"``, ``"cpu"`` or ``"gpu"`` (default: the ``GPUBP_DEVICE`` environment variable, else
``"auto"``). A GPU is usable only when CuPy, on it, compiles and runs a test kernel and a GEMM (counting devices
proves neither NVRTC nor cuBLAS nor support for the GPU's architecture); ``auto`` otherwise trains on the CPU and
says why, and ``gpu`` raises one ``DeviceUnavailableError`` that says why and what to install. Nothing here runs at
``import gpubp``: CuPy is imported, and the GPU tried, once per process, on the first request for a backend. A
``Backend`` is all the rest of gpubp sees of the device: its array module ``xp``, its kernels ``ops``, and the
conversions at the edges (host ⇄ device).
"""

from __future__ import annotations

import contextlib
import functools
import os

import numpy as np

from ..errors import DeviceUnavailableError, InputError
from .cupy_ops import CupyOps
from .memory import gpu_available, host_available
from .numpy_ops import NumpyOps

DEVICES = ("auto", "cpu", "gpu")
DEVICE_ENV_VAR = "GPUBP_DEVICE"
TF32_ENV_VAR = "CUPY_TF32"
# cublasMath_t's TensorFloat-32 mode (cuBLAS's cublas_api.h; CuPy's cublas module names only modes 0 and 1)
CUBLAS_TF32_TENSOR_OP_MATH = 3

GPU_INSTALL_HINT = (
    "install CuPy for your CUDA driver with pip install 'gpubp[gpu]' (CUDA 12, driver >= 525) or "
    "pip install 'gpubp[gpu-cuda13]' (CUDA 13, driver >= 580), check that nvidia-smi lists a GPU, "
    "or train on the CPU with {device='cpu'}"
)


class CpuBackend:
    """NumPy on the host: arrays are ``numpy.ndarray`` and there is nothing to synchronise."""

    name = "cpu"
    tf32 = False  # NumPy's float32 GEMMs are always strict
    # A network array steps its members a group at a time, each group's parameters and gradient within this many
    # bytes, so that the update reads a gradient BP4 has just left in cache (a whole large array's would not fit).
    group_bytes = 8 * 2**20

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.ops = NumpyOps()
        self.xp = np
        self.device_name = "CPU (NumPy)"

    def tf32_math(self):
        return contextlib.nullcontext()  # NumPy's GEMMs are strict (see GpuBackend's)

    def asarray(self, array, dtype=None):
        return np.asarray(array, dtype=dtype)

    def to_host(self, array) -> np.ndarray:
        # A copy, as on the GPU: what the caller gets is theirs, and training never changes it behind their back.
        return np.array(array, copy=True)

    def take_rows(self, src, order, out):
        # mode="clip" lets NumPy gather straight into out; the default mode buffers the whole result first.
        return np.take(src, order, axis=0, out=out, mode="clip")

    def host_buffer(self, array) -> np.ndarray:
        """A host array for a library that reads and writes host memory (MPI): the array itself, on the CPU."""
        return array

    def store_from_host(self, array, host) -> None:
        """Write back what was done to ``host_buffer(array)``: nothing to do on the CPU."""

    def synchronize(self) -> None:
        pass

    def free_memory(self) -> int:
        """Bytes the network's arrays can still take: the host's available memory."""
        return host_available()


def tf32_requested() -> bool:
    """Whether ``$CUPY_TF32`` asks CuPy for TensorFloat-32 float32 GEMMs, read as CuPy reads it (``int(value) >
    0``, at its first float32 GEMM); a value CuPy cannot read, which would fail that GEMM with a ``ValueError``, is
    an ``InputError`` here, before any GEMM."""
    value = os.environ.get(TF32_ENV_VAR, "0")
    try:
        return int(value) > 0
    except ValueError:
        raise InputError(
            f"${TF32_ENV_VAR} is {value!r}, which CuPy cannot read: it takes a whole number, 1 for float32 matrix "
            f"products in TensorFloat-32 or 0 for strict float32; set it to 0 or 1, or unset it"
        ) from None


class GpuBackend:
    """CuPy on the current CUDA device (0 unless a data-parallel process chose its own): host arrays are copied
    over once, at the edges, and copied back on request.

    ``tf32``: whether float32 GEMMs will run in TensorFloat-32, which CuPy decides once per process, at the first
    one, from ``$CUPY_TF32`` (from compute capability 8.0 only).
    """

    name = "gpu"
    group_bytes = None  # one group: every member in each launch, which is what the GPU needs

    def __init__(self, cupy, reason: str) -> None:
        requested = tf32_requested()  # before any float32 GEMM, which would fail on a value CuPy cannot read
        self.reason = reason
        self.ops = CupyOps(cupy)
        self.xp = cupy
        self.device_id = index = cupy.cuda.runtime.getDevice()
        props = cupy.cuda.runtime.getDeviceProperties(index)
        self.device_name = f"{props['name'].decode()} (device {index}, CuPy {cupy.__version__})"
        self.tf32 = requested and props["major"] >= 8

    @contextlib.contextmanager
    def tf32_math(self):
        """Where this backend runs float32 GEMMs in TensorFloat-32, the cuBLAS handle's math mode TF32 inside the
        block, restored after it: CuPy's batched ``matmul`` (a network array's products) calls
        ``gemmStridedBatchedEx`` with CUDA_R_32F compute, which never reads ``$CUPY_TF32`` but follows the math
        mode (``cupy/_core/_routines_linalg.pyx``); its 2-D GEMMs choose TF32 by ``$CUPY_TF32`` already."""
        if not self.tf32:
            yield
            return
        cuda = self.xp.cuda
        handle = cuda.get_cublas_handle()
        before = cuda.cublas.getMathMode(handle)
        cuda.cublas.setMathMode(handle, CUBLAS_TF32_TENSOR_OP_MATH)
        try:
            yield
        finally:
            cuda.cublas.setMathMode(handle, before)

    def asarray(self, array, dtype=None):
        return self.xp.asarray(array, dtype=dtype)

    def to_host(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def take_rows(self, src, order, out):
        return self.xp.take(src, order, axis=0, out=out)

    def host_buffer(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def store_from_host(self, array, host) -> None:
        array.set(host)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def free_memory(self) -> int:
        """Bytes the network's arrays can still take on the GPU (CUDA's free memory and CuPy's unused pool)."""
        return gpu_available(self.xp)


@functools.cache
def load_cupy():
    """Return ``(cupy, None)`` when CuPy imports, else ``None`` and the reason: not installed, or installed but
    broken (a missing CUDA library, an unwritable kernel cache, ...)."""
    try:
        import cupy
    except ModuleNotFoundError as exc:
        if exc.name == "cupy":
            return None, f"CuPy is not installed ({exc})"
        return None, f"CuPy is installed but failed to import ({one_line(exc)})"
    except Exception as exc:  # a broken CUDA install fails inside CuPy's import in many ways
        return None, f"CuPy is installed but failed to import ({one_line(exc)})"
    return cupy, None


@functools.cache
def find_gpus():
    """Return ``(cupy, why)``: the CuPy module when it imports and sees a CUDA device, else ``None`` and the reason.

    Creates no CUDA context, so a data-parallel process can still pick its own GPU (``gpubp.distributed``).
    """
    cupy, why = load_cupy()
    if cupy is None:
        return None, why
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device
        return None, f"no usable CUDA device ({one_line(exc)})"
    if count < 1:
        return None, "no CUDA device is visible"
    return cupy, f"{count} CUDA device(s) visible"


# What the probe runs: the smallest work that needs everything training needs — NVRTC compiling an
# ElementwiseKernel for this GPU's architecture, the kernel launching on it, and cuBLAS computing a GEMM. The GEMM is
# in float64 because CuPy fixes float32 GEMMs to TF32 or not at the first one (CUPY_TF32): `gpubp bench --tf32` must
# still be able to choose after the probe.
PROBE_KERNEL = ("T x", "T y", "y = x * T(2) + T(1)", "gpubp_probe")
ARCHITECTURE_ERRORS = (
    "NoKernelImageForDevice",
    "NO_BINARY_FOR_GPU",
    "UNSUPPORTED_PTX",
    "INVALID_PTX",
    "gpu-architecture",
    "InvalidDeviceFunction",
)
CTK_HINT = "install CuPy with its [ctk] extra (pip install 'gpubp[gpu]', or 'gpubp[gpu-cuda13]')"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters (CUDA and NVRTC errors span many lines)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def why_unusable(stage: str, exc: Exception) -> str:
    """The reason a GPU failed the probe's ``stage`` (``"kernel"`` or ``"gemm"``), and what to do about it."""
    text, name = one_line(exc), type(exc).__name__
    if any(marker in str(exc) for marker in ARCHITECTURE_ERRORS):  # NVRTC's log may be long: look at all of it
        return (
            f"this CuPy's CUDA cannot run code on this GPU's architecture ({text}): install the CuPy of the "
            f"CUDA major your GPU and driver support (gpubp[gpu] for CUDA 12, gpubp[gpu-cuda13] for CUDA 13)"
        )
    missing = name in ("DynamicLibNotFoundError", "ImportError") or "failed to load" in text
    if stage == "kernel" and missing:
        return f"NVRTC, CuPy's run-time compiler, is missing ({text}): {CTK_HINT}"
    if stage == "kernel" and name == "CompileException":
        return f"NVRTC could not compile a test kernel; the CUDA headers may be missing ({text}): {CTK_HINT}"
    if stage == "gemm" and missing:
        return f"cuBLAS is missing ({text}): {CTK_HINT}"
    what = "compile and run a test kernel" if stage == "kernel" else "run a matrix product with cuBLAS"
    return f"CuPy could not {what} on the GPU ({text})"


def try_gpu(cupy) -> str | None:
    """Compile and run the probe kernel and a GEMM on the current device; ``None`` if both gave the right answer,
    else the reason."""
    try:
        x = cupy.arange(4, dtype=cupy.float64)  # creates the CUDA context
    except Exception as exc:  # CUDARuntimeError: out of memory, device busy or prohibited
        return f"the CUDA device cannot be used ({one_line(exc)})"
    try:
        y = cupy.asnumpy(cupy.ElementwiseKernel(*PROBE_KERNEL)(x))
    except Exception as exc:  # NVRTC, the headers, the architecture: CuPy raises many types here
        return why_unusable("kernel", exc)
    if y.tolist() != [1.0, 3.0, 5.0, 7.0]:
        return f"a test kernel computed {y.tolist()} instead of [1.0, 3.0, 5.0, 7.0] on the GPU"
    a = x.reshape(2, 2)
    try:
        product = cupy.asnumpy(cupy.dot(a, a, out=cupy.empty_like(a)))
    except Exception as exc:
        return why_unusable("gemm", exc)
    if product.tolist() != [[2.0, 3.0], [6.0, 11.0]]:
        return f"a test matrix product computed {product.tolist()} instead of [[2, 3], [6, 11]] on the GPU"
    return None


@functools.cache
def probe_gpu():
    """Return ``(cupy, why)``: the CuPy module when the current CUDA device compiled and ran a test kernel and a
    GEMM, else ``None`` and the reason. Runs once per process, on the first request (never at ``import gpubp``)."""
    cupy, why = find_gpus()
    if cupy is None:
        return None, why
    problem = try_gpu(cupy)
    if problem is not None:
        return None, problem
    index = cupy.cuda.runtime.getDevice()
    return cupy, f"CUDA device {index} compiled and ran a test kernel and a GEMM ({why})"


def resolve_device(device: str | None) -> str:
    """The requested device name: the argument, else ``$GPUBP_DEVICE``, else ``"auto"``; checked."""
    if device is None:
        device = os.environ.get(DEVICE_ENV_VAR) or "auto"
    choice = str(device).strip().lower()
    if choice not in DEVICES:
        raise InputError(
            f"unknown device {device!r}: choose one of {', '.join(DEVICES)} (as an argument or in ${DEVICE_ENV_VAR})"
        )
    return choice


@functools.cache
def _backend(choice: str):
    if choice == "cpu":
        return CpuBackend("the CPU was requested")
    cupy, why = probe_gpu()
    if cupy is not None:
        return GpuBackend(cupy, why)
    if choice == "gpu":
        raise DeviceUnavailableError(f"a GPU was requested but none can be used: {why}; {GPU_INSTALL_HINT}", "device")
    return CpuBackend(f"no GPU: {why}")


def get_backend(device: str | None = None):
    """The backend for ``device`` (``"auto"``, ``"cpu"``, ``"gpu"`` or ``None`` for ``$GPUBP_DEVICE``)."""
    return _backend(resolve_device(device))
