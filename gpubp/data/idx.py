"""MNIST from the four standard IDX files (raw or ``.gz``), as downloaded from the usual MNIST mirrors.

An IDX file is a 4-byte magic number (two zero bytes, a type code — 0x08 for unsigned bytes — and the number of
dimensions), one big-endian 32-bit size per dimension, then the values. Images (magic 0x00000803) are scaled from
0..255 to [0, 1] and flattened to 784 features; labels (magic 0x00000801) are the digits 0..9. Every way a file
can be wrong — missing, not IDX, truncated, images and labels that do not pair up — is a ``DataError`` naming it.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def find_file(folder: Path, stem: str) -> Path:
    """``stem`` in ``folder``, raw or gzipped, also under the ``train-images.idx3-ubyte`` spelling."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    wanted = ", ".join(f"{s}[.gz]" for pair in FILES.values() for s in pair)
    raise DataError(f"{folder} has no {stem} (nor {stem}.gz): an MNIST folder holds the four files {wanted}; "
                    f"point --data-dir at the folder that has them")


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array in one IDX file of unsigned bytes, checked against its header."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} cannot be read ({exc}): download it again") from None
    kind = "image" if magic == IMAGES_MAGIC else "label"
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        shown = "no magic number" if found is None else f"magic number 0x{found:08x}"
        raise DataError(f"{path} is not an IDX {kind} file ({shown}, expected 0x{magic:08x}): "
                        f"check that images and labels are not swapped and the file is not damaged")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header: download it again")
    shape = tuple(int.from_bytes(raw[4 + 4 * d: 8 + 4 * d], "big") for d in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header < expected:
        raise DataError(f"{path} is truncated: its header promises {'×'.join(map(str, shape))} values but only "
                        f"{len(raw) - header} bytes follow; download it again")
    return np.frombuffer(raw, np.uint8, count=expected, offset=header).reshape(shape)


def load_split(folder: Path, split: str):
    images_stem, labels_stem = FILES[split]
    images_path, labels_path = find_file(folder, images_stem), find_file(folder, labels_stem)
    images, labels = read_idx(images_path, IMAGES_MAGIC), read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{images_path.name} holds {len(images)} images but {labels_path.name} holds "
                        f"{len(labels)} labels: the two files must come from the same MNIST {split} set")
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32), labels.astype(np.int64)


def load_mnist(data_dir):
    """MNIST's own split: 60,000 training and 10,000 test images of 784 features in [0, 1]."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataError(f"MNIST folder {folder} does not exist: pass --data-dir FOLDER with the four IDX files "
                        f"({', '.join(FILES['train'] + FILES['test'])}, raw or .gz)")
    return load_split(folder, "train"), load_split(folder, "test")
