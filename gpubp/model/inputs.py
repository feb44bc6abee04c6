"""What a network accepts, checked at its edges: layer sizes, input rows, and ``(X, y)`` pairs moved to its device.

Everything here either returns the value as the network uses it (a tuple of widths; C-contiguous device arrays in
the network's dtype) or raises an ``InputError`` that says what is wrong and how to fix it, so that the lecture's
code in ``network.py`` never has to check anything.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..errors import InputError


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


def _number(value) -> str:
    """A label as the user wrote it: 12 for 12 or 12.0, 1e+20 for 1e20 (never a wrapped-around int64)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(value)


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
        raise InputError(f"{what}: X could not be read as an (n, {n_in}) array of numbers ({exc})") from None
    if kind not in "biuf":  # complex would silently lose its imaginary part, strings would be parsed loosely
        got = "complex numbers" if kind == "c" else f"values of kind {kind!r} (not numbers)"
        raise InputError(f"{what}: X must hold real numbers, got {got}; convert it to a real numeric array first")
    try:
        with np.errstate(over="ignore"):  # a value beyond the dtype's range is reported below, with its place
            x_dev = xp.ascontiguousarray(net.backend.asarray(x, net.dtype))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: X could not be read as an (n, {n_in}) array of numbers ({exc})") from None
    if x_dev.ndim != 2 or x_dev.shape[0] == 0:
        raise InputError(f"{what}: X must be a non-empty 2-D array (one sample per row), got shape {x_dev.shape}")
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


def prepare(net, data, what="data"):
    """Check ``(X, y)`` against ``net`` and move it to its device once: ``(X, Y, labels)``.

    ``X`` is (n, n_in); ``y`` is either n integer class labels in [0, n_out) or an (n, n_out) target matrix.
    Returns X and the (n, n_out) targets Y in the network's dtype, and the integer labels (for accuracy).
    """
    xp, n_out = net.backend.xp, net.sizes[-1]
    try:
        x, y = data
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a pair (X, y) of features and labels") from None
    x = prepare_inputs(net, x, what)
    check_same_gpu(net.backend, y, f"{what}: y")
    try:
        y = net.backend.asarray(y)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: y could not be read as an array of labels ({exc})") from None
    if y.ndim == 2 and y.shape[1] == 1 and n_out != 1:
        y = y.ravel()  # a column vector of labels, as scikit-learn and pandas often give them
    if y.dtype.kind not in "iubf" or y.shape[:1] != x.shape[:1]:
        raise InputError(
            f"{what}: y must hold one numeric label per row of X ({x.shape[0]} rows), got {y.dtype} of shape {y.shape}"
        )
    if y.ndim == 1:
        if y.dtype.kind == "f" and not bool(xp.all(xp.isfinite(y) & (y == xp.floor(y)))):
            raise InputError(f"{what}: labels must be whole numbers (class indices 0..{n_out - 1})")
        low, high = y.min().item(), y.max().item()  # before any cast, so that 1e20 is shown as 1e20
        if low < 0 or high >= n_out:
            raise InputError(
                f"{what}: labels must lie in 0..{n_out - 1} for a network with {n_out} outputs, found "
                f"{_number(low)}..{_number(high)}: make the last size {_number(high + 1)} or fix the labels"
            )
        labels = y.astype(np.int64)
        targets = xp.zeros((x.shape[0], n_out), net.dtype)
        targets[xp.arange(x.shape[0]), labels] = 1  # one-hot, (n, n_out)
    elif y.ndim == 2 and y.shape[1] == n_out:
        targets = xp.ascontiguousarray(y, dtype=net.dtype)
        if not bool(xp.isfinite(targets).all()):
            raise InputError(f"{what}: targets contain NaN or infinite values")
        net.cost.check_targets(xp, targets, what)
        labels = xp.argmax(targets, axis=1)
    else:
        raise InputError(f"{what}: y must be n class labels or an (n, {n_out}) target matrix, got shape {y.shape}")
    return x, targets, labels
