"""``gpubp sweep``: a grid of ``gpubp train`` configurations, trained as network arrays, chosen on validation.

Every ``gpubp train`` flag is a ``gpubp sweep`` flag. A flag given a list of values makes its knob an axis of the
grid, and the grid is every combination (``itertools.product``, in the order the flags are declared). Values are
separated by commas, except on the flags whose one value is itself a comma list (``--sizes``, ``--betas``,
``--dropout``, ``--activation``), whose values are separated by ``/`` (``--sizes 30/100,30``). Each value is parsed
as ``gpubp train`` parses it (``settings.PARSERS``) and checked by its knob's declaration, and each combination
by the configurations themselves (``RunSettings.build``), so a sweep accepts exactly the values ``gpubp train``
does. A knob that a combination's choice does not read (``--momentum`` beside ``--optimizer sgd``) is dropped from
that combination when the choice is itself an axis (duplicates then count once), and refused otherwise.

Members whose knobs change shapes or units (``GROUPED``: the sizes, the network's knobs but the seed, and the
training knobs one array must share, ``training/array.py: SHARED``) are trained in separate arrays, one per group,
one group after another; within a group every member has its own seed and its own other training knobs.
``NOT_LISTED`` knobs take one value: the data (one dataset, read once), the validation fraction (every member is
judged on the same held-out rows) and the checkpoint interval.

Selection never looks at the test set: training runs without it, every member is scored on the validation
hold-out (``--validation-fraction``, 0.1 unless given), at its best epoch with ``--patience``, else its last,
and the test score is computed afterwards for the chosen member (``--report-test all``: for every member). The run
folder (claimed as ``gpubp train`` claims its own, ``run_folder.py``) gets ``metrics.jsonl`` (one line per member
per epoch, with the member's index and configuration), ``summary.csv`` (one row per member, best first; also
printed), the best member's ``model.npz`` (an ordinary model with the data record ``gpubp train`` writes), with
``--save-all`` every member's as ``members/NNN.npz``, and ``validation_curves.png``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..data.config import FILE_SUFFIXES, DataConfig
from ..errors import GpubpError, InputError, ModelFileError, TrainingDiverged
from ..model.config import NetworkConfig
from ..model.inputs import prepare
from ..model.storage import atomic_write
from ..network import NetworkArray
from ..training.array import SHARED, ArrayTrainer
from ..training.checkpoint import load_array_checkpoint, save_array_checkpoint
from ..training.config import VALIDATION_SEED
from ..training.report import MetricsLog, metrics_row, plot_validation_curves, score_name
from .process import signals_deferred
from .run_folder import claim
from .settings import (
    CONFIGS,
    KNOBS,
    PARSERS,
    SPLIT_ENTRY,
    RunSettings,
    cli_default,
    flag_name,
    in_flags,
    recorded_split,
)
from .train import (
    Progress,
    check_unchanged,
    check_weighted_rows,
    claim_run_folder,
    device_line,
    read_data,
    resolve_sizes,
    save_run_model,
)

SWEEP_FILES = (
    "model.npz",
    "metrics.jsonl",
    "summary.csv",
    "validation_curves.png",
    "members/*.npz",
    "checkpoints/group-*.npz",
)
SEQUENCES = ("sizes", "betas", "dropout", "activation")  # one value is a comma list: values are separated by "/"
PATHS = ("data", "data_dir", "weights")  # taken whole, as gpubp train takes them: a path may hold a comma
NOT_LISTED = (*DataConfig.knobs(), "validation_fraction", "checkpoint_every")
GROUPED = ("sizes", *(n for n in NetworkConfig.knobs() if n != "seed"), *SHARED)
DEFAULT_VALIDATION = 0.1


def add_parser(commands, run_flags, folder_flags) -> None:
    s = commands.add_parser(
        "sweep",
        help="train a grid of configurations as network arrays and keep the best on validation",
        description="Train every combination of the values given to gpubp train's flags (--lr 0.1,0.5 --seed 0,1; "
        "--sizes, --betas, --dropout and --activation separate values with /) as network arrays, score each "
        "member on the validation hold-out, and write the best member's model, every member's metrics and a "
        "summary into a run folder. Lists are taken by every training flag and --seed, and by --sizes and the "
        "network's flags (one array per group); one value only for the data flags, --validation-fraction and "
        "--checkpoint-every.",
    )
    run_flags(s, as_text=True)
    for action in s._actions:  # the sweep's own default: it selects on validation
        if action.dest == "validation_fraction":
            action.help = (
                f"hold out this share of the training data, the same rows for every member, to choose the best "
                f"member on (default: {DEFAULT_VALIDATION:g}; must be > 0)"
            )
    folder_flags(s, "model.npz, metrics.jsonl, summary.csv, validation_curves.png and members/")
    s.add_argument(
        "--report-test",
        choices=("best", "all"),
        default="best",
        help="whose test score to report: the chosen member's only, or every member's (default: best)",
    )
    s.add_argument("--save-all", action="store_true", help="also save every member's model as members/NNN.npz")
    s.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="continue the sweep in FOLDER from its checkpoints (a sweep started with --checkpoint-every N), with "
        "its grid and settings, to the very weights of an uninterrupted sweep",
    )
    s.set_defaults(run=sweep_command)


# ----- the grid ----------------------------------------------------------------------------------------------------


@dataclass
class Member:
    """One configuration of the grid: its index, the listed flags' values, and its settings."""

    index: int
    values: dict  # the grid's axes: knob -> this member's value
    settings: RunSettings
    group: int = 0
    history: list | None = None
    status: str = "finished"
    kept: object = None  # the EpochStats whose weights it ended with
    test: float | None = None

    @property
    def score(self) -> float | None:
        return None if self.kept is None else self.kept.validation_score


