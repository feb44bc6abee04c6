"""gpubp bench on tiny sizes: every installed peer runs, the JSON has its shape, every ratio is a positive number;
the peers and TF32 recorded are those that really ran; scripts/gpu-check keeps its whole log and its verdict.

The numbers themselves are never asserted: a benchmark measures, it is not a test.
"""

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import gpubp.bench
from gpubp import get_backend
from gpubp.bench import PEERS, available_peers, flops_per_sample, run_benchmark

from helpers import REPO, command, environment, run


@pytest.fixture(autouse=True)
def small_gemm(monkeypatch):
    """The GEMM that gives the device's rate is 256³, not 2048³ (seconds of a loaded CPU for each record): its rate
    is measured the same way, and, like every number here, only checked to be a positive number."""
    monkeypatch.setitem(gpubp.bench.GEMM_SIZE, "cpu", 256)


@pytest.mark.slow  # every peer, PyTorch's included, on two networks
def test_bench_command_writes_a_complete_record(tmp_path):
    result = run(
        "bench",
        "--device",
        "cpu",
        "--net",
        "20,8,4/5/200",
        "--net",
        "30,16,8,4/10/300",
        "--repeats",
        "2",
        "--json",
        "bench.json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "| network | units | batch | gpubp samples/s |" in result.stdout
        and "| [20, 8, 4] | sigmoid | 5 |" in result.stdout
    )
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["device"] == "cpu" and record["dtype"] == "float32" and record["tf32"] is False
    assert record["gemm_gflops"] > 0 and "blas" in record["machine"] and "cpu" in record["machine"]
    assert [r["sizes"] for r in record["results"]] == [[20, 8, 4], [30, 16, 8, 4]]
    for r in record["results"]:
        assert set(r["samples_per_s"]) == {"gpubp", *available_peers(get_backend("cpu"))}
        assert set(r["ratio"]) == set(available_peers(get_backend("cpu")))
        for value in [*r["samples_per_s"].values(), *r["ratio"].values(), r["gemm_fraction"]]:
            assert isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.mark.parametrize("peer", list(PEERS))
def test_each_peer_runs_when_installed(peer):
    if peer not in available_peers(get_backend("cpu")):
        pytest.skip(f"{peer} is not installed: pip install 'gpubp[bench]' (PyTorch) or 'gpubp[sklearn]'")
    record = run_benchmark("cpu", "float64", [((12, 6, 3), 4, 40)], [peer], repeats=1, warmup=0, log=lambda _: None)
    (result,) = record["results"]
    assert set(result["ratio"]) == {peer} and result["ratio"][peer] > 0


def test_flops_count_the_three_gemms():
    assert flops_per_sample([784, 30, 10]) == 4 * (784 * 30 + 30 * 10) + 2 * 30 * 10


def test_bench_refuses_what_it_cannot_do():
    from gpubp import InputError

    with pytest.raises(InputError, match="unknown peer"):
        run_benchmark("cpu", grid=[((4, 2), 2, 4)], peer_names=["tensorflow"], log=lambda _: None)


def test_the_sklearn_peer_needs_scikit_learn(monkeypatch):
    import importlib.util

    from gpubp import InputError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "sklearn" else real(name))
    assert "sklearn" not in available_peers(get_backend("cpu"))
    with pytest.raises(InputError, match=r"peer sklearn needs scikit-learn: pip install 'gpubp\[sklearn\]'"):
        run_benchmark("cpu", grid=[((4, 2), 2, 4)], peer_names=["sklearn"], log=lambda _: None)
    # The library's words; the command line says --tf32.
    with pytest.raises(InputError, match="^tf32 applies to float32 on a GPU"):
        run_benchmark("cpu", grid=[((4, 2), 2, 4)], tf32=True, log=lambda _: None)


