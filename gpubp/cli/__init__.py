"""The ``gpubp`` command line: ``train``, ``sweep``, ``evaluate``, ``predict``, ``info``, ``bench``, ``gradcheck``
and ``data``.

This module only builds the argument parser and turns errors into exit codes; each command lives in ``train.py``,
``sweep.py``, ``tools.py`` or ``data.py``, and every knob's flag comes from its declaration (``settings.py``). Every
problem a user can fix — a bad flag, a missing or malformed data file, a model file that is not gpubp's, a GPU that
is not there — is printed as one line on stderr, naming knobs as flags, and exits with status 2, with no traceback;
a bug in gpubp still shows its traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .. import __version__
from ..backend import DEVICES
from ..backend.device import one_line
from ..distributed import KINDS
from ..errors import GpubpError
from . import data, sweep, tools, train
from .process import command_process, report_warnings, stopped
from .settings import add_flags, choice_flag, in_flags

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (problem and where to look), not a usage dump."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see {self.prog} --help\n")

    def parse_args(self, args=None, namespace=None):
        """argparse's, but an argument no parser knows is refused by the command it was given to, pointing to that
        command's help (argparse leaves it to the top-level parser: "see gpubp --help")."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            given = self
            for dest in ("command", "action"):  # the subcommands chosen, outermost first
                choices = next((a.choices for a in given._actions if a.dest == dest), None)
                if choices is not None and getattr(parsed, dest, None) in choices:
                    given = choices[getattr(parsed, dest)]
            given.error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed


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
        **choice_flag(DEVICES),
        default=None,
        help="where to compute (default: $GPUBP_DEVICE, else auto: the GPU if usable)",
    )


def run_flags(parser, as_text: bool = False) -> None:
    """The flags of a training run, ``gpubp train``'s (``as_text``: kept as text, for ``gpubp sweep``'s lists)."""
    parser.add_argument(
        "--sizes",
        type=str if as_text else sizes_argument,
        default=None,
        help="hidden layer widths such as 30 or 100,30; or all widths, input first and output last, "
        "such as 64,30,10 (default: 30; input and output widths come from the data)",
    )
    add_flags(parser, "data", "network", "training", "run", as_text=as_text)
    device_argument(parser)


def folder_flags(parser, files: str) -> None:
    """``--out``, ``--force`` and ``--quiet``: where a run writes ``files``, and how it talks."""
    parser.add_argument(
        "--out",
        type=path_argument,
        default=None,
        help=f"run folder for {files} (default: a new runs/<date>-<time>; when resuming, the checkpoint's folder)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="let --out replace an earlier run: its files are removed once the new run has finished its first "
        "epoch (no other file in the folder is touched)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars, only a line per epoch")


