"""What a run leaves behind for people: the metrics file, the learning-curve plot, and the confusion matrix.

``metrics.jsonl`` holds one JSON object per epoch (the fields of ``EpochStats``). A run writes it whole once (the
epochs it starts from, such as a checkpoint's) and then appends one line per epoch, so its cost per epoch stays
the same however long the run; it is forced to disk at every checkpoint and at the end. The plot needs
matplotlib (the ``plot`` extra); where it is missing or fails in any way, ``plot_learning_curve`` says why and the
run goes on.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import GpubpError
from ..model.storage import atomic_write

PLOT_HINT = "install matplotlib for the learning-curve plot: pip install 'gpubp[plot]'"


class MetricsLog:
    """``metrics.jsonl`` of one run: written whole from ``history`` at the first ``append``, then appended to."""

    def __init__(self, path, history):
        self.path, self.history, self.file = path, list(history), None

    def append(self, stats) -> None:
        self.history.append(stats)
        try:
            if self.file is None:  # replaces what was there: an earlier run's file, or epochs past a checkpoint
                lines = "".join(json.dumps(h.as_dict()) + "\n" for h in self.history)
                atomic_write(self.path, lambda f: f.write(lines.encode()))
                self.file = open(self.path, "a", encoding="utf-8")
            else:
                self.file.write(json.dumps(stats.as_dict()) + "\n")
                self.file.flush()
        except OSError as exc:
            raise GpubpError(f"cannot write {self.path}: {exc.strerror or exc}; free some space or choose "
                             f"another --out") from None

    def sync(self) -> None:
        if self.file is not None:
            os.fsync(self.file.fileno())

    def close(self) -> None:
        if self.file is not None:
            self.sync()
            self.file.close()
            self.file = None


def plot_learning_curve(path, history) -> str | None:
    """Draw training/test cost and test accuracy per epoch into a PNG; ``None``, or why there is no plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return PLOT_HINT
    except Exception as exc:  # a broken backend setting, font cache or installation: the run still counts
        return f"matplotlib failed ({type(exc).__name__}: {first_line(exc)})"
    fig = None
    try:
        fig, (cost_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
        epochs = [h.epoch for h in history]
        cost_axis.plot(epochs, [h.training_cost for h in history], label="training")
        if history[0].test_cost is not None:
            cost_axis.plot(epochs, [h.test_cost for h in history], label="test")
        cost_axis.set(xlabel="epoch", ylabel="cost C", title="Cost")
        cost_axis.legend()
        if history[0].test_accuracy is not None:
            accuracy_axis.plot(epochs, [h.test_accuracy for h in history], color="tab:green")
        accuracy_axis.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy")
        fig.tight_layout()
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    except GpubpError as exc:
        return str(exc)
    except Exception as exc:
        return f"matplotlib failed ({type(exc).__name__}: {first_line(exc)})"
    finally:
        if fig is not None:
            plt.close(fig)
    return None


def first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """``matrix[true, predicted]`` counts."""
    return np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, -1)


def format_confusion(matrix: np.ndarray) -> str:
    """The matrix as text: one row per true class, one column per predicted class."""
    width = max(len(str(matrix.max())), len(str(len(matrix) - 1))) + 1
    header = "true\\pred" + "".join(f"{c:>{width}}" for c in range(len(matrix)))
    rows = [f"{t:>9}" + "".join(f"{v:>{width}}" for v in row) for t, row in enumerate(matrix)]
    return "\n".join([header, *rows])
