"""Device and array module: everything that knows whether gpubp runs on CuPy or NumPy lives in this package."""

from .device import DEVICE_ENV_VAR, DEVICES, find_gpus, get_backend, probe_gpu, resolve_device
from .kernels import KERNELS

__all__ = ["DEVICES", "DEVICE_ENV_VAR", "KERNELS", "get_backend", "find_gpus", "probe_gpu", "resolve_device"]
