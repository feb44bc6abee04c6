"""gpubp bench on tiny sizes: every installed peer runs, the JSON has its shape, every ratio is a positive number.

The numbers themselves are never asserted: a benchmark measures, it is not a test.
"""

import json
import math

import pytest

from cli_helpers import gpubp
from gpubp.bench import PEERS, available_peers, flops_per_sample, run_benchmark


def test_bench_command_writes_a_complete_record(tmp_path):
    result = gpubp("bench", "--device", "cpu", "--net", "20,8,4/5/200", "--net", "30,16,8,4/10/300", "--repeats",
                   "2", "--json", "bench.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| network | batch | gpubp samples/s |" in result.stdout
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["device"] == "cpu" and record["dtype"] == "float32" and record["tf32"] is False
    assert record["gemm_gflops"] > 0 and "blas" in record["machine"] and "cpu" in record["machine"]
    assert [r["sizes"] for r in record["results"]] == [[20, 8, 4], [30, 16, 8, 4]]
    for r in record["results"]:
        assert set(r["samples_per_s"]) == {"gpubp", *available_peers()}
        assert set(r["ratio"]) == set(available_peers())
        for value in [*r["samples_per_s"].values(), *r["ratio"].values(), r["gemm_fraction"]]:
            assert isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.mark.parametrize("peer", list(PEERS))
def test_each_peer_runs_when_installed(peer):
    if peer not in available_peers():
        pytest.skip(f"{peer} needs PyTorch: pip install 'gpubp[bench]'")
    record = run_benchmark("cpu", "float64", [((12, 6, 3), 4, 40)], [peer], repeats=1, warmup=0, log=lambda _: None)
    (result,) = record["results"]
    assert set(result["ratio"]) == {peer} and result["ratio"][peer] > 0


def test_flops_count_the_three_gemms():
    assert flops_per_sample([784, 30, 10]) == 4 * (784 * 30 + 30 * 10) + 2 * 30 * 10


def test_bench_refuses_what_it_cannot_do():
    from gpubp import InputError

    with pytest.raises(InputError, match="unknown peer"):
        run_benchmark("cpu", grid=[((4, 2), 2, 4)], peer_names=["tensorflow"], log=lambda _: None)
    with pytest.raises(InputError, match="--tf32 applies to float32 on a GPU"):
        run_benchmark("cpu", grid=[((4, 2), 2, 4)], tf32=True, log=lambda _: None)


@pytest.mark.parametrize("rule", ["momentum", "nesterov", "adam"])
def test_every_rule_runs_against_torch_optims_same_rule(rule):
    record = run_benchmark("cpu", "float64", [((12, 6, 3), 4, 40)], repeats=1, warmup=0, optimizer=rule,
                           log=lambda _: None)
    (result,) = record["results"]
    assert record["optimizer"] == rule
    assert set(result["ratio"]) == {p for p in available_peers() if p != "per_sample_loop"}  # it has sgd only
    assert all(ratio > 0 for ratio in result["ratio"].values())


def test_bench_refuses_an_unknown_rule():
    from gpubp import InputError

    with pytest.raises(InputError, match="unknown optimizer 'rmsprop'"):
        run_benchmark("cpu", grid=[((4, 2), 2, 4)], optimizer="rmsprop", log=lambda _: None)
