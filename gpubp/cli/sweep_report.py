"""What ``gpubp sweep`` leaves in its folder and says: the metrics as the epochs end, the group checkpoints, the
ranking on validation, the test scores after it, ``summary.csv`` and its table, the models and the plot.

``SweepFiles`` writes ``metrics.jsonl`` as the members' epochs end (one process), or once rank 0 has gathered every
rank's members (``live`` False), in the order one process writes it either way (``metric_entries``: group by group,
epoch by epoch, member by member), so the two are the same file; ``report_sweep`` ranks and writes the rest.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import GpubpError
from ..model.inputs import prepare
from ..model.storage import atomic_write
from ..training.checkpoint import save_array_checkpoint
from ..training.report import MetricsLog, metrics_row, plot_validation_curves, score_name
from .process import signals_deferred
from .settings import flag_name
from .sweep_grid import configuration, plural, show
from .train import device_line, save_run_model


def checkpoint_path(folder, g: int) -> Path:
    return Path(folder) / "checkpoints" / f"group-{g:03d}.npz"


class SweepFiles:
    """What the sweep writes into its claimed folder as it goes: the metrics, the checkpoints, and the earlier run's
    removal (``--force``), which waits until this sweep has a checkpoint or its whole results to put there."""

    def __init__(self, folder, earlier, regression: bool, store: dict, every: int, live: bool = True):
        self.folder, self.earlier, self.store, self.every = folder, earlier, store, every
        self.metrics = MetricsLog(folder.path / "metrics.jsonl", [], regression, row=self.row)
        self.regression = regression
        self.live = live  # metrics written as the epochs end (one process), else once every rank's are gathered
        self.written = False  # the results (models, summary, plot) are complete
        self.grid = ""  # the grid's headline (``sweep_grid.grid_counts``)

    def checkpoint(self, trainer, g: int, done: bool) -> None:
        """Group ``g``'s array checkpoint (``done``: its training has ended), and the metrics forced to disk."""
        with signals_deferred():
            self.remove_earlier()
            path = checkpoint_path(self.folder.path, g)
            path.parent.mkdir(exist_ok=True)
            save_array_checkpoint(path, trainer, {**self.store, "group": g, "done": done})
            self.metrics.write()
            self.metrics.sync()

    def state(self) -> str:
        """Which of the sweep's files can be used after a stop, and how to continue."""
        if self.written:
            return f"the sweep's results are complete in {self.folder.path}"
        if self.earlier:
            return f"no file of this sweep was written; the earlier run's files in {self.folder.path} are untouched"
        checkpoints = sorted((self.folder.path / "checkpoints").glob("group-*.npz"))
        if checkpoints:
            return (
                f"{len(checkpoints)} group checkpoint{'s' if len(checkpoints) > 1 else ''} in "
                f"{self.folder.path / 'checkpoints'} are intact: gpubp sweep --resume {self.folder.path} continues"
            )
        hint = "" if self.every else " (--checkpoint-every N writes checkpoints to resume from)"
        return f"no model or checkpoint was written for this sweep{hint}"

    def row(self, entry) -> dict:
        member, stats = entry
        return {"member": member.index, "config": configuration(member), **stats_row(stats, self.regression)}

    def after_epoch(self, member, stats) -> None:
        if not self.live:
            return
        with signals_deferred():
            if self.earlier:  # held until the earlier run's files go
                self.metrics.history.append((member, stats))
            else:
                self.metrics.append((member, stats))

    def remove_earlier(self) -> None:
        """--force: the earlier run's files go, all at once, when this sweep writes its first checkpoint or its
        results (so a sweep that fails or is stopped before then leaves the earlier run whole)."""
        if self.earlier:
            self.folder.remove(self.earlier)
            self.earlier = []


def stats_row(stats, regression: bool) -> dict:
    """An epoch's figures without the test set's (a sweep trains without it)."""
    return {k: v for k, v in metrics_row(stats, regression).items() if not k.startswith("test_")}


def describe_sweep(arr, comm, members, groups, dataset, held_out, files) -> None:
    """The lines a sweep starts with: the device, the grid, the data and the folder."""
    first = members[0].settings
    score = score_name(arr.regression)[0]
    print(device_line(arr))
    if comm.size > 1:
        print(f"{comm.size} processes over {comm.kind}, each training its share of every group's members")
    print(
        f"grid: {plural(len(members), 'configuration')} ({files.grid}) in {plural(len(groups), 'network array')}; "
        f"chosen on validation {score} on {held_out} held-out rows, never on the test set"
    )
    weighted = "" if first.data.weights is None else f", weighted by {first.data.weights}"
    print(
        f"data: {first.data.data}, {len(dataset.train[1])} training and {len(dataset.test[1])} test samples{weighted}"
    )
    print(f"run folder: {files.folder.path}")


