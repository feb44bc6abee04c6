"""``gpubp sweep``: a grid of ``gpubp train`` configurations, trained as network arrays, chosen on validation.

Every ``gpubp train`` flag is a ``gpubp sweep`` flag; a list of values makes the flag an axis of the grid (the
grid, its parsing and its groups are in ``sweep_grid.py``). Each group (members that share sizes, units and the
array's epoch loop) is trained as one ``NetworkArray``, one group after another, without the test set.

Selection never looks at the test set: every member is scored on the validation hold-out (``--validation-fraction``,
0.1 unless given), at its best epoch with ``--patience``, else its last, and the test score is computed afterwards
for the chosen member (``--report-test all``: for every member). The run folder (claimed as ``gpubp train`` claims
its own, ``run_folder.py``) gets ``metrics.jsonl`` (one line per member per epoch, with the
member's index and configuration), ``summary.csv`` (one row per member, best first; also printed), the best
member's ``model.npz`` (an ordinary model with the data record ``gpubp train`` writes), with ``--save-all`` every
member's as ``members/NNN.npz``, and ``validation_curves.png``, written as one step once training has ended
(``sweep_report.report_sweep``). A member that diverged has no network (its weights are not finite): it is named
with its cause, ranked last and saves no model. Every combination is resolved on the data's widths and checked
whole before the folder is claimed, and combinations that are then the same run train once
(``sweep_grid.resolved``).

With ``--checkpoint-every N`` each group's array checkpoint (``training/checkpoint.py: save_array_checkpoint``) is
``checkpoints/group-NNN.npz``, written every N epochs of the array and once the group has ended, with the sweep's
flags, data record and run id; ``--resume FOLDER`` reads ended groups back, continues the interrupted one and
trains the rest, to the weights of an uninterrupted sweep. Under ``mpiexec`` (``--distributed mpi``) each process
trains its share of every group's members (``comm.shard``) as one array, and rank 0 gathers them (``comm.gather``)
and reports and writes as one process would; such a sweep writes no checkpoints.
"""

from __future__ import annotations

import itertools
import json
import sys
import uuid
from pathlib import Path

from ..distributed import get_communicator
from ..errors import InputError, ModelFileError, TrainingDiverged
from ..network import NetworkArray
from ..training.array import ArrayTrainer
from ..training.checkpoint import load_array_checkpoint
from ..training.config import VALIDATION_SEED
from ..training.report import score_name
from .process import stopped
from .run_folder import claim
from .settings import (
    SPLIT_ENTRY,
    choice_flag,
    flag_name,
    in_flags,
    recorded_split,
)
from .sweep_grid import (
    DEFAULT_VALIDATION,
    Member,
    build_grid,
    default_values,
    flag_texts,
    given_lists,
    grid_counts,
    grouped,
    resolved,
    resolved_sizes,
    same_values,
    show,
    stored_texts,
)
from .sweep_report import SweepFiles, checkpoint_path, describe_sweep, metric_entries, report_sweep
from .train import (
    Progress,
    check_inputs_are_kept,
    check_unchanged,
    check_weighted_rows,
    claim_run_folder,
    end_job,
    read_data,
    run_inputs,
)


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
        **choice_flag(("best", "all")),
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
    s.add_argument(
        "--distributed",
        **choice_flag(("none", "mpi")),
        default="none",
        help="mpiexec -n N gpubp sweep --distributed mpi splits each group's members across the N processes, one "
        "array each; rank 0 gathers them and writes the folder (default: none)",
    )
    s.set_defaults(run=sweep_command)


# ----- resuming ----------------------------------------------------------------------------------------------------


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
        if not same_values(name, text, saved.get(name)) and (name != "sizes" or not same_sizes(text, saved)):
            default = default_values(name)[0]
            was = saved.get(name, "not given" if default is None else f"not given: {show(default)}")
            raise InputError(
                f"{flag_name(name)} {text} differs from the sweep's ({was}): a resumed sweep keeps its grid and "
                f"settings; drop {flag_name(name)} or start a new sweep"
            )
    return saved, record


def same_sizes(text: str, saved: dict) -> bool:
    """Whether ``--sizes`` gives the sweep's layer widths once resolved on the data's (which takes reading it)."""
    _, regression, (n_in, n_out) = read_data(build_grid(given_lists(saved))[0].settings)
    outputs = "targets" if regression else "classes"
    return resolved_sizes(text, n_in, n_out, outputs) == resolved_sizes(saved.get("sizes"), n_in, n_out, outputs)


