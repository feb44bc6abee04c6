"""Saving and loading a trained network as a plain ``.npz`` file, atomically and without pickle.

The file holds the format version, the layer sizes, the cost's name, the dtype, how the weights were initialized,
the units (hidden activations, leaky ReLU's slope, the output layer: one JSON entry), one array per weight matrix
and bias vector (``w0, b0, w1, b1, …``) and, where the network has them, the class labels its outputs stand for
(``Network.labels``: numbers, bools or fixed-width strings, never objects). Version 2 added ``init`` and the
log-likelihood cost, version 3 the labels, version 4 the units, version 5 network arrays (``count`` and the
members' ``seeds``, each weight and bias entry stacking the members on a first axis); older files still load
(version 1 as ``normal``, the only initializer then; before 4, σ units and the cost's own output layer). The
``extra`` arrays of a caller (a checkpoint's state, a run's id and data split) may not take a name the model's own
entries use, and must be plain arrays that load reads back. Saving writes a temporary file beside the target and
renames it over the target only once it is complete, so a crash mid-save leaves the previous file intact. Loading
reads with ``allow_pickle=False`` and checks everything it reads, so a damaged, foreign or newer file gives a
``ModelFileError`` that says what is wrong, never a traceback from inside NumPy.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from ..backend import get_backend
from ..data.files import read_npz
from ..errors import GpubpError, InputError, ModelFileError
from .array import NetworkArray
from .costs import class_count
from .inputs import check_sizes
from .network import Network

# 2 added init and the log-likelihood cost (a softmax output layer); 3 the labels; 4 the hidden activations, leaky
# ReLU's slope and the output layer, as one JSON entry ("units"), and init may be "" (each activation's own); 5 network
# arrays (their member count and seeds, the parameters stacked member by member). Older files load.
FORMAT_VERSION = 5
STORABLE_LABELS = "biufU"  # the kinds of label array that np.load reads back without pickle


def atomic_write(path, write, error=GpubpError) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path`` (all or nothing).

    The file gets the mode any program's new file gets (0666 less the umask), or keeps the mode of the file it
    replaces. A file system that refuses (a missing or read-only folder, a full disk, a folder in the way) raises
    ``error`` naming the path; whatever was at ``path`` before is left as it was, and the temporary file is removed
    whatever interrupts the writing, Ctrl-C and SIGTERM included (only ``kill -9`` can leave one behind).
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"cannot write {path}: it is a folder; give a file name")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) if path.exists() else 0o666 & ~current_umask()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise error(
            f"cannot write {path}: {exc.strerror or exc}; check that its folder exists and is writable"
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # mkstemp makes 0600 files, private to this user whatever the umask
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            raise error(f"cannot write {path}: {exc.strerror or exc}; nothing was changed there") from None
        raise


def current_umask() -> int:
    """The process's umask, read without changing it where the system says (Linux), else set and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # the only portable way; it is process-wide, so put it back at once
    os.umask(mask)
    return mask


def save(net: Network, path, extra: dict | None = None) -> None:
    """Write ``net`` to ``path`` (an ``.npz`` file), replacing any previous file only once the new one is whole.

    ``extra`` arrays (a training checkpoint's state) are stored beside the model's own.
    """
    if net.multilabel:  # gpubp predict and evaluate read one class per row: they would misread every row
        raise InputError(
            f"a multilabel network cannot be saved as a model file yet (gpubp predict and evaluate read one class per "
            f"row), so {path} is left as it was: pickle the estimator, or keep net.parameters()"
        )
    weights, biases = net.parameters()
    if not all(np.isfinite(p).all() for p in weights + biases):  # load would refuse the file: never write it
        raise InputError(
            f"the network holds NaN or infinite weights (its training diverged), so it is not saved "
            f"and {path} is left as it was: re-train with a smaller learning rate"
        )
    arrays = {
        "gpubp_format": np.int64(FORMAT_VERSION),
        "sizes": np.array(net.sizes, np.int64),
        "cost": np.array(net.cost.name),
        "dtype": np.array(net.dtype.name),
        "init": np.array(net.init or ""),
        "units": np.array(json.dumps({name: net.config.to_dict()[name] for name in UNIT_KNOBS})),
    }
    labels = getattr(net, "labels", None)
    if labels is not None:
        arrays["labels"] = storable_labels(labels, net.sizes[-1])
    for l, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"w{l}"], arrays[f"b{l}"] = w, b
    if net.count is not None:  # a network array: (count, …) per layer, and each member's seed
        arrays["count"], arrays["seeds"] = np.int64(net.count), np.array(json.dumps(net.seeds))
    for name, value in (extra or {}).items():
        if name in arrays or name in model_entries(len(weights)):
            raise InputError(f"extra entry {name!r} would replace the model's own {name}: give it another name")
        try:
            value = np.asarray(value)
        except ValueError as exc:  # a ragged list
            raise InputError(f"extra entry {name!r} is not an array ({exc})") from None
        if value.dtype.kind == "O":
            raise InputError(
                f"extra entry {name!r} is an array of Python objects, which load would refuse (it never unpickles): "
                f"store numbers or strings"
            )
        arrays[name] = value
    atomic_write(path, lambda f: np.savez(f, **arrays), ModelFileError)


