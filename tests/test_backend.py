"""Device choice: decided in one place, from the argument or $GPUBP_DEVICE, loud when a GPU is asked for and absent."""

import subprocess
import sys

import pytest

import gpubp
from gpubp.backend import device


@pytest.fixture
def no_gpu(monkeypatch):
    """Pretend CuPy is installed but no CUDA device answers, whatever this machine has."""
    device._backend.cache_clear()
    monkeypatch.setattr(device, "probe_gpu", lambda: (None, "no usable CUDA device (cudaErrorNoDevice)"))
    yield
    device._backend.cache_clear()


def test_import_touches_neither_cupy_nor_cuda():
    code = "import sys, gpubp; gpubp.Network([3, 2], device='cpu'); print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_gpu_without_a_device_raises_one_clear_error(no_gpu):
    with pytest.raises(gpubp.DeviceUnavailableError) as info:
        gpubp.Network([3, 2], device="gpu")
    message = str(info.value)
    assert "cudaErrorNoDevice" in message
    assert "pip install 'gpubp[gpu]'" in message and "gpu-cuda13" in message and "device='cpu'" in message


def test_auto_falls_back_to_the_cpu_and_says_why(no_gpu):
    backend = gpubp.get_backend("auto")
    assert backend.name == "cpu" and "cudaErrorNoDevice" in backend.reason


def test_the_environment_variable_is_the_default(monkeypatch, no_gpu):
    monkeypatch.setenv("GPUBP_DEVICE", "cpu")
    assert gpubp.get_backend().reason == "the CPU was requested"
    monkeypatch.setenv("GPUBP_DEVICE", "gpu")
    with pytest.raises(gpubp.DeviceUnavailableError):
        gpubp.get_backend()
    assert gpubp.get_backend("cpu").name == "cpu"  # an explicit choice wins over the variable
    monkeypatch.setenv("GPUBP_DEVICE", "quantum")
    with pytest.raises(gpubp.InputError, match=r"unknown device 'quantum'.*GPUBP_DEVICE"):
        gpubp.get_backend()


def test_probe_names_the_missing_piece():
    module, why = device.probe_gpu()
    if module is None:
        assert why.startswith(("CuPy is not installed", "CuPy failed to import", "no usable CUDA device",
                               "no CUDA device"))
    else:
        assert "CUDA device 0 answers" in why
