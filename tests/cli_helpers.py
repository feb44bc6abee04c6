"""Run the real ``gpubp`` command in a subprocess, and write small datasets in the formats it reads."""

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def command() -> list[str]:
    """The installed ``gpubp`` script beside this Python where there is one, else ``python -m gpubp``."""
    script = Path(sys.executable).parent / "gpubp"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "gpubp"]


def environment(extra_path=None) -> dict:
    """This process's environment, running this checkout's code, with the device left to the command line."""
    env = dict(os.environ)
    env.pop("GPUBP_DEVICE", None)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [extra_path, REPO] if p)
    return env


def gpubp(*args, cwd, extra_path=None, timeout=300):
    """``gpubp ARGS`` in ``cwd``; returns the completed process."""
    return subprocess.run(
        command() + [str(a) for a in args],
        cwd=cwd,
        env=environment(extra_path),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_gpubp(*args, cwd) -> subprocess.Popen:
    """``gpubp ARGS`` in ``cwd``, started in the background."""
    return subprocess.Popen(
        command() + [str(a) for a in args],
        cwd=cwd,
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train=60, n_test=20, gz=False, seed=0) -> Path:
    """A tiny MNIST folder: the four IDX files with random 28×28 images and digit labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files = {
            f"{prefix}-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (n, 28, 28)), 0x803),
            f"{prefix}-labels-idx1-ubyte": idx_bytes(np.arange(n) % 10, 0x801),
        }
        for name, data in files.items():
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


def separable_data(n=120, features=5, classes=3, seed=0):
    """Rows whose class is readable from the features, so that training has something to learn."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.random((n, features)) * 0.2
    x[np.arange(n), y] += 0.8
    return x, y


def write_csv(path: Path, x, y, header=True) -> Path:
    lines = [",".join(["label"] + [f"f{j}" for j in range(x.shape[1])])] if header else []
    lines += [",".join([str(int(label))] + [f"{v:.6f}" for v in row]) for row, label in zip(x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path
