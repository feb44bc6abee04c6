"""helpers.run, the gpubp command in this process: what it returns is what the installed script's process gives,
and it leaves this process as it found it, or fails naming what was left changed."""

import os
import signal
import sys
import warnings

import pytest

import gpubp.cli
from gpubp.backend import device

from helpers import gpubp as run_gpubp
from helpers import run


@pytest.mark.parametrize(
    "args",
    [["--version"], ["train", "--help"], ["train", "--sizes", "x"], ["gradcheck", "--samples", "0"], ["gradcheck"]],
)
def test_run_gives_what_the_process_gives(tmp_path, args):
    ours, theirs = run(*args, cwd=tmp_path), run_gpubp(*args, cwd=tmp_path)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


def fake_main(action):
    def main(argv):
        action(argv)
        return 0

    return main


def test_the_call_sees_its_folder_an_environment_without_gpubp_device_and_no_stdin(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setenv("GPUBP_DEVICE", "gpu")
    monkeypatch.setattr(
        gpubp.cli,
        "main",
        fake_main(
            lambda argv: seen.update(cwd=os.getcwd(), device=os.environ.get("GPUBP_DEVICE"), stdin=sys.stdin.read())
        ),
    )
    here = os.getcwd()
    assert run("x", cwd=tmp_path).returncode == 0
    assert seen == {"cwd": str(tmp_path), "device": None, "stdin": ""}
    assert os.getcwd() == here and os.environ["GPUBP_DEVICE"] == "gpu"
    run("x", cwd=tmp_path, env={"GPUBP_DEVICE": "cpu", "PATH": os.environ["PATH"]})
    assert seen["device"] == "cpu" and os.environ["GPUBP_DEVICE"] == "gpu" and "HOME" in os.environ


def test_the_call_gets_a_fresh_pythons_warning_filters(tmp_path, monkeypatch):
    """pytest shows DeprecationWarnings; a gpubp process ignores them, and so main in run does (it would print one
    it held as a line of stderr)."""
    from gpubp.cli import tools

    real = tools.describe_machine
    monkeypatch.setattr(
        tools, "describe_machine", lambda: warnings.warn("old", DeprecationWarning, stacklevel=2) or real()
    )
    warnings.simplefilter("always")  # pytest's catch_warnings puts back the filters after the test
    result = run("info", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    monkeypatch.setattr(tools, "describe_machine", lambda: warnings.warn("odd", RuntimeWarning, stacklevel=2) or real())
    assert run("info", cwd=tmp_path).stderr == "gpubp info: warning: odd (RuntimeWarning)\n"


def test_an_exception_from_main_propagates_and_systemexit_is_a_status(tmp_path, monkeypatch):
    def fail(argv):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(gpubp.cli, "main", fake_main(fail))
    here = os.getcwd()
    with pytest.raises(ZeroDivisionError):
        run("x", cwd=tmp_path)
    assert os.getcwd() == here
    for code, status, stderr in [(None, 0, ""), (3, 3, ""), ("a message", 1, "a message\n")]:
        monkeypatch.setattr(gpubp.cli, "main", fake_main(lambda argv, code=code: sys.exit(code)))
        result = run("x", cwd=tmp_path)
        assert (result.returncode, result.stderr) == (status, stderr)


def test_whatever_main_leaves_changed_fails_by_name(tmp_path, monkeypatch):
    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(gpubp.cli, "main", fake_main(lambda argv: signal.signal(signal.SIGTERM, signal.SIG_IGN)))
    try:
        with pytest.raises(AssertionError, match="left the process changed: the signal handlers"):
            run("x", cwd=tmp_path)
    finally:
        signal.signal(signal.SIGTERM, handler)
    held = []
    monkeypatch.setattr(gpubp.cli, "main", fake_main(lambda argv: held.append(open(tmp_path / "kept", "w"))))
    try:
        with pytest.raises(AssertionError, match="left the process changed: an open file"):
            run("x", cwd=tmp_path)
    finally:
        held[0].close()
    umask = os.umask(0o022)
    monkeypatch.setattr(gpubp.cli, "main", fake_main(lambda argv: os.umask(0o077)))
    try:
        with pytest.raises(AssertionError, match="left the process changed: the umask"):
            run("x", cwd=tmp_path)
    finally:
        os.umask(umask)


def test_cached_answers_about_the_gpu_are_forgotten_if_there_were_none(tmp_path):
    device._backend.cache_clear()
    assert run("gradcheck", "--sizes", "3,2", cwd=tmp_path).returncode == 0
    assert device._backend.cache_info().currsize == 0
    device.get_backend("cpu")
    assert run("gradcheck", "--sizes", "3,2", cwd=tmp_path, env={**os.environ, "GPUBP_DEVICE": "cpu"}).returncode == 0
    assert device._backend.cache_info().currsize == 1  # kept: its answer for cpu was there before
