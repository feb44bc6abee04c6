"""Tabular datasets: CSV (label column, then feature columns; header optional) and NPZ (arrays ``X`` and ``y``).

Values are kept as written (no scaling: a CSV or NPZ file does not say what its range means). Labels must be whole
numbers ≥ 0. A malformed file is a ``DataError`` that names the file, the row and the column where possible.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..model.storage import read_npz


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _first_problem(path: Path, skip: int) -> str:
    """Find the first ragged row or non-numeric cell, for an error message NumPy's parser cannot give."""
    with path.open(newline="") as f:
        width = None
        for line_number, row in enumerate(csv.reader(f), start=1):
            if line_number <= skip or not row:
                continue
            if width is None:
                width = len(row)
            if len(row) != width:
                return f"row {line_number} has {len(row)} columns but the first data row has {width}"
            for column, cell in enumerate(row, start=1):
                if not _is_number(cell.strip()):
                    return f"row {line_number}, column {column}: {cell.strip()!r} is not a number"
    return "it could not be parsed as numbers"


def read_csv_matrix(path) -> np.ndarray:
    """All numeric rows of a comma-separated file as a 2-D float64 array; a first row of names is skipped."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist")
    try:
        with path.open(newline="") as f:
            first = next((row for row in csv.reader(f) if row), None)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text CSV file") from None
    if first is None:
        raise DataError(f"{path} has no rows: a CSV dataset needs one sample per row")
    skip = 0 if all(_is_number(cell.strip()) for cell in first) else 1
    try:
        with warnings.catch_warnings():  # a header with no rows under it is reported below, not warned about
            warnings.simplefilter("ignore", UserWarning)
            matrix = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: {_first_problem(path, skip)}; every data row needs the same number of "
                        f"numeric columns") from None
    if matrix.shape[0] == 0:
        raise DataError(f"{path} has a header but no data rows")
    return matrix


def labels_from(values: np.ndarray, where: str) -> np.ndarray:
    """Class labels as int64, or a ``DataError`` if any is negative or not a whole number."""
    values = np.asarray(values)
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        raise DataError(f"{where}: labels must be a column of whole numbers")
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{where}: label {values[row].item()!r} in row {row + 1} is not a class number (labels must be "
                        f"whole numbers 0, 1, 2, …)")
    return values.astype(np.int64)


def load_csv(path):
    """``(X, y)`` from a CSV file whose first column is the label."""
    matrix = read_csv_matrix(path)
    if matrix.shape[1] < 2:
        raise DataError(f"{path} has {matrix.shape[1]} column: a CSV dataset needs the label column and at least "
                        f"one feature column")
    return matrix[:, 1:], labels_from(matrix[:, 0], f"{path}, first column")


def read_arrays(path, required) -> dict:
    """The arrays of an ``.npz`` file (never unpickled), checked to include ``required``."""
    arrays = read_npz(path, DataError, "NPZ file")
    missing = [name for name in required if name not in arrays]
    if missing:
        raise DataError(f"{path} has no {' or '.join(missing)} array (it has: {', '.join(arrays) or 'nothing'}); "
                        f"save features as X and labels as y, e.g. numpy.savez(path, X=X, y=y)")
    return arrays


def load_npz(path):
    """``(X, y)`` and, where the file has ``X_test`` and ``y_test``, its own test split."""
    arrays = read_arrays(path, ["X", "y"])
    data = (arrays["X"], labels_from(arrays["y"], f"{path}, y"))
    if "X_test" in arrays and "y_test" in arrays:
        return data, (arrays["X_test"], labels_from(arrays["y_test"], f"{path}, y_test"))
    return data, None
