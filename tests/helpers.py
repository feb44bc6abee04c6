"""What the tests share, beside conftest.py's fixtures and hooks: the ``gpubp`` command run in this process
(``run``, fast) or in a subprocess (``gpubp``, for what needs a real process), small datasets in the formats it
reads, tools looked up beside this Python, float64 reference problems, the stand-in CuPy's bookkeeping, and CI's
rule on skips.

``run`` and ``gpubp`` take the same arguments and return the same ``subprocess.CompletedProcess`` (``returncode``,
``stdout``, ``stderr``), so a test moves between them by changing one name. ``run`` calls ``gpubp.cli.main`` and
leaves the process as it found it; a test stays with ``gpubp`` only where it needs a process of its own: the
installed script itself, signals, ``kill -9``, a closed stdout, two processes at once, a module that must fail to
import (``extra_path``), ``mpiexec``.
"""

import contextlib
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FAKE_CUPY = Path(__file__).parent / "fake_cupy"

# ----- the gpubp command in a subprocess --------------------------------------------------------------------------


def command() -> list[str]:
    """The installed ``gpubp`` script beside this Python where there is one, else ``python -m gpubp``."""
    script = Path(sys.executable).parent / "gpubp"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gpubp"]


def environment(extra_path=None) -> dict:
    """This process's environment, running this checkout's code, with the device left to the command line."""
    env = dict(os.environ)
    env.pop("GPUBP_DEVICE", None)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [extra_path, REPO] if p)
    return env


def gpubp(*args, cwd, env=None, extra_path=None, timeout=300) -> subprocess.CompletedProcess:
    """``gpubp ARGS`` in ``cwd``, in a subprocess of its own, with ``env`` (default: ``environment(extra_path)``);
    returns the completed process."""
    return subprocess.run(
        command() + [str(a) for a in args],
        cwd=cwd,
        env=environment(extra_path) if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def default_signals() -> None:
    """In the child: SIGINT and SIGTERM as a shell started from a terminal leaves them. A child inherits SIG_IGN, and
    gpubp leaves an ignored signal ignored (as nohup asks), so a test run from nohup or a CI runner that ignores
    SIGINT would otherwise send signals that the run never sees."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_gpubp(*args, cwd, env=None, **popen) -> subprocess.Popen:
    """``gpubp ARGS`` in ``cwd``, started in the background; its output goes nowhere unless ``popen`` says where."""
    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}
    return subprocess.Popen(
        command() + [str(a) for a in args],
        cwd=cwd,
        env=environment() if env is None else env,
        stdin=subprocess.DEVNULL,
        preexec_fn=default_signals,
        **popen,
    )


# ----- the gpubp command in this process --------------------------------------------------------------------------

# The warning filters a fresh Python starts with (a subprocess's): pytest shows DeprecationWarnings that a gpubp
# process ignores, and gpubp prints every warning a successful command held as a line of its stderr.
PYTHON_WARNING_FILTERS = [
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
]


def run(*args, cwd, env=None) -> subprocess.CompletedProcess:
    """``gpubp ARGS`` in ``cwd``, in this process: ``gpubp.cli.main`` with stdout and stderr captured, stdin empty,
    the working folder changed for the call, the environment ``env`` (default: this process's without
    ``$GPUBP_DEVICE``, as ``gpubp`` runs it) and a fresh Python's warning filters.

    Returns what ``gpubp`` returns: argparse's ``SystemExit`` (``--help``, a usage error) becomes its exit status,
    as in a process; anything else ``main`` raises propagates, so a traceback fails the test where it happens.
    Afterwards the process is as it was: the environment is put back whatever changed it (importing scikit-learn
    sets ``KMP_*`` variables), and so are the cached answers about the GPU where there were none before; the
    working folder, umask, signal handlers, standard streams, warning filters and ``sys.path`` must be as they
    were, and no file under the temporary folder still open, or an ``AssertionError`` names what ``main`` left
    changed.
    """
    from gpubp.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    before = process_state()
    empty_caches = [cached for cached in gpu_caches() if cached.cache_info().currsize == 0]
    saved_environ = dict(os.environ)
    here = os.getcwd()
    try:
        if env is None:
            os.environ.pop("GPUBP_DEVICE", None)
        else:
            os.environ.clear()
            os.environ.update(env)
        with contextlib.ExitStack() as stack:
            stack.enter_context(warnings.catch_warnings())
            warnings.resetwarnings()
            for action, category, module in reversed(PYTHON_WARNING_FILTERS):
                warnings.filterwarnings(action, category=category, module=module)
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            stack.enter_context(redirect_stdin(io.StringIO()))
            os.chdir(cwd)
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse: --help, --version, a usage error
                status = exit_status(exc)
            left = [what for what, ok in (("stdout", sys.stdout is out), ("stderr", sys.stderr is err)) if not ok]
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved_environ)
        for cached in empty_caches:
            cached.cache_clear()
    left += [what for what, value in process_state().items() if value != before[what]]
    assert not left, f"gpubp.cli.main({argv}) left the process changed: {', '.join(left)}"
    if status == 128 + signal.SIGINT:  # Ctrl-C in pytest: stop the tests, as it would have without main's handler
        raise KeyboardInterrupt
    return subprocess.CompletedProcess(["gpubp", *argv], status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def redirect_stdin(stream):
    saved, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = saved


def exit_status(exc: SystemExit) -> int:
    """The status a process exiting with ``exc`` has: its code, 0 for none, 1 (after printing it) for a message."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def gpu_caches():
    from gpubp.backend import device

    return [device.load_cupy, device.find_gpus, device.probe_gpu, device._backend]


def process_state() -> dict:
    """What a ``gpubp`` command could change in its process and must put back when it runs in the tests'."""
    return {
        "the working folder": os.getcwd(),
        "the umask": umask(),
        "the signal handlers": {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)},
        "sys.stdout or sys.stderr": (sys.stdout, sys.stderr, sys.stdin),
        "the warning filters": list(warnings.filters),
        "sys.path": list(sys.path),
        "an open file": open_files(),
    }


