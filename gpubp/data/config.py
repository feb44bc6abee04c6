"""Where a run's data comes from, declared once: ``DataConfig`` (the dataset, its folder, the test fraction, the
CSV header rule), read by ``load_dataset`` and built by the command line from ``--data``, ``--data-dir``,
``--test-fraction`` and ``--header`` (see ``gpubp.config``).

Two knobs apply to some data only, and are refused elsewhere rather than ignored, as a knob beside a choice that
does not read it is: the header rule to a ``.csv`` file, the folder to a dataset of IDX files named by its name
(``READ_BY``). The configuration refuses a value other than the default; the command line also refuses the flag
given at its default (``ignored``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config, Rule, SettingError, choice, knob, number, optional
from .registry import BUILT_IN, REGISTRY_ENV_VAR

HEADER_CHOICES = ("auto", "yes", "no")
FILE_SUFFIXES = (".csv", ".npz")


def is_csv(data: str) -> bool:
    return Path(data).suffix.lower() == ".csv"


def is_named_idx_set(data: str) -> bool:
    """Whether ``data`` names a dataset of IDX files (mnist and the like), not digits or a file."""
    return data != "digits" and Path(data).suffix.lower() not in FILE_SUFFIXES


READ_BY = {"header": ("a .csv file", is_csv), "data_dir": ("a dataset of IDX files such as mnist", is_named_idx_set)}


def named(value) -> bool:
    """A non-empty string: an empty one (an unset shell variable) would silently mean the current folder."""
    return isinstance(value, str) and value.strip() != ""


@dataclass(frozen=True)
class DataConfig(Config):
    """A dataset by name or path, the folder of an IDX dataset, the share held out for testing, and the header rule."""

    data: str = knob(
        "digits",
        Rule(
            f"a dataset's name (digits, {', '.join(BUILT_IN)}, or one of ${REGISTRY_ENV_VAR}) or the path of a .csv "
            f"or .npz file",
            named,
            str,
        ),
        "digits (bundled); mnist, fashion-mnist or kmnist (downloaded on first use, see gpubp data); or a .csv / .npz "
        "file",
        what="the dataset",
        flag="--data",
        metavar="NAME|FILE",
    )
    data_dir: str | None = knob(
        None,
        optional(Rule("a folder", named, str), "the usual places"),
        "folder with the dataset's four IDX files, raw or .gz, used instead of the cache (default: data/mnist for "
        "mnist if it exists, else the cache: gpubp data path NAME)",
        what="the dataset's folder",
        flag="--data-dir",
        metavar="FOLDER",
    )
    test_fraction: float = knob(
        0.2,
        number(0, 1, low_open=True, high_open=True),
        "share held out for testing where the data has no test set of its own",
        what="the test fraction",
        flag="--test-fraction",
        metavar="F",
    )
    header: str = knob(
        "auto",
        choice(*HEADER_CHOICES),
        "whether a CSV file's first row is a header: yes, no, or auto: a header iff none of its cells is a number",
        what="the CSV header rule",
        flag="--header",
        metavar="|".join(HEADER_CHOICES),
    )

    @classmethod
    def applies(cls):
        return {name: ("data", (what,)) for name, (what, _) in READ_BY.items()}

    @classmethod
    def ignored(cls, given, values) -> list[str]:
        return [name for name in given if name in READ_BY and not READ_BY[name][1](values["data"])]

    @classmethod
    def not_read(cls, name: str, values) -> SettingError:
        return SettingError(f"{{{name}}} applies to {READ_BY[name][0]}, not to {values['data']}: drop {{{name}}}", name)
