"""Datasets that gpubp can train on, each loaded as ``((X_train, y_train), (X_test, y_test))``.

``load_dataset`` takes ``"digits"`` (bundled with scikit-learn, the default), ``"mnist"`` (the four IDX files
in a folder) or the path of a ``.csv`` or ``.npz`` file. A format with its own test set (MNIST; an NPZ with
``X_test``/``y_test``) keeps it; the others are split with a fixed seed, ``test_fraction`` held out.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .digits import load_digits, split
from .idx import load_mnist
from .tables import load_csv, load_npz, read_arrays, read_csv_matrix

DEFAULT_MNIST_DIR = Path("data") / "mnist"


def load_dataset(name: str = "digits", data_dir=None, test_fraction: float = 0.2):
    """The training and test data for ``name`` (see the module docstring)."""
    if name == "digits":
        return load_digits(test_fraction)
    if name == "mnist":
        return load_mnist(data_dir or DEFAULT_MNIST_DIR)
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return split(*load_csv(name), test_fraction)
    if suffix == ".npz":
        data, test = load_npz(name)
        return (data, test) if test is not None else split(*data, test_fraction)
    raise DataError(f"unknown dataset {name!r}: use digits, mnist (with --data-dir), or the path of a .csv or "
                    f".npz file")


def load_features(path) -> "numpy.ndarray":
    """Input rows only (no labels), for prediction: a CSV of feature columns or an NPZ with ``X``."""
    if Path(path).suffix.lower() == ".npz":
        return read_arrays(path, ["X"])["X"]
    return read_csv_matrix(path)


__all__ = ["DEFAULT_MNIST_DIR", "load_dataset", "load_digits", "load_features", "load_mnist", "split"]
