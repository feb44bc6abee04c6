"""Where a downloadable dataset's files are, and fetching them on first use, verified, into a cache.

Which folder ``--data NAME`` reads, first match wins: ``--data-dir`` (the user's folder, used as it is and never
downloaded into); for ``mnist`` only, ``./data/mnist`` if it exists (where gpubp has always looked); else the
cache, ``$GPUBP_DATA``, else ``$XDG_CACHE_HOME/gpubp``, else ``~/.cache/gpubp``, one folder per dataset.

A file already in the cache is used only once it is checked (``check_cached``): a ``.gz`` file under its published
name must have the registry's size and checksum; any other file the reader would take (a raw IDX file, the
``train-images.idx3-ubyte`` spelling) must hold exactly the values its IDX header promises. A damaged file — short,
long, a bad checksum or CRC, a folder of that name — is reported as such by ``gpubp data list`` and replaced by the
next download; a folder is never removed, only named. Only files that are missing or damaged are downloaded.

A download tries ``$GPUBP_DATA_MIRROR`` (a base URL) first, then the registry's URLs in order, each with a
timeout. It streams into a hidden temporary file beside the target, stops at the size the registry gives,
checks the checksum, and only then renames the file into place (atomic within a folder), so a data file is
whole and verified or absent; a mismatch deletes the temporary file and says so. Two processes that fetch at
once take turns on an ``fcntl.flock`` on ``.lock`` in the dataset's folder: the second waits and then finds the
files in place, so each file is downloaded once. Where a filesystem has no flock, the renames alone still leave
one good copy (each process verifies its own temporary file; both renames put identical bytes in place). A
download that fails leaves no folder behind that it created, and no lock file in it.

It uses the standard library's ``urllib``: four files over plain HTTP(S) with a timeout need no client that
would become a dependency of every install; tqdm, already in the ``cli`` extra, draws the bar when present.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from .. import __version__
from ..errors import DataError
from .idx import find_file, header_size, magic_of, read_header
from .registry import DataFile, Dataset, check_url

CACHE_ENV_VAR, MIRROR_ENV_VAR = "GPUBP_DATA", "GPUBP_DATA_MIRROR"
DEFAULT_MNIST_DIR = Path("data") / "mnist"
TIMEOUT_S = 30  # for connecting and for each read: a stalled server moves on to the next mirror
CHUNK = 1 << 16
UMASK = os.umask(0o022)
os.umask(UMASK)

try:
    import fcntl
except ImportError:  # Windows has no fcntl: the atomic renames alone still leave one good copy
    fcntl = None


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if Path(xdg).is_absolute() else Path.home() / ".cache"  # the XDG spec ignores relative paths
    return base / "gpubp"


def cache_folder(dataset: Dataset) -> Path:
    root = cache_root()
    if os.path.exists(root) and not os.path.isdir(root):  # os.path: an unreadable parent is not a traceback
        raise DataError(f"the dataset cache {root} is a file, not a folder: set {CACHE_ENV_VAR} to a folder")
    return root / dataset.name


def present(folder: Path, file: DataFile):
    """The file as ``idx.find_file`` would read it (raw or ``.gz``), or ``None``."""
    try:
        return find_file(folder, file.stem)
    except (DataError, OSError):  # OSError: a folder that cannot be searched, which downloading will report
        return None


@dataclass(frozen=True)
class Cached:
    """A dataset file where the reader would find it: its ``path`` (None: there is none) and what is wrong with
    it (None: nothing)."""

    path: Path | None
    problem: str | None = None

    @property
    def good(self) -> bool:
        return self.path is not None and self.problem is None


def check_cached(folder: Path, file: DataFile) -> Cached:
    """``file`` in ``folder``, checked (see the module docstring)."""
    path = present(folder, file)
    return Cached(path, None if path is None else problem_of(path, file))


def problem_of(path: Path, file: DataFile) -> str | None:
    """What makes ``path`` other than ``file``, in words, or None where it is ``file`` (or, for a file the registry
    has no checksum of, a whole IDX file)."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            return "is a folder, not a file"
        if not stat.S_ISREG(info.st_mode):
            return "is not a regular file"
        if path.name == file.name:
            if info.st_size != file.size:
                return f"has {info.st_size:,} bytes, where the published file has {file.size:,}"
            algorithm, _, expected = file.checksum.partition(":")
            digest = hashlib.new(algorithm, usedforsecurity=False)
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK * 16):
                    digest.update(chunk)
            found = digest.hexdigest()
            return None if found == expected else f"has {algorithm} {found}, where the published file has {expected}"
        with open(path, "rb") as raw:
            f = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
            shape = read_header(f, path, magic_of(file.stem))
            if f is raw:
                body = info.st_size - header_size(shape)
            else:
                body = 0
                while chunk := f.read(CHUNK * 16):
                    body += len(chunk)
    except DataError as exc:
        return f"is not a whole IDX file ({str(exc).removeprefix(str(path)).strip(' :')})"
    except (OSError, EOFError, zlib.error) as exc:
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    promised = math.prod(shape)
    return None if body == promised else f"holds {body:,} values where its IDX header promises {promised:,}"