def sweep_command(args) -> int:
    """``gpubp sweep``; under ``mpiexec`` (``--distributed mpi``), any process's failure ends every process."""
    comm = get_communicator(args.distributed, args.device)
    try:
        return start_sweep(args, comm)
    except BaseException as exc:
        if comm.size == 1:
            raise
        end_job(comm, exc, "sweep")


def start_sweep(args, comm) -> int:
    """Read the flags (a resumed sweep's from its checkpoint), build the grid, read and check the data, claim the
    folder (rank 0 only), then train and report."""
    texts, record = flag_texts(args), None
    if comm.size > 1 and (args.resume is not None or args.checkpoint_every not in (None, "0")):
        raise InputError(
            "--distributed mpi runs a sweep without checkpoints: drop --checkpoint-every and --resume, or run it in "
            "one process"
        )
    if args.resume is not None:
        texts, record = resumed_sweep(args, texts)
    given = given_lists(texts)
    members = build_grid(given)
    first = members[0].settings
    dataset, regression, (n_in, n_out) = read_data(first)
    outputs = "targets" if regression else "classes"
    members, repeated = resolved(members, n_in, n_out, outputs, len(dataset.train[1]))
    groups = grouped(members)
    held_out = first.training.rows(len(dataset.train[1]))[1]  # the same rows for every member
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
    if comm.rank != 0:
        return run_sweep(args, comm, members, groups, dataset, held_out, None)
    inputs = run_inputs(first.data)
    if record is not None:  # its own checkpoints, which it reads and goes on writing, are no such input
        check_inputs_are_kept(Path(args.resume), inputs)
        folder, earlier = claim(Path(args.resume), command="sweep"), []
    else:
        folder, earlier = claim_run_folder(args, first.training.epochs, inputs, command="sweep")
    try:
        if record is not None:
            check_group_checkpoints(args, groups, dataset, run_id)
        files = SweepFiles(folder, earlier, regression, store, first.run.checkpoint_every, live=comm.size == 1)
        files.grid = grid_counts(given, repeated)
        return run_sweep(args, comm, members, groups, dataset, held_out, files)
    finally:
        folder.release()


def run_sweep(args, comm, members, groups, dataset, held_out, files) -> int:
    """Train this process's members of each group as one array (every member, in one process), gather them on rank
    0 (``files``: rank 0's folder; None on the others), then rank, report and write the folder; a stop (Ctrl-C,
    SIGTERM) says which checkpoints are intact."""
    try:
        return train_and_report(args, comm, members, groups, dataset, held_out, files)
    except KeyboardInterrupt as exc:
        stop = stopped(exc)
        if files is not None:
            stop.state = files.state()
        raise stop from None


def train_and_report(args, comm, members, groups, dataset, held_out, files) -> int:
    for g, group in enumerate(groups):
        first, last = comm.shard(len(group))  # this process's share of the group's members
        mine = group[first:last]
        if not mine:
            continue
        resumed = args.resume is not None
        trainer, done = resumed_group(args, g, mine, dataset, mine[0].settings.run_id) if resumed else (None, False)
        trainer = trainer or ArrayTrainer(build_array(args, mine, dataset))
        if g == 0 and files is not None:
            describe_sweep(trainer.arr, comm, members, groups, dataset, held_out, files)
        train_group(args, g, len(groups), mine, trainer, dataset, files, done)
        for k, member in enumerate(mine):  # a diverged member's weights are not finite: it has no network
            member.net = None if k in trainer.diverged else trainer.arr[k]
    if comm.size > 1:
        gathered = comm.gather([member.result() for member in members if member.history is not None])
        if gathered is None:
            return 0
        for result in itertools.chain(*gathered[1:]):
            members[result[0]].take(result, args.device)
    return report_sweep(args, members, groups, dataset, files)


def check_group_checkpoints(args, groups, dataset, run_id: str) -> None:
    """Refuse, before any group trains, a checkpoint in the folder that is not the group of this sweep it is named
    for (another sweep's, or of another grid), and one named for a group the grid does not have."""
    for g, group in enumerate(groups):
        resumed_group(args, g, group, dataset, run_id)
    names = {checkpoint_path(args.resume, g).name for g in range(len(groups))}
    for path in sorted(checkpoint_path(args.resume, 0).parent.glob("group-*.npz")):
        if path.name not in names:
            raise ModelFileError(
                f"{path} is of no group of this sweep's grid (groups 0 to {len(groups) - 1}): move it away, or "
                f"start a new sweep"
            )


