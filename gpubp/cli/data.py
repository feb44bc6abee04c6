"""``gpubp data list | fetch NAME... | path NAME``: the downloadable datasets, fetching them, and where they are.

Each command looks where ``gpubp train --data NAME`` would read (``download.folder_for``), so what it reports is
what training will use. Progress goes to stderr; ``path`` prints the bare folder on stdout, for scripts.
"""

from __future__ import annotations

import sys

from ..data import registry
from ..data.download import DEFAULT_MNIST_DIR, Progress, folder_for, locate, present
from ..errors import DataError


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def status(dataset):
    """``(folder, files present, bytes on disk)`` of a dataset where training would read it."""
    folder = folder_for(dataset)
    found = [path for path in (present(folder, f) for f in dataset.files) if path is not None]
    return folder, len(found), sum(path.stat().st_size for path in found)


def data_list(args) -> int:
    known = registry.datasets()
    width = max(len(name) for name in known)
    print(f"{'dataset':<{width}}  {'status':<15} {'size':>9}  folder")
    for name, dataset in known.items():
        folder, count, on_disk = status(dataset)
        if count == len(dataset.files):
            state, size = "cached", on_disk
        else:
            state = "not downloaded" if count == 0 else f"{count} of {len(dataset.files)} files"
            size = dataset.size
        print(f"{name:<{width}}  {state:<15} {megabytes(size):>9}  {folder}")
    print(
        "size: on disk where cached, else to download; gpubp data fetch NAME downloads, and so does the first "
        "gpubp train --data NAME"
    )
    return 0


def data_fetch(args) -> int:
    progress = Progress()
    for dataset in [registry.get(name) for name in args.names]:
        folder = locate(dataset, progress=progress)
        missing = [f.stem for f in dataset.files if present(folder, f) is None]
        if missing:  # only the user's own data/mnist, which gpubp reads but never writes into
            raise DataError(
                f"{folder} exists but lacks {', '.join(missing)}, and gpubp reads it before the "
                f"cache: add the files to it, or move it away to let gpubp download into the cache"
            )
        where = " (./data/mnist is read before the cache)" if folder == DEFAULT_MNIST_DIR else ""
        print(f"{dataset.name}: {len(dataset.files)} files in {folder}{where}")
    return 0


def data_path(args) -> int:
    dataset = registry.get(args.name)
    folder, count, _ = status(dataset)
    print(folder)
    if count < len(dataset.files):
        print(
            f"({dataset.name} is not downloaded yet: gpubp data fetch {dataset.name}, or the first gpubp train "
            f"--data {dataset.name}, puts it there)",
            file=sys.stderr,
        )
    return 0