def test_torch_peers_run_on_the_gpu_only_where_torch_sees_cuda(monkeypatch):
    torch = pytest.importorskip("torch", reason="PyTorch is in the test extra: pip install '.[test]'")
    gpu = SimpleNamespace(name="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only PyTorch on a GPU machine
    assert available_peers(gpu) == ["per_sample_loop", "sklearn"]  # scikit-learn runs on the CPU beside a GPU
    assert set(available_peers(get_backend("cpu"))) == set(PEERS)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert set(available_peers(gpu)) == set(PEERS)


@pytest.mark.gpu
@pytest.mark.parametrize("how", ["flag", "environment", "neither"])
def test_the_record_says_whether_tf32_was_in_effect(cupy, tmp_path, how):
    """TF32 is on when asked for by --tf32 or by CUPY_TF32 already set, and only from compute capability 8.0."""
    env = environment()
    env.pop("CUPY_TF32", None)
    if how == "environment":
        env["CUPY_TF32"] = "1"
    argv = (
        command()
        + [
            "bench",
            "--device",
            "gpu",
            "--net",
            "64,32,10/32/256",
            "--repeats",
            "1",
            "--peers",
            "",
            "--json",
            "bench.json",
        ]
        + (["--tf32"] if how == "flag" else [])
    )
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    major = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.runtime.getDevice())["major"]
    assert json.loads((tmp_path / "bench.json").read_text())["tf32"] is (how != "neither" and major >= 8)


FAKE_PYTHON = """
# Stands in for Python in scripts/gpu-check: a line on stdout, then one on stderr; the CPU bench adds a long tail
# and fails.
import sys

import os

args = " ".join(sys.argv[1:])
print(f"stdout of {args} (CUPY_TF32={os.environ.get('CUPY_TF32')})")
print(f"stderr of {args}", file=sys.stderr)
if sys.argv[1:4] == ["-m", "gpubp", "bench"] and "cpu" in sys.argv:
    print("\\n".join(map(str, range(20000))))
    print("the last line")
    sys.exit(3)
"""