def resumed_group(args, g: int, group: list[Member], dataset, run_id: str):
    """Group ``g``'s array trainer from its checkpoint and whether its training had ended, or ``(None, False)``
    where the sweep was stopped before it wrote one."""
    path = checkpoint_path(args.resume, g)
    if not path.is_file():
        return None, False
    trainer, record = load_array_checkpoint(path, args.device, NetworkArray)
    if (
        record.get("group") != g
        or record.get("run_id") != run_id
        or trainer.arr.count != len(group)
        or list(trainer.arr.sizes) != group[0].settings.sizes
    ):
        raise ModelFileError(
            f"{path} is not group {g} of this sweep (another sweep's, or of another grid); start a new sweep"
        )
    trainer.arr.labels = dataset.classes
    for member in trainer.arr.members:
        member.labels = dataset.classes
    return trainer, record.get("done") is True


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


def train_group(args, g: int, count: int, group: list[Member], trainer, dataset, files, done: bool) -> None:
    """Train one group's array to its epochs (from where its checkpoint stands, when resuming; ``done``: that
    checkpoint's training had ended), without the test set; each member's history, status and kept epoch
    afterwards. One line per epoch of the array: the best member's validation score so far."""
    arr, training = trainer.arr, group[0].settings.training
    regression = arr.regression
    score = score_name(regression)[0]
    talks = files is not None
    reached = len(trainer.members[0].history)
    if talks:  # what the checkpoint's run wrote
        files.metrics.history += metric_entries(group, [t.history for t in trainer.members])
    progress = Progress(talks and not args.quiet and sys.stderr.isatty(), reached + 1, training.epochs)
    pending: dict[int, list] = {}
    where = f"group {g} of {count}, " if count > 1 else ""  # numbered from 0, as members, group-NNN.npz, summary.csv

    def report() -> None:
        if not talks:
            return
        for epoch in sorted(pending):
            progress.close()
            rows = pending.pop(epoch)
            k, best = max(enumerate(rows), key=lambda kv: (kv[1][1].validation_score, -kv[0]))
            speed = sum(stats.samples_per_s for _, stats in rows)
            print(
                f"{where}epoch {epoch:3d}/{training.epochs}  {len(rows)} member{'s' if len(rows) != 1 else ''}  "
                f"best validation {score} "
                f"{best[1].validation_score:.4f} (member {best[0].index})  {speed:,.0f} samples/s",
                flush=True,
            )

    def on_epoch(k: int, stats) -> None:
        if talks:
            files.after_epoch(group[k], stats)
            pending.setdefault(stats.epoch, []).append((group[k], stats))

    def on_progress(done: int, total: int) -> None:
        report()
        progress.step(done, total)

    def on_array_epoch(epoch: int) -> None:
        report()
        if talks and files.every and epoch % files.every == 0 and epoch < training.epochs:
            files.checkpoint(trainer, g, done=False)

    configs = [m.settings.training for m in group]
    stopped = [k in trainer.diverged or stopped_early(t, c) for k, (t, c) in enumerate(zip(trainer.members, configs))]
    if not done and not all(stopped):
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
        except TrainingDiverged:  # every member of the group diverged: each is in trainer.diverged
            pass
        finally:
            report()
            progress.close()
        if talks and files.every:
            files.checkpoint(trainer, g, done=True)
    for k, member in enumerate(group):
        state = trainer.members[k].state
        history = member.history = list(trainer.members[k].history)
        if k in trainer.diverged:
            error = trainer.diverged[k]
            member.status, member.diverged = f"diverged in epoch {error.epoch}", str(in_flags(error))
            continue
        best_epoch = state.best_epoch if configs[k].patience is not None else None
        member.kept = history[(best_epoch or len(history)) - 1]
        if len(history) < training.epochs:
            member.status = f"stopped early at epoch {len(history)}"


def stopped_early(trainer, config) -> bool:
    """Whether a member's run ran out of patience (it trains no further)."""
    return bool(trainer.history) and config.patience is not None and trainer.state.stale_epochs >= config.patience
