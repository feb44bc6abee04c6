"""The stand-in's ``cupy.cuda.runtime``: one Volta-class GPU, or none with ``FAKE_CUPY_FAILURE=nodevice``."""

import os

current = 0


class CUDARuntimeError(RuntimeError):
    """cupy_backends' error for a failing CUDA runtime call."""


def getDeviceCount():
    if os.environ.get("FAKE_CUPY_FAILURE") == "nodevice":
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    return 1


def getDevice():
    return current


def getDeviceProperties(index):
    """A V100 (compute capability 7.0), or the compute capability ``FAKE_CUPY_CC`` names (``8.0``: an A100's)."""
    major, minor = (int(part) for part in os.environ.get("FAKE_CUPY_CC", "7.0").split("."))
    return {"name": b"Fake V100", "major": major, "minor": minor, "totalGlobalMem": 16 * 2**30}


def runtimeGetVersion():
    return 12090


def driverGetVersion():
    return 12080
