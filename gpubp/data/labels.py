"""Class labels: whole numbers 0, 1, 2, … that number the classes, and what a training set's labels must satisfy.

The largest label decides the width of the output layer (one neuron per class 0..largest), so a stray label
would silently build a huge layer of classes that have no sample. ``check_classes`` therefore refuses a training
set whose labels leave more classes without a sample than max(10, the number of classes that have one), and one
with fewer than two classes (a classifier of one class is right by construction and learns nothing). The readers
run ``check_spread`` before any split, so that the message can name the stray label's row in its file.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

MAX_LABEL = 2**31 - 1  # far beyond any output layer that fits in memory; a larger "label" is not a class number


def labels_from(values, where: str, lines=None) -> np.ndarray:
    """Class labels as int64 from a column (or an (n, 1) array), or a ``DataError`` naming the first bad one."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        raise DataError(
            f"{where}: labels must be a column of whole numbers, got {values.dtype} of shape {values.shape}"
        )
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values > MAX_LABEL)
    if bad.any():
        index = int(np.argmax(bad))
        row = index + 1 if lines is None else int(lines[index])
        value = values[index].item()
        why = (
            "is too large to be a class number" if np.isfinite(value) and value > MAX_LABEL else "is not a class number"
        )
        raise DataError(
            f"{where}: label {value!r} in row {row} {why} (labels must be whole numbers 0, 1, 2, …, one per class)"
        )
    return values.astype(np.int64)


def check_spread(labels, where: str = "the labels", lines=None, first_row: int = 1) -> None:
    """A ``DataError`` naming the row of the largest label if it leaves too many classes without a sample (module
    docstring); ``lines`` gives each label's row in its file, else rows are counted from ``first_row``."""
    labels = np.asarray(labels)
    present, counts = np.unique(labels, return_counts=True)
    classes = int(present[-1]) + 1
    if classes - len(present) > max(10, len(present)):
        index = int(np.argmax(labels == present[-1]))
        row = int(lines[index]) if lines is not None else index + first_row
        raise DataError(
            f"{where}: the largest label, {present[-1].item()} in row {row} ({counts[-1]} sample(s) in "
            f"all), would make an output layer of {classes} neurons, but only {len(present)} different "
            f"labels occur: labels must number the classes 0, 1, 2, …; fix the stray label or renumber "
            f"the classes, e.g. with numpy.unique(y, return_inverse=True)"
        )


def check_classes(labels) -> int:
    """The number of classes (largest label + 1) of a training set's labels, or a ``DataError`` (module docstring)."""
    labels = np.asarray(labels)
    present = np.unique(labels)
    if len(present) < 2:
        raise DataError(
            f"every one of the {len(labels)} samples has label {present[0].item()}: a classifier needs "
            f"at least two classes; add samples of the other classes, or check that the label is the "
            f"first column (CSV) or y (NPZ)"
        )
    check_spread(labels)
    return int(present[-1]) + 1
