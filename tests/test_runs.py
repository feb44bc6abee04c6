"""The life of a training run, through the ``gpubp`` command: run folders claimed by one process, ``--force``
replacing a whole run, file modes, folders that cannot be made, stdout closed early, damaged checkpoints, broken
plotting, resuming from elsewhere or with a smaller η, SIGTERM, stale temporary files, warnings, and the help.

The command runs in this process (``run``) except where the test needs processes of their own (``run_gpubp``,
``start``): two runs at once, a closed stdout, a signal, a plotting library that fails as it is imported."""

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import gpubp
from gpubp.cli.run_folder import claim
from gpubp.cli.settings import ADDED_LATER, key
from gpubp.errors import InputError
from gpubp.model.storage import atomic_write, current_umask

from helpers import epochs_in, ok, one_line_error, run, separable_data, start_gpubp, write_csv, write_mnist
from helpers import gpubp as run_gpubp


def start(*args, cwd, **popen):
    """``gpubp ARGS`` in the background, its output captured unless ``popen`` says otherwise."""
    return start_gpubp(*args, cwd=cwd, **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen})


LONG = ["--sizes", "400", "--epochs", 15, "--quiet"]  # about a second of training: long enough to overlap


@pytest.mark.slow  # processes at once
def test_two_trainings_with_the_same_out_never_share_it(tmp_path):
    processes = [start("train", *LONG, "--out", "run", cwd=tmp_path) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in processes]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    _, _, refused = next(r for r in results if r[0] == 2)
    assert len(refused.strip().splitlines()) == 1 and "Traceback" not in refused
    assert "in use by another gpubp train" in refused or "already holds a run" in refused
    assert epochs_in(tmp_path / "run") == list(range(1, 16))


@pytest.mark.slow  # processes at once
def test_default_runs_started_in_the_same_second_get_a_folder_each(tmp_path):
    processes = [start("train", *LONG, cwd=tmp_path) for _ in range(3)]
    assert [p.wait(timeout=300) for p in processes] == [0, 0, 0], [p.communicate() for p in processes]
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 3
    for folder in folders:
        assert (folder / "model.npz").is_file() and epochs_in(folder) == list(range(1, 16))


def test_force_replaces_the_whole_earlier_run(tmp_path):
    ok(run("train", "--epochs", 3, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=tmp_path))
    ok(run("train", "--epochs", 1, "--out", "run", "--force", "--quiet", cwd=tmp_path))
    assert not (tmp_path / "run" / "checkpoint.npz").exists() and epochs_in(tmp_path / "run") == [1]
    one_line_error(run("train", "--resume", "run", "--epochs", 5, cwd=tmp_path), "holds no checkpoint.npz")


def test_resume_never_replaces_the_model_of_another_run(tmp_path):
    for name in ("a", "b"):
        ok(run("train", "--epochs", 1, "--checkpoint-every", 1, "--out", name, "--quiet", cwd=tmp_path))
    foreign = (tmp_path / "b" / "model.npz").read_bytes()
    (tmp_path / "a" / "model.npz").write_bytes(foreign)
    one_line_error(run("train", "--resume", "a", "--epochs", 2, cwd=tmp_path), "is not from the run of")
    assert (tmp_path / "a" / "model.npz").read_bytes() == foreign
    ok(run("train", "--resume", "b", "--epochs", 2, "--quiet", cwd=tmp_path))  # its own model: replaced
    assert epochs_in(tmp_path / "b") == [1, 2]


def test_resume_to_fewer_epochs_than_the_model_reached_never_replaces_it(tmp_path):
    ok(run("train", "--epochs", 4, "--checkpoint-every", 2, "--out", "run", "--quiet", cwd=tmp_path))
    ok(run("train", "--resume", "run", "--epochs", 6, "--checkpoint-every", 0, "--quiet", cwd=tmp_path))
    model = (tmp_path / "run" / "model.npz").read_bytes()
    one_line_error(
        run("train", "--resume", "run", "--epochs", 5, cwd=tmp_path), "already holds this run's model after epoch 6"
    )
    assert (tmp_path / "run" / "model.npz").read_bytes() == model and epochs_in(tmp_path / "run") == list(range(1, 7))
    ok(run("train", "--resume", "run", "--epochs", 5, "--force", "--quiet", cwd=tmp_path))
    assert epochs_in(tmp_path / "run") == list(range(1, 6))


def test_force_that_fails_before_its_first_epoch_leaves_the_earlier_run_whole(tmp_path):
    ok(run("train", "--epochs", 2, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=tmp_path))
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    one_line_error(run("train", "--lr", "1e40", "--out", "run", "--force", cwd=tmp_path), "diverged in epoch 1")
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


