"""A stand-in for CuPy on machines without a GPU, for the tests of gpubp's GPU probe (``gpubp.backend.device``)
and of what gpubp reads of a GPU before it computes (its free memory, its compute capability for TF32).

NumPy underneath, with the failure named by ``$FAKE_CUPY_FAILURE`` raised where, and as, CuPy 14 raises it (read
in CuPy's source: an ImportError from ``import cupy`` when a CUDA library is missing; ``DynamicLibNotFoundError``
from cuda-pathfinder at the first kernel compile without NVRTC; ``CompileException`` without the CUDA headers;
``cudaErrorNoKernelImageForDevice``, ``CUDA_ERROR_UNSUPPORTED_PTX_VERSION`` or NVRTC refusing the architecture
for a GPU or driver the CUDA in use cannot serve; an ImportError at the first GEMM without cuBLAS). Only the
probe's kernel runs here: gpubp's own kernels can be built (``GpuBackend``), not run. The tests put the folder
above this package first on ``sys.path`` (or ``PYTHONPATH``).
"""

import os

import numpy as np
from numpy import empty_like, float64  # noqa: F401 (the names the probe uses)

__version__ = "14.2.0+fake"
FAILURE = os.environ.get("FAKE_CUPY_FAILURE", "")
compiled = []  # the names of the kernels compiled so far, so that tests can count the probe's runs

if FAILURE == "import":
    raise ImportError("libcudart.so.12: cannot open shared object file: No such file or directory")

from . import cuda  # noqa: E402


class DynamicLibNotFoundError(RuntimeError):
    """cuda.pathfinder's error for a CUDA library it cannot find."""


class CompileException(Exception):
    """cupy.cuda.compiler's error for a kernel NVRTC cannot compile."""


class CUDADriverError(RuntimeError):
    """cupy_backends' error for a failing CUDA driver call."""


FAILURES = {
    "nvrtc": ("kernel", DynamicLibNotFoundError('Failure finding "libnvrtc.so": No such file')),
    "headers": ("kernel", CompileException('catastrophic error: cannot open source file "cuda_fp16.h"')),
    "nvrtc-arch": ("kernel", CompileException("nvrtc: error: invalid value for --gpu-architecture (-arch)\n")),
    "arch": (
        "kernel",
        cuda.runtime.CUDARuntimeError(
            "cudaErrorNoKernelImageForDevice: no kernel image is available for execution on the device"
        ),
    ),
    "ptx": (
        "kernel",
        CUDADriverError(
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION: the provided PTX was compiled with an\nunsupported toolchain."
        ),
    ),
    "cublas": ("gemm", ImportError('Failure finding "libcublas.so": No such file')),
    "wrong": ("kernel", None),
}


def fail_at(stage):
    where, error = FAILURES.get(FAILURE, (None, None))
    if where == stage and error is not None:
        raise error


class MemoryPool:
    """CuPy's pool: what it holds unused (``FAKE_CUPY_POOL_FREE``), in use (``FAKE_CUPY_POOL_USED``) and its limit
    (``FAKE_CUPY_POOL_LIMIT``, 0 for none), in bytes."""

    def free_bytes(self):
        return int(os.environ.get("FAKE_CUPY_POOL_FREE", 0))

    def used_bytes(self):
        return int(os.environ.get("FAKE_CUPY_POOL_USED", 0))

    def get_limit(self):
        return int(os.environ.get("FAKE_CUPY_POOL_LIMIT", 0))


def get_default_memory_pool():
    return MemoryPool()


def arange(n, dtype=None):
    return np.arange(n, dtype=dtype)


def asnumpy(a):
    return np.asarray(a)


def dot(a, b, out=None):
    fail_at("gemm")
    return np.dot(a, b, out=out)


class RawKernel:
    def __init__(self, code, name):
        self.code, self.name = code, name


class ElementwiseKernel:
    def __init__(self, in_params, out_params, operation, name):
        self.operation, self.name = operation, name

    def __call__(self, x):
        compiled.append(self.name)
        fail_at("kernel")
        assert self.operation == "y = x * T(2) + T(1)", "the stand-in runs only the probe's kernel"
        return x * 2 + (0 if FAILURE == "wrong" else 1)
