"""The commands around training: ``evaluate``, ``predict``, ``info``, ``bench`` and ``gradcheck``.

``evaluate`` scores a model on the split its file records (``gpubp.data.DataSplit``): it reads the model's data
again with the recorded header rule and test fraction, checks the rows' fingerprint, and scores exactly the rows
the model was tested on (``--split test``), trained on (``train``: the training rows less the validation
hold-out), validated on (``validation``), or all of them. On other data, or a file that has changed, or with a
model that records no split (``gpubp.save``'s, older ones), only what is unambiguous is evaluated: the data's own
test set where it has one, or all of it (``--split all``); anything else is one line naming what differs. Both
commands print a model's class labels where it has them (a ``NetworkClassifier``'s), and map a dataset's labels
onto the model's outputs by them. A regression model (an identity output layer) reads the data's labels as its
real-valued targets: ``evaluate`` reports its R², the RMSE over all outputs and each output's RMSE and R² where a
classifier's report has its accuracy and confusion matrix, and ``predict`` prints the outputs, one line of
comma-separated values per row, each value written with as many digits as it takes to read it back exactly.
"""

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
from ..bench.arrays import array_markdown_table, run_array_benchmark
from ..data import DataConfig, load_features, read_configured
from ..data.files import check_memory, same_file
from ..data.labels import output_indices
from ..data.split import SPLIT_SEED
from ..errors import DeviceUnavailableError, InputError
from ..model.config import NetworkConfig
from ..model.costs import class_count
from ..model.gradcheck import clear_of_kinks, gradient_check
from ..model.inputs import prepare
from ..model.memory import parameter_buffer_bytes
from ..model.storage import atomic_write, read
from ..network import Network
from ..training.config import VALIDATION_SEED, validation_split
from ..training.report import confusion_matrix, describe_network, format_confusion, format_regression
from .settings import cli_default, flag_name, given_values, recorded_split


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
        if same_file(path, source):
            raise InputError(
                f"{flag} {path} is the very file {source} that this command reads: write the output to another file"
            )
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(f"{flag} {path} is not a regular file (a device, pipe or socket): choose a file name")
    if not force:
        raise InputError(f"{flag} {path} already exists: add --force to replace it, or choose another file")


def evaluate(args) -> int:
    net, extra = read(args.model, args.device, Network)
    recorded = recorded_split(args.model, extra)
    data, own = data_to_evaluate(args, recorded)
    seed = recorded.split_seed if recorded is not None and recorded.split_seed is not None else SPLIT_SEED
    dataset = read_configured(data, net.regression, split_seed=seed)
    parts, description = rows_to_evaluate(args, recorded, dataset, data.data, own)
    where = f"{data.data} ({args.split})"
    for name, part in parts.items():  # each on its own: the test part may differ from the training part
        check_width(net, part[0], f"{data.data} ({name})")
    x = np.concatenate([np.asarray(p[0]) for p in parts.values()])
    y = np.concatenate([np.asarray(p[1]) for p in parts.values()])
    if not net.regression:
        y = output_indices(y if dataset.classes is None else dataset.classes[y], net.labels, net.sizes[-1], where)
    x_dev, targets, labels = prepare(net, (x, y), where)
    cost, correct, r2 = net.metrics(x_dev, targets, labels)
    predicted = net.predict(x)
    print(f"model: {args.model} ({describe_network(net)})")
    print(f"data: {data.data}, {description}, {len(y)} samples")
    if net.regression:
        print(f"R²: {r2:.4f}" if np.var(y) > 0 else "R²: undefined (every target is the same number)")
        print(format_regression(y, predicted))
        print(f"cost: {cost:.6f}")
        return 0
    print(f"accuracy: {correct / len(y):.4f} ({correct} of {len(y)})")
    print(f"cost: {cost:.6f}")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(format_confusion(confusion_matrix(y, predicted, class_count(net.sizes[-1])), net.labels))
    return 0