def storable_labels(labels, n_outputs: int) -> np.ndarray:
    """``labels`` as an array ``np.load`` reads back without pickle (strings as fixed-width unicode), checked to
    name each class of ``n_outputs`` outputs once (two for one output); an ``InputError`` where they cannot."""
    n_classes = class_count(n_outputs)
    array = np.asarray(labels)
    if array.dtype.kind in "OS":  # Python objects, or bytes: as strings where they all are
        try:
            array = np.asarray([label if isinstance(label, str) else label.decode() for label in array.tolist()])
        except (AttributeError, UnicodeDecodeError, TypeError):
            array = np.asarray(array.tolist())
    if array.dtype.kind not in STORABLE_LABELS or array.shape != (n_classes,):
        raise InputError(
            f"the network's labels must be {n_classes} numbers, bools or strings, one per class, got "
            f"{array.dtype} of shape {array.shape}: set Network.labels to the class of each output, or to None"
        )
    if len(np.unique(array)) != n_classes:
        raise InputError(f"the network's labels {array.tolist()[:10]} name a class twice: each class needs its own")
    return array


def load(path, device=None, network=Network, array=NetworkArray) -> Network:
    """Read a network saved by ``save`` onto ``device`` (see ``gpubp.get_backend``), as a ``network``; a network
    array's file as an ``array``."""
    return read(path, device, network, array)[0]


def read(path, device=None, network=Network, array=None) -> tuple[Network, dict]:
    """The network in ``path``, as a ``network`` (``Network`` or a subclass; a network array as an ``array``, or
    refused where ``array`` is None), and the ``extra`` arrays saved with it."""
    path = Path(path)
    arrays = read_npz(path, ModelFileError, "model file", "; give a model.npz or checkpoint.npz written by gpubp")
    if "gpubp_format" not in arrays:
        raise ModelFileError(f"{path} is an .npz file but not a gpubp model (it has no gpubp_format entry)")
    version = arrays["gpubp_format"]
    if version.shape != () or version.dtype.kind not in "iu" or version < 1:
        raise ModelFileError(
            f"{path} is a damaged gpubp model (its format version {version.tolist()!r} is not a whole "
            f"number >= 1); re-save or re-train the model"
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer gpubp (model format {version}; this gpubp reads up "
            f"to {FORMAT_VERSION}): upgrade gpubp with pip install -U gpubp"
        )
    if "count" in arrays and array is None:
        raise ModelFileError(
            f"{path} holds a network array ({arrays['count']} networks), not one network: read it with gpubp.load, "
            f"or give the model file of one of its members"
        )
    get_backend(device)  # a missing GPU is the user's machine, not a damaged file: let its own error through
    damaged = (GpubpError, KeyError, TypeError, ValueError)
    try:
        sizes = check_sizes(arrays["sizes"].tolist())
        count = len(sizes) - 1
        members = int(arrays["count"]) if "count" in arrays else None
        seeds = json.loads(str(arrays["seeds"])) if members is not None else None
        lead = () if members is None else (members,)
        weights, biases = [arrays[f"w{l}"] for l in range(count)], [arrays[f"b{l}"] for l in range(count)]
        expected = [(*lead, n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        found = [w.shape for w in weights]
        if found != expected or [b.shape for b in biases] != [(*lead, n_out) for *_, n_out, _ in expected]:
            raise ModelFileError(f"its arrays' shapes {found} disagree with its sizes {list(sizes)}")
        if any(p.dtype.kind not in "iuf" for p in weights + biases):
            raise ModelFileError("its weights are not real numbers")
        units = json.loads(str(arrays["units"])) if version >= 4 else {}  # before 4: σ units, the cost's output
        if not isinstance(units, dict) or set(units) - set(UNIT_KNOBS):
            raise ModelFileError(f"its units {str(arrays['units'])[:100]!r} are not {', '.join(UNIT_KNOBS)}")
    except damaged as exc:
        raise damaged_model(path, exc) from None
    if not all(np.isfinite(p).all() for p in weights + biases):  # a file whole and sound, of a run gone wrong
        raise ModelFileError(
            f"{path} holds NaN or infinite weights: it was saved from a diverged run; "
            f"re-train with a smaller learning rate"
        )
    try:
        knobs = dict(
            cost=str(arrays["cost"]),
            dtype=str(arrays["dtype"]),
            device=device,
            init=(str(arrays["init"]) or None) if version >= 2 else "normal",
            **units,
        )
        if members is None:
            net = network.from_parameters(sizes, weights, biases, **knobs)
        else:
            net = array.from_parameters(sizes, weights, biases, seeds=seeds, **knobs)
        if "labels" in arrays:
            net.labels = storable_labels(arrays["labels"], sizes[-1])
        extra = {name: array for name, array in arrays.items() if name not in model_entries(count)}
    except damaged as exc:
        raise damaged_model(path, exc) from None
    return net, extra


UNIT_KNOBS = ("activation", "leaky_slope", "output")  # the "units" entry of format 4


def damaged_model(path: Path, cause: Exception) -> ModelFileError:
    return ModelFileError(f"{path} is a damaged gpubp model ({cause}); re-save or re-train the model")


def model_entries(layers: int) -> set[str]:
    names = {"gpubp_format", "sizes", "cost", "dtype", "init", "labels", "units", "count", "seeds"}
    return names | {f"{k}{l}" for l in range(layers) for k in "wb"}
