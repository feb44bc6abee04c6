"""Shared fixtures: float64 reference helpers and the GPU backend (skipped, with the reason, where none is usable)."""

import numpy as np
import pytest

from gpubp.backend import probe_gpu


@pytest.fixture
def cupy():
    """The CuPy module where a CUDA device answers; otherwise the test is skipped and says why."""
    module, why = probe_gpu()
    if module is None:
        pytest.skip(f"no usable GPU: {why}")
    return module


def random_problem(sizes, m, seed=0, dtype=np.float64):
    """``m`` random input rows for ``sizes`` and their integer labels."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], m)