def data_to_evaluate(args, recorded) -> tuple[DataConfig, bool]:
    """The data flags, where not given taken from the model's record when they name the model's own data (its
    dataset, folder, header rule, target columns and test fraction), and whether they do."""
    given = given_values(args, "data")
    own = recorded is not None and (
        "data" not in given or given["data"] == recorded.data or same_file(given["data"], recorded.data)
    )
    recorded_values = {}
    if own:
        recorded_values = {"data": recorded.data, "data_dir": recorded.data_dir, "header": recorded.header,
                           "targets": recorded.targets, "test_fraction": recorded.test_fraction}  # fmt: skip
        if "data" in given:  # the model's data spelled another way: keep the spelling, and the folder given
            recorded_values["data"], recorded_values["data_dir"] = given["data"], given.get("data_dir")
    values = {name: value for name, value in recorded_values.items() if value is not None}
    config = DataConfig(**{**values, **given})
    for name in DataConfig.ignored(given, config.to_dict()):
        raise DataConfig.not_read(name, config.to_dict())
    return config, own


def rows_to_evaluate(args, recorded, dataset, shown: str, own: bool):
    """``({part name: (X, y)}, description)``: the rows of ``dataset`` that ``--split`` asks for, where the model's
    record (or the data's own test set) makes them unambiguous; else an ``InputError`` saying why. ``own``: the data
    flags name the model's own data."""
    train, test, current = dataset.train, dataset.test, dataset.split
    if args.split == "all":
        if recorded is None:
            note = ""
        else:
            changes = recorded.differences(current)
            note = f" (not the model's data: it has {'; and '.join(changes)})" if changes else ""
        return {"train": train, "test": test}, f"all of it{note}"
    if recorded is None:
        if not current.own_test_set or args.split == "validation":
            raise InputError(
                f"{args.model} records no data split (saved by gpubp.save, or by an older gpubp), so which rows of "
                f"{shown} it was trained, validated and tested on is unknown: evaluate all of it with --split all"
            )
        own = {"test": "the data's own test set", "train": "the data's own training set"}[args.split]
        return {args.split: test if args.split == "test" else train}, own
    changes = recorded.differences(current)
    if changes:
        changed, other = "", f", or give the model's data ({recorded.data})"
        if own and {"header", "test_fraction", "targets"} & set(given_values(args, "data")):
            other = ", or drop --header, --targets and --test-fraction to read it as the model did"
        elif own:
            changed, other = " (the file has changed since)", ""
        raise InputError(
            f"{shown} is not the data {args.model} was trained on{changed}: it has {'; and '.join(changes)}; so none "
            f"of its rows is known to be the model's {args.split} split: evaluate all of it with --split all{other}",
            "header",
            "targets",
        )
    if args.split == "test":
        return {"test": test}, "test split recorded in the model"
    kept, held = validation_split(len(train[1]), recorded.validation_fraction)
    if len(held) != recorded.validation_rows or (
        recorded.validation_rows and recorded.validation_seed != VALIDATION_SEED
    ):
        raise InputError(
            f"{args.model} held out {recorded.validation_rows} validation rows in a way this gpubp does not draw: "
            f"evaluate --split test or all"
        )
    if args.split == "validation":
        if not len(held):
            raise InputError(f"{args.model} was trained without a validation hold-out: evaluate --split test or train")
        return {"validation": (train[0][held], train[1][held])}, "validation rows recorded in the model"
    without = f", without the {len(held)} validation rows held out" if len(held) else ""
    return {"train": (train[0][kept], train[1][kept])}, f"training rows recorded in the model{without}"


