"""What a network accepts, checked at its edges: layer sizes, parameters, input rows, and ``(X, y)`` pairs moved to
its device, Nielsen's formats included.

Everything here either returns the value as the network uses it (a tuple of widths; C-contiguous device arrays in
the network's dtype) or raises an ``InputError`` that says what is wrong and how to fix it, so that the lecture's
code in ``network.py`` never has to check anything.

gpubp holds one sample per row. Nielsen's ``mnist_loader.load_data_wrapper()`` gives lists of samples ``(x, y)``,
each x a column (n_in, 1), y a column of targets (n_out, 1) in the training data and an int label in the test
data, and his ``network.py`` feeds one column forward. Both are unambiguous, so both are taken as they are:
``from_samples`` turns such a list into the pair (X, y) and ``as_rows`` one column into one row. Any other shape
is refused with the conversion that fits it.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral, Real

import numpy as np

from ..errors import InputError
from .costs import class_count, classes_of

PAIR_ADVICE = (
    "pass the pair (X, y), X one sample per row; a list of (x, y) samples converts with "
    "X = np.array([np.ravel(x) for x, _ in data]), y = np.array([y for _, y in data])"
)


def check_sizes(sizes) -> tuple[int, ...]:
    """``sizes`` as a tuple of layer widths, or an ``InputError`` saying what is wrong with it."""
    try:
        if any(not isinstance(s, (Real, np.number)) or isinstance(s, (bool, np.bool_)) for s in sizes):
            raise TypeError  # True would pass for 1 and "5" for 5: a width is a number
        widths = tuple(int(s) for s in sizes)
        exact = all(float(s) == w for s, w in zip(sizes, widths))
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"sizes must be a list of whole numbers such as [784, 30, 10], not {sizes!r}") from None
    if len(widths) < 2 or not exact or min(widths) < 1:
        raise InputError(
            f"sizes must list at least two layer widths, each a whole number >= 1 (input first, output last), such "
            f"as [784, 30, 10]; got {list(sizes)!r}"
        )
    return widths


def check_output_layer(sizes, cost) -> None:
    """Refuse a softmax over one output: it is 1 whatever the input, so such a network can learn nothing."""
    if sizes[-1] == 1 and cost.name == "log-likelihood":
        raise InputError(
            "the log-likelihood cost's softmax over one output is always 1, so the network could learn nothing: give "
            "the output layer one neuron per class, or use one sigmoid output with the cross-entropy cost"
        )


def first_non_finite(xp, arrays) -> tuple[int, tuple] | None:
    """``(k, index)`` of the first NaN or infinite entry ``arrays[k][index]``, or None where every entry is finite."""
    for k, array in enumerate(arrays):
        finite = xp.isfinite(array)
        if not bool(finite.all()):
            return k, tuple(int(i) for i in np.unravel_index(int(xp.argmax(~finite.ravel())), array.shape))
    return None


def parameter_place(k: int, index: tuple, layers: int) -> str:
    """Parameter array ``k`` of ``weights + biases`` at ``index`` as the Python API names it: ``weights[0][2, 3]``."""
    kind, layer = ("weights", k) if k < layers else ("biases", k - layers)
    return f"{kind}[{layer}][{', '.join(map(str, index))}]"


def check_parameters(net, weights, biases) -> list:
    """``weights`` then ``biases`` (host or device arrays of the lecture's shapes) on ``net``'s device, in its dtype;
    an ``InputError`` for other shapes, values that are not real numbers, and NaN or infinite values, named by place
    (a non-finite weight makes every output NaN, and every prediction class 0)."""
    given = list(weights) + list(biases)
    shapes_w, shapes_b = [tuple(w.shape) for w in net.weights], [tuple(b.shape) for b in net.biases]
    if [tuple(np.shape(p)) for p in given] != shapes_w + shapes_b:
        raise InputError(
            f"parameters do not fit sizes {list(net.sizes)}: weights must have shapes {shapes_w} and biases {shapes_b}"
        )
    try:
        with np.errstate(over="ignore"):  # a value beyond the dtype's range is reported below, with its place
            converted = [net.backend.asarray(p, net.dtype) for p in given]
    except (TypeError, ValueError) as exc:
        raise InputError(f"parameters must be real numbers ({exc})") from None
    bad = first_non_finite(net.backend.xp, converted)
    if bad is None:
        return converted
    k, index = bad
    place, original = parameter_place(k, index, len(shapes_w)), given[k]
    value = float((original if hasattr(original, "shape") else np.asarray(original))[index])  # as given, before casting
    if np.isfinite(value):
        raise InputError(
            f"{place} is {value:g}, beyond the range of {net.dtype.name} (±{np.finfo(net.dtype).max:.3g}), where it "
            f"would be infinite: use dtype float64, or smaller values"
        )
    raise InputError(
        f"NaN or infinite {place.split('[')[0]} are refused ({place} is {value}): they make every output NaN and "
        f"every prediction class 0; pass finite values"
    )


def _number(value) -> str:
    """A label as the user wrote it: 12 for 12 or 12.0, 1e+20 for 1e20 (never a wrapped-around int64)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(value)


def as_rows(x, n_in: int):
    """``(rows, True)`` for one sample given as a column (n_in, 1), as Nielsen's ``network.py`` feeds it forward (the
    row it is); else ``(x, False)``. With n_in = 1 the two readings are the same sample."""
    if n_in == 1 or tuple(x.shape if hasattr(x, "shape") else np.shape(x)) != (n_in, 1):
        return x, False
    return (x.T if hasattr(x, "T") else np.asarray(x).T), True


def on_gpu(array, what="X") -> bool:
    """Whether ``array`` lives in GPU memory (it has ``__cuda_array_interface__``: CuPy's arrays, PyTorch's CUDA
    tensors, Numba's). PyTorch refuses the interface to a tensor that requires grad with a ``RuntimeError`` (as it
    refuses ``__array__``): an ``InputError`` here, saying to detach it."""
    try:
        return hasattr(array, "__cuda_array_interface__")
    except RuntimeError as exc:
        raise InputError(
            f"{what} is a GPU array that does not share its memory ({' '.join(str(exc).split())[:200]}): pass a "
            f"PyTorch tensor that requires grad as tensor.detach()"
        ) from None


def check_same_gpu(backend, array, what: str) -> None:
    """Refuse a GPU array on another GPU than ``backend``'s: CuPy would copy it across in silence (``asarray``),
    or fail on it in a kernel. Its GPU is read without touching it: a CuPy array's ``device``, else its pointer's."""
    if not on_gpu(array, what) or backend.name != "gpu":
        return
    cupy, own = backend.xp, backend.device_id
    if isinstance(array, cupy.ndarray):
        device = array.device.id
    else:
        pointer = array.__cuda_array_interface__["data"][0]
        if not pointer:  # an empty array has no memory anywhere
            return
        device = cupy.cuda.runtime.pointerGetAttributes(pointer).device
    if device != own:
        raise InputError(
            f"{what} is on GPU {device} but the network is on GPU {own}: move it there (cupy.asarray inside "
            f"`with cupy.cuda.Device({own}):`), or make GPU {device} current (cupy.cuda.Device({device}).use()) before "
            f"gpubp first uses the GPU"
        )


def prepare_inputs(net, x, what="data"):
    """Check input rows ``x`` (n, n_in) and move them to ``net``'s device once, C-contiguous in its dtype."""
    xp, n_in = net.backend.xp, net.sizes[0]
    check_same_gpu(net.backend, x, f"{what}: X")
    kind = getattr(x, "dtype", None)
    try:
        kind = (kind if kind is not None else np.asarray(x).dtype).kind
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{what}: X could not be read as an (n, {n_in}) array of numbers ({exc}); {PAIR_ADVICE}"
        ) from None
    if kind not in "biuf":  # complex would silently lose its imaginary part, strings would be parsed loosely
        got = "complex numbers" if kind == "c" else f"values of kind {kind!r} (not numbers)"
        raise InputError(f"{what}: X must hold real numbers, got {got}; convert it to a real numeric array first")
    try:
        with np.errstate(over="ignore"):  # a value beyond the dtype's range is reported below, with its place
            x_dev = xp.ascontiguousarray(net.backend.asarray(x, net.dtype))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: X could not be read as an (n, {n_in}) array of numbers ({exc})") from None
    if x_dev.shape == (n_in,) and n_in > 1:
        raise InputError(
            f"{what}: X is one sample as a 1-D array of shape {x_dev.shape}: pass it as one row, x[None, :]"
        )
    if x_dev.ndim != 2 or x_dev.shape[0] == 0:
        raise InputError(f"{what}: X must be a non-empty 2-D array (one sample per row), got shape {x_dev.shape}")
    if x_dev.shape == (n_in, 1) and n_in > 1:
        raise InputError(
            f"{what}: X of shape {x_dev.shape} is one sample as a column, as Nielsen's network.py holds it; gpubp "
            f"takes one sample per row: pass x.T, or the list of (x, y) samples itself"
        )
    if x_dev.shape[1] != n_in:
        raise InputError(
            f"{what} has {x_dev.shape[1]} features per sample but the network's input layer has {n_in} neurons: "
            f"make the first size {x_dev.shape[1]}"
        )
    if not bool(xp.isfinite(x_dev).all()):
        row, column = divmod(int(xp.argmax(~xp.isfinite(x_dev.ravel()))), n_in)
        value = float((x if hasattr(x, "shape") else np.asarray(x))[row, column])  # as given, before casting
        if np.isfinite(value):
            raise InputError(
                f"{what}: X holds {value:g} in column {column + 1}, beyond the range of {net.dtype.name} "
                f"(±{np.finfo(net.dtype).max:.3g}): use dtype float64 (gpubp train --dtype float64) or scale the "
                f"features"
            )
        raise InputError(
            f"{what}: X contains NaN or infinite values ({value} in column {column + 1}); remove or impute them first"
        )
    return x_dev


