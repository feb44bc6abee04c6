"""On a CUDA GPU: NumPy equals CuPy (the same seed trains to the same weights on both devices), and what only a GPU
can show of the probe, `gpubp info` and NCCL. Marked gpu: skipped, with the reason, where no GPU is usable."""

import numpy as np
import pytest
from test_kernels import POINTWISE, edge_inputs, row_inputs, update_inputs

import gpubp
from gpubp.backend import KERNELS
from gpubp.backend.device import CUBLAS_TF32_TENSOR_OP_MATH
from gpubp.backend.numpy_ops import NumpyOps
from gpubp.data import load_digits
from gpubp.training.config import RULES

from helpers import gpubp as run_gpubp
from helpers import random_problem
from kernel_sources import ROW_WISE

pytestmark = pytest.mark.gpu

TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


def assert_close(ours, reference, dtype):
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=rtol * float(np.abs(reference).max()))


@pytest.mark.parametrize("rule, lmbda", [("sgd", 0.0)] + [(rule, 2.0) for rule in RULES])
@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy", "log-likelihood"])
@pytest.mark.parametrize("dtype", list(TOLERANCE))
def test_five_steps_give_the_same_weights_on_both_devices(cupy, dtype, cost, rule, lmbda):
    sizes = (20, 16, 12, 5)
    x, labels = random_problem(sizes, m=50, seed=1, dtype=dtype)
    results = []
    for device in ("cpu", "gpu"):
        net = gpubp.Network(sizes, cost=cost, dtype=dtype, device=device, seed=9)
        assert net.backend.name == device
        eta = 0.01 if rule == "adam" else 0.5
        net.SGD((x, labels), 1, 10, eta, optimizer=rule, lmbda=lmbda, monitor_training_cost=False)  # 5 steps
        results.append(net.parameters())
    (cpu_w, cpu_b), (gpu_w, gpu_b) = results
    for ours, reference in zip(gpu_w + gpu_b, cpu_w + cpu_b):
        assert ours.dtype == np.dtype(dtype)
        assert_close(ours, reference, dtype)


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu", "identity"])
@pytest.mark.parametrize("dtype", list(TOLERANCE))
def test_every_activation_dropout_and_sample_weights_train_alike_on_both_devices(cupy, dtype, activation):
    """Five steps with the activation, dropout (the same masks: one hash on both devices) and sample weights."""
    sizes = (20, 16, 12, 5)
    x, labels = random_problem(sizes, m=50, seed=1, dtype=dtype)
    w = np.random.default_rng(2).random(50)
    slope = {"leaky_slope": 0.1} if activation == "leaky_relu" else {}
    results = []
    for device in ("cpu", "gpu"):
        net = gpubp.Network(
            sizes, activation=activation, cost="log-likelihood", dtype=dtype, device=device, seed=9, **slope
        )
        net.SGD((x, labels), 1, 10, 0.05, dropout=(0.3, 0.5), sample_weight=w, monitor_training_cost=False)
        results.append(net.parameters())
    (cpu_w, cpu_b), (gpu_w, gpu_b) = results
    for ours, reference in zip(gpu_w + gpu_b, cpu_w + cpu_b):
        assert ours.dtype == np.dtype(dtype)
        assert_close(ours, reference, dtype)


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("name", POINTWISE)
def test_each_device_kernel_matches_numpy_on_edge_values(cupy, name, dtype):
    ops = gpubp.get_backend("gpu").ops
    inputs = edge_inputs(len(KERNELS[name].in_params.split(",")), dtype)
    expected = np.empty_like(inputs[0])
    getattr(NumpyOps(), name)(*inputs, expected)
    out = cupy.empty(expected.shape, expected.dtype)
    getattr(ops, name)(*(cupy.asarray(a) for a in inputs), out)
    got = cupy.asnumpy(out)
    assert np.all(np.isfinite(got))
    eps = np.finfo(dtype).eps  # CUDA's tanh and fused multiply-adds differ from NumPy by a few ulps
    np.testing.assert_allclose(got, expected, rtol=8 * eps, atol=8 * eps)


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("name", RULES)
def test_each_update_rule_matches_numpy(cupy, name, dtype):
    """The fused update kernels on the device against NumpyOps, weights (with L2) and biases (without) apart."""
    args, outputs = update_inputs(name, dtype)
    expected = [o.copy() for o in outputs]
    getattr(NumpyOps(), name)(*args, *expected)
    on_device = [cupy.asarray(o) for o in outputs]
    getattr(gpubp.get_backend("gpu").ops, name)(cupy.asarray(args[0]), *args[1:], *on_device)
    for got, reference in zip(on_device, expected):
        assert_close(cupy.asnumpy(got), reference, dtype)  # fused multiply-adds round differently