def report_sweep(args, members, groups, dataset, files) -> int:
    """Rank the members on validation, score the test set for the chosen one (or all), then write the folder's
    results as one step: a signal waits until they are complete, and the earlier run's files (``--force``) go only
    with them. A diverged member has no network: it is named with its cause, ranked last, and saves no model."""
    regression = members[0].settings.network.output_layer == "identity"
    score = score_name(regression)[0]
    axes, folder = list(members[0].values), files.folder.path
    chosen = sorted(members, key=lambda m: (m.score is None, -(m.score or 0.0), m.index))
    best = chosen[0]
    try:
        if not files.live:
            files.metrics.history = [entry for group in groups for entry in metric_entries(group)]
        if best.kept is None:
            where = f"the earlier run's files in {folder} are untouched"
            if not files.earlier:
                files.metrics.write()
                where = f"{files.metrics.path} has their epochs"
            raise GpubpError(
                f"every member diverged, so no model was written ({where}); member {best.index}'s cause: "
                f"{best.diverged}"
            )
        for member in chosen:
            if member.diverged is not None:
                print(f"member {member.index} ({described(member, axes)}): {member.diverged}; ranked last, no model")
        score_test(dataset.test, members if args.report_test == "all" else [best])
        curves = [[h.validation_score for h in m.history] for m in members]
        kept = best.kept.epoch if best.settings.training.patience is not None else None
        saved = [m for m in members if m.net is not None] if args.save_all else []
        with signals_deferred():
            files.remove_earlier()
            files.metrics.write()  # also where no epoch was appended: a resumed sweep whose every group had ended
            files.metrics.close()
            write_summary(folder / "summary.csv", chosen, axes, regression)
            save_run_model(folder / "model.npz", best.net, best.settings)
            for member in saved:
                path = folder / "members" / f"{member.index:03d}.npz"
                path.parent.mkdir(exist_ok=True)
                save_run_model(path, member.net, member.settings)
            no_plot = plot_validation_curves(folder / "validation_curves.png", curves, best.index, regression, kept)
            files.written = True
    finally:
        files.metrics.close()
    print(summary_text(chosen, axes, regression))
    test = "no test rows" if best.test is None else f"test {score} {best.test:.4f}"
    print(
        f"best: member {best.index} ({described(best, axes)}), validation {score} {best.score:.4f} at epoch "
        f"{best.kept.epoch}"
    )
    print(f"the best member's {test}" + ("" if args.report_test == "all" else " (--report-test all: every member's)"))
    plot = f"; no plot: {no_plot}" if no_plot else f", {folder / 'validation_curves.png'}"
    members_folder = f", {folder / 'members'}/ (every member's but a diverged one's)" if saved else ""
    print(f"wrote {folder / 'model.npz'}, {files.metrics.path}, {folder / 'summary.csv'}{members_folder}{plot}")
    return 0


def described(member, axes) -> str:
    """A member's configuration as the flags of the grid's axes."""
    return " ".join(f"{flag_name(n)} {show(member.values[n])}" for n in axes) or "the one configuration"


def metric_entries(group, histories=None) -> list:
    """The metrics lines of a group's members, ``(member, stats)`` in the order one process writes them: epoch by
    epoch, member by member (``histories``: theirs, default each member's own)."""
    histories = [m.history for m in group] if histories is None else histories
    longest = max((len(h) for h in histories), default=0)
    return [(m, h[e]) for e in range(longest) for m, h in zip(group, histories) if e < len(h)]


def score_test(test_data, members) -> None:
    """The test score of ``members`` (after selection: it never decides anything)."""
    if not len(test_data[1]):
        return
    for member in members:
        if member.kept is not None:
            scored = member.net.metrics(*prepare(member.net, test_data, "test data"))
            member.test = scored.r2 if member.net.regression else scored.correct / len(test_data[1])


SUMMARY = ("rank", "member", "group")


def summary_rows(chosen, axes, regression: bool) -> list[list[str]]:
    score, field = score_name(regression)
    header = [*SUMMARY, *(flag_name(n)[2:] for n in axes), "epoch", "validation_cost", f"validation_{field}"]
    header += [f"test_{field}", "status"]
    rows = [header]
    for r, m in enumerate(chosen, start=1):
        kept = m.kept
        rows.append(
            [
                str(r),
                str(m.index),
                str(m.group),
                *(show(m.values[n]) for n in axes),
                "" if kept is None else str(kept.epoch),
                "" if kept is None else f"{kept.validation_cost:.6g}",
                "" if kept is None else f"{kept.validation_score:.6g}",
                "" if m.test is None else f"{m.test:.6g}",
                m.status,
            ]
        )
    return rows


def write_summary(path, chosen, axes, regression: bool) -> None:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(summary_rows(chosen, axes, regression))
    atomic_write(path, lambda f: f.write(text.getvalue().encode()))


def summary_text(chosen, axes, regression: bool) -> str:
    rows = summary_rows(chosen, axes, regression)
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)
