"""Device choice: decided in one place, from the argument or $GPUBP_DEVICE, loud when a GPU is asked for and absent."""

import os
import subprocess
import sys

import pytest

import gpubp
from gpubp.backend import device

from helpers import environment, run


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
        assert why.startswith(
            (
                "CuPy is not installed",
                "CuPy is installed but failed to import",
                "no usable CUDA device",
                "no CUDA device",
                "NVRTC",
                "cuBLAS",
                "this CuPy's CUDA",
                "CuPy could not",
                "the CUDA device cannot be used",
                "a test",
            )
        )
    else:
        assert "compiled and ran a test kernel and a GEMM" in why


# A GPU counts as usable only after CuPy compiled and ran a kernel and a GEMM on it: each way CuPy fails there
# (tests/fake_cupy raises what CuPy 14 raises) sends auto to the CPU with the reason, and makes gpu refuse with it.
PROBE_FAILURES = {
    "nodevice": "no usable CUDA device (CUDARuntimeError: cudaErrorNoDevice",
    "nvrtc": "NVRTC, CuPy's run-time compiler, is missing (DynamicLibNotFoundError",
    "headers": "NVRTC could not compile a test kernel; the CUDA headers may be missing (CompileException",
    "nvrtc-arch": "cannot run code on this GPU's architecture (CompileException: nvrtc: error: invalid value for "
    "--gpu-architecture (-arch))",
    "arch": "cannot run code on this GPU's architecture (CUDARuntimeError: cudaErrorNoKernelImageForDevice",
    "ptx": "cannot run code on this GPU's architecture (CUDADriverError: CUDA_ERROR_UNSUPPORTED_PTX_VERSION: the "
    "provided PTX was compiled with an unsupported toolchain.)",
    "cublas": 'cuBLAS is missing (ImportError: Failure finding "libcublas.so"',
    "wrong": "a test kernel computed [0.0, 2.0, 4.0, 6.0] instead of [1.0, 3.0, 5.0, 7.0] on the GPU",
    "import": "CuPy is installed but failed to import (ImportError: libcudart.so.12",
}


@pytest.mark.parametrize("failure", list(PROBE_FAILURES))
def test_a_gpu_that_cannot_compile_and_run_falls_back_with_the_reason(fake_cupy, failure):
    fake_cupy(failure)
    backend = gpubp.get_backend("auto")
    assert backend.name == "cpu" and PROBE_FAILURES[failure] in backend.reason
    assert "\n" not in backend.reason
    with pytest.raises(gpubp.DeviceUnavailableError, match="a GPU was requested but none can be used") as info:
        gpubp.get_backend("gpu")
    assert PROBE_FAILURES[failure] in str(info.value)


def test_a_gpu_that_compiles_and_runs_is_used_and_probed_once(fake_cupy):
    cupy = fake_cupy("")
    from gpubp.backend.machine import describe_machine

    assert device.probe_gpu() == (
        cupy,
        "CUDA device 0 compiled and ran a test kernel and a GEMM (1 CUDA device(s) visible)",
    )
    machine = describe_machine()
    assert machine["gpu_usable"] and machine["gpus"] == ["Fake V100, compute capability 7.0, 16.0 GiB"]
    device.probe_gpu()
    assert cupy.compiled == ["gpubp_probe"]  # cached: one compile per process


