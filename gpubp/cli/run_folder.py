"""The run folder of ``gpubp train``: claimed by one process at a time, holding the files of exactly one run.

Claiming creates the folder with ``os.mkdir`` (so two default runs started in the same second get two folders,
the second taking the next free ``-2``, ``-3``… name) and takes an exclusive ``flock`` on ``.gpubp.lock`` inside it
for as long as the run lives; the run removes the file as it ends. The kernel drops the lock when the process
ends, even after ``kill -9``, so a lock never outlives its run (a file left by ``kill -9`` is simply locked
again), and a second ``gpubp train`` on the same folder is refused at once instead of writing into it. The claim
happens before training, so a folder that cannot be created is reported before any epoch runs. Holding the lock,
the run removes the temporary files an earlier killed run's atomic writes left behind. Which files make a run is
the command's (``COMMAND_FILES``: names, or patterns such as ``members/*.npz``); an earlier run in the folder is
one of either command (``ANY_RUN_FILES``), which ``--force`` replaces whole, and no other file in the folder is ever
listed, replaced or removed. The lock file names the command holding it, so a second one is told which.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import InputError

LOCK_NAME = ".gpubp.lock"
RUN_FILES = ("model.npz", "metrics.jsonl", "learning_curve.png", "checkpoint.npz")
SWEEP_FILES = (
    "model.npz",
    "metrics.jsonl",
    "summary.csv",
    "validation_curves.png",
    "members/*.npz",
    "checkpoints/group-*.npz",
)
COMMAND_FILES = {"train": RUN_FILES, "sweep": SWEEP_FILES}
ANY_RUN_FILES = tuple(dict.fromkeys(name for files in COMMAND_FILES.values() for name in files))
MAX_SAME_SECOND = 1000


class RunFolder:
    """A claimed run folder; ``release()`` gives it up (and removes it if this run created it and wrote nothing)."""

    def __init__(self, path: Path, created: bool, lock_fd: int):
        self.path, self.created, self.lock_fd = path, created, lock_fd

    def run_files(self) -> list[str]:
        """The run files present, of either command: an earlier run's, or this one's once it has written them."""
        return present(self.path, ANY_RUN_FILES)

    def remove(self, names) -> None:
        for name in names:
            (self.path / name).unlink(missing_ok=True)
        for folder in {(self.path / name).parent for name in names} - {self.path}:
            try:  # a folder of run files (a sweep's members/) goes with its last one
                folder.rmdir()
            except OSError:
                pass  # something else is in it: leave it

    def release(self) -> None:
        if self.lock_fd < 0:
            return
        (self.path / LOCK_NAME).unlink(missing_ok=True)  # still held: whoever opened it meanwhile takes a new one
        if self.created and not self.run_files():
            try:  # nothing of this run's is there: leave no empty folder behind
                self.path.rmdir()
            except OSError:
                pass  # something else was put there meanwhile: leave it
        os.close(self.lock_fd)
        self.lock_fd = -1


def present(path: Path, files) -> list[str]:
    """The run files (names or patterns, ``files``) present in ``path``, as paths relative to it."""
    return [str(p.relative_to(path)) for pattern in files for p in sorted(path.glob(pattern)) if p.is_file()]


def claim(path: Path, fresh: bool = False, command: str = "train") -> RunFolder:
    """Claim ``path`` for a run of ``command``; with ``fresh``, only a folder this call creates (else
    ``FileExistsError``)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_create(path, exc) from None
    created = True
    try:
        path.mkdir()
    except FileExistsError:
        if fresh:
            raise
        created = False
    except OSError as exc:
        raise cannot_create(path, exc) from None
    if not path.is_dir():
        raise InputError(f"--out {path} is a file, not a folder: name a folder for the run")
    while True:
        try:
            lock_fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise cannot_create(path, exc) from None
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = holding_command(lock_fd)
            os.close(lock_fd)
            raise InputError(
                f"{path} is in use by another {holder} that is still running: wait for it to end, "
                f"or choose another --out"
            ) from None
        if is_lock_file(lock_fd, path / LOCK_NAME):
            break
        os.close(lock_fd)  # locked just as the run holding it removed it on its way out: take a fresh one
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, f"gpubp {command}\n".encode())
    folder = RunFolder(path, created, lock_fd)
    remove_stale_temporary_files(path)
    return folder


def holding_command(lock_fd: int) -> str:
    """The command that holds a lock file (what it wrote there; a plain gpubp run where it has not yet)."""
    written = os.pread(lock_fd, 64, 0).decode(errors="replace").strip()
    return written if written.startswith("gpubp ") and written[6:] in COMMAND_FILES else "gpubp run"


def claim_new(parent: Path, stamp: str, command: str = "train") -> RunFolder:
    """A new folder ``parent/stamp``, or the first free ``parent/stamp-2``, ``-3``… (each try one ``mkdir``)."""
    for suffix in [""] + [f"-{k}" for k in range(2, MAX_SAME_SECOND)]:
        try:
            return claim(parent / f"{stamp}{suffix}", fresh=True, command=command)
        except FileExistsError:
            continue
    raise InputError(f"{parent} already holds {MAX_SAME_SECOND} runs named {stamp}*: name a folder with --out")


def is_lock_file(lock_fd: int, lock_path: Path) -> bool:
    """Whether the file locked is still the one at ``lock_path`` (not one its last holder has removed)."""
    try:
        here, locked = os.stat(lock_path), os.fstat(lock_fd)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (locked.st_dev, locked.st_ino)


def cannot_create(path: Path, exc: OSError) -> InputError:
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        reason = f"{exc.filename or path} is a file, not a folder"
    else:
        reason = f"{exc.strerror or exc}{where}"
    return InputError(f"cannot create the run folder {path}: {reason}; choose a writable --out")


def remove_stale_temporary_files(path: Path) -> None:
    """The ``.NAME.*.tmp`` files that ``atomic_write`` leaves only when its process is killed mid-write."""
    for pattern in ANY_RUN_FILES:
        where = Path(pattern)
        for stale in path.glob(str(where.parent / f".{where.name}.*.tmp")):
            stale.unlink(missing_ok=True)
