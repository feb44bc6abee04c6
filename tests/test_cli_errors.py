"""Bad input to the gpubp command: one line on stderr naming the problem and the fix, exit status 2, no traceback,
and nothing already written damaged (each case runs beside an earlier run whose files must stay byte-identical).

Each case runs through ``gpubp.cli.main`` in this process (``helpers.run``, where a traceback fails the test as an
exception); a few also run as the installed ``gpubp`` script, in a process of its own."""

import os

import numpy as np
import pytest

from gpubp.backend import probe_gpu
from gpubp.data.split import split_rows
from gpubp.training.config import validation_split

from helpers import gpubp, idx_bytes, run, separable_data, write_csv, write_mnist


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with an earlier run (model, checkpoint, metrics, plot) and data files, good and bad."""
    root = tmp_path_factory.mktemp("cli-errors")
    result = run("train", "--epochs", 1, "--checkpoint-every", 1, "--out", "run", "--quiet", cwd=root)
    assert result.returncode == 0, result.stderr
    result = run(
        "train", "--epochs", 2, "--checkpoint-every", 1, "--schedule", "cosine", "--out", "cosine", "--quiet", cwd=root
    )
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
    (mismatch / "train-labels-idx1-ubyte").write_bytes(
        (write_mnist(root / "other", n_train=50) / "train-labels-idx1-ubyte").read_bytes()
    )
    broken_gz = write_mnist(root / "brokengz", gz=True)
    whole = (broken_gz / "train-images-idx3-ubyte.gz").read_bytes()
    (broken_gz / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    x, y = separable_data()
    write_csv(root / "good.csv", x, y)
    (root / "text.csv").write_text("label,a,b\n0,1,2\n1,abc,3\n")
    (root / "ragged.csv").write_text("0,2,1\n1,2,3\n1,2\n")
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("label,a,b\n")
    (root / "fraction.csv").write_text("0,2,1\n1.5,2,3\n")
    (root / "negative.csv").write_text("0,2,1\n-1,2,3\n")
    (root / "nan.csv").write_text("0,2,1\n1,nan,3\n0,1,1\n1,2,2\n")
    np.savez(root / "nolabels.npz", X=x)
    np.savez(root / "notmodel.npz", X=x)
    model = (root / "run" / "model.npz").read_bytes()
    (root / "truncated-model.npz").write_bytes(model[: len(model) // 2])
    with np.load(root / "run" / "model.npz") as npz:
        arrays = dict(npz)
    np.savez(root / "future-model.npz", **{**arrays, "gpubp_format": np.int64(7)})
    np.savez(root / "wide.npz", X=np.zeros((3, 65)))
    np.savez(root / "features.npz", X=np.zeros((3, 64)))
    np.savez(
        root / "twelve.npz",
        X=np.zeros((4, 64)),
        y=np.array([0, 1, 12, 3]),
        X_test=np.zeros((2, 64)),
        y_test=np.array([12, 0]),
    )
    write_hostile_files(root, x, y)
    return root


def write_hostile_files(root, x, y):
    """Files of every class of bad input from issue 10: each is refused in one line, whatever gpubp it reaches."""
    rows = [",".join([str(label)] + [f"{v:.3f}" for v in row]) for row, label in zip(x, y)]
    (root / "mixed.csv").write_text("0,abc,1\n1,2,3\n")
    (root / "underscore.csv").write_text("0,2,1\n1,1_000,3\n")
    (root / "arabic.csv").write_text("0,2,1\n1,\u0663,3\n")
    (root / "hex.csv").write_text("0,2,1\n1,0x1,3\n")
    (root / "trailing.csv").write_text("0,1,2,\n1,2,3,\n")
    (root / "badutf8.csv").write_bytes(("\n".join(rows) + "\n").encode() * 3 + b"1,0.5,\xff,0,0,0\n")
    (root / "folder.csv").mkdir()
    os.mkfifo(root / "fifo.csv")
    os.symlink("/proc/self/mem", root / "eio.csv")  # reading it at offset 0 is an I/O error (EIO)
    np.savez(root / "xlong.npz", X=np.zeros((5, 64)), y=np.arange(4) % 2)
    np.savez(root / "ylong.npz", X=np.zeros((4, 64)), y=np.arange(5) % 2)
    np.savez(root / "xtestonly.npz", X=x, y=y, X_test=x)
    np.savez(root / "ytestonly.npz", X=x, y=y, y_test=y)
    digits_like = np.zeros((6, 64))
    np.savez(root / "testwidth.npz", X=digits_like, y=np.arange(6) % 2, X_test=np.zeros((3, 65)), y_test=[0, 1, 0])
    np.savez(root / "complex.npz", X=x + 1j, y=y)
    (root / "oneclass.csv").write_text("".join(f"3,{v},{1 - v}\n" for v in np.linspace(0, 1, 20)))
    (root / "stray.csv").write_text("".join(f"{k % 3},{k},1\n" for k in range(29)) + "1000000,5,1\n")
    (root / "hugelabel.csv").write_text("0,2,1\n1e20,2,3\n1,3,3\n")
    (root / "float32overflow.csv").write_text("0,2,1\n1,1e39,3\n" + "".join(f"{k % 2},{k},1\n" for k in range(20)))
    images = np.zeros((2, 28, 28), np.uint8)
    for name, images_file in {
        "zeroimages": idx_bytes(np.zeros((0, 28, 28)), 0x803),
        "overflowdims": (0x803).to_bytes(4, "big")
        + b"".join(d.to_bytes(4, "big") for d in (2**31, 2**31, 4))
        + bytes(100),
        "typecode": (0xD03).to_bytes(4, "big") + idx_bytes(images, 0x803)[4:],
        "trailing": idx_bytes(images, 0x803) + bytes(10),
    }.items():
        folder = write_mnist(root / name)
        (folder / "train-images-idx3-ubyte").write_bytes(images_file)
    with np.load(root / "run" / "model.npz") as npz:
        arrays = dict(npz)
    np.savez(root / "hugesizes-model.npz", **{**arrays, "sizes": np.array([64, 10**9, 10])})
    np.savez(root / "version0-model.npz", **{**arrays, "gpubp_format": np.int64(0)})
    np.savez(root / "version1.5-model.npz", **{**arrays, "gpubp_format": np.float64(1.5)})
    (root / "text-model.npz").write_text("sizes,w0\n64,1\n")
    np.save(root / "single.npy", np.zeros(3))
    (root / "labels.txt").write_text("earlier labels the user keeps\n")
    os.symlink("features.npz", root / "features-link.npz")
    os.link(root / "features.npz", root / "features-hardlink.npz")
    write_issue_16_files(root, x, y)
    write_issue_18_files(root, x, y)


def write_issue_18_files(root, x, y):
    """Real-valued targets, a regression's run, and weights files good and bad for good.csv's 120 rows."""
    real = x @ np.arange(1.0, 6.0) + 0.25
    np.savetxt(root / "real.csv", np.column_stack([real, x]), delimiter=",")
    np.savez(root / "real2.npz", X=x, y=np.column_stack([real, -real]))
    np.savez(root / "realtest.npz", X=x, y=real, X_test=x[:5], y_test=np.column_stack([real[:5], real[:5]]))
    np.savetxt(root / "constant.csv", np.column_stack([np.full(len(x), 2.5), x]), delimiter=",")
    result = run("train", "--data", "real.csv", "--output", "identity", "--lr", "0.01", "--epochs", 1,
                 "--checkpoint-every", 1, "--out", "regression", "--quiet", cwd=root)  # fmt: skip
    assert result.returncode == 0, result.stderr
    np.savetxt(root / "weights.csv", np.ones(len(x)))
    np.savetxt(root / "negative-weights.csv", np.r_[np.ones(len(x) - 1), -2])
    np.savetxt(root / "nan-weights.txt", np.r_[np.ones(5), np.nan, np.ones(len(x) - 6)])
    np.savetxt(root / "short-weights.csv", np.ones(len(x) - 1))
    np.savetxt(root / "zero-weights.csv", np.zeros(len(x)))
    np.savetxt(root / "two-column-weights.csv", np.ones((len(x), 2)), delimiter=",")
    (root / "pandas-weights.csv").write_text("0\n" + "1\n" * len(x))
    np.save(root / "object-weights.npy", np.array([1, "a"] * 60, dtype=object), allow_pickle=True)
    np.save(root / "matrix-weights.npy", np.ones((len(x), 2)))
    np.savez(root / "weights.npz", w=np.ones(len(x)))
    # weight only on the rows that good.csv's test split and a validation hold-out of 0.5 keep out of training
    train_rows = split_rows(120, 0.2, 0)[0]
    kept = train_rows[validation_split(len(train_rows), 0.5)[0]]
    only_held_out = np.ones(len(x))
    only_held_out[kept] = 0
    np.savetxt(root / "held-out-weights.csv", only_held_out)


def write_issue_16_files(root, x, y):
    """Data files named like run files, in a folder of their own and behind a symlink to it, and an NPZ dataset."""
    (root / "datafolder").mkdir()
    np.savez(root / "datafolder" / "model.npz", X=x, y=y)
    np.savez(root / "datafolder" / "checkpoint.npz", X=x, y=y)
    os.symlink("datafolder", root / "datalink")
    np.savez(root / "xy.npz", X=x, y=y)


def snapshot(root):
    return {
        p.relative_to(root): (p.read_bytes(), p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


CASES = {
    "missing MNIST folder": (
        ["train", "--data", "mnist", "--data-dir", "nowhere"],
        "the IDX folder nowhere does not exist: give --data-dir the folder",
    ),
    "missing MNIST file": (["train", "--data", "mnist", "--data-dir", "partial"], "has no train-labels-idx1-ubyte"),
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
    "NaN feature": (["train", "--data", "nan.csv", "--batch-size", "2"], "row 2 holds nan in feature column 1"),
    "NPZ without y": (["train", "--data", "nolabels.npz"], "has no y array"),
    "unknown dataset": (["train", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    "sizes contradict input": (["train", "--sizes", "784,30,10"], "the data has 64 features per sample"),
    "sizes contradict output": (["train", "--sizes", "64,30,5"], "and 10 classes: write 64,30,10"),
    "sizes not numbers": (["train", "--sizes", "thirty"], "argument --sizes: takes comma-separated"),
    "batch size zero": (
        ["train", "--batch-size", "0"],
        "--batch-size (the mini-batch size) must be a whole number >= 1, got 0",
    ),
    "batch size too large": (["train", "--batch-size", "5000"], "larger than the training set (1438 samples)"),
    "learning rate zero": (["train", "--lr", "0"], "--lr (the learning rate η) must be a finite number > 0"),
    "learning rate negative": (["train", "--lr", "-1"], "--lr (the learning rate η) must be a finite number > 0"),
    "epochs zero": (["train", "--epochs", "0"], "epochs must be a whole number >= 1"),
    "test fraction": (
        ["train", "--test-fraction", "1.5"],
        "--test-fraction (the test fraction) must be a finite number in (0, 1), got 1.5",
    ),
    "checkpoint every": (
        ["train", "--checkpoint-every", "-1"],
        "--checkpoint-every (the checkpoint interval) must be a whole number >= 0",
    ),
    "unknown cost": (
        ["train", "--cost", "hinge"],
        "--cost (the cost) must be one of quadratic, cross-entropy, log-likelihood, got 'hinge'",
    ),
    "unknown dtype": (
        ["train", "--dtype", "float16"],
        "--dtype (the dtype) must be one of float32, float64, got 'float16'",
    ),
    "unknown device": (["train", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    "unknown optimizer": (
        ["train", "--optimizer", "rmsprop"],
        "--optimizer (the update rule) must be one of sgd, momentum, nesterov, adam, got 'rmsprop'",
    ),
    "momentum of 1": (
        ["train", "--optimizer", "momentum", "--momentum", "1"],
        "--momentum (momentum μ) must be a finite number in [0, 1)",
    ),
    "momentum NaN": (
        ["train", "--optimizer", "nesterov", "--momentum", "nan"],
        "--momentum (momentum μ) must be a finite number in",
    ),
    "momentum without its rule": (
        ["train", "--momentum", "0.5"],
        "--momentum applies to --optimizer momentum or nesterov, not sgd",
    ),
    "plateau factor without its schedule": (
        ["train", "--plateau-factor", "3"],
        "--plateau-factor applies to --schedule plateau, not constant",
    ),
    "plateau patience without its schedule": (
        ["train", "--schedule", "cosine", "--plateau-patience", "2"],
        "--plateau-patience applies to --schedule plateau, not cosine",
    ),
    "momentum not a number": (["train", "--momentum", "high"], "argument --momentum: invalid float value"),
    "negative L2": (["train", "--l2", "-1"], "--l2 (the L2 strength λ) must be a finite number >= 0"),
    "infinite L2": (["train", "--l2", "inf"], "--l2 (the L2 strength λ) must be a finite number >= 0"),
    "unknown init": (
        ["train", "--init", "xavier"],
        "--init (the initialization) must be one of normal, scaled, he, glorot (or None: each activation's own), got "
        "'xavier'",
    ),
    "resume with another optimizer": (
        ["train", "--resume", "run/checkpoint.npz", "--optimizer", "adam"],
        "--optimizer adam differs from the checkpoint's sgd",
    ),
    "overwrite a run": (["train", "--out", "run"], "run already holds a run"),
    "resume from a model": (["train", "--resume", "run/model.npz"], "is a gpubp model but not a checkpoint"),
    "resume with another batch size": (
        ["train", "--resume", "run/checkpoint.npz", "--batch-size", "5"],
        "--batch-size 5 differs from the checkpoint's 10",
    ),
    "resume with nothing to do": (["train", "--resume", "run/checkpoint.npz"], "already holds 1 epochs"),
    "model not gpubp": (["evaluate", "notmodel.npz"], "not a gpubp model"),
    "model from the future": (["evaluate", "future-model.npz"], "written by a newer gpubp (model format 7"),
    "model corrupt": (["evaluate", "truncated-model.npz"], "corrupt, truncated or not an .npz"),
    "model missing": (["evaluate", "nomodel.npz"], "model file nomodel.npz does not exist"),
    "evaluate on other data": (
        ["evaluate", "run/model.npz", "--data", "good.csv"],
        "good.csv is not the data run/model.npz was trained on: it has 120 rows, where the model's data had 1797",
    ),
    "evaluate all of other data of another width": (
        ["evaluate", "run/model.npz", "--data", "good.csv", "--split", "all"],
        "the model takes 64 features per sample but good.csv (train) has 5",
    ),
    "label beyond the model's outputs": (
        ["evaluate", "run/model.npz", "--data", "twelve.npz", "--split", "all"],
        "twelve.npz (all): label 12 (2 row(s)) is not a class of the model, which numbers its 10 classes 0..9",
    ),
    "predict on wrong width": (["predict", "run/model.npz", "wide.npz"], "the model takes 64 features"),
    "predict into a missing folder": (
        ["predict", "run/model.npz", "features.npz", "--out", "nowhere/labels.txt"],
        "cannot write nowhere/labels.txt",
    ),
    "gradcheck bad samples": (["gradcheck", "--samples", "0"], "--samples must be at least 1"),
    # issue 10, item 1: one rule for "is a number", and never a guess about the first row
    "CSV first row mixes names and numbers": (["train", "--data", "mixed.csv"], "the first row mixes numbers"),
    "CSV number with underscores": (["train", "--data", "underscore.csv"], "row 2, column 2: '1_000' is not a number"),
    "CSV non-ASCII digit": (["train", "--data", "arabic.csv"], "row 2, column 2: '\u0663' is not a number"),
    "CSV hexadecimal": (["train", "--data", "hex.csv"], "row 2, column 2: '0x1' is not a number"),
    "CSV trailing comma": (["train", "--data", "trailing.csv"], "row 1, column 4 is empty"),
    "CSV header no, but a header": (
        ["train", "--data", "good.csv", "--header", "no"],
        "row 1, column 1: 'label' is not a number",
    ),
    "CSV header choice": (
        ["predict", "run/model.npz", "good.csv", "--header", "maybe"],
        "--header (the CSV header rule) must be one of auto, yes, no, got 'maybe'",
    ),
    # item 2: --out and --json never replace an input, nor any file without --force
    "predict --out the model": (
        ["predict", "run/model.npz", "features.npz", "--out", "run/model.npz", "--force"],
        "is the very file run/model.npz",
    ),
    "predict --out the input by symlink": (
        ["predict", "run/model.npz", "features.npz", "--out", "features-link.npz", "--force"],
        "is the very file features.npz",
    ),
    "predict --out the input by hard link": (
        ["predict", "run/model.npz", "features.npz", "--out", "features-hardlink.npz", "--force"],
        "is the very file features.npz",
    ),
    "predict --out an existing file": (
        ["predict", "run/model.npz", "features.npz", "--out", "labels.txt"],
        "labels.txt already exists: add --force",
    ),
    "predict --out a device": (
        ["predict", "run/model.npz", "features.npz", "--out", "/dev/null", "--force"],
        "/dev/null is not a regular file",
    ),
    "bench --json an existing file": (
        ["bench", "--json", "labels.txt", "--net", "4,3,2/2/4", "--peers", ""],
        "labels.txt already exists: add --force",
    ),
    # item 6: features and labels that do not pair up
    "NPZ X longer than y": (["train", "--data", "xlong.npz"], "X has 5 samples but y has 4 labels"),
    "NPZ y longer than X": (["train", "--data", "ylong.npz"], "X has 4 samples but y has 5 labels"),
    "NPZ X_test without y_test": (["train", "--data", "xtestonly.npz"], "has X_test but no y_test"),
    "NPZ y_test without X_test": (["evaluate", "run/model.npz", "--data", "ytestonly.npz"], "has y_test but no X_test"),
    # item 7: files that cannot be read, whatever the reason
    "CSV not UTF-8 past the first kilobytes": (["train", "--data", "badutf8.csv"], "row 361: byte 0xff is not UTF-8"),
    "CSV that is a folder": (["train", "--data", "folder.csv"], "CSV file folder.csv is a folder"),
    "CSV that is a pipe": (["predict", "run/model.npz", "fifo.csv"], "fifo.csv is not a regular file"),
    "CSV with an I/O error": (["train", "--data", "eio.csv"], "eio.csv cannot be read (Input/output error)"),
    "model that is a folder": (["predict", "run", "features.npz"], "model file run is a folder"),
    "model that is a pipe": (["evaluate", "fifo.csv"], "model file fifo.csv is not a regular file"),
    # items 9, 11, 13, 14 and 20
    "stray label": (["train", "--data", "stray.csv"], "stray.csv, first column: the largest label, 1000000 in row 30"),
    "one class": (["train", "--data", "oneclass.csv"], "a classifier needs at least two classes"),
    "label too large": (["train", "--data", "hugelabel.csv"], "label 1e+20 in row 2 is too large to be a class number"),
    "value beyond float32": (["train", "--data", "float32overflow.csv"], "beyond the range of float32"),
    "complex features": (["train", "--data", "complex.npz"], "features are complex numbers"),
    "model with huge sizes": (["evaluate", "hugesizes-model.npz"], "disagree with its sizes [64, 1000000000, 10]"),
    "model format 0": (["evaluate", "version0-model.npz"], "format version 0 is not a whole number >= 1"),
    "model format 1.5": (["evaluate", "version1.5-model.npz"], "format version 1.5 is not a whole number >= 1"),
    "model that is text": (["evaluate", "text-model.npz"], "does not start like a zip archive"),
    "model that is .npy": (
        ["evaluate", "single.npy"],
        "single.npy is a single .npy array, not an .npz archive of named arrays; give a model.npz",
    ),
    "IDX claims 0 images": (["train", "--data", "mnist", "--data-dir", "zeroimages"], "claims 0 × 28 × 28 values"),
    "IDX dims overflow": (
        ["train", "--data", "mnist", "--data-dir", "overflowdims"],
        "GiB of memory but this machine has",
    ),
    "IDX type code": (["train", "--data", "mnist", "--data-dir", "typecode"], "type code 0x0d, not unsigned bytes"),
    "IDX trailing bytes": (["train", "--data", "mnist", "--data-dir", "trailing"], "has bytes after the 2×28×28"),
    "evaluate all, test of another width": (
        ["evaluate", "run/model.npz", "--data", "testwidth.npz", "--split", "all"],
        "X has 64 features per sample but X_test has 65",
    ),
    "evaluate test fraction 0": (
        ["evaluate", "run/model.npz", "--test-fraction", "0"],
        "--test-fraction (the test fraction) must be a finite number in (0, 1), got 0.0",
    ),
    "train negative seed": (["train", "--seed", "-1"], "--seed (the seed) must be a whole number >= 0"),
    "gradcheck negative seed": (["gradcheck", "--seed", "-1"], "--seed (the seed) must be a whole number >= 0"),
    "gradcheck too many samples": (["gradcheck", "--samples", "10000000000"], "GiB of memory but this machine has"),
    "gradcheck huge sizes": (["gradcheck", "--sizes", "5,100000,100000"], "GiB of memory but this machine has"),
    "gradcheck negative tolerance": (["gradcheck", "--tolerance", "-1"], "--tolerance must be a finite number > 0"),
    "gradcheck NaN tolerance": (["gradcheck", "--tolerance", "nan"], "--tolerance must be a finite number > 0"),
    "unknown schedule": (
        ["train", "--schedule", "step"],
        "--schedule (the learning-rate schedule) must be one of constant, plateau, cosine, got 'step'",
    ),
    "negative patience": (
        ["train", "--patience", "-1", "--validation-fraction", "0.1"],
        "--patience (the early-stopping patience in epochs) must be a whole number >= 1",
    ),
    "zero patience": (
        ["train", "--patience", "0", "--validation-fraction", "0.1"],
        "--patience (the early-stopping patience in epochs) must be a whole number >= 1",
    ),
    "patience not a number": (["train", "--patience", "three"], "argument --patience: invalid int value"),
    "patience without validation": (
        ["train", "--patience", "3"],
        "patience watches the validation accuracy, but there is no validation data",
    ),
    "plateau without validation": (
        ["train", "--schedule", "plateau"],
        "--schedule plateau watches the validation accuracy",
    ),
    "validation fraction one": (
        ["train", "--validation-fraction", "1"],
        "--validation-fraction (the validation fraction) must be a finite number in [0, 1)",
    ),
    "validation fraction negative": (
        ["train", "--validation-fraction", "-0.2"],
        "--validation-fraction (the validation fraction) must be a finite number in [0, 1)",
    ),
    "validation fraction nan": (
        ["train", "--validation-fraction", "nan"],
        "--validation-fraction (the validation fraction) must be a finite number in [0, 1)",
    ),
    "validation fraction too small": (["train", "--validation-fraction", "0.0001"], "holds out no sample of 1438"),
    "validation leaves no batch": (
        ["train", "--validation-fraction", "0.995"],
        "leaves 7 training samples, fewer than one mini-batch of 10",
    ),
    "warm-up longer than the run": (
        ["train", "--warmup-epochs", "30"],
        "--warmup-epochs 30 leaves no epoch at full η in a run of --epochs 30",
    ),
    "negative warm-up": (
        ["train", "--warmup-epochs", "-1"],
        "--warmup-epochs (the warm-up in epochs) must be a whole number >= 0",
    ),
    "plateau factor below one": (
        ["train", "--schedule", "plateau", "--validation-fraction", "0.1", "--plateau-factor", "0.5"],
        "--plateau-factor (the plateau factor that divides η) must be a finite number > 1",
    ),
    "plateau patience zero": (
        ["train", "--plateau-patience", "0"],
        "--plateau-patience (the plateau patience in epochs) must be a whole number >= 1",
    ),
    "resume with another schedule": (
        ["train", "--resume", "run/checkpoint.npz", "--schedule", "cosine"],
        "--schedule cosine differs from the checkpoint's constant",
    ),
    "resume a cosine run longer": (
        ["train", "--resume", "cosine/checkpoint.npz", "--epochs", "3"],
        "the cosine schedule spreads its decay over the run's 2 epochs",
    ),
    # issue 16: no write or removal ever touches an input; flags that do not apply are refused, not ignored
    "train --force onto its own data": (
        ["train", "--data", "datafolder/model.npz", "--out", "datafolder", "--force"],
        "a run in datafolder writes datafolder/model.npz, which this run reads as its data (--data)",
    ),
    "train onto its own data, no --force": (
        ["train", "--data", "datafolder/model.npz", "--out", "datafolder"],
        "which this run reads as its data (--data)",
    ),
    "train --force onto data named checkpoint.npz": (
        ["train", "--data", "datafolder/checkpoint.npz", "--out", "datafolder", "--force"],
        "a run in datafolder writes datafolder/checkpoint.npz, which this run reads as its data (--data)",
    ),
    "train --force onto its data through a symlink": (
        ["train", "--data", "datafolder/model.npz", "--out", "datalink", "--force"],
        "writes datalink/model.npz (that is datafolder/model.npz), which this run reads as its data",
    ),
    "data dir that is a file": (
        ["train", "--data", "mnist", "--data-dir", "good.csv"],
        "the IDX folder good.csv is a file, not a folder",
    ),
    "data dir beside a CSV file": (
        ["train", "--data", "good.csv", "--data-dir", "mnist"],
        "--data-dir applies to a dataset of IDX files such as mnist, not to good.csv: drop --data-dir",
    ),
    "header beside the digits": (["train", "--header", "yes"], "--header applies to a .csv file, not to digits"),
    "header auto beside an NPZ file": (
        ["train", "--data", "xy.npz", "--header", "auto"],
        "--header applies to a .csv file, not to xy.npz: drop --header",
    ),
    "evaluate with a header beside the digits": (
        ["evaluate", "run/model.npz", "--header", "auto"],
        "--header applies to a .csv file, not to digits",
    ),
    "evaluate with a data dir beside the digits": (
        ["evaluate", "run/model.npz", "--data-dir", "mnist"],
        "--data-dir applies to a dataset of IDX files such as mnist, not to digits",
    ),
    "an empty dataset name": (
        ["train", "--data", ""],
        "must be a dataset's name (digits, mnist, fashion-mnist, kmnist, or one of $GPUBP_DATA_REGISTRY)",
    ),
    "predict with a header beside an NPZ file": (
        ["predict", "run/model.npz", "features.npz", "--header", "no"],
        "--header applies to a .csv file, not to features.npz",
    ),
    # issue 18: the units' flags, a regression's targets, and sample weights
    "unknown activation": (
        ["train", "--activation", "swish"],
        "--activation (the hidden activation) must be one of sigmoid, tanh, relu, leaky_relu, identity, or a list",
    ),
    "an activation per layer, too many": (
        ["train", "--activation", "relu,tanh"],
        "--activation lists 2 activations for 1 hidden layer: give one per hidden layer, or one name for all",
    ),
    "leaky slope beside relu": (
        ["train", "--activation", "relu", "--leaky-slope", "0.01"],
        "--leaky-slope applies to --activation leaky_relu, not relu",
    ),
    "leaky slope of 1": (
        ["train", "--activation", "leaky_relu", "--leaky-slope", "1"],
        "--leaky-slope (leaky ReLU's slope) must be a finite number in (0, 1), got 1.0",
    ),
    "unknown output": (
        ["train", "--output", "tanh"],
        "--output (the output layer) must be one of sigmoid, softmax, identity (or None: the cost's own",
    ),
    "an output that does not go with the cost": (
        ["train", "--output", "identity", "--cost", "cross-entropy"],
        "--output identity does not go with --cost cross-entropy",
    ),
    "a dropout rate of 1": (
        ["train", "--dropout", "1"],
        "--dropout (the dropout rate) must be a rate in [0, 1), or a list of them, one per hidden layer, got 1.0",
    ),
    "a dropout rate that is not a number": (
        ["train", "--dropout", "half"],
        "argument --dropout: takes one value or a comma-separated list, not 'half'",
    ),
    "a dropout rate per layer, too few": (
        ["train", "--sizes", "20,10", "--dropout", "0.5,0.2,0.1"],
        "--dropout lists 3 rates for 2 hidden layers: give one per hidden layer, or one rate for all",
    ),
    "real-valued labels for a classifier": (
        ["train", "--data", "real.csv"],
        "is not a class number (labels must be whole numbers 0, 1, 2, …, one per class); if they are real-valued "
        "targets, train a regression: --output identity",
    ),
    "several real-valued labels for a classifier": (
        ["train", "--data", "real2.npz"],
        "real2.npz, y: labels must be a column of whole numbers, bools or strings, got float64 of shape (120, 2); if "
        "they are real-valued targets, train a regression: --output identity (one output per column)",
    ),
    "target columns for a classifier": (
        ["train", "--data", "real.csv", "--targets", "2"],
        "--targets 2 reads 2 target columns, which only a regression has (--output identity); a classifier reads one "
        "label column: drop --targets",
    ),
    "target columns beside an NPZ file": (
        ["train", "--data", "real2.npz", "--output", "identity", "--targets", "2"],
        "--targets applies to a .csv file, not to real2.npz: drop --targets",
    ),
    "target columns that leave no feature": (
        ["train", "--data", "real.csv", "--output", "identity", "--targets", "6"],
        "real.csv has 6 columns: a CSV dataset needs its 6 target columns (--targets 6) and at least one feature",
    ),
    "target columns zero": (
        ["train", "--data", "real.csv", "--output", "identity", "--targets", "0"],
        "--targets (the number of target columns) must be a whole number >= 1, got 0",
    ),
    "a regression of a constant": (
        ["train", "--data", "constant.csv", "--output", "identity"],
        "every one of the 96 training samples has target 2.5: a regression needs targets that vary",
    ),
    "test targets of another width": (
        ["train", "--data", "realtest.npz", "--output", "identity"],
        "realtest.npz: y has 1 target(s) per sample but y_test has 2",
    ),
    "sizes contradict the targets": (
        ["train", "--data", "real2.npz", "--output", "identity", "--sizes", "5,8,1"],
        "the data has 5 features per sample and 2 targets: write 5,8,2",
    ),
    "evaluate a regression with other target columns": (
        ["evaluate", "regression/model.npz", "--targets", "2"],
        "real.csv is not the data regression/model.npz was trained on: it has its first 2 column(s) read as targets "
        "(--targets 2), where the model's data had 1 (--targets 1)",
    ),
    "evaluate with weights": (["evaluate", "run/model.npz", "--weights", "weights.csv"], "unrecognized arguments"),
    "negative weight": (
        ["train", "--data", "good.csv", "--weights", "negative-weights.csv"],
        "negative-weights.csv, line 120: weight -2.0 is not a finite number >= 0",
    ),
    "NaN weight": (
        ["train", "--data", "good.csv", "--weights", "nan-weights.txt"],
        "nan-weights.txt, line 6: weight nan is not a finite number >= 0",
    ),
    "too few weights": (
        ["train", "--data", "good.csv", "--weights", "short-weights.csv"],
        "short-weights.csv holds 119 weights but the data has 120 rows: give one weight per row, in the data's row "
        "order",
    ),
    "weights of the digits": (
        ["train", "--weights", "weights.csv"],
        "weights.csv holds 120 weights but the data has 1797 rows",
    ),
    "weights of the training set of data with its own test set": (
        ["train", "--data", "mnist", "--data-dir", "mnist", "--weights", "weights.csv"],
        "weights.csv holds 120 weights but the data has 60 training rows",
    ),
    "all weights zero": (
        ["train", "--data", "good.csv", "--weights", "zero-weights.csv"],
        "zero-weights.csv gives weight 0 to every one of the 120 rows, so training would learn nothing",
    ),
    "weight only on held-out rows": (
        ["train", "--data", "good.csv", "--weights", "held-out-weights.csv", "--validation-fraction", "0.5"],
        "held-out-weights.csv gives weight 0 to every one of the 48 training rows left after the validation hold-out",
    ),
    "weights in two columns": (
        ["train", "--data", "good.csv", "--weights", "two-column-weights.csv"],
        "two-column-weights.csv: line 1 has 2 columns; a weights file holds one weight per line",
    ),
    "weights under pandas' header": (
        ["train", "--data", "good.csv", "--weights", "pandas-weights.csv"],
        "holds 121 weights but the data has 120 rows: give one weight per row, in the data's row order (its first "
        "line, 0, may be the header pandas writes above an unnamed column: drop that line)",
    ),
    "weights as Python objects": (
        ["train", "--data", "good.csv", "--weights", "object-weights.npy"],
        "object-weights.npy holds an array of Python objects, which gpubp never loads",
    ),
    "weights as a matrix": (
        ["train", "--data", "good.csv", "--weights", "matrix-weights.npy"],
        "matrix-weights.npy: sample weights must be one number per row, a 1-D array, got float64 of shape (120, 2)",
    ),
    "weights in an NPZ file": (
        ["train", "--data", "good.csv", "--weights", "weights.npz"],
        "weights.npz: sample weights are read from a .csv or .txt file (one number per line) or a .npy file, not a",
    ),
    "missing weights": (
        ["train", "--data", "good.csv", "--weights", "nothere.csv"],
        "weights file nothere.csv does not exist",
    ),
    "resume with other weights": (
        ["train", "--resume", "run/checkpoint.npz", "--weights", "weights.csv"],
        "--weights weights.csv differs from the checkpoint's none",
    ),
}


def assert_one_clear_line_and_nothing_lost(workspace, case, gpubp):
    args, message = CASES[case]
    before = snapshot(workspace)
    result = gpubp(*args, cwd=workspace)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpubp"), result.stderr
    assert message in lines[0]
    assert "pickle" not in lines[0]  # gpubp never steers anyone towards unpickling a file
    assert snapshot(workspace) == before


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line_and_loses_nothing(workspace, case):
    assert_one_clear_line_and_nothing_lost(workspace, case, run)


# The installed script, in a process of its own: a usage error (argparse), a data file's error (GpubpError), and a
# model file's error, each is exit status 2 and one line with no traceback there too.
@pytest.mark.parametrize("case", ["sizes not numbers", "CSV ragged rows", "model corrupt"])
def test_the_gpubp_script_gives_the_same_line_and_status(workspace, case):
    assert_one_clear_line_and_nothing_lost(workspace, case, gpubp)


def test_gpu_without_a_gpu_names_the_extra_to_install(workspace):
    if probe_gpu()[0] is not None:
        pytest.skip("this machine has a usable GPU")
    result = run("train", "--device", "gpu", "--epochs", 1, cwd=workspace)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "a GPU was requested but none can be used" in result.stderr and "gpubp[gpu]" in result.stderr


@pytest.mark.parametrize(
    "args, command, unknown",
    [
        (("train", "--foo", "1"), "gpubp train", "--foo 1"),
        (("gradcheck", "--dtype", "float32"), "gpubp gradcheck", "--dtype float32"),
        (("bench", "--sizes", "30"), "gpubp bench", "--sizes 30"),
        (("data", "fetch", "mnist", "--bar"), "gpubp data fetch", "--bar"),
    ],
)
def test_an_unknown_flag_is_refused_by_its_command_pointing_to_its_help(args, command, unknown, tmp_path):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"{command}: error: unrecognized arguments: {unknown}; see {command} --help\n"
