"""Datasets that gpubp can train on, each loaded as ``((X_train, y_train), (X_test, y_test))``.

``load_dataset`` takes ``"digits"`` (bundled with scikit-learn, the default), a dataset of four IDX files —
``"mnist"``, ``"fashion-mnist"``, ``"kmnist"`` (``registry.py``), read from ``data_dir`` or downloaded into a
cache on first use (``download.py``) — or the path of a ``.csv`` or ``.npz`` file. Each format's loader reads its
rows and checks them (``digits.py``, ``idx.py``, ``tables.py``); ``split.py`` then splits them, the one place that
does: a format with its own test set (the IDX sets; an NPZ with ``X_test``/``y_test``) keeps it, the others are
split with a fixed seed, ``test_fraction`` held out. ``read_dataset`` returns the same data with the record of its
split (``DataSplit``) and, for labels that are not class numbers (an NPZ file's bools or strings), the labels the
classes stand for. With ``regression``, the labels are read as real-valued targets (``labels.targets_from``; a CSV
file's first ``targets`` columns); with ``weights``, the sample weights of the training rows come too
(``weights.py``), each beside its row.
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
from .labels import check_classes, check_targets_vary, numbered
from .split import SPLIT_SEED, DataSplit, Rows, divide, split
from .tables import features_from, load_csv, load_npz, read_arrays, read_csv
from .weights import read_weights


@dataclass(frozen=True)
class Dataset:
    """``train`` and ``test`` as ``(X, y)`` pairs, the record of how they were split, the labels the classes stand
    for where they are not the class numbers themselves (``None``: label k is class k), and the sample weights of
    the training rows, in their order (``None``: none were given)."""

    train: tuple
    test: tuple
    split: DataSplit
    classes: np.ndarray | None = None
    weights: np.ndarray | None = None


def read_rows(config: DataConfig, download: bool = True, regression: bool = False) -> Rows:
    """The rows of ``config.data`` as its format's loader reads them: class labels, or a ``regression``'s targets."""
    name = config.data
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return load_csv(name, config.header, config.targets, regression)
    if suffix == ".npz":
        return load_npz(name, regression)
    known = registry.datasets()
    if name == "digits":
        rows = digit_rows()
    elif name in known:
        train, test = load_mnist(locate(known[name], config.data_dir, download))
        rows = Rows(*train, test=test)
    else:
        raise DataError(f"unknown dataset {name!r}: use digits, {', '.join(known)}, or the path of a .csv or .npz file")
    if not regression:
        return rows
    # Their class numbers as real targets: whole numbers are targets like any others
    test = None if rows.test is None else (rows.test[0], rows.test[1].astype(np.float64))
    return Rows(rows.x, rows.y.astype(np.float64), test)


def read_dataset(
    name: str = "digits",
    data_dir=None,
    test_fraction=None,
    header: str = "auto",
    download: bool = True,
    split_seed: int = SPLIT_SEED,
    *,
    targets: int = 1,
    weights=None,
    regression: bool = False,
) -> Dataset:
    """The data of ``load_dataset``, with the record of its split, its classes' labels and the training rows'
    sample weights (module docstring)."""
    config = DataConfig(
        data=name,
        data_dir=data_dir,
        test_fraction=DataConfig.test_fraction if test_fraction is None else test_fraction,
        header=header,
        targets=targets,
        weights=weights,
    )
    return read_configured(config, regression, download, split_seed)


def read_configured(config: DataConfig, regression: bool = False, download: bool = True, split_seed=SPLIT_SEED):
    """``read_dataset`` of a ``DataConfig``: what a run of ``gpubp train`` and ``gpubp evaluate`` read."""
    rows = read_rows(config, download, regression)
    name = config.data
    where = name if name == "digits" or name in registry.datasets() else os.path.abspath(name)
    folder = None if config.data_dir is None else os.path.abspath(config.data_dir)
    weights = None
    if config.weights is not None:
        described = f"{len(rows.y)} {'training rows' if rows.test is not None else 'rows'}"
        weights = (os.path.abspath(config.weights), read_weights(config.weights, len(rows.y), described))
    train, test, train_weights, record = divide(
        rows, where, folder, config.header, config.test_fraction, split_seed, config.targets, weights
    )
    if regression:
        return Dataset(train, test, record, None, train_weights)
    classes, y, y_test = numbered(train[1], test[1])
    return Dataset((train[0], y), (test[0], y_test), record, classes, train_weights)


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
    "check_targets_vary",
    "load_dataset",
    "load_digits",
    "load_features",
    "load_mnist",
    "read_configured",
    "read_dataset",
    "split",
]
