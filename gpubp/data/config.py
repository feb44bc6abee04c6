"""Where a run's data comes from, declared once: ``DataConfig`` (the dataset, its folder, the test fraction, the
CSV header rule, how many of a CSV file's columns are targets, the sample weights' file), read by ``read_dataset``
and built by the command line from ``--data``, ``--data-dir``, ``--test-fraction``, ``--header``, ``--targets``
and ``--weights`` (see ``gpubp.config``).

Three knobs apply to some data only, and are refused elsewhere rather than ignored, as a knob beside a choice that
does not read it is: the header rule and the target columns to a ``.csv`` file (an NPZ file's ``y`` has the shape
it has), the folder to a dataset of IDX files named by its name (``READ_BY``). The configuration refuses a value
other than the default; the command line also refuses the flag given at its default (``ignored``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config, Rule, SettingError, choice, knob, number, optional, whole
from .registry import BUILT_IN, REGISTRY_ENV_VAR

HEADER_CHOICES = ("auto", "yes", "no")
FILE_SUFFIXES = (".csv", ".npz")


def is_csv(data: str) -> bool:
    return Path(data).suffix.lower() == ".csv"


def is_named_idx_set(data: str) -> bool:
    """Whether ``data`` names a dataset of IDX files (mnist and the like), not digits or a file."""
    return data != "digits" and Path(data).suffix.lower() not in FILE_SUFFIXES


READ_BY = {
    "header": ("a .csv file", is_csv),
    "targets": ("a .csv file", is_csv),
    "data_dir": ("a dataset of IDX files such as mnist", is_named_idx_set),
}


def named(value) -> bool:
    """A non-empty string: an empty one (an unset shell variable) would silently mean the current folder."""
    return isinstance(value, str) and value.strip() != ""


@dataclass(frozen=True)
class DataConfig(Config):
    """A dataset by name or path, the folder of an IDX dataset, the share held out for testing, the header rule, the
    target columns, and the sample weights."""

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
    targets: int = knob(
        1,
        whole(1),
        "how many of a CSV file's first columns are targets, the rest being features: 1, the label column (or a "
        "regression's one target); K > 1, a regression's K targets, one output each (an NPZ file's y of shape (n, k) "
        "says so itself)",
        what="the number of target columns",
        flag="--targets",
        metavar="K",
    )
    weights: str | None = knob(
        None,
        optional(Rule("a file", named, str), "every row weighs 1"),
        "sample weights: a .csv or .txt file of one number >= 0 per line (a first line that is not a number is a "
        "header) or a .npy array; one weight per row of the data in file order, before the test split (test rows are "
        "scored unweighted), or for data with a test set of its own one per training row",
        what="the sample weights",
        flag="--weights",
        metavar="FILE",
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