def umask() -> int:
    """The umask, read without changing it (``os.umask`` can only be read by setting it)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))


def open_files() -> set:
    """The files (not sockets or pipes) under the temporary folder that this process holds open."""
    where = os.path.realpath(tempfile.gettempdir())
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(where + os.sep):
            held.add((fd, target))
    return held


# ----- results ----------------------------------------------------------------------------------------------------


def ok(result) -> str:
    """The stdout of a command that succeeded with no traceback."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def one_line_error(result, message) -> str:
    """The one stderr line, starting with ``gpubp`` and holding ``message``, of a command that exited with 2."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpubp"), result.stderr
    assert message in lines[0], lines[0]
    return lines[0]


def metrics_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def epochs_in(folder: Path) -> list[int]:
    return [m["epoch"] for m in metrics_of(folder)]


def weights_of(path) -> list:
    import gpubp

    weights, biases = gpubp.load(path, device="cpu").parameters()
    return weights + biases


def kill_after_a_checkpoint(train, cwd):
    """Start ``gpubp TRAIN --out killed`` and SIGKILL it once its first checkpoint is written; returns the
    checkpoint's path and how many epochs it holds (at least one, fewer than the run's 60)."""
    from gpubp.training import load_checkpoint  # a submodule: ``import gpubp`` alone need not have loaded it

    process = start_gpubp(*train, "--out", "killed", cwd=cwd)
    checkpoint = cwd / "killed" / "checkpoint.npz"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed: make it longer"
    assert not (cwd / "killed" / "model.npz").exists()
    killed_after = len(load_checkpoint(checkpoint, device="cpu")[0].history)
    assert 1 <= killed_after < 60
    return checkpoint, killed_after


# ----- data files -------------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train=60, n_test=20, gz=False, seed=0) -> Path:
    """A tiny MNIST folder: the four IDX files with random 28×28 images and digit labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files = {
            f"{prefix}-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n, 28, 28)), 0x803),
            f"{prefix}-labels-idx1-ubyte": idx_bytes(np.arange(n) % 10, 0x801),
        }
        for name, data in files.items():
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


def separable_data(n=120, features=5, classes=3, seed=0):
    """Rows whose class is readable from the features, so that training has something to learn."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.random((n, features)) * 0.2
    x[np.arange(n), y] += 0.8
    return x, y


def write_csv(path: Path, x, y, header=True) -> Path:
    lines = [",".join(["label"] + [f"f{j}" for j in range(x.shape[1])])] if header else []
    lines += [",".join([str(int(label))] + [f"{v:.6f}" for v in row]) for row, label in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def random_problem(sizes, m, seed=0, dtype=np.float64):
    """``m`` random input rows for ``sizes`` and their integer labels."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], m)


# ----- tools ------------------------------------------------------------------------------------------------------


def find_tool(name: str):
    """The path of the program ``name``: beside this Python first (a virtual environment's scripts need not be on
    PATH, as when .ci/run runs .venv/bin/python), then on PATH; ``None`` where neither has it."""
    return shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


# ----- the stand-in CuPy (tests/fake_cupy) ------------------------------------------------------------------------


def forget_the_gpu():
    """Clear gpubp's cached answers about CuPy and the GPU, so that the next request asks again."""
    for cached in gpu_caches():
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


# ----- the fast loop: pytest -m "not slow" ------------------------------------------------------------------------

FAST_LOOP = False  # set by conftest.py's pytest_configure, before any test module is imported


def leaves_out_slow(markexpr: str) -> bool:
    """Whether ``pytest -m MARKEXPR`` deselects a test marked ``slow`` and nothing else, as ``-m "not slow"`` does."""
    if not markexpr.strip():
        return False
    try:  # pytest's own reading of the expression (its module is private: fall back to the plain spelling)
        from _pytest.mark.expression import Expression

        return not Expression.compile(markexpr).evaluate(lambda name, **_: name == "slow")
    except Exception:
        return " ".join(markexpr.split()) == "not slow"


def examples(n: int) -> int:
    """Hypothesis's ``max_examples`` for a property whose every example runs a command: ``n`` in the whole suite (as
    CI runs it), a fifth of it, at least 5, in the fast loop."""
    return max(n // 5, 5) if FAST_LOOP else n


# ----- CI's rule on skips -----------------------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def fail_the_skip(report) -> None:
    """Turn a skipped test's report into a failure that gives the skip's reason."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where only tests marked gpu may skip: {reason}"
