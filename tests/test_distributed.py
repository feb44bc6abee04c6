"""Data-parallel training under mpiexec: the same network as one process, rank 0 alone writes, a failure on any rank
ends the job with one whole line from rank 0 saying which files are intact; the communicator is chosen for the
device as resolved, refuses what cannot work in one line, and times what its label says.

The processes run oversubscribed on CI's two cores: these tests check what is computed, not how fast.
"""

import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import gpubp
from gpubp.cli import train as train_module
from gpubp.distributed import LocalCommunicator, MpiCommunicator, NcclCommunicator, RankFailed

from helpers import FAKE_CUPY, command, environment, find_tool
from helpers import gpubp as run
from helpers import run as run_here

MPIEXEC = find_tool("mpiexec")
try:
    import mpi4py  # noqa: F401
except ImportError:
    MPIEXEC = None

needs_mpiexec = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec: pip install 'gpubp[mpi]'")

TRAIN = ["train", "--dtype", "float64", "--epochs", "3", "--batch-size", "10", "--sizes", "20,12", "--quiet"]


def mpiexec(*groups, cwd, timeout=300, env=None):
    """``mpiexec`` with one ``-n N [-wdir DIR] gpubp ARGS`` group per argument tuple ``(n, wdir, args)``."""
    argv = [MPIEXEC]
    for n, wdir, args in groups:
        if len(argv) > 1:
            argv.append(":")
        argv += ["-n", str(n)] + (["-wdir", str(wdir)] if wdir else []) + command() + [str(a) for a in args]
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def parameters(path):
    weights, biases = gpubp.load(path, device="cpu").parameters()
    return weights + biases


