"""The commands around training: ``evaluate``, ``predict``, ``info``, ``bench`` and ``gradcheck``."""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from pathlib import Path

import numpy as np

from ..backend import DEVICE_ENV_VAR, get_backend, resolve_device
from ..backend.machine import describe_machine
from ..bench import markdown_table, run_benchmark
from ..data import DataConfig, load_dataset, load_features
from ..data.files import check_memory
from ..errors import DeviceUnavailableError, InputError
from ..model.config import NetworkConfig
from ..model.gradcheck import gradient_check
from ..model.inputs import prepare
from ..model.memory import parameter_buffer_bytes
from ..model.storage import atomic_write
from ..network import Network, load
from ..training.report import confusion_matrix, format_confusion
from .settings import cli_default, given_values


def check_width(net, x, what: str) -> None:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.sizes[0]:
        width = x.shape[1] if x.ndim == 2 else f"shape {x.shape}"
        raise InputError(
            f"the model takes {net.sizes[0]} features per sample but {what} has {width}: use data "
            f"shaped like the data the model was trained on"
        )


def check_output(path, force: bool, inputs=(), flag: str = "--out") -> None:
    """Refuse an output file that is one of the command's inputs (whatever its spelling: symlinks and hard links
    included), even with ``--force``; and refuse to replace any other existing file without ``--force``."""
    if path is None:
        return
    if Path(path).is_dir():
        raise InputError(f"{flag} {path} is a folder: give the name of a file to write")
    if not os.path.lexists(path):
        return
    for source in inputs:
        try:
            same = os.path.samefile(path, source)
        except OSError:  # an input that cannot be compared cannot be the file at path either
            same = False
        if same:
            raise InputError(
                f"{flag} {path} is the very file {source} that this command reads: write the output to another file"
            )
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(f"{flag} {path} is not a regular file (a device, pipe or socket): choose a file name")
    if not force:
        raise InputError(f"{flag} {path} already exists: add --force to replace it, or choose another file")


def evaluate(args) -> int:
    net = load(args.model, device=args.device)
    data = DataConfig(**given_values(args, "data"))
    args.data = data.data
    train_data, test_data = load_dataset(data.data, data.data_dir, data.test_fraction, data.header)
    parts = {"test": [test_data], "train": [train_data], "all": [train_data, test_data]}[args.split]
    names = {"test": ["test"], "train": ["train"], "all": ["train", "test"]}[args.split]
    for part, name in zip(parts, names):  # each on its own: the test part may differ from the training part
        check_width(net, part[0], f"{args.data} ({name})")
    x = np.concatenate([np.asarray(p[0]) for p in parts])
    y = np.concatenate([np.asarray(p[1]) for p in parts])
    x_dev, targets, labels = prepare(net, (x, y), f"{args.data} ({args.split})")
    cost, correct = net.metrics(x_dev, targets, labels)
    predicted = net.predict(x)
    print(f"model: {args.model} (sizes {list(net.sizes)}, {net.cost.name} cost, {net.dtype.name})")
    print(f"data: {args.data}, {args.split} split, {len(y)} samples")
    print(f"accuracy: {correct / len(y):.4f} ({correct} of {len(y)})")
    print(f"cost: {cost:.6f}")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(format_confusion(confusion_matrix(y.astype(np.int64), predicted, net.sizes[-1])))
    return 0


def predict(args) -> int:
    check_output(args.out, args.force, [args.model, args.file])
    net = load(args.model, device=args.device)
    x, source = load_features(args.file, args.header or DataConfig.header)
    check_width(net, x, str(args.file))
    labels = net.predict(x)
    text = "".join(f"{label}\n" for label in labels)
    if args.out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(args.out, lambda f: f.write(text.encode()))
    print(f"gpubp predict: read {source}; wrote {len(labels)} labels to {args.out or 'stdout'}", file=sys.stderr)
    return 0


