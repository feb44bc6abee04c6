"""Bad input to the gpubp command: one line on stderr naming the problem and the fix, exit status 2, no traceback,
and nothing already written damaged (each case runs beside an earlier run whose files must stay byte-identical)."""

import numpy as np
import pytest

from cli_helpers import gpubp, separable_data, write_csv, write_mnist
from gpubp.backend import probe_gpu


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with an earlier run (model, checkpoint, metrics, plot) and data files, good and bad."""
    root = tmp_path_factory.mktemp("cli-errors")
    result = gpubp("train", "--epochs", 1, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=root)
    assert result.returncode == 0, result.stderr
    result = gpubp("train", "--epochs", 2, "--checkpoint-every", 1, "--schedule", "cosine", "--out", "cosine",
                   "--quiet", cwd=root)
    assert result.returncode == 0, result.stderr
    mnist = write_mnist(root / "mnist")
    write_mnist(root / "gz", gz=True)
    partial = root / "partial"
    partial.mkdir()
    (partial / "train-images-idx3-ubyte").write_bytes((mnist / "train-images-idx3-ubyte").read_bytes())
    swapped = write_mnist(root / "swapped")
    (swapped / "train-images-idx3-ubyte").write_bytes((mnist / "train-labels-idx1-ubyte").read_bytes())
    truncated = write_mnist(root / "truncated")
    (truncated / "t10k-images-idx3-ubyte").write_bytes((mnist / "t10k-images-idx3-ubyte").read_bytes()[:5000])
    mismatch = write_mnist(root / "mismatch")
    (mismatch / "train-labels-idx1-ubyte").write_bytes((write_mnist(root / "other", n_train=50) /
                                                        "train-labels-idx1-ubyte").read_bytes())
    broken_gz = write_mnist(root / "brokengz", gz=True)
    whole = (broken_gz / "train-images-idx3-ubyte.gz").read_bytes()
    (broken_gz / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    x, y = separable_data()
    write_csv(root / "good.csv", x, y)
    (root / "text.csv").write_text("label,a,b\n0,1,2\n1,abc,3\n")
    (root / "ragged.csv").write_text("0,1,2\n1,2,3\n1,2\n")
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("label,a,b\n")
    (root / "fraction.csv").write_text("0,1,2\n1.5,2,3\n")
    (root / "negative.csv").write_text("0,1,2\n-1,2,3\n")
    (root / "nan.csv").write_text("0,1,2\n1,nan,3\n0,1,1\n1,2,2\n")
    np.savez(root / "nolabels.npz", X=x)
    np.savez(root / "notmodel.npz", X=x)
    model = (root / "run" / "model.npz").read_bytes()
    (root / "truncated-model.npz").write_bytes(model[: len(model) // 2])
    with np.load(root / "run" / "model.npz") as npz:
        arrays = dict(npz)
    np.savez(root / "future-model.npz", **{**arrays, "gpubp_format": np.int64(7)})
    np.savez(root / "wide.npz", X=np.zeros((3, 65)))
    np.savez(root / "features.npz", X=np.zeros((3, 64)))
    np.savez(root / "twelve.npz", X=np.zeros((4, 64)), y=np.array([0, 1, 12, 3]), X_test=np.zeros((2, 64)),
             y_test=np.array([12, 0]))
    return root


def snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


CASES = {
    "missing MNIST folder": (["train", "--data", "mnist", "--data-dir", "nowhere"],
                             "MNIST folder nowhere does not exist"),
    "missing MNIST file": (["train", "--data", "mnist", "--data-dir", "partial"],
                           "has no train-labels-idx1-ubyte"),
    "IDX wrong magic": (["train", "--data", "mnist", "--data-dir", "swapped"], "is not an IDX image file"),
    "IDX truncated": (["train", "--data", "mnist", "--data-dir", "truncated"], "is truncated"),
    "IDX count mismatch": (["train", "--data", "mnist", "--data-dir", "mismatch"], "holds 60 images but"),
    "IDX broken gzip": (["train", "--data", "mnist", "--data-dir", "brokengz"], "cannot be read"),
    "missing CSV": (["train", "--data", "nothere.csv"], "CSV file nothere.csv does not exist"),
    "CSV non-numeric cell": (["train", "--data", "text.csv"], "row 3, column 2: 'abc' is not a number"),
    "CSV ragged rows": (["train", "--data", "ragged.csv"], "row 3 has 2 columns but the first data row has 3"),
    "CSV no rows": (["train", "--data", "empty.csv"], "has no rows"),
    "CSV header only": (["train", "--data", "header.csv"], "has a header but no data rows"),
    "non-integer label": (["train", "--data", "fraction.csv"], "label 1.5 in row 2 is not a class number"),
    "negative label": (["train", "--data", "negative.csv"], "label -1.0 in row 2 is not a class number"),
    "NaN feature": (["train", "--data", "nan.csv", "--batch-size", "2"], "X contains NaN or infinite values"),
    "NPZ without y": (["train", "--data", "nolabels.npz"], "has no y array"),
    "unknown dataset": (["train", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    "sizes contradict input": (["train", "--sizes", "784,30,10"], "the data has 64 features per sample"),
    "sizes contradict output": (["train", "--sizes", "64,30,5"], "and 10 classes: write 64,30,10"),
    "sizes not numbers": (["train", "--sizes", "thirty"], "argument --sizes: takes comma-separated"),
    "batch size zero": (["train", "--batch-size", "0"], "mini-batch size must be a whole number >= 1"),
    "batch size too large": (["train", "--batch-size", "5000"], "larger than the training set (1438 samples)"),
    "learning rate zero": (["train", "--lr", "0"], "learning rate eta must be a finite number > 0"),
    "learning rate negative": (["train", "--lr", "-1"], "learning rate eta must be a finite number > 0"),
    "epochs zero": (["train", "--epochs", "0"], "epochs must be a whole number >= 1"),
    "test fraction": (["train", "--test-fraction", "1.5"], "test fraction must lie strictly between 0 and 1"),
    "checkpoint every": (["train", "--checkpoint-every", "-1"], "--checkpoint-every must be a whole number >= 0"),
    "unknown cost": (["train", "--cost", "hinge"], "argument --cost: invalid choice: 'hinge'"),
    "unknown dtype": (["train", "--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    "unknown device": (["train", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    "unknown optimizer": (["train", "--optimizer", "rmsprop"], "unknown optimizer 'rmsprop': choose one of sgd,"),
    "momentum of 1": (["train", "--optimizer", "momentum", "--momentum", "1"], "momentum μ must be a number in [0, 1)"),
    "momentum NaN": (["train", "--optimizer", "nesterov", "--momentum", "nan"], "momentum μ must be a number in"),
    "momentum without its rule": (["train", "--momentum", "0.5"],
                                  "--momentum applies to --optimizer momentum or nesterov, not sgd"),
    "momentum not a number": (["train", "--momentum", "high"], "argument --momentum: invalid float value"),
    "negative L2": (["train", "--l2", "-1"], "the L2 strength λ (lmbda, --l2) must be a finite number >= 0"),
    "infinite L2": (["train", "--l2", "inf"], "the L2 strength λ (lmbda, --l2) must be a finite number >= 0"),
    "unknown init": (["train", "--init", "xavier"], "unknown init 'xavier': choose normal"),
    "resume with another optimizer": (["train", "--resume", "run/checkpoint.npz", "--optimizer", "adam"],
                                      "--optimizer adam differs from the checkpoint's sgd"),
    "overwrite a run": (["train", "--out", "run"], "run already holds a run"),
    "resume from a model": (["train", "--resume", "run/model.npz"], "is a gpubp model but not a checkpoint"),
    "resume with another lr": (["train", "--resume", "run/checkpoint.npz", "--lr", "0.5"],
                               "--lr 0.5 differs from the checkpoint's 3.0"),
    "resume with nothing to do": (["train", "--resume", "run/checkpoint.npz"], "already holds 1 epochs"),
    "model not gpubp": (["evaluate", "notmodel.npz"], "not a gpubp model"),
    "model from the future": (["evaluate", "future-model.npz"], "written by a newer gpubp (model format 7"),
    "model corrupt": (["evaluate", "truncated-model.npz"], "corrupt, truncated or not an .npz"),
    "model missing": (["evaluate", "nomodel.npz"], "model file nomodel.npz does not exist"),
    "evaluate on other data": (["evaluate", "run/model.npz", "--data", "good.csv"],
                               "the model takes 64 features per sample but good.csv (test) has 5"),
    "label beyond the model's outputs": (["evaluate", "run/model.npz", "--data", "twelve.npz"],
                                         "labels must lie in 0..9 for a network with 10 outputs, found 0..12"),
    "predict on wrong width": (["predict", "run/model.npz", "wide.npz"], "the model takes 64 features"),
    "predict into a missing folder": (["predict", "run/model.npz", "features.npz", "--out", "nowhere/labels.txt"],
                                      "cannot write nowhere/labels.txt"),
    "gradcheck bad samples": (["gradcheck", "--samples", "0"], "--samples must be at least 1"),
    "unknown schedule": (["train", "--schedule", "step"], "argument --schedule: invalid choice: 'step'"),
    "negative patience": (["train", "--patience", "-1", "--validation-fraction", "0.1"],
                          "patience must be a whole number of epochs >= 1"),
    "zero patience": (["train", "--patience", "0", "--validation-fraction", "0.1"],
                      "patience must be a whole number of epochs >= 1"),
    "patience not a number": (["train", "--patience", "three"], "argument --patience: invalid int value"),
    "patience without validation": (["train", "--patience", "3"], "patience watches the validation accuracy, but "
                                                                  "there is no validation data"),
    "plateau without validation": (["train", "--schedule", "plateau"], "the plateau schedule watches the "
                                                                       "validation accuracy"),
    "validation fraction one": (["train", "--validation-fraction", "1"], "validation fraction must lie in [0, 1)"),
    "validation fraction negative": (["train", "--validation-fraction", "-0.2"],
                                     "validation fraction must lie in [0, 1)"),
    "validation fraction nan": (["train", "--validation-fraction", "nan"], "validation fraction must lie in [0, 1)"),
    "validation fraction too small": (["train", "--validation-fraction", "0.0001"], "holds out no sample of 1438"),
    "validation leaves no batch": (["train", "--validation-fraction", "0.995"],
                                   "leaves 7 training samples, fewer than one mini-batch of 10"),
    "warm-up longer than the run": (["train", "--warmup-epochs", "30"], "leaves no epoch at full η in a run of 30"),
    "negative warm-up": (["train", "--warmup-epochs", "-1"], "warm-up must be a whole number of epochs >= 0"),
    "plateau factor below one": (["train", "--schedule", "plateau", "--validation-fraction", "0.1",
                                  "--plateau-factor", "0.5"], "plateau factor divides η"),
    "plateau patience zero": (["train", "--plateau-patience", "0"], "plateau patience must be a whole number"),
    "resume with another schedule": (["train", "--resume", "run/checkpoint.npz", "--schedule", "cosine"],
                                     "--schedule cosine differs from the checkpoint's constant"),
    "resume a cosine run longer": (["train", "--resume", "cosine/checkpoint.npz", "--epochs", "3"],
                                   "the cosine schedule spreads its decay over the run's 2 epochs"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line_and_loses_nothing(workspace, case):
    args, message = CASES[case]
    before = snapshot(workspace)
    result = gpubp(*args, cwd=workspace)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpubp"), result.stderr
    assert message in lines[0]
    assert snapshot(workspace) == before


def test_gpu_without_a_gpu_names_the_extra_to_install(workspace):
    if probe_gpu()[0] is not None:
        pytest.skip("this machine has a usable GPU")
    result = gpubp("train", "--device", "gpu", "--epochs", 1, cwd=workspace)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "a GPU was requested but none can be used" in result.stderr and "gpubp[gpu]" in result.stderr
