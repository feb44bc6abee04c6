"""Sample weights from a file: one number per row of the data, read and checked before anything is trained.

``DataConfig.weights`` names the file: a ``.csv`` or ``.txt`` file of one number per line (read by the CSV rule of
``tables.py``; a first line that is not a number, such as ``weight``, is a header), or a ``.npy`` file of one 1-D
array (never unpickled). The weights are those of the rows as the data holds them, in file order: every row of
data that gpubp splits itself (a CSV or NPZ file without a test set, the digits), test rows included, or the
training rows of data with a test set of its own (the IDX sets, an NPZ file with ``X_test``). ``split.py`` then
hands each weight to its row through the split (and the trainer through the validation hold-out); test and
validation figures are not weighted.

A weight must be a finite number >= 0, one per row, and not all of them 0 (``check_some_weight`` says the same of
the rows that training learns from); each problem is one ``DataError`` naming the file, the line and the fix.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import NPY_MAGIC, read_bytes
from .tables import read_csv

TEXT_SUFFIXES = (".csv", ".txt")


def read_weights(path, rows: int, described: str) -> np.ndarray:
    """The weights in ``path`` as float64, one per each of ``rows`` rows (``described``: those rows in words, such
    as "120 rows"), or a ``DataError`` (module docstring)."""
    suffix = Path(path).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        values, lines = text_weights(path)
    elif suffix == ".npy":
        values, lines = array_weights(path), None
    else:
        raise DataError(
            f"{path}: sample weights are read from a .csv or .txt file (one number per line) or a .npy file, not a "
            f"{suffix or 'file without a suffix'}: save them with numpy.savetxt(path, w) or numpy.save(path, w)"
        )
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.ravel()
    if values.dtype.kind not in "biuf" or values.dtype.kind == "b" or values.ndim != 1:
        raise DataError(
            f"{path}: sample weights must be one number per row, a 1-D array, got {values.dtype} of shape "
            f"{values.shape}"
        )
    if len(values) != rows:
        pandas = (
            " (its first line, 0, may be the header pandas writes above an unnamed column: drop that line)"
            if len(values) == rows + 1 and lines is not None and values[0] == 0
            else ""
        )
        raise DataError(
            f"{path} holds {len(values)} weights but the data has {described}: give one weight per row, in the "
            f"data's row order{pandas}"
        )
    values = values.astype(np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        index = int(np.argmax(bad))
        where = f"line {int(lines[index])}" if lines is not None else f"row {index + 1}"
        raise DataError(
            f"{path}, {where}: weight {values[index].item()!r} is not a finite number >= 0: a weight scales its row's "
            f"share of the cost; fix it, or give the row weight 0 to leave it out"
        )
    check_some_weight(values, f"{path}", f"the {described}")
    return values


def check_some_weight(weights, path: str, rows: str) -> None:
    """A ``DataError`` where every weight of ``rows`` (in words) is 0: training would learn nothing from them."""
    if not np.any(weights):
        raise DataError(
            f"{path} gives weight 0 to every one of {rows}, so training would learn nothing: give some rows a "
            f"positive weight"
        )


def text_weights(path) -> tuple[np.ndarray, np.ndarray]:
    """The one column of a text file, and the line of each value. A first line of numbers is data: a lone number
    such as 0 or 1 is a weight, never pandas' column number."""
    table = read_csv(path, "auto", numbered_header=False, what="weights file")
    if table.values.shape[1] != 1:
        raise DataError(
            f"{path}: line {int(table.lines[0])} has {table.values.shape[1]} columns; a weights file holds one "
            f"weight per line: save the weights alone, e.g. numpy.savetxt(path, w)"
        )
    return table.values[:, 0], table.lines


def array_weights(path) -> np.ndarray:
    raw = read_bytes(path, DataError, "weights file")
    if not raw.startswith(NPY_MAGIC):
        raise DataError(f"{path} is not a .npy array (it does not start like one): save the weights with numpy.save")
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{path} holds an array of Python objects, which gpubp never loads: save the weights as numbers"
            ) from None
        raise DataError(f"{path} is not a readable .npy array ({exc}): save the weights with numpy.save") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy array ({exc}): save the weights with numpy.save") from None
