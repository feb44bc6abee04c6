"""How many BLAS threads a CPU fit or prediction uses: as many as pay off for the problem's size, at most what the
caller allows.

Placeholder policy until measured.
"""

from __future__ import annotations

import contextlib

from threadpoolctl import threadpool_info, threadpool_limits


def blas_threads_for(net, rows: int):
    """A context in which BLAS uses the threads that pay off for ``rows``-row GEMMs of ``net`` (CPU only)."""
    if net.backend.name != "cpu":
        return contextlib.nullcontext()
    allowed = min((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=None)
    if allowed is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=allowed, user_api="blas")
