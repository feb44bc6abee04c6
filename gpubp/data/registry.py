"""The datasets gpubp can download: where each file lives, its size and the checksum its publishers give.

Every entry is four gzipped IDX files in MNIST's layout. The URLs and MD5 sums are torchvision's
(``torchvision/datasets/mnist.py``, classes ``MNIST``, ``FashionMNIST`` and ``KMNIST``, ``mirrors`` and
``resources``, read at pytorch/vision commit 01977a1), plus the https copy Fashion-MNIST's authors keep in their
repository; the authors of Fashion-MNIST publish the same sums, as quoted beside each entry. The sizes are the
``Content-Length`` those servers send, as printed by torchvision's and Keras's download logs. A source served
over https comes first; the checksum, not the transport, is what makes a file trusted, so an http mirror is as
safe to try.

``GPUBP_DATA_REGISTRY`` may name a JSON file of further datasets, in the same shape, for an internal IDX dataset
(and for the tests, which serve generated files from 127.0.0.1). It can only add names: ``mnist`` always means
the files with MNIST's checksums, and every file of every entry must carry a checksum and a size.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .idx import FILES

REGISTRY_ENV_VAR = "GPUBP_DATA_REGISTRY"
IDX_NAMES = tuple(f"{stem}.gz" for pair in FILES.values() for stem in pair)
HEX_DIGITS = {"md5": 32, "sha256": 64}
MAX_REGISTRY_BYTES = 1 << 20
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # a folder name, never a file's


@dataclass(frozen=True)
class DataFile:
    name: str  # as served and as cached, e.g. train-images-idx3-ubyte.gz
    checksum: str  # "md5:<hex>" or "sha256:<hex>"
    size: int  # bytes

    @property
    def stem(self) -> str:
        return self.name[: -len(".gz")]


@dataclass(frozen=True)
class Dataset:
    name: str
    urls: tuple[str, ...]  # base URLs, each ending in "/", tried in order
    files: tuple[DataFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def idx_set(name, urls, sums_and_sizes) -> Dataset:
    files = tuple(DataFile(file, checksum, size) for file, (checksum, size) in zip(IDX_NAMES, sums_and_sizes))
    return Dataset(name, tuple(urls), files)


BUILT_IN = {
    d.name: d
    for d in (
        # MNIST, handwritten digits (LeCun, Cortes and Burges). Source: torchvision MNIST.mirrors and
        # MNIST.resources; its first mirror, http://yann.lecun.com/exdb/mnist/, now refuses most clients (403), which
        # is why torchvision added the S3 copy, tried first here.
        idx_set(
            "mnist",
            ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
            [
                ("md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
                ("md5:d53e105ee54ea40749a09fcbcd1e9432", 28881),
                ("md5:9fb629c4189551a2d022fa330f9573f3", 1648877),
                ("md5:ec29112dd5afa0611ce80d1b7f02629c", 4542),
            ],
        ),
        # Fashion-MNIST, Zalando's article images (Xiao, Rasul and Vollgraf, 2017). Source: torchvision
        # FashionMNIST.mirrors and .resources; the same MD5 sums are in the table "Get the Data" of the authors'
        # README (github.com/zalandoresearch/fashion-mnist), which says the files are also in that repository under
        # data/fashion: the https copy, tried first.
        idx_set(
            "fashion-mnist",
            [
                "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            ],
            [
                ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
                ("md5:25c81989df183df01b3e8a0aad5dffbe", 29515),
                ("md5:bef4ecab320f06d8554ea6380940ec79", 4422102),
                ("md5:bb300cfdad3c16e7a12a480ee83cd310", 5148),
            ],
        ),
        # Kuzushiji-MNIST, cursive Japanese characters (Clanuwat et al., 2018). Source: torchvision KMNIST.mirrors
        # and .resources; the authors' README (github.com/rois-codh/kmnist) links the same http URLs, no https copy.
        idx_set(
            "kmnist",
            ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
            [
                ("md5:bdb82020997e1d708af4cf47b453dcf7", 18165135),
                ("md5:e144d726b3acfaa3e44228e80efcd344", 29497),
                ("md5:5c965bf0a639b31b8f53240b1b52f4d7", 3041136),
                ("md5:7320c461ea6c1c855c0b718fb2a4b134", 5120),
            ],
        ),
    )
}


def check_url(url: str, where: str) -> str:
    """``url`` if urllib can fetch files under it: http or https, a host (and a valid port), no spaces, and no
    query or fragment (a file name appended to those would land inside them)."""
    try:
        parts = urllib.parse.urlsplit(url)
        usable = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.port != 0
            and not parts.query
            and not parts.fragment
            and not re.search(r"\s", url)
        )
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number or out of range
        usable = False
    if not usable:
        raise DataError(f"{where}: {url!r} is not an http:// or https:// base URL such as https://example.org/mnist/")
    return url


def check_checksum(text, where: str) -> str:
    algorithm, _, digest = str(text).partition(":")
    if HEX_DIGITS.get(algorithm) != len(digest) or not re.fullmatch(r"[0-9a-f]+", digest):
        raise DataError(f"{where}: checksum {text!r} is not md5:<32 hex digits> or sha256:<64 hex digits>")
    return text


def parse_entry(name, entry, where: str) -> Dataset:
    """One dataset of a registry file, every field checked (the file may come from anywhere)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise DataError(f"{where}: dataset name {name!r} must be lower-case letters, digits, '_' or '-'")
    if name in BUILT_IN or name == "digits":
        raise DataError(f"{where}: {name!r} is a built-in dataset and cannot be redefined; choose another name")
    where = f"{where}, dataset {name!r}"
    try:
        urls, files = entry["urls"], entry["files"]
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise TypeError
        if not isinstance(files, dict):
            raise TypeError
    except (KeyError, TypeError):
        raise DataError(
            f'{where}: needs "urls" (a list of base URLs) and "files" (an object mapping '
            f'{", ".join(IDX_NAMES)} to {{"checksum": ..., "size": ...}})'
        ) from None
    for url in urls:
        check_url(url, where)
    if sorted(files) != sorted(IDX_NAMES):
        raise DataError(f'{where}: "files" must name exactly {", ".join(IDX_NAMES)}; got {list(files)!r}')
    sums_and_sizes = []
    for file in IDX_NAMES:
        spec = files[file]
        size = spec.get("size") if isinstance(spec, dict) else None
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise DataError(f'{where}, file {file}: needs "size", its length in bytes (a whole number >= 1)')
        sums_and_sizes.append((check_checksum(spec.get("checksum"), f"{where}, file {file}"), size))
    return idx_set(name, [u if u.endswith("/") else u + "/" for u in urls], sums_and_sizes)


