"""Data-parallel training under mpiexec: the same network as one process, rank 0 alone writes, failures end the job.

The processes run oversubscribed on CI's two cores: these tests check what is computed, not how fast.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gpubp
from cli_helpers import command, environment, gpubp as run

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
try:
    import mpi4py  # noqa: F401
except ImportError:
    MPIEXEC = None

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec: pip install 'gpubp[mpi]'")

TRAIN = ["train", "--dtype", "float64", "--epochs", "3", "--batch-size", "10", "--sizes", "20,12", "--quiet"]


def mpiexec(*groups, cwd, timeout=300):
    """``mpiexec`` with one ``-n N [-wdir DIR] gpubp ARGS`` group per argument tuple ``(n, wdir, args)``."""
    argv = [MPIEXEC]
    for n, wdir, args in groups:
        if len(argv) > 1:
            argv.append(":")
        argv += ["-n", str(n)] + (["-wdir", str(wdir)] if wdir else []) + command() + [str(a) for a in args]
    return subprocess.run(argv, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def parameters(path):
    weights, biases = gpubp.load(path, device="cpu").parameters()
    return weights + biases


@pytest.mark.parametrize("rule", [[], ["--optimizer", "adam", "--lr", 0.01, "--l2", 1]])
def test_data_parallel_early_stopping_and_plateau_decide_as_one_process(tmp_path, rule):
    """Every rank scores the validation rows, so all stop at the epoch one process stops at, with its η (and,
    with Adam and L2, the same moments and decay on every rank)."""
    flags = TRAIN + ["--epochs", 20, "--validation-fraction", 0.2, "--patience", 1, "--schedule", "plateau",
                     "--plateau-patience", 1, *rule]
    single = run(*flags, "--out", "single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    parallel = mpiexec((2, None, flags + ["--distributed", "mpi", "--out", "parallel"]), cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stderr
    lines = [[line.split("  ")[:4] for line in out.splitlines() if line.startswith("epoch")]
             for out in (single.stdout, parallel.stdout)]
    assert lines[0] == lines[1] and len(lines[0]) < 20, single.stdout
    assert "the model is epoch" in parallel.stdout
    for ours, reference in zip(parameters(tmp_path / "parallel" / "model.npz"),
                               parameters(tmp_path / "single" / "model.npz")):
        assert np.max(np.abs(ours - reference)) <= 1e-12 * np.max(np.abs(reference))


@pytest.mark.parametrize("ranks, method", [(2, []), (3, []), (2, ["--optimizer", "nesterov", "--l2", "1"]),
                                           (3, ["--optimizer", "adam", "--lr", "0.01"])])
def test_data_parallel_weights_equal_one_process(tmp_path, ranks, method):
    """Every rule, L2 included, steps from the summed gradient alone: each process keeps the same state."""
    single = run(*TRAIN, *method, "--out", "single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    # 1438 samples in batches of 10: the last batch has 8 rows; over 3 ranks the shares are 4/3/3 and 3/3/2.
    parallel = mpiexec((ranks, None, TRAIN + method + ["--distributed", "mpi", "--out", "parallel"]), cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stderr
    assert f"data-parallel: {ranks} processes over mpi" in parallel.stdout
    assert len([line for line in parallel.stdout.splitlines() if line.startswith("epoch")]) == 3
    for ours, reference in zip(parameters(tmp_path / "parallel" / "model.npz"),
                               parameters(tmp_path / "single" / "model.npz")):
        assert np.max(np.abs(ours - reference)) <= 1e-12 * np.max(np.abs(reference))


def test_only_rank_0_writes(tmp_path):
    (tmp_path / "rank0").mkdir()
    (tmp_path / "others").mkdir()
    args = TRAIN + ["--distributed", "mpi", "--out", "run", "--checkpoint-every", "1"]
    result = mpiexec((1, tmp_path / "rank0", args), (2, tmp_path / "others", args), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "rank0" / "run").iterdir()) == \
        ["checkpoint.npz", "learning_curve.png", "metrics.jsonl", "model.npz"]
    assert list((tmp_path / "others").iterdir()) == []


def test_an_error_ends_every_rank_with_its_message(tmp_path):
    start = time.monotonic()
    result = mpiexec((2, None, ["train", "--distributed", "mpi", "--lr", "0", "--quiet"]), cwd=tmp_path, timeout=120)
    assert result.returncode != 0 and time.monotonic() - start < 120
    assert "error on rank" in result.stderr and "learning rate eta must be a finite number > 0" in result.stderr
    assert "Traceback" not in result.stderr


def rank_pids(marker: str, rank: int) -> list[int]:
    """PIDs of the processes whose command line holds ``marker`` and whose MPI rank is ``rank``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if marker.encode() in cmdline and f"PMI_RANK={rank}".encode() in env:
            pids.append(int(entry.name))
    return pids


def test_a_killed_rank_ends_the_job_within_bounded_time(tmp_path):
    marker = f"killed-{os.getpid()}"
    argv = [MPIEXEC, "-n", "2"] + command() + ["train", "--distributed", "mpi", "--sizes", "400", "--epochs", "1000",
                                                "--quiet", "--out", marker]
    job = subprocess.Popen(argv, cwd=tmp_path, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True)
    try:
        for line in job.stdout:  # wait until training runs on both ranks
            if line.startswith("epoch"):
                break
        victims = rank_pids(marker, 1)
        assert victims, "rank 1 was not found"
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        job.wait(timeout=60)
        assert job.returncode != 0 and time.monotonic() - killed < 60
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
