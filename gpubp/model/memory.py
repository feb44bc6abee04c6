"""What a network and a training run hold in memory at their peak, counted from the sizes before anything is
allocated, checked against what the device and the host can still give (``backend/memory.py``); and the
out-of-memory errors that still happen, as one line naming the work.

With s the dtype's bytes, P the bytes of the flat parameter buffer and W the widths of every layer but the input
summed, the peak is counted part by part:

- **a network** (``Network(...)``): its parameters and their gradient (2P), and while it is built, the float64 draws
  of the initial weights (8 bytes a number; ``init="scaled"`` divides a copy of the weights) and their conversion
  to the dtype (every array is converted before any is written);
- **a run** (``Trainer.train``, and ``gpubp train`` before it claims its run folder): the training data's device
  copies (X, the targets, the labels), split into training and hold-out rows (both halves are copies, made while
  the whole is still there), the epoch's shuffled copy and the test data's; the update rule's state (P per buffer:
  the velocity, Adam's two moments); the best weights' copy where a hold-out is scored; the workspaces of
  activations and δ of each mini-batch size an epoch takes (2·m·W·s, again for a last, shorter batch); and, one at
  a time, the evaluation of a data set in chunks of rows (``evaluation_rows``), the finiteness check of the
  parameters, the epoch's permutation and, in ``gpubp train``, a checkpoint's and the model's host copies.

The estimate is within a quarter of the peak a process measures (``tests/test_memory.py`` checks it at three
sizes). A request above what is available is refused with the figures; an allocation that fails anyway
(``numpy``'s ``MemoryError``, CuPy's ``OutOfMemoryError``) becomes a ``gpubp.OutOfMemoryError``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..backend.memory import host_available
from ..backend.numpy_ops import BLOCK_BYTES
from ..errors import GpubpError, OutOfMemoryError
from .buffers import FlatParameters

EVALUATION_ROWS = 8192  # rows per evaluation chunk at most
UNCHECKED_BYTES = 16 * 2**20  # below this, asking the system what is free costs more (40 µs) than the risk is worth
EVALUATION_BYTES = 64 * 2**20  # a chunk's activations may take this, or the parameters' bytes where they are more


def parameter_buffer_bytes(sizes, dtype) -> int:
    """Bytes of one flat buffer laid out like the parameters (alignment padding included)."""
    return FlatParameters.layout(sizes)[2] * np.dtype(dtype).itemsize


def evaluation_rows(sizes, dtype, count: int = 1) -> int:
    """How many rows a forward pass for evaluation takes at a time: at most 8192, and few enough that their
    activations take no more than the parameters do (or 64 MiB), so that scoring never dwarfs training; for an
    array of ``count`` networks, of all its members together."""
    row = count * sum(sizes[1:]) * np.dtype(dtype).itemsize
    budget = max(EVALUATION_BYTES, count * parameter_buffer_bytes(sizes, dtype))
    return max(1, min(EVALUATION_ROWS, budget // row))


@dataclass
class Footprint:
    """The bytes a piece of work holds at its peak, part by part: on the device (the host, for a CPU network) and,
    beside a GPU, on the host."""

    what: str
    device: dict[str, int] = field(default_factory=dict)
    host: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.device.values()) + sum(self.host.values())


def size_text(nbytes: int) -> str:
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.0f} MiB"


def larger(*phases: dict[str, int]) -> dict[str, int]:
    """The phase (parts alive at once) that holds the most."""
    return max(phases, key=lambda parts: sum(parts.values()))


def check_fits(footprint: Footprint, backend, advice: str, *knobs: str) -> None:
    """Refuse, with the figures, work whose footprint exceeds what its device (and, beside a GPU, the host) can
    still give: an ``OutOfMemoryError`` whose message ends with ``advice`` (which may name ``knobs``)."""
    short = shortfall(footprint, backend)
    if short is not None:
        raise OutOfMemoryError(f"{short}: {advice}", *knobs)


def shortfall(footprint: Footprint, backend) -> str | None:
    """What does not fit, with the figures, where ``footprint`` exceeds what its device (and, beside a GPU, the
    host) can still give; None where it fits."""
    if footprint.total < UNCHECKED_BYTES:
        return None
    if backend.name == "gpu":
        sides = [(footprint.device, backend.free_memory(), f"GPU {backend.device_id} has", "free")]
        sides.append((footprint.host, host_available(), "this machine has", "available"))
    else:
        merged = dict(footprint.device)
        for part, nbytes in footprint.host.items():
            merged[part] = merged.get(part, 0) + nbytes
        sides = [(merged, host_available(), "this machine has", "available")]
    for parts, available, where, adjective in sides:
        need = sum(parts.values())
        if need > available:
            largest = sorted(((n, part) for part, n in parts.items() if n), reverse=True)[:3]
            listed = ", ".join(f"{part} {size_text(n)}" for n, part in largest)
            return (
                f"{footprint.what} would need {size_text(need)} of memory but {where} {size_text(available)} "
                f"{adjective} ({listed})"
            )
    return None


# ----- a network ---------------------------------------------------------------------------------------------------


def network_footprint(sizes, dtype, gpu: bool, init, given=None, count: int = 1) -> Footprint:
    """A network's peak while it is built: its two flat buffers, the initial draws (or, with ``given``, the
    caller's weights and biases, converted) and their conversion to ``dtype``; ``init``: the initialization's name,
    or one per layer (``scaled`` and ``he`` draw a scaled copy beside the draws). An array of ``count`` networks
    holds ``count`` pairs of buffers, and draws its members one at a time."""
    s = np.dtype(dtype).itemsize
    arrays = [n_out * n_in for n_in, n_out in zip(sizes[:-1], sizes[1:])] + list(sizes[1:])
    weights, converted, largest = sum(arrays[: len(sizes) - 1]), s * sum(arrays), s * max(arrays)
    networks = f"an array of {count} networks" if count > 1 else "a network"
    footprint = Footprint(f"{networks} of sizes {list(sizes)} in {np.dtype(dtype).name}")
    footprint.device["parameters and gradient"] = 2 * count * parameter_buffer_bytes(sizes, dtype)
    if given is None:
        footprint.host["initial float64 draws"] = 8 * sum(arrays)
        inits = {init} if isinstance(init, str) or init is None else set(init)
        scaling = 8 * weights if inits & {"scaled", "he"} else 0  # the scaled copy beside the draws
        converted = 0 if s == 8 and not gpu else converted  # NumPy keeps float64 draws as they are
    else:  # the caller's arrays exist already; only those not in the dtype (or not arrays) are converted
        scaling = 0
        if not gpu:
            converted = sum(s * np.size(a) for a in given if not (isinstance(a, np.ndarray) and a.dtype == dtype))
    if gpu:  # converted on the host one array at a time and staged through pinned memory, all of them on the device
        footprint.device["their conversion"] = converted
        footprint.host["their host staging"] = max(scaling, 2 * largest)
    else:
        footprint.host["their conversion"] = max(scaling, converted)
    return footprint


# ----- a training run ----------------------------------------------------------------------------------------------


def shape_of(x) -> tuple[int, int] | None:
    """``(rows, columns)`` of a data set's features as given, without converting it; None where it cannot be told
    (the conversion then says what is wrong)."""
    shape = getattr(x, "shape", None)
    try:
        if shape is None:
            shape = (len(x), len(x[0]))
        return (int(shape[0]), int(shape[1])) if len(shape) == 2 else None
    except (TypeError, IndexError, KeyError, ValueError):
        return None


def is_copied(x, dtype, gpu: bool) -> bool:
    """Whether moving features ``x`` to the device copies them: always to a GPU; on the CPU unless they are a
    C-contiguous NumPy array in the network's dtype already."""
    return gpu or not (isinstance(x, np.ndarray) and x.dtype == dtype and x.flags.c_contiguous)


