"""The commands around training: ``evaluate``, ``predict``, ``info`` and ``gradcheck``."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

from .. import __version__
from ..backend import DEVICE_ENV_VAR, get_backend, probe_gpu
from ..data import load_dataset, load_features
from ..errors import InputError
from ..model import Network, load
from ..model.gradcheck import gradient_check
from ..model.storage import atomic_write
from ..training.report import confusion_matrix, format_confusion


def check_width(net, x, what: str) -> None:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.sizes[0]:
        width = x.shape[1] if x.ndim == 2 else f"shape {x.shape}"
        raise InputError(f"the model takes {net.sizes[0]} features per sample but {what} has {width}: use data "
                         f"shaped like the data the model was trained on")


def evaluate(args) -> int:
    net = load(args.model, device=args.device)
    train_data, test_data = load_dataset(args.data, args.data_dir, args.test_fraction or 0.2)
    parts = {"test": [test_data], "train": [train_data], "all": [train_data, test_data]}[args.split]
    x = np.concatenate([np.asarray(p[0]) for p in parts])
    y = np.concatenate([np.asarray(p[1]) for p in parts])
    check_width(net, x, f"{args.data} ({args.split})")
    x_dev, targets, labels = net.prepare((x, y), f"{args.data} ({args.split})")
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
    net = load(args.model, device=args.device)
    x = load_features(args.file)
    check_width(net, x, str(args.file))
    text = "".join(f"{label}\n" for label in net.predict(x))
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write(args.out, lambda f: f.write(text.encode()))
        print(f"wrote {len(x)} labels to {args.out}", file=sys.stderr)
    return 0


def blas_description() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # show_config's layout differs across NumPy versions; this is information only
        return "unknown"


def gpu_lines() -> list[str]:
    cupy, why = probe_gpu()
    lines = [f"GPU usable: {'yes' if cupy else 'no'} — {why}"]
    try:
        import cupy as cp
    except Exception:
        return lines + ["CuPy: not installed (pip install 'gpubp[gpu]' for CUDA 12 or 'gpubp[gpu-cuda13]')"]
    lines.append(f"CuPy: {cp.__version__}")
    for label, query in (("CUDA runtime", cp.cuda.runtime.runtimeGetVersion),
                         ("CUDA driver", cp.cuda.runtime.driverGetVersion)):
        try:
            version = query()
            lines.append(f"{label}: {version // 1000}.{version % 1000 // 10}")
        except Exception as exc:  # no driver: CuPy raises its CUDA error; report it as it is
            lines.append(f"{label}: unavailable ({exc})")
    if cupy is not None:
        for index in range(cupy.cuda.runtime.getDeviceCount()):
            props = cupy.cuda.runtime.getDeviceProperties(index)
            lines.append(f"device {index}: {props['name'].decode()}, compute capability {props['major']}."
                         f"{props['minor']}, {props['totalGlobalMem'] / 2**30:.1f} GiB")
    cache = os.environ.get("CUPY_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cupy", "kernel_cache"))
    lines.append(f"CuPy kernel cache: {cache}")
    return lines


def info(args) -> int:
    print(f"gpubp: {__version__}")
    print(f"Python: {platform.python_version()} ({sys.executable})")
    print(f"platform: {platform.platform()}, {os.cpu_count()} CPUs")
    print(f"NumPy: {np.__version__}, BLAS: {blas_description()}")
    for line in gpu_lines():
        print(line)
    print(f"default device: {os.environ.get(DEVICE_ENV_VAR) or 'auto'} (set {DEVICE_ENV_VAR} or --device); "
          f"auto trains on: {get_backend('auto').name}")
    return 0


GRADCHECK_FLOOR = 1e-3


def gradcheck(args) -> int:
    """Backprop against finite differences on a random float64 network and random inputs in [0, 1).

    The weights are drawn with standard deviation 1/√n_in (not the lecture's 1) so that no neuron saturates: a
    saturated neuron's gradients are too small for finite differences to measure, whatever backprop does.
    """
    if args.samples < 1:
        raise InputError(f"--samples must be at least 1, got {args.samples}")
    rng = np.random.default_rng(args.seed)
    sizes = list(args.sizes)
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    net = Network.from_parameters(sizes, weights, biases, cost=args.cost, dtype="float64", device=args.device)
    x = rng.random((args.samples, net.sizes[0]))
    y = rng.integers(0, net.sizes[-1], args.samples)
    checks = gradient_check(net, (x, y), relative_floor=GRADCHECK_FLOOR)
    print(f"gradient check of sizes {list(net.sizes)}, {net.cost.name} cost, float64, {args.samples} samples, "
          f"on {net.backend.name}; gradients under {GRADCHECK_FLOOR:g} of their layer's largest are compared at "
          f"that scale")
    print(f"{'layer':>5}  {'weights':>10}  {'biases':>10}   (max relative error, backprop vs finite differences)")
    for check in checks:
        print(f"{check.layer:>5}  {check.weights_error:10.2e}  {check.biases_error:10.2e}")
    worst = max(check.error for check in checks)
    verdict = "ok" if worst <= args.tolerance else "FAILED"
    print(f"{verdict}: largest relative error {worst:.2e}, tolerance {args.tolerance:.0e}")
    return 0 if worst <= args.tolerance else 1
