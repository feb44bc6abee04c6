"""Bad input to the gpubp command: one line on stderr naming the problem and the fix, exit status 2, no traceback,
and nothing already written damaged (each case runs beside an earlier run whose files must stay byte-identical).

Each case runs through ``gpubp.cli.main`` in this process (``helpers.run``, where a traceback fails the test as an
exception); a few also run as the installed ``gpubp`` script, in a process of its own."""

import os

import numpy as np
import pytest

from gpubp.backend import probe_gpu

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
