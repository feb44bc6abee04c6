"""What a run leaves behind for people: the metrics file, the learning-curve plot, the confusion matrix, and a
regression's errors.

Each figure is the one that fits the task (``score_name``): a classifier's accuracy, a regression's R² (1 −
Σ (y − a)² / Σ (y − ȳ)²). ``metrics.jsonl`` holds one JSON object per epoch (the fields of ``EpochStats``: costs,
the scores of the task, validation figures where there is a hold-out, and the step size η; a classifier's lines
have no R² fields and a regression's no accuracy fields). A run writes it whole once (the epochs it starts from,
such as a checkpoint's) and then appends one line per epoch, so its cost per epoch stays the same however long
the run; it is forced to disk at every checkpoint and at the end. The plot needs matplotlib (the ``plot``
extra); where it is missing or fails in any way, ``plot_learning_curve`` says why and the run goes on.
``describe_network`` is a network in one line, for the commands that show one (``per_layer``: a setting of every
layer, or of each).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import GpubpError
from ..model.storage import atomic_write

PLOT_HINT = "install matplotlib for the learning-curve plot: pip install 'gpubp[plot]'"
SCORES = {False: ("accuracy", "accuracy"), True: ("R²", "r2")}  # the task's score: its name, its EpochStats fields


def score_name(regression: bool) -> tuple[str, str]:
    """The score that fits the task, ``(name, field)``: ``EpochStats`` has it as ``test_<field>`` and
    ``validation_<field>``."""
    return SCORES[regression]


def metrics_row(stats, regression: bool) -> dict:
    """One epoch as ``metrics.jsonl`` holds it: ``stats.as_dict()`` without the other task's scores."""
    other = score_name(not regression)[1]
    return {k: v for k, v in stats.as_dict().items() if k not in (f"test_{other}", f"validation_{other}")}


def per_layer(values) -> str:
    """Layers' settings in words: the one value every layer has (``relu``), or each layer's (``relu,tanh``)."""
    values = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return values[0] if len(set(values)) == 1 else ",".join(values)


def describe_network(net) -> str:
    """``sizes [64, 30, 10], sigmoid units, sigmoid output, quadratic cost, float32, normal init``: the units, the
    output layer and the initialization of each layer (``per_layer``)."""
    units = f"{per_layer(net.activations)} units, " if net.activations else ""
    return (
        f"sizes {list(net.sizes)}, {units}{net.output} output, {net.cost.name} cost, {net.dtype.name}, "
        f"{per_layer(net.inits)} init"
    )


class MetricsLog:
    """``metrics.jsonl`` of one run: written whole from ``history`` at the first ``append``, then appended to;
    ``row``: an entry as a line's object (default: ``metrics_row``; a sweep's adds the member)."""

    def __init__(self, path, history, regression: bool = False, row=None):
        self.path, self.history, self.file, self.regression = path, list(history), None, regression
        self.row = row or (lambda stats: metrics_row(stats, regression))

    def append(self, stats) -> None:
        self.history.append(stats)
        try:
            if self.file is None:
                self.write()
            else:
                self.file.write(json.dumps(self.row(stats)) + "\n")
                self.file.flush()
        except OSError as exc:
            raise GpubpError(
                f"cannot write {self.path}: {exc.strerror or exc}; free some space or choose another --out"
            ) from None

    def write(self) -> None:
        """Write the whole file, replacing what was there (an earlier run's file, or epochs past a checkpoint), and
        append from now on; a no-op once written."""
        if self.file is not None:
            return
        lines = "".join(json.dumps(self.row(h)) + "\n" for h in self.history)
        try:
            atomic_write(self.path, lambda f: f.write(lines.encode()))
            self.file = open(self.path, "a", encoding="utf-8")
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


def draw(path, figure) -> str | None:
    """``figure(plt)`` (a matplotlib figure) written as a PNG to ``path``; ``None``, or why there is no plot."""
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
        fig = figure(plt)
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