def _is_sample(item) -> bool:
    """``(x, y)`` with x one sample as a column (k, 1), as Nielsen's loader makes them."""
    return isinstance(item, (tuple, list)) and len(item) == 2 and np.ndim(item[0]) == 2 and np.shape(item[0])[1] == 1


def _is_label(y) -> bool:
    return isinstance(y, (Integral, np.integer)) and not isinstance(y, (bool, np.bool_))


def from_samples(data, what: str = "data"):
    """Nielsen's list of samples ``(x, y)`` (or his Python 3 loader's ``zip`` of them) as the pair ``(X, y)``: X
    (n, n_in) from the columns x, y the n int labels (test data) or the (n, n_out) targets from the columns y
    (training data). Any other ``data`` is returned as it is (an iterator as a list)."""
    if isinstance(data, Iterator):
        data = list(data)  # zip(...) in Python 3's mnist_loader: one pass only
    if not isinstance(data, (tuple, list)) or not data or not _is_sample(data[0]):
        return data
    shape, labels = np.shape(data[0][0]), _is_label(data[0][1])
    first = "(x, int label)" if labels else f"(x, y) with y of shape {np.shape(data[0][1])}"
    for index, item in enumerate(data):
        if not (_is_sample(item) and np.shape(item[0]) == shape and _is_label(item[1]) == labels) or (
            not labels and np.shape(item[1]) != np.shape(data[0][1])
        ):
            raise InputError(
                f"{what}: sample {index} is not like sample 0, {first} with x a column of shape {shape}, as Nielsen's "
                f"mnist_loader makes them: give every sample the same shapes, or {PAIR_ADVICE}"
            )
    x = np.array([np.asarray(x)[:, 0] for x, _ in data])
    y = np.array([label for _, label in data]) if labels else np.array([np.ravel(y) for _, y in data])
    return x, y