def test_info_names_the_reason_and_both_runtime_versions(fake_cupy, tmp_path):
    fake_cupy("nvrtc")
    result = run("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"GPU usable: no — {PROBE_FAILURES['nvrtc']}" in result.stdout
    assert "CuPy: 14.2.0+fake; CUDA runtime loaded: 12.8 (CuPy built with 12.9); driver: 12.8" in result.stdout
    assert "device 0: Fake V100, compute capability 7.0" in result.stdout
    assert "auto trains on: cpu" in result.stdout


def test_info_tells_a_broken_cupy_from_a_missing_one(fake_cupy, tmp_path):
    fake_cupy("import")
    result = run("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CuPy: installed but failed to import (ImportError: libcudart.so.12" in result.stdout
    assert "not installed" not in result.stdout


def test_info_refuses_an_unknown_device_variable(tmp_path):
    env = environment()
    env["GPUBP_DEVICE"] = "quantum"  # helpers.environment leaves the device to the command line: put it back
    result = run("info", cwd=tmp_path, env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "gpubp info: error: unknown device 'quantum': choose one of auto, cpu, gpu (as an argument or in $GPUBP_DEVICE)"
    ]


def test_info_with_gpubp_device_gpu_and_no_gpu_says_so_and_fails(fake_cupy, tmp_path):
    fake_cupy("nodevice")
    env = environment()
    env["GPUBP_DEVICE"] = "gpu"
    result = run("info", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "default device: gpu" in result.stdout  # everything else is still shown
    assert result.stderr.splitlines() == [
        "gpubp info: error: $GPUBP_DEVICE is gpu but no GPU can be used (no usable CUDA device (CUDARuntimeError: "
        "cudaErrorNoDevice: no CUDA-capable device is detected)), so every command without --device cpu stops: set "
        "GPUBP_DEVICE to auto or cpu, or make the GPU usable (see above)"
    ]


def test_every_message_about_the_device_speaks_in_flags(fake_cupy, tmp_path):
    """Each command's refusal of a GPU that cannot be used names --device cpu, never Python's device='cpu'."""
    ok = run("train", "--epochs", "1", "--checkpoint-every", "1", "--out", "run", "--device", "cpu", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    fake_cupy("nodevice")
    on_the_gpu = {
        "train": ["train", "--epochs", "1"],
        "resume": ["train", "--resume", "run", "--epochs", "2"],
        "evaluate": ["evaluate", "run/model.npz"],
        "predict": ["predict", "run/model.npz", "run/model.npz"],
        "gradcheck": ["gradcheck"],
        "bench": ["bench", "--net", "4,2/2/4", "--repeats", "1", "--peers", ""],
    }
    env = environment()
    for name, args in on_the_gpu.items():
        for how, argv, variables in (
            ("flag", args + ["--device", "gpu"], {}),
            ("variable", args, {"GPUBP_DEVICE": "gpu"}),
        ):
            result = run(*argv, cwd=tmp_path, env={**env, **variables})
            assert result.returncode == 2, (name, how, result.stderr)
            (line,) = result.stderr.splitlines()
            assert (
                "a GPU was requested but none can be used" in line and "or train on the CPU with --device cpu" in line
            )
            assert "device=" not in line, (name, how, line)
    nccl = run("train", "--distributed", "nccl", "--device", "gpu", cwd=tmp_path)
    assert "--distributed nccl needs one CUDA GPU per process" in nccl.stderr and "distributed=" not in nccl.stderr


@pytest.mark.parametrize(
    "value, capability, tf32",
    [("1", "8.0", True), ("1", "7.0", False), (" 2 ", "9.0", True), ("0", "8.0", False), (None, "8.0", False)],
)
def test_cupy_tf32_is_read_as_cupy_reads_it(fake_cupy, monkeypatch, value, capability, tf32):
    """int(value) > 0, from compute capability 8.0 (CuPy's _routines_linalg.get_compute_type)."""
    fake_cupy("")
    monkeypatch.setenv("FAKE_CUPY_CC", capability)
    if value is None:
        monkeypatch.delenv("CUPY_TF32", raising=False)
    else:
        monkeypatch.setenv("CUPY_TF32", value)
    assert gpubp.get_backend("gpu").tf32 is tf32


@pytest.mark.parametrize("value", ["true", "", "yes", "1.0"])
def test_a_cupy_tf32_that_cupy_cannot_read_is_one_line_before_any_gemm(fake_cupy, tmp_path, value):
    fake_cupy("")
    env = {**environment(), "CUPY_TF32": value}
    result = run("train", "--device", "gpu", cwd=tmp_path, env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"gpubp train: error: $CUPY_TF32 is {value!r}, which CuPy cannot read: it takes a whole number, 1 for float32 "
        f"matrix products in TensorFloat-32 or 0 for strict float32; set it to 0 or 1, or unset it"
    ]


def test_the_tests_compute_float32_gemms_strictly_whatever_the_environment_says():
    assert os.environ["CUPY_TF32"] == "0"  # tests/conftest.py, before any GEMM: the GPU tests' tolerances need it


def test_a_run_records_whether_its_gemms_used_tf32(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import numpy as np

    from gpubp.cli.train import tf32_note

    ok = run("train", "--epochs", "1", "--out", "run", "--device", "cpu", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert np.load(tmp_path / "run" / "model.npz")["tf32"].item() is False
    gpu = SimpleNamespace(backend=SimpleNamespace(tf32=True), dtype=np.dtype("float32"))
    monkeypatch.setenv("CUPY_TF32", "1")
    assert tf32_note(gpu) == "; float32 matrix products in TensorFloat-32 (CUPY_TF32=1, inherited)"
    assert tf32_note(SimpleNamespace(backend=gpu.backend, dtype=np.dtype("float64"))) == ""


@pytest.mark.parametrize("value, capability, tf32", [("1", "8.0", True), ("1", "7.0", False), ("0", "9.0", False)])
def test_tf32_reaches_the_batched_gemms_by_the_cublas_math_mode_and_is_restored(fake_cupy, monkeypatch, value,
                                                                                capability, tf32):  # fmt: skip
    """CuPy's batched matmul ignores $CUPY_TF32 (gemmStridedBatchedEx with CUDA_R_32F compute): where TF32 is in
    effect, the handle's math mode is CUBLAS_TF32_TENSOR_OP_MATH inside tf32_math, and what it was after it."""
    cupy = fake_cupy("")
    monkeypatch.setenv("FAKE_CUPY_CC", capability)
    monkeypatch.setenv("CUPY_TF32", value)
    backend = gpubp.get_backend("gpu")
    handle = cupy.cuda.get_cublas_handle()
    cupy.cuda.cublas.modes[handle] = cupy.cuda.cublas.CUBLAS_TENSOR_OP_MATH  # whatever it was before
    with backend.tf32_math():
        inside = cupy.cuda.cublas.getMathMode(handle)
    assert inside == (device.CUBLAS_TF32_TENSOR_OP_MATH if tf32 else cupy.cuda.cublas.CUBLAS_TENSOR_OP_MATH)
    assert cupy.cuda.cublas.getMathMode(handle) == cupy.cuda.cublas.CUBLAS_TENSOR_OP_MATH
    assert cupy.cuda.cublas.history == ([device.CUBLAS_TF32_TENSOR_OP_MATH, 1] if tf32 else [])
    cupy.cuda.cublas.modes.clear(), cupy.cuda.cublas.history.clear()


def test_an_arrays_epochs_and_outputs_run_inside_the_backends_tf32_math(monkeypatch):
    import contextlib

    import numpy as np

    entered = []

    @contextlib.contextmanager
    def recording(self):
        entered.append(True)
        yield

    monkeypatch.setattr(device.CpuBackend, "tf32_math", recording)
    arr = gpubp.NetworkArray([6, 4, 3], 2, seeds=[0, 1], device="cpu")
    x, y = np.random.default_rng(0).random((12, 6)), np.arange(12) % 3
    arr.SGD((x, y), 2, 4, 0.5, monitor_training_cost=False)
    assert len(entered) == 2  # one per epoch
    arr.feedforward(x)
    assert len(entered) == 3