def parse_values(name: str, text: str) -> list:
    """The values a flag's text lists, each parsed as ``gpubp train`` parses it and checked by its knob."""
    if name in PATHS:
        parts = [text]
    else:
        parts = [part.strip() for part in text.split("/" if name in SEQUENCES else ",")]
    flag = flag_name(name)
    if len(parts) > 1 and name in NOT_LISTED:
        why = {
            "validation_fraction": "every member is chosen on the same held-out rows",
            "checkpoint_every": "one checkpoint holds the whole sweep",
        }.get(name, "a sweep reads one dataset and writes one run folder")
        raise InputError(f"{flag} takes one value in a sweep ({why}), got {text!r}: give one value")
    values = []
    for part in parts:
        try:
            value = sizes_value(part) if name == "sizes" else PARSERS[field_type(name)](part)
            if name != "sizes":
                value = CONFIGS[KNOBS[name][0]].check_one(name, value)
        except GpubpError as exc:  # the knob's own check (a SettingError is a ValueError too)
            raise in_flags(exc.followed_by(f"(in {flag} {text})")) from None
        except (argparse.ArgumentTypeError, ValueError) as exc:
            kind = KINDS.get(field_type(name), exc) if name != "sizes" else exc
            raise InputError(f"{flag} {part!r}: {kind}; give a list such as {example(name)}") from None
        if value in values:
            raise InputError(f"{flag} lists {part} twice: give each value once")
        values.append(value)
    return values


KINDS = {"int": "not a whole number", "int | None": "not a whole number", "float": "not a number"}


def example(name: str) -> str:
    return {"sizes": "30/100,30", "betas": "0.9,0.999/0.8,0.99", "dropout": "0/0.2", "activation": "relu/tanh"}.get(
        name, "1,2"
    )


def sizes_value(text: str) -> list[int]:
    from . import sizes_argument

    return sizes_argument(text)


def field_type(name: str) -> str:
    return next(f.type for f in dataclasses.fields(CONFIGS[KNOBS[name][0]]) if f.name == name)


def flag_texts(args) -> dict:
    """Each knob flag given, as its text (in the order the parser declares the flags)."""
    return {name: getattr(args, name) for name in ["sizes", *KNOBS] if getattr(args, name, None) is not None}


def given_lists(texts: dict) -> dict:
    """Each flag given, as the list of its values."""
    return {name: parse_values(name, text) for name, text in texts.items()}


