"""Tabular datasets: CSV (label column, then feature columns; header row optional) and NPZ (arrays ``X`` and ``y``).

Values are kept as written (no scaling: a CSV or NPZ file does not say what its range means). A classifier's
labels must be whole numbers ≥ 0 (an NPZ file's may be bools or strings); a regression's targets are any finite
numbers: a CSV file's first ``targets`` columns (``DataConfig.targets``, 1 by default), an NPZ file's ``y`` of
shape (n,) or (n, k) (see ``labels.py``). A malformed file is a ``DataError`` that names the file, the row and the
column where possible.

How a CSV file is read, exactly:

- It is UTF-8 text; one byte-order mark at its very start is dropped. Rows end with LF, CRLF or CR; cells are
  separated by commas and may be quoted (``"3"`` is the number 3). A row holding nothing but spaces and tabs is
  blank and skipped. A quote must close on the line it opens (no cell holds a line break): one that does not is
  reported at the row where it opened. A first row whose cells seem separated by semicolons, tabs, ``|`` or spaces
  instead is refused, naming the separator.
- A cell is a number iff, after dropping surrounding spaces and tabs (``SPACE``; no other whitespace, such as a
  no-break space), it is an ASCII decimal such as ``3``, ``-0.5``, ``.5``, ``1e5``, ``1E-3``, or ``nan``, ``inf``,
  ``infinity`` in any case, with an optional sign. Anything else (``1_000``, ``0x1``, non-ASCII digits, an empty
  cell) is not, wherever it is. ``NUMBER`` below is that rule, and the value is then ``float(cell)``: one parser
  decides both, so they cannot disagree, and messages show cells stripped of the same characters.
- ``header="yes"``: the first non-blank row is a header and skipped; ``"no"``: it is data. ``"auto"`` (the
  default): it is a header iff none of its cells is a number and at least one is not empty; if it mixes numbers and
  other cells, or its numbers read as the column numbers 0, 1, …, k−1 or 1, …, k (what pandas writes above
  unnamed columns), that is an error asking for ``header="yes"`` or ``"no"``, never a guess.
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
from .labels import check_spread, labels_from, target_width, targets_from
from .split import Rows

SPACE = " \t"  # what may surround a number in a cell, and all that is stripped from a cell a message shows
NUMBER = re.compile(
    r"[ \t]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|nan|inf|infinity)[ \t]*", re.IGNORECASE | re.ASCII
)
OTHER_SEPARATORS = {";": "semicolons (;)", "\t": "tabs", "|": "bars (|)"}


@dataclass
class Table:
    """The numeric rows of a CSV file, the file line on which each starts, and its header row if it had one."""

    values: np.ndarray  # (rows, columns), float64
    lines: np.ndarray  # (rows,), the line number of each data row, for messages
    header: list | None


def _is_blank(row: list) -> bool:
    return len(row) <= 1 and not "".join(row).strip(SPACE)


def _describe_cell(cell: str) -> str:
    stripped = cell.strip(SPACE)
    if not stripped:
        return " is empty"
    odd = next((c for c in stripped if c.isspace() or not c.isprintable()), None)
    why = "" if odd is None else f" (U+{ord(odd):04X} is not a space or tab, nor part of a number)"
    return f": {stripped!r} is not a number{why}"


def _other_separator(row: list, may_be_header: bool) -> str | None:
    """The separator a row's cells seem to use instead of commas, in words, or None. A header of several names
    may hold any character; a row that must be data, or a single cell, may not hold one of ``OTHER_SEPARATORS``."""
    odd = [cell for cell in row if not NUMBER.fullmatch(cell)]
    if may_be_header and len(row) > 1 and len(odd) == len(row):
        return None
    for separator, name in OTHER_SEPARATORS.items():
        if any(separator in cell for cell in odd):
            return name
    words = row[0].strip(SPACE).split() if len(row) == 1 else []
    return "spaces" if len(words) > 1 and all(NUMBER.fullmatch(word) for word in words) else None


def _has_header(path, row: list, line: int, header: str, numbered_header: bool = True) -> bool:
    if header != "auto":
        return header == "yes"
    numbers = [bool(NUMBER.fullmatch(cell)) for cell in row]
    if not any(numbers):
        return any(cell.strip(SPACE) for cell in row)
    names = [
        (column, cell)
        for column, (cell, number) in enumerate(zip(row, numbers), start=1)
        if not number and cell.strip(SPACE)
    ]
    if names:
        column, cell = names[0]
        raise DataError(
            f"{path}, row {line}: the first row mixes numbers and other cells (column {column}: "
            f"{cell.strip(SPACE)!r}), so it is neither clearly a header nor data: pass {{header='yes'}} if it is "
            f"a header, or fix that cell",
            "header",
        )
    values = [float(cell) for cell in row] if all(numbers) and numbered_header else []  # an empty cell: data
    for first in (0, 1):
        if values == list(range(first, first + len(row))):
            shown = ",".join(cell.strip(SPACE) for cell in row[:4]) + (",…" if len(row) > 4 else "")
            raise DataError(
                f"{path}, row {line}: the first row ({shown}) numbers the columns {first}..{first + len(row) - 1}, "
                f"as pandas writes above unnamed columns, so it may be a header or data: pass {{header='yes'}} if "
                f"it is a header, {{header='no'}} if it is data",
                "header",
            )
    return False


def _unclosed_quote(path, text: str, start: int, end: int) -> DataError:
    to = "to the end of the file" if end >= len(text.splitlines()) else f"to row {end}"
    return DataError(
        f"{path}, row {start}: a quote opened in this row runs over the line break {to} (no cell may hold one): "
        f"close the quote, or remove it"
    )


def read_csv(path, header: str = "auto", numbered_header: bool = True, what: str = "CSV file") -> Table:
    """All data rows of a CSV file as numbers (see the module docstring for the exact rules); without
    ``numbered_header``, a first row of numbers is data under ``"auto"`` even where they number the columns (a file
    of one column, whose pandas header 0 would be a value)."""
    path, header = Path(path), DataConfig.check_one("header", "auto" if header is None else header)
    raw = read_bytes(path, DataError, what)
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
    rows, lines, names, width, end = [], [], None, None, 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num  # a row starts on the line after the last one ended
            if _is_blank(row):
                continue
            if any("\n" in cell or "\r" in cell for cell in row):
                raise _unclosed_quote(path, text, start, end)
            first = width is None and names is None
            separator = _other_separator(row, first and header != "no") if width is None else None
            if separator is not None:
                raise DataError(
                    f"{path}, row {start}: its cells seem separated by {separator}, but gpubp reads comma-separated "
                    f"values: save the file with commas (pandas: pandas.read_csv(path, sep=...).to_csv(path, "
                    f"index=False))"
                )
            if first and _has_header(path, row, start, header, numbered_header):
                names = row
                continue
            if width is None:
                width = len(row)
            if len(row) != width:
                raise DataError(
                    f"{path}: row {start} has {len(row)} columns but the first data row has {width}; "
                    f"every data row needs the same number of numeric columns"
                )
            if not all(map(NUMBER.fullmatch, row)):
                column, cell = next((c, cell) for c, cell in enumerate(row, start=1) if not NUMBER.fullmatch(cell))
                raise DataError(
                    f"{path}: row {start}, column {column}{_describe_cell(cell)}; every cell of a data "
                    f"row must be a number such as 3, -0.5 or 1e-3"
                )
            rows.append(np.fromiter(map(float, row), np.float64, count=width))
            lines.append(start)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):  # a quote that never closes swallows the file
            raise _unclosed_quote(path, text, end + 1, len(text.splitlines())) from None
        raise DataError(f"{path}, row {end + 1}: not valid CSV ({exc})") from None
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


def load_csv(path, header: str = "auto", targets: int = 1, regression: bool = False) -> Rows:
    """The rows of a CSV file whose first column is the label; for a regression, whose first ``targets`` columns
    are the targets."""
    targets = DataConfig.check_one("targets", targets)
    if targets > 1 and not regression:
        raise DataError(
            f"{{targets={targets}}} reads {targets} target columns, which only a regression has "
            f"({{output='identity'}}); a classifier reads one label column: drop {{targets}}",
            "targets",
            "output",
        )
    table = read_csv(path, header)
    columns = table.values.shape[1]
    if columns <= targets:
        needed = "the label column" if targets == 1 else f"its {targets} target columns ({{targets={targets}}})"
        raise DataError(
            f"{path} has {columns} column{'s' if columns > 1 else ''}: a CSV dataset needs {needed} and at least one "
            f"feature column",
            "targets",
        )
    where = f"{path}, first column" if targets == 1 else f"{path}, first {targets} columns"
    first = table.values[:, 0] if targets == 1 else table.values[:, :targets]
    if regression:
        labels = targets_from(first, where, table.lines)
    else:
        labels = labels_from(first, where, table.lines)
        check_spread(labels, where, table.lines)
    features = features_from(table.values[:, targets:], str(path), table.lines)
    return Rows(features, labels, header_row=table.header is not None)


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


def load_npz(path, regression: bool = False) -> Rows:
    """The rows of ``X`` and ``y``, and the file's own test set where it has ``X_test`` and ``y_test``; ``y`` holds
    class labels, or for a ``regression`` its targets."""
    arrays = read_arrays(path, ["X", "y"])

    def labels(name):
        where = f"{path}, {name}"
        return targets_from(arrays[name], where) if regression else labels_from(arrays[name], where, names=True)

    x, y = paired(features_from(arrays["X"], f"{path}, X"), labels("y"), str(path))
    if ("X_test" in arrays) != ("y_test" in arrays):
        given, other = ("X_test", "y_test") if "X_test" in arrays else ("y_test", "X_test")
        raise DataError(
            f"{path} has {given} but no {other}: give both (a test split of its own) or neither (gpubp "
            f"then holds out a share of X and y)"
        )
    if not regression:
        check_spread(y, f"{path}, y")
    if "X_test" not in arrays:
        return Rows(x, y)
    test = paired(features_from(arrays["X_test"], f"{path}, X_test"), labels("y_test"), str(path), "X_test", "y_test")
    if test[0].shape[1] != x.shape[1]:
        raise DataError(
            f"{path}: X has {x.shape[1]} features per sample but X_test has {test[0].shape[1]}: "
            f"the test samples must have the training samples' features"
        )
    if regression:
        if target_width(test[1]) != target_width(y):
            raise DataError(
                f"{path}: y has {target_width(y)} target(s) per sample but y_test has {target_width(test[1])}: the "
                f"test samples must have the training samples' targets"
            )
        return Rows(x, y, test)
    if label_kind(test[1]) != label_kind(y):
        raise DataError(
            f"{path}: y holds {label_kind(y)} but y_test holds {label_kind(test[1])}: the test labels must be "
            f"labels of the same classes"
        )
    check_spread(np.concatenate([y, test[1]]), f"{path}, y_test", first_row=1 - len(y))
    return Rows(x, y, test)


def label_kind(labels) -> str:
    return {"b": "bools", "U": "strings"}.get(labels.dtype.kind, "numbers")
