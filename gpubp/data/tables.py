"""Tabular datasets: CSV (label column, then feature columns; header row optional) and NPZ (arrays ``X`` and ``y``).

Values are kept as written (no scaling: a CSV or NPZ file does not say what its range means). Labels must be whole
numbers ≥ 0. A malformed file is a ``DataError`` that names the file, the row and the column where possible.

How a CSV file is read, exactly:

- It is UTF-8 text; one byte-order mark at its very start is dropped. Rows end with LF, CRLF or CR; cells are
  separated by commas and may be quoted (``"3"`` is the number 3). A row holding nothing but spaces and tabs is
  blank and skipped.
- A cell is a number iff, after dropping surrounding spaces and tabs, it is an ASCII decimal such as ``3``,
  ``-0.5``, ``.5``, ``1e5``, ``1E-3``, or ``nan``, ``inf``, ``infinity`` in any case, with an optional sign.
  Anything else (``1_000``, ``0x1``, non-ASCII digits, an empty cell) is not, wherever it is. ``NUMBER`` below is
  that rule, and the value is then ``float(cell)``: one parser decides both, so they cannot disagree.
- ``header="yes"``: the first non-blank row is a header and skipped; ``"no"``: it is data. ``"auto"`` (the
  default): it is a header iff none of its cells is a number and at least one is not empty; if it mixes numbers and
  other cells, that is an error asking for ``--header yes`` or a fix, never a guess.
- Every data row must have as many cells as the first data row, each of them a number.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .config import DataConfig
from .files import check_memory, read_bytes, read_npz
from .labels import check_spread, labels_from

NUMBER = re.compile(
    r"[ \t]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)[ \t]*", re.IGNORECASE | re.ASCII
)


@dataclass
class Table:
    """The numeric rows of a CSV file, the file line on which each ends, and its header row if it had one."""

    values: np.ndarray  # (rows, columns), float64
    lines: np.ndarray  # (rows,), the line number of each data row, for messages
    header: list | None


def _is_blank(row: list) -> bool:
    return len(row) <= 1 and not "".join(row).strip(" \t")


def _describe_cell(cell: str) -> str:
    stripped = cell.strip(" \t")
    return f": {stripped!r} is not a number" if stripped else " is empty"


def _has_header(path, row: list, line: int, header) -> bool:
    header = DataConfig(header="auto" if header is None else header).header
    if header != "auto":
        return header == "yes"
    numbers = [bool(NUMBER.fullmatch(cell)) for cell in row]
    if not any(numbers):
        return any(cell.strip(" \t") for cell in row)
    names = [
        (column, cell)
        for column, (cell, number) in enumerate(zip(row, numbers), start=1)
        if not number and cell.strip(" \t")
    ]
    if names:
        column, cell = names[0]
        raise DataError(
            f"{path}, row {line}: the first row mixes numbers and other cells (column {column}: "
            f"{cell.strip()!r}), so it is neither clearly a header nor data: pass --header yes if it is "
            f"a header, or fix that cell"
        )
    return False


def read_csv(path, header: str = "auto") -> Table:
    """All data rows of a CSV file as numbers (see the module docstring for the exact rules)."""
    path = Path(path)
    raw = read_bytes(path, DataError, "CSV file")
    # The decoded text (up to 4 bytes a character) and the float64 values (8 bytes for a cell of at least 2 bytes)
    check_memory(9 * len(raw), f"reading {path} as numbers")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len((raw[: exc.start] + b"x").splitlines())  # LF, CRLF and CR all end a line
        raise DataError(
            f"{path}, row {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text: save the file as UTF-8 "
            f"(or plain ASCII)"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines, names, width = [], [], None, None
    try:
        for row in reader:
            if _is_blank(row):
                continue
            line = reader.line_num
            if width is None and names is None and _has_header(path, row, line, header):
                names = row
                continue
            if width is None:
                width = len(row)
            if len(row) != width:
                raise DataError(
                    f"{path}: row {line} has {len(row)} columns but the first data row has {width}; "
                    f"every data row needs the same number of numeric columns"
                )
            if not all(map(NUMBER.fullmatch, row)):
                column, cell = next((c, cell) for c, cell in enumerate(row, start=1) if not NUMBER.fullmatch(cell))
                raise DataError(
                    f"{path}: row {line}, column {column}{_describe_cell(cell)}; every cell of a data "
                    f"row must be a number such as 3, -0.5 or 1e-3"
                )
            rows.append(np.fromiter(map(float, row), np.float64, count=width))
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{path}, row {reader.line_num}: not valid CSV ({exc})") from None
    if not rows:
        raise DataError(
            f"{path} has a header but no data rows"
            if names is not None
            else f"{path} has no rows: a CSV dataset needs one sample per row"
        )
    return Table(np.vstack(rows), np.array(lines), names)


def features_from(values, where: str, lines=None) -> np.ndarray:
    """Feature rows as a 2-D array of finite real numbers, or a ``DataError`` saying what they are instead, and
    where (``lines``: the file line of each row, else rows are counted from 1)."""
    values = np.asarray(values)
    if values.dtype.kind == "c":
        raise DataError(
            f"{where}: features are complex numbers; gpubp trains on real numbers: pass the real part, "
            f"the magnitude, or both as separate columns"
        )
    if values.dtype.kind not in "biuf":
        raise DataError(f"{where}: features must be numbers, got an array of {values.dtype}")
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise DataError(
            f"{where}: features must be a non-empty 2-D array, one sample per row, got shape "
            f"{values.shape}; reshape it to (samples, features)"
        )
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = divmod(int(np.argmax(bad)), values.shape[1])
        raise DataError(
            f"{where}: row {row + 1 if lines is None else int(lines[row])} holds "
            f"{values[row, column].item()} in feature column {column + 1}: features must be finite "
            f"numbers; remove or impute the missing or infinite values"
        )
    return values


def paired(x, y, where: str, x_name: str = "X", y_name: str = "y") -> tuple:
    """``(x, y)`` if they hold one label per sample, else a ``DataError`` naming both lengths."""
    if len(x) != len(y):
        raise DataError(
            f"{where}: {x_name} has {len(x)} samples but {y_name} has {len(y)} labels; each sample needs "
            f"exactly one label"
        )
    return x, y


def load_csv(path, header: str = "auto"):
    """``(X, y)`` from a CSV file whose first column is the label."""
    table = read_csv(path, header)
    if table.values.shape[1] < 2:
        raise DataError(
            f"{path} has {table.values.shape[1]} column: a CSV dataset needs the label column and at "
            f"least one feature column"
        )
    labels = labels_from(table.values[:, 0], f"{path}, first column", table.lines)
    check_spread(labels, f"{path}, first column", table.lines)
    return features_from(table.values[:, 1:], str(path), table.lines), labels


def read_arrays(path, required) -> dict:
    """The arrays of an ``.npz`` file (never unpickled), checked to include ``required``."""
    arrays = read_npz(path, DataError, "NPZ file")
    missing = [name for name in required if name not in arrays]
    if missing:
        raise DataError(
            f"{path} has no {' or '.join(missing)} array (it has: {', '.join(arrays) or 'nothing'}); "
            f"save features as X and labels as y, e.g. numpy.savez(path, X=X, y=y)"
        )
    return arrays


def load_npz(path):
    """``(X, y)`` and, where the file has ``X_test`` and ``y_test``, its own test split."""
    arrays = read_arrays(path, ["X", "y"])
    data = paired(features_from(arrays["X"], f"{path}, X"), labels_from(arrays["y"], f"{path}, y"), str(path))
    if ("X_test" in arrays) != ("y_test" in arrays):
        given, other = ("X_test", "y_test") if "X_test" in arrays else ("y_test", "X_test")
        raise DataError(
            f"{path} has {given} but no {other}: give both (a test split of its own) or neither (gpubp "
            f"then holds out a share of X and y)"
        )
    check_spread(data[1], f"{path}, y")
    if "X_test" not in arrays:
        return data, None
    test = paired(
        features_from(arrays["X_test"], f"{path}, X_test"),
        labels_from(arrays["y_test"], f"{path}, y_test"),
        str(path),
        "X_test",
        "y_test",
    )
    check_spread(np.concatenate([data[1], test[1]]), f"{path}, y_test", first_row=1 - len(data[1]))
    if test[0].shape[1] != data[0].shape[1]:
        raise DataError(
            f"{path}: X has {data[0].shape[1]} features per sample but X_test has {test[0].shape[1]}: "
            f"the test samples must have the training samples' features"
        )
    return data, test
