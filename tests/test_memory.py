"""Memory: what a network and a training run allocate is counted before anything is allocated (gpubp/model/memory.py),
within a quarter of the peak a process measures; what does not fit the memory available is refused in one line
(before ``gpubp train`` claims its run folder); an allocation that fails anyway is one line naming sizes, batch and
dtype, in the API a ``gpubp.OutOfMemoryError``."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import gpubp
from gpubp.backend import memory as backend_memory
from gpubp.model import memory
from gpubp.training import trainer as trainer_module

from helpers import environment, one_line_error, run

# Runs in a process of its own: builds the network and trains two epochs from a peak reset to the present resident
# size (Linux's clear_refs "5"), and prints the growth of that peak beside gpubp's estimate of it.
MEASURE = r"""
import json, sys
import numpy as np
import gpubp
import gpubp.training.trainer as trainer_module
from gpubp.model.memory import network_footprint, parameter_buffer_bytes
from gpubp.training import Trainer, TrainingConfig

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

sizes, rows, test_rows, batch, rule, fraction, patience, x_dtype = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
data = (rng.random((rows, sizes[0])).astype(x_dtype), rng.integers(0, sizes[-1], rows))
test = (rng.random((test_rows, sizes[0])).astype(x_dtype), rng.integers(0, sizes[-1], test_rows))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS")
net = gpubp.Network(sizes, device="cpu", seed=0, init="scaled")
built = status("VmHWM") - base
runs = []
footprint = trainer_module.run_footprint
trainer_module.run_footprint = lambda *args: runs.append(footprint(*args)) or runs[-1]
config = TrainingConfig(epochs=2, mini_batch_size=batch, eta=0.01, optimizer=rule, validation_fraction=fraction,
                        patience=patience)
Trainer(net).train(config, data, test)
network = network_footprint(net.sizes, net.dtype, False, net.init).total
estimate = max(network, 2 * parameter_buffer_bytes(net.sizes, net.dtype) + runs[0].total)
print(json.dumps({"built": built, "network": network, "peak": status("VmHWM") - base, "estimate": estimate}))
"""

# sizes, training rows, test rows, batch, rule, validation fraction, patience, the features' dtype
CASES = {
    "a wide layer: the initial draws are the peak": ([64, 100_000, 10], 200, 50, 20, "sgd", 0.0, None, "float32"),
    "Adam's moments, a hold-out and its best weights": ([64, 50_000, 10], 300, 100, 20, "adam", 0.2, 2, "float64"),
    "many rows: the data's copies are the peak": ([784, 64, 10], 10_000, 2_000, 50, "momentum", 0.1, None, "float64"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_estimate_is_within_a_quarter_of_the_measured_peak(case):
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(CASES[case])],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    print(f"{case}: estimate {figures['estimate'] / 2**20:.0f} MiB, measured peak {figures['peak'] / 2**20:.0f} MiB")
    assert 0.75 <= figures["estimate"] / figures["peak"] <= 1.25, figures
    if figures["network"] >= 16 * 2**20:  # the network's own check, at its peak; a network of a megabyte or two is
        # within the noise of the allocator's pages and arenas, which the estimate does not model
        assert 0.75 <= figures["network"] / figures["built"] <= 1.25, figures


@pytest.fixture
def available(monkeypatch):
    """``set(nbytes)``: the memory that gpubp's checks of networks and runs find available."""
    return lambda nbytes: monkeypatch.setattr(memory, "host_available", lambda: nbytes)


def test_a_network_counts_its_float64_draws_and_their_conversion(available):
    sizes = [64, 100_000, 10]
    buffers = 2 * memory.parameter_buffer_bytes(sizes, "float32")
    available(int(1.5 * buffers))  # room for the parameters and the gradient, not for the draws beside them
    with pytest.raises(gpubp.OutOfMemoryError) as info:
        gpubp.Network(sizes, device="cpu")
    message = str(info.value)
    assert message.startswith(
        "a network of sizes [64, 100000, 10] in float32 would need 143 MiB of memory but this machine has 86 MiB "
        "available (parameters and gradient 57 MiB, initial float64 draws 57 MiB, their conversion 29 MiB)"
    )
    assert isinstance(info.value, MemoryError) and isinstance(info.value, gpubp.InputError)