@pytest.mark.parametrize("dtype", list(TOLERANCE))
def test_the_dropout_kernel_drops_what_numpy_drops_bit_for_bit(cupy, dtype):
    """The masks are an integer hash, so the device must keep exactly the elements NumPy keeps, scaled alike."""
    x = np.random.default_rng(0).standard_normal((300, 777)).astype(dtype)
    ops = gpubp.get_backend("gpu").ops
    for key, start, p in [(0, 0, 0.5), (2**64 - 5, 2**64 - 1000, 0.1)]:
        threshold = np.uint64(round(p * 2**53))
        expected = NumpyOps().dropout(x, np.uint64(key), np.uint64(start), threshold, 1 / (1 - p), np.empty_like(x))
        out = cupy.empty(x.shape, x.dtype)
        ops.dropout(cupy.asarray(x), np.uint64(key), np.uint64(start), threshold, 1 / (1 - p), out)
        assert np.array_equal(cupy.asnumpy(out), expected)


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("name", list(ROW_WISE))
def test_each_row_kernel_matches_numpy_on_edge_rows(cupy, name, dtype):
    """The RawKernel on the device against NumpyOps: rows of edge values, more rows than one block has threads,
    and a wide row."""
    ops = gpubp.get_backend("gpu").ops
    rng = np.random.default_rng(0)
    for inputs in (
        row_inputs(dtype),
        [rng.standard_normal((300, 1000)).astype(dtype) * 30, rng.standard_normal(1000).astype(dtype)],
    ):
        expected = np.empty_like(inputs[0])
        with np.errstate(under="ignore"):
            getattr(NumpyOps(), name)(*inputs, expected)
        out = cupy.empty(expected.shape, expected.dtype)
        getattr(ops, name)(*(cupy.asarray(a) for a in inputs), out)
        got = cupy.asnumpy(out)
        assert np.all(np.isfinite(got))
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(got, expected, rtol=8 * eps * inputs[0].shape[1] ** 0.5, atol=8 * eps)


def test_early_stopping_with_a_schedule_keeps_the_same_epoch_on_both_devices(cupy, tmp_path):
    """The best weights' device copy, the swap at the end and the checkpoint's copy to the host, on the GPU."""
    from gpubp.training import load_checkpoint, save_checkpoint

    x, labels = random_problem((20, 16, 5), m=300, seed=3)
    options = dict(validation_fraction=0.2, patience=2, schedule="plateau", plateau_patience=1, warmup_epochs=1)
    nets, histories = [], []
    for device in ("cpu", "gpu"):
        net = gpubp.Network((20, 16, 5), cost="log-likelihood", dtype="float64", device=device, seed=4)
        histories.append(net.SGD((x, labels), 30, 10, 0.5, **options))
        nets.append(net)
    assert histories[0].best_epoch == histories[1].best_epoch and len(histories[0]) == len(histories[1])
    for ours, reference in zip(*(n.parameters()[0] for n in (nets[1], nets[0]))):
        assert_close(ours, reference, "float64")
    save_checkpoint(tmp_path / "c.npz", histories[1].trainer, {})
    restored, _ = load_checkpoint(tmp_path / "c.npz", device="gpu")
    assert np.array_equal(
        cupy.asnumpy(restored.state.best_parameters), cupy.asnumpy(histories[1].trainer.state.best_parameters)
    )


def test_digits_train_on_the_gpu_and_load_on_the_cpu(cupy, tmp_path):
    pytest.importorskip("sklearn", reason="the bundled digits come with scikit-learn")
    from gpubp.data import load_digits

    train, test = load_digits()
    net = gpubp.Network([64, 30, 10], device="gpu", seed=0)
    history = net.SGD(train, 30, 10, 3.0, test_data=test)
    assert history[-1].test_accuracy >= 0.94
    gpubp.save(net, tmp_path / "model.npz")
    on_cpu = gpubp.load(tmp_path / "model.npz", device="cpu")
    assert on_cpu.evaluate(test) == net.evaluate(test)


def test_nccl_with_one_rank_trains_like_one_process(cupy):
    """The NCCL path end to end with one process (NCCL refuses two ranks on one GPU, so more needs more GPUs).

    It skips only without a GPU: a GPU machine without NCCL or mpi4py fails here with gpubp's message saying what to
    install (``from cupy.cuda import nccl`` always succeeds, so no import can tell).
    """
    from gpubp.distributed import get_communicator

    comm = get_communicator("nccl", "gpu")
    assert (comm.kind, comm.rank, comm.size) == ("nccl", 0, 1)
    sizes = (20, 16, 5)
    x, labels = random_problem(sizes, m=50, seed=2)
    nets = [gpubp.Network(sizes, dtype="float64", device="gpu", seed=3) for _ in range(2)]
    history = nets[0].SGD((x, labels), 2, 10, 0.5, monitor_training_cost=False, comm=comm)
    nets[1].SGD((x, labels), 2, 10, 0.5, monitor_training_cost=False)
    for a, b in zip(nets[0].parameters()[0], nets[1].parameters()[0]):
        assert np.array_equal(a, b)
    assert 0 < comm.seconds < sum(h.seconds for h in history)  # device time of the all-reduces, within training's


