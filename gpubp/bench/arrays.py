"""``gpubp bench --array K``: the aggregate training samples/s of one K-member network array against its peers.

For each network and batch size of the grid (the bench's own, ``GRID``), on the same synthetic data, one run
measures, each for ``warmup + repeats`` epochs from the same K initial weights (member k seeded k) and with the
same K learning rates (``member_etas``: spread around the bench's η so that every member's update differs):

- ``array``: ``NetworkArray(sizes, K).SGD``, each member shuffling with its own generator (the default);
- ``shared_order``: the same with ``shared_order=True`` (every member reads the same mini-batches);
- ``sequential``: K ``Network(sizes, seed=k).SGD`` runs one after another, an epoch index's K epochs summed;
- ``torch_func``: PyTorch's ``torch.func`` ensemble (``ensemble.py``), where PyTorch is installed.

A rate is K × (samples per epoch) / (an epoch's seconds); the record keeps each variant's timed epochs' rates
(median, min and max) and the ratios of the array's median to the others'. Nothing here is asserted: it measures.
"""

from __future__ import annotations

import statistics

import numpy as np

from ..backend import get_backend
from ..backend.machine import describe_machine
from ..config import SettingError, is_whole
from ..network import Network, NetworkArray
from . import ETA, GRID, synthetic_data, torch_runs_on
from .ensemble import blas_threads, torch_func

VARIANTS = ("array", "shared_order", "sequential", "torch_func")
MAX_COUNT = 4096  # more members than any device's memory holds at the bench's sizes


def check_count(count) -> int:
    """K as a whole number from 2 to ``MAX_COUNT`` (one member is the bench without ``--array``)."""
    if isinstance(count, bool) or not is_whole(count) or not 2 <= count <= MAX_COUNT:
        raise SettingError(
            f"{{array}} must be a whole number of networks from 2 to {MAX_COUNT} (for one network leave it out), "
            f"got {count!r}",
            "array",
        )
    return int(count)


def member_etas(count: int) -> list[float]:
    """One learning rate per member, from η/2 to 3η/2: a sweep's, so that each member's update is its own."""
    return [float(eta) for eta in np.linspace(ETA / 2, 3 * ETA / 2, count)]


def rates(count: int, samples: int, seconds) -> dict:
    """The timed epochs' aggregate samples/s: their median, min and max."""
    values = [count * samples / s for s in seconds]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_array_benchmark(count, device=None, dtype="float32", grid=None, repeats=5, warmup=1, log=print) -> dict:
    """Measure the grid for an array of ``count`` members; ``log`` gets a line per result. Returns the record."""
    count = check_count(count)
    if repeats < 1 or warmup < 0:
        raise SettingError(
            f"{{repeats}} must be >= 1 and {{warmup}} >= 0, got {repeats} and {warmup}", "repeats", "warmup"
        )
    backend = get_backend(device)
    with_torch = torch_runs_on(backend)  # else the torch_func peer sits out, and the log line says so
    etas, seeds, epochs = member_etas(count), list(range(count)), warmup + repeats
    threads = blas_threads()
    log(
        f"device: {backend.name} — {backend.device_name}; {dtype}; an array of {count} networks, η from "
        f"{etas[0]:g} to {etas[-1]:g}; BLAS threads {threads or 'unknown'}; "
        f"peers: sequential{', torch_func' if with_torch else ''}"
    )
    results = []
    for sizes, batch, samples in grid or GRID:
        x, labels, y = synthetic_data(samples, sizes, np.dtype(dtype).type)
        seconds = {}
        weights, biases = NetworkArray(sizes, count, seeds=seeds, dtype=dtype, device=backend.name).parameters()
        for variant in ("array", "shared_order"):
            arr = NetworkArray(sizes, count, seeds=seeds, dtype=dtype, device=backend.name)
            history = arr.SGD(
                (x, labels), epochs, batch, etas, monitor_training_cost=False, shared_order=variant == "shared_order"
            )
            seconds[variant] = [stats.seconds for stats in history[0]]
        per_epoch = np.zeros(epochs)
        for k in range(count):
            net = Network(sizes, seed=k, dtype=dtype, device=backend.name)
            history = net.SGD((x, labels), epochs, batch, etas[k], monitor_training_cost=False)
            per_epoch += [stats.seconds for stats in history]
        seconds["sequential"] = list(per_epoch)
        if with_torch:
            seconds["torch_func"] = torch_func(backend, weights, biases, x, y, batch, etas, epochs, seeds)
        measured = {name: rates(count, samples, s[warmup:]) for name, s in seconds.items()}
        array = measured["array"]["median"]
        result = {
            "sizes": list(sizes),
            "batch": batch,
            "samples_per_epoch": samples,
            "samples_per_s": measured,
            "ratio": {name: array / r["median"] for name, r in measured.items() if name != "array"},
        }
        results.append(result)
        log(format_array_row(result))
    record = {
        "device": backend.name,
        "device_name": backend.device_name,
        "dtype": dtype,
        "count": count,
        "etas": etas,
        "blas_threads": threads,
        "repeats": repeats,
        "warmup": warmup,
        "machine": describe_machine(),
        "results": results,
    }
    if with_torch:
        import torch

        record["machine"]["torch"] = torch.__version__
    return record


def format_array_row(result: dict) -> str:
    r = result["samples_per_s"]
    others = "  ".join(
        f"{name} {r[name]['median']:,.0f} ({result['ratio'][name]:.2f}×)" for name in VARIANTS[1:] if name in r
    )
    return (
        f"{str(result['sizes']):>22} batch {result['batch']:>5}: array {r['array']['median']:>10,.0f} samples/s "
        f"({r['array']['min']:,.0f}–{r['array']['max']:,.0f})  {others}"
    )


def array_markdown_table(record: dict) -> str:
    """The record as a Markdown table: each variant's median samples/s (min–max) and the array's ratio to it."""
    header = "| network | batch | " + " | ".join(VARIANTS) + " |"
    lines = [header, "|" + " --- |" * (len(VARIANTS) + 2)]
    for result in record["results"]:
        cells = []
        for name in VARIANTS:
            r = result["samples_per_s"].get(name)
            if r is None:
                cells.append("—")
                continue
            ratio = f", array {result['ratio'][name]:.2f}×" if name in result["ratio"] else ""
            cells.append(f"{r['median']:,.0f} ({r['min']:,.0f}–{r['max']:,.0f}{ratio})")
        lines.append(f"| {result['sizes']} | {result['batch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