def info(args) -> int:
    default = resolve_device(None)  # an unknown $GPUBP_DEVICE is refused here, as everywhere
    machine = describe_machine()
    print(f"gpubp: {machine['gpubp']}")
    print(f"Python: {machine['python']}")
    print(f"platform: {machine['platform']}; CPU: {machine['cpu']}, {machine['cpu_count']} cores")
    print(f"NumPy: {machine['numpy']}, BLAS: {machine['blas']}")
    print(f"GPU usable: {'yes' if machine['gpu_usable'] else 'no'} — {machine['gpu_reason']}")
    if machine["cupy"] is None:
        print(
            f"CuPy: {machine['cupy_problem'].removeprefix('CuPy is ')}; pip install 'gpubp[gpu]' for CUDA 12 or "
            f"'gpubp[gpu-cuda13]' for CUDA 13"
        )
    else:
        print(
            f"CuPy: {machine['cupy']}; CUDA runtime loaded: {machine['cuda_runtime']} (CuPy built with "
            f"{machine['cuda_runtime_built']}); driver: {machine['cuda_driver']}"
        )
        for index, gpu in enumerate(machine.get("gpus", [])):
            print(f"device {index}: {gpu}")
    print(f"CuPy kernel cache: {machine['cupy_kernel_cache']} (CUPY_CACHE_DIR; must be writable for CuPy to import)")
    print(f"default device: {default} (set {DEVICE_ENV_VAR} or --device); auto trains on: {get_backend('auto').name}")
    if default == "gpu" and not machine["gpu_usable"]:
        raise DeviceUnavailableError(
            f"${DEVICE_ENV_VAR} is gpu but no GPU can be used ({machine['gpu_reason']}), so every command without "
            f"{{device='cpu'}} stops: set {DEVICE_ENV_VAR} to auto or cpu, or make the GPU usable (see above)",
            "device",
        )
    return 0


GRADCHECK_FLOOR = 1e-3


def gradcheck(args) -> int:
    """Backprop against finite differences on a random float64 network and random inputs in [0, 1).

    The weights are drawn with standard deviation 1/√n_in (not the lecture's 1) so that no neuron saturates: a
    saturated neuron's gradients are too small for finite differences to measure, whatever backprop does.
    """
    if args.samples < 1:
        raise InputError(f"--samples must be at least 1, got {args.samples}")
    if not (math.isfinite(args.tolerance) and args.tolerance > 0):
        raise InputError(f"--tolerance must be a finite number > 0, such as 1e-6, got {args.tolerance}")
    config = NetworkConfig(**given_values(args, "network"), dtype="float64")
    rng = np.random.default_rng(cli_default("seed") if config.seed is None else config.seed)
    sizes = list(args.sizes)
    # The drawn weights, the network's parameters, float64 inputs, targets and two workspaces of activations and
    # deltas per layer, before any of them is allocated.
    check_memory(
        4 * parameter_buffer_bytes(sizes, "float64") + 8 * args.samples * (sizes[0] + 5 * sum(sizes[1:])),
        f"a gradient check of sizes {sizes} on {args.samples} samples",
        InputError,
    )
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    net = Network.from_parameters(sizes, weights, biases, cost=config.cost, dtype=config.dtype, device=args.device)
    x = rng.random((args.samples, net.sizes[0]))
    y = rng.integers(0, net.sizes[-1], args.samples)
    checks = gradient_check(net, (x, y), relative_floor=GRADCHECK_FLOOR)
    print(
        f"gradient check of sizes {list(net.sizes)}, {net.cost.name} cost, float64, {args.samples} samples, "
        f"on {net.backend.name}; gradients under {GRADCHECK_FLOOR:g} of their layer's largest are compared at "
        f"that scale"
    )
    print(f"{'layer':>5}  {'weights':>10}  {'biases':>10}   (max relative error, backprop vs finite differences)")
    for check in checks:
        print(f"{check.layer:>5}  {check.weights_error:10.2e}  {check.biases_error:10.2e}")
    worst = max(check.error for check in checks)
    verdict = "ok" if worst <= args.tolerance else "FAILED"
    print(f"{verdict}: largest relative error {written_against(worst, args.tolerance)}, tolerance {args.tolerance!r}")
    return 0 if worst <= args.tolerance else 1


def written_against(value: float, limit: float) -> str:
    """``value`` with three significant digits, or as many more as it takes for the written number to compare with
    ``limit`` as ``value`` does (so that an error just above the tolerance never reads as equal to it)."""
    for digits in range(3, 18):
        text = f"{value:.{digits}g}"
        if (float(text) <= limit) == (value <= limit) and (float(text) != limit or value == limit):
            return text
    return repr(value)


def bench(args) -> int:
    check_output(args.json, args.force, flag="--json")
    dtype, optimizer = args.dtype or cli_default("dtype"), args.optimizer or cli_default("optimizer")
    record = run_benchmark(args.device, dtype, args.net, args.peers, args.repeats, args.warmup, args.tf32, optimizer)
    print()
    print(markdown_table(record))
    if args.json is not None:
        atomic_write(args.json, lambda f: f.write(json.dumps(record, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0