def predict(args) -> int:
    check_output(args.out, args.force, [args.model, args.file])
    net, _ = read(args.model, args.device, Network)  # one network: an array's file is refused, as evaluate does
    x, source = load_features(args.file, args.header)
    check_width(net, x, str(args.file))
    predicted = net.predict(x)
    if net.regression:
        text, what = output_lines(predicted), f"rows of {net.sizes[-1]} value{'s' if net.sizes[-1] > 1 else ''}"
    else:
        labels = predicted if net.labels is None else net.labels[predicted]
        text, what = "".join(f"{label}\n" for label in labels.tolist()), "labels"
    if args.out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(args.out, lambda f: f.write(text.encode()))
    print(f"gpubp predict: read {source}; wrote {len(predicted)} {what} to {args.out or 'stdout'}", file=sys.stderr)
    return 0


def output_lines(outputs) -> str:
    """A regression's outputs as text: one line per row, its values separated by commas, each the shortest decimal
    that reads back as exactly that value of the outputs' dtype (NumPy's ``str`` of a scalar)."""
    return "".join(",".join(map(str, row)) + "\n" for row in outputs)


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
BENCH_KNOBS = ("dtype", "activation", "leaky_slope", "optimizer", "dropout")  # the knobs gpubp bench has flags for


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
    units = {name: getattr(config, name) for name in ("activation", "leaky_slope", "output", "cost")}
    net = Network.from_parameters(sizes, weights, biases, dtype=config.dtype, device=args.device, **units)
    x = rng.random((args.samples, net.sizes[0]))
    # A regression's targets are any reals (one column per output); a classifier's are class labels.
    y = (
        rng.standard_normal((args.samples, net.sizes[-1]))
        if net.regression
        else rng.integers(0, sizes[-1], args.samples)
    )
    moved = clear_of_kinks(net, x)
    checks = gradient_check(net, (x, y), relative_floor=GRADCHECK_FLOOR)
    if moved:
        print(
            f"{moved} (leaky) ReLU units' biases moved so that no unit's z comes within 0.05 of its kink on these "
            f"samples, where finite differences would straddle it"
        )
    print(
        f"gradient check of sizes {list(net.sizes)}, {'/'.join(dict.fromkeys(net.activations))} hidden units, "
        f"{net.output} outputs, {net.cost.name} cost, float64, {args.samples} samples, on {net.backend.name}; "
        f"gradients under {GRADCHECK_FLOOR:g} of their layer's largest are compared at that scale"
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
    given = given_values(args, "network", "training")
    if args.array is not None:
        return bench_array(args, given)
    values = {name: given.get(name, cli_default(name)) for name in BENCH_KNOBS}
    units = NetworkConfig(activation=values["activation"], leaky_slope=values["leaky_slope"]).to_dict()
    for name in NetworkConfig.ignored([name for name in given if name == "leaky_slope"], units):
        raise NetworkConfig.not_read(name, units)  # --leaky-slope beside other units, even at its default
    record = run_benchmark(
        args.device,
        values["dtype"],
        args.net,
        args.peers,
        args.repeats,
        args.warmup,
        args.tf32,
        values["optimizer"],
        activation=values["activation"],
        leaky_slope=values["leaky_slope"],
        dropout=values["dropout"],
    )
    print()
    print(markdown_table(record))
    return write_record(args, record)


def bench_array(args, given: dict) -> int:
    """``gpubp bench --array K``: an array against K sequential runs and torch.func (``bench/arrays.py``), with the
    lecture's units and rule: the flags that pick others, and the peers', are refused."""
    for flag, set_ in [
        ("--peers", args.peers is not None),
        ("--tf32", args.tf32),
        *[(flag_name(name), name in given) for name in BENCH_KNOBS if name != "dtype"],
    ]:
        if set_:
            raise InputError(
                f"--array measures sigmoid units and sgd against K sequential runs and PyTorch's torch.func "
                f"ensemble: drop {flag}"
            )
    dtype = given.get("dtype", cli_default("dtype"))
    record = run_array_benchmark(args.array, args.device, dtype, args.net, args.repeats, args.warmup)
    print()
    print(array_markdown_table(record))
    return write_record(args, record)


def write_record(args, record: dict) -> int:
    if args.json is not None:
        atomic_write(args.json, lambda f: f.write(json.dumps(record, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0
