"""The settings of a training run, as flags and as a checkpoint stores them, derived from the knobs' declarations.

A run's settings are its ``DataConfig``, ``NetworkConfig``, ``TrainingConfig`` and ``RunConfig`` (the
checkpoints), plus the layer sizes, a random ``run_id``, the record of ``--lr`` changes and the record of the
data's split (``gpubp.data.DataSplit``: the rows' fingerprint, the test split and the validation hold-out). Every
flag of ``gpubp train`` that sets a knob is built from its declaration (``add_flags``): its name, metavar, help and
"(default …)"; the value is checked by the configuration alone, and a message names the flag (``flag_name``).

A checkpoint stores the settings as one JSON object whose keys are the flags' names (``batch_size`` for
``--batch-size``), so ``--resume`` continues with exactly the run that was started. Data paths (the data, its
folder, the sample weights' file) are stored absolute (``to_store``), so a run resumes from any working folder, and
compared resolved, so the same file spelled another way is the same file. A checkpoint's settings pass the same
checks as the flags: a damaged or foreign one is a ``ModelFileError`` naming the bad setting, never a traceback. On
resume only ``--epochs``, ``--checkpoint-every`` and ``--lr`` may change (and ``--device`` and ``--out``, which are
not settings); a changed ``--lr`` (the advice after a divergence) is recorded in ``lr_changes`` as ``[first epoch,
η]`` pairs. The ``run_id``, stored in the checkpoint and the model, tells a resume whether the model beside a
checkpoint is of the same run before it replaces it, and the ``data_split``, stored in both too (``recorded_split``
reads it), tells a resume and ``gpubp evaluate`` whether the data they read is the run's, and a resume whether its
sample weights are.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, choice, knob, whole
from ..data import DEFAULT_MNIST_DIR, DataConfig, DataSplit, registry
from ..errors import GpubpError, InputError, ModelFileError
from ..model.config import NetworkConfig
from ..training import load_checkpoint
from ..training.checkpoint import STATE_ENTRIES
from ..training.config import TrainingConfig


@dataclass(frozen=True)
class RunConfig(Config):
    """What a run of ``gpubp train`` writes beside its model."""

    checkpoint_every: int = knob(
        0,
        whole(0),
        "write checkpoint.npz (the full training state) every N epochs; 0: never",
        what="the checkpoint interval",
        flag="--checkpoint-every",
        metavar="N",
    )


CONFIGS = {"data": DataConfig, "network": NetworkConfig, "training": TrainingConfig, "run": RunConfig}
KNOBS = {name: (part, declared) for part, cls in CONFIGS.items() for name, declared in cls.knobs().items()}
CHANGEABLE_ON_RESUME = ("epochs", "checkpoint_every", "eta")
# Stored settings that checkpoints written before them lack, with the value every such run had.
ADDED_LATER = (
    "header",
    "optimizer",
    "momentum",
    "betas",
    "eps",
    "lmbda",
    "init",
    "schedule",
    "warmup_epochs",
    "plateau_factor",
    "plateau_patience",
    "validation_fraction",
    "patience",
    "activation",
    "leaky_slope",
    "output",
    "dropout",
    "targets",
    "weights",
)
OPTIONAL = ("run_id", "lr_changes", "data_split")  # settings that checkpoints of older gpubp versions lack
SPLIT_ENTRY = "data_split"  # the model file's entry for the record of its data's split
CHECKPOINT_NAME = "checkpoint.npz"
HIDDEN_DEFAULT = [30]


def key(name: str) -> str:
    """The name under which a checkpoint stores knob ``name``: its flag's (``batch_size`` for ``--batch-size``)."""
    return KNOBS[name][1].flag[2:].replace("-", "_")


def flag_name(knob_name: str, value: str | None = None) -> str:
    """A knob as the command line writes it: ``--lr``, ``--device cpu`` (for ``GpubpError.renamed``)."""
    declared = KNOBS.get(knob_name)
    flag = declared[1].flag if declared else "--" + knob_name.replace("_", "-")
    return flag if value is None else f"{flag} {value.strip(chr(39))}"


def in_flags(error: GpubpError) -> GpubpError:
    """``error`` with the knobs it names written as flags."""
    return error.renamed(flag_name)


def choice_flag(names) -> dict:
    """``add_argument``'s keywords for a flag that takes one of ``names``, in any case and with any surrounding
    spaces, as a knob's ``choice`` rule reads its value."""
    return {"choices": tuple(names), "type": choice(*names).normalize}


def cli_default(name: str):
    part, declared = KNOBS[name]
    return declared.flag_default if declared.flag_default is not None else CONFIGS[part].defaults()[name]


# ----- flags -------------------------------------------------------------------------------------------------------


