"""The gpubp command end to end: train → evaluate → predict → info → gradcheck, every data format, runs without
matplotlib, checkpoints that survive kill -9 and resume to identical weights, and divergence.

The command runs in this process (``run``); the installed script runs in a process of its own (``run_gpubp``) for
its exit statuses, without matplotlib, and killed with SIGKILL."""

import json

import numpy as np
import pytest

import gpubp
from gpubp.data import load_digits

from helpers import gpubp as run_gpubp
from helpers import kill_after_a_checkpoint, ok, run, separable_data, weights_of, write_csv, write_mnist


def test_train_evaluate_predict_info_gradcheck_on_digits(tmp_path):
    out = ok(run("train", "--epochs", 2, "--out", "run", cwd=tmp_path))
    lines = out.splitlines()
    assert lines[0].startswith("device: cpu") and "sizes [64, 30, 10]" in lines[1]
    assert "digits, 1438 training and 359 test samples" in lines[2]
    assert [l.split()[1] for l in lines if l.startswith("epoch")] == ["1/2", "2/2"]
    assert "done: test accuracy" in out and "\r" not in out  # not a terminal: no progress bars
    folder = tmp_path / "run"
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2] and all(m["samples_per_s"] > 0 for m in metrics)
    assert (folder / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = ok(run("evaluate", folder / "model.npz", cwd=tmp_path))
    assert f"accuracy: {metrics[-1]['test_accuracy']:.4f}" in report
    assert f"cost: {metrics[-1]['test_cost']:.6f}" in report
    matrix = report.split("predicted class):\n")[1].splitlines()
    assert len(matrix) == 11 and sum(int(v) for row in matrix[1:] for v in row.split()[1:]) == 359

    _, (x_test, _) = load_digits()
    write_csv(tmp_path / "inputs.csv", x_test, np.zeros(len(x_test)), header=False)
    (tmp_path / "inputs.csv").write_text(
        "\n".join(line.split(",", 1)[1] for line in (tmp_path / "inputs.csv").read_text().splitlines()) + "\n"
    )
    labels = ok(run("predict", folder / "model.npz", "inputs.csv", cwd=tmp_path)).split()
    expected = gpubp.load(folder / "model.npz", device="cpu").predict(
        np.loadtxt(tmp_path / "inputs.csv", delimiter=",")
    )
    assert labels == [str(v) for v in expected]
    np.savez(tmp_path / "inputs.npz", X=x_test)
    ok(run("predict", folder / "model.npz", "inputs.npz", "--out", "labels.txt", cwd=tmp_path))
    assert (tmp_path / "labels.txt").read_text().split() == labels

    info = ok(run("info", cwd=tmp_path))
    for field in ("gpubp: ", "Python: ", "NumPy: ", "BLAS: ", "GPU usable: ", "auto trains on: "):
        assert field in info
    check = ok(run("gradcheck", "--sizes", "4,3,2", cwd=tmp_path))
    assert "ok: largest relative error" in check and len([l for l in check.splitlines() if l.strip()[:1] in "12"]) == 2
    strict = run("gradcheck", "--sizes", "4,3,2", "--tolerance", "1e-30", cwd=tmp_path)
    assert strict.returncode == 1 and "FAILED: largest relative error" in strict.stdout


def test_the_gpubp_script_exits_0_1_and_2_with_no_traceback(tmp_path):
    """The installed script, in a process of its own: success, a failed check, a user's error."""
    assert "ok: largest relative error" in ok(run_gpubp("gradcheck", "--sizes", "4,3,2", cwd=tmp_path))
    strict = run_gpubp("gradcheck", "--sizes", "4,3,2", "--tolerance", "1e-30", cwd=tmp_path)
    assert strict.returncode == 1 and "FAILED: largest relative error" in strict.stdout
    assert "Traceback" not in strict.stderr
    refused = run_gpubp("train", "--lr", "0", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == "" and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines() == [
        "gpubp train: error: --lr (the learning rate η) must be a finite number > 0, got 0.0"
    ]
    assert run_gpubp("--version", cwd=tmp_path).stdout == f"gpubp {gpubp.__version__}\n"


def test_default_run_folder_is_new_each_time(tmp_path):
    for _ in range(2):
        ok(run("train", "--epochs", 1, "--quiet", cwd=tmp_path))
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all((r / "model.npz").is_file() for r in runs)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_files(tmp_path, gz):
    write_mnist(tmp_path / "mnist", gz=gz)
    out = ok(run("train", "--data", "mnist", "--data-dir", "mnist", "--epochs", 2, "--out", "run", cwd=tmp_path))
    assert "sizes [784, 30, 10]" in out and "mnist, 60 training and 20 test samples" in out
    assert "accuracy: " in ok(run("evaluate", "run/model.npz", "--data", "mnist", "--data-dir", "mnist", cwd=tmp_path))


def test_csv_and_npz_datasets(tmp_path):
    x, y = separable_data()
    write_csv(tmp_path / "data.csv", x, y, header=True)
    out = ok(
        run("train", "--data", "data.csv", "--sizes", "8", "--epochs", 30, "--lr", 3, "--out", "csv", cwd=tmp_path)
    )
    assert "sizes [5, 8, 3]" in out and "96 training and 24 test samples" in out
    metrics = (tmp_path / "csv" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(metrics[-1])["test_accuracy"] >= 0.9
    report = ok(run("evaluate", "csv/model.npz", "--data", "data.csv", cwd=tmp_path))
    assert f"accuracy: {json.loads(metrics[-1])['test_accuracy']:.4f} (" in report
    np.savetxt(tmp_path / "rows.csv", x[:7], delimiter=",")
    assert ok(run("predict", "csv/model.npz", "rows.csv", cwd=tmp_path)).split() == [str(v) for v in y[:7]]
    write_csv(tmp_path / "plain.csv", x, y, header=False)
    assert "96 training" in ok(run("train", "--data", "plain.csv", "--epochs", 1, "--out", "plain", cwd=tmp_path))
    np.savez(tmp_path / "data.npz", X=x, y=y)
    assert "96 training and 24 test" in ok(
        run("train", "--data", "data.npz", "--epochs", 1, "--out", "npz", "--test-fraction", 0.2, cwd=tmp_path)
    )
    np.savez(tmp_path / "split.npz", X=x[:100], y=y[:100], X_test=x[100:], y_test=y[100:])
    assert "100 training and 20 test" in ok(
        run("train", "--data", "split.npz", "--epochs", 1, "--out", "split", cwd=tmp_path)
    )
    assert "20 samples" in ok(run("evaluate", "split/model.npz", "--data", "split.npz", cwd=tmp_path))
    assert len(ok(run("predict", "split/model.npz", "split.npz", cwd=tmp_path)).split()) == 100


@pytest.mark.slow  # a process whose matplotlib fails as it is imported
def test_a_run_without_matplotlib_succeeds_and_says_how_to_plot(tmp_path):
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('matplotlib is not installed')\n")
    out = ok(run_gpubp("train", "--epochs", 1, "--out", "run", cwd=tmp_path, extra_path=fake))
    assert "no plot: install matplotlib for the learning-curve plot: pip install 'gpubp[plot]'" in out
    assert (tmp_path / "run" / "model.npz").is_file() and not (tmp_path / "run" / "learning_curve.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    [
        [],
        ["--optimizer", "momentum", "--l2", "2"],
        ["--optimizer", "nesterov"],
        ["--optimizer", "adam", "--lr", "0.01", "--init", "scaled"],
        ["--activation", "relu", "--dropout", "0.5", "--lr", "0.5"],
        ["--activation", "tanh", "--dropout", "0.3", "--optimizer", "adam", "--lr", "0.01"],
    ],
)
def test_kill_9_after_a_checkpoint_then_resume_gives_identical_weights(tmp_path, method):
    """A run killed with SIGKILL and resumed from its checkpoint ends with the uninterrupted run's weights, with
    every update rule (its state, velocity, Adam's moments and step count, is in the checkpoint) and with dropout
    (its masks, a hash of the run's seed and step, are the ones the uninterrupted run drew)."""
    train = ["train", "--sizes", "800", "--epochs", 60, "--checkpoint-every", 1, "--quiet", *method]  # about 2 s
    ok(run_gpubp(*train, "--out", "whole", cwd=tmp_path))

    checkpoint, killed_after = kill_after_a_checkpoint(train, tmp_path)

    out = ok(run_gpubp("train", "--resume", checkpoint, "--quiet", cwd=tmp_path))
    assert f"resuming after epoch {killed_after}" in out
    resumed, whole = weights_of(tmp_path / "killed" / "model.npz"), weights_of(tmp_path / "whole" / "model.npz")
    assert all(np.array_equal(a, b) for a, b in zip(resumed, whole))
    metrics = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(m)["epoch"] for m in metrics] == list(range(1, 61))


def test_resume_can_extend_a_finished_run(tmp_path):
    ok(run("train", "--epochs", 2, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=tmp_path))
    ok(run("train", "--resume", "run/checkpoint.npz", "--epochs", 3, "--quiet", cwd=tmp_path))
    ok(run("train", "--epochs", 3, "--out", "whole", "--quiet", cwd=tmp_path))
    for a, b in zip(weights_of(tmp_path / "run" / "model.npz"), weights_of(tmp_path / "whole" / "model.npz")):
        assert np.array_equal(a, b)


def test_divergence_stops_with_advice_and_keeps_the_previous_run(tmp_path):
    ok(run("train", "--epochs", 2, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=tmp_path))
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    result = run("train", "--epochs", 3, "--lr", "1e40", "--out", "run", "--force", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Warning" not in result.stderr
    assert "training diverged in epoch 1" in result.stderr and "try a smaller one, such as 1e+39" in result.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_divergence_after_good_epochs_keeps_their_checkpoint(tmp_path, monkeypatch, capsys):
    """Weights that turn non-finite in epoch 3 leave the checkpoint of epoch 2 as it was, and say so."""
    from gpubp.cli import main
    from gpubp.model import Network

    calls = []
    real = Network.is_finite
    # The first call checks the weights before training, then one call after each epoch: the 4th is epoch 3's.
    monkeypatch.setattr(Network, "is_finite", lambda net: real(net) and len(calls.append(1) or calls) != 4)
    monkeypatch.chdir(tmp_path)
    status = main(["train", "--epochs", "5", "--checkpoint-every", "1", "--out", "run", "--quiet", "--device", "cpu"])
    assert status == 2
    message = capsys.readouterr().err
    assert "training diverged in epoch 3" in message and "the checkpoint of epoch 2" in message
    from gpubp.training import load_checkpoint

    history = load_checkpoint(tmp_path / "run" / "checkpoint.npz", device="cpu")[0].history
    assert [h.epoch for h in history] == [1, 2] and not (tmp_path / "run" / "model.npz").exists()


def test_gradcheck_writes_the_tolerance_as_given_and_the_error_to_the_digits_that_decide(tmp_path):
    from gpubp.cli.tools import written_against

    check = ok(run("gradcheck", "--sizes", "4,3,2", "--tolerance", "2.5e-5", cwd=tmp_path))
    assert check.splitlines()[-1].endswith(", tolerance 2.5e-05")  # not 2e-05
    assert written_against(2.2949e-11, 2.29e-11) == "2.295e-11"  # just above: never written as equal to it
    assert written_against(2.29e-11, 2.29e-11) == "2.29e-11"
    assert written_against(2.2899e-11, 2.29e-11) == "2.2899e-11"
    assert written_against(1.23456e-7, 1e-6) == "1.23e-07"


@pytest.mark.parametrize(
    "units",
    [
        ("--activation", "tanh"),
        ("--activation", "relu", "--output", "identity", "--cost", "quadratic"),
        ("--activation", "leaky_relu", "--leaky-slope", "0.2", "--cost", "cross-entropy"),
        ("--activation", "identity", "--cost", "log-likelihood"),
        ("--activation", "relu,tanh", "--sizes", "5,4,4,3"),
        ("--activation", "relu", "--sizes", "13,30,2", "--output", "identity", "--samples", "50"),
    ],
)
def test_gradcheck_checks_every_activation_and_output_layer(units, tmp_path):
    check = ok(run("gradcheck", *units, cwd=tmp_path))
    first = next(line for line in check.splitlines() if line.startswith("gradient check of"))
    last = check.splitlines()[-1]
    activation = units[units.index("--activation") + 1]
    assert f"{activation.replace(',', '/')} hidden units" in first and last.startswith("ok: largest relative error")
    if "identity" in units[2:]:
        assert "identity outputs" in first  # real-valued targets, the regression's cost


def test_gradcheck_refuses_units_that_do_not_fit_in_one_line(tmp_path):
    for bad in (("--activation", "relu,tanh"), ("--output", "identity", "--cost", "cross-entropy")):
        result = run("gradcheck", *bad, cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("seed", range(20))
def test_a_bias_shift_clears_every_value_of_the_kink_by_the_smallest_move(seed):
    from gpubp.model.gradcheck import bias_shift_clear_of_zero

    rng = np.random.default_rng(seed)
    z = rng.normal(0, [0.02, 0.1, 1.0][seed % 3], rng.integers(1, 40))
    shift = bias_shift_clear_of_zero(z, 0.05)
    assert np.all(np.abs(z + shift) >= 0.05 - 1e-12)
    for smaller in np.linspace(-abs(shift), abs(shift), 201)[1:-1] if shift else []:  # no smaller move clears them
        assert np.any(np.abs(z + smaller) < 0.05 - 1e-12)
    assert bias_shift_clear_of_zero(np.array([0.3, -0.2]), 0.05) == 0.0


def test_predict_and_evaluate_refuse_a_network_arrays_file_in_one_line(tmp_path):
    arr = gpubp.NetworkArray([64, 5, 10], 2, seeds=[0, 1], device="cpu")
    gpubp.save(arr, tmp_path / "array.npz")
    np.savetxt(tmp_path / "rows.csv", load_digits()[1][0][:3], delimiter=",")
    for command in (("predict", "array.npz", "rows.csv"), ("evaluate", "array.npz")):
        result = run(*command, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == "", result.stdout
        assert "holds a network array (2 networks), not one network" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
