"""Datasets that gpubp can train on, each returned as ``((X_train, y_train), (X_test, y_test))``."""

from .digits import load_digits, split

__all__ = ["load_digits", "split"]
