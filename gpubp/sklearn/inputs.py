"""How gpubp's estimators read their inputs: host data through scikit-learn's ``validate_data`` (lists, NumPy
arrays, DataFrames with their feature names; sparse matrices refused with the fix), GPU arrays (anything with
``__cuda_array_interface__``, CuPy's) used where they are, a classifier's labels turned into class indices (or kept
as a multilabel indicator matrix), a regressor's targets as real numbers.

A GPU array is never copied through the host on its way to a GPU network: its shape is checked here and its
values by ``Network.prepare`` on the device, in one sync. Only a CPU network makes it come to the host, once.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse
from sklearn.base import is_regressor
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_array, column_or_1d, validate_data

from ..backend import get_backend
from ..model import inputs as model_inputs
from ..model.config import NetworkConfig


def check_data(estimator, X, y="no_validation", reset=False):
    """``X`` (and ``y``) checked by scikit-learn's ``validate_data`` for ``estimator``, or kept on the GPU if it is
    there; ``reset`` records ``n_features_in_`` (and ``feature_names_in_``) instead of checking them.

    A classifier's ``y`` is one label per row (a column vector is raveled, with scikit-learn's warning) or a 0/1
    indicator matrix, one column per label (multilabel; a sparse one is made dense); a regressor's is real numbers,
    (n,) or (n, k)."""
    regression = is_regressor(estimator)
    dtype = np.dtype(NetworkConfig.check_one("dtype", estimator.dtype))
    if on_gpu(y) and not regression and y.ndim == 2:
        y = as_cupy(y).get()  # an indicator matrix is checked on the host, n × k small numbers: one copy
    if not (on_gpu(X) or on_gpu(y)):
        if isinstance(y, str):
            return validate_data(estimator, X, reset=reset, dtype=dtype)
        X, y = validate_data(estimator, X, y, reset=reset, dtype=dtype, multi_output=True, y_numeric=regression)
        y = y.toarray() if issparse(y) else y  # n × k targets: the network trains on dense ones anyway
        return X, y if regression else classification_targets(y)
    # A device array is used where it is (on the network's GPU: never copied across); Network.prepare checks its
    # values there, in one sync.
    backend = get_backend(estimator.device)
    for array, name in ((X, "X"), (y, "y")):
        model_inputs.check_same_gpu(backend, array, name)
    X, y = (as_cupy(array) if on_gpu(array) else array for array in (X, y))
    if not on_gpu(X):
        X = validate_data(estimator, X, reset=reset, dtype=dtype)
    elif getattr(X, "ndim", None) != 2:
        raise ValueError(f"X must be a 2-D array (one sample per row), got shape {X.shape}")
    elif reset:
        estimator.n_features_in_ = X.shape[1]
        estimator.__dict__.pop("feature_names_in_", None)
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input"
        )
    if isinstance(y, str):
        return X
    if not on_gpu(y):
        y = check_array(y, ensure_2d=False, dtype="numeric" if regression else None, input_name="y")
        y = y if regression else classification_targets(y)
    if y.shape[:1] != (X.shape[0],) or y.ndim > 2:
        what = "one value or one row of targets" if regression else "one label"
        raise ValueError(f"y must hold {what} per row of X ({X.shape[0]} rows), got shape {y.shape}")
    return X, y


def classification_targets(y):
    """A classifier's host ``y``: labels (n,), a column of them raveled with scikit-learn's
    ``DataConversionWarning``, or a dense 0/1 indicator matrix (n, k), k >= 2, for multilabel targets."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    if y.ndim == 2 and not np.isin(y, (0, 1)).all():  # several classes per column: multiclass-multioutput
        raise ValueError(
            f"y of shape {y.shape} holds {np.unique(y)[:5].tolist()}{'…' if len(np.unique(y)) > 5 else ''}, but a "
            f"multilabel indicator matrix holds 0 and 1 only, one column per label: pass that, or one class label "
            f"per row"
        )
    return y


def on_gpu(array) -> bool:
    """Whether ``array`` is in GPU memory; a PyTorch CUDA tensor that requires grad is refused, saying to detach it."""
    return model_inputs.on_gpu(array, "X or y")


def as_cupy(array):
    """A CuPy array of the same GPU memory, not a copy: CuPy's own as it is, another library's (a PyTorch CUDA
    tensor, a Numba array) through its ``__cuda_array_interface__``."""
    import cupy

    return cupy.asarray(array)


def on_device(net, array):
    """``array`` for ``net``: a GPU array stays put on the GPU; it comes to the host only for a CPU network."""
    return array.get() if on_gpu(array) and net.backend.name == "cpu" else array


def labels_of(y) -> np.ndarray:
    """The sorted distinct labels of ``y`` as a host array (one small copy for a GPU array)."""
    if on_gpu(y):
        import cupy

        return cupy.unique(y).get()
    return unique_labels(y)


def encode(y, classes: np.ndarray):
    """Each label's index in ``classes`` (on y's device); a label not in ``classes`` is a ``ValueError``."""
    if on_gpu(y):
        import cupy as xp
    else:
        xp = np
    try:
        known = xp.asarray(classes)  # string classes_ cannot go to a GPU: no GPU label can be one of them
        codes = xp.searchsorted(known, y)
        found = bool((known[xp.minimum(codes, len(classes) - 1)] == y).all())
    except (TypeError, ValueError):  # labels that cannot be compared with classes_ at all (numbers and strings)
        found = False
    if not found:
        unknown = [label for label in labels_of(y).tolist() if label not in classes.tolist()]
        raise ValueError(
            f"y has labels {unknown} that are not in classes_ {classes.tolist()}: pass every "
            f"label in classes= on the first partial_fit, or fit afresh"
        )
    return codes
