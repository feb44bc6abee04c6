"""How a dataset is split into training and test rows, and the record by which a model knows its data again.

Every format's loader returns the rows it read, in file order (``Rows``), and ``divide`` is the one place where they
become ``(train, test)``: the file's own test set where the format has one (the IDX sets; an NPZ file with
``X_test`` and ``y_test``), else a fixed shuffle with ``SPLIT_SEED`` holding out ``test_fraction`` of the rows. The
shuffle depends on the number of rows alone, so one row more, another test fraction or another header rule (which
decides whether a CSV file's first row is data) gives another test set.

That is why ``divide`` also returns a ``DataSplit``: a fingerprint of the rows as read (SHA-256 of their values and
labels in file order, with their dtypes and shapes: class labels as int64, a regression's targets as float64) and
everything it takes to draw the same split again (the seed, the test fraction, the header rule and the number of
target columns of a CSV file, whether the data had its own test set), plus the validation hold-out that training
adds. ``gpubp train`` stores it in the model and the checkpoint; ``gpubp evaluate`` and ``--resume`` read the data
again, compare (``differences``), and refuse to call anything a "test split" that is not the one the model was
tested on. Hashing MNIST's 60,000 + 10,000 rows (220 MB of float32) takes about a tenth of a second.

Sample weights (one per training row as the data holds them, in file order) follow their rows through the split,
and the record names their file and holds their fingerprint, so that ``--resume`` refuses weights that have
changed (``weight_differences``); evaluation is unweighted, so ``differences`` leaves them out. Records of version
1, from before targets and weights, still read: a CSV file's one label column, no weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

SPLIT_SEED = 0
RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class Rows:
    """What a loader read: features ``x`` and labels ``y`` (class labels, or a regression's targets) in file order,
    the file's own test set ``(x, y)`` where it has one, and whether a header row was skipped (CSV files; ``None``
    for the other formats)."""

    x: np.ndarray
    y: np.ndarray
    test: tuple | None = None
    header_row: bool | None = None


def fingerprint(*arrays) -> str:
    """``sha256:<hex>`` of the arrays' dtypes, shapes and bytes, in order: equal iff the rows read are equal."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.view(np.uint8).reshape(-1) if array.size else b"")
    return f"sha256:{digest.hexdigest()}"


