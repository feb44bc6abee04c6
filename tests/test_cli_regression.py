"""Regression and sample weights from the command line (issue 18): ``gpubp train --output identity`` on real-valued
targets (a CSV file's first ``--targets K`` columns, an NPZ file's ``y`` of shape (n,) or (n, k)), never cut to
classes; ``evaluate``'s R² and RMSE, ``predict``'s values, the metrics file and the plot; ``--weights FILE``, each
weight following its row through the split, recorded with its fingerprint so that ``--resume`` refuses changed
weights.

Every command runs in this process (``helpers.run``)."""

import json

import numpy as np
import pytest

import gpubp
from gpubp.data import DataSplit, read_dataset
from gpubp.data.split import fingerprint
from gpubp.training import Trainer
from gpubp.training.history import EpochStats
from gpubp.training.report import plot_learning_curve

from helpers import metrics_of, ok, one_line_error, run, separable_data, weights_of, write_csv

REGRESS = ["--output", "identity", "--activation", "relu", "--optimizer", "adam", "--lr", 0.01, "--sizes", 16,
           "--batch-size", 16, "--quiet"]  # fmt: skip


def regression_rows(n=300, features=4, outputs=1, seed=0):
    """Smooth real-valued targets of uniform features: a small ReLU network fits them (R² well above 0.9)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, features))
    y = x @ rng.standard_normal((features, outputs)) + 0.5 * np.sin(3 * x[:, :1]) + 1.5
    return x, y[:, 0] if outputs == 1 else y


def write_table(path, targets, x):
    """A CSV file of the target column(s), then the features, written exactly (savetxt's 18 digits)."""
    np.savetxt(path, np.column_stack([targets, x]), delimiter=",")
    return path


def report_value(report: str, name: str) -> float:
    return float(next(line for line in report.splitlines() if line.startswith(f"{name}: ")).split()[1])


def test_a_regression_on_a_csv_file_trains_evaluates_and_predicts(tmp_path):
    """Before: 'label 2.0143… in row 1 is not a class number', whatever --output said."""
    x, y = regression_rows()
    write_table(tmp_path / "data.csv", y, x)
    out = ok(run("train", "--data", "data.csv", *REGRESS, "--epochs", 30, "--out", "run", cwd=tmp_path))
    assert "sizes [4, 16, 1], relu units, identity output, quadratic cost" in out
    epochs = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(epochs) == 30 and all("test R² " in line and "accuracy" not in line for line in epochs)
    metrics = metrics_of(tmp_path / "run")
    assert "test_accuracy" not in metrics[-1] and "validation_accuracy" not in metrics[-1]
    assert metrics[-1]["test_r2"] > 0.9
    assert f"done: test R² {metrics[-1]['test_r2']:.4f}" in out

    report = ok(run("evaluate", "run/model.npz", cwd=tmp_path))
    assert "accuracy" not in report and "confusion" not in report
    assert report_value(report, "R²") == pytest.approx(metrics[-1]["test_r2"], abs=5e-5)
    assert report_value(report, "cost") == pytest.approx(metrics[-1]["test_cost"], abs=5e-7)
    net = gpubp.load(tmp_path / "run" / "model.npz", device="cpu")
    x_test, y_test = read_dataset(str(tmp_path / "data.csv"), regression=True).test
    error = y_test - net.predict(x_test)[:, 0].astype(np.float64)
    rmse = report_value(report, "RMSE")
    assert rmse == pytest.approx(np.sqrt(np.mean(error**2)), rel=1e-5)
    assert rmse == pytest.approx(np.sqrt(2 * report_value(report, "cost")), rel=1e-3)  # C = ½ · mean (y − a)²
    (output_line,) = [line for line in report.splitlines() if line.split()[:1] == ["1"]]
    assert float(output_line.split()[1]) == pytest.approx(rmse, rel=1e-5)

    np.savetxt(tmp_path / "rows.csv", x[:7], delimiter=",")
    printed = ok(run("predict", "run/model.npz", "rows.csv", cwd=tmp_path)).splitlines()
    expected = net.predict(np.loadtxt(tmp_path / "rows.csv", delimiter=","))
    assert len(printed) == 7 and np.array_equal(
        np.array(printed, dtype=np.float32), expected[:, 0]
    )  # read back exactly


def test_several_targets_are_a_csv_files_first_columns_or_an_npz_files_y(tmp_path):
    """--targets 2 on a CSV file and y of shape (n, 2) in an NPZ file are the same data, trained the same way."""
    x, y = regression_rows(outputs=2)
    write_table(tmp_path / "data.csv", y, x)
    np.savez(tmp_path / "data.npz", X=x, y=y)
    flags = [*REGRESS, "--epochs", 5, "--dtype", "float64"]
    out = ok(run("train", "--data", "data.csv", "--targets", 2, *flags, "--out", "csv", cwd=tmp_path))
    assert "sizes [4, 16, 2]" in out and "240 training and 60 test samples" in out
    ok(run("train", "--data", "data.npz", *flags, "--out", "npz", cwd=tmp_path))
    csv, npz = weights_of(tmp_path / "csv" / "model.npz"), weights_of(tmp_path / "npz" / "model.npz")
    assert all(np.array_equal(a, b) for a, b in zip(csv, npz))  # the same rows, the same arithmetic

    report = ok(run("evaluate", "csv/model.npz", cwd=tmp_path))  # --targets defaults to the model's record
    assert "RMSE: " in report and "(over all 2 outputs)" in report
    rows = [line.split() for line in report.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [row[0] for row in rows] == ["1", "2"] and all(-1 < float(row[2]) <= 1 for row in rows)
    np.savez(tmp_path / "inputs.npz", X=x[:3])
    printed = ok(run("predict", "npz/model.npz", "inputs.npz", cwd=tmp_path)).splitlines()
    values = np.array([line.split(",") for line in printed], dtype=np.float64)
    assert values.shape == (3, 2)
    assert np.array_equal(values, gpubp.load(tmp_path / "npz" / "model.npz", device="cpu").predict(x[:3]))


@pytest.mark.parametrize("data", ["digits", "counts.csv"])
def test_a_regression_on_whole_number_labels_works(tmp_path, data):
    """Whole numbers (the digits' classes, counts below 0 too) are targets like any others for a regression."""
    x, y = regression_rows()
    write_table(tmp_path / "counts.csv", np.round(3 * y) - 5, x)
    out = ok(run("train", "--data", data, *REGRESS, "--epochs", 3, "--out", "run", cwd=tmp_path))
    assert ("sizes [64, 16, 1]" if data == "digits" else "sizes [4, 16, 1]") in out
    assert gpubp.load(tmp_path / "run" / "model.npz", device="cpu").labels is None
    assert np.isfinite(report_value(ok(run("evaluate", "run/model.npz", cwd=tmp_path)), "R²"))


def test_a_regressions_record_names_its_target_columns_and_refuses_changed_targets(tmp_path):
    x, y = regression_rows(outputs=2)
    write_table(tmp_path / "data.csv", y, x)
    ok(run("train", "--data", "data.csv", "--targets", 2, *REGRESS, "--epochs", 2, "--checkpoint-every", 1,
           "--out", "run", cwd=tmp_path))  # fmt: skip
    with np.load(tmp_path / "run" / "model.npz") as npz:
        record = DataSplit.from_json(json.loads(str(npz["data_split"])))
    assert record.targets == 2 and record.weights is None
    assert record.fingerprint == fingerprint(x, y)  # features then targets, float64, as read

    y[17, 1] += 0.5  # one target of one row
    write_table(tmp_path / "data.csv", y, x)
    line = one_line_error(run("train", "--resume", "run", "--epochs", 3, cwd=tmp_path), "data.csv has changed since")
    assert "as many rows as the run's data (300) but other values" in line
    line = one_line_error(run("evaluate", "run/model.npz", cwd=tmp_path), "is not the data run/model.npz")
    assert "the file has changed since" in line


def test_version_1_records_from_before_targets_and_weights_still_read():
    record = read_dataset("digits").split.to_json()
    old = {k: v for k, v in record.items() if k not in ("targets", "weights", "weights_fingerprint")}
    assert DataSplit.from_json({**old, "version": 1}) == DataSplit.from_json(record)
    csv = {**old, "version": 1, "header": "auto", "header_row": False}
    assert DataSplit.from_json(csv).targets == 1  # a CSV file's one label column
    with pytest.raises(ValueError, match="of version 1 has fields of version 2"):
        DataSplit.from_json({**record, "version": 1})


@pytest.mark.parametrize("regression", [False, True])
def test_the_learning_curve_shows_the_metric_of_the_task(tmp_path, monkeypatch, regression):
    """Before: a regression's plot had an empty accuracy panel."""
    import matplotlib.figure

    drawn = {}
    real = matplotlib.figure.Figure.savefig

    def savefig(fig, *args, **kwargs):
        drawn["titles"] = [axis.get_title() for axis in fig.axes]
        drawn["lines"] = [[line.get_label() for line in axis.get_lines()] for axis in fig.axes]
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    scores = (
        {"test_r2": 0.5, "validation_r2": 0.4} if regression else {"test_accuracy": 0.9, "validation_accuracy": 0.8}
    )
    history = [EpochStats(e, 1.0, 1.0, training_cost=1.0, test_cost=1.0, validation_cost=1.0, eta=0.1, **scores)
               for e in (1, 2)]  # fmt: skip
    assert plot_learning_curve(tmp_path / "curve.png", history, None, regression) is None
    assert drawn["titles"] == ["Cost", "R²" if regression else "Accuracy", "Learning rate"]
    assert drawn["lines"][1] == ["test", "validation"]


# ----- sample weights -----------------------------------------------------------------------------------------------


def test_each_weight_follows_its_row_through_the_split(tmp_path, monkeypatch):
    """The weight of file row i reaches training beside row i, wherever the shuffle put it; test rows get none."""
    x, y = separable_data(n=120, features=3)
    x[:, 0] = np.arange(120)  # each row says which it is
    write_csv(tmp_path / "data.csv", x, y)
    w = (np.arange(120) * 7) % 5
    np.savetxt(tmp_path / "w.csv", w, header="weight", comments="")
    given = {}
    real = Trainer.train

    def train(trainer, config, training_data, test_data=None, **kwargs):
        given.update(rows=np.asarray(training_data[0])[:, 0].astype(int), weights=kwargs["sample_weight"])
        return real(trainer, config, training_data, test_data, **kwargs)

    monkeypatch.setattr(Trainer, "train", train)
    out = ok(run("train", "--data", "data.csv", "--weights", "w.csv", "--epochs", 1, "--out", "run", cwd=tmp_path))
    assert "96 training and 24 test samples, weighted by w.csv" in out
    assert sorted(given["rows"]) != list(given["rows"])  # shuffled
    assert np.array_equal(given["weights"], w[given["rows"]])
    dataset = read_dataset(str(tmp_path / "data.csv"), weights=str(tmp_path / "w.csv"))
    assert np.array_equal(dataset.weights, w[dataset.train[0][:, 0].astype(int)])


def test_a_whole_weight_is_that_many_copies_of_the_row(tmp_path):
    """Full-batch sgd in float64 from the same seed: --weights of 0, 1, 2, 3 ends where the repeated rows end (the
    data's own test set, so that both files split alike)."""
    x, y = separable_data(n=60, features=4, classes=3)
    counts = np.arange(60) % 4
    np.savez(tmp_path / "data.npz", X=x, y=y, X_test=x[:10], y_test=y[:10])
    np.save(tmp_path / "w.npy", counts)
    rows = np.repeat(np.arange(60), counts)
    np.savez(tmp_path / "repeated.npz", X=x[rows], y=y[rows], X_test=x[:10], y_test=y[:10])
    flags = ["--sizes", 6, "--epochs", 3, "--dtype", "float64", "--lr", 0.5, "--quiet"]
    ok(run("train", "--data", "data.npz", "--weights", "w.npy", "--batch-size", 60, *flags, "--out", "w",
           cwd=tmp_path))  # fmt: skip
    ok(run("train", "--data", "repeated.npz", "--batch-size", len(rows), *flags, "--out", "r", cwd=tmp_path))
    for a, b in zip(weights_of(tmp_path / "w" / "model.npz"), weights_of(tmp_path / "r" / "model.npz")):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_the_weights_are_recorded_and_resume_refuses_changed_ones(tmp_path):
    x, y = regression_rows()
    write_table(tmp_path / "data.csv", y, x)
    w = 1 + np.arange(300) % 3
    np.savetxt(tmp_path / "w.txt", w)
    train = ["train", "--data", "data.csv", "--weights", "w.txt", *REGRESS]
    ok(run(*train, "--epochs", 2, "--checkpoint-every", 1, "--out", "run", cwd=tmp_path))
    with np.load(tmp_path / "run" / "model.npz") as npz:
        record = DataSplit.from_json(json.loads(str(npz["data_split"])))
    assert record.weights == str(tmp_path / "w.txt") and record.weights_fingerprint == fingerprint(w.astype(float))

    np.savetxt(tmp_path / "w.txt", w[::-1])  # the same weights, on other rows
    line = one_line_error(run("train", "--resume", "run", "--epochs", 3, cwd=tmp_path), "w.txt has changed since")
    assert "it has other weights (fingerprint" in line and "resume with the weights the run started with" in line
    np.savetxt(tmp_path / "w.txt", w)
    ok(run("train", "--resume", "run", "--epochs", 3, cwd=tmp_path))
    ok(run(*train, "--epochs", 3, "--out", "whole", cwd=tmp_path))
    resumed, whole = weights_of(tmp_path / "run" / "model.npz"), weights_of(tmp_path / "whole" / "model.npz")
    assert all(np.array_equal(a, b) for a, b in zip(resumed, whole))
    assert "R²: " in ok(run("evaluate", "run/model.npz", cwd=tmp_path))  # evaluation is unweighted: no --weights