def data_bytes(rows: int, n_in: int, n_out: int, s: int, features: bool) -> int:
    """The device copy of a data set: its features (where copied), its target matrix and its int64 labels."""
    return rows * ((n_in if features else 0) + n_out) * s + 8 * rows


def evaluation_bytes(sizes, dtype, rows: int) -> int:
    """A forward pass over ``rows`` rows: one chunk's hidden activations, every row's outputs, the cost's
    temporaries (up to three arrays like the outputs) and the predicted labels."""
    s, n_out = np.dtype(dtype).itemsize, sizes[-1]
    chunk = min(rows, evaluation_rows(sizes, dtype))
    return chunk * sum(sizes[1:-1]) * s + 4 * rows * n_out * s + 9 * rows


@dataclass
class RunShape:
    """What a training run's memory depends on besides the network: its data, batch, update rule and processes,
    whether it is scored on a hold-out and writes files, and what the trainer holds already (a run that continues
    reuses its update rule's state and its best weights' copy)."""

    rows: int  # training rows, hold-out included
    held_out: int
    test_rows: int
    batch: int
    state_buffers: int  # the update rule's, each laid out like the parameters
    held_state_buffers: int = 0  # of those, allocated already
    has_best_copy: bool = False
    features_copied: bool = True  # whether moving the training features to the device copies them
    test_features_copied: bool = True
    monitor: bool = True  # the training cost is computed after each epoch
    early_stopping: bool = False
    ranks: int = 1  # processes sharing each mini-batch
    saves: bool = False  # gpubp train: the model is saved at the end, checkpoints (below) along the way
    checkpoints: bool = False


