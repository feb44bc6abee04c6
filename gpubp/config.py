"""Declaring a knob once: its type and range or choices, its default, what it applies to, its help and its names.

A configuration is a frozen dataclass whose fields are made by ``knob(...)``, in the manner of nanoGPT's config
block and scikit-learn's ``_parameter_constraints``: constructing one normalizes and checks every value, so a
configuration that exists is valid. Each face of gpubp derives from the declarations: ``Network`` and
``Network.SGD`` take the fields as keywords (``help()`` shows them with their defaults), the command line builds a
flag per knob with its help and "(default …)", checkpoints store ``to_dict()``, and the estimator maps its
parameters onto the fields. A bad value raises one ``SettingError`` naming the knob; each face names it in its own
words (``--lr`` on the command line, ``learning_rate_init`` in the estimator) through ``GpubpError.renamed``.

Names are case-insensitive everywhere: a choice is compared after ``strip().lower()`` (``"ADAM"`` is ``adam``).
A knob that only some choices read (momentum's μ, read by the momentum and Nesterov rules) declares them in
``applies_to``: a value other than its default beside a choice that ignores it is refused, never ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np

from .errors import InputError


class SettingError(InputError):
    """A knob whose value is out of its range, or that does not fit the others; its message names the knobs as
    placeholders (see ``gpubp.errors``), the first being the knob at fault."""


# ----- what a value must be --------------------------------------------------------------------------------------


def is_whole(value) -> bool:
    """An integer, NumPy's included; not a bool (``True`` would pass for 1) and not ``5.0``."""
    return isinstance(value, (Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """A finite real number, NumPy's included; not a bool and not a string."""
    return (
        isinstance(value, (Real, np.floating, np.integer))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(value)
    )


@dataclass(frozen=True)
class Rule:
    """What a knob's value must be: ``rule(value)`` is the value normalized, or a ``ValueError`` saying
    "must be <requirement>, got <value>"."""

    requirement: str
    accepts: Callable[[Any], bool]
    normalize: Callable[[Any], Any]
    none_means: str | None = None  # what None stands for, where the rule takes it (``optional``)

    def __call__(self, value):
        if not self.accepts(value):
            raise ValueError(f"must be {self.requirement}, got {value!r}")
        return self.normalize(value)


def whole(minimum: int) -> Rule:
    return Rule(f"a whole number >= {minimum}", lambda v: is_whole(v) and v >= minimum, int)


def number(low: float | None = None, high: float | None = None, *, low_open=False, high_open=False) -> Rule:
    """A finite real number in the interval the bounds give (``None``: unbounded on that side)."""
    if low is not None and high is not None:
        interval = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        interval = f" {'>' if low_open else '>='} {low:g}"
    else:
        interval = "" if high is None else f" {'<' if high_open else '<='} {high:g}"

    def accepts(v) -> bool:
        if not is_real(v):
            return False
        above = low is None or (v > low if low_open else v >= low)
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    return Rule("a finite number" + interval, accepts, float)


def choice(*names: str) -> Rule:
    """One of ``names``, in any case and with any surrounding spaces; normalized to the lower-case name."""

    def normalize(value):
        return value.strip().lower() if isinstance(value, str) else value

    return Rule(f"one of {', '.join(names)}", lambda v: normalize(v) in names, normalize)


def optional(rule: Rule, meaning: str) -> Rule:
    """``None`` (which means ``meaning``) or what ``rule`` accepts."""
    return Rule(
        f"{rule.requirement} (or None: {meaning})",
        lambda v: v is None or rule.accepts(v),
        lambda v: None if v is None else rule.normalize(v),
        meaning,
    )


# ----- declarations ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knob:
    """What gpubp knows about one knob, beside its field's name and default."""

    check: Rule
    help: str  # what it does and when to change it, for --help and the docs
    what: str = ""  # what it is, in words, for messages: "the learning rate η"
    applies_to: tuple[str, tuple[str, ...]] | None = None  # (choice knob, the choices that read this one)
    flag: str | None = None  # the command line's flag
    flag_default: Any = None  # the command line's default, where it differs (its seed is 0: runs repeat)
    metavar: str | None = None
    estimator: str | None = None  # the scikit-learn estimator's parameter, where it has one

    def problem(self, name: str, reason: str) -> str:
        return f"{{{name}}}{f' ({self.what})' if self.what else ''} {reason}"


def knob(default, check: Rule, help: str, **declaration) -> Any:
    """A dataclass field declaring a knob (see ``Knob``)."""
    return field(default=default, metadata={"knob": Knob(check, help, **declaration)})


class Config:
    """The base of a configuration: a frozen dataclass whose fields are ``knob``s (see the module docstring)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, self.check_one(f.name, getattr(self, f.name)))
        values = self.to_dict()
        for name in self.ignored(self.applies(), values):
            if values[name] != self.defaults()[name]:
                raise self.not_read(name, values)
        self.check_together()

    def check_together(self) -> None:
        """Checks of several knobs at once; a configuration overrides it where it has any."""

    @classmethod
    def check_one(cls, name: str, value):
        """``value`` normalized by knob ``name``'s rule alone, or its ``SettingError``: for a value a face needs
        before it can build the whole configuration."""
        declared = cls.knobs()[name]
        try:
            return declared.check(value)
        except ValueError as exc:
            raise SettingError(declared.problem(name, str(exc)), name) from None

    @classmethod
    def knobs(cls) -> Mapping[str, Knob]:
        """Each knob's declaration, by name (read-only: computed once per class, since every check reads it)."""
        return _declared(cls)[0]

    @classmethod
    def defaults(cls) -> Mapping[str, Any]:
        """Each knob's default, by name (read-only, as ``knobs``)."""
        return _declared(cls)[1]

    @classmethod
    def applies(cls) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Each knob that only some choices read, with the knob that chooses and the choices that read it."""
        return {name: k.applies_to for name, k in cls.knobs().items() if k.applies_to is not None}

    @classmethod
    def ignored(cls, given, values: Mapping[str, Any]) -> list[str]:
        """The knobs of ``given`` that the choices in ``values`` do not read (a flag given for nothing)."""
        applies = cls.applies()

        def read(name) -> bool:  # a chooser may hold one choice or several (one per layer, say)
            chooser, readers = applies[name]
            chosen = values[chooser] if isinstance(values[chooser], tuple) else (values[chooser],)
            return any(c in readers for c in chosen)

        return [name for name in given if name in applies and not read(name)]

    @classmethod
    def not_read(cls, name: str, values: Mapping[str, Any]) -> SettingError:
        """The error for knob ``name`` set beside a choice that does not read it."""
        chooser, readers = cls.applies()[name]
        needed, chosen = " or ".join(readers), values[chooser]
        chosen = ",".join(map(str, chosen)) if isinstance(chosen, (tuple, list)) else chosen  # as a flag writes it
        return SettingError(
            f"{{{name}}} applies to {{{chooser}}} {needed}, not {chosen}: choose {needed}, or drop {{{name}}}",
            name,
            chooser,
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], missing: Mapping[str, Any] = ()):
        """The configuration ``to_dict`` wrote; a knob added since it was written takes its value from ``missing``
        (what older runs had), and any other knob missing or unknown raises ``SettingError``."""
        values = {**dict(missing), **values}
        names = set(cls.knobs())
        absent, unknown = sorted(names - set(values)), sorted(set(values) - names)
        if absent:
            raise SettingError(f"settings {', '.join(absent)} missing", *absent)
        if unknown:
            raise SettingError(f"unknown settings {', '.join(unknown)}", *unknown)
        return cls(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        """The knobs' values, JSON-ready."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes):
        """A copy with ``changes``, checked like any configuration."""
        return dataclasses.replace(self, **changes)


@functools.cache
def _declared(cls) -> tuple[Mapping[str, Knob], Mapping[str, Any]]:
    """A configuration class's knobs and defaults (its fields never change; a fit reads them a few dozen times)."""
    fields = dataclasses.fields(cls)
    knobs = types.MappingProxyType({f.name: f.metadata["knob"] for f in fields})
    return knobs, types.MappingProxyType({f.name: f.default for f in fields})
