"""A network array's memory (gpubp/model/array_memory.py): the data once plus K members' parameters, gradients, rule
state, plan, gathered batches and workspaces, counted before anything is allocated and within a quarter of the peak
a process measures; a count that does not fit is refused in one line that says the largest that does."""

import json
import subprocess
import sys

import numpy as np
import pytest

import gpubp
from gpubp.model import memory

from helpers import environment

# In a process of its own: builds the array and trains two epochs from a peak reset to the present resident size
# (Linux's clear_refs "5"), and prints the growth of that peak beside gpubp's estimates of it.
MEASURE = r"""
import json, sys
import numpy as np
import gpubp
import gpubp.training.array as array_module
from gpubp.model.memory import network_footprint, parameter_buffer_bytes

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

sizes, count, rows, test_rows, batch, rule, fraction, dropout, shared, x_dtype = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
data = (rng.random((rows, sizes[0])).astype(x_dtype), rng.integers(0, sizes[-1], rows))
test = (rng.random((test_rows, sizes[0])).astype(x_dtype), rng.integers(0, sizes[-1], test_rows)) if test_rows else None
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS")
arr = gpubp.NetworkArray(sizes, count, seeds=list(range(count)), device="cpu")
runs = []
footprint = array_module.array_run_footprint
array_module.array_run_footprint = lambda *args: runs.append(footprint(*args)) or runs[-1]
etas = list(np.linspace(0.01, 0.1, count))
arr.SGD(data, 2, batch, etas, test, optimizer=rule, validation_fraction=fraction, dropout=dropout, shared_order=shared)
network = network_footprint(arr.sizes, arr.dtype, False, arr.inits, None, count).total
run = next(r for r in runs if f"array of {count} networks" in r.what).total
estimate = max(network, 2 * count * parameter_buffer_bytes(arr.sizes, arr.dtype) + run)
print(json.dumps({"peak": status("VmHWM") - base, "estimate": estimate}))
"""

# sizes, K, training rows, test rows, batch, rule, validation fraction, dropout, shared order, the features' dtype
CASES = {
    "Adam's moments and the best weights of 48 members": ([784, 200, 10], 48, 2_000, 500, 50, "adam", 0.2, 0.0, False,
                                                          "float64"),
    "32 gathered batches of 1000 rows, dropout's masked activations": ([784, 100, 10], 32, 4_000, 0, 1_000, "sgd",
                                                                       0.0, 0.5, False, "float32"),
    "the data once, shared by 16 members in one order": ([784, 30, 10], 16, 30_000, 5_000, 10, "momentum", 0.1, 0.0,
                                                          True, "float64"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_the_arrays_estimate_is_within_a_quarter_of_the_measured_peak(case):
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


@pytest.fixture
def available(monkeypatch):
    """``set(nbytes)``: the memory that gpubp's checks find available."""
    return lambda nbytes: monkeypatch.setattr(memory, "host_available", lambda: nbytes)


def fits(footprint, nbytes: int) -> bool:
    return footprint.total <= nbytes


def test_an_array_that_cannot_be_built_is_refused_saying_how_many_members_fit(available):
    sizes, count = [784, 1000, 10], 64
    member = 2 * memory.parameter_buffer_bytes(sizes, "float32")  # parameters and gradient
    room = 20 * member
    available(room)
    with pytest.raises(gpubp.OutOfMemoryError) as info:
        gpubp.NetworkArray(sizes, count, device="cpu")
    message = str(info.value)
    assert message.startswith(f"an array of {count} networks of sizes {sizes} in float32 would need")
    most = int(message.split("at most ")[1].split()[0])
    # the largest count whose footprint fits: the draws of one member besides every member's two buffers
    assert fits(memory.network_footprint(sizes, "float32", False, ("normal",) * 2, None, most), room)
    assert not fits(memory.network_footprint(sizes, "float32", False, ("normal",) * 2, None, most + 1), room)
    assert 15 <= most < 20 and len(message.splitlines()) == 1
    assert message.endswith(f"at most {most} such networks fit here, so use at most {most} members, choose smaller "
                            "layers, or free memory")  # fmt: skip
    gpubp.NetworkArray(sizes, most, device="cpu")  # and that many are built


def test_an_arrays_run_that_does_not_fit_is_refused_before_it_allocates(available, monkeypatch):
    sizes, count = [784, 300, 10], 32
    arr = gpubp.NetworkArray(sizes, count, device="cpu")
    member = memory.parameter_buffer_bytes(sizes, "float32")
    rng = np.random.default_rng(0)
    data = (rng.random((200, 784), dtype=np.float32), rng.integers(0, 10, 200))
    before = arr.flat_parameters.copy()
    available(40 * member)  # Adam's two (K, P) moments and the best weights of 32 members do not fit
    with pytest.raises(gpubp.OutOfMemoryError) as info:
        arr.SGD(data, 1, 100, 0.01, optimizer="adam", validation_fraction=0.1)
    message = str(info.value)
    assert message.startswith(f"training an array of {count} networks of sizes {sizes} in float32 with batch 100")
    assert "the update rules' state" in message and "the best weights' copies" in message
    assert "such networks fit here, so use at most" in message and "a smaller mini_batch_size" in message
    most = int(message.split("at most ")[1].split()[0])
    assert 1 <= most < count
    np.testing.assert_array_equal(arr.flat_parameters, before)  # nothing was trained
    assert not any(arr.SGD(data, 1, 100, 0.01).diverged for _ in [0])  # plain sgd fits: no state, no hold-out
