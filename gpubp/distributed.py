"""Data-parallel training over processes: who I am (rank, size), my share of each mini-batch, and one all-reduce.

Every process holds the whole network and the whole training set, draws the same initial weights and the same
shuffle order from the same seed, and takes its contiguous share of each global mini-batch (the first
``rows % size`` processes one row more). Its gradient is scaled by the global batch size, so one sum over the
processes — an all-reduce of the flat gradient buffer — gives every process the gradient of the whole
mini-batch, and all apply the same step: the network is the one a single process would train, up to the
order of floating-point sums. Three communicators, chosen by ``get_communicator``:

- ``LocalCommunicator``: one process, nothing to exchange (the default);
- ``MpiCommunicator``: MPI through ``mpi4py``; GPU buffers go through host memory, since MPI wheels are not
  CUDA-aware;
- ``NcclCommunicator``: NCCL through CuPy, one process per GPU, the NCCL id sent to every process over MPI.

A process that fails ends the job, and rank 0 says so, with the state of the files it wrote. A rank other than 0
hands its one line to rank 0 (``report_failure``, a point-to-point message) instead of ending the job itself, which
could kill rank 0 while it writes a checkpoint and before it says which files are intact. Rank 0 waits for its
all-reduces polling for such a message (``check_peers``), raises it as ``RankFailed``, reports and aborts the job.
With NCCL the all-reduce waits on the GPU, not on the host: rank 0 looks for a message before each one, so it
reports unless it blocks on the GPU first (at the NCCL set-up, say); a rank whose message nobody takes within
``REPORT_WAIT`` seconds writes its line itself and ends the job.
"""

from __future__ import annotations

import sys
import time
import warnings

from .backend import find_gpus, get_backend, resolve_device
from .errors import DeviceUnavailableError, GpubpError, InputError

KINDS = ("none", "mpi", "nccl")
FAILURE_TAG = 0x6770  # the point-to-point messages by which a rank hands its failure to rank 0
GATHER_TAG = 0x6771  # and those by which it hands rank 0 its results (``gather``: a sweep's members)
REPORT_WAIT = 60.0  # seconds a failing rank waits for rank 0 to report it and end the job
ABORT_GRACE = 0.5  # seconds between the last line and MPI_Abort, for mpiexec to pass the line on


def write_line(line: str) -> None:
    """``line`` on stderr in one write, so that the lines of several processes sharing it never interleave."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class RankFailed(GpubpError):
    """Another rank failed and handed its line to rank 0 (``line``, as that rank wrote it), which ends the job with
    that rank's exit status ``code``."""

    def __init__(self, line: str, code: int):
        super().__init__(line)
        self.code = code


class LocalCommunicator:
    """A single process: the whole mini-batch is its share, and its gradient is already the sum."""

    kind, rank, size = "none", 0, 1
    seconds = 0.0  # time spent in all-reduces so far

    def shard(self, rows: int) -> tuple[int, int]:
        return 0, rows

    def allreduce_sum(self, buffer) -> None:
        pass

    def check_peers(self) -> None:
        """Raise ``RankFailed`` where another rank has reported a failure (there is none here)."""

    def gather(self, value) -> list | None:
        """On rank 0, every rank's ``value`` (picklable), in rank order; None on the other ranks."""
        return [value]

    def abort(self, code: int) -> None:
        raise SystemExit(code)


