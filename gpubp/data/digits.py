"""The bundled real dataset: scikit-learn's handwritten digits (1,797 8×8 images, 10 classes), no download.

``load_digits`` returns a fixed train/test split (the same for every run, whatever the training seed) with the
pixel values scaled from 0..16 to [0, 1], as float32 rows of 64 features and int64 labels.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, GpubpError
from .config import DataConfig

SPLIT_SEED = 0


def split(x, y, test_fraction: float, seed: int = SPLIT_SEED):
    """Shuffle ``(x, y)`` with ``seed`` and hold out the last ``test_fraction`` of it: ``(train, test)``."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(len(x) * test_fraction)
    if not 1 <= n_test < len(x):
        raise DataError(
            f"a test fraction of {test_fraction} leaves {n_test} of {len(x)} samples for testing: "
            f"there must be at least one sample on each side"
        )
    train, test = order[:-n_test], order[-n_test:]
    return (x[train], y[train]), (x[test], y[test])


def load_digits(test_fraction: float = DataConfig.test_fraction):
    """The digits as ``((X_train, y_train), (X_test, y_test))``: 1,438 training and 359 test images by default."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise GpubpError(
            "the bundled digits dataset comes with scikit-learn: pip install 'gpubp[cli]' (or pip install scikit-learn)"
        ) from None
    digits = sklearn_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return split(x, digits.target.astype(np.int64), test_fraction)
