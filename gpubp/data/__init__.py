"""Datasets that gpubp can train on, each loaded as ``((X_train, y_train), (X_test, y_test))``.

``load_dataset`` takes ``"digits"`` (bundled with scikit-learn, the default), a dataset of four IDX files —
``"mnist"``, ``"fashion-mnist"``, ``"kmnist"`` (``registry.py``), read from ``data_dir`` or downloaded into a
cache on first use (``download.py``) — or the path of a ``.csv`` or ``.npz`` file. Each format's loader reads its
rows and checks them (``digits.py``, ``idx.py``, ``tables.py``); ``split.py`` then splits them, the one place that
does: a format with its own test set (the IDX sets; an NPZ with ``X_test``/``y_test``) keeps it, the others are
split with a fixed seed, ``test_fraction`` held out. ``read_dataset`` returns the same data with the record of its
split (``DataSplit``) and, for labels that are not class numbers (an NPZ file's bools or strings), the labels the
classes stand for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import registry
from .config import HEADER_CHOICES, DataConfig
from .digits import digit_rows, load_digits
from .download import DEFAULT_MNIST_DIR, locate
from .idx import load_mnist
from .labels import check_classes, numbered
from .split import SPLIT_SEED, DataSplit, Rows, divide, split
from .tables import features_from, load_csv, load_npz, read_arrays, read_csv


@dataclass(frozen=True)
class Dataset:
    """``train`` and ``test`` as ``(X, y)`` pairs, the record of how they were split, and the labels the classes
    stand for where they are not the class numbers themselves (``None``: label k is class k)."""

    train: tuple
    test: tuple
    split: DataSplit
    classes: np.ndarray | None = None


def read_rows(config: DataConfig, download: bool = True) -> Rows:
    """The rows of ``config.data`` as its format's loader reads them."""
    name = config.data
    if name == "digits":
        return digit_rows()
    known = registry.datasets()
    if name in known:
        train, test = load_mnist(locate(known[name], config.data_dir, download))
        return Rows(*train, test=test)
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return load_csv(name, config.header)
    if suffix == ".npz":
        return load_npz(name)
    raise DataError(f"unknown dataset {name!r}: use digits, {', '.join(known)}, or the path of a .csv or .npz file")


def read_dataset(
    name: str = "digits",
    data_dir=None,
    test_fraction=None,
    header: str = "auto",
    download: bool = True,
    split_seed: int = SPLIT_SEED,
) -> Dataset:
    """The data of ``load_dataset``, with the record of its split and its classes' labels (module docstring)."""
    config = DataConfig(
        data=name,
        data_dir=data_dir,
        test_fraction=DataConfig.test_fraction if test_fraction is None else test_fraction,
        header=header,
    )
    rows = read_rows(config, download)
    where = config.data if config.data == "digits" or config.data in registry.datasets() else os.path.abspath(name)
    folder = None if config.data_dir is None else os.path.abspath(config.data_dir)
    (x, y), (x_test, y_test), record = divide(rows, where, folder, config.header, config.test_fraction, split_seed)
    classes, y, y_test = numbered(y, y_test)
    return Dataset((x, y), (x_test, y_test), record, classes)


def load_dataset(name: str = "digits", data_dir=None, test_fraction=None, header: str = "auto", download: bool = True):
    """The training and test data for ``name`` (see the module docstring); ``header`` applies to a CSV file (and
    only there), ``data_dir`` to a dataset of IDX files, ``download=False`` refuses to fetch a missing IDX
    dataset."""
    dataset = read_dataset(name, data_dir, test_fraction, header, download)
    return dataset.train, dataset.test


def load_features(path, header: str | None = None):
    """Input rows only (no labels), for prediction, and where they came from, in words: ``(X, description)``.

    An NPZ file's ``X``, or else a CSV file of feature columns (``header``: its header rule, default auto).
    """
    if Path(path).suffix.lower() == ".npz":
        if header is not None:
            raise DataError(f"{{header}} applies to a .csv file, not to {path}: drop {{header}}", "header")
        x = features_from(read_arrays(path, ["X"])["X"], f"{path}, X")
        return x, f"{len(x)} rows of X from {path}"
    table = read_csv(path, header)
    skipped = ", after its header row" if table.header is not None else ""
    return features_from(table.values, str(path), table.lines), f"{len(table.values)} rows from {path}{skipped}"


__all__ = [
    "DEFAULT_MNIST_DIR",
    "DataConfig",
    "DataSplit",
    "Dataset",
    "HEADER_CHOICES",
    "check_classes",
    "load_dataset",
    "load_digits",
    "load_features",
    "load_mnist",
    "read_dataset",
    "split",
]