def build_parser() -> Parser:
    parser = Parser(
        prog="gpubp",
        description="Backpropagation for fully-connected networks, on a CUDA GPU (CuPy) or the CPU (NumPy).",
    )
    parser.add_argument("--version", action="version", version=f"gpubp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = commands.add_parser(
        "train",
        help="train a network (default: the lecture's [64, 30, 10] on the digits)",
        description="Train a network by mini-batch SGD and write the model, metrics and "
        "learning curve into a run folder.",
    )
    run_flags(t)
    t.add_argument(
        "--resume",
        type=path_argument,
        default=None,
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint.npz (or the run folder holding it), with the settings it was "
        "started with; only --epochs, --checkpoint-every, --lr, --device and --out may change",
    )
    folder_flags(t, "model.npz, metrics.jsonl, learning_curve.png, checkpoint.npz")
    t.add_argument(
        "--distributed",
        **choice_flag(KINDS),
        default="none",
        help="data-parallel training: start N processes with mpiexec -n N gpubp train --distributed "
        "mpi (CPUs or GPUs, over MPI) or nccl (one GPU per process) (default: none)",
    )
    t.set_defaults(run=train.train_command)
    sweep.add_parser(commands, run_flags, folder_flags)

    e = commands.add_parser(
        "evaluate", help="accuracy, cost and confusion matrix of a model on a dataset (a regression's R² and RMSE)"
    )
    e.add_argument("model", type=Path, help="a model.npz (or checkpoint.npz) written by gpubp")
    # each defaults to the model's record of its data, where it has one; evaluation is never weighted
    add_flags(e, "data", only=("data", "data_dir", "test_fraction", "header", "targets"))
    e.add_argument(
        "--split",
        **choice_flag(["test", "train", "validation", "all"]),
        default="test",
        help="which rows to evaluate on: the test split the model records, its training rows (less the validation "
        "hold-out), that hold-out, or all of the data (default: test)",
    )
    device_argument(e)
    e.set_defaults(run=tools.evaluate)

    p = commands.add_parser(
        "predict",
        help="the predicted class of every row of a file, one per line (a regression's outputs, comma-separated)",
    )
    p.add_argument("model", type=Path, help="a model.npz written by gpubp")
    p.add_argument("file", type=Path, help="inputs: a .csv of feature columns (no label column) or an .npz with X")
    p.add_argument("--out", type=Path, default=None, help="write the predictions to this file (default: stdout)")
    p.add_argument("--force", action="store_true", help="let --out replace an existing file (never the inputs)")
    add_flags(p, "data", only=("header",))
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
    add_flags(b, "network", only=("dtype", "activation", "leaky_slope"))  # the peers run the same hidden units
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
    add_flags(b, "training", only=("optimizer", "dropout"))  # the PyTorch peers step with torch.optim's same rule
    b.add_argument("--tf32", action="store_true", help="let float32 GEMMs on the GPU use TensorFloat-32")
    b.add_argument(
        "--array",
        type=int,
        default=None,
        metavar="K",
        help="measure one network array of K members (sigmoid, sgd, one η each) against K sequential runs, its "
        "shared mini-batch order and PyTorch's torch.func ensemble, instead of the peers",
    )
    b.add_argument("--json", type=Path, default=None, help="also write the full record to this JSON file")
    b.add_argument("--force", action="store_true", help="let --json replace an existing file")
    b.set_defaults(run=tools.bench)

    g = commands.add_parser("gradcheck", help="check backprop against finite differences on a random network")
    g.add_argument("--sizes", type=sizes_argument, default=[5, 4, 3], help="all layer widths (default: 5,4,3)")
    add_flags(g, "network", only=("activation", "leaky_slope", "output", "cost", "seed"))
    g.add_argument("--samples", type=int, default=8, help="random input rows (default: 8)")
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
    f.add_argument(
        "names", nargs="+", metavar="NAME", help="mnist, fashion-mnist, kmnist, or one of $GPUBP_DATA_REGISTRY"
    )
    f.set_defaults(run=data.data_fetch)
    w = actions.add_parser("path", help="the folder that holds, or will hold, a dataset's files")
    w.add_argument("name", metavar="NAME", help="mnist, fashion-mnist, kmnist, or one of $GPUBP_DATA_REGISTRY")
    w.set_defaults(run=data.data_path)
    return parser


def main(argv=None) -> int:
    with command_process() as held:
        args = build_parser().parse_args(argv)
        try:
            status = args.run(args) or 0
        except GpubpError as exc:
            print(f"gpubp {args.command}: error: {in_flags(exc)}", file=sys.stderr)
            return EXIT_USAGE
        except MemoryError as exc:  # one that no gpubp check foresaw (those are gpubp.OutOfMemoryError, above)
            advice = "free memory or ask for less"
            print(f"gpubp {args.command}: error: out of memory ({one_line(exc)}): {advice}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt as exc:
            stop = stopped(exc)
            why = "interrupted" if stop.signum == signal.SIGINT else f"stopped by {signal.Signals(stop.signum).name}"
            print(f"gpubp {args.command}: {why}" + (f"; {stop.state}" if stop.state else ""), file=sys.stderr)
            return stop.exit_status
    report_warnings(args.command, held)
    return status
