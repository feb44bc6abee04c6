"""The grid of ``gpubp sweep``: lists of flag values read through the knobs' own checks, their product, and its
groups (the members one network array can train together).

A flag's text lists its values separated by commas, or by ``/`` on the flags whose one value is itself a comma list
(``SEQUENCES``); data paths are taken whole (``PATHS``), and the ``NOT_LISTED`` knobs take one value. Each value is
parsed as ``gpubp train`` parses it (``settings.PARSERS``) and checked by its knob's rule, and each combination by
the configurations (``RunSettings.build``); a knob that a combination's choice does not read is dropped from it when
the choice is an axis, refused otherwise. Members whose ``GROUPED`` knobs agree share an array.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..data.config import FILE_SUFFIXES, DataConfig
from ..errors import GpubpError, InputError
from ..model.config import NetworkConfig
from ..training.array import SHARED
from .settings import CONFIGS, HIDDEN_DEFAULT, KNOBS, PARSERS, RunSettings, cli_default, flag_name, in_flags
from .train import resolve_sizes

SEQUENCES = ("sizes", "betas", "dropout", "activation")  # one value is a comma list: values are separated by "/"
PATHS = ("data", "data_dir", "weights")  # taken whole, as gpubp train takes them: a path may hold a comma
NOT_LISTED = (*DataConfig.knobs(), "validation_fraction", "checkpoint_every")
GROUPED = ("sizes", *(n for n in NetworkConfig.knobs() if n != "seed"), *SHARED)
DEFAULT_VALIDATION = 0.1


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
    net: object = (
        None  # an ordinary network equal to the member, once trained (on this process); never a diverged one's
    )
    diverged: str | None = None  # why it diverged (its TrainingDiverged, in flags); it then has no network

    def result(self) -> tuple:
        """What rank 0 needs of a member another process trained (``take``): picklable, host arrays."""
        parameters = None if self.net is None else self.net.parameters()
        return self.index, self.history, self.status, self.kept, self.diverged, parameters

    def take(self, result: tuple, device) -> None:
        from ..network import Network

        _, self.history, self.status, self.kept, self.diverged, parameters = result
        if parameters is not None:
            knobs = self.settings.network.to_dict()
            self.net = Network.from_parameters(self.settings.sizes, *parameters, device=device, **knobs)

    @property
    def score(self) -> float | None:
        """The validation score it is ranked by (None: it has none, having diverged; ranked last)."""
        score = None if self.kept is None else self.kept.validation_score
        return score if score is not None and math.isfinite(score) else None


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
    return {name: path_value(name, text) if name in PATHS else text for name, text in texts.items()}


def same_values(name: str, given: str, saved: str | None) -> bool:
    """Whether a flag's text gives the values that a sweep's stored text (``None``: not given, so its default) gave,
    each read as the grid reads it (data paths absolute; ``--sizes`` still as given, ``resolved_sizes`` compares
    those on the data's widths)."""
    return flag_values(name, given) == (default_values(name) if saved is None else flag_values(name, saved))


def resolved_sizes(text: str | None, n_in: int, n_out: int, outputs: str) -> list[list[int]]:
    """The layer widths a ``--sizes`` text (``None``: not given) lists, resolved on the data's widths."""
    values = default_values("sizes") if text is None else parse_values("sizes", text)
    return [resolve_sizes(sizes, n_in, n_out, outputs) for sizes in values]


def flag_values(name: str, text: str) -> list:
    values = parse_values(name, text)
    if name in PATHS:
        return [path_value(name, v) for v in values]
    return values


def path_value(name: str, value):
    """A data path absolute (a dataset's name as it is), as a sweep's checkpoint stores it."""
    if value is None or (name == "data" and Path(value).suffix.lower() not in FILE_SUFFIXES):
        return value
    return os.path.abspath(value)


def default_values(name: str) -> list:
    """The one value a sweep gives a flag it was not given."""
    if name == "sizes":
        return [HIDDEN_DEFAULT]
    if name == "validation_fraction":
        return [DEFAULT_VALIDATION]
    default = cli_default(name)
    return [path_value(name, default) if name in PATHS else CONFIGS[KNOBS[name][0]].check_one(name, default)]


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
            settings = RunSettings.build(
                {n: v for n, v in values.items() if n != "sizes"}, values.get("sizes", HIDDEN_DEFAULT)
            )
        except GpubpError as exc:
            raise refused({n: values.get(n) for n in axes}, exc) from None
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


def refused(values: dict, exc: GpubpError) -> InputError:
    """``exc`` as the refusal of the grid's configuration whose axes have ``values``."""
    described = " ".join(f"{flag_name(n)} {show(v)}" for n, v in values.items())
    return InputError(f"the grid's configuration {described}: {in_flags(exc)}" if described else str(in_flags(exc)))


def resolved(members: list[Member], n_in: int, n_out: int, outputs: str, rows: int) -> tuple[list[Member], int]:
    """The members with their sizes resolved on the data's widths (``n_in``, ``n_out``; ``rows`` training rows),
    each checked whole as ``gpubp train`` checks its run before claiming a folder (a refusal names the combination),
    and only the first of those whose resolved configurations are the same (renumbered); also how many repeated."""
    distinct, seen = [], set()
    for member in members:
        settings = member.settings
        try:
            settings.sizes = resolve_sizes(settings.sizes, n_in, n_out, outputs)
            key = resolved_key(settings, rows)
        except GpubpError as exc:
            raise refused(member.values, exc) from None
        if key not in seen:
            seen.add(key)
            member.index = len(distinct)
            distinct.append(member)
    return distinct, len(members) - len(distinct)


def resolved_key(settings: RunSettings, rows: int) -> tuple:
    """What a member trains, every knob filled in and per-layer knobs spelled per layer (a ``SettingError`` where
    they do not fit its sizes, or its batches the ``rows``): two members with the same key are the same run."""
    hidden = len(settings.sizes) - 2
    network, training = settings.network, settings.training
    training.rows(rows)
    per_layer = {
        "activation": network.hidden_activations(hidden),
        "init": network.inits(hidden),
        "dropout": training.dropout_rates(hidden),
    }
    values = {**network.to_dict(), **training.to_dict(), "sizes": settings.sizes, **per_layer}
    return tuple(sorted((name, repr(value)) for name, value in values.items()))


def grid_counts(given: dict, repeated: int) -> str:
    """The grid's headline: the distinct values given to each listed flag, and the combinations that repeat another
    once resolved (trained once)."""
    counts = " × ".join(f"{len(values)} {flag_name(n)}" for n, values in given.items() if len(values) > 1)
    merged = f"; {plural(repeated, 'combination')} the same as another once resolved, trained once" if repeated else ""
    return (counts or "no lists") + merged


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