def test_train_refuses_a_run_that_does_not_fit_before_it_claims_a_folder(available, tmp_path):
    # The network (143 MiB to build) fits; Adam's moments, the best weights and a checkpoint's copies do not.
    available(160 * 2**20)
    flags = ["--sizes", "100000", "--optimizer", "adam", "--lr", "0.01", "--validation-fraction", "0.1"]
    result = run("train", *flags, "--patience", "2", "--checkpoint-every", "1", "--out", "run", cwd=tmp_path)
    line = one_line_error(result, "training sizes [64, 100000, 10] in float32 with batch 10 on 1,438 rows on the cpu")
    assert "the update rule's state 57 MiB" in line and "but this machine has 160 MiB available" in line
    assert line.endswith("choose smaller layers or a smaller --batch-size, or free memory")
    assert list(tmp_path.iterdir()) == []


def test_a_float64_network_is_advised_float32(available, tmp_path):
    available(100 * 2**20)
    result = run("train", "--sizes", "100000", "--dtype", "float64", cwd=tmp_path)
    assert one_line_error(result, "in float64 would need").endswith("use --dtype float32, or free memory")


def numpy_out_of_memory(*args, **kwargs):
    np.empty((2**50,), np.float32)  # NumPy's own MemoryError: "Unable to allocate 4.00 PiB for an array with ..."


def cupy_out_of_memory(*args, **kwargs):
    from cupy.cuda.memory import OutOfMemoryError

    raise OutOfMemoryError(8_000_000_000, 1_234_567)


@pytest.mark.parametrize("library", ["NumPy", "CuPy"])
def test_an_allocation_that_fails_anyway_is_one_line_naming_sizes_batch_and_dtype(
    library, monkeypatch, fake_cupy, tmp_path
):
    if library == "CuPy":
        fake_cupy("")
    monkeypatch.setattr(trainer_module, "run_epoch", numpy_out_of_memory if library == "NumPy" else cupy_out_of_memory)
    net = gpubp.Network([64, 30, 10], device="cpu", seed=0)
    x, y = np.zeros((20, 64)), np.arange(20) % 10
    with pytest.raises(gpubp.OutOfMemoryError) as info:
        net.SGD((x, y), 1, 10, 3.0)
    assert isinstance(info.value, MemoryError)
    detail = "Unable to allocate 4.00 PiB" if library == "NumPy" else "Out of memory allocating 8,000,000,000 bytes"
    assert str(info.value).startswith(
        f"out of memory training a network of sizes [64, 30, 10] in float32 with batch 10 on the cpu ({library}: "
        f"{detail}"
    )
    assert info.value.__context__ is None  # the failed call's frames, and their arrays, are not kept alive
    result = run("train", "--batch-size", "20", "--epochs", "1", "--device", "cpu", cwd=tmp_path)
    line = one_line_error(result, "out of memory training a network of sizes [64, 30, 10] in float32 with batch 20")
    assert line.endswith("choose smaller layers or a smaller --batch-size, or free memory")


def test_any_other_memory_error_is_one_line_in_the_cli(monkeypatch, tmp_path):
    from gpubp.cli import tools

    monkeypatch.setattr(tools, "describe_machine", numpy_out_of_memory)
    one_line_error(run("info", cwd=tmp_path), "gpubp info: error: out of memory (MemoryError: Unable to allocate 4.00")


def test_evaluation_takes_chunks_no_larger_than_the_parameters_and_matches_numpy():
    sizes = [4, 300_000, 3]
    net = gpubp.Network(sizes, dtype="float64", device="cpu", seed=1, init="scaled")
    rows = memory.evaluation_rows(sizes, "float64")
    assert rows * sum(sizes[1:]) * 8 <= max(memory.EVALUATION_BYTES, memory.parameter_buffer_bytes(sizes, "float64"))
    assert 1 < rows < 200
    x = np.random.default_rng(0).random((200, 4))  # several chunks, the last one shorter
    (w1, w2), (b1, b2) = net.parameters()
    hidden = 1 / (1 + np.exp(-(x @ w1.T + b1)))
    np.testing.assert_allclose(net.feedforward(x), 1 / (1 + np.exp(-(hidden @ w2.T + b2))), rtol=1e-12)


