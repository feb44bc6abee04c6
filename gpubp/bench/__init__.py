"""``gpubp bench``: training throughput of gpubp and its peers, in one run, on one device, from the same weights.

For each network and batch size of the grid, gpubp trains ``warmup + repeats`` epochs of synthetic MNIST-shaped
data (784 features in [0, 1), 10 classes) and reports the median samples/s of the timed epochs; each installed
peer (see ``peers.py``) does the same from the same initial weights, and the result is shown as the ratio
gpubp / peer. The device's GEMM rate turns each figure into a fraction of what the hardware can do: one training
sample costs 2·W multiply-adds forward, 2·W for BP4 and 2·W′ for BP2 (W′: the weights above the first layer).
``optimizer`` picks the update rule of gpubp and of the PyTorch peers (torch.optim's same rule); ``activation``
(with leaky ReLU's ``leaky_slope``) and ``dropout`` pick the hidden units of gpubp and of every peer (``peers.Units``).
A peer that has no counterpart of the rule or the units — the per-sample loop runs sgd with sigmoid units only,
MLPClassifier sgd with its four activations and no dropout — sits out, and is refused where it is asked for by
name. The record says which units ran. Nothing here is asserted: it measures.
"""

from __future__ import annotations

import importlib.util
import os
import statistics

import numpy as np

from ..backend import get_backend
from ..backend.machine import describe_machine
from ..config import SettingError
from ..errors import InputError
from ..model.config import NetworkConfig
from ..network import Network
from ..training.config import TrainingConfig
from ..training.report import per_layer
from . import peers

# (sizes, batch size, samples per epoch)
GRID = [
    ((784, 30, 10), 10, 10_000),
    ((784, 100, 10), 100, 10_000),
    ((784, 1024, 1024, 10), 256, 4_096),
    ((784, 2048, 2048, 10), 4_096, 4_096),
]
GPU_GRID = [((784, 4096, 4096, 10), 8_192, 32_768)]
PEERS = {
    "torch_manual": peers.torch_manual,
    "torch_autograd": peers.torch_autograd,
    "per_sample_loop": peers.per_sample_loop,
    "sklearn": peers.sklearn_mlp,
}
LOOP_MAX_WEIGHTS = 100_000  # the per-sample loop runs on the small networks only
LOOP_SAMPLES = 2_000
SKLEARN_SAMPLES_BESIDE_GPU = 4_096  # scikit-learn runs on the CPU: on a GPU's grid it gets fewer samples per epoch
GEMM_SIZE = {"cpu": 2048, "gpu": 8192}
ETA = 0.1
TORCH_TF32_OVERRIDE = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"  # set in NVIDIA's PyTorch containers


def flops_per_sample(sizes) -> int:
    weights = [n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return 4 * sum(weights) + 2 * sum(weights[1:])


def available_peers(backend) -> list[str]:
    """The peers that can run on ``backend``'s device: PyTorch's where it is installed and, on a GPU, sees CUDA (a
    CPU-only PyTorch imports fine on a GPU machine); scikit-learn's where it is installed (on the CPU, whatever
    the device)."""
    return [name for name in PEERS if peer_runs_on(name, backend)]


def peer_runs_on(name: str, backend) -> bool:
    if name.startswith("torch"):
        return torch_runs_on(backend)
    if name == "sklearn":
        return importlib.util.find_spec("sklearn") is not None
    return True


def torch_runs_on(backend) -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    if backend.name == "cpu":
        return True
    import torch

    return torch.cuda.is_available()


def sits_out(name: str, optimizer: str, activations, dropout) -> str | None:
    """Why peer ``name`` has no counterpart of the update rule and the hidden units (``activations``: the names
    chosen, ``dropout``: the rates), or None where it has."""
    if name == "per_sample_loop" and (optimizer != "sgd" or set(activations) != {"sigmoid"} or any(dropout)):
        return "Nielsen's per-sample loop runs sgd with sigmoid units and no dropout"
    if name == "sklearn" and (
        optimizer != "sgd"
        or len(set(activations)) > 1
        or activations[0] not in peers.SKLEARN_ACTIVATIONS
        or any(dropout)
    ):
        return (
            "MLPClassifier runs plain sgd here, with one activation for every hidden layer, one of sigmoid (its "
            "logistic), tanh, relu and identity, and no dropout"
        )
    return None


def describe_units(units: peers.Units) -> str:
    """``relu``, ``leaky_relu (slope 0.01), dropout 0.5``, ``relu,tanh``: a network's hidden units in words."""
    slope = f" (slope {units.slope:g})" if "leaky_relu" in units.activations else ""
    return (
        per_layer(units.activations) + slope + (f", dropout {per_layer(units.dropout)}" if any(units.dropout) else "")
    )


def tf32_in_effect(backend, dtype) -> bool:
    """Whether gpubp's float32 GEMMs run in TensorFloat-32, asked of CuPy after its first float32 GEMM: that is
    when it reads ``CUPY_TF32`` (whoever set it), and it keeps strict float32 below compute capability 8.0."""
    if backend.name != "gpu" or np.dtype(dtype) != np.float32:
        return False
    from cupy._core._routines_linalg import compute_type_to_str, get_compute_type

    return compute_type_to_str(get_compute_type(np.float32)) == "COMPUTE_TYPE_TF32"


def set_torch_tf32(wanted: bool) -> tuple[bool, str | None]:
    """Make PyTorch's float32 GEMMs on the GPU TF32 or strict, as gpubp's are; returns whether PyTorch will use
    TF32 and the ``$TORCH_ALLOW_TF32_CUBLAS_OVERRIDE`` inherited. That variable, which NVIDIA's PyTorch containers
    set to 1, turns TF32 on whatever ``allow_tf32`` says; PyTorch reads it once, at its first use: unset here
    before that, and what PyTorch reports afterwards is what the record says."""
    inherited = os.environ.get(TORCH_TF32_OVERRIDE)
    if not wanted:
        os.environ.pop(TORCH_TF32_OVERRIDE, None)
    import torch

    torch.backends.cuda.matmul.allow_tf32 = wanted
    return bool(torch.backends.cuda.matmul.allow_tf32), inherited


def synthetic_data(n: int, sizes, dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], n)
    return x, labels, np.eye(sizes[-1], dtype=dtype)[labels]


