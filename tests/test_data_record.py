"""A model file carries what it takes to use it correctly (issue 16, §2): the record of its data's split and
fingerprint, which ``gpubp evaluate`` scores by and ``--resume`` checks, and the class labels of its outputs, which
``gpubp predict`` prints and ``evaluate`` maps by.

Every command runs in this process (``helpers.run``); the user's files are compared byte for byte before and after
each refusal."""

import json

import numpy as np
import pytest

import gpubp
from gpubp.data import DataSplit, load_dataset, read_dataset
from gpubp.data.split import fingerprint

from helpers import metrics_of, ok, one_line_error, run, separable_data, write_csv


def noisy_rows(n=400, features=6, seed=0):
    """Rows that a small network half learns: training and test accuracy differ, so rows scored as the wrong split
    show."""
    x, y = separable_data(n=n, features=features, classes=4, seed=seed)
    rng = np.random.default_rng(seed + 1)
    flipped = rng.random(n) < 0.45
    y = np.where(flipped, rng.integers(0, 4, n), y)
    return x + rng.normal(0, 0.3, x.shape), y


def pandas_csv(path, x, y, first=0):
    """What ``DataFrame.to_csv(index=False)`` writes for unnamed columns: a header 0, 1, …, k−1 (or from 1)."""
    header = ",".join(str(first + c) for c in range(x.shape[1] + 1))
    rows = [",".join([str(int(label))] + [f"{v:.6f}" for v in row]) for row, label in zip(x, y)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def files_of(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def evaluated(report: str) -> tuple[str, float]:
    """The data line and the accuracy of ``gpubp evaluate``'s report."""
    lines = report.splitlines()
    return lines[1], float(lines[2].split()[1])


TRAIN = ["--sizes", "6", "--epochs", 3, "--batch-size", 20, "--quiet"]


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """400 noisy rows, trained with a tenth held out for testing and a tenth of the rest for validation."""
    root = tmp_path_factory.mktemp("noisy")
    write_csv(root / "noisy.csv", *noisy_rows(), header=False)
    ok(run("train", "--data", "noisy.csv", "--test-fraction", 0.1, "--validation-fraction", 0.1, *TRAIN,
           "--checkpoint-every", 1, "--out", "run", cwd=root))  # fmt: skip
    return root


def test_evaluate_scores_the_test_split_the_model_records(noisy):
    """Before the record, evaluate drew its own split (test fraction 0.2: 80 rows, half of them trained on)."""
    last = metrics_of(noisy / "run")[-1]
    line, accuracy = evaluated(ok(run("evaluate", "run/model.npz", "--data", "noisy.csv", cwd=noisy)))
    assert line == "data: noisy.csv, test split recorded in the model, 40 samples"
    assert accuracy == pytest.approx(last["test_accuracy"], abs=5e-5)
    line, _ = evaluated(ok(run("evaluate", "run/model.npz", cwd=noisy)))  # --data defaults to the model's
    assert line.endswith("noisy.csv, test split recorded in the model, 40 samples")


def test_the_training_and_validation_rows_are_the_ones_the_run_used(noisy):
    last = metrics_of(noisy / "run")[-1]
    line, accuracy = evaluated(ok(run("evaluate", "run/model.npz", "--split", "validation", cwd=noisy)))
    assert line.endswith("validation rows recorded in the model, 36 samples")
    assert accuracy == pytest.approx(last["validation_accuracy"], abs=5e-5)
    line, _ = evaluated(ok(run("evaluate", "run/model.npz", "--split", "train", cwd=noisy)))
    assert line.endswith("training rows recorded in the model, without the 36 validation rows held out, 324 samples")
    # A checkpoint records the same split in its settings.
    line, accuracy = evaluated(ok(run("evaluate", "run/checkpoint.npz", "--split", "validation", cwd=noisy)))
    assert accuracy == pytest.approx(last["validation_accuracy"], abs=5e-5)


def test_other_data_gets_no_test_split_but_may_be_evaluated_whole(noisy):
    write_csv(noisy / "other.csv", *noisy_rows(n=150, seed=5), header=False)
    before = files_of(noisy)
    refused = run("evaluate", "run/model.npz", "--data", "other.csv", cwd=noisy)
    line = one_line_error(refused, "other.csv is not the data run/model.npz was trained on")
    assert "150 rows, where the model's data had 400" in line and "--split all" in line
    assert files_of(noisy) == before
    line, _ = evaluated(ok(run("evaluate", "run/model.npz", "--data", "other.csv", "--split", "all", cwd=noisy)))
    assert line == (
        "data: other.csv, all of it (not the model's data: it has 150 rows, where the model's data had 400), "
        "150 samples"
    )


def test_a_changed_file_or_another_test_fraction_is_named(noisy, tmp_path):
    x, y = noisy_rows()
    x[7, 2] += 1.0  # one value of one row
    write_csv(tmp_path / "noisy.csv", x, y, header=False)
    line = one_line_error(run("evaluate", noisy / "run/model.npz", "--data", "noisy.csv", cwd=tmp_path), "is not")
    assert "as many rows as the model's data (400) but other values" in line
    line = one_line_error(run("evaluate", "run/model.npz", "--test-fraction", 0.2, cwd=noisy), "is not the data")
    assert "a test fraction of 0.2, where the model's was 0.1" in line


def test_a_pandas_header_is_read_as_the_model_read_it(tmp_path):
    """Trained with --header yes on a pandas header (0,1,…,k), evaluate without --header reads it the same way; told
    --header no, the file reads as other data (one row more) and is refused, naming the header rule."""
    pandas_csv(tmp_path / "pandas.csv", *noisy_rows())
    ok(run("train", "--data", "pandas.csv", "--header", "yes", "--test-fraction", 0.1, *TRAIN, "--out", "run",
           cwd=tmp_path))  # fmt: skip
    line, accuracy = evaluated(ok(run("evaluate", "run/model.npz", "--data", "pandas.csv", cwd=tmp_path)))
    assert line.endswith("test split recorded in the model, 40 samples")
    assert accuracy == pytest.approx(metrics_of(tmp_path / "run")[-1]["test_accuracy"], abs=5e-5)
    line = one_line_error(run("evaluate", "run/model.npz", "--header", "no", cwd=tmp_path), "is not the data")
    assert "a first row read as data (--header no)" in line and "(--header yes)" in line
    assert "401 rows, where the model's data had 400" in line


def test_a_model_without_a_record_is_evaluated_only_where_that_is_unambiguous(tmp_path):
    x, y = separable_data()
    write_csv(tmp_path / "data.csv", x, y)
    np.savez(tmp_path / "own.npz", X=x[:100], y=y[:100], X_test=x[100:], y_test=y[100:])
    gpubp.save(gpubp.Network([5, 4, 3], device="cpu", seed=0), tmp_path / "model.npz")
    line = one_line_error(run("evaluate", "model.npz", "--data", "data.csv", cwd=tmp_path), "records no data split")
    assert "--split all" in line
    assert "120 samples" in ok(run("evaluate", "model.npz", "--data", "data.csv", "--split", "all", cwd=tmp_path))
    line, _ = evaluated(ok(run("evaluate", "model.npz", "--data", "own.npz", cwd=tmp_path)))
    assert line == "data: own.npz, the data's own test set, 20 samples"


def test_resume_refuses_a_data_file_that_has_changed(tmp_path):
    """Before the fingerprint, resuming on 150 other rows exited 0 with 120/30 samples and a mixed history."""
    write_csv(tmp_path / "data.csv", *noisy_rows(n=200), header=False)
    ok(run("train", "--data", "data.csv", *TRAIN, "--epochs", 2, "--checkpoint-every", 1, "--out", "run",
           cwd=tmp_path))  # fmt: skip
    write_csv(tmp_path / "data.csv", *noisy_rows(n=150, seed=3), header=False)
    before = files_of(tmp_path)
    refused = run("train", "--resume", "run", "--epochs", 3, cwd=tmp_path)
    line = one_line_error(refused, "data.csv has changed since run/checkpoint.npz was written")
    assert "150 rows, where the run's data had 200" in line
    assert files_of(tmp_path) == before
    write_csv(tmp_path / "data.csv", *noisy_rows(n=200), header=False)  # the run's data again
    assert "resuming after epoch 2" in ok(run("train", "--resume", "run", "--epochs", 3, cwd=tmp_path))


def test_the_record_holds_the_fingerprint_of_the_rows_as_read(tmp_path):
    x, y = separable_data()
    write_csv(tmp_path / "data.csv", x, y)
    dataset = read_dataset(str(tmp_path / "data.csv"), test_fraction=0.25)
    rows = np.round(x, 6)
    assert dataset.split.fingerprint == fingerprint(rows, y.astype(np.int64))
    assert (dataset.split.rows, dataset.split.train_rows, dataset.split.test_rows) == (120, 90, 30)
    assert dataset.split.header_row is True and dataset.split.test_fraction == 0.25
    assert DataSplit.from_json(json.loads(json.dumps(dataset.split.to_json()))) == dataset.split
    (x_train, y_train), (x_test, y_test) = load_dataset(str(tmp_path / "data.csv"), test_fraction=0.25)
    assert np.array_equal(x_train, dataset.train[0]) and np.array_equal(y_test, dataset.test[1])


def test_a_damaged_record_is_a_damaged_model(tmp_path, noisy):
    with np.load(noisy / "run" / "model.npz") as npz:
        arrays = dict(npz)
    record = json.loads(str(arrays["data_split"]))
    record["rows"] = -1
    np.savez(tmp_path / "model.npz", **{**arrays, "data_split": np.array(json.dumps(record))})
    one_line_error(run("evaluate", "model.npz", cwd=tmp_path), "is a damaged gpubp model (its data split record")


# ----- class labels travel with the model -------------------------------------------------------------------------


def test_a_classifiers_saved_network_predicts_and_evaluates_by_its_labels(tmp_path):
    """Before the labels were saved, gpubp predict printed the output indices 0 1 2 … and evaluate said "make the
    last size 20" for a classifier fitted on the labels 1, 3, 5, …, 19."""
    from gpubp.sklearn import NetworkClassifier

    x, y = separable_data(n=200, features=10, classes=10)
    labels = y * 2 + 1
    clf = NetworkClassifier(hidden_layer_sizes=(20,), max_iter=30, random_state=0, device="cpu").fit(x, labels)
    gpubp.save(clf.network_, tmp_path / "model.npz")
    np.savetxt(tmp_path / "inputs.csv", x, delimiter=",")
    printed = ok(run("predict", "model.npz", "inputs.csv", cwd=tmp_path)).split()
    assert printed == [str(v) for v in clf.predict(np.loadtxt(tmp_path / "inputs.csv", delimiter=","))]
    write_csv(tmp_path / "data.csv", np.round(x, 6), labels)
    report = ok(run("evaluate", "model.npz", "--data", "data.csv", "--split", "all", cwd=tmp_path))
    assert f"accuracy: {clf.score(np.round(x, 6), labels):.4f}" in report
    assert report.split("predicted class):\n")[1].splitlines()[0].split()[1:4] == ["1", "3", "5"]
    write_csv(tmp_path / "two.csv", np.round(x, 6), np.where(labels == 19, 2, labels))
    line = one_line_error(run("evaluate", "model.npz", "--data", "two.csv", "--split", "all", cwd=tmp_path), "label 2 ")
    assert "is not a class of the model, which labels its 10 classes 1, 3, 5" in line


def test_string_labels_round_trip_without_pickle(tmp_path):
    from gpubp.sklearn import NetworkClassifier

    x, y = separable_data(n=90, features=4, classes=3)
    names = np.array(["cat", "dog", "eel"])[y]
    clf = NetworkClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0, device="cpu").fit(x, names)
    gpubp.save(clf.network_, tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        assert npz["labels"].tolist() == ["cat", "dog", "eel"]
    assert gpubp.load(tmp_path / "model.npz", device="cpu").labels.tolist() == ["cat", "dog", "eel"]
    np.savez(tmp_path / "inputs.npz", X=x)
    assert ok(run("predict", "model.npz", "inputs.npz", cwd=tmp_path)).split() == clf.predict(x).tolist()


@pytest.mark.parametrize("kind", ["bool", "str"])
def test_npz_labels_that_are_not_class_numbers_are_mapped_and_recorded(tmp_path, kind):
    """NPZ labels of dtype bool were refused, though the estimator takes bool y; strings too."""
    x, y = separable_data(n=120, features=5, classes=2)
    labels = y.astype(bool) if kind == "bool" else np.array(["no", "yes"])[y]
    np.savez(tmp_path / "data.npz", X=x, y=labels)
    out = ok(run("train", "--data", "data.npz", "--sizes", "8", "--epochs", 20, "--out", "run", cwd=tmp_path))
    assert "sizes [5, 8, 2]" in out
    assert gpubp.load(tmp_path / "run" / "model.npz", device="cpu").labels.tolist() == sorted(set(labels.tolist()))
    np.savez(tmp_path / "inputs.npz", X=x)
    printed = ok(run("predict", "run/model.npz", "inputs.npz", cwd=tmp_path)).split()
    assert set(printed) <= {str(v) for v in labels.tolist()}
    assert np.mean(np.array(printed) == np.array([str(v) for v in labels.tolist()])) > 0.9
    line, accuracy = evaluated(ok(run("evaluate", "run/model.npz", cwd=tmp_path)))
    assert line.endswith("test split recorded in the model, 24 samples")
    assert accuracy == pytest.approx(metrics_of(tmp_path / "run")[-1]["test_accuracy"], abs=5e-5)
