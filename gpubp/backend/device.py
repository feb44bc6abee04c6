"""Decide the device once: ``get_backend`` picks CuPy on a CUDA GPU or NumPy on the CPU and says why.

The choice is ``"auto"``, ``"cpu"`` or ``"gpu"`` (default: the ``GPUBP_DEVICE`` environment variable, else
``"auto"``). ``auto`` uses CuPy only when it imports and a CUDA device answers; ``gpu`` without a usable GPU raises
one ``DeviceUnavailableError`` that says why and what to install. Nothing here runs at ``import gpubp``: CuPy is
imported, and CUDA asked, on the first request for a backend. A ``Backend`` is all the rest of gpubp sees of the
device: its array module ``xp``, its kernels ``ops``, and the conversions at the edges (host ⇄ device).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from ..errors import DeviceUnavailableError, InputError
from .kernels import CupyOps, NumpyOps

DEVICES = ("auto", "cpu", "gpu")
DEVICE_ENV_VAR = "GPUBP_DEVICE"

GPU_INSTALL_HINT = (
    "install CuPy for your CUDA driver with pip install 'gpubp[gpu]' (CUDA 12, driver >= 525) or "
    "pip install 'gpubp[gpu-cuda13]' (CUDA 13, driver >= 580), check that nvidia-smi lists a GPU, "
    "or train on the CPU with device='cpu'"
)


class CpuBackend:
    """NumPy on the host: arrays are ``numpy.ndarray`` and there is nothing to synchronise."""

    name = "cpu"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.ops = NumpyOps()
        self.xp = np
        self.device_name = "CPU (NumPy)"

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


class GpuBackend:
    """CuPy on the current CUDA device (0 unless a data-parallel process chose its own): host arrays are copied
    over once, at the edges, and copied back on request."""

    name = "gpu"

    def __init__(self, cupy, reason: str) -> None:
        self.reason = reason
        self.ops = CupyOps(cupy)
        self.xp = cupy
        index = cupy.cuda.runtime.getDevice()
        props = cupy.cuda.runtime.getDeviceProperties(index)
        self.device_name = f"{props['name'].decode()} (device {index}, CuPy {cupy.__version__})"

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


@functools.lru_cache(maxsize=None)
def probe_gpu():
    """Return ``(cupy, why)``: the CuPy module when a CUDA device answers, else ``None`` and the reason."""
    try:
        import cupy
    except ImportError as exc:
        return None, f"CuPy is not installed ({exc})"
    except Exception as exc:  # a broken CUDA install fails inside CuPy's import in many ways
        return None, f"CuPy failed to import ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, driver too old, no device
        return None, f"no usable CUDA device ({exc})"
    if count < 1:
        return None, "no CUDA device is visible"
    return cupy, f"CUDA device 0 answers ({count} visible)"


def resolve_device(device: str | None) -> str:
    """The requested device name: the argument, else ``$GPUBP_DEVICE``, else ``"auto"``; checked."""
    if device is None:
        device = os.environ.get(DEVICE_ENV_VAR) or "auto"
    choice = str(device).strip().lower()
    if choice not in DEVICES:
        raise InputError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)} "
                         f"(as an argument or in ${DEVICE_ENV_VAR})")
    return choice


@functools.lru_cache(maxsize=None)
def _backend(choice: str):
    if choice == "cpu":
        return CpuBackend("the CPU was requested")
    cupy, why = probe_gpu()
    if cupy is not None:
        return GpuBackend(cupy, why)
    if choice == "gpu":
        raise DeviceUnavailableError(f"a GPU was requested but none can be used: {why}; {GPU_INSTALL_HINT}")
    return CpuBackend(f"no GPU: {why}")


def get_backend(device: str | None = None):
    """The backend for ``device`` (``"auto"``, ``"cpu"``, ``"gpu"`` or ``None`` for ``$GPUBP_DEVICE``)."""
    return _backend(resolve_device(device))
