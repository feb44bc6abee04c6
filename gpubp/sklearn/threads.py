"""How many BLAS threads a CPU fit or prediction of ``NetworkClassifier`` uses: one where the GEMMs are too small
for more to pay off, else what the caller allows, never more.

OpenBLAS splits even a small GEMM across every thread it has, and its threads wait for each other at every call:
up to about ten million multiply-adds per GEMM the hand-over costs as much as the second core saves on a quiet
machine, and when another process keeps a core busy, the thread that waits for it stalls every step: 2 threads
ran [64, 100, 10] / 100 at 4–80 thousand samples/s where 1 thread ran 345–800 thousand (BENCHMARKS.md).
The limit is set with threadpoolctl around each call, from the largest GEMM of one step, and only ever lowered:
inside ``GridSearchCV(n_jobs=k)`` joblib's workers already start with ``cpu_count // k`` threads each, and that
cap stays.
"""

from __future__ import annotations

import contextlib

from threadpoolctl import threadpool_info, threadpool_limits

ONE_THREAD_BELOW = 10_000_000  # multiply-adds in a step's largest GEMM; measured, see BENCHMARKS.md


def blas_threads(sizes, rows: int, allowed: int) -> int:
    """The BLAS threads for GEMMs of ``rows`` rows through the layers ``sizes``, at most ``allowed``."""
    largest = rows * max(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 1 if largest < ONE_THREAD_BELOW else allowed


def blas_threads_for(net, rows: int):
    """A context in which BLAS uses ``blas_threads`` threads for ``net`` (on the CPU; on a GPU it changes nothing)."""
    if net.backend.name != "cpu":
        return contextlib.nullcontext()
    allowed = min((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=None)
    if allowed is None:  # NumPy without a BLAS that threadpoolctl knows: nothing to limit
        return contextlib.nullcontext()
    return threadpool_limits(limits=blas_threads(net.sizes, rows, allowed), user_api="blas")
