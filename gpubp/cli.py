"""The ``gpubp`` command line: ``gpubp train`` runs the lecture's network on the bundled digits.

Every user mistake that gpubp can name (a ``GpubpError``) is printed as one line on stderr and exits with status
2, with no traceback; a bug in gpubp still shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .backend import DEVICES
from .data import load_digits
from .errors import GpubpError, InputError
from .model import COSTS, Network, save
from .model.network import DTYPES


def parse_sizes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes comma-separated whole numbers such as 30 or 64,30,10, "
                                         f"not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpubp", description="Backpropagation for sigmoid networks on GPU or CPU.")
    parser.add_argument("--version", action="version", version=f"gpubp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="train a network on the bundled handwritten digits",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--sizes", type=parse_sizes, default=[30],
                       help="hidden layer widths (e.g. 30 or 100,30), or all widths including input and output")
    train.add_argument("--epochs", type=int, default=30, help="passes over the training set")
    train.add_argument("--batch-size", type=int, default=10, help="samples per mini-batch")
    train.add_argument("--lr", type=float, default=3.0, help="learning rate η")
    train.add_argument("--cost", choices=list(COSTS), default="quadratic", help="cost function")
    train.add_argument("--dtype", choices=list(DTYPES), default="float32", help="floating-point precision")
    train.add_argument("--device", choices=list(DEVICES), default=None,
                       help="where to train (default: $GPUBP_DEVICE, else auto)")
    train.add_argument("--seed", type=int, default=0, help="seed for the initial weights and the shuffles")
    train.add_argument("--out", type=Path, default=None,
                       help="folder for the trained model (default: a new runs/<timestamp> folder)")
    return parser


def full_sizes(sizes: list[int], n_in: int, n_out: int) -> list[int]:
    """``--sizes`` as all layer widths: hidden widths get the data's input and output widths around them."""
    if len(sizes) >= 2 and sizes[0] == n_in and sizes[-1] == n_out:
        return sizes
    return [n_in, *sizes, n_out]


def train(args) -> None:
    train_data, test_data = load_digits()
    sizes = full_sizes(args.sizes, train_data[0].shape[1], 10)
    out = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    if (out / "model.npz").exists():
        raise InputError(f"{out / 'model.npz'} already exists: choose another --out folder")
    net = Network(sizes, cost=args.cost, dtype=args.dtype, device=args.device, seed=args.seed)
    backend = net.backend
    print(f"device: {backend.name} — {backend.device_name} ({backend.reason})")
    print(f"network: {net}; data: digits, {len(train_data[1])} training and {len(test_data[1])} test images")

    def report(stats):
        print(f"epoch {stats.epoch:3d}  cost {stats.training_cost:.4f}  test accuracy {stats.test_accuracy:.4f}  "
              f"{stats.samples_per_s:,.0f} samples/s", flush=True)

    history = net.SGD(train_data, args.epochs, args.batch_size, args.lr, test_data=test_data, on_epoch=report)
    out.mkdir(parents=True, exist_ok=True)
    save(net, out / "model.npz")
    best = max(h.test_accuracy for h in history)
    print(f"done: test accuracy {history[-1].test_accuracy:.4f} (best {best:.4f}) after {len(history)} epochs, "
          f"{sum(h.seconds for h in history):.2f} s training; model saved to {out / 'model.npz'}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train(args)
    except GpubpError as exc:
        print(f"gpubp: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
