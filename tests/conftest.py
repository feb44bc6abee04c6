"""Shared test machinery: the GPU backend (skipped, with the reason, where none is usable), a stand-in CuPy that fails
as CuPy fails, tools looked up beside this Python, float64 reference problems, and CI's rule on skips.

Under CI (``CI`` set to anything but ``0``/``false``, as CI services and ``.ci/run`` do) a test that skips fails
with its reason unless it is marked ``gpu``: CI installs every tool the tests use, so any other skip hides a test
that never ran.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from gpubp.backend import device, probe_gpu

# scikit-learn runs its array-API check of every estimator (NetworkClassifier's included) only with this set, and
# SciPy reads it once, when first imported: here, before any test module imports either.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

FAKE_CUPY = Path(__file__).parent / "fake_cupy"
pytest_plugins = ["data_server"]  # its fixtures: server (a dataset server on 127.0.0.1) and env (its environment)


@pytest.fixture
def cupy():
    """The CuPy module where a CUDA device answers; otherwise the test is skipped and says why."""
    module, why = probe_gpu()
    if module is None:
        pytest.skip(f"no usable GPU: {why}")
    return module


def forget_the_gpu():
    """Clear gpubp's cached answers about CuPy and the GPU, so that the next request asks again."""
    for cached in (device.load_cupy, device.find_gpus, device.probe_gpu, device._backend):
        cached.cache_clear()


def cupy_modules() -> dict:
    """The ``cupy`` modules this process has imported, by name: CuPy's own, the stand-in's, or none."""
    return {name: module for name, module in sys.modules.items() if name == "cupy" or name.startswith("cupy.")}


def restore_cupy(modules: dict) -> None:
    """Put back exactly the ``cupy`` modules of ``modules`` and forget every cached answer about the GPU."""
    for name in cupy_modules():
        del sys.modules[name]
    sys.modules.update(modules)
    forget_the_gpu()


def stand_in_modules() -> list[str]:
    """The names of the imported ``cupy`` modules that are the stand-in's (tests/fake_cupy), not CuPy's."""
    return sorted(
        name
        for name, module in cupy_modules().items()
        if Path(getattr(module, "__file__", None) or "").is_relative_to(FAKE_CUPY)
    )


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
    (see its docstring; ``""`` for a healthy GPU), in this process and in the ``gpubp`` subprocesses of
    ``cli_helpers`` (pass ``extra_path=FAKE_CUPY``); returns the stand-in module. Afterwards the stand-in's modules
    are gone from ``sys.modules``, CuPy's own (where this process had imported it) are back, and every cached
    answer about the GPU is forgotten, so no later test sees the stand-in."""
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


def find_tool(name: str):
    """The path of the program ``name``: beside this Python first (a virtual environment's scripts need not be on
    PATH, as when .ci/run runs .venv/bin/python), then on PATH; ``None`` where neither has it."""
    return shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def random_problem(sizes, m, seed=0, dtype=np.float64):
    """``m`` random input rows for ``sizes`` and their integer labels."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], m)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def fail_the_skip(report) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where only tests marked gpu may skip: {reason}"


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
