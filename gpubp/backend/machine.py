"""What this machine is, for ``gpubp info`` and for the records of ``gpubp bench``.

One dictionary with the versions that decide gpubp's speed and correctness — Python, NumPy and its BLAS, the CPU,
CuPy, the CUDA runtime (loaded and built against) and driver, each GPU — and whether the GPU can be used, with the
reason when not. Every probe that can fail says so in its entry instead of raising: this is information, asked for
when things go wrong.
"""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

from .. import __version__
from .device import DEVICE_ENV_VAR, find_gpus, load_cupy, one_line, probe_gpu


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas() -> str:
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{config.get('name', '?')} {config.get('version', '')}".strip()
    except Exception:  # show_config's layout differs across NumPy versions
        return "unknown"


def _cuda_version(query) -> str:
    try:
        version = query()
    except Exception as exc:  # no driver, no libcudart: CuPy raises its CUDA error; report it as it is
        return f"unavailable ({one_line(exc)})"
    return f"{version // 1000}.{version % 1000 // 10}" if version else "none"


def describe_machine() -> dict:
    """Versions and devices; ``gpu_usable`` is the probe's verdict (a test kernel and a GEMM ran), with its reason.

    Two CUDA runtime versions: the one CuPy loaded from this environment (``cuda_runtime``, what runs) and the one
    CuPy was built against (``cuda_runtime_built``); they differ when the CUDA wheels are another minor or major.
    """
    usable, why = probe_gpu()
    info = {
        "gpubp": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "blas": blas(),
        "gpu_usable": usable is not None,
        "gpu_reason": why,
        "default_device": os.environ.get(DEVICE_ENV_VAR) or "auto",
    }
    info["cupy_kernel_cache"] = os.environ.get(
        "CUPY_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cupy", "kernel_cache")
    )
    cupy, info["cupy_problem"] = load_cupy()
    info["cupy"] = None if cupy is None else cupy.__version__
    if cupy is None:
        return info
    info["cuda_runtime"] = _cuda_version(cupy.cuda.get_local_runtime_version)
    info["cuda_runtime_built"] = _cuda_version(cupy.cuda.runtime.runtimeGetVersion)
    info["cuda_driver"] = _cuda_version(cupy.cuda.runtime.driverGetVersion)
    visible, _ = find_gpus()
    if visible is not None:
        info["gpus"] = []
        for index in range(cupy.cuda.runtime.getDeviceCount()):
            props = cupy.cuda.runtime.getDeviceProperties(index)
            info["gpus"].append(
                f"{props['name'].decode()}, compute capability {props['major']}.{props['minor']}, "
                f"{props['totalGlobalMem'] / 2**30:.1f} GiB"
            )
    return info
