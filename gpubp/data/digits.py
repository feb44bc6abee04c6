"""The bundled real dataset: scikit-learn's handwritten digits (1,797 8×8 images, 10 classes), no download.

``digit_rows`` reads them with the pixel values scaled from 0..16 to [0, 1], as float32 rows of 64 features and
int64 labels; ``load_digits`` returns the fixed train/test split of ``split.py`` (the same for every run, whatever
the training seed).
"""

from __future__ import annotations

import numpy as np

from ..errors import GpubpError
from .config import DataConfig
from .split import Rows, split


def digit_rows() -> Rows:
    """All 1,797 digits, in scikit-learn's order."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise GpubpError(
            "the bundled digits dataset comes with scikit-learn: pip install 'gpubp[cli]' (or pip install scikit-learn)"
        ) from None
    digits = sklearn_digits()
    return Rows((digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64))


def load_digits(test_fraction: float = DataConfig.test_fraction):
    """The digits as ``((X_train, y_train), (X_test, y_test))``: 1,438 training and 359 test images by default."""
    rows = digit_rows()
    return split(rows.x, rows.y, DataConfig.check_one("test_fraction", test_fraction))