def test_info_shows_a_usable_gpu_and_the_cuda_runtime_it_loaded(cupy, tmp_path):
    result = run_gpubp("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "GPU usable: yes — CUDA device 0 compiled and ran a test kernel and a GEMM" in result.stdout
    loaded = cupy.cuda.get_local_runtime_version()
    assert f"CUDA runtime loaded: {loaded // 1000}.{loaded % 1000 // 10} (CuPy built with " in result.stdout
    assert "auto trains on: gpu" in result.stdout


def test_the_gpu_tests_compare_with_strict_float32_gemms(cupy):
    from cupy._core._routines_linalg import compute_type_to_str, get_compute_type

    a = cupy.ones((4, 4), cupy.float32)
    cupy.dot(a, a, out=cupy.empty_like(a))  # CuPy fixes float32 GEMMs to TF32 or not here, from $CUPY_TF32
    assert compute_type_to_str(get_compute_type(np.float32)) != "COMPUTE_TYPE_TF32"


def test_train_says_and_records_tf32_inherited_from_the_environment(cupy, tmp_path):
    import os

    from helpers import environment

    env = {**environment(), "CUPY_TF32": "1"}
    result = run_gpubp("train", "--device", "gpu", "--epochs", "1", "--out", "run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    major = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.runtime.getDevice())["major"]
    device_line = result.stdout.splitlines()[0]
    assert ("float32 matrix products in TensorFloat-32 (CUPY_TF32=1, inherited)" in device_line) is (major >= 8)
    assert np.load(tmp_path / "run" / "model.npz")["tf32"].item() is (major >= 8)
    assert os.environ["CUPY_TF32"] == "0"  # this process's own GEMMs stay strict


def test_a_cuda_tensor_that_requires_grad_is_refused_with_the_fix(cupy):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    from gpubp.sklearn import NetworkClassifier

    x = torch.rand((20, 4), device="cuda", requires_grad=True)
    y = torch.arange(20, device="cuda") % 2
    with pytest.raises(ValueError, match=r"tensor\.detach\(\)"):
        NetworkClassifier(hidden_layer_sizes=3, max_iter=1, device="gpu").fit(x, y)


def test_input_on_another_gpu_than_the_networks_is_refused(cupy):
    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    net = gpubp.Network([4, 3, 2], device="gpu", seed=0)
    other = 1 - net.backend.device_id
    with cupy.cuda.Device(other):
        x = cupy.ones((5, 4), cupy.float32)
    with pytest.raises(
        gpubp.InputError, match=rf"X is on GPU {other} but the network is on GPU {net.backend.device_id}"
    ):
        net.feedforward(x)


def test_a_network_array_trains_on_the_gpu_as_on_the_cpu(cupy):
    """Per-member scalars as (members, 1) columns, the stacked products, each member's bias in the softmax kernel,
    and dropout's per-member keys and counters: the same run on both devices."""
    (x, y), test = load_digits()
    trained = {}
    for device in ("cpu", "gpu"):
        arr = gpubp.NetworkArray([64, 20, 10], 3, seeds=[0, 1, 2], dtype="float64", device=device,
                                 activation="relu", cost="log-likelihood")  # fmt: skip
        arr.SGD((x, y), 2, 10, [0.05, 0.1, 0.2], optimizer="adam", dropout=[0.5, 0.0, 0.2], lmbda=[0.0, 1.0, 2.0])
        trained[device] = sum(arr.parameters(), [])
    for cpu, gpu in zip(trained["cpu"], trained["gpu"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-12)


TF32_ARRAY = r"""
import json
import numpy as np
import gpubp
import cupy
from cupy._core._routines_linalg import compute_type_to_str, get_compute_type

arr = gpubp.NetworkArray([64, 256, 10], 4, seeds=[0, 1, 2, 3], device="gpu")
handle = cupy.cuda.get_cublas_handle()
modes = []
x = np.random.default_rng(0).random((512, 64), dtype=np.float32)
y = np.arange(512) % 10
before = cupy.cuda.cublas.getMathMode(handle)
arr.SGD((x, y), 1, 64, 0.1, on_progress=lambda done, total: modes.append(cupy.cuda.cublas.getMathMode(handle)))
print(json.dumps({"before": before, "during": sorted(set(modes)), "after": cupy.cuda.cublas.getMathMode(handle),
                  "tf32": arr.backend.tf32, "compute": compute_type_to_str(get_compute_type(np.float32))}))
"""


@pytest.mark.parametrize("asked", ["1", "0"])
def test_an_arrays_batched_gemms_use_tf32_only_where_asked_by_the_cublas_math_mode(cupy, asked):
    """CuPy's batched matmul (gemmStridedBatchedEx, CUDA_R_32F compute) does not read $CUPY_TF32: the array's epoch
    sets the handle's math mode to CUBLAS_TF32_TENSOR_OP_MATH (3) where TF32 is in effect, and restores it."""
    import json
    import subprocess
    import sys

    from helpers import environment

    result = subprocess.run([sys.executable, "-c", TF32_ARRAY], env={**environment(), "CUPY_TF32": asked},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    major = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.runtime.getDevice())["major"]
    in_effect = asked == "1" and major >= 8
    assert seen["tf32"] is in_effect
    assert seen["during"] == ([CUBLAS_TF32_TENSOR_OP_MATH] if in_effect else [seen["before"]])
    assert seen["after"] == seen["before"]