def folder_for(dataset: Dataset, data_dir=None) -> Path:
    """The folder ``--data NAME`` reads (see the module docstring for the order)."""
    if data_dir is not None:
        return Path(data_dir)
    if dataset.name == "mnist" and os.path.isdir(DEFAULT_MNIST_DIR):
        return DEFAULT_MNIST_DIR
    return cache_folder(dataset)


def mirror_bases() -> list[str]:
    """``[$GPUBP_DATA_MIRROR]`` as a base URL ending in "/", or ``[]``."""
    mirror = os.environ.get(MIRROR_ENV_VAR, "")
    return [check_url(mirror, MIRROR_ENV_VAR).rstrip("/") + "/"] if mirror else []


class Progress:
    """A tqdm bar per file on a terminal (where tqdm is installed), else a line when each file starts and ends."""

    def __init__(self, stream=None, bar=None):
        self.stream = stream or sys.stderr
        self.tqdm = None
        if bar if bar is not None else self.stream.isatty():
            try:
                from tqdm import tqdm

                self.tqdm = tqdm
            except ImportError:
                pass

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @contextmanager
    def file(self, url: str, size: int):
        self.say(f"downloading {url} ({size:,} bytes)")
        if self.tqdm is None:
            yield lambda n: None
            return
        with self.tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=self.stream,
            leave=False,
            desc=url.rsplit("/", 1)[-1],
            dynamic_ncols=True,
        ) as bar:
            yield bar.update


class SourceFailed(Exception):
    """One URL did not give the file; the message says why, and the next URL is tried. ``started``: its
    download had begun (and been announced), so the reason is printed at once rather than only at the end."""

    def __init__(self, message: str, started: bool = True):
        super().__init__(message)
        self.started = started


