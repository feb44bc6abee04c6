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
from .digits import load_digits, split
from .download import DEFAULT_MNIST_DIR, locate
from .idx import load_mnist
from .tables import load_csv, load_npz, read_arrays, read_csv_matrix


def load_dataset(name: str = "digits", data_dir=None, test_fraction: float = 0.2, download: bool = True):
    """The training and test data for ``name`` (see the module docstring); ``download=False`` refuses to fetch
    a missing IDX dataset."""
    if name == "digits":
        return load_digits(test_fraction)
    known = registry.datasets()
    if name in known:
        return load_mnist(locate(known[name], data_dir, download))
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return split(*load_csv(name), test_fraction)
    if suffix == ".npz":
        data, test = load_npz(name)
        return (data, test) if test is not None else split(*data, test_fraction)
    raise DataError(f"unknown dataset {name!r}: use digits, {', '.join(known)}, or the path of a .csv or .npz "
                    f"file")


def load_features(path) -> "numpy.ndarray":
    """Input rows only (no labels), for prediction: a CSV of feature columns or an NPZ with ``X``."""
    if Path(path).suffix.lower() == ".npz":
        return read_arrays(path, ["X"])["X"]
    return read_csv_matrix(path)


__all__ = ["DEFAULT_MNIST_DIR", "load_dataset", "load_digits", "load_features", "load_mnist", "split"]