def stored_texts(texts: dict) -> dict:
    """The flags' texts as a checkpoint stores them: data paths absolute, so a sweep resumes from any folder."""
    stored = dict(texts)
    for name in PATHS:
        if name in stored and (name != "data" or Path(stored[name]).suffix.lower() in FILE_SUFFIXES):
            stored[name] = os.path.abspath(stored[name])
    return stored


def same_text(name: str, given: str, saved: str) -> bool:
    if name in PATHS:
        return os.path.abspath(given) == os.path.abspath(saved) or given == saved
    return given == saved


def build_grid(given: dict) -> list[Member]:
    """Every combination of the given values as a ``Member``; a combination no ``gpubp train`` would accept is
    refused, naming it."""
    axes = [name for name, values in given.items() if len(values) > 1]
    members, seen = [], set()
    for combination in itertools.product(*given.values()):
        values = dict(zip(given, combination))
        for config in CONFIGS.values():
            full = {n: values.get(n, cli_default(n)) for n in config.knobs()}
            for name in config.ignored([n for n in values if n in config.knobs()], full):
                if config.applies()[name][0] in axes:
                    del values[name]  # a value for a choice of this axis that this combination did not make
                else:
                    raise in_flags(config.not_read(name, full))
        frozen = tuple(sorted((n, repr(v)) for n, v in values.items()))
        if frozen in seen:
            continue
        seen.add(frozen)
        values.setdefault("validation_fraction", DEFAULT_VALIDATION)
        try:
            settings = RunSettings.build({n: v for n, v in values.items() if n != "sizes"}, values.get("sizes", [30]))
        except GpubpError as exc:
            described = " ".join(f"{flag_name(n)} {show(values.get(n))}" for n in axes)
            raise InputError(f"the grid's configuration {described}: {in_flags(exc)}") from None
        if not settings.training.validation_fraction:
            raise InputError(
                "--validation-fraction 0 leaves nothing to choose the best member on (a sweep never chooses on the "
                "test set): give a fraction > 0, such as 0.1"
            )
        members.append(Member(len(members), {n: values.get(n) for n in axes}, settings))
    if len({m.settings.network.output_layer == "identity" for m in members}) > 1:
        raise InputError(
            "--output lists identity (a regression, whose data are real targets) beside a classifier's output: "
            "a sweep reads its data once; sweep them separately"
        )
    return members


def configuration(member: Member) -> dict:
    """The member's values of the grid's axes, keyed by flag (``lr``, ``l2``, ``seed``), JSON-ready."""
    return {flag_name(n)[2:]: list(v) if isinstance(v, tuple) else v for n, v in member.values.items()}


def plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(map(show, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def group_key(settings: RunSettings) -> tuple:
    values = {**settings.network.to_dict(), **settings.training.to_dict(), "sizes": settings.sizes}
    return tuple(repr(values[name]) for name in GROUPED)


def grouped(members: list[Member]) -> list[list[Member]]:
    """The members in groups that one array can train (``GROUPED`` knobs equal), in order of first appearance."""
    groups: dict[tuple, list[Member]] = {}
    for member in members:
        groups.setdefault(group_key(member.settings), []).append(member)
    for g, group in enumerate(groups.values()):
        for member in group:
            member.group = g
    return list(groups.values())


# ----- the run -----------------------------------------------------------------------------------------------------


def resumed_sweep(args, texts: dict) -> tuple[dict, dict]:
    """The flags' texts and the record of the sweep that ``--resume FOLDER`` continues; refuses a folder with no
    checkpoint, and flags that would change the grid or the settings."""
    if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
        raise InputError("--out differs from --resume: a sweep resumes in its own folder; drop --out")
    first = checkpoint_path(args.resume, 0)
    if not first.is_file():
        raise InputError(
            f"--resume {args.resume}: that folder holds no sweep checkpoint ({first}; only a sweep started with "
            f"--checkpoint-every N can be resumed); start a new sweep"
        )
    record = load_array_checkpoint(first, "cpu", NetworkArray)[1]
    saved = record.get("sweep")
    if not isinstance(saved, dict) or not all(isinstance(v, str) for v in saved.values()):
        raise ModelFileError(f"{first} is a damaged or foreign sweep checkpoint; start a new sweep")
    for name, text in texts.items():
        if name not in saved or not same_text(name, text, saved[name]):
            was = saved.get(name, "not given")
            raise InputError(
                f"{flag_name(name)} {text} differs from the sweep's ({was}): a resumed sweep keeps its grid and "
                f"settings; drop {flag_name(name)} or start a new sweep"
            )
    return saved, record


def checkpoint_path(folder, g: int) -> Path:
    return Path(folder) / "checkpoints" / f"group-{g:03d}.npz"


def sweep_command(args) -> int:
    texts, record = flag_texts(args), None
    if args.resume is not None:
        texts, record = resumed_sweep(args, texts)
    members = build_grid(given_lists(texts))
    groups = grouped(members)
    first = members[0].settings
    dataset, regression, (n_in, n_out) = read_data(first)
    train_data = dataset.train
    outputs = "targets" if regression else "classes"
    held_out = 0
    for member in members:
        member.settings.sizes = resolve_sizes(member.settings.sizes, n_in, n_out, outputs)
        held_out = member.settings.training.rows(len(train_data[1]))[1]
    check_weighted_rows(dataset, first, held_out)
    split = dataset.split.holding_out(first.training.validation_fraction, held_out, VALIDATION_SEED)
    run_id = uuid.uuid4().hex
    if record is not None:
        recorded = recorded_split(checkpoint_path(args.resume, 0), {SPLIT_ENTRY: json.dumps(record["data_split"])})
        check_unchanged(recorded, split, first.data, checkpoint_path(args.resume, 0))
        run_id = record["run_id"]
    for member in members:
        member.settings.data_split, member.settings.run_id = split, run_id
    store = {"sweep": stored_texts(texts), "run_id": run_id, "data_split": split.to_json()}
    data_file = first.data.data if Path(first.data.data).suffix.lower() in FILE_SUFFIXES else None
    if record is not None:
        folder, earlier = claim(Path(args.resume), files=SWEEP_FILES), []
    else:
        folder, earlier = claim_run_folder(args, first.training.epochs, None, data_file, SWEEP_FILES)
    try:
        return run_sweep(args, members, groups, dataset, regression, held_out, folder, earlier, store)
    finally:
        folder.release()


class SweepFiles:
    """What the sweep writes into its claimed folder as it goes: the metrics, and the earlier run's removal."""

    def __init__(self, folder, earlier, regression: bool, store: dict, every: int):
        self.folder, self.earlier, self.store, self.every = folder, earlier, store, every
        self.metrics = MetricsLog(folder.path / "metrics.jsonl", [], regression, row=self.row)
        self.regression = regression

    def checkpoint(self, trainer, g: int, done: bool) -> None:
        """Group ``g``'s array checkpoint (``done``: its training has ended), and the metrics forced to disk."""
        with signals_deferred():
            path = checkpoint_path(self.folder.path, g)
            path.parent.mkdir(exist_ok=True)
            save_array_checkpoint(path, trainer, {**self.store, "group": g, "done": done})
            self.metrics.sync()

    def row(self, entry) -> dict:
        member, stats = entry
        return {"member": member.index, "config": configuration(member), **stats_row(stats, self.regression)}

    def after_epoch(self, member, stats) -> None:
        with signals_deferred():
            if self.earlier:  # --force: the earlier run goes once this one has an epoch of its own to show
                self.folder.remove(self.earlier)
                self.earlier = []
            self.metrics.append((member, stats))


def stats_row(stats, regression: bool) -> dict:
    """An epoch's figures without the test set's (a sweep trains without it)."""
    return {k: v for k, v in metrics_row(stats, regression).items() if not k.startswith("test_")}


def run_sweep(args, members, groups, dataset, regression, held_out, folder, earlier, store) -> int:
    """Train each group as one array, then rank, report and write the folder."""
    train_data, test_data = dataset.train, dataset.test
    score = score_name(regression)[0]
    first = members[0].settings
    files = SweepFiles(folder, earlier, regression, store, first.run.checkpoint_every)
    axes = list(members[0].values)
    counts = " × ".join(f"{len({repr(m.values[n]) for m in members})} {flag_name(n)}" for n in axes) or "no lists"
    arrays = []
    try:
        for g, group in enumerate(groups):
            trainer = resumed_group(args, g, group, dataset) if args.resume is not None else None
            arr = build_array(args, group, dataset) if trainer is None else trainer.arr
            trainer = trainer or ArrayTrainer(arr)
            if g == 0:
                print(device_line(arr))
                print(
                    f"grid: {plural(len(members), 'configuration')} ({counts}) in "
                    f"{plural(len(groups), 'network array')}; chosen on validation {score} on {held_out} held-out "
                    f"rows, never on the test set"
                )
                weighted = "" if first.data.weights is None else f", weighted by {first.data.weights}"
                print(
                    f"data: {first.data.data}, {len(train_data[1])} training and {len(test_data[1])} test samples"
                    f"{weighted}"
                )
                print(f"run folder: {folder.path}")
            train_group(args, g, len(groups), group, trainer, dataset, files)
            arrays.append(arr)
        files.metrics.write()  # a resumed sweep whose every group had ended appends nothing
        files.metrics.close()
        chosen = sorted(members, key=lambda m: (m.score is None, -(m.score or 0.0), m.index))
        best = chosen[0]
        if best.kept is None:
            raise GpubpError(
                f"every member diverged, so no model was written ({files.metrics.path} has their epochs): "
                f"try smaller --lr values"
            )
        score_test(arrays, groups, test_data, members if args.report_test == "all" else [best])
        write_summary(folder.path / "summary.csv", chosen, axes, regression)
        save_run_model(folder.path / "model.npz", member_network(arrays, groups, best), best.settings)
        saved = ""
        if args.save_all:
            for member in members:
                if member.kept is not None:
                    path = folder.path / "members" / f"{member.index:03d}.npz"
                    path.parent.mkdir(exist_ok=True)
                    save_run_model(path, member_network(arrays, groups, member), member.settings)
            saved = f", {folder.path / 'members'}/"
        curves = [[h.validation_score for h in m.history] for m in members]
        no_plot = plot_validation_curves(folder.path / "validation_curves.png", curves, best.index, regression)
    finally:
        files.metrics.close()
    print(summary_text(chosen, axes, regression))
    described = " ".join(f"{flag_name(n)} {show(best.values[n])}" for n in axes) or "the one configuration"
    test = "no test rows" if best.test is None else f"test {score} {best.test:.4f}"
    print(f"best: member {best.index} ({described}), validation {score} {best.score:.4f} at epoch {best.kept.epoch}")
    print(f"the best member's {test}" + ("" if args.report_test == "all" else " (--report-test all: every member's)"))
    plot = f"; no plot: {no_plot}" if no_plot else f", {folder.path / 'validation_curves.png'}"
    print(f"wrote {folder.path / 'model.npz'}, {files.metrics.path}, {folder.path / 'summary.csv'}{saved}{plot}")
    return 0


def resumed_group(args, g: int, group: list[Member], dataset):
    """Group ``g``'s array trainer from its checkpoint, or None where the sweep was stopped before it wrote one."""
    path = checkpoint_path(args.resume, g)
    if not path.is_file():
        return None
    trainer, record = load_array_checkpoint(path, args.device, NetworkArray)
    if (
        record.get("group") != g
        or trainer.arr.count != len(group)
        or list(trainer.arr.sizes) != group[0].settings.sizes
    ):
        raise ModelFileError(f"{path} is not group {g} of this sweep's grid; start a new sweep")
    trainer.arr.labels = dataset.classes
    for member in trainer.arr.members:
        member.labels = dataset.classes
    trainer.done = record.get("done", False)
    return trainer


def build_array(args, group: list[Member], dataset) -> NetworkArray:
    """The group's members as one array, each seeded by its own ``--seed``."""
    network = group[0].settings.network.to_dict()
    del network["seed"]
    seeds = [m.settings.network.seed for m in group]
    arr = NetworkArray(group[0].settings.sizes, len(group), seeds=seeds, device=args.device, **network)
    arr.labels = dataset.classes
    for member in arr.members:
        member.labels = dataset.classes
    return arr


def member_network(arrays, groups, member: Member):
    """An ordinary network equal to ``member`` (a copy of its row of its group's array)."""
    return arrays[member.group][groups[member.group].index(member)]


def train_group(args, g: int, count: int, group: list[Member], trainer, dataset, files) -> None:
    """Train one group's array to its epochs (from where its checkpoint stands, when resuming), without the test
    set; each member's history, status and kept epoch afterwards. One line per epoch of the array: the best
    member's validation score so far."""
    arr, training = trainer.arr, group[0].settings.training
    regression = arr.regression
    score = score_name(regression)[0]
    reached = len(trainer.members[0].history)
    for epoch in range(1, max(len(t.history) for t in trainer.members) + 1):  # what the checkpoint's run wrote
        for k, member in enumerate(trainer.members):
            if epoch <= len(member.history):
                files.metrics.history.append((group[k], member.history[epoch - 1]))
    progress = Progress(not args.quiet and sys.stderr.isatty(), reached + 1, training.epochs)
    pending: dict[int, list] = {}
    where = f"group {g + 1}/{count}, " if count > 1 else ""

    def report() -> None:
        for epoch in sorted(pending):
            progress.close()
            rows = pending.pop(epoch)
            k, best = max(enumerate(rows), key=lambda kv: (kv[1][1].validation_score, -kv[0]))
            speed = sum(stats.samples_per_s for _, stats in rows)
            print(
                f"{where}epoch {epoch:3d}/{training.epochs}  {len(rows)} members  best validation {score} "
                f"{best[1].validation_score:.4f} (member {best[0].index})  {speed:,.0f} samples/s",
                flush=True,
            )

    def on_epoch(k: int, stats) -> None:
        files.after_epoch(group[k], stats)
        pending.setdefault(stats.epoch, []).append((group[k], stats))

    def on_progress(done: int, total: int) -> None:
        report()
        progress.step(done, total)

    def on_array_epoch(epoch: int) -> None:
        report()
        if files.every and epoch % files.every == 0 and epoch < training.epochs:
            files.checkpoint(trainer, g, done=False)

    configs = [m.settings.training for m in group]
    stopped = [k in trainer.diverged or stopped_early(t, c) for k, (t, c) in enumerate(zip(trainer.members, configs))]
    if not getattr(trainer, "done", False) and not all(stopped):
        try:
            trainer.train(
                configs,
                dataset.train,
                None,
                sample_weight=dataset.weights,
                on_epoch=on_epoch,
                on_progress=on_progress,
                on_array_epoch=on_array_epoch,
            )
        except TrainingDiverged:  # every member of the group diverged
            trainer.diverged.update({k: None for k in range(len(group)) if k not in trainer.diverged})
        finally:
            report()
            progress.close()
        if files.every:
            files.checkpoint(trainer, g, done=True)
    for k, member in enumerate(group):
        state = trainer.members[k].state
        history = member.history = list(trainer.members[k].history)
        if k in trainer.diverged:
            member.status = f"diverged after epoch {len(history)}"
            continue
        best_epoch = state.best_epoch if configs[k].patience is not None else None
        member.kept = history[(best_epoch or len(history)) - 1]
        if len(history) < training.epochs:
            member.status = f"stopped early at epoch {len(history)}"


def stopped_early(trainer, config) -> bool:
    """Whether a member's run ran out of patience (it trains no further)."""
    return bool(trainer.history) and config.patience is not None and trainer.state.stale_epochs >= config.patience


def score_test(arrays, groups, test_data, members) -> None:
    """The test score of ``members`` (after selection: it never decides anything)."""
    if not len(test_data[1]):
        return
    for member in members:
        if member.kept is None:
            continue
        net = member_network(arrays, groups, member)
        scored = net.metrics(*prepare(net, test_data, "test data"))
        member.test = scored.r2 if net.regression else scored.correct / len(test_data[1])


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