class MpiCommunicator(LocalCommunicator):
    """MPI_COMM_WORLD through mpi4py; ``seconds`` counts the time spent in all-reduces."""

    kind = "mpi"

    def __init__(self, backend):
        self.backend = backend
        self.MPI = import_mpi()
        self.comm = self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def shard(self, rows: int) -> tuple[int, int]:
        base, extra = divmod(rows, self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (self.rank < extra)

    def allreduce_sum(self, buffer) -> None:
        # On a GPU the copy to the host would wait for the step's queued compute, and the copy back is queued: the
        # syncs around the clock keep both out of and in the count as they should be. Neither costs a wait the
        # step does not already have, since MPI needs the gradient on the host (on the CPU they do nothing).
        # Nonblocking, and polled: rank 0 must notice a rank that fails instead of joining the sum.
        self.backend.synchronize()
        start = time.perf_counter()
        host = self.backend.host_buffer(buffer)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
        while not request.Test():
            self.check_peers()
        self.backend.store_from_host(buffer, host)
        self.backend.synchronize()
        self.seconds += time.perf_counter() - start

    def gather(self, value) -> list | None:
        # polled like the all-reduce, so that rank 0 notices a rank that failed instead of waiting for it
        if self.rank != 0:
            self.comm.send(value, dest=0, tag=GATHER_TAG)
            return None
        values = [value]
        for source in range(1, self.size):
            request = self.comm.irecv(source=source, tag=GATHER_TAG)
            while True:
                done, received = request.test()
                if done:
                    break
                self.check_peers()
                time.sleep(0.001)
            values.append(received)
        return values

    def check_peers(self) -> None:
        """On rank 0: raise ``RankFailed`` where another rank has handed over its failure (``report_failure``)."""
        if self.rank == 0 and self.comm.Iprobe(source=self.MPI.ANY_SOURCE, tag=FAILURE_TAG):
            line, code = self.comm.recv(source=self.MPI.ANY_SOURCE, tag=FAILURE_TAG)
            raise RankFailed(line, code)

    def report_failure(self, line: str, code: int) -> None:
        """On a rank other than 0: hand this rank's failure to rank 0, which reports it and ends the job; where it
        has not within ``REPORT_WAIT`` seconds (it is blocked, or gone), write the line here and end the job."""
        request = self.comm.isend((line, code), dest=0, tag=FAILURE_TAG)
        deadline = time.monotonic() + REPORT_WAIT
        while time.monotonic() < deadline:
            request.Test()
            time.sleep(0.05)
        write_line(f"{line} (rank 0 did not report it within {REPORT_WAIT:g} s)")
        self.abort(code)

    def abort(self, code: int) -> None:
        """End every process of the job (a process that stopped alone would leave the others waiting), after a
        moment: mpiexec (MPICH's hydra) drops what a process wrote to stderr just before and has not passed on yet."""
        time.sleep(ABORT_GRACE)
        self.comm.Abort(code)


class NcclCommunicator(MpiCommunicator):
    """NCCL on the GPU, one process per device (see ``use_own_gpu``).

    The all-reduce is queued on the stream after the step's kernels and returns at once; a host clock would count
    only the queuing. CUDA events recorded on the stream around it time it on the device instead, from when the
    stream reaches it (the gradient is ready) to when the sum is done, without a host sync per step; ``seconds``
    adds them up when read (once per epoch, after the epoch's sync) and recycles the events.
    """

    kind = "nccl"

    def __init__(self, backend, nccl):
        super().__init__(backend)
        self.nccl, self.cupy = nccl, backend.xp
        unique_id = self.comm.bcast(nccl.get_unique_id() if self.rank == 0 else None, root=0)
        self.nccl_comm = nccl.NcclCommunicator(self.size, unique_id, self.rank)
        self._summed, self._pending, self._spare = 0.0, [], []

    def allreduce_sum(self, buffer) -> None:
        self.check_peers()  # the sum waits on the GPU: look for a failed rank while the host can still raise
        dtype = self.nccl.NCCL_FLOAT32 if buffer.dtype.itemsize == 4 else self.nccl.NCCL_FLOAT64
        stream = self.cupy.cuda.get_current_stream()
        start, end = self._spare.pop() if self._spare else (self.cupy.cuda.Event(), self.cupy.cuda.Event())
        start.record(stream)
        self.nccl_comm.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size, dtype, self.nccl.NCCL_SUM, stream.ptr)
        end.record(stream)
        self._pending.append((start, end))

    @property
    def seconds(self) -> float:
        if self._pending:
            self._pending[-1][1].synchronize()
            self._summed += sum(self.cupy.cuda.get_elapsed_time(start, end) for start, end in self._pending) / 1e3
            self._spare += self._pending
            self._pending = []
        return self._summed


def use_own_gpu(cupy, MPI) -> None:
    """Make this process's current GPU the one numbered by its rank among the processes on its node."""
    local_rank = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    cupy.cuda.Device(local_rank % cupy.cuda.runtime.getDeviceCount()).use()


def import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise InputError(
            f"{{distributed='mpi'}} needs mpi4py ({exc}): pip install 'gpubp[mpi]', then start N processes with "
            f"mpiexec -n N",
            "distributed",
        ) from None
    return MPI


def import_nccl():
    """CuPy's NCCL module. Importing it always succeeds: where CuPy cannot load NCCL it sets ``available`` to False
    (and warns over many lines, which gpubp replaces with its one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from cupy.cuda import nccl
    if not nccl.available:
        raise DeviceUnavailableError(
            "{distributed='nccl'} needs NCCL, which CuPy could not load: pip install 'gpubp[nccl]' (CUDA 12) or "
            "'gpubp[nccl-cuda13]' (CUDA 13), or use {distributed='mpi'}",
            "distributed",
        )
    return nccl


def get_communicator(kind: str = "none", device=None):
    """The communicator for ``kind`` (``none``, ``mpi`` or ``nccl``) on ``device`` (as ``get_backend`` takes it).

    Call it before the first network: where there are GPUs, it gives each process of a node its own, and the
    backend it builds for that GPU is the one the network gets (``get_backend`` keeps it).
    """
    if kind not in KINDS:
        raise InputError(f"unknown {{distributed}} {kind!r}: choose one of {', '.join(KINDS)}", "distributed")
    if kind == "none":
        return LocalCommunicator()
    choice = resolve_device(device)  # the argument, else $GPUBP_DEVICE: decided once, here
    cupy, why = find_gpus() if choice != "cpu" else (None, "the CPU was requested")
    if kind == "nccl" and cupy is None:
        raise DeviceUnavailableError(
            f"{{distributed='nccl'}} needs one CUDA GPU per process and CuPy: {why}; use {{distributed='mpi'}} on CPUs",
            "distributed",
        )
    nccl = import_nccl() if kind == "nccl" else None
    if cupy is not None:  # before the backend exists: it stays on the current GPU
        use_own_gpu(cupy, import_mpi())
    backend = get_backend(choice)
    if kind == "mpi":
        return MpiCommunicator(backend)
    if backend.name != "gpu":
        raise DeviceUnavailableError(
            f"{{distributed='nccl'}} needs one CUDA GPU per process: {backend.reason}; use {{distributed='mpi'}} on "
            f"CPUs",
            "distributed",
        )
    return NcclCommunicator(backend, nccl)