def plot_learning_curve(path, history, best_epoch=None, regression: bool = False) -> str | None:
    """Draw the costs, the scores that fit the task (accuracy, or R² for a ``regression``) and η per epoch into a
    PNG, with the epoch whose weights were kept marked; ``None``, or why there is no plot."""

    def figure(plt):
        epochs = [h.epoch for h in history]
        score, field = score_name(regression)
        fig, (cost_axis, score_axis, eta_axis) = plt.subplots(1, 3, figsize=(14, 4))
        colors = {"training": "tab:blue", "test": "tab:orange", "validation": "tab:green"}
        for axis, name, label in [
            (cost_axis, "training_cost", "training"),
            (cost_axis, "test_cost", "test"),
            (cost_axis, "validation_cost", "validation"),
            (score_axis, f"test_{field}", "test"),
            (score_axis, f"validation_{field}", "validation"),
        ]:
            if getattr(history[0], name) is not None:
                axis.plot(epochs, [getattr(h, name) for h in history], label=label, color=colors[label])
        eta_axis.plot(epochs, [h.eta for h in history], color="tab:gray")
        for axis in (cost_axis, score_axis):
            mark_kept(axis, best_epoch)
        cost_axis.set(xlabel="epoch", ylabel="cost C", title="Cost")
        score_axis.set(xlabel="epoch", ylabel=score, title=score[0].upper() + score[1:])
        eta_axis.set(xlabel="epoch", ylabel="η at the epoch's last step", title="Learning rate")
        for axis in (cost_axis, score_axis):
            if axis.get_legend_handles_labels()[0]:
                axis.legend()
        return fig

    return draw(path, figure)


def mark_kept(axis, epoch) -> None:
    """Mark the epoch whose weights were kept (early stopping's best; ``None``: the last, unmarked)."""
    if epoch is not None:
        axis.axvline(epoch, color="tab:red", linestyle=":", label=f"kept (epoch {epoch})")


def plot_validation_curves(path, curves, best: int, regression: bool = False, kept=None) -> str | None:
    """Draw every member's validation score per epoch (``curves[k]``: member k's), member ``best`` highlighted and
    the epoch it was kept at (``kept``, under early stopping) marked, into a PNG; ``None``, or why there is no
    plot."""

    def figure(plt):
        score = score_name(regression)[0]
        fig, axis = plt.subplots(figsize=(8, 5))
        for k, curve in enumerate(curves):
            if k != best and curve:
                axis.plot(range(1, len(curve) + 1), curve, color="tab:gray", alpha=0.4, linewidth=1)
        axis.plot(
            range(1, len(curves[best]) + 1), curves[best], color="tab:red", linewidth=2.5, label=f"best: member {best}"
        )
        mark_kept(axis, kept)
        axis.set(xlabel="epoch", ylabel=f"validation {score}", title=f"{len(curves)} members' validation {score}")
        axis.legend()
        return fig

    return draw(path, figure)


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


def regression_errors(targets, outputs) -> tuple[np.ndarray, np.ndarray]:
    """Each output's RMSE and R² over the rows of ``targets`` and ``outputs`` (host arrays, (n,) or (n, k)), in
    float64; an output whose targets are all the same has R² NaN (undefined: its Σ (y − ȳ)² is 0)."""
    y = np.asarray(targets, np.float64).reshape(len(targets), -1)
    a = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    residual = ((y - a) ** 2).sum(axis=0)
    spread = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1 - residual / spread, np.nan)
    return np.sqrt(residual / len(y)), r2


def format_regression(targets, outputs) -> str:
    """A regression's errors as text: the RMSE over every output, then one line per output with its RMSE and R²."""
    rmse, r2 = regression_errors(targets, outputs)
    y = np.asarray(targets, np.float64).reshape(len(targets), -1)
    overall = np.sqrt(np.mean((y - np.asarray(outputs, np.float64).reshape(y.shape)) ** 2))
    lines = [f"RMSE: {overall:.6g} (over {'all ' + str(len(rmse)) + ' outputs' if len(rmse) > 1 else 'the output'})"]
    lines.append(f"{'output':>6}  {'RMSE':>12}  {'R²':>9}")
    for k, (e, r) in enumerate(zip(rmse, r2), start=1):
        lines.append(f"{k:>6}  {e:12.6g}  {'undefined' if np.isnan(r) else f'{r:9.4f}':>9}")
    return "\n".join(lines)
