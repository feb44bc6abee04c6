"""What a network array and its training run hold at their peak, counted before anything is allocated, and the
largest number of members that fits where the count asked for does not.

An array's memory is its data once plus K times each member's share (``memory.py`` counts one network's parts):

- **building** (``NetworkArray(...)``): K pairs of flat buffers, parameters and gradient (``network_footprint``
  with its ``count``), and one member's float64 draws at a time;
- **a training run** (``ArrayTrainer.train``): the training and test data's device copies, once (the members index
  them: no split copies); and per member the update rule's state buffers, the best weights' copy where it holds
  out rows, its saturation check's rows, the epoch's plan (each row's index and BP1 factor, on the host and on the
  device), its share of the gathered (K, m, n_in) mini-batch and its targets (one (m, n_in) block for all with
  ``shared_order``), and the activations and δ workspaces of its mini-batch (again for the masked activations
  under dropout: the masks themselves are hashed, never stored); and, one at a time, a member's scoring (its rows
  gathered from the shared data, and the forward pass), the finiteness check of all members and their
  permutations.

``check_array_fits`` refuses a count that does not fit in one line that says the largest that does, found by
bisection over the count (every part grows with it or stays).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend.numpy_ops import BLOCK_BYTES
from ..errors import OutOfMemoryError
from .memory import (
    Footprint,
    check_fits,
    data_bytes,
    evaluation_bytes,
    network_footprint,
    parameter_buffer_bytes,
    shortfall,
)

SATURATION_ROWS = 64  # diagnosis.SATURATION_ROWS (gpubp.model never imports gpubp.training)


def largest_count(footprint_of, backend, below: int) -> int:
    """The most members, under ``below``, whose ``footprint_of(count)`` fits the device; 0 where none does."""
    low, high = 0, below - 1  # low fits (or is 0); the answer lies in low..high
    while low < high:
        middle = (low + high + 1) // 2
        if shortfall(footprint_of(middle), backend) is None:
            low = middle
        else:
            high = middle - 1
    return low


def check_array_fits(footprint_of, count: int, backend, advice: str, *knobs: str) -> None:
    """Refuse, with the figures and the largest count that fits, an array whose ``footprint_of(count)`` exceeds
    what the device (and the host) can still give."""
    short = shortfall(footprint_of(count), backend)
    if short is None:
        return
    fits = largest_count(footprint_of, backend, count)
    most = f"at most {fits} such networks fit here, so use at most {fits} members" if fits else "not one fits"
    raise OutOfMemoryError(f"{short}: {most}, {advice}", *knobs)


def check_network_fits(arguments: tuple, count: int | None, backend, advice: str, *knobs: str) -> None:
    """Refuse a network (``count`` None) or an array of ``count`` networks that cannot be built here;
    ``arguments``: ``network_footprint``'s but the count."""
    if count is None:
        check_fits(network_footprint(*arguments), backend, advice, *knobs)
    else:
        check_array_fits(lambda k: network_footprint(*arguments, k), count, backend, advice, *knobs)


@dataclass
class ArrayRunShape:
    """What an array's training run holds besides the array's own buffers: its shared data, and its members' rows,
    hold-outs, batch, rule and dropout (the largest of any member's, which every member is counted at)."""

    rows: int  # rows of the shared training data
    trained: int  # the most rows a member trains on
    held_out: int  # the most rows a member holds out
    test_rows: int
    batch: int
    state_buffers: int  # the update rule's, each (K, P); 0 where a continuing run keeps its own
    best_copies: bool  # members that hold out rows keep their best weights
    features_copied: bool = True
    test_features_copied: bool = True
    monitor: bool = True
    shared_order: bool = False
    dropout: bool = False
    ranks: int = 1


def array_run_footprint(arr, run: ArrayRunShape, count: int) -> Footprint:
    """The peak of a training run of an array like ``arr`` with ``count`` members, beyond the array's buffers."""
    sizes, dtype, gpu = arr.sizes, arr.dtype, arr.backend.name == "gpu"
    s, n_in, n_out, widths = dtype.itemsize, sizes[0], sizes[-1], sum(sizes[1:])
    p = parameter_buffer_bytes(sizes, dtype)
    m = -(-run.batch // run.ranks)  # this process's rows of each (padded) mini-batch
    planned = -(-run.trained // run.batch) * run.batch  # an epoch's rows, padded to whole batches
    alive = {"the training data's copy": data_bytes(run.rows, n_in, n_out, s, run.features_copied)}
    if run.test_rows:
        alive["the test data's copy"] = data_bytes(run.test_rows, n_in, n_out, s, run.test_features_copied)
    alive["the update rules' state"] = count * run.state_buffers * p
    alive["the best weights' copies"] = count * p if run.best_copies and run.held_out else 0
    alive["the saturation checks' rows"] = count * min(SATURATION_ROWS, run.trained) * n_in * s
    # each row's index and factor on the host (int64, float64) and their device copies (NumPy keeps int64 as is)
    device_plan = (8 if gpu else 0) + (s if gpu or s != 8 else 0)
    alive["the epoch's plan"] = count * planned * (16 + device_plan)
    alive["the gathered mini-batches"] = (1 if run.shared_order else count) * m * (n_in + n_out) * s
    alive["mini-batch workspaces"] = count * (3 if run.dropout else 2) * m * widths * s
    if not gpu:  # NumpyOps' scratch: a cache-sized block of each layer's shape
        alive["mini-batch workspaces"] += 2 * sum(max(BLOCK_BYTES, n_l * s) for n_l in sizes[1:])
    scored = [r for r in (run.trained if run.monitor else 0, run.test_rows, run.held_out) if r]
    gathered = max(data_bytes(r, n_in, n_out, s, True) for r in (run.trained if run.monitor else 0, run.held_out))
    moments = {
        "a member's scoring": gathered + max((evaluation_bytes(sizes, dtype, r) for r in scored), default=0),
        "the finiteness check": count * p // s,
        "the epoch's permutations": count * 8 * run.trained,
    }
    moment, part = max((nbytes, part) for part, nbytes in moments.items())
    footprint = Footprint(
        f"training an array of {count} networks of sizes {list(sizes)} in {dtype.name} with batch {run.batch} on "
        f"{run.rows:,} rows{'' if run.trained == run.rows else f' (a member trains on up to {run.trained:,})'} on "
        f"the {arr.backend.name}"
    )
    footprint.device = {**alive, part: moment}
    if gpu:  # the features are converted on the host and staged through pinned memory, which CuPy's pool keeps
        footprint.host["the data's host staging"] = 2 * (run.rows + run.test_rows) * n_in * s
    return footprint