@pytest.mark.slow
@needs_mpiexec
@pytest.mark.parametrize("rule", [[], ["--optimizer", "adam", "--lr", 0.01, "--l2", 1]])
def test_data_parallel_early_stopping_and_plateau_decide_as_one_process(tmp_path, rule):
    """Every rank scores the validation rows, so all stop at the epoch one process stops at, with its η (and,
    with Adam and L2, the same moments and decay on every rank)."""
    flags = TRAIN + [
        "--epochs",
        20,
        "--validation-fraction",
        0.2,
        "--patience",
        1,
        "--schedule",
        "plateau",
        "--plateau-patience",
        1,
        *rule,
    ]
    single = run(*flags, "--out", "single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    parallel = mpiexec((2, None, flags + ["--distributed", "mpi", "--out", "parallel"]), cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stderr
    lines = [
        [line.split("  ")[:4] for line in out.splitlines() if line.startswith("epoch")]
        for out in (single.stdout, parallel.stdout)
    ]
    assert lines[0] == lines[1] and len(lines[0]) < 20, single.stdout
    assert "the model is epoch" in parallel.stdout
    for ours, reference in zip(
        parameters(tmp_path / "parallel" / "model.npz"), parameters(tmp_path / "single" / "model.npz")
    ):
        assert np.max(np.abs(ours - reference)) <= 1e-12 * np.max(np.abs(reference))


@pytest.mark.slow
@needs_mpiexec
@pytest.mark.parametrize(
    "ranks, method",
    [
        (2, []),
        (3, []),
        (2, ["--optimizer", "nesterov", "--l2", "1"]),
        (3, ["--optimizer", "adam", "--lr", "0.01"]),
        (3, ["--activation", "relu", "--dropout", "0.3", "--lr", "0.5"]),
    ],
)
def test_data_parallel_weights_equal_one_process(tmp_path, ranks, method):
    """Every rule, L2 included, steps from the summed gradient alone: each process keeps the same state; with
    dropout, each process masks its rows as the one process masks them (the counter is the row's in the batch)."""
    single = run(*TRAIN, *method, "--out", "single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    # 1438 samples in batches of 10: the last batch has 8 rows; over 3 ranks the shares are 4/3/3 and 3/3/2.
    parallel = mpiexec((ranks, None, TRAIN + method + ["--distributed", "mpi", "--out", "parallel"]), cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stderr
    assert f"data-parallel: {ranks} processes over mpi" in parallel.stdout
    assert len([line for line in parallel.stdout.splitlines() if line.startswith("epoch")]) == 3
    for ours, reference in zip(
        parameters(tmp_path / "parallel" / "model.npz"), parameters(tmp_path / "single" / "model.npz")
    ):
        assert np.max(np.abs(ours - reference)) <= 1e-12 * np.max(np.abs(reference))


@pytest.mark.slow
@needs_mpiexec
def test_only_rank_0_writes(tmp_path):
    (tmp_path / "rank0").mkdir()
    (tmp_path / "others").mkdir()
    args = TRAIN + ["--distributed", "mpi", "--out", "run", "--checkpoint-every", "1"]
    result = mpiexec((1, tmp_path / "rank0", args), (2, tmp_path / "others", args), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "rank0" / "run").iterdir()) == [
        "checkpoint.npz",
        "learning_curve.png",
        "metrics.jsonl",
        "model.npz",
    ]
    assert list((tmp_path / "others").iterdir()) == []


@pytest.mark.slow
@needs_mpiexec
def test_an_error_on_every_rank_ends_the_job_with_rank_0s_line(tmp_path):
    start = time.monotonic()
    result = mpiexec((2, None, ["train", "--distributed", "mpi", "--lr", "0", "--quiet"]), cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and time.monotonic() - start < 120
    assert gpubp_lines(result) == [
        "gpubp train: error on rank 0 of 2: --lr (the learning rate η) must be a finite number > 0, got 0.0"
    ]
    assert "Traceback" not in result.stderr


def gpubp_lines(result) -> list[str]:
    """gpubp's lines on stderr (MPICH adds one of its own for MPI_Abort); none holds a second line glued to it."""
    lines = [line for line in result.stderr.splitlines() if "gpubp" in line]
    assert all(line.count("gpubp train:") == 1 and line.startswith("gpubp train:") for line in lines), result.stderr
    return lines


def unbuffered():
    """The environment of a container that sets PYTHONUNBUFFERED, where each write goes out on its own."""
    env = environment()
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.slow
@needs_mpiexec
def test_a_rank_that_fails_before_training_is_reported_by_rank_0(tmp_path):
    for rank in ("rank0", "rank1"):
        (tmp_path / rank).mkdir()
    np.savez(tmp_path / "rank0" / "data.npz", X=np.random.default_rng(0).random((200, 5)), y=np.arange(200) % 3)
    args = ["train", "--distributed", "mpi", "--data", "data.npz", "--quiet", "--out", "run"]
    result = mpiexec((1, tmp_path / "rank0", args), (1, tmp_path / "rank1", args), cwd=tmp_path, env=unbuffered())
    assert result.returncode == 2
    assert gpubp_lines(result) == [
        "gpubp train: error on rank 1 of 2: NPZ file data.npz does not exist; no model or checkpoint was written for "
        "this run (--checkpoint-every N writes one to resume from)"
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data.npz", "rank0", "rank1"]  # no run folder left


@pytest.mark.slow
@needs_mpiexec
def test_a_rank_stopped_mid_run_is_reported_by_rank_0_with_the_checkpoint_that_is_intact(tmp_path):
    marker = f"stopped-{os.getpid()}"
    argv = [MPIEXEC, "-n", "2"] + command()
    argv += ["train", "--distributed", "mpi", "--sizes", "300", "--epochs", "100000", "--quiet", "--out", marker]
    argv += ["--checkpoint-every", "1"]
    job = subprocess.Popen(
        argv, cwd=tmp_path, env=unbuffered(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        checkpoint = tmp_path / marker / "checkpoint.npz"
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in rank_pids(marker, 1):
            os.kill(pid, signal.SIGTERM)
        _, stderr = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode == 128 + signal.SIGTERM, stderr
    (line,) = gpubp_lines(SimpleNamespace(stderr=stderr))
    assert line.startswith("gpubp train: rank 1 of 2 stopped by SIGTERM; the checkpoint of epoch ")
    assert line.endswith(f"is intact: gpubp train --resume {marker}/checkpoint.npz continues from it")
    epoch = int(line.split("epoch ")[1].split()[0])
    trainer, _ = gpubp.training.load_checkpoint(checkpoint, device="cpu")
    assert len(trainer.history) == epoch


class TwoRanks(LocalCommunicator):
    """One rank of a two-process job, in this process and without MPI: every sum is its own share's. On rank 0 the
    other rank hands over its failure at the all-reduce numbered ``fails_at``; ``abort`` ends the command with the
    job's exit status, and ``report_failure`` (rank 1) records what rank 1 hands over."""

    kind, size = "mpi", 2

    def __init__(self, rank, fails_at=None):
        self.rank, self.fails_at, self.sums, self.handed = rank, fails_at, 0, []

    def shard(self, rows):
        return MpiCommunicator.shard(self, rows)

    def allreduce_sum(self, buffer):
        self.sums += 1
        if self.sums == self.fails_at:
            raise RankFailed("gpubp train: error on rank 1 of 2: a failure of rank 1", 2)

    def report_failure(self, line, code):
        self.handed.append((line, code))
        raise SystemExit(code)

    def abort(self, code):
        raise SystemExit(code)


def test_rank_0_says_which_files_are_intact_when_another_rank_fails(monkeypatch, tmp_path):
    steps = -(-1438 // 10)  # the digits' training rows, in batches of 10: a checkpoint after each epoch
    monkeypatch.setattr(train_module, "get_communicator", lambda *args: TwoRanks(0, fails_at=2 * steps + 5))
    result = run_here("train", "--distributed", "mpi", "--checkpoint-every", "1", "--out", "run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "gpubp train: error on rank 1 of 2: a failure of rank 1; the checkpoint of epoch 2 (run/checkpoint.npz) is "
        "intact: gpubp train --resume run/checkpoint.npz continues from it"
    ]


def test_a_rank_other_than_0_hands_its_line_to_rank_0_and_writes_nothing(monkeypatch, tmp_path):
    comm = TwoRanks(1)
    monkeypatch.setattr(train_module, "get_communicator", lambda *args: comm)
    result = run_here("train", "--distributed", "mpi", "--data", "missing.csv", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == result.stderr == ""
    ((line, code),) = comm.handed
    assert line.startswith("gpubp train: error on rank 1 of 2: CSV file missing.csv does not exist") and code == 2


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


@pytest.mark.slow
@needs_mpiexec
def test_a_killed_rank_ends_the_job_within_bounded_time(tmp_path):
    marker = f"killed-{os.getpid()}"
    argv = (
        [MPIEXEC, "-n", "2"]
        + command()
        + ["train", "--distributed", "mpi", "--sizes", "400", "--epochs", "1000", "--quiet", "--out", marker]
    )
    job = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
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


def test_nccl_refuses_in_one_line_where_cupy_has_no_nccl(fake_cupy, tmp_path):
    fake_cupy("nccl")  # CuPy's nccl module imports, with available = False
    result = run("train", "--distributed", "nccl", "--device", "gpu", cwd=tmp_path, extra_path=FAKE_CUPY)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "gpubp train: error: --distributed nccl needs NCCL, which CuPy could not load: pip install 'gpubp[nccl]' "
        "(CUDA 12) or 'gpubp[nccl-cuda13]' (CUDA 13), or use --distributed mpi"
    ]


def test_nccl_follows_the_device_the_environment_chose(fake_cupy, tmp_path):
    fake_cupy("")  # a GPU that would work: the CPU asked for in $GPUBP_DEVICE must still win
    env = environment(FAKE_CUPY)
    env["GPUBP_DEVICE"] = "cpu"
    result = subprocess.run(
        command() + ["train", "--distributed", "nccl"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "gpubp train: error: --distributed nccl needs one CUDA GPU per process and CuPy: the CPU was requested; use "
        "--distributed mpi on CPUs"
    ]


class QueuedDevice:
    """A GPU's stream as the communicators see it: work queued on it (``queue``) runs while the host goes on, and
    the host waits for it on a sync or a copy to the host, as with CuPy."""

    def __init__(self):
        self.queued = 0.0
        self.syncs = 0

    def queue(self, seconds):
        self.queued += seconds

    def synchronize(self):
        self.syncs += 1
        time.sleep(self.queued)
        self.queued = 0.0

    def host_buffer(self, array):
        self.synchronize()
        return array

    def store_from_host(self, array, host):
        self.queue(0.01)  # the copy back to the device, queued


class SlowSum:
    """An MPI request for a sum that completes 20 ms after it starts, whoever polls it."""

    def __init__(self, *args, op):
        self.done = time.perf_counter() + 0.02

    def Test(self):
        return time.perf_counter() >= self.done


def no_message(**where):
    return False


def test_mpi_all_reduce_time_excludes_the_steps_compute_and_includes_the_copy_back():
    device = QueuedDevice()
    comm = MpiCommunicator.__new__(MpiCommunicator)  # a one-process MPI world, without MPI
    comm.backend, comm.MPI = device, SimpleNamespace(IN_PLACE=None, SUM=None, ANY_SOURCE=-1)
    comm.comm = SimpleNamespace(Iallreduce=SlowSum, Iprobe=no_message)
    for _ in range(3):
        device.queue(0.2)  # the step's forward and backward pass, still running when the all-reduce is called
        comm.allreduce_sum(np.zeros(4))
    assert 3 * 0.03 <= comm.seconds < 3 * 0.03 + 0.1


class DeviceClock:
    """CUDA events on a stream whose all-reduce takes 5 ms of device time and returns to the host at once."""

    def __init__(self):
        self.now, self.host_waits = 0.0, 0

    def event(self):
        clock = self

        class Event:
            def record(self, stream):
                self.at = clock.now

            def synchronize(self):
                clock.host_waits += 1

        return Event()

    def elapsed_ms(self, start, end):
        return 1e3 * (end.at - start.at)


def test_nccl_all_reduce_time_is_the_device_time_without_a_host_sync_per_step():
    clock = DeviceClock()
    comm = NcclCommunicator.__new__(NcclCommunicator)  # one rank, without a GPU or NCCL
    comm.cupy = SimpleNamespace(
        cuda=SimpleNamespace(
            get_current_stream=lambda: SimpleNamespace(ptr=0), Event=clock.event, get_elapsed_time=clock.elapsed_ms
        )
    )
    comm.nccl = SimpleNamespace(NCCL_FLOAT32=0, NCCL_FLOAT64=1, NCCL_SUM=0)
    comm.nccl_comm = SimpleNamespace(allReduce=lambda *args: setattr(clock, "now", clock.now + 0.005))
    comm.comm, comm.MPI = SimpleNamespace(Iprobe=no_message), SimpleNamespace(ANY_SOURCE=-1)
    comm._summed, comm._pending, comm._spare = 0.0, [], []
    buffer = SimpleNamespace(dtype=np.dtype(np.float32), size=4, data=SimpleNamespace(ptr=0))
    for epoch in (1, 2):
        for _ in range(100):
            comm.allreduce_sum(buffer)
        assert comm.seconds == pytest.approx(epoch * 0.5)
    assert clock.host_waits == 2  # one per reading of the total (once per epoch), none per step
