"""Where a run's data comes from, declared once: ``DataConfig`` (the dataset, its folder, the test fraction, the
CSV header rule), read by ``load_dataset`` and built by the command line from ``--data``, ``--data-dir``,
``--test-fraction`` and ``--header`` (see ``gpubp.config``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, Rule, choice, knob, number, optional

HEADER_CHOICES = ("auto", "yes", "no")


def named(value) -> bool:
    """A non-empty string: an empty one (an unset shell variable) would silently mean the current folder."""
    return isinstance(value, str) and value.strip() != ""


@dataclass(frozen=True)
class DataConfig(Config):
    """A dataset by name or path, the folder of an IDX dataset, the share held out for testing, and the header rule."""

    data: str = knob(
        "digits",
        Rule(
            "a dataset's name (digits, mnist, fashion-mnist, kmnist, or one of $GPUBP_DATA_REGISTRY) or the path "
            "of a .csv or .npz file",
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
