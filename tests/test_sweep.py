"""``gpubp sweep``: the grid and its groups, members equal to ``gpubp train`` runs, selection on validation (never
the test set), the run folder's files, and every class of bad input refused in one line with no folder left."""

import csv
import json
import signal
import subprocess
import time

import numpy as np
import pytest
from test_distributed import mpiexec, needs_mpiexec

import gpubp

from helpers import gpubp as gpubp_process
from helpers import ok, one_line_error, run, separable_data, start_gpubp, weights_of, write_csv

SMALL = ["--epochs", "3", "--quiet", "--dtype", "float64"]


@pytest.fixture
def data(tmp_path):
    x, y = separable_data(n=150, features=6, classes=3, seed=2)
    return write_csv(tmp_path / "rows.csv", x, y)


def summary(folder) -> list[dict]:
    with open(folder / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def metrics(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_the_grid_is_the_product_and_every_file_is_written(tmp_path, data):
    out = ok(
        run(
            "sweep",
            "--data",
            data,
            "--lr",
            "0.5,3",
            "--l2",
            "0,0.1",
            "--seed",
            "0,1,2",
            *SMALL,
            "--out",
            "s",
            cwd=tmp_path,
        )
    )
    folder = tmp_path / "s"
    assert "grid: 12 configurations (3 --seed × 2 --lr × 2 --l2) in 1 network array" in out
    rows = summary(folder)
    assert sorted(int(r["member"]) for r in rows) == list(range(12))
    scores = [float(r["validation_accuracy"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert {(r["seed"], r["lr"], r["l2"]) for r in rows} == {
        (s, lr, l2) for s in "012" for lr in ("0.5", "3") for l2 in ("0", "0.1")
    }
    lines = metrics(folder)
    assert len(lines) == 12 * 3
    assert {(m["member"], m["epoch"]) for m in lines} == {(k, e) for k in range(12) for e in (1, 2, 3)}
    assert all(set(m["config"]) == {"seed", "lr", "l2"} and "test_accuracy" not in m for m in lines)
    best = gpubp.load(folder / "model.npz", device="cpu")
    assert isinstance(best, gpubp.Network) and not isinstance(best, gpubp.NetworkArray)
    assert (folder / "validation_curves.png").stat().st_size > 0
    evaluated = ok(run("evaluate", folder / "model.npz", cwd=tmp_path))
    assert "test split recorded in the model" in evaluated
    assert not (folder / "members").exists()


@pytest.mark.parametrize(
    "shared, lists",
    [
        (["--optimizer", "momentum"], {"lr": "0.5,2", "momentum": "0.5,0.9", "seed": "3,4"}),
        (["--optimizer", "adam", "--epochs", "6"], {"lr": "0.01,0.05", "patience": "1,2", "l2": "0,0.3"}),
        (["--sizes", "5,4", "--activation", "relu", "--init", "glorot"], {"dropout": "0/0.2,0.1", "seed": "0,5"}),
    ],
)
def test_members_equal_gpubp_train_runs_with_the_same_flags(tmp_path, data, shared, lists):
    flags = ["--data", data, "--sizes", "7", "--validation-fraction", "0.2", *SMALL, *shared]
    listed = [text for name, values in lists.items() for text in (f"--{name}", values)]
    ok(run("sweep", *flags, *listed, "--save-all", "--out", "s", cwd=tmp_path))
    rows = summary(tmp_path / "s")
    assert len(rows) == np.prod([len(v.split("/" if name == "dropout" else ",")) for name, v in lists.items()])
    for row in rows:
        member = row["member"]
        own = [text for name in lists for text in (f"--{name}", row[name])]
        ok(run("train", *flags, *own, "--out", f"t{member}", cwd=tmp_path))
        alone = weights_of(tmp_path / f"t{member}" / "model.npz")
        swept = weights_of(tmp_path / "s" / "members" / f"{int(member):03d}.npz")
        for a, b in zip(swept, alone):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    best = rows[0]["member"]
    np.testing.assert_array_equal(
        np.concatenate([w.ravel() for w in weights_of(tmp_path / "s" / "model.npz")]),
        np.concatenate([w.ravel() for w in weights_of(tmp_path / "s" / "members" / f"{int(best):03d}.npz")]),
    )


def test_knobs_that_change_shapes_or_the_shared_loop_split_the_grid_into_arrays(tmp_path, data):
    out = ok(
        run(
            "sweep",
            "--data",
            data,
            "--sizes",
            "4/8,3",
            "--batch-size",
            "5,10",
            "--lr",
            "1,2",
            *SMALL,
            "--out",
            "s",
            cwd=tmp_path,
        )
    )
    assert "grid: 8 configurations" in out and "in 4 network arrays" in out
    rows = summary(tmp_path / "s")
    groups = {}
    for r in rows:
        groups.setdefault(r["group"], set()).add((r["sizes"], r["batch-size"]))
    assert len(groups) == 4 and all(len(v) == 1 for v in groups.values())


def test_a_knob_that_a_listed_choice_does_not_read_is_dropped_there_and_counted_once(tmp_path, data):
    out = ok(
        run(
            "sweep",
            "--data",
            data,
            "--optimizer",
            "sgd,momentum",
            "--momentum",
            "0.5,0.9",
            *SMALL,
            "--out",
            "s",
            cwd=tmp_path,
        )
    )
    assert "grid: 3 configurations" in out
    assert sorted((r["optimizer"], r["momentum"]) for r in summary(tmp_path / "s")) == [
        ("momentum", "0.5"),
        ("momentum", "0.9"),
        ("sgd", "-"),
    ]


def test_selection_uses_validation_and_the_test_score_is_the_best_members_only(tmp_path, data):
    ok(run("sweep", "--data", data, "--lr", "0.01,3", "--seed", "0,1", *SMALL, "--out", "s", cwd=tmp_path))
    rows = summary(tmp_path / "s")
    assert rows[0]["test_accuracy"] != "" and all(r["test_accuracy"] == "" for r in rows[1:])
    best_validation = max(float(r["validation_accuracy"]) for r in rows)
    assert float(rows[0]["validation_accuracy"]) == best_validation
    ok(
        run(
            "sweep",
            "--data",
            data,
            "--lr",
            "0.01,3",
            "--seed",
            "0,1",
            *SMALL,
            "--report-test",
            "all",
            "--out",
            "all",
            cwd=tmp_path,
        )
    )
    every = summary(tmp_path / "all")
    assert all(r["test_accuracy"] != "" for r in every)
    assert [r["member"] for r in every] == [r["member"] for r in rows]  # the test scores change no ranking


def test_selection_follows_validation_where_the_test_set_would_choose_otherwise(tmp_path):
    """The test rows' labels are scrambled: a sweep that peeked at them would pick the worst member."""
    x, y = separable_data(n=200, features=6, classes=3, seed=4)
    test_x, test_y = separable_data(n=60, features=6, classes=3, seed=5)
    np.savez(tmp_path / "d.npz", X=x, y=y, X_test=test_x, y_test=(test_y + 1) % 3)
    ok(
        run(
            "sweep",
            "--data",
            tmp_path / "d.npz",
            "--lr",
            "0.001,3",
            *SMALL,
            "--report-test",
            "all",
            "--out",
            "s",
            cwd=tmp_path,
        )
    )
    rows = summary(tmp_path / "s")
    assert rows[0]["lr"] == "3"
    assert float(rows[0]["test_accuracy"]) < float(rows[1]["test_accuracy"])


def test_regression_sweeps_rank_by_validation_r2(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((120, 3))
    np.savez(tmp_path / "r.npz", X=x, y=x @ [1.0, -2.0, 0.5])
    ok(
        run(
            "sweep",
            "--data",
            tmp_path / "r.npz",
            "--output",
            "identity",
            "--activation",
            "tanh",
            "--lr",
            "0.01,0.1",
            *SMALL,
            "--out",
            "s",
            cwd=tmp_path,
        )
    )
    rows = summary(tmp_path / "s")
    assert "validation_r2" in rows[0] and "test_r2" in rows[0]
    assert float(rows[0]["validation_r2"]) >= float(rows[1]["validation_r2"])


def test_force_replaces_only_the_earlier_sweeps_files(tmp_path, data):
    ok(run("sweep", "--data", data, "--lr", "1,2", *SMALL, "--save-all", "--out", "s", cwd=tmp_path))
    (tmp_path / "s" / "notes.txt").write_text("mine")
    refused = run("sweep", "--data", data, "--lr", "1,2", *SMALL, "--out", "s", cwd=tmp_path)
    one_line_error(refused, "already holds a run")
    ok(run("sweep", "--data", data, "--lr", "1,3", *SMALL, "--out", "s", "--force", cwd=tmp_path))
    assert (tmp_path / "s" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "s" / "members").exists()  # the earlier sweep's, and this one saved none
    assert {r["lr"] for r in summary(tmp_path / "s")} == {"1", "3"}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--lr", "0.5,x"], "--lr 'x': not a number"),
        (["--lr", "1,-1"], "--lr (the learning rate η) must be a finite number > 0"),
        (["--seed", "0,0"], "--seed lists 0 twice"),
        (["--epochs", "2,1.5"], "--epochs '1.5': not a whole number"),
        (["--optimizer", "sgd,bogus"], "--optimizer (the update rule) must be one of"),
        (["--sizes", "30/0"], "--sizes '0': layer widths must be >= 1"),
        (["--betas", "0.9/0.9,0.99", "--optimizer", "adam"], "--betas '0.9': takes two numbers"),
        (["--test-fraction", "0.1,0.2"], "--test-fraction takes one value in a sweep"),
        (["--validation-fraction", "0.1,0.2"], "--validation-fraction takes one value in a sweep"),
        (["--checkpoint-every", "1,2"], "--checkpoint-every takes one value in a sweep"),
        (["--validation-fraction", "0"], "leaves nothing to choose the best member on"),
        (["--momentum", "0.5,0.9"], "--momentum applies to --optimizer momentum or nesterov"),
        (["--warmup-epochs", "0,3"], "the grid's configuration --warmup-epochs 3"),
        (["--output", "identity,sigmoid"], "--output lists identity"),
        (["--batch-size", "10,5000"], "fewer than one mini-batch"),
        (["--data", "missing.csv"], "missing.csv"),
        (["--sizes", "30/100,30", "--dropout", "0.2/0.1,0.3"], "configuration --sizes 30 --dropout 0.1,0.3: --dropout"),
        (["--sizes", "30/9,9", "--activation", "relu/relu,tanh"], "--sizes 30 --activation relu,tanh: --activation"),
        (["--sizes", "30/6,9,4"], "the grid's configuration --sizes 6,9,4: --sizes 6,9,4 looks like all layer widths"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_folder(tmp_path, data, flags, message):
    if "--data" not in flags:
        flags = ["--data", data, *flags]
    result = run("sweep", *SMALL, *flags, "--out", "s", cwd=tmp_path)
    one_line_error(result, message)
    assert not (tmp_path / "s").exists()


# ----- checkpoints and --resume ------------------------------------------------------------------------------------

LONG = ["--sizes", "6/9", "--lr", "0.5,2", "--l2", "0,0.5", "--epochs", "150", "--quiet", "--checkpoint-every", "1"]


def member_parameters(folder) -> dict:
    return {p.name: weights_of(p) for p in sorted((folder / "members").glob("*.npz"))}


@pytest.mark.slow
def test_a_sweep_killed_mid_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, data):
    flags = ["sweep", "--data", data, *LONG, "--save-all"]
    whole = gpubp_process(*flags, "--out", "whole", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    process = start_gpubp(*flags, "--out", "killed", cwd=tmp_path)
    first = tmp_path / "killed" / "checkpoints" / "group-000.npz"
    deadline = time.monotonic() + 120
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the sweep ended before it could be killed: make it longer"
    assert not (tmp_path / "killed" / "model.npz").exists()
    resumed = gpubp_process("sweep", "--resume", "killed", "--save-all", "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    expected, got = member_parameters(tmp_path / "whole"), member_parameters(tmp_path / "killed")
    assert list(expected) == list(got) and len(got) == 8
    for name in expected:
        assert all(np.array_equal(a, b) for a, b in zip(expected[name], got[name])), name
    assert summary(tmp_path / "whole") == summary(tmp_path / "killed")
    drop_time = [
        {k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in metrics(tmp_path / "whole")
    ]
    assert drop_time == [
        {k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in metrics(tmp_path / "killed")
    ]


def test_resume_continues_a_checkpointed_sweep_and_refuses_a_changed_grid_or_data(tmp_path, data):
    flags = ["--data", data, "--lr", "1,2", "--epochs", "4", "--checkpoint-every", "2", "--quiet", "--dtype", "float64"]
    ok(run("sweep", *flags, "--out", "s", cwd=tmp_path))
    assert sorted(p.name for p in (tmp_path / "s" / "checkpoints").iterdir()) == ["group-000.npz"]
    one_line_error(
        run("sweep", "--resume", "s", "--lr", "1,3", cwd=tmp_path), "--lr 1,3 differs from the sweep's (1,2)"
    )
    one_line_error(run("sweep", "--resume", "s", "--seed", "1", cwd=tmp_path), "--seed 1 differs from the sweep's")
    one_line_error(run("sweep", "--resume", "s", "--out", "t", cwd=tmp_path), "a sweep resumes in its own folder")
    (tmp_path / "empty").mkdir()
    one_line_error(run("sweep", "--resume", "empty", cwd=tmp_path), "holds no sweep checkpoint")
    before = summary(tmp_path / "s")
    ok(run("sweep", "--resume", "s", cwd=tmp_path))  # its every group had ended: the same result again
    assert summary(tmp_path / "s") == before
    x, y = separable_data(n=150, features=6, classes=3, seed=3)
    write_csv(data, x, y)
    one_line_error(run("sweep", "--resume", "s", cwd=tmp_path), "has changed since")


def test_train_flags_other_than_the_sweeps_still_train_one_network(tmp_path, data):
    """The flags moved into shared functions: gpubp train still runs and writes its folder."""
    ok(run("train", "--data", data, *SMALL, "--out", "t", cwd=tmp_path))
    assert {p.name for p in (tmp_path / "t").iterdir()} == {"model.npz", "metrics.jsonl", "learning_curve.png"}


# ----- under mpiexec -----------------------------------------------------------------------------------------------


def without_times(folder) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("seconds", "samples_per_s")} for m in metrics(folder)]


@pytest.mark.slow
@needs_mpiexec
def test_a_sweep_split_across_ranks_equals_the_one_process_sweep(tmp_path, data):
    flags = ["sweep", "--data", data, "--sizes", "5/8", "--lr", "1,2,3", "--seed", "0,1", *SMALL, "--save-all"]
    flags += ["--report-test", "all", "--patience", "2"]
    ok(run(*flags, "--out", "one", cwd=tmp_path))
    parallel = mpiexec((2, None, flags + ["--distributed", "mpi", "--out", "two"]), cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stdout + parallel.stderr
    assert "2 processes over mpi" in parallel.stdout
    assert summary(tmp_path / "one") == summary(tmp_path / "two")
    assert without_times(tmp_path / "one") == without_times(tmp_path / "two")
    one, two = member_parameters(tmp_path / "one"), member_parameters(tmp_path / "two")
    assert list(one) == list(two) and len(one) == 12
    for name in one:
        for a, b in zip(one[name], two[name]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_a_stopped_sweep_says_which_checkpoints_are_intact(tmp_path, data):
    process = start_gpubp(
        "sweep", "--data", data, *LONG, "--out", "stopped", cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    first = tmp_path / "stopped" / "checkpoints" / "group-000.npz"
    deadline = time.monotonic() + 120
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1].endswith("are intact: gpubp sweep --resume stopped continues"), err


def test_a_member_that_diverges_is_ranked_last_and_the_others_go_on(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((200, 3))
    np.savez(tmp_path / "r.npz", X=x * 10, y=x @ [10.0, -20.0, 5.0])
    flags = ["--data", tmp_path / "r.npz", "--output", "identity", "--activation", "identity", "--lr", "1,0.001"]
    flags += [*SMALL, "--checkpoint-every", "1", "--save-all"]
    result = run("sweep", *flags, "--out", "s", cwd=tmp_path)
    ok(result)
    assert "member 0 diverged and was stopped" in result.stderr
    rows = summary(tmp_path / "s")
    assert [(r["member"], r["status"]) for r in rows] == [("1", "finished"), ("0", "diverged in epoch 1")]
    assert [p.name for p in (tmp_path / "s" / "members").iterdir()] == ["001.npz"]
    ok(run("sweep", "--resume", "s", cwd=tmp_path))  # its checkpoint holds the diverged member, stopped
    assert summary(tmp_path / "s") == rows


# float32 ReLU on the digits: an L2 of 1e6 makes each step multiply the weights by about −2,300, so they overflow in
# the first epoch whatever the BLAS (an η of 1e30 overflows in the products, where BLAS kernels differ in what follows)
DIVERGING = ["--data", "digits", "--activation", "relu", "--dtype", "float32", "--epochs", "2", "--quiet", "--save-all"]


def test_a_member_whose_weights_overflow_is_named_ranked_last_and_saves_no_model(tmp_path):
    result = ok(run("sweep", "--l2", "0,1e6", "--seed", "0,1", *DIVERGING, "--out", "s", cwd=tmp_path))
    assert "member 1 (--seed 0 --l2 1e+06): training diverged in epoch 1:" in result
    assert "member 3 (--seed 1 --l2 1e+06): training diverged in epoch 1:" in result
    rows = summary(tmp_path / "s")
    assert [r["member"] for r in rows[2:]] == ["1", "3"]
    assert all(r["status"] == "diverged in epoch 1" and r["validation_accuracy"] == "" for r in rows[2:])
    assert sorted(p.name for p in (tmp_path / "s" / "members").iterdir()) == ["000.npz", "002.npz"]


def test_a_sweep_whose_every_member_diverges_says_so_and_leaves_the_earlier_run_whole(tmp_path):
    ok(run("sweep", "--lr", "1,2", *DIVERGING, "--out", "s", cwd=tmp_path))
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    failed = run("sweep", "--l2", "1e6,1e7", *DIVERGING, "--out", "s", "--force", cwd=tmp_path)
    one_line_error(failed, "every member diverged, so no model was written (the earlier run's files in s are")
    assert {p.name: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()} == before
    failed = run("sweep", "--l2", "1e6,1e7", *DIVERGING, "--out", "new", cwd=tmp_path)
    one_line_error(failed, "every member diverged, so no model was written (new/metrics.jsonl has their epochs)")


@pytest.mark.slow
@needs_mpiexec
def test_a_diverged_member_under_mpi_is_ranked_last_as_in_one_process(tmp_path):
    flags = ["sweep", "--l2", "0,1e6,1", *DIVERGING]
    ok(run(*flags, "--out", "one", cwd=tmp_path))
    parallel = mpiexec((2, None, flags + ["--distributed", "mpi", "--out", "two"]), cwd=tmp_path)
    assert parallel.returncode == 0, parallel.stdout + parallel.stderr
    assert "member 1 (--l2 1e+06): training diverged in epoch 1:" in parallel.stdout
    assert summary(tmp_path / "one") == summary(tmp_path / "two")
    assert sorted(p.name for p in (tmp_path / "two" / "members").iterdir()) == ["000.npz", "002.npz"]


def test_a_signal_while_the_results_are_written_waits_until_they_are_complete(tmp_path, data, monkeypatch):
    """SIGTERM as the first model is written: the results (and the earlier run's removal, with --force) are
    completed first, and the line the sweep stops with says so."""
    import os

    from gpubp.cli import sweep_report

    ok(run("sweep", "--data", data, "--lr", "1,2", *SMALL, "--save-all", "--out", "s", cwd=tmp_path))
    write = sweep_report.save_run_model

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        write(*args, **kwargs)

    monkeypatch.setattr(sweep_report, "save_run_model", signalled)
    stopped = run("sweep", "--data", data, "--lr", "1,3", *SMALL, "--out", "s", "--force", cwd=tmp_path)
    assert stopped.returncode == 143, stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1].endswith("the sweep's results are complete in s"), stopped.stderr
    folder = tmp_path / "s"
    assert {r["lr"] for r in summary(folder)} == {"1", "3"}
    assert (folder / "model.npz").is_file() and (folder / "validation_curves.png").is_file()
    assert not (folder / "members").exists()  # the earlier sweep's, gone with the rest of it
    assert {m["config"]["lr"] for m in metrics(folder)} == {1.0, 3.0}


def test_the_validation_curves_mark_the_epoch_kept_under_patience_as_train_does(tmp_path, data, monkeypatch):
    from gpubp.training import report

    marked = []
    mark = report.mark_kept
    monkeypatch.setattr(report, "mark_kept", lambda axis, epoch: (marked.append(epoch), mark(axis, epoch)))
    flags = ["--data", data, "--lr", "0.05,3", "--optimizer", "adam", "--epochs", "8", "--patience", "1", "--quiet"]
    ok(run("sweep", *flags, "--out", "s", cwd=tmp_path))
    best = summary(tmp_path / "s")[0]
    assert marked == [int(best["epoch"])]
    ok(run("train", *flags[:2], "--lr", "3", *flags[4:], "--validation-fraction", "0.1", "--out", "t", cwd=tmp_path))
    assert marked[1:] == [marked[1]] * 2  # train's two axes, by the same code


# ----- the run folder, shared with gpubp train ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sweep", "train"])
@pytest.mark.parametrize("flag", ["--weights", "--data"])
def test_no_input_file_is_one_a_run_of_either_command_writes_or_removes(tmp_path, data, command, flag):
    (tmp_path / "d").mkdir()
    source = tmp_path / "d" / "summary.csv"
    if flag == "--weights":
        source.write_text("1\n" * 150)
    else:
        source.write_bytes((tmp_path / "rows.csv").read_bytes())
    before = source.read_bytes()
    flags = ["--data", data, flag, source] if flag == "--weights" else [flag, source]
    refused = run(command, *flags, *SMALL, "--out", "d", "--force", cwd=tmp_path)
    one_line_error(refused, f"which this run reads as its {'sample weights' if flag == '--weights' else 'data'}")
    assert source.read_bytes() == before and [p.name for p in (tmp_path / "d").iterdir()] == ["summary.csv"]


@pytest.mark.parametrize("first, second", [("sweep", "train"), ("train", "sweep")])
def test_force_replaces_an_earlier_run_of_the_other_command_whole(tmp_path, data, first, second):
    lists = {"sweep": ["--lr", "1,2", "--save-all", "--checkpoint-every", "1"], "train": ["--checkpoint-every", "1"]}
    ok(run(first, "--data", data, *SMALL, *lists[first], "--out", "s", cwd=tmp_path))
    (tmp_path / "s" / "notes.txt").write_text("mine")
    one_line_error(run(second, "--data", data, *SMALL, "--out", "s", cwd=tmp_path), "already holds a run")
    ok(run(second, "--data", data, *SMALL, "--out", "s", "--force", cwd=tmp_path))
    left = {str(p.relative_to(tmp_path / "s")) for p in (tmp_path / "s").rglob("*")}
    written = {"sweep": {"summary.csv", "validation_curves.png"}, "train": {"learning_curve.png"}}[second]
    assert left == {"notes.txt", "model.npz", "metrics.jsonl", *written}


def test_a_busy_folder_names_the_command_that_holds_it(tmp_path, data):
    from gpubp.cli.run_folder import claim

    held = claim(tmp_path / "s", command="sweep")
    try:
        for command in ("train", "sweep"):
            busy = run(command, "--data", data, *SMALL, "--out", "s", cwd=tmp_path)
            one_line_error(busy, "s is in use by another gpubp sweep that is still running")
    finally:
        held.release()


def test_combinations_that_are_the_same_once_resolved_train_once(tmp_path, data):
    out = ok(run("sweep", "--data", data, "--sizes", "8/6,8,3", "--lr", "1,2", *SMALL, "--out", "s", cwd=tmp_path))
    assert "grid: 2 configurations (2 --sizes × 2 --lr; 2 combinations the same as another once resolved" in out
    assert [(r["member"], r["sizes"], r["lr"]) for r in sorted(summary(tmp_path / "s"), key=lambda r: r["member"])] == [
        ("0", "8", "1"),
        ("1", "8", "2"),
    ]


def test_the_grid_counts_the_values_given_to_each_flag(tmp_path, data):
    flags = ["--optimizer", "sgd,adam", "--betas", "0.9,0.999/0.8,0.99", *SMALL]
    out = ok(run("sweep", "--data", data, *flags, "--out", "s", cwd=tmp_path))
    assert "grid: 3 configurations (2 --optimizer × 2 --betas) in 2 network arrays" in out


def test_resume_takes_a_flag_that_gives_the_sweeps_value_however_spelled(tmp_path, data):
    flags = ["--data", data, "--lr", "1,2", "--epochs", "2", "--checkpoint-every", "1", "--quiet", "--dtype", "float64"]
    ok(run("sweep", *flags, "--out", "s", cwd=tmp_path))
    for same in (["--sizes", "30"], ["--sizes", "6,30,3"], ["--data", "./rows.csv"], ["--optimizer", "SGD"]):
        ok(run("sweep", "--resume", "s", *same, "--lr", "1, 2", "--validation-fraction", "0.1", cwd=tmp_path))
    refused = run("sweep", "--resume", "s", "--sizes", "31", cwd=tmp_path)
    one_line_error(refused, "--sizes 31 differs from the sweep's (not given: 30)")


def test_every_group_checkpoint_is_checked_before_any_group_trains(tmp_path, data):
    flags = ["--data", data, "--sizes", "5/8", "--lr", "1,2", *SMALL, "--checkpoint-every", "1"]
    out = ok(run("sweep", *flags, "--quiet", "--out", "s", cwd=tmp_path))
    assert "group 0 of 2, epoch   1/3" in out and "group 1 of 2, epoch   3/3" in out
    ok(run("sweep", *flags, "--out", "other", cwd=tmp_path))
    checkpoints = tmp_path / "s" / "checkpoints"
    (checkpoints / "group-001.npz").write_bytes((tmp_path / "other" / "checkpoints" / "group-001.npz").read_bytes())
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").rglob("*") if p.is_file()}
    refused = run("sweep", "--resume", "s", cwd=tmp_path)
    one_line_error(refused, "checkpoints/group-001.npz is not group 1 of this sweep (another sweep's")
    (checkpoints / "group-001.npz").unlink()
    (checkpoints / "group-007.npz").write_bytes((checkpoints / "group-000.npz").read_bytes())
    refused = run("sweep", "--resume", "s", cwd=tmp_path)
    one_line_error(refused, "group-007.npz is of no group of this sweep's grid (groups 0 to 1)")
    del before["group-001.npz"]
    before["group-007.npz"] = (checkpoints / "group-007.npz").stat().st_mtime_ns
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").rglob("*") if p.is_file()} == before


def test_named_choices_take_any_case_as_the_knobs_do(tmp_path, data):
    out = ok(
        run(
            "sweep",
            "--data",
            data,
            "--lr",
            "1,2",
            *SMALL,
            "--report-test",
            " ALL",
            "--device",
            "CPU",
            "--out",
            "s",
            cwd=tmp_path,
        )
    )
    assert "device: cpu" in out and all(r["test_accuracy"] for r in summary(tmp_path / "s"))
    ok(run("evaluate", tmp_path / "s" / "model.npz", "--split", "Validation", cwd=tmp_path))
