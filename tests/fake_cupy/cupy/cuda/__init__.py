"""The stand-in's ``cupy.cuda``: device count and versions, each device's free memory (``FAKE_CUPY_FREE`` bytes,
default 8 GiB), NCCL in ``nccl``, CuPy's out-of-memory error in ``memory``, the cuBLAS handles' math modes in
``cublas``."""

import os

from . import cublas, memory, runtime  # noqa: F401


def get_cublas_handle():
    """The current device's cuBLAS handle, as ``cupy.cuda.device.get_cublas_handle`` gives it (a number)."""
    return 1000 + runtime.current


def get_local_runtime_version():
    return 12080


class Device:
    def __init__(self, index=None):
        self.id = runtime.current if index is None else index

    def use(self):
        runtime.current = self.id

    @property
    def mem_info(self):
        """``(free, total)`` bytes, as ``cudaMemGetInfo`` gives them."""
        total = runtime.getDeviceProperties(self.id)["totalGlobalMem"]
        return int(os.environ.get("FAKE_CUPY_FREE", 8 * 2**30)), total