def download_to(url: str, file: DataFile, out, progress: Progress) -> None:
    """Stream ``url`` into the open file ``out``, checking its size and checksum; network trouble is a
    ``SourceFailed``, trouble writing ``out`` an ``OSError``."""
    algorithm, _, expected = file.checksum.partition(":")
    digest = hashlib.new(algorithm, usedforsecurity=False)
    received = 0
    request = urllib.request.Request(url, headers={"User-Agent": f"gpubp/{__version__}"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise SourceFailed(f"HTTP {exc.code} {exc.reason}", started=False) from None
    except urllib.error.URLError as exc:
        raise SourceFailed(str(exc.reason), started=False) from None
    except (OSError, HTTPException, ValueError) as exc:  # refused, reset, timed out, not HTTP
        raise SourceFailed(f"{type(exc).__name__}: {exc}", started=False) from None
    with response, progress.file(url, file.size) as step:
        while True:
            try:
                chunk = response.read1(CHUNK)  # what has arrived, so a stall shows where it stopped
            except (OSError, HTTPException) as exc:  # a reset, a timeout, a connection dropped mid-file
                raise SourceFailed(
                    f"the connection failed after {received:,} of {file.size:,} bytes ({type(exc).__name__})"
                ) from None
            if not chunk:
                break
            received += len(chunk)
            if received > file.size:
                raise SourceFailed(f"it sent more than the expected {file.size:,} bytes")
            digest.update(chunk)
            out.write(chunk)
            step(len(chunk))
    if received < file.size:
        raise SourceFailed(f"the connection ended after {received:,} of {file.size:,} bytes")
    if digest.hexdigest() != expected:
        raise SourceFailed(
            f"{algorithm} checksum mismatch (got {digest.hexdigest()}, expected {expected}): the "
            f"downloaded file was deleted"
        )


def fetch_file(dataset: Dataset, file: DataFile, folder: Path, progress: Progress) -> None:
    """One file into ``folder``: a temporary file per attempt, renamed into place only once verified."""
    failures = []
    for url in [base + file.name for base in mirror_bases() + list(dataset.urls)]:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{file.name}.", suffix=".part")
        try:
            os.chmod(temporary, 0o666 & ~UMASK)  # mkstemp's 0600 would hide a shared cache from other users
            with os.fdopen(handle, "wb") as out:
                download_to(url, file, out, progress)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, folder / file.name)
            for failure, started in failures:
                if not started:
                    progress.say(f"failed: {failure}")
            progress.say(f"saved {folder / file.name} ({file.checksum.partition(':')[0]} verified)")
            return
        except SourceFailed as exc:
            if exc.started:
                progress.say(f"failed: {url}: {exc}")
            failures.append((f"{url}: {exc}", exc.started))
        finally:
            Path(temporary).unlink(missing_ok=True)
    missing = [f.name for f in dataset.files if not check_cached(folder, f).good]
    raise DataError(
        f"cannot download {dataset.name}: every source of {file.name} failed "
        f"({'; '.join(text for text, _ in failures)}). Offline, get {', '.join(missing)} from "
        f"{' or '.join(dataset.urls)} and put them in {folder}, or pass {{data_dir}} the folder that has them",
        "data_dir",
    )


@contextmanager
def locked(folder: Path, progress: Progress):
    """Exclusive use of ``folder`` for downloading, across processes (see the module docstring); creates it."""
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            yield
            return
        with open(folder / ".lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                progress.say(f"waiting for another gpubp process that is downloading into {folder}")
                fcntl.flock(lock, fcntl.LOCK_EX)
            except OSError:  # a filesystem without flock: the renames alone keep the files whole
                yield
                return
            if same_file(lock, folder / ".lock"):
                yield
                return
        # The process that held it failed and removed the folder it had created: lock the folder anew.


def same_file(handle, path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path``."""
    try:
        here, held = os.stat(path), os.fstat(handle.fileno())
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


def new_folders(folder: Path) -> list[Path]:
    """The folders that creating ``folder`` creates, ``folder`` first."""
    created = []
    for path in [folder, *folder.parents]:
        if os.path.lexists(path):
            break
        created.append(path)
    return created


def remove_created(folders: list[Path]) -> None:
    """Remove the lock file and the ``folders`` a failed download created, as far as nothing else is in them."""
    if not folders:
        return
    (folders[0] / ".lock").unlink(missing_ok=True)
    for path in folders:
        try:
            path.rmdir()
        except OSError:  # something else is in it: leave it, and the folders above it
            return


def ensure(dataset: Dataset, folder: Path, progress: Progress | None = None) -> Path:
    """``folder`` with every file of ``dataset`` whole, downloading the missing and damaged ones."""
    if all(check_cached(folder, f).good for f in dataset.files):
        return folder
    mirror_bases()  # a bad mirror setting is reported before anything is written
    progress = progress or Progress()
    started, created = time.perf_counter(), new_folders(folder)
    try:
        with locked(folder, progress):
            try:
                for file in dataset.files:  # what a process killed mid-download left; we hold the lock
                    for leftover in folder.glob(f".{file.name}.*.part"):
                        leftover.unlink(missing_ok=True)
                damaged = {f: check_cached(folder, f) for f in dataset.files}
                damaged = {f: cached for f, cached in damaged.items() if not cached.good}
                for cached in damaged.values():
                    if cached.path is not None and cached.path.is_dir():
                        raise DataError(
                            f"{cached.path} is a folder, not a file: remove it, and gpubp downloads the file in its "
                            f"place"
                        )
                for file, cached in damaged.items():
                    fetch_file(dataset, file, folder, progress)
                    if cached.path is not None and cached.path != folder / file.name:
                        cached.path.unlink()  # it would be read before the verified file
                    if cached.path is not None:
                        progress.say(f"replaced {cached.path}, which {cached.problem}")
            except BaseException:
                remove_created(created)
                raise
    except OSError as exc:
        raise DataError(
            f"cannot write the {dataset.name} files into {folder} ({exc.strerror or exc}): make it a "
            f"writable folder, or set {CACHE_ENV_VAR} to one"
        ) from None
    progress.say(
        f"{dataset.name}: {len(damaged)} files downloaded into {folder} in {time.perf_counter() - started:.1f} s"
    )
    return folder


def locate(dataset: Dataset, data_dir=None, download: bool = True, progress: Progress | None = None) -> Path:
    """The folder holding ``dataset``'s files, downloading them into the cache first if allowed and needed."""
    folder = folder_for(dataset, data_dir)
    if data_dir is not None or folder == DEFAULT_MNIST_DIR:
        return folder  # the user's own folder: read as it is, errors and all
    bad = [cached for cached in (check_cached(folder, f) for f in dataset.files) if not cached.good]
    if not download and bad:
        damaged = [f"{cached.path} {cached.problem}" for cached in bad if cached.path is not None]
        state = f"is damaged ({'; '.join(damaged)})" if damaged else f"is not downloaded into {folder}"
        raise DataError(f"{dataset.name} {state}: pass download=True, or run gpubp data fetch {dataset.name}")
    return ensure(dataset, folder, progress)
