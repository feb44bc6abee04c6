"""What a run leaves behind for people: the metrics file, the learning-curve plot, and the confusion matrix.

``metrics.jsonl`` holds one JSON object per epoch (the fields of ``EpochStats``: costs, accuracies, validation
figures where there is a hold-out, and the step size η). A run writes it whole once (the epochs it starts from,
such as a checkpoint's) and then appends one line per epoch, so its cost per epoch stays the same however long
the run; it is forced to disk at every checkpoint and at the end. The plot needs matplotlib (the ``plot``
extra); where it is missing or fails in any way, ``plot_learning_curve`` says why and the run goes on.
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
            raise GpubpError(
                f"cannot write {self.path}: {exc.strerror or exc}; free some space or choose another --out"
            ) from None

    def sync(self) -> None:
        if self.file is not None:
            os.fsync(self.file.fileno())

    def close(self) -> None:
        if self.file is not None:
            self.sync()
            self.file.close()
            self.file = None


def plot_learning_curve(path, history, best_epoch=None) -> str | None:
    """Draw the costs, the accuracies and η per epoch into a PNG, with the epoch whose weights were kept marked;
    ``None``, or why there is no plot."""
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
        epochs = [h.epoch for h in history]
        fig, (cost_axis, accuracy_axis, eta_axis) = plt.subplots(1, 3, figsize=(14, 4))
        colors = {"training": "tab:blue", "test": "tab:orange", "validation": "tab:green"}
        for axis, field, label in [
            (cost_axis, "training_cost", "training"),
            (cost_axis, "test_cost", "test"),
            (cost_axis, "validation_cost", "validation"),
            (accuracy_axis, "test_accuracy", "test"),
            (accuracy_axis, "validation_accuracy", "validation"),
        ]:
            if getattr(history[0], field) is not None:
                axis.plot(epochs, [getattr(h, field) for h in history], label=label, color=colors[label])
        eta_axis.plot(epochs, [h.eta for h in history], color="tab:gray")
        if best_epoch is not None:
            for axis in (cost_axis, accuracy_axis):
                axis.axvline(best_epoch, color="tab:red", linestyle=":", label=f"kept (epoch {best_epoch})")
        cost_axis.set(xlabel="epoch", ylabel="cost C", title="Cost")
        accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
        eta_axis.set(xlabel="epoch", ylabel="η at the epoch's last step", title="Learning rate")
        for axis in (cost_axis, accuracy_axis):
            if axis.get_legend_handles_labels()[0]:
                axis.legend()
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


def format_confusion(matrix: np.ndarray, labels=None) -> str:
    """The matrix as text: one row per true class, one column per predicted class, each named by its label
    (``labels``; default: the class numbers)."""
    names = [str(label) for label in (range(len(matrix)) if labels is None else np.asarray(labels).tolist())]
    width = max(len(str(matrix.max())), *map(len, names)) + 1
    header = "true\\pred" + "".join(f"{name:>{width}}" for name in names)
    rows = [f"{name:>9}" + "".join(f"{v:>{width}}" for v in row) for name, row in zip(names, matrix)]
    return "\n".join([header, *rows])
