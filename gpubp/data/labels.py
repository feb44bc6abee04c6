"""Class labels and regression targets: what a dataset's labels must be, how they become output neurons, and how a
model's outputs become labels again.

Whole-number labels 0, 1, 2, … number the classes: label k is output neuron k, so the largest label decides the
width of the output layer, and a stray label would silently build a huge layer of classes that have no sample.
``check_classes`` therefore refuses a training set whose labels leave more classes without a sample than max(10,
the number of classes that have one), and one with fewer than two classes (a classifier of one class is right by
construction and learns nothing). The readers run ``check_spread`` before any split, so that the message can name
the stray label's row in its file.

Labels that are not numbers (an NPZ file's bools or strings) are ``numbered``: neuron k stands for the k-th of the
sorted labels (``False``, ``True`` for bools), and those labels travel with the model (``Network.labels``), as
they do for a ``NetworkClassifier``'s classes. ``output_indices`` maps a dataset's labels onto a model's outputs,
by its labels where it has them, and names a label that the model has no output for.

A regression (an identity output layer) reads the same columns as real-valued targets instead (``targets_from``):
any finite numbers, whole ones included, one column per output. A classifier never cuts real values down to
classes: a label that is not a class number is refused, and the message says that real-valued targets are a
regression's (``{output='identity'}``).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..model.costs import class_count

MAX_LABEL = 2**31 - 1  # far beyond any output layer that fits in memory; a larger "label" is not a class number
REGRESSION_HINT = "if they are real-valued targets, train a regression: {output='identity'}"


def labels_from(values, where: str, lines=None, names: bool = False) -> np.ndarray:
    """Class labels from a column (or an (n, 1) array): whole numbers as int64, bools as they are and, with
    ``names`` (an NPZ file), strings as they are; or a ``DataError`` naming the first bad one."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    kinds = "iufb" + ("U" if names else "")
    if values.dtype.kind not in kinds or values.ndim != 1:
        wanted = "whole numbers, bools or strings" if names else "whole numbers"
        several = values.ndim == 2 and values.dtype.kind in "iuf"
        hint = f"; {REGRESSION_HINT} (one output per column)" if several else ""
        raise DataError(
            f"{where}: labels must be a column of {wanted}, got {values.dtype} of shape {values.shape}{hint}",
            *(("output",) if several else ()),
        )
    if values.dtype.kind in "bU":
        return values
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values > MAX_LABEL)
    if bad.any():
        index = int(np.argmax(bad))
        row = index + 1 if lines is None else int(lines[index])
        value = values[index].item()
        why = (
            "is too large to be a class number" if np.isfinite(value) and value > MAX_LABEL else "is not a class number"
        )
        hint = f"; {REGRESSION_HINT}" if np.isfinite(value) else ""
        raise DataError(
            f"{where}: label {value!r} in row {row} {why} (labels must be whole numbers 0, 1, 2, …, one per "
            f"class){hint}",
            *(("output",) if hint else ()),
        )
    return values.astype(np.int64)


def targets_from(values, where: str, lines=None) -> np.ndarray:
    """A regression's targets from a column (n,) or columns (n, k): finite real numbers as float64, in the shape
    given; or a ``DataError`` naming the first bad one (``lines``: the file line of each row, else rows count from
    1)."""
    values = np.asarray(values)
    if values.dtype.kind == "b" or values.dtype.kind == "U":
        raise DataError(
            f"{where}: a regression's targets must be real numbers, got {values.dtype}; labels of classes are a "
            f"classifier's: drop {{output='identity'}}",
            "output",
        )
    if values.dtype.kind not in "iuf" or values.ndim not in (1, 2) or values.size == 0:
        raise DataError(
            f"{where}: a regression's targets must be a column (n,) or columns (n, k) of real numbers, got "
            f"{values.dtype} of shape {values.shape}"
        )
    targets = values.astype(np.float64)
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets.ravel()  # one target per row, however it was saved: y and y_test then pair up
    bad = ~np.isfinite(targets)
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), targets.shape)
        row = index[0] + 1 if lines is None else int(lines[index[0]])
        column = f", column {index[1] + 1}" if targets.ndim == 2 else ""
        raise DataError(
            f"{where}: target {targets[index].item()} in row {row}{column} is not a finite number: remove or impute "
            f"the missing or infinite targets"
        )
    return targets


def target_width(targets) -> int:
    """How many outputs a regression's targets ask for: one for a column (n,), k for (n, k)."""
    return 1 if np.ndim(targets) == 1 else np.shape(targets)[1]


def check_spread(labels, where: str = "the labels", lines=None, first_row: int = 1) -> None:
    """A ``DataError`` naming the row of the largest label if it leaves too many classes without a sample (module
    docstring); ``lines`` gives each label's row in its file, else rows are counted from ``first_row``."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":  # bools and strings are numbered by the labels that occur: none is stray
        return
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


def check_targets_vary(targets) -> int:
    """The number of outputs of a regression's training targets, or a ``DataError`` where every one of them is the
    same number: a regression of a constant learns nothing, and its R² (1 − Σ (y − a)² / Σ (y − ȳ)²) is undefined."""
    targets = np.asarray(targets)
    if targets.size and np.all(targets == targets.flat[0]):
        raise DataError(
            f"every one of the {len(targets)} training samples has target {targets.flat[0].item():g}: a regression "
            f"needs targets that vary; check that the targets are the first column(s) (CSV) or y (NPZ)"
        )
    return target_width(targets)


def numbered(train_labels, test_labels):
    """``(classes, train, test)``: bools and strings as the index of each label in ``classes``, the sorted labels
    (``False``, ``True`` for bools, whichever occur); whole numbers as they are, with ``classes`` None."""
    kind = train_labels.dtype.kind
    if kind in "iu":
        return None, train_labels, test_labels
    classes = np.array([False, True]) if kind == "b" else np.unique(np.concatenate([train_labels, test_labels]))
    return classes, np.searchsorted(classes, train_labels), np.searchsorted(classes, test_labels)


def output_indices(values, classes, n_outputs: int, where: str) -> np.ndarray:
    """The output neuron of each label in ``values`` for a model whose outputs stand for ``classes`` (``None``:
    output k is label k; one output tells classes 0 and 1 apart), or a ``DataError`` naming a label that the model
    has no output for."""
    n_classes = class_count(n_outputs)
    values = np.asarray(values)
    if classes is None:
        numbers = values.dtype.kind in "biu"
        positions = values.astype(np.int64) if numbers else np.zeros(len(values), np.int64)
        found = (positions >= 0) & (positions < n_classes) if numbers else np.zeros(len(values), bool)
        described = f"numbers its {n_classes} classes 0..{n_classes - 1}"
    else:
        classes = np.asarray(classes)
        order = np.argsort(classes, kind="stable")
        at = np.zeros(len(values), np.int64)
        found = np.zeros(len(values), bool)
        if (classes.dtype.kind == "U") == (values.dtype.kind == "U"):  # strings never equal numbers
            at = np.minimum(np.searchsorted(classes[order], values), len(classes) - 1)
            found = classes[order][at] == values
        positions = order[at]
        shown = ", ".join(map(str, classes[:10].tolist())) + (", …" if len(classes) > 10 else "")
        described = f"labels its {n_classes} classes {shown}"
    if not found.all():
        first = values[~found][0]
        rows = np.count_nonzero(values[~found] == first)
        raise DataError(
            f"{where}: label {first.item()!r} ({rows} row(s)) is not a class of the model, which {described}: "
            f"evaluate it on data labelled like the data it was trained on"
        )
    return positions.astype(np.int64)