@pytest.fixture
def umask():
    """Set the umask for this test (and the commands it starts), and put it back afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_files_and_folders_get_the_modes_the_umask_gives(tmp_path, umask, mask):
    umask(mask)
    ok(run("train", "--epochs", 1, "--checkpoint-every", 1, "--out", "deep/run", "--quiet", cwd=tmp_path))
    folder = tmp_path / "deep" / "run"
    assert mode(folder) == mode(tmp_path / "deep") == 0o777 & ~mask
    for name in ("model.npz", "metrics.jsonl", "learning_curve.png", "checkpoint.npz"):
        assert mode(folder / name) == 0o666 & ~mask, name
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    ok(run("predict", folder / "model.npz", "x.npz", "--out", "labels.txt", cwd=tmp_path))
    assert mode(tmp_path / "labels.txt") == 0o666 & ~mask
    assert current_umask() == mask


def test_a_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "labels.txt"
    target.write_text("old\n")
    target.chmod(0o604)
    atomic_write(target, lambda f: f.write(b"new\n"))
    net = gpubp.Network([3, 2], device="cpu")
    gpubp.save(net, tmp_path / "model.npz")
    (tmp_path / "model.npz").chmod(0o640)
    gpubp.save(net, tmp_path / "model.npz")
    assert target.read_text() == "new\n" and mode(target) == 0o604 and mode(tmp_path / "model.npz") == 0o640


@pytest.mark.parametrize("exception", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_atomic_write_leaves_no_temporary_file_on_any_exception(tmp_path, exception):
    def write(f):
        f.write(b"half")
        raise exception()

    with pytest.raises(exception):
        atomic_write(tmp_path / "model.npz", write)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "out", ["afile/run", "afile", "/proc/gpubp-no-such/run", "/sys/gpubp-run", "/proc/self", "/dev/null/run", ""]
)
def test_an_out_that_cannot_be_created_is_refused_before_training(tmp_path, out):
    (tmp_path / "afile").write_text("not a folder\n")
    result = run("train", "--out", out, cwd=tmp_path)
    assert "epoch" not in result.stdout
    line = one_line_error(result, out)
    assert any(why in line for why in ("is a file, not a folder", "cannot create the run folder", "not an empty"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    assert (tmp_path / "afile").read_text() == "not a folder\n"


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--epochs", 3, "--out", "run"],
        ["info"],
        pytest.param(["evaluate", "model/model.npz"], marks=pytest.mark.slow),  # as info and predict do
        ["predict", "model/model.npz", "x.npz"],
        ["train", "--help"],
    ],
)
def test_a_command_whose_stdout_closes_early_goes_on(tmp_path, args):
    """``gpubp train | head -1``: the reader is gone before the first line; training still saves its model."""
    ok(run("train", "--epochs", 1, "--out", "model", "--quiet", cwd=tmp_path))
    np.savez(tmp_path / "x.npz", X=np.zeros((5000, 64)))
    process = start(*args, cwd=tmp_path)
    process.stdout.close()  # before the command has written anything
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr and "Exception ignored" not in stderr
    if "--out" in args:
        assert (tmp_path / "run" / "model.npz").is_file() and epochs_in(tmp_path / "run") == [1, 2, 3]


@pytest.fixture(scope="module")
def checkpoint_arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoint")
    ok(run("train", "--epochs", 2, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=root))
    with np.load(root / "run" / "checkpoint.npz") as npz:
        return dict(npz)


def entry(arrays, name):
    return json.loads(str(arrays[name]))


DAMAGE = {
    "settings a list": lambda a: {"checkpoint_settings": []},
    "settings a number": lambda a: {"checkpoint_settings": 3},
    "a setting missing": lambda a: {
        "checkpoint_settings": {k: v for k, v in entry(a, "checkpoint_settings").items() if k != "batch_size"}
    },
    "an unknown setting": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "colour": "red"}},
    "epochs a string": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "epochs": "30"}},
    "lr negative": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "lr": -1}},
    "batch size a float": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "batch_size": 2.5}},
    "cost unknown": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "cost": "hinge"}},
    "seed null": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "seed": None}},
    "sizes of another net": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "sizes": [4, 2]}},
    "history row with an extra field": lambda a: {
        "checkpoint_history": [{**r, "lr": 3} for r in entry(a, "checkpoint_history")]
    },
    "history row without a field": lambda a: {
        "checkpoint_history": [{k: v for k, v in r.items() if k != "seconds"} for r in entry(a, "checkpoint_history")]
    },
    "history row a list": lambda a: {"checkpoint_history": [[1, 2, 3]]},
    "history epochs out of order": lambda a: {"checkpoint_history": entry(a, "checkpoint_history")[::-1]},
    "history epoch a string": lambda a: {
        "checkpoint_history": [{**r, "epoch": str(r["epoch"])} for r in entry(a, "checkpoint_history")]
    },
    "history cost a string": lambda a: {
        "checkpoint_history": [{**r, "training_cost": "low"} for r in entry(a, "checkpoint_history")]
    },
    "run id a number": lambda a: {"checkpoint_settings": {**entry(a, "checkpoint_settings"), "run_id": 7}},
    "rng of another bit generator": lambda a: {"checkpoint_rng": np.random.MT19937(0).state},
    "rng state mistyped": lambda a: {"checkpoint_rng": {**entry(a, "checkpoint_rng"), "state": "x"}},
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_checkpoint_is_one_line(tmp_path, checkpoint_arrays, case):
    changed = {
        name: np.array(json.dumps(value, default=lambda array: array.tolist()))
        for name, value in DAMAGE[case](checkpoint_arrays).items()
    }
    (tmp_path / "run").mkdir()
    np.savez(tmp_path / "run" / "checkpoint.npz", **{**checkpoint_arrays, **changed})
    before = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    one_line_error(run("train", "--resume", "run/checkpoint.npz", "--epochs", 5, cwd=tmp_path), "damaged")
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == before


def test_a_checkpoint_from_before_run_ids_and_later_settings_still_resumes(tmp_path, checkpoint_arrays):
    later = {"run_id", "lr_changes", *map(key, ADDED_LATER)}  # as stored: under their flags' names
    settings = {k: v for k, v in entry(checkpoint_arrays, "checkpoint_settings").items() if k not in later}
    (tmp_path / "run").mkdir()
    np.savez(
        tmp_path / "run" / "checkpoint.npz",
        **{**checkpoint_arrays, "checkpoint_settings": np.array(json.dumps(settings))},
    )
    ok(run("train", "--resume", "run", "--epochs", 3, "--quiet", cwd=tmp_path))
    run_id = gpubp.training.load_checkpoint(tmp_path / "run" / "checkpoint.npz", device="cpu")[1]["run_id"]
    with np.load(tmp_path / "run" / "model.npz") as model:
        assert str(model["run_id"]) == run_id and len(run_id) == 32


@pytest.mark.slow  # a process whose matplotlib fails as it is imported
@pytest.mark.parametrize("broken", ["backend", "import"])
def test_a_failing_plotting_backend_skips_the_plot_and_says_why(tmp_path, monkeypatch, broken):
    fake = None
    if broken == "backend":
        monkeypatch.setenv("MPLBACKEND", "no-such-backend")
    else:
        fake = tmp_path / "fake"
        (fake / "matplotlib").mkdir(parents=True)
        (fake / "matplotlib" / "__init__.py").write_text("raise RuntimeError('font cache is corrupt')\n")
    out = ok(run_gpubp("train", "--epochs", 1, "--out", "run", cwd=tmp_path, extra_path=fake))
    assert "no plot: matplotlib failed (" in out and (tmp_path / "run" / "model.npz").is_file()
    assert not (tmp_path / "run" / "learning_curve.png").exists()


def test_resume_from_another_working_folder_with_the_data_spelled_another_way(tmp_path):
    x, y = separable_data()
    work = tmp_path / "work"
    work.mkdir()
    write_csv(work / "data.csv", x, y)
    ok(run("train", "--data", "data.csv", "--epochs", 2, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=work))
    ok(
        run(
            "train", "--resume", "work/run", "--data", "./work/../work/data.csv", "--epochs", 4, "--quiet", cwd=tmp_path
        )
    )
    ok(run("train", "--data", "data.csv", "--epochs", 4, "--out", "whole", "--quiet", cwd=work))
    assert epochs_in(work / "run") == [1, 2, 3, 4]
    resumed, whole = (gpubp.load(work / name / "model.npz", device="cpu").parameters() for name in ("run", "whole"))
    assert all(np.array_equal(a, b) for a, b in zip(resumed[0] + resumed[1], whole[0] + whole[1]))


def test_resume_from_another_working_folder_finds_mnist_in_its_default_folder(tmp_path):
    work = tmp_path / "work"
    write_mnist(work / "data" / "mnist")
    ok(run("train", "--data", "mnist", "--epochs", 1, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=work))
    out = ok(run("train", "--resume", work / "run", "--epochs", 2, "--quiet", cwd=tmp_path))
    assert "60 training and 20 test samples" in out and epochs_in(work / "run") == [1, 2]


def test_a_folder_claimed_by_a_live_run_is_refused_and_released_when_it_ends(tmp_path):
    first = claim(tmp_path / "run")
    assert mode(tmp_path / "run" / ".gpubp.lock") == 0o666 & ~current_umask()
    with pytest.raises(InputError, match="in use by another gpubp train that is still running"):
        claim(tmp_path / "run")
    first.release()
    assert not (tmp_path / "run").exists()  # it created the folder and wrote nothing: nothing is left
    second = claim(tmp_path / "run")
    (tmp_path / "run" / "metrics.jsonl").write_text("")
    second.release()
    third = claim(tmp_path / "run")
    assert third.run_files() == ["metrics.jsonl"] and not third.created
    third.release()
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["metrics.jsonl"]


def test_a_run_that_fails_before_its_first_epoch_leaves_no_folder(tmp_path):
    one_line_error(run("train", "--lr", "1e40", cwd=tmp_path), "diverged in epoch 1")
    assert list((tmp_path / "runs").iterdir()) == []


def test_divergence_names_the_command_that_resumes_with_a_smaller_lr(tmp_path, monkeypatch, capsys):
    from gpubp.cli import main
    from gpubp.model import Network

    calls = []
    real = Network.is_finite
    # The first call checks the weights before training, then one call after each epoch: the 4th is epoch 3's.
    monkeypatch.setattr(Network, "is_finite", lambda net: real(net) and len(calls.append(1) or calls) != 4)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "5", "--checkpoint-every", "1", "--out", "run", "--quiet"]) == 2
    message = capsys.readouterr().err
    command_given = "gpubp train --resume run/checkpoint.npz --lr 0.3"
    assert command_given in message and len(message.strip().splitlines()) == 1
    assert main(command_given.split()[1:] + ["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "resuming after epoch 2" in out and "η = 0.3 from epoch 3" in out
    assert epochs_in(tmp_path / "run") == [1, 2, 3, 4, 5]
    settings = gpubp.training.load_checkpoint(tmp_path / "run" / "checkpoint.npz", device="cpu")[1]
    assert settings["lr"] == 0.3 and settings["lr_changes"] == [[3, 0.3]]


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_ends_the_run_saying_which_checkpoint_is_intact(tmp_path, signum):
    process = start(
        "train",
        "--sizes",
        "800",
        "--epochs",
        200,
        "--checkpoint-every",
        1,
        "--out",
        "run",
        "--quiet",
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "the checkpoint of epoch" in lines[0] and "--resume run/checkpoint.npz" in lines[0]
    assert ("stopped by SIGTERM" if signum == signal.SIGTERM else "interrupted") in lines[0]
    assert not list((tmp_path / "run").glob(".*.tmp"))
    kept = len(gpubp.training.load_checkpoint(checkpoint, device="cpu")[0].history)
    assert f"of epoch {kept} " in lines[0]


def test_a_run_removes_the_temporary_files_a_killed_run_left(tmp_path):
    ok(run("train", "--epochs", 2, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=tmp_path))
    folder = tmp_path / "run"
    stale = [
        folder / ".metrics.jsonl.k2j4h1x0.tmp",
        folder / ".checkpoint.npz.abc_1234.tmp",
        folder / ".model.npz.zz9.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half")
    (folder / ".notes.tmp").write_text("the user's\n")
    ok(run("train", "--resume", "run", "--epochs", 3, "--quiet", cwd=tmp_path))
    assert not any(path.exists() for path in stale) and (folder / ".notes.tmp").exists()


def test_metrics_are_appended_not_rewritten_and_follow_the_checkpoint_on_resume(tmp_path, monkeypatch):
    """Per epoch one line is appended; the file is forced to disk only at checkpoints and at the end; a resume
    starts it again from the checkpoint's epochs."""
    from gpubp.cli import main

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "45", "--checkpoint-every", "20", "--out", "run", "--quiet"]) == 0
    assert epochs_in(tmp_path / "run") == list(range(1, 46))
    assert len(synced) <= 10  # rewriting the file on every epoch took 45
    assert main(["train", "--resume", "run", "--epochs", "47", "--quiet"]) == 0  # from the epoch-40 checkpoint
    assert epochs_in(tmp_path / "run") == list(range(1, 48))


def test_a_warning_never_lengthens_a_one_line_error(tmp_path):
    (tmp_path / "big.csv").write_text("0,1e39,2\n1,2,3\n0,1,1\n1,2,2\n")
    result = run("train", "--data", "big.csv", "--dtype", "float32", "--batch-size", 2, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Warning" not in result.stderr


def test_a_warning_of_a_command_that_succeeds_is_one_line_at_the_end(tmp_path, monkeypatch, capsys):
    import warnings

    from gpubp.cli import main, tools

    real = tools.describe_machine
    monkeypatch.setattr(
        tools, "describe_machine", lambda: warnings.warn("odd\nmachine", RuntimeWarning, stacklevel=2) or real()
    )
    assert main(["info"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "gpubp info: warning: odd machine (RuntimeWarning)\n"
    assert captured.out.startswith("gpubp: ")


def test_train_help_shows_the_real_defaults(tmp_path):
    text = ok(run("train", "--help", cwd=tmp_path))
    assert "None" not in text and "(default: digits)" in text