def test_gpu_check_keeps_its_whole_log_in_order_and_its_exit_status(tmp_path):
    fake = tmp_path / "python"
    fake.write_text(f"#!{sys.executable}" + FAKE_PYTHON)
    fake.chmod(0o755)
    env = environment()
    env["PYTHON"] = str(fake)
    env.pop("PYTHONUNBUFFERED", None)  # the script must see to it itself
    env["CUPY_TF32"] = "1"  # inherited: the tests and the strict benchmark must not get it
    result = subprocess.run(
        [str(REPO / "scripts" / "gpu-check"), str(tmp_path / "log.txt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (tmp_path / "log.txt").read_text()
    assert result.returncode == 1 and log == result.stdout
    for step in ("-m gpubp info", "-m pytest -m gpu", "-m gpubp bench --device gpu --tf32"):
        assert log.index(f"stdout of {step}") < log.index(f"stderr of {step}")
    assert "== CUPY_TF32=0 for every step (inherited: 1)" in log
    steps = [line for line in log.splitlines() if line.startswith("stdout of")]
    assert len(steps) == 5 and all(line.endswith("(CUPY_TF32=0)") for line in steps)  # --tf32 sets its own
    assert log.splitlines()[-3:] == [
        "the last line",
        "== FAILED with exit status 3: gpubp bench --device cpu (the same machine's CPU, for reference)",
        "== gpu-check done: some steps FAILED",
    ]


@pytest.mark.parametrize("rule", ["momentum", "nesterov", "adam"])
def test_every_rule_runs_against_torch_optims_same_rule(rule):
    record = run_benchmark(
        "cpu", "float64", [((12, 6, 3), 4, 40)], repeats=1, warmup=0, optimizer=rule, log=lambda _: None
    )
    (result,) = record["results"]
    assert record["optimizer"] == rule
    sgd_only = ("per_sample_loop", "sklearn")
    assert set(result["ratio"]) == {p for p in available_peers(get_backend("cpu")) if p not in sgd_only}
    assert all(ratio > 0 for ratio in result["ratio"].values())


def test_bench_refuses_an_unknown_rule():
    from gpubp import InputError

    with pytest.raises(
        InputError, match=r"optimizer \(the update rule\) must be one of sgd, momentum, nesterov, adam, got 'rmsprop'"
    ):
        run_benchmark("cpu", grid=[((4, 2), 2, 4)], optimizer="rmsprop", log=lambda _: None)


def test_the_bench_unsets_pytorchs_tf32_override_and_records_it():
    """NVIDIA's PyTorch containers set TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1, which turns PyTorch's float32 GEMMs to
    TF32 whatever allow_tf32 says, from its first use on: strict float32 unsets it first, and says it was set."""
    code = (
        "import os; from gpubp.bench import set_torch_tf32; "
        "print(set_torch_tf32(False), os.environ.get('TORCH_ALLOW_TF32_CUBLAS_OVERRIDE'))"
    )
    env = {**environment(), "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(False,", "'1')", "None"]
    record = run_benchmark("cpu", grid=[((4, 2), 2, 4)], repeats=1, warmup=0, peer_names=[], log=lambda _: None)
    assert record["torch_tf32"] is None  # PyTorch's GEMMs on the CPU have no TF32


# ----- the peers run gpubp's hidden units (issue 18) ----------------------------------------------------------------

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_torch_peers_build_gpubps_units(activation):
    """torch.nn's module of each activation, in gpubp's network, gives gpubp's outputs (float64, 1e-12), and the
    manual peer's f′ from a is autograd's f′ at z (away from ReLU's kink)."""
    torch = pytest.importorskip("torch", reason="PyTorch is in the test extra: pip install '.[test]'")
    from gpubp.bench.peers import Units, torch_activation, torch_derivative, torch_model

    slope = {"leaky_slope": 0.2} if activation == "leaky_relu" else {}
    net = gpubp.Network([6, 5, 4, 3], activation=activation, dtype="float64", device="cpu", seed=1, **slope)
    x = np.random.default_rng(2).standard_normal((9, 6))
    model = torch_model(*net.parameters(), Units(net.activations, 0.2))
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), net.feedforward(x), rtol=1e-12, atol=1e-14)
    z = torch.linspace(-3, 3, 40, dtype=torch.float64).requires_grad_()
    (autograd,) = torch.autograd.grad(torch_activation(activation, 0.2)(z).sum(), z)
    derivative = torch_derivative(activation, torch_activation(activation, 0.2)(z.detach()), 0.2)
    np.testing.assert_allclose(torch.ones_like(z) if derivative is None else derivative, autograd, rtol=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_every_peer_runs_with_the_units_it_has(activation, dropout):
    record = run_benchmark(
        "cpu",
        "float64",
        [((12, 6, 5, 3), 4, 40)],
        repeats=1,
        warmup=0,
        activation=activation,
        dropout=dropout,
        log=lambda _: None,
    )
    (result,) = record["results"]
    assert record["activation"] == activation and record["dropout"] == dropout
    assert result["units"] == activation + ("" if activation != "leaky_relu" else " (slope 0.01)") + (
        ", dropout 0.5" if dropout else ""
    )
    expected = {p for p in available_peers(get_backend("cpu")) if p.startswith("torch")}
    if activation == "sigmoid" and not dropout:
        expected |= set(available_peers(get_backend("cpu")))
    elif activation != "leaky_relu" and not dropout:
        expected |= {"sklearn"} & set(available_peers(get_backend("cpu")))
    assert set(result["ratio"]) == expected and all(ratio > 0 for ratio in result["ratio"].values())
    assert f"| {result['units']} |" in gpubp.bench.markdown_table(record)


def test_a_peer_asked_for_without_a_counterpart_of_the_units_is_refused():
    from gpubp import InputError

    with pytest.raises(InputError, match="peer per_sample_loop cannot run these units and this rule: Nielsen's"):
        run_benchmark("cpu", grid=[((4, 3, 2), 2, 4)], peer_names=["per_sample_loop"], activation="relu")
    with pytest.raises(InputError, match="peer sklearn cannot run these units and this rule: MLPClassifier runs"):
        run_benchmark("cpu", grid=[((4, 3, 2), 2, 4)], peer_names=["sklearn"], dropout=0.2)
    with pytest.raises(InputError, match="peer sklearn cannot run"):  # before: dropped without a word
        run_benchmark("cpu", grid=[((4, 3, 2), 2, 4)], peer_names=["sklearn"], optimizer="adam")


@pytest.mark.parametrize("peer", ["torch_manual", "torch_autograd"])
def test_a_peer_trains_copies_of_the_weights_it_is_given(peer):
    """Before, torch_manual trained the caller's CPU arrays in place (torch.from_numpy shares their memory), and the
    next peer started from its trained weights."""
    pytest.importorskip("torch", reason="PyTorch is in the test extra: pip install '.[test]'")
    net = gpubp.Network([5, 4, 3], dtype="float64", device="cpu", seed=0)
    weights, biases = net.parameters()
    before = [a.copy() for a in weights + biases]
    x = np.random.default_rng(0).random((8, 5))
    y = np.eye(3)[np.arange(8) % 3]
    PEERS[peer](get_backend("cpu"), weights, biases, x, y, 4, 1.0, 2)
    assert all(np.array_equal(a, b) for a, b in zip(weights + biases, before))


def test_bench_flags_set_the_units_and_refuse_what_does_not_apply(tmp_path):
    args = ["bench", "--device", "cpu", "--net", "8,6,3/4/16", "--repeats", 1, "--warmup", 0, "--peers", ""]
    result = run(*args, "--activation", "leaky_relu", "--leaky-slope", 0.1, "--dropout", 0.25, "--json", "b.json",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "b.json").read_text())
    assert (record["activation"], record["leaky_slope"], record["dropout"]) == ("leaky_relu", 0.1, 0.25)
    assert "| [8, 6, 3] | leaky_relu (slope 0.1), dropout 0.25 | 4 |" in result.stdout
    refused = run(*args, "--leaky-slope", 0.01, cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "gpubp bench: error: --leaky-slope applies to --activation leaky_relu, not sigmoid: choose leaky_relu, or drop "
        "--leaky-slope"
    ]
    refused = run(*args, "--activation", "swish", cwd=tmp_path)
    assert refused.returncode == 2 and "--activation (the hidden activation) must be one of" in refused.stderr


# ----- gpubp bench --array ------------------------------------------------------------------------------------------


def test_the_array_bench_measures_every_variant(tmp_path):
    args = ["bench", "--device", "cpu", "--array", 3, "--net", "12,6,3/4/24", "--repeats", 2, "--warmup", 0]
    result = run(*args, "--json", "a.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| network | batch | array | shared_order | sequential | torch_func |" in result.stdout
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["count"] == 3 and len(record["etas"]) == 3 and len(set(record["etas"])) == 3
    (row,) = record["results"]
    torch_installed = "torch_manual" in available_peers(get_backend("cpu"))
    expected = {"array", "shared_order", "sequential"} | ({"torch_func"} if torch_installed else set())
    assert set(row["samples_per_s"]) == expected and set(row["ratio"]) == expected - {"array"}
    for rates in row["samples_per_s"].values():
        assert 0 < rates["min"] <= rates["median"] <= rates["max"] and math.isfinite(rates["max"])
    assert all(math.isfinite(r) and r > 0 for r in row["ratio"].values())


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--array", 1], "--array must be a whole number of networks from 2 to 4096"),
        (["--array", -3], "--array must be a whole number of networks from 2 to 4096"),
        (["--array", 4, "--dropout", 0.5], "drop --dropout"),
        (["--array", 4, "--peers", "torch_manual"], "drop --peers"),
        (["--array", 4, "--optimizer", "adam"], "drop --optimizer"),
    ],
)
def test_the_array_bench_refuses_what_it_cannot_measure_in_one_line(tmp_path, flags, words):
    refused = run("bench", "--device", "cpu", "--net", "8,6,3/4/16", *flags, cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1 and words in refused.stderr


def test_the_torch_func_peer_takes_each_members_own_sgd_step():
    """Two steps of the torch.func ensemble, each member with its own η and its own rows, equal the lecture's step
    of that member alone (``Network.update_mini_batch``, BP1–BP4 by hand) within float64 rounding; its cost falls."""
    pytest.importorskip("torch", reason="PyTorch is in the test extra: pip install '.[test]'")
    import torch

    from gpubp import Network, NetworkArray
    from gpubp.bench.ensemble import FuncEnsemble

    sizes, count, m = [7, 5, 4, 3], 3, 6
    etas = [0.5, 1.0, 3.0]
    rng = np.random.default_rng(1)
    x = rng.random((count, 2, m, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], (count, 2, m))]
    arr = NetworkArray(sizes, count, seeds=[4, 5, 6], dtype="float64", device="cpu")
    ensemble = FuncEnsemble(get_backend("cpu"), *arr.parameters(), etas)
    alone = [Network.from_parameters(sizes, *arr.members[k].parameters(), dtype="float64") for k in range(count)]
    costs_before = [net.total_cost((x[k].reshape(-1, sizes[0]), y[k].reshape(-1, sizes[-1]))) for k, net in
                    enumerate(alone)]  # fmt: skip
    for step in range(2):
        ensemble.step(torch.from_numpy(x[:, step]), torch.from_numpy(y[:, step]))
        for k, net in enumerate(alone):
            net.update_mini_batch(x[k, step], y[k, step], etas[k])
    weights, biases = ensemble.parameters()
    for k, net in enumerate(alone):
        expected_w, expected_b = net.parameters()
        for got, want in zip([w[k] for w in weights] + [b[k] for b in biases], expected_w + expected_b):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        after = net.total_cost((x[k].reshape(-1, sizes[0]), y[k].reshape(-1, sizes[-1])))
        assert after < costs_before[k]
