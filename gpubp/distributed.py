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
"""

from __future__ import annotations

import time

from .errors import DeviceUnavailableError, InputError

KINDS = ("none", "mpi", "nccl")


class LocalCommunicator:
    """A single process: the whole mini-batch is its share, and its gradient is already the sum."""

    kind, rank, size = "none", 0, 1

    def __init__(self):
        self.seconds = 0.0

    def shard(self, rows: int) -> tuple[int, int]:
        return 0, rows

    def allreduce_sum(self, buffer) -> None:
        pass

    def abort(self, code: int) -> None:
        raise SystemExit(code)


class MpiCommunicator(LocalCommunicator):
    """MPI_COMM_WORLD through mpi4py; ``seconds`` counts the time spent in all-reduces."""

    kind = "mpi"

    def __init__(self, backend):
        super().__init__()
        self.backend = backend
        self.MPI = import_mpi()
        self.comm = self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def shard(self, rows: int) -> tuple[int, int]:
        base, extra = divmod(rows, self.size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (self.rank < extra)

    def allreduce_sum(self, buffer) -> None:
        start = time.perf_counter()
        host = self.backend.host_buffer(buffer)
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
        self.backend.store_from_host(buffer, host)
        self.seconds += time.perf_counter() - start

    def abort(self, code: int) -> None:
        """End every process of the job (a process that stopped alone would leave the others waiting)."""
        self.comm.Abort(code)


class NcclCommunicator(MpiCommunicator):
    """NCCL on the GPU, one process per device (see ``use_own_gpu``)."""

    kind = "nccl"

    def __init__(self, cupy):
        from cupy.cuda import nccl

        self.nccl, self.cupy = nccl, cupy
        super().__init__(backend=None)
        unique_id = self.comm.bcast(nccl.get_unique_id() if self.rank == 0 else None, root=0)
        self.nccl_comm = nccl.NcclCommunicator(self.size, unique_id, self.rank)

    def allreduce_sum(self, buffer) -> None:
        start = time.perf_counter()
        dtype = self.nccl.NCCL_FLOAT32 if buffer.dtype.itemsize == 4 else self.nccl.NCCL_FLOAT64
        stream = self.cupy.cuda.get_current_stream()
        self.nccl_comm.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size, dtype, self.nccl.NCCL_SUM,
                                 stream.ptr)
        self.seconds += time.perf_counter() - start  # enqueued: NCCL runs in order on the stream, no host wait


def use_own_gpu(cupy, MPI) -> None:
    """Make this process's current GPU the one numbered by its rank among the processes on its node."""
    local_rank = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    cupy.cuda.Device(local_rank % cupy.cuda.runtime.getDeviceCount()).use()


def import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise InputError(f"data-parallel training over MPI needs mpi4py ({exc}): pip install 'gpubp[mpi]', "
                         f"then start with mpiexec -n N gpubp train --distributed mpi") from None
    return MPI


def get_communicator(kind: str = "none", device=None):
    """The communicator for ``kind`` (``none``, ``mpi`` or ``nccl``).

    Call it before the first network: where there are GPUs, it gives each process of a node its own.
    """
    from .backend import get_backend, probe_gpu

    if kind not in KINDS:
        raise InputError(f"unknown --distributed {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "none":
        return LocalCommunicator()
    cupy, why = probe_gpu()
    if kind == "mpi":
        if cupy is not None and device != "cpu":  # before the backend exists: it stays on the current GPU
            use_own_gpu(cupy, import_mpi())
        return MpiCommunicator(get_backend(device))
    if cupy is None or device == "cpu":
        raise DeviceUnavailableError(f"--distributed nccl needs one CUDA GPU per process and CuPy: "
                                     f"{why if cupy is None else 'the CPU was requested'}; use --distributed mpi "
                                     f"on CPUs")
    try:
        use_own_gpu(cupy, import_mpi())
        return NcclCommunicator(cupy)
    except ImportError as exc:
        raise DeviceUnavailableError(f"--distributed nccl needs NCCL for CuPy ({exc}): pip install "
                                     f"'gpubp[nccl]' (the NCCL wheel of your CUDA major)") from None