def describe_default(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(describe_default, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def flag_help(declared, default) -> str:
    """A knob's help and its default: the value, or what None stands for where its rule says (``optional``); a
    help that says what its default is gets no second one."""
    if "(default" in declared.help:
        return declared.help
    none_means = declared.check.none_means
    return f"{declared.help} (default: {none_means if default is None and none_means else describe_default(default)})"


def pair(text: str) -> tuple[float, float]:
    try:
        first, second = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes two numbers separated by a comma, such as 0.9,0.999, not {text!r}"
        ) from None
    return first, second


def one_or_list(parse):
    """``P`` as one value, ``P,P,…`` as a tuple of them (one per hidden layer)."""

    def parsed(text: str):
        parts = [part.strip() for part in text.split(",")]
        try:
            values = tuple(parse(part) for part in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes one value or a comma-separated list, not {text!r}") from None
        return values[0] if len(values) == 1 else values

    return parsed


PARSERS = {
    "int": int,
    "float": float,
    "str": str,
    "int | None": int,
    "str | None": str,
    "tuple[float, float]": pair,
    "float | tuple[float, ...]": one_or_list(float),
    "str | tuple[str, ...]": one_or_list(str),
}


def add_flags(parser, *parts: str, only=None, as_text=False) -> None:
    """A flag for every knob (or those named in ``only``) of the named parts of the settings, each from its
    declaration; a flag not given leaves its knob ``None`` in the parsed arguments. ``as_text``: the flags keep
    their text, for a command that reads more than one value from it (``gpubp sweep``, through ``PARSERS``)."""
    for part in parts:
        for f in dataclasses.fields(CONFIGS[part]):
            if only is not None and f.name not in only:
                continue
            declared = f.metadata["knob"]
            parser.add_argument(
                declared.flag,
                dest=f.name,
                type=str if as_text else PARSERS[f.type],
                default=None,
                metavar=declared.metavar,
                help=flag_help(declared, cli_default(f.name)),
            )


# ----- a run's settings --------------------------------------------------------------------------------------------


@dataclass
class RunSettings:
    """Everything a run of ``gpubp train`` was started with; ``sizes`` are the flag's (hidden widths, or all)."""

    data: DataConfig
    network: NetworkConfig
    training: TrainingConfig
    run: RunConfig
    sizes: list[int] = field(default_factory=lambda: list(HIDDEN_DEFAULT))
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    lr_changes: list = field(default_factory=list)
    data_split: DataSplit | None = None  # None until the data is read, and in checkpoints from before records

    @classmethod
    def build(cls, values: dict, sizes, run_id: str | None = None, lr_changes=(), data_split=None) -> RunSettings:
        """The settings of knob values ``values`` (the others at their command-line defaults)."""
        parts = {
            part: config(**{n: values.get(n, cli_default(n)) for n in config.knobs()})
            for part, config in CONFIGS.items()
        }
        return cls(
            **parts,
            sizes=list(sizes),
            run_id=run_id or uuid.uuid4().hex,
            lr_changes=list(lr_changes),
            data_split=data_split,
        )

    def values(self) -> dict:
        return {name: getattr(getattr(self, part), name) for name, (part, _) in KNOBS.items()}

    def to_store(self) -> dict:
        """The settings as a checkpoint stores them: keyed by flag, the data file and folder (MNIST's default too)
        and the weights' file absolute."""
        stored = {key(name): list(v) if isinstance(v, tuple) else v for name, v in self.values().items()}
        if stored["data"] != "digits" and stored["data"] not in registry.datasets():
            stored["data"] = os.path.abspath(stored["data"])
        # MNIST's ./data/mnist is relative to where the run started; the cache (the other source) is not.
        if stored["data"] == "mnist" and stored["data_dir"] is None and DEFAULT_MNIST_DIR.is_dir():
            stored["data_dir"] = str(DEFAULT_MNIST_DIR)
        for path in ("data_dir", "weights"):
            if stored[path] is not None:
                stored[path] = os.path.abspath(stored[path])
        split = None if self.data_split is None else self.data_split.to_json()
        return {
            **stored,
            "sizes": self.sizes,
            "run_id": self.run_id,
            "lr_changes": self.lr_changes,
            "data_split": split,
        }

    @classmethod
    def from_store(cls, stored: dict) -> RunSettings:
        """What ``to_store`` wrote; an ``InputError`` naming the first setting no flag could have given."""
        if not isinstance(stored.get("run_id", ""), str):
            raise InputError(f"run_id must be a string, got {stored['run_id']!r}")
        changes, eta = stored.get("lr_changes", []), TrainingConfig.knobs()["eta"].check
        if not isinstance(changes, list) or not all(
            isinstance(c, list) and len(c) == 2 and whole(2).accepts(c[0]) and eta.accepts(c[1]) for c in changes
        ):
            raise InputError(f"lr_changes must be [epoch, lr] pairs, got {changes!r}")
        names = {key(name): name for name in KNOBS}
        later = {key(name) for name in ADDED_LATER}
        unknown = sorted(set(stored) - set(names) - {"sizes", *OPTIONAL})
        missing = sorted(set(names) - set(stored) - later) + ([] if "sizes" in stored else ["sizes"])
        if missing or unknown:
            raise InputError(f"settings {', '.join(missing)} missing" if missing else f"unknown settings {unknown}")
        values = {names[k]: tuple(v) if isinstance(v, list) else v for k, v in stored.items() if k in names}
        for name, value in values.items():  # a flag with a value by default never leaves a setting empty
            if value is None and cli_default(name) is not None:
                raise InputError(f"{key(name)} is null, which no flag gives")
        sizes = stored["sizes"]
        if not isinstance(sizes, list) or not sizes or not all(whole(1).accepts(s) for s in sizes):
            raise InputError(f"sizes must be layer widths, whole numbers >= 1, got {sizes!r}")
        try:
            split = None if stored.get("data_split") is None else DataSplit.from_json(stored["data_split"])
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return cls.build(values, sizes, stored.get("run_id"), changes, split)


def same_setting(name: str, given, saved) -> bool:
    if name in ("data", "data_dir", "weights") and isinstance(given, str) and isinstance(saved, str):
        return Path(given).resolve() == Path(saved).resolve()
    return given == saved


def checkpoint_file(resume: Path) -> Path:
    """``--resume`` as a checkpoint file: a run folder means the ``checkpoint.npz`` in it."""
    if not resume.is_dir():
        return resume
    if not (resume / CHECKPOINT_NAME).is_file():
        raise InputError(
            f"--resume {resume}: that run folder holds no {CHECKPOINT_NAME} (only a run started with "
            f"--checkpoint-every N can be resumed); start a new run"
        )
    return resume / CHECKPOINT_NAME


def given_values(args, *parts: str) -> dict:
    """The knobs (of the named parts of the settings, or all) whose flags were given, with their values."""
    names = [name for name, (part, _) in KNOBS.items() if not parts or part in parts]
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def settings_for(args):
    """The run's settings — defaults, the checkpoint's, and the flags given — and, when resuming, the trainer and
    the run id (None before run ids) of the checkpoint."""
    given = given_values(args)
    if args.resume is None:
        return RunSettings.build(given, args.sizes or HIDDEN_DEFAULT), None
    trainer, stored = load_checkpoint(args.resume, args.device)
    try:
        saved = RunSettings.from_store(stored)
        if saved.sizes != list(trainer.net.sizes):
            raise InputError(f"settings for sizes {saved.sizes} beside a network of sizes {list(trainer.net.sizes)}")
    except GpubpError as exc:
        raise ModelFileError(
            f"{args.resume} is a damaged or foreign checkpoint ({exc}); resume from another one or start a new run"
        ) from None
    values = saved.values()
    for name, value in given.items():
        if name not in CHANGEABLE_ON_RESUME and not same_setting(name, value, values[name]):
            raise InputError(
                f"{flag_name(name)} {describe_default(value)} differs from the checkpoint's "
                f"{describe_default(values[name])}: a resumed run keeps the "
                f"settings it was started with (only --epochs, --checkpoint-every, --lr, --device and --out may "
                f"change); drop {flag_name(name)} or start a new run"
            )
    if saved.training.schedule == "cosine" and given.get("epochs", saved.training.epochs) != saved.training.epochs:
        raise InputError(
            f"the cosine schedule spreads its decay over the run's {saved.training.epochs} epochs, so a resumed run "
            f"keeps them: drop --epochs, or start a new run for a longer one"
        )
    changed = {name: value for name, value in given.items() if name in CHANGEABLE_ON_RESUME}
    lr_changes = saved.lr_changes
    if changed.get("eta", saved.training.eta) != saved.training.eta:
        lr_changes = [*lr_changes, [len(trainer.history) + 1, changed["eta"]]]
    # A checkpoint from before run ids gets one from now on.
    settings = RunSettings.build({**values, **changed}, saved.sizes, stored.get("run_id"), lr_changes, saved.data_split)
    return settings, (trainer, stored.get("run_id"))


def recorded_split(path, extra: dict) -> DataSplit | None:
    """The record of the data split in a model's or a checkpoint's ``extra`` entries (None where it has none: a
    model saved by ``gpubp.save``, or by a gpubp before records); a damaged one is a ``ModelFileError``."""
    try:
        if SPLIT_ENTRY in extra:
            return DataSplit.from_json(json.loads(str(extra[SPLIT_ENTRY])))
        settings_entry = STATE_ENTRIES[2]
        if settings_entry in extra:
            record = json.loads(str(extra[settings_entry])).get(SPLIT_ENTRY)
            return None if record is None else DataSplit.from_json(record)
    except (ValueError, AttributeError) as exc:  # JSON that is not, or not an object
        raise ModelFileError(f"{path} is a damaged gpubp model ({exc}); re-save or re-train the model") from None
    return None
