"""How many BLAS threads a CPU fit or prediction of ``NetworkClassifier`` uses: one where the GEMMs are too small
for more to pay off, else what the caller allows, never more.

OpenBLAS splits even a small GEMM across every thread it has, and its threads wait for each other at every call:
up to about ten million multiply-adds per GEMM the hand-over costs as much as the second core saves on a quiet
machine, and when another process keeps a core busy, the thread that waits for it stalls every step: 2 threads
ran [64, 100, 10] / 100 at 4–80 thousand samples/s where 1 thread ran 345–800 thousand (BENCHMARKS.md).
The limit is set with threadpoolctl around each call, from the largest GEMM of one step, and only ever lowered:
inside ``GridSearchCV(n_jobs=k)`` joblib's workers already start with ``cpu_count // k`` threads each, and that
cap stays. The BLAS libraries are discovered once per process (threadpoolctl's discovery inspects every loaded
library, about 3 ms, twice that for a ``threadpool_info`` and a ``threadpool_limits``: most of a short fit);
NumPy's BLAS, the one gpubp calls, is loaded before this module is, and a worker process discovers its own.
"""

from __future__ import annotations

import contextlib
import functools

from threadpoolctl import ThreadpoolController

ONE_THREAD_BELOW = 10_000_000  # multiply-adds in a step's largest GEMM; measured, see BENCHMARKS.md


def blas_threads(sizes, rows: int, allowed: int) -> int:
    """The BLAS threads for GEMMs of ``rows`` rows through the layers ``sizes``, at most ``allowed``."""
    largest = rows * max(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 1 if largest < ONE_THREAD_BELOW else allowed


def blas_threads_for(net, rows: int):
    """A context in which BLAS uses ``blas_threads`` threads for ``net`` (on the CPU; on a GPU it changes nothing)."""
    if net.backend.name != "cpu":
        return contextlib.nullcontext()
    controller = blas_controller()
    counts = [pool["num_threads"] for pool in controller.info()]
    if not counts:  # NumPy without a BLAS that threadpoolctl knows: nothing to limit
        return contextlib.nullcontext()
    threads = blas_threads(net.sizes, rows, min(counts))
    if all(count == threads for count in counts):  # already so: nothing to set, nothing to restore
        return contextlib.nullcontext()
    return controller.limit(limits=threads, user_api="blas")


@functools.cache
def blas_controller() -> ThreadpoolController:
    """This process's BLAS libraries, discovered on first use (their thread counts are read afresh at each call)."""
    return ThreadpoolController().select(user_api="blas")
