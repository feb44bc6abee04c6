"""The suite's fixtures and hooks (plain helpers live in helpers.py): the GPU backend (skipped, with the reason,
where none is usable), a stand-in CuPy that fails as CuPy fails, the deselection of CuPy-only tests where CuPy is
missing, and CI's rule on skips.

Under CI (``CI`` set to anything but ``0``/``false``, as CI services and ``.ci/run`` do) a test that skips fails
with its reason unless it is marked ``gpu``: CI installs every tool the tests use, so any other skip hides a test
that never ran.
"""

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from gpubp.backend import probe_gpu

import helpers
import kernel_sources
from helpers import FAKE_CUPY, cupy_modules, fail_the_skip, forget_the_gpu, in_ci, restore_cupy, stand_in_modules

# scikit-learn runs its array-API check of every estimator (NetworkClassifier's included) only with this set, and
# SciPy reads it once, when first imported: here, before any test module imports either.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# The GPU tests compare float32 results with strict float32 ones: an inherited CUPY_TF32=1 would turn CuPy's
# float32 GEMMs to TensorFloat-32 (read once, at the first). A test that wants TF32 sets it in a subprocess.
os.environ["CUPY_TF32"] = "0"

pytest_plugins = ["data_server"]  # its fixtures: server (a dataset server on 127.0.0.1) and env (its environment)


def pytest_configure(config):
    """``-m "not slow"`` is the fast loop: there the Hypothesis properties that run a command per example take fewer
    examples (``helpers.examples``); the whole suite runs every one with its full count."""
    helpers.FAST_LOOP = helpers.leaves_out_slow(config.getoption("markexpr"))


@pytest.fixture
def cupy():
    """The CuPy module where a CUDA device answers; otherwise the test is skipped and says why."""
    module, why = probe_gpu()
    if module is None:
        pytest.skip(f"no usable GPU: {why}")
    return module


@pytest.fixture(autouse=True)
def no_stand_in_outlives_its_test():
    """Every test leaves ``import cupy`` as it found it: a test that imports the stand-in CuPy and does not put
    CuPy back fails here, by name, instead of some later test failing for it (``no attribute 'RawKernel'``, "this
    machine has a usable GPU"). Importing the real CuPy for the first time is no leak."""
    before = cupy_modules()
    yield
    if stand_in_modules():
        leaked = stand_in_modules()
        restore_cupy({name: module for name, module in before.items() if name not in leaked})
        pytest.fail(f"the test left the stand-in CuPy imported: {leaked}")


@pytest.fixture
def fake_cupy(monkeypatch):
    """``install(failure)``: make ``import cupy`` give the stand-in of tests/fake_cupy, failing as ``failure`` names
    (see its docstring; ``""`` for a healthy GPU), in this process (``helpers.run`` included) and in the
    subprocesses of ``helpers.gpubp`` (pass ``extra_path=FAKE_CUPY``); returns the stand-in module. Afterwards the
    stand-in's modules are gone from ``sys.modules``, CuPy's own (where this process had imported it) are back, and
    every cached answer about the GPU is forgotten, so no later test sees the stand-in."""
    real = cupy_modules()

    def install(failure: str):
        monkeypatch.setenv("FAKE_CUPY_FAILURE", failure)
        for name in cupy_modules():
            del sys.modules[name]
        monkeypatch.syspath_prepend(str(FAKE_CUPY))
        forget_the_gpu()
        try:
            import cupy
        except ImportError:
            return None
        return cupy

    yield install
    restore_cupy(real)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI, the skip of a test not marked ``gpu`` becomes a failure that gives the skip's reason."""
    report = (yield).get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail") and item.get_closest_marker("gpu") is None:
        fail_the_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """In CI, a whole module skipped at collection (``pytest.importorskip`` at its top) fails the same way."""
    report = (yield).get_result()
    if report.skipped and in_ci():
        fail_the_skip(report)


def pytest_collection_modifyitems(config, items):
    """Without CuPy, the tests marked ``cupy`` (they read CuPy's kernel code generator; no GPU needed) are
    deselected, not skipped, and the summary says so: a new user's environment has no CuPy, and ``.ci/run`` runs
    them in a second environment that has it."""
    if importlib.util.find_spec("cupy") is not None:
        return
    needs_cupy = [item for item in items if item.get_closest_marker("cupy") is not None]
    if needs_cupy:
        items[:] = [item for item in items if item.get_closest_marker("cupy") is None]
        config.hook.pytest_deselected(items=needs_cupy)
        config.stash[NEEDS_CUPY] = len(needs_cupy)


NEEDS_CUPY = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, config):
    count = config.stash.get(NEEDS_CUPY, 0)
    if count:
        terminalreporter.write_line(
            f"{count} tests marked cupy were deselected: they need CuPy installed (no GPU), "
            f"which this environment lacks; .ci/run runs them in a second environment"
        )


@pytest.fixture(scope="session")
def host_kernels(tmp_path_factory):
    """Every kernel body of gpubp/backend/kernels.py built by g++ as host C++ (tests/kernel_sources.py), loaded."""
    gpp = shutil.which("g++")
    if gpp is None:
        pytest.skip("g++ is not installed")
    folder = tmp_path_factory.mktemp("kernels")
    source, library = folder / "kernels.cpp", folder / "kernels.so"
    source.write_text(kernel_sources.host_source())
    # -ffp-contract=off: NumPy rounds after every operation, so the host build must not fuse a*b+c either.
    subprocess.run(
        [gpp, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return ctypes.CDLL(str(library))