def extra_datasets() -> dict[str, Dataset]:
    """The datasets of the file named by ``GPUBP_DATA_REGISTRY``, if set."""
    path = os.environ.get(REGISTRY_ENV_VAR)
    if not path:
        return {}
    where = f"{REGISTRY_ENV_VAR}={path}"
    try:
        if not Path(path).is_file():
            raise OSError("not a file")
        with open(path, "rb") as file:
            text = file.read(MAX_REGISTRY_BYTES + 1)
        if len(text) > MAX_REGISTRY_BYTES:
            raise OSError(f"larger than {MAX_REGISTRY_BYTES:,} bytes")
        entries = json.loads(text.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{where} cannot be read ({exc}): point it at a JSON registry file, or unset it") from None
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: arrays nested thousands deep
        raise DataError(f"{where} is not valid JSON ({exc}): fix the file, or unset {REGISTRY_ENV_VAR}") from None
    if not isinstance(entries, dict):
        raise DataError(f"{where} must hold a JSON object mapping dataset names to entries")
    return {name: parse_entry(name, entry, where) for name, entry in entries.items()}


def datasets() -> dict[str, Dataset]:
    """Every downloadable dataset: the built-in ones, then those of ``GPUBP_DATA_REGISTRY``."""
    return {**BUILT_IN, **extra_datasets()}


def get(name: str) -> Dataset:
    known = datasets()
    if name not in known:
        raise DataError(f"unknown dataset {name!r}: the downloadable ones are {', '.join(known)}")
    return known[name]
