"""``gpubp train`` with the output layers, schedules, validation and early stopping, end to end (in this process,
``run``): the best model is the one saved, log-likelihood models evaluate and predict, and kill -9 with a schedule
and a validation split resumes to identical weights, for sgd, nesterov (with L2) and adam (processes of their
own, ``run_gpubp``)."""

import re

import numpy as np
import pytest

import gpubp
from gpubp.data import load_digits

from helpers import gpubp as run_gpubp
from helpers import kill_after_a_checkpoint, metrics_of, ok, run, weights_of


def test_a_changed_lr_on_resume_applies_under_the_plateau_schedule(tmp_path):
    """The plateau keeps how far it has cut η, not η itself, so a new --lr (the divergence advice) takes effect."""
    train = [
        "train",
        "--epochs",
        3,
        "--checkpoint-every",
        3,
        "--validation-fraction",
        0.1,
        "--schedule",
        "plateau",
        "--plateau-patience",
        1,
        "--out",
        "run",
        "--quiet",
    ]
    ok(run(*train, cwd=tmp_path))
    cut = metrics_of(tmp_path / "run")[-1]["eta"] / 3.0  # the default η is 3
    ok(run("train", "--resume", "run", "--epochs", 4, "--lr", 0.3, "--quiet", cwd=tmp_path))
    assert metrics_of(tmp_path / "run")[-1]["eta"] in (pytest.approx(0.3 * cut), pytest.approx(0.3 * cut / 2))