def prepare(net, data, what="data"):
    """Check ``(X, y)`` (or Nielsen's list of samples, see ``from_samples``) against ``net`` and move it to its
    device once: ``(X, Y, labels)``.

    ``X`` is (n, n_in); ``y`` is either n integer class labels (0 or 1 for a network of one output, a binary
    classifier) or an (n, n_out) target matrix; for a regression network (identity outputs), real targets,
    (n, n_out), or (n,) for one output. Returns X and the (n, n_out) targets Y in the network's dtype, and the
    integer labels (for accuracy: ``classes_of`` the targets, a 0/1 indicator row each for a ``multilabel`` network,
    which takes target matrices only; None for regression).
    """
    xp, n_out = net.backend.xp, net.sizes[-1]
    data = from_samples(data, what)
    try:
        x, y = data
    except (TypeError, ValueError):
        raise InputError(
            f"{what} must be a pair (X, y) of features and labels, or Nielsen's list of (x, y) samples with each x "
            f"a column ({net.sizes[0]}, 1); {PAIR_ADVICE}"
        ) from None
    x = prepare_inputs(net, x, what)
    check_same_gpu(net.backend, y, f"{what}: y")
    try:
        y = net.backend.asarray(y)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: y could not be read as an array of labels ({exc})") from None
    if net.regression:
        return x, regression_targets(net, y, x.shape[0], what), None
    if net.multilabel and y.shape != (x.shape[0], n_out):
        raise InputError(
            f"{what}: a multilabel network takes an ({x.shape[0]}, {n_out}) target matrix, one 0/1 column per label, "
            f"got y of shape {y.shape}"
        )
    if y.ndim == 2 and y.shape[1] == 1 and n_out != 1:
        y = y.ravel()  # a column vector of labels, as scikit-learn and pandas often give them
    if y.dtype.kind not in "iubf" or y.shape[:1] != x.shape[:1]:
        raise InputError(
            f"{what}: y must hold one numeric label per row of X ({x.shape[0]} rows), got {y.dtype} of shape {y.shape}"
        )
    if y.ndim == 1:
        n_classes = class_count(n_out)
        if y.dtype.kind == "f" and not bool(xp.all(xp.isfinite(y) & (y == xp.floor(y)))):
            raise InputError(f"{what}: labels must be whole numbers (class indices 0..{n_classes - 1})")
        low, high = y.min().item(), y.max().item()  # before any cast, so that 1e20 is shown as 1e20
        if low < 0 or high >= n_classes:
            outputs = "1 output (a binary classifier)" if n_out == 1 else f"{n_out} outputs"
            raise InputError(
                f"{what}: labels must lie in 0..{n_classes - 1} for a network with {outputs}, found "
                f"{_number(low)}..{_number(high)}: make the last size {_number(high + 1)} or fix the labels"
            )
        labels = y.astype(np.int64)
        if n_out == 1:  # the binary class itself is the target of the one output
            targets = xp.ascontiguousarray(labels[:, None], dtype=net.dtype)
        else:
            targets = xp.zeros((x.shape[0], n_out), net.dtype)
            targets[xp.arange(x.shape[0]), labels] = 1  # one-hot, (n, n_out)
    elif y.ndim == 2 and y.shape[1] == n_out:
        targets = xp.ascontiguousarray(y, dtype=net.dtype)
        if not bool(xp.isfinite(targets).all()):
            raise InputError(f"{what}: targets contain NaN or infinite values")
        net.cost.check_targets(xp, targets, what)
        labels = classes_of(targets, net.multilabel)  # multilabel: each row's indicator, else its class
    else:
        raise InputError(f"{what}: y must be n class labels or an (n, {n_out}) target matrix, got shape {y.shape}")
    return x, targets, labels


