"""The ``gpubp`` command line: ``train``, ``evaluate``, ``predict``, ``info`` and ``gradcheck``.

This module only builds the argument parser and turns errors into exit codes; each command lives in
``train.py`` or ``tools.py``. Every problem a user can fix — a bad flag, a missing or malformed data file, a
model file that is not gpubp's, a GPU that is not there — is printed as one line on stderr and exits with
status 2, with no traceback; a bug in gpubp still shows its traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .. import __version__
from ..backend import DEVICES
from ..data import HEADER_CHOICES
from ..distributed import KINDS
from ..errors import GpubpError
from ..model import COSTS
from ..model.network import DTYPES
from ..training.schedules import PLATEAU_FACTOR, PLATEAU_PATIENCE, SCHEDULES
from . import data, tools, train
from .process import command_process, report_warnings, stopped

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (problem and where to look), not a usage dump."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def sizes_argument(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes comma-separated whole numbers such as 30 or 64,30,10, not {text!r}"
        ) from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1, got {text!r}")
    return sizes


def path_argument(text: str) -> Path:
    """A path that names something: an empty one (an unset shell variable) would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a path, not an empty string")
    return Path(text)


def net_argument(text: str):
    """``SIZES/BATCH[/SAMPLES]``, such as ``784,100,10/100`` or ``20,8,4/5/200``."""
    parts = text.split("/")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        sizes, batch = sizes_argument(parts[0]), int(parts[1])
        samples = int(parts[2]) if len(parts) == 3 else max(10 * batch, 10_000)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"takes SIZES/BATCH[/SAMPLES] such as 784,100,10/100, not {text!r}") from None
    if batch < 1 or samples < batch:
        raise argparse.ArgumentTypeError(f"needs a batch size >= 1 and at least one batch of samples: {text!r}")
    return sizes, batch, samples


def device_argument(parser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=None,
        help="where to compute (default: $GPUBP_DEVICE, else auto: the GPU if usable)",
    )


def data_arguments(parser, default) -> None:
    parser.add_argument(
        "--data",
        default=default,
        help="digits (bundled); mnist, fashion-mnist or kmnist (downloaded on first use, see gpubp "
        "data); or a .csv / .npz file (default: digits)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the dataset's four IDX files, raw or .gz, used instead of the cache "
        "(default: data/mnist for mnist if it exists, else the cache: gpubp data path NAME)",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="share held out for testing where the data has no test set of its own (default: 0.2)",
    )
    header_argument(parser)


