"""Every read of a file the user names — CSV, NPZ, IDX, model — goes through here, so every way it can fail is one
error naming the file.

``opened`` checks that the path is a regular file (not missing, not a folder, not a FIFO or device, whose reads
could block or never end) and no larger than the memory available, then turns any ``OSError`` raised while the
file is read (permission denied, an I/O error, a file that vanishes) into the caller's error class. ``read_npz``
reads an ``.npz`` archive of plain arrays, never unpickling anything. ``same_file`` tells whether two paths name
one file, whatever their spelling (symlinks, hard links), so that no command ever writes over or removes a file
it reads.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..backend.memory import host_available
from ..errors import DataError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first entry, or an empty archive's end record
NPY_MAGIC = b"\x93NUMPY"
DATA_NPZ = "NPZ file"  # what read_npz calls a dataset's archive, whose fix is numpy.savez(path, X=X, y=y)


def check_memory(nbytes: int, what: str, error=DataError) -> None:
    """Refuse, with the figure, to allocate ``nbytes`` for ``what`` when this machine has less memory available
    (``backend/memory.py``: what it can give without swapping or its out-of-memory killer)."""
    available = host_available()
    if nbytes > available:
        raise error(
            f"{what} would need {nbytes / 2**30:,.1f} GiB of memory but this machine has {available / 2**30:,.1f} "
            f"GiB available"
        )


@contextmanager
def opened(path, error=DataError, what: str = "file", hint: str = ""):
    """``path`` opened for binary reading; any failure while it is open or read raises ``error`` naming it."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist{hint}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise error(f"{what} {path!s:.200} cannot be read: {getattr(exc, 'strerror', None) or exc}{hint}") from None
    if stat.S_ISDIR(mode):
        raise error(f"{what} {path} is a folder, not a file{hint}")
    if not stat.S_ISREG(mode):
        raise error(
            f"{what} {path} is not a regular file (a pipe, socket or device): save the data to a file first{hint}"
        )
    check_memory(path.stat().st_size, f"reading {path}", error)
    try:
        with path.open("rb") as f:
            yield f
    except (OSError, EOFError, zlib.error) as exc:
        detail = getattr(exc, "strerror", None) or exc
        raise error(
            f"{what} {path} cannot be read ({detail}): check the file and its permissions, or copy it again{hint}"
        ) from None


def same_file(path, other) -> bool:
    """Whether ``path`` and ``other`` are the same file (False where either cannot be looked at)."""
    try:
        return os.path.samefile(path, other)
    except (OSError, ValueError):  # a path that cannot be compared cannot be the other file either
        return False


def read_bytes(path, error=DataError, what: str = "file", hint: str = "") -> bytes:
    """The whole content of ``path`` (see ``opened``)."""
    with opened(path, error, what, hint) as f:
        return f.read()


def read_npz(path, error=DataError, what: str = DATA_NPZ, hint: str = "") -> dict:
    """Every array in an ``.npz`` archive, as plain NumPy arrays; anything else raises ``error`` saying what it is."""
    raw = read_bytes(path, error, what, hint)
    if raw.startswith(NPY_MAGIC):
        fix = ": save it with numpy.savez(path, X=X, y=y)" if what == DATA_NPZ else ""
        raise error(f"{path} is a single .npy array, not an .npz archive of named arrays{fix}{hint}")
    if not raw.startswith(ZIP_MAGIC):
        raise error(
            f"{path} is not a readable {what}: it is corrupt, truncated or not an .npz archive of plain "
            f"arrays (it does not start like a zip archive){hint}"
        )
    try:
        check_memory(
            sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(raw)).infolist()), f"unpacking {path}", error
        )
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise error(
                f"{path} holds an array of Python objects, which gpubp never loads (it would run code "
                f"from the file): save only numeric arrays{hint}"
            ) from None
        problem = exc
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        KeyError,
        zlib.error,
        NotImplementedError,
        MemoryError,
        UnicodeDecodeError,
    ) as exc:
        problem = exc
    raise error(
        f"{path} is not a readable {what}: it is corrupt, truncated or not an .npz archive of plain "
        f"arrays ({type(problem).__name__}: {str(problem)[:200]}){hint}"
    )