def run_benchmark(
    device=None,
    dtype="float32",
    grid=None,
    peer_names=None,
    repeats=5,
    warmup=1,
    tf32=False,
    optimizer="sgd",
    log=print,
    activation="sigmoid",
    leaky_slope=NetworkConfig.leaky_slope,
    dropout=0.0,
) -> dict:
    """Measure the grid; ``log`` gets a line per result as it comes. Returns the JSON-ready record."""
    if repeats < 1 or warmup < 0:
        raise SettingError(
            f"{{repeats}} must be >= 1 and {{warmup}} >= 0, got {repeats} and {warmup}", "repeats", "warmup"
        )
    backend = get_backend(device)
    if tf32 and (backend.name != "gpu" or dtype != "float32"):
        raise SettingError("{tf32} applies to float32 on a GPU (TensorFloat-32 GEMMs); drop it here", "tf32")
    if tf32:
        # CuPy reads CUPY_TF32 once, at the first float32 GEMM of the process (gemm_gflops, below: the GPU probe's
        # GEMM is float64): a fresh process is needed to compare strict float32 with TF32, as gpubp bench is.
        os.environ["CUPY_TF32"] = "1"
    unknown = set(peer_names or []) - set(PEERS)
    if unknown:
        raise InputError(f"unknown peer {', '.join(sorted(unknown))}: choose from {', '.join(PEERS)}")
    training = TrainingConfig(optimizer=optimizer, dropout=dropout)
    optimizer, dropout = training.optimizer, training.dropout
    network = NetworkConfig(activation=activation, leaky_slope=leaky_slope)
    activation, leaky_slope = network.activation, network.leaky_slope
    chosen = activation if isinstance(activation, tuple) else (activation,)
    rates = dropout if isinstance(dropout, tuple) else (dropout,)
    for name in peer_names or []:
        why = sits_out(name, optimizer, chosen, rates)
        if why is not None:
            raise InputError(f"peer {name} cannot run these units and this rule: {why}; drop it from the peers")
    runnable = available_peers(backend)
    missing = [p for p in peer_names or [] if p not in runnable]
    if "sklearn" in missing:
        raise InputError("peer sklearn needs scikit-learn: pip install 'gpubp[sklearn]'")
    if missing:
        raise InputError(
            f"peer {', '.join(missing)} cannot run on the {backend.name}: it needs PyTorch"
            f"{' built for CUDA' if backend.name == 'gpu' else ''} (pip install 'gpubp[bench]')"
        )
    names = [
        p
        for p in (runnable if peer_names is None else list(peer_names))
        if sits_out(p, optimizer, chosen, rates) is None
    ]
    grid = grid or GRID + (GPU_GRID if backend.name == "gpu" else [])
    dtype_type = np.dtype(dtype).type
    gemm = peers.gemm_gflops(backend, dtype_type, GEMM_SIZE[backend.name])
    tf32_used = tf32_in_effect(backend, dtype)
    torch_tf32, override = None, os.environ.get(TORCH_TF32_OVERRIDE)
    if any(name.startswith("torch") for name in names) and backend.name == "gpu":
        torch_tf32, override = set_torch_tf32(tf32_used)  # the peers do their GEMMs as gpubp does
    if tf32_used:
        mode = " with TF32"
    elif tf32:
        mode = " (TF32 asked for but not in effect: it needs compute capability >= 8.0 and a fresh process)"
    else:
        mode = ""
    if torch_tf32 is not None and torch_tf32 != tf32_used:
        mode += f"; PyTorch's {'TF32' if torch_tf32 else 'strict float32'} GEMMs differ (${TORCH_TF32_OVERRIDE})"
    log(
        f"device: {backend.name} — {backend.device_name}; {dtype}{mode}; "
        f"GEMM {GEMM_SIZE[backend.name]}³: {gemm:,.1f} GFLOP/s; optimizer {optimizer}; "
        f"peers: {', '.join(names) or 'none'}"
    )
    results = []
    for sizes, batch, samples in grid:
        x, labels, y = synthetic_data(samples, sizes, dtype_type)
        net = Network(sizes, dtype=dtype, device=backend.name, seed=0, activation=activation, leaky_slope=leaky_slope)
        units = peers.Units(net.activations, leaky_slope, training.dropout_rates(len(sizes) - 2))
        weights, biases = net.parameters()
        history = net.SGD(
            (x, labels), warmup + repeats, batch, ETA, optimizer=optimizer, dropout=dropout, monitor_training_cost=False
        )
        rates = {"gpubp": statistics.median(h.samples_per_s for h in history[warmup:])}
        for name in names:
            n = samples
            if name == "per_sample_loop":
                if sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) > LOOP_MAX_WEIGHTS:
                    continue
                n = min(samples, LOOP_SAMPLES)
            if name == "sklearn" and backend.name == "gpu":
                n = min(samples, SKLEARN_SAMPLES_BESIDE_GPU)
            how = {} if name == "per_sample_loop" else {"units": units}
            if name.startswith("torch"):
                how["rule"] = optimizer
            seconds = PEERS[name](backend, weights, biases, x[:n], y[:n], batch, ETA, warmup + repeats, **how)
            rates[name] = n / statistics.median(seconds[warmup:])
        result = {
            "sizes": list(sizes),
            "units": describe_units(units),
            "batch": batch,
            "samples_per_epoch": samples,
            "flops_per_sample": flops_per_sample(sizes),
            "samples_per_s": rates,
            "ratio": {name: rates["gpubp"] / rate for name, rate in rates.items() if name != "gpubp"},
            "gemm_fraction": flops_per_sample(sizes) * rates["gpubp"] / (gemm * 1e9),
        }
        results.append(result)
        log(format_row(result))
    machine = describe_machine()
    if any(name.startswith("torch") for name in names):
        import torch

        machine["torch"] = torch.__version__
    return {
        "device": backend.name,
        "device_name": backend.device_name,
        "dtype": dtype,
        "tf32": tf32_used,
        "torch_tf32": torch_tf32,
        "torch_tf32_override_inherited": override,
        "optimizer": optimizer,
        "activation": list(activation) if isinstance(activation, tuple) else activation,
        "leaky_slope": leaky_slope,
        "dropout": list(dropout) if isinstance(dropout, tuple) else dropout,
        "repeats": repeats,
        "warmup": warmup,
        "gemm_gflops": gemm,
        "machine": machine,
        "results": results,
    }