def test_the_host_figure_is_memavailable_within_the_control_groups_limit(monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:    8000000 kB\n")
    limit, usage, stat = (tmp_path / name for name in ("memory.max", "memory.current", "memory.stat"))
    limit.write_text(f"{4 * 2**30}\n")
    usage.write_text(f"{3 * 2**30}\n")
    stat.write_text(f"anon 100\ninactive_file {2**30}\n")
    monkeypatch.setattr(backend_memory, "CGROUP_FILES", ((str(limit), str(usage), str(stat), "inactive_file"),))
    monkeypatch.setattr(backend_memory, "MEMINFO", str(meminfo))
    assert backend_memory.host_available() == 2 * 2**30  # the group's 4 GiB less its 2 GiB not reclaimable
    limit.write_text("max\n")
    assert backend_memory.host_available() == 8_000_000 * 1024


def test_the_gpu_figure_is_cudas_free_memory_and_the_pools_unused_blocks(fake_cupy, monkeypatch):
    cupy = fake_cupy("")
    monkeypatch.setenv("FAKE_CUPY_FREE", str(3 * 2**30))
    monkeypatch.setenv("FAKE_CUPY_POOL_FREE", str(2**30))
    assert backend_memory.gpu_available(cupy) == 4 * 2**30
    monkeypatch.setenv("FAKE_CUPY_POOL_LIMIT", str(2 * 2**30))  # CUPY_GPU_MEMORY_LIMIT
    monkeypatch.setenv("FAKE_CUPY_POOL_USED", str(int(1.5 * 2**30)))
    assert backend_memory.gpu_available(cupy) == 2**29
    assert gpubp.get_backend("gpu").free_memory() == 2**29


def test_on_a_gpu_the_device_and_the_host_are_checked_each_against_its_own_figure(monkeypatch):
    gpu = SimpleNamespace(name="gpu", device_id=1, free_memory=lambda: 2**30)
    footprint = memory.network_footprint([64, 100_000, 10], "float32", True, "normal")
    assert set(footprint.device) == {"parameters and gradient", "their conversion"}
    memory.check_fits(footprint, gpu, "choose smaller layers")  # 86 MiB on the GPU, 106 MiB on the host: both fit
    gpu.free_memory = lambda: 2**20
    with pytest.raises(
        gpubp.OutOfMemoryError, match=r"would need 86 MiB of memory but GPU 1 has 1 MiB free \(parameters"
    ):
        memory.check_fits(footprint, gpu, "choose smaller layers")
    gpu.free_memory = lambda: 2**30
    monkeypatch.setattr(memory, "host_available", lambda: 2**20)
    with pytest.raises(
        gpubp.OutOfMemoryError, match=r"would need 106 MiB of memory but this machine has 1 MiB available \(initial"
    ):
        memory.check_fits(footprint, gpu, "choose smaller layers")


@pytest.mark.gpu
def test_a_network_beyond_the_gpus_free_memory_is_refused_before_it_is_allocated(cupy):
    free = cupy.cuda.Device().mem_info[0]
    width = int(free / 4 / 74) + 1  # [64, width, 10] in float32: each of its two buffers about the free memory
    with pytest.raises(gpubp.OutOfMemoryError, match=r"but GPU \d+ has [\d.,]+ GiB free"):
        gpubp.Network([64, width, 10], device="gpu")


@pytest.mark.gpu
@pytest.mark.parametrize("case", list(CASES))
def test_the_device_estimate_is_within_a_quarter_of_the_peak_in_use_on_the_gpu(cupy, case):
    """The peak of the bytes in use, through a pool of the test's own: CuPy's pool keeps freed blocks for later and
    gives them back when an allocation would fail, so what it holds overstates what a run needs."""
    import gpubp.training.trainer as trainer_module

    sizes, rows, test_rows, batch, rule, fraction, patience, x_dtype = CASES[case]
    pool, peak = cupy.cuda.MemoryPool(), [0]

    def malloc(size):
        memory_pointer = pool.malloc(size)
        peak[0] = max(peak[0], pool.used_bytes())
        return memory_pointer

    rng = np.random.default_rng(0)
    data = (rng.random((rows, sizes[0])).astype(x_dtype), rng.integers(0, sizes[-1], rows))
    test = (rng.random((test_rows, sizes[0])).astype(x_dtype), rng.integers(0, sizes[-1], test_rows))
    runs, footprint = [], memory.run_footprint
    cupy.cuda.set_allocator(malloc)
    trainer_module.run_footprint = lambda *args: runs.append(footprint(*args)) or runs[-1]
    try:
        net = gpubp.Network(sizes, device="gpu", seed=0, init="scaled")
        net.SGD(data, 2, batch, 0.01, optimizer=rule, validation_fraction=fraction, patience=patience, test_data=test)
    finally:
        trainer_module.run_footprint = footprint
        cupy.cuda.set_allocator(cupy.get_default_memory_pool().malloc)
    network = sum(memory.network_footprint(net.sizes, net.dtype, True, net.init).device.values())
    buffers = 2 * memory.parameter_buffer_bytes(net.sizes, net.dtype)
    estimate = max(network, buffers + sum(runs[0].device.values()))
    assert 0.75 <= estimate / peak[0] <= 1.25, (estimate, peak[0])