def header_argument(parser) -> None:
    parser.add_argument(
        "--header",
        choices=HEADER_CHOICES,
        default=None,
        help="whether a CSV file's first row is a header: yes, no, or auto (the default): a header iff "
        "none of its cells is a number",
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="gpubp",
        description="Backpropagation for fully-connected sigmoid networks, on a CUDA GPU (CuPy) or the CPU (NumPy).",
    )
    parser.add_argument("--version", action="version", version=f"gpubp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = commands.add_parser(
        "train",
        help="train a network (default: the lecture's [64, 30, 10] on the digits)",
        description="Train a network by mini-batch SGD and write the model, metrics and "
        "learning curve into a run folder.",
    )
    data_arguments(t, None)
    t.add_argument(
        "--sizes",
        type=sizes_argument,
        default=None,
        help="hidden layer widths such as 30 or 100,30; or all widths, input first and output last, "
        "such as 64,30,10 (default: 30; input and output widths come from the data)",
    )
    t.add_argument("--epochs", type=int, default=None, help="train up to this epoch (default: 30)")
    t.add_argument("--batch-size", type=int, default=None, help="samples per mini-batch (default: 10)")
    t.add_argument("--lr", type=float, default=None, help="learning rate η (default: 3.0)")
    t.add_argument(
        "--cost",
        choices=list(COSTS),
        default=None,
        help="cost function (default: quadratic); cross-entropy learns faster from saturated outputs; "
        "log-likelihood makes the output layer a softmax, the outputs class probabilities",
    )
    t.add_argument(
        "--optimizer",
        default=None,
        metavar="sgd|momentum|nesterov|adam",
        help="update rule: sgd (the lecture's); momentum or nesterov (μ = --momentum), which keep "
        "learning at large batch sizes and through long shallow valleys; adam (per-weight step "
        "sizes, little tuning; use a small --lr such as 0.01) (default: sgd)",
    )
    t.add_argument(
        "--momentum",
        type=float,
        default=None,
        metavar="μ",
        help="momentum μ in [0, 1) for --optimizer momentum or nesterov; higher carries further (default: 0.9)",
    )
    t.add_argument(
        "--l2",
        type=float,
        default=None,
        metavar="λ",
        help="L2 regularization λ >= 0 (network2's: w ← (1 − ηλ/n)w − η∇, biases not decayed; "
        "PyTorch's weight_decay = λ/n): use it when test accuracy trails training accuracy "
        "(default: 0, none)",
    )
    t.add_argument(
        "--init",
        default=None,
        metavar="normal|scaled",
        help="initial weights: normal, N(0, 1), the lecture's; or scaled, N(0, 1/n_in), network2's, "
        "for wide layers, whose sigmoids normal saturates (default: normal)",
    )
    t.add_argument("--dtype", choices=DTYPES, default=None, help="floating-point precision (default: float32)")
    t.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="how η changes (default: constant); plateau divides it by --plateau-factor when validation "
        "accuracy stalls (needs --validation-fraction); cosine decays it to 0 by the last epoch",
    )
    t.add_argument(
        "--warmup-epochs",
        type=int,
        default=None,
        metavar="K",
        help="raise η linearly from near 0 over the first K epochs, step by step (default: 0); for "
        "large batches and large η, which diverge or stall without it",
    )
    t.add_argument(
        "--plateau-factor",
        type=float,
        default=None,
        metavar="D",
        help=f"the plateau schedule divides η by D > 1 (default: {PLATEAU_FACTOR:g}, Nielsen's halving); "
        f"larger D settles faster but may stop learning early",
    )
    t.add_argument(
        "--plateau-patience",
        type=int,
        default=None,
        metavar="P",
        help=f"the plateau schedule lowers η after P epochs without better validation accuracy "
        f"(default: {PLATEAU_PATIENCE}); raise it when validation accuracy is noisy",
    )
    t.add_argument(
        "--validation-fraction",
        type=float,
        default=None,
        metavar="F",
        help="hold out this share of the training data, the same rows in every run, and report its "
        "cost and accuracy each epoch (default: 0, none); to choose epochs and η without "
        "looking at the test set",
    )
    t.add_argument(
        "--patience",
        type=int,
        default=None,
        metavar="N",
        help="stop when validation accuracy has not improved for N epochs and keep the best epoch's "
        "weights (default: none); to stop before overfitting without guessing --epochs",
    )
    device_argument(t)
    t.add_argument(
        "--seed", type=int, default=None, help="seed for the initial weights and the shuffle order (default: 0)"
    )
    t.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="write checkpoint.npz (the full training state) every N epochs (default: 0, never)",
    )
    t.add_argument(
        "--resume",
        type=path_argument,
        default=None,
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint.npz (or the run folder holding it), with the settings "
        "it was started with; only --epochs, --checkpoint-every and --lr may change",
    )
    t.add_argument(
        "--out",
        type=path_argument,
        default=None,
        help="run folder for model.npz, metrics.jsonl, learning_curve.png, checkpoint.npz "
        "(default: a new runs/<date>-<time>; when resuming, the checkpoint's folder)",
    )
    t.add_argument(
        "--force",
        action="store_true",
        help="let --out replace an earlier run: its model, metrics, plot and checkpoint are removed once "
        "the new run has finished its first epoch",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bars, only a line per epoch")
    t.add_argument(
        "--distributed",
        choices=KINDS,
        default="none",
        help="data-parallel training: start N processes with mpiexec -n N gpubp train --distributed "
        "mpi (CPUs or GPUs, over MPI) or nccl (one GPU per process) (default: none)",
    )
    t.set_defaults(run=train.run)

    e = commands.add_parser("evaluate", help="accuracy, cost and confusion matrix of a model on a dataset")
    e.add_argument("model", type=Path, help="a model.npz (or checkpoint.npz) written by gpubp")
    data_arguments(e, "digits")
    e.add_argument(
        "--split",
        choices=["test", "train", "all"],
        default="test",
        help="which part of the data to evaluate on (default: test)",
    )
    device_argument(e)
    e.set_defaults(run=tools.evaluate)

    p = commands.add_parser("predict", help="the predicted class of every row of a file, one per line")
    p.add_argument("model", type=Path, help="a model.npz written by gpubp")
    p.add_argument("file", type=Path, help="inputs: a .csv of feature columns (no label column) or an .npz with X")
    p.add_argument("--out", type=Path, default=None, help="write the labels to this file (default: stdout)")
    p.add_argument("--force", action="store_true", help="let --out replace an existing file (never the inputs)")
    header_argument(p)
    device_argument(p)
    p.set_defaults(run=tools.predict)

    i = commands.add_parser("info", help="versions, BLAS, CuPy and CUDA, devices, and whether the GPU is usable")
    i.set_defaults(run=tools.info)

    b = commands.add_parser(
        "bench",
        help="training throughput against PyTorch and the lecture's per-sample loop",
        description="Measure training samples/s of gpubp and its peers (PyTorch by hand and "
        "with autograd, scikit-learn's MLPClassifier, where installed; Nielsen's "
        "per-sample loop) from the same "
        "weights on the same device, and the device's GEMM rate.",
    )
    device_argument(b)
    b.add_argument("--dtype", choices=DTYPES, default="float32", help="precision (default: float32)")
    b.add_argument(
        "--net",
        type=net_argument,
        action="append",
        default=None,
        metavar="SIZES/BATCH[/SAMPLES]",
        help="measure this network and batch size instead of the default grid (repeatable), e.g. 784,100,10/100",
    )
    b.add_argument(
        "--peers",
        type=lambda text: [p for p in text.split(",") if p],
        default=None,
        help="comma-separated peers to run (default: every installed one of torch_manual, "
        "torch_autograd, per_sample_loop, sklearn); an empty string runs gpubp alone",
    )
    b.add_argument("--repeats", type=int, default=5, help="timed epochs per measurement (default: 5)")
    b.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default: 1)")
    b.add_argument(
        "--optimizer",
        default="sgd",
        metavar="RULE",
        help="update rule of gpubp and of the PyTorch peers (torch.optim's same rule): sgd, momentum, "
        "nesterov or adam; the per-sample loop runs with sgd only (default: sgd)",
    )
    b.add_argument("--tf32", action="store_true", help="let float32 GEMMs on the GPU use TensorFloat-32")
    b.add_argument("--json", type=Path, default=None, help="also write the full record to this JSON file")
    b.add_argument("--force", action="store_true", help="let --json replace an existing file")
    b.set_defaults(run=tools.bench)

    g = commands.add_parser("gradcheck", help="check backprop against finite differences on a random network")
    g.add_argument("--sizes", type=sizes_argument, default=[5, 4, 3], help="all layer widths (default: 5,4,3)")
    g.add_argument("--cost", choices=list(COSTS), default="quadratic", help="cost function (default: quadratic)")
    g.add_argument("--samples", type=int, default=8, help="random input rows (default: 8)")
    g.add_argument("--seed", type=int, default=0, help="seed for the network and the inputs (default: 0)")
    g.add_argument(
        "--tolerance",
        type=float,
        default=1e-6,
        help="largest acceptable relative error; exit status 1 above it (default: 1e-6)",
    )
    device_argument(g)
    g.set_defaults(run=tools.gradcheck)

    d = commands.add_parser(
        "data",
        help="the downloadable datasets: list them, fetch them, show their folder",
        description="MNIST, Fashion-MNIST and KMNIST are downloaded on first use, verified "
        "against their published checksums, into $GPUBP_DATA, else "
        "$XDG_CACHE_HOME/gpubp, else ~/.cache/gpubp. $GPUBP_DATA_MIRROR (a base "
        "URL) is tried before the usual servers.",
    )
    actions = d.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the known datasets, whether each is cached, and their sizes").set_defaults(
        run=data.data_list
    )
    f = actions.add_parser("fetch", help="download datasets (only the files not already there)")
    f.add_argument("names", nargs="+", metavar="NAME", help="mnist, fashion-mnist, kmnist")
    f.set_defaults(run=data.data_fetch)
    w = actions.add_parser("path", help="the folder that holds, or will hold, a dataset's files")
    w.add_argument("name", metavar="NAME", help="mnist, fashion-mnist, kmnist")
    w.set_defaults(run=data.data_path)
    return parser


def main(argv=None) -> int:
    with command_process() as held:
        args = build_parser().parse_args(argv)
        try:
            status = args.run(args) or 0
        except GpubpError as exc:
            print(f"gpubp {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt as exc:
            stop = stopped(exc)
            why = "interrupted" if stop.signum == signal.SIGINT else f"stopped by {signal.Signals(stop.signum).name}"
            print(f"gpubp {args.command}: {why}" + (f"; {stop.state}" if stop.state else ""), file=sys.stderr)
            return stop.exit_status
    report_warnings(args.command, held)
    return status
