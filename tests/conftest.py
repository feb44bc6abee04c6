"""Shared fixtures: float64 reference helpers and the GPU backend (skipped, with the reason, where none is usable)."""

import os

import numpy as np
import pytest

# scikit-learn runs its array-API check of every estimator (NetworkClassifier's included) only with this set, and
# SciPy reads it once, when first imported: here, before any test module imports either.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

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
