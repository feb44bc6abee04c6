"""Datasets that gpubp can train on, each loaded as ``((X_train, y_train), (X_test, y_test))``.

``load_dataset`` takes ``"digits"`` (bundled with scikit-learn, the default), a dataset of four IDX files —
``"mnist"``, ``"fashion-mnist"``, ``"kmnist"`` (``registry.py``), read from ``data_dir`` or downloaded into a
cache on first use (``download.py``) — or the path of a ``.csv`` or ``.npz`` file. A format with its own test
set (the IDX sets; an NPZ with ``X_test``/``y_test``) keeps it; the others are split with a fixed seed,
``test_fraction`` held out.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from . import registry
from .config import HEADER_CHOICES, DataConfig
from .digits import load_digits, split
from .download import DEFAULT_MNIST_DIR, locate
from .idx import load_mnist
from .labels import check_classes
from .tables import features_from, load_csv, load_npz, read_arrays, read_csv


def load_dataset(name: str = "digits", data_dir=None, test_fraction=None, header: str = "auto", download: bool = True):
    """The training and test data for ``name`` (see the module docstring); ``header`` applies to a CSV file,
    ``download=False`` refuses to fetch a missing IDX dataset."""
    config = DataConfig(
        data=name,
        data_dir=data_dir,
        test_fraction=DataConfig.test_fraction if test_fraction is None else test_fraction,
        header=header,
    )
    test_fraction = config.test_fraction
    if name == "digits":
        return load_digits(test_fraction)
    known = registry.datasets()
    if name in known:
        return load_mnist(locate(known[name], data_dir, download))
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return split(*load_csv(name, header), test_fraction)
    if suffix == ".npz":
        data, test = load_npz(name)
        return (data, test) if test is not None else split(*data, test_fraction)
    raise DataError(f"unknown dataset {name!r}: use digits, {', '.join(known)}, or the path of a .csv or .npz file")


def load_features(path, header: str = "auto"):
    """Input rows only (no labels), for prediction, and where they came from, in words: ``(X, description)``.

    A CSV file of feature columns, or an NPZ file's ``X``.
    """
    if Path(path).suffix.lower() == ".npz":
        x = features_from(read_arrays(path, ["X"])["X"], f"{path}, X")
        return x, f"{len(x)} rows of X from {path}"
    table = read_csv(path, header)
    skipped = ", after its header row" if table.header is not None else ""
    return features_from(table.values, str(path), table.lines), f"{len(table.values)} rows from {path}{skipped}"


__all__ = [
    "DEFAULT_MNIST_DIR",
    "DataConfig",
    "HEADER_CHOICES",
    "check_classes",
    "load_dataset",
    "load_digits",
    "load_features",
    "load_mnist",
    "split",
]