def split_rows(n: int, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The row indices ``(train, test)`` of ``n`` rows shuffled with ``seed``, the last ``test_fraction`` held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    if not 1 <= n_test < n:
        raise DataError(
            f"a test fraction of {test_fraction} leaves {n_test} of {n} samples for testing: "
            f"there must be at least one sample on each side"
        )
    return order[:-n_test], order[-n_test:]


def split(x, y, test_fraction: float, seed: int = SPLIT_SEED):
    """Shuffle ``(x, y)`` with ``seed`` and hold out the last ``test_fraction`` of it: ``(train, test)``."""
    train, test = split_rows(len(x), test_fraction, seed)
    return (x[train], y[train]), (x[test], y[test])


@dataclass(frozen=True)
class DataSplit:
    """The record of a split (module docstring); ``test_fraction`` and ``split_seed`` are ``None`` where the data
    had its own test set, ``header`` and ``targets`` where it was not a CSV file, ``weights`` and
    ``weights_fingerprint`` where training had no sample weights."""

    data: str  # the dataset's name, or its file's absolute path
    data_dir: str | None
    fingerprint: str
    rows: int  # every row read, the file's own test rows included
    header: str | None  # the header rule a CSV file was read with
    header_row: bool | None  # whether that rule skipped a first row
    test_fraction: float | None
    split_seed: int | None
    train_rows: int
    test_rows: int
    validation_fraction: float = 0.0
    validation_rows: int = 0
    validation_seed: int | None = None
    targets: int | None = None  # how many of a CSV file's first columns were read as targets (the label: 1)
    weights: str | None = None  # the sample weights' file, absolute
    weights_fingerprint: str | None = None

    @property
    def own_test_set(self) -> bool:
        return self.test_fraction is None

    def holding_out(self, fraction: float, rows: int, seed: int) -> DataSplit:
        """The record with training's validation hold-out: ``rows`` of the training rows, drawn with ``seed``."""
        return dataclasses.replace(
            self, validation_fraction=float(fraction), validation_rows=int(rows), validation_seed=int(seed)
        )

    def to_json(self) -> dict:
        return {"version": RECORD_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, record) -> DataSplit:
        """What ``to_json`` wrote, every field checked; a ``ValueError`` names the first that is not."""
        if not isinstance(record, dict) or record.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"its data split record is not one this gpubp writes: {str(record)[:80]!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {name: value for name, value in record.items() if name != "version"}
        if record["version"] == 1:  # before targets and weights: a CSV file's one label column, no weights
            if set(values) & {"targets", "weights", "weights_fingerprint"}:
                raise ValueError("its data split record of version 1 has fields of version 2")
            one_label = 1 if isinstance(values.get("header"), str) else None
            values = {**values, "targets": one_label, "weights": None, "weights_fingerprint": None}
        if set(values) != set(fields):
            raise ValueError(f"its data split record has fields {sorted(values)}, not {sorted(fields)}")
        checks = {"str": lambda v: isinstance(v, str), "int": is_count, "float": is_fraction, "bool": is_bool}
        for name, value in values.items():
            kind = fields[name].type.split(" |")[0]
            optional = "None" in fields[name].type
            if not (optional and value is None) and not checks[kind](value):
                raise ValueError(f"its data split record has {name} = {value!r}")
        return cls(**values)

    def differences(self, other: DataSplit, whose: str = "the model's") -> list[str]:
        """How the data ``other`` records differs from this record's, in words that follow "it has" (empty: the
        same rows, split the same way); ``whose`` data this record is. The header knob is named ``{header='yes'}``."""
        if self.fingerprint == other.fingerprint and self.rows == other.rows:
            if self.test_fraction == other.test_fraction and self.split_seed == other.split_seed:
                return []
            return [f"a test fraction of {other.test_fraction}, where {whose} was {self.test_fraction}"]
        found = []
        if None not in (self.targets, other.targets) and self.targets != other.targets:
            found.append(
                f"its first {other.targets} column(s) read as targets ({{targets={other.targets}}}), where {whose} "
                f"data had {self.targets} ({{targets={self.targets}}})"
            )
        if None not in (self.header_row, other.header_row) and self.header_row != other.header_row:
            found.append(
                f"a first row read as {'a header' if other.header_row else 'data'} ({{header={other.header!r}}}), "
                f"where {whose} data's first row was read as {'a header' if self.header_row else 'data'} "
                f"({{header={self.header!r}}})"
            )
        if self.rows != other.rows:
            found.append(f"{other.rows} rows, where {whose} data had {self.rows}")
        elif not found:
            found.append(
                f"as many rows as {whose} data ({other.rows}) but other values (fingerprint "
                f"{other.fingerprint[7:19]}…, where {whose} is {self.fingerprint[7:19]}…)"
            )
        return found

    def weight_differences(self, other: DataSplit, whose: str = "the run's") -> list[str]:
        """How the sample weights ``other`` records differ from this record's, in words that follow "it has" (empty:
        the same weights, or none on either side)."""
        if self.weights_fingerprint == other.weights_fingerprint:
            return []
        if other.weights is None:
            return [f"no sample weights, where {whose} rows were weighted"]
        if self.weights is None:
            return [f"sample weights, where {whose} rows had none"]
        return [
            f"other weights (fingerprint {other.weights_fingerprint[7:19]}…, where {whose} were "
            f"{self.weights_fingerprint[7:19]}…)"
        ]


def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_fraction(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def is_bool(value) -> bool:
    return isinstance(value, bool)


def divide(
    rows: Rows,
    data: str,
    data_dir,
    header: str,
    test_fraction: float,
    seed: int = SPLIT_SEED,
    targets: int = 1,
    weights: tuple[str, np.ndarray] | None = None,
):
    """``(train, test, train_weights, DataSplit)`` of ``rows`` read from ``data`` (module docstring); ``weights``:
    the weights' file and one weight per row of ``rows.y``, of which ``train_weights`` are the training rows' (None
    without weights)."""
    parts = [rows.x, rows.y] + ([] if rows.test is None else list(rows.test))
    train_weights = None if weights is None else weights[1]
    if rows.test is not None:
        train, test, test_fraction, seed = (rows.x, rows.y), rows.test, None, None
    else:
        kept, held = split_rows(len(rows.x), test_fraction, seed)
        train, test = (rows.x[kept], rows.y[kept]), (rows.x[held], rows.y[held])
        train_weights = None if weights is None else weights[1][kept]  # each weight follows its row
    csv = rows.header_row is not None
    record = DataSplit(
        data=data,
        data_dir=data_dir,
        fingerprint=fingerprint(*parts),
        rows=len(rows.y) + (0 if rows.test is None else len(rows.test[1])),
        header=header if csv else None,
        header_row=rows.header_row,
        test_fraction=test_fraction,
        split_seed=seed,
        train_rows=len(train[1]),
        test_rows=len(test[1]),
        targets=targets if csv else None,
        weights=None if weights is None else weights[0],
        weights_fingerprint=None if weights is None else fingerprint(weights[1]),
    )
    return train, test, train_weights, record