def test_early_stopping_saves_the_best_epochs_model(tmp_path):
    flags = ["--validation-fraction", 0.2, "--quiet"]
    out = ok(
        run("train", *flags, "--patience", 3, "--epochs", 60, "--checkpoint-every", 1, "--out", "stopped", cwd=tmp_path)
    )
    metrics = metrics_of(tmp_path / "stopped")
    accuracies = [m["validation_accuracy"] for m in metrics]
    best = int(np.argmax(accuracies)) + 1
    assert len(metrics) == best + 3 < 60, "expected an early stop on the digits"
    assert f"stopped early after epoch {best + 3}; the model is epoch {best}'s" in out
    assert f"done: test accuracy {metrics[best - 1]['test_accuracy']:.4f}" in out
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert f"validation cost {metrics[0]['validation_cost']:.4f} accuracy {accuracies[0]:.4f}" in epoch_lines[0]
    assert all(m["eta"] == 3.0 for m in metrics)

    ok(run("train", *flags, "--epochs", best, "--out", "short", cwd=tmp_path))
    stopped, short = weights_of(tmp_path / "stopped" / "model.npz"), weights_of(tmp_path / "short" / "model.npz")
    assert all(np.array_equal(a, b) for a, b in zip(stopped, short))
    report = ok(run("evaluate", "stopped/model.npz", cwd=tmp_path))
    assert f"accuracy: {metrics[best - 1]['test_accuracy']:.4f}" in report

    refused = run("train", "--resume", "stopped/checkpoint.npz", "--epochs", 70, cwd=tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert f"this run stopped early after epoch {best + 3}" in refused.stderr


def test_log_likelihood_models_train_evaluate_and_predict(tmp_path):
    out = ok(
        run(
            "train",
            "--cost",
            "log-likelihood",
            "--lr",
            0.5,
            "--epochs",
            5,
            "--schedule",
            "cosine",
            "--warmup-epochs",
            1,
            "--out",
            "run",
            "--quiet",
            cwd=tmp_path,
        )
    )
    assert "log-likelihood cost" in out and "methods: cosine schedule, 1 warm-up epochs" in out
    metrics = metrics_of(tmp_path / "run")
    assert metrics[-1]["test_accuracy"] >= 0.85 and [m["eta"] > 0 for m in metrics] == [True] * 5
    assert metrics[0]["eta"] == 0.5 and metrics[-1]["eta"] < 0.05  # end of warm-up; the cosine's tail
    net = gpubp.load(tmp_path / "run" / "model.npz", device="cpu")
    assert net.cost is gpubp.LogLikelihoodCost
    _, (x_test, y_test) = load_digits()
    assert np.allclose(net.feedforward(x_test).sum(axis=1), 1, atol=1e-5)  # a softmax output layer
    report = ok(run("evaluate", "run/model.npz", cwd=tmp_path))
    assert "log-likelihood cost" in report and f"accuracy: {metrics[-1]['test_accuracy']:.4f}" in report
    np.savez(tmp_path / "inputs.npz", X=x_test)
    labels = ok(run("predict", "run/model.npz", "inputs.npz", cwd=tmp_path)).split()
    assert labels == [str(v) for v in net.predict(x_test)]


def test_version_1_model_files_still_load(tmp_path):
    ok(run("train", "--epochs", 1, "--out", "run", "--quiet", cwd=tmp_path))
    with np.load(tmp_path / "run" / "model.npz") as npz:
        arrays = {**npz, "gpubp_format": np.int64(1)}
    np.savez(tmp_path / "old.npz", **arrays)
    assert "accuracy: " in ok(run("evaluate", "old.npz", cwd=tmp_path))


# The rules with state (Nesterov's buffer, Adam's moments and step count) must come back from the checkpoint
# exactly, beside the schedule's η, the best weights and the counters; Nesterov with L2, whose n is the training
# set after the hold-out.
RULES = {
    "sgd": (3.0, []),
    "nesterov": (0.5, ["--optimizer", "nesterov", "--l2", 1]),
    "adam": (0.01, ["--optimizer", "adam"]),
}  # η and the rule's flags


@pytest.mark.slow
@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
def test_kill_9_with_a_schedule_and_validation_then_resume_gives_identical_weights(tmp_path, schedule, rule):
    train = [
        "train",
        "--sizes",
        "800",
        "--epochs",
        60,
        "--checkpoint-every",
        1,
        "--quiet",
        "--schedule",
        schedule,
        "--warmup-epochs",
        2,
        "--validation-fraction",
        0.2,
        "--patience",
        50,
        "--lr",
        RULES[rule][0],
        *RULES[rule][1],
        *(["--plateau-patience", 2] if schedule == "plateau" else []),
    ]
    whole_out = ok(run_gpubp(*train, "--out", "whole", cwd=tmp_path))
    if schedule == "plateau":
        assert metrics_of(tmp_path / "whole")[-1]["eta"] < RULES[rule][0], (
            "the plateau never fired: make the run longer"
        )

    checkpoint, killed_after = kill_after_a_checkpoint(train, tmp_path)

    out = ok(run_gpubp("train", "--resume", checkpoint, "--quiet", cwd=tmp_path))
    assert f"resuming after epoch {killed_after}" in out
    resumed, whole = weights_of(tmp_path / "killed" / "model.npz"), weights_of(tmp_path / "whole" / "model.npz")
    assert all(np.array_equal(a, b) for a, b in zip(resumed, whole))
    assert metrics_of(tmp_path / "killed") == [
        {**m, "seconds": n["seconds"], "samples_per_s": n["samples_per_s"]}
        for m, n in zip(metrics_of(tmp_path / "whole"), metrics_of(tmp_path / "killed"))
    ]
    kept = re.search(r"the model is epoch \d+'s", out)
    assert kept is not None and kept.group(0) in whole_out


# ----- hidden units and dropout (issue 18) --------------------------------------------------------------------------


def test_the_unit_flags_are_in_train_help_with_their_choices_and_defaults(tmp_path):
    text = " ".join(ok(run("train", "--help", cwd=tmp_path)).split())
    for shown in (
        "--activation NAME[,NAME…] the hidden units: sigmoid (the lecture's), tanh, relu, leaky_relu or identity; one "
        "for every hidden layer, or a comma-separated list, one per hidden layer (default: sigmoid)",
        "--leaky-slope S the slope of leaky ReLU units below 0, in (0, 1) (default: 0.01)",
        "--output sigmoid|softmax|identity the output layer",
        "(default: the cost's own: sigmoid, or softmax for log-likelihood)",
        "--init normal|scaled|he|glorot initial weights",
        "he, N(0, 2/n_in), for ReLU; glorot, MLPClassifier's uniform draw",
        "(default: each activation's own)",
        "--dropout P[,P…] inverted dropout",
        "--targets K how many of a CSV file's first columns are targets",
        "--weights FILE sample weights",
        "(default: every row weighs 1)",
    ):
        assert shown in text


def test_a_relu_model_evaluates_and_predicts_with_its_own_units(tmp_path):
    flags = ["--activation", "relu", "--cost", "log-likelihood", "--optimizer", "adam", "--lr", 0.01, "--quiet"]
    out = ok(run("train", *flags, "--epochs", 5, "--out", "run", cwd=tmp_path))
    assert "sizes [64, 30, 10], relu units, softmax output, log-likelihood cost, float32, he init" in out
    metrics = metrics_of(tmp_path / "run")
    assert metrics[-1]["test_accuracy"] >= 0.9 and "test_r2" not in metrics[-1]
    net = gpubp.load(tmp_path / "run" / "model.npz", device="cpu")
    assert net.activations == ("relu",) and net.output == "softmax"
    report = ok(run("evaluate", "run/model.npz", cwd=tmp_path))
    assert "relu units, softmax output" in report and f"accuracy: {metrics[-1]['test_accuracy']:.4f}" in report
    _, (x_test, _) = load_digits()
    np.savez(tmp_path / "inputs.npz", X=x_test)
    labels = ok(run("predict", "run/model.npz", "inputs.npz", cwd=tmp_path)).split()
    assert labels == [str(v) for v in net.predict(x_test)]


def test_a_dropout_run_says_so_and_its_model_never_drops(tmp_path):
    flags = ["--activation", "relu", "--sizes", "100,30", "--dropout", "0.5,0.2", "--lr", 0.5, "--quiet"]
    out = ok(run("train", *flags, "--epochs", 3, "--out", "run", cwd=tmp_path))
    assert "; sgd, dropout 0.5,0.2, η = 0.5" in out
    report = ok(run("evaluate", "run/model.npz", cwd=tmp_path))
    assert f"accuracy: {metrics_of(tmp_path / 'run')[-1]['test_accuracy']:.4f}" in report  # as scored in training
    twice = [ok(run("evaluate", "run/model.npz", cwd=tmp_path)) for _ in range(2)]
    assert twice[0] == twice[1] == report
