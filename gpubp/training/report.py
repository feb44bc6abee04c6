"""What a run leaves behind for people: the metrics file, the learning-curve plot, and the confusion matrix.

``metrics.jsonl`` holds one JSON object per epoch (the fields of ``EpochStats``) and is rewritten atomically
after every epoch, so it always matches the model and checkpoint beside it. The plot needs matplotlib (the
``plot`` extra); without it ``plot_learning_curve`` says so and the run goes on.
"""

from __future__ import annotations

import json

import numpy as np

from ..model.storage import atomic_write

PLOT_HINT = "install matplotlib for the learning-curve plot: pip install 'gpubp[plot]'"


def write_metrics(path, history) -> None:
    lines = "".join(json.dumps(h.as_dict()) + "\n" for h in history)
    atomic_write(path, lambda f: f.write(lines.encode()))


def plot_learning_curve(path, history) -> bool:
    """Draw training/test cost and test accuracy per epoch into a PNG; False where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [h.epoch for h in history]
    fig, (cost_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
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
    plt.close(fig)
    return True


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """``matrix[true, predicted]`` counts."""
    return np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, -1)


def format_confusion(matrix: np.ndarray) -> str:
    """The matrix as text: one row per true class, one column per predicted class."""
    width = max(len(str(matrix.max())), len(str(len(matrix) - 1))) + 1
    header = "true\\pred" + "".join(f"{c:>{width}}" for c in range(len(matrix)))
    rows = [f"{t:>9}" + "".join(f"{v:>{width}}" for v in row) for t, row in enumerate(matrix)]
    return "\n".join([header, *rows])