def regression_targets(net, y, rows: int, what: str):
    """Real-valued targets for an identity output layer: (rows, n_out), or (rows,) for one output."""
    n_out = net.sizes[-1]
    if y.dtype.kind not in "iuf":
        raise InputError(f"{what}: regression targets must be real numbers, got {y.dtype}")
    if y.ndim == 1 and n_out == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape != (rows, n_out):
        raise InputError(
            f"{what}: y must hold {n_out} real target{'s' if n_out > 1 else ''} per row of X ({rows} rows), as an "
            f"array of shape ({rows}, {n_out}){' or (' + str(rows) + ',)' if n_out == 1 else ''}, got shape {y.shape}"
        )
    with np.errstate(over="ignore"):
        targets = net.backend.xp.ascontiguousarray(y, dtype=net.dtype)
    if not bool(net.backend.xp.isfinite(targets).all()):
        raise InputError(
            f"{what}: targets contain NaN, infinite values or values beyond {net.dtype.name}'s range: remove or impute "
            f"them, or scale the targets"
        )
    return targets


def prepare_weights(weights, rows: int, what: str = "sample_weight") -> np.ndarray:
    """Sample weights as a host float64 array: one finite number >= 0 per row, not all 0, or an ``InputError``.

    They stay on the host: a training run works out each epoch's per-row factors there (``training/epoch.py``).
    """
    if hasattr(weights, "__cuda_array_interface__"):
        weights = weights.get()  # a CuPy array: n numbers, one copy
    try:
        weights = np.asarray(weights)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} could not be read as {rows} numbers ({exc})") from None
    if weights.dtype.kind not in "biuf" or weights.shape != (rows,):
        raise InputError(
            f"{what} must hold one number per training row ({rows}), got {weights.dtype} of shape {weights.shape}"
        )
    weights = weights.astype(np.float64)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{what}: row {row} has weight {weights[row].item()!r}; weights must be finite numbers >= 0")
    if not weights.any():
        raise InputError(f"{what} is 0 for every row, so nothing would be learned: give some rows a positive weight")
    return weights
