"""``gpubp data list | fetch NAME... | path NAME``: the downloadable datasets, fetching them, and where they are.

Each command looks where ``gpubp train --data NAME`` would read (``download.folder_for``), so what it reports is
what training will use, and checks each file found there (``download.check_cached``): ``list`` marks a damaged
file, ``fetch`` replaces it in the cache. Progress goes to stderr; ``path`` prints the bare folder on stdout, for
scripts.
"""

from __future__ import annotations

import sys

from ..data import registry
from ..data.download import DEFAULT_MNIST_DIR, Progress, check_cached, folder_for, locate
from ..errors import DataError


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def status(dataset):
    """``(folder, the state of each file)`` of a dataset where training would read it."""
    folder = folder_for(dataset)
    return folder, [check_cached(folder, f) for f in dataset.files]


def data_list(args) -> int:
    known = registry.datasets()
    found = {name: status(dataset) for name, dataset in known.items()}  # before any output: an error is one line
    width = max(len(name) for name in known)
    print(f"{'dataset':<{width}}  {'status':<15} {'size':>9}  folder")
    damaged = []
    for name, dataset in known.items():
        folder, files = found[name]
        bad = [cached for cached in files if cached.path is not None and cached.problem is not None]
        good = [cached for cached in files if cached.good]
        if bad:
            state, size = f"{len(bad)} damaged", dataset.size
            damaged += [(name, folder, cached) for cached in bad]
        elif len(good) == len(dataset.files):
            state, size = "cached", sum(cached.path.stat().st_size for cached in good)
        else:
            state = "not downloaded" if not good else f"{len(good)} of {len(dataset.files)} files"
            size = dataset.size
        print(f"{name:<{width}}  {state:<15} {megabytes(size):>9}  {folder}")
    print(
        "size: on disk where cached, else to download; gpubp data fetch NAME downloads, and so does the first "
        "gpubp train --data NAME"
    )
    for name, folder, cached in damaged:
        fix = "replace it" if folder == DEFAULT_MNIST_DIR else f"gpubp data fetch {name} replaces it"
        print(f"damaged: {cached.path} {cached.problem}: {fix}")
    return 0


def data_fetch(args) -> int:
    progress = Progress()
    for dataset in [registry.get(name) for name in args.names]:
        folder = locate(dataset, progress=progress)
        bad = [(f, cached) for f in dataset.files if not (cached := check_cached(folder, f)).good]
        if bad:  # only the user's own data/mnist, which gpubp reads but never writes into
            problems = [
                f"{cached.path} {cached.problem}" if cached.path else f"{f.stem} is missing" for f, cached in bad
            ]
            raise DataError(
                f"{folder} exists and gpubp reads it before the cache, but {'; '.join(problems)}: put the files "
                f"right in it, or move it away to let gpubp download into the cache"
            )
        where = " (./data/mnist is read before the cache)" if folder == DEFAULT_MNIST_DIR else ""
        print(f"{dataset.name}: {len(dataset.files)} files in {folder}{where}")
    return 0


def data_path(args) -> int:
    dataset = registry.get(args.name)
    folder, files = status(dataset)
    print(folder)
    if not all(cached.good for cached in files):
        state = "has damaged files" if any(cached.problem for cached in files) else "is not downloaded yet"
        print(
            f"({dataset.name} {state}: gpubp data fetch {dataset.name}, or the first gpubp train --data "
            f"{dataset.name}, puts it there)",
            file=sys.stderr,
        )
    return 0