def local_batches(run: RunShape) -> set[int]:
    """The row counts of this process's mini-batches: every full batch, a last shorter one, and their shares."""
    trained = run.rows - run.held_out
    counts = {min(run.batch, trained), trained % run.batch} - {0}
    return {share for rows in counts for share in (rows // run.ranks, -(-rows // run.ranks))} - {0}


def run_footprint(net, run: RunShape) -> Footprint:
    """A training run's peak beyond the network's own buffers."""
    sizes, dtype, gpu = net.sizes, net.dtype, net.backend.name == "gpu"
    s, n_in, n_out = dtype.itemsize, sizes[0], sizes[-1]
    p = parameter_buffer_bytes(sizes, dtype)
    n, held = run.rows, run.held_out
    trained = n - held
    given = data_bytes(n, n_in, n_out, s, run.features_copied)  # what prepare makes of the training data
    split = data_bytes(n, n_in, n_out, s, True) if held else 0  # its training and hold-out halves, both copies
    alive = {"the training data's copies": split or given}
    alive["the epoch's shuffled copy"] = trained * (n_in + n_out) * s
    if run.test_rows:
        alive["the test data's copies"] = data_bytes(run.test_rows, n_in, n_out, s, run.test_features_copied)
    alive["the update rule's state"] = (run.state_buffers - run.held_state_buffers) * p
    if held and not run.has_best_copy:
        alive["the best weights' copy"] = p
    new_batches = local_batches(run) - set(net._workspaces)
    alive["mini-batch workspaces"] = 2 * sum(sizes[1:]) * s * sum(new_batches)
    if not gpu and new_batches:  # NumpyOps' scratch: a cache-sized block of rows of each layer's shape
        alive["mini-batch workspaces"] += 2 * sum(max(BLOCK_BYTES, n_l * s) for n_l in sizes[1:])
    scored = [r for r in (trained if run.monitor else 0, run.test_rows, held) if r]
    copies = (1 + run.state_buffers + (1 if held else 0)) * p  # the parameters, state and best weights on the host
    moments = {
        "evaluation": max((evaluation_bytes(sizes, dtype, r) for r in scored), default=0),
        "the finiteness check": p // s,
        "the epoch's permutation": 8 * trained,
        "swapping in the best weights": p if held and run.early_stopping else 0,
        "the saved model's copy": p if run.saves and not gpu else 0,
        "a checkpoint's copies": copies if run.checkpoints and not gpu else 0,
    }
    moment, part = max((nbytes, part) for part, nbytes in moments.items())
    footprint = Footprint(
        f"training sizes {list(sizes)} in {dtype.name} with batch {run.batch} on {n:,} rows on the {net.backend.name}"
    )
    splitting = {"the training data's copies": given + split} if held else {}
    footprint.device = larger({**alive, part: moment}, splitting)
    if gpu:  # the features are converted on the host and staged through pinned memory, which CuPy's pool keeps
        footprint.host["the data's host staging"] = 2 * (n + run.test_rows) * n_in * s
        footprint.host["a checkpoint's host copies"] = copies if run.checkpoints else p if run.saves else 0
    return footprint


# ----- what to say when memory runs short ---------------------------------------------------------------------------


def memory_advice(dtype) -> tuple[str, ...]:
    """What to do when a network's memory does not fit, and the knobs it names: smaller layers, float32 (for a
    float64 network), or other work freed."""
    if dtype == np.float64:
        return "choose smaller layers, use {dtype='float32'}, or free memory", "dtype"
    return ("choose smaller layers, or free memory",)


def training_advice(net) -> tuple[str, ...]:
    """What to do when a run's memory does not fit, and the knobs it names: a smaller batch besides."""
    advice, *knobs = memory_advice(net.dtype)
    return advice.replace("layers", "layers or a smaller {mini_batch_size}", 1), "mini_batch_size", *knobs


def describe_network(what: str):
    """For ``reports_out_of_memory`` on a network's method: what it was doing, its sizes, dtype and device."""

    def describe(net, *args, **kwargs):
        device = getattr(getattr(net, "backend", None), "name", "device")
        count = getattr(net, "count", None)
        networks = "a network" if count is None else f"an array of {count} networks"
        return f"{what} {networks} of sizes {list(net.sizes)} in {net.dtype.name} on the {device}", *memory_advice(
            net.dtype
        )

    return describe


def describe_training(trainer, config, *args, **kwargs):
    """For ``reports_out_of_memory`` on ``Trainer.train``: the run's sizes, dtype, batch and device."""
    net = trainer.net
    return (
        f"training a network of sizes {list(net.sizes)} in {net.dtype.name} with batch {config.mini_batch_size} on "
        f"the {net.backend.name}",
        *training_advice(net),
    )


# ----- allocations that fail anyway --------------------------------------------------------------------------------


def out_of_memory_error(exc: MemoryError, doing: str, advice: str, *knobs: str) -> OutOfMemoryError:
    """``exc`` (NumPy's or CuPy's) as one gpubp line: what was being done, the library's own words, the fix."""
    detail = " ".join(str(exc).split()) or "an allocation failed"
    module = type(exc).__module__
    library = "CuPy" if module.startswith("cupy") else "NumPy" if module.startswith("numpy") else "Python"
    return OutOfMemoryError(f"out of memory {doing} ({library}: {detail[:300]}): {advice}", *knobs)


def reports_out_of_memory(describe):
    """Decorate a method so that a ``MemoryError`` raised inside it becomes one ``OutOfMemoryError`` line:
    ``describe(self, *args, **kwargs)`` gives ``(doing, advice, *knobs)``. The error is raised outside the handler,
    so it does not hold the failed call's frames, and their arrays are freed at once."""

    def decorate(method):
        @functools.wraps(method)
        def wrapped(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except MemoryError as exc:
                if isinstance(exc, GpubpError):
                    raise
                error = out_of_memory_error(exc, *describe(self, *args, **kwargs))
            raise error

        return wrapped

    return decorate
