"""MNIST from the four standard IDX files (raw or ``.gz``), as downloaded from the usual MNIST mirrors.

An IDX file is a 4-byte magic number (two zero bytes, a type code — 0x08 for unsigned bytes — and the number of
dimensions), one big-endian 32-bit size per dimension, then the values. Images (magic 0x00000803) are scaled from
0..255 to [0, 1] and flattened to 784 features; labels (magic 0x00000801) are the digits 0..9. Every way a file
can be wrong — missing, unreadable, not IDX, truncated, with bytes to spare, claiming no values or more than
memory holds, images and labels that do not pair up — is a ``DataError`` naming it.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import check_memory, opened
from .labels import check_spread

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_file(folder: Path, stem: str) -> Path:
    """``stem`` in ``folder``, raw or gzipped, also under the ``train-images.idx3-ubyte`` spelling."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():  # a folder or pipe of that name is reported as such when it is read
                return candidate
    wanted = ", ".join(f"{s}[.gz]" for pair in FILES.values() for s in pair)
    raise DataError(
        f"{folder} has no {stem} (nor {stem}.gz): an MNIST folder holds the four files {wanted}; "
        f"point {{data_dir}} at the folder that has them",
        "data_dir",
    )


def read_header(f, path: Path, magic: int) -> tuple[int, ...]:
    """The shape an IDX file's header gives, read from the open ``f``, checked against ``magic``."""
    kind = "image" if magic == IMAGES_MAGIC else "label"
    head = f.read(4)
    found = int.from_bytes(head, "big") if len(head) == 4 else None
    if head[:2] == b"\0\0" and head[3:] == bytes([magic & 0xFF]) and head[2] != 0x08:
        raise DataError(
            f"{path} holds IDX values of type code 0x{head[2]:02x}, not unsigned bytes (0x08): "
            f"gpubp reads MNIST's byte-valued IDX files"
        )
    if found != magic:
        shown = "no magic number" if found is None else f"magic number 0x{found:08x}"
        raise DataError(
            f"{path} is not an IDX {kind} file ({shown}, expected 0x{magic:08x}): "
            f"check that images and labels are not swapped and the file is not damaged"
        )
    ndim = magic & 0xFF
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its header: download it again")
    shape = tuple(int.from_bytes(dims[4 * d : 4 * d + 4], "big") for d in range(ndim))
    if 0 in shape:
        raise DataError(
            f"{path} claims {' × '.join(map(str, shape))} values, an empty {kind} set: it is damaged; download it again"
        )
    return shape


def header_size(shape) -> int:
    return 4 + 4 * len(shape)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array in one IDX file of unsigned bytes, checked against its header before anything is allocated."""
    with opened(path, DataError, "IDX file") as raw:
        f = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        shape = read_header(f, path, magic)
        count = math.prod(shape)  # Python ints: a crafted header cannot overflow into a small or negative count
        check_memory(count * (1 + np.dtype(np.float32).itemsize), f"the {count:,} values {path} claims", DataError)
        data = f.read(count + 1)
    if len(data) < count:
        raise DataError(
            f"{path} is truncated: its header promises {'×'.join(map(str, shape))} values but only "
            f"{len(data)} bytes follow; download it again"
        )
    if len(data) > count:
        raise DataError(
            f"{path} has bytes after the {'×'.join(map(str, shape))} values its header promises: it is "
            f"damaged or not an MNIST file; download it again"
        )
    return np.frombuffer(data, np.uint8, count=count).reshape(shape)


def magic_of(stem: str) -> int:
    """The magic number of the IDX file ``stem`` (one of ``FILES``)."""
    return IMAGES_MAGIC if "images" in stem else LABELS_MAGIC


def load_split(folder: Path, split: str):
    images_stem, labels_stem = FILES[split]
    images_path, labels_path = find_file(folder, images_stem), find_file(folder, labels_stem)
    images, labels = read_idx(images_path, IMAGES_MAGIC), read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path.name} holds {len(images)} images but {labels_path.name} holds "
            f"{len(labels)} labels: the two files must come from the same MNIST {split} set"
        )
    check_spread(labels, str(labels_path))
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32), labels.astype(np.int64)


def load_mnist(data_dir):
    """MNIST's own split: 60,000 training and 10,000 test images of 784 features in [0, 1]."""
    folder = Path(data_dir)
    if not folder.is_dir():
        problem = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise DataError(
            f"the IDX folder {folder} {problem}: give {{data_dir}} the folder that holds the four IDX files "
            f"({', '.join(FILES['train'] + FILES['test'])}, raw or .gz)",
            "data_dir",
        )
    return load_split(folder, "train"), load_split(folder, "test")