def format_row(result: dict) -> str:
    rates = result["samples_per_s"]
    peers_text = "  ".join(f"{name} {rates[name]:,.0f} ({ratio:.2f}×)" for name, ratio in result["ratio"].items())
    return (
        f"{str(result['sizes']):>22} {result['units']} batch {result['batch']:>5}: gpubp {rates['gpubp']:>10,.0f} "
        f"samples/s, "
        f"{100 * result['gemm_fraction']:5.1f}% of GEMM  {peers_text}"
    )


def markdown_table(record: dict) -> str:
    """The record as a Markdown table: the hidden units, samples/s, ratios gpubp/peer, and the share of the GEMM
    rate."""
    names = list(PEERS)
    header = "| network | units | batch | gpubp samples/s | " + " | ".join(names) + " | % of GEMM |"
    lines = [header, "|" + " --- |" * (len(names) + 5)]
    for r in record["results"]:
        cells = [f"{r['samples_per_s'][n]:,.0f} ({r['ratio'][n]:.2f}×)" if n in r["ratio"] else "—" for n in names]
        lines.append(
            f"| {r['sizes']} | {r['units']} | {r['batch']} | {r['samples_per_s']['gpubp']:,.0f} | "
            + " | ".join(cells)
            + f" | {100 * r['gemm_fraction']:.0f}% |"
        )
    return "\n".join(lines)
