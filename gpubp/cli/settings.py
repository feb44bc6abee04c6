"""The settings of a training run — the defaults, the flags given, a checkpoint's — and the one check they all pass.

A run's settings are stored in its checkpoint, so ``--resume`` continues with exactly the run that was started.
Data paths are stored absolute (``to_store``), so a run resumes from any working folder, and compared resolved,
so the same file spelled another way is the same file. A checkpoint's settings pass the same checks as the
flags: a damaged or foreign one is a ``ModelFileError`` naming the bad setting, never a traceback. On resume only
``--epochs``, ``--checkpoint-every`` and ``--lr`` may change; a changed ``--lr`` (the advice after a divergence)
is recorded in ``lr_changes`` as ``[first epoch, η]`` pairs. Each run gets a random ``run_id``, stored in its
checkpoint and its model, so that a resume can tell the model beside a checkpoint is of the same run before it
replaces it.
"""

from __future__ import annotations

import math
import os
import uuid
from numbers import Integral, Real
from pathlib import Path

from ..data import DEFAULT_MNIST_DIR, HEADER_CHOICES, registry
from ..errors import InputError, ModelFileError
from ..model import COSTS
from ..model.network import DTYPES, check_init
from ..training import load_checkpoint
from ..training.optimizers import check_lmbda, check_momentum, check_optimizer
from ..training.schedules import PLATEAU_FACTOR, PLATEAU_PATIENCE, check_plateau, check_schedule, check_warmup_epochs
from ..training.sgd import check_patience

DEFAULTS = {
    "data": "digits",
    "data_dir": None,
    "test_fraction": 0.2,
    "sizes": [30],
    "epochs": 30,
    "batch_size": 10,
    "lr": 3.0,
    "cost": "quadratic",
    "dtype": "float32",
    "seed": 0,
    "checkpoint_every": 0,
    "header": "auto",
    "optimizer": "sgd",
    "momentum": 0.9,
    "l2": 0.0,
    "init": "normal",
    "schedule": "constant",
    "warmup_epochs": 0,
    "plateau_factor": PLATEAU_FACTOR,
    "plateau_patience": PLATEAU_PATIENCE,
    "validation_fraction": 0.0,
    "patience": None,
}
METHODS = ("schedule", "warmup_epochs", "plateau_factor", "plateau_patience", "validation_fraction", "patience")
CHANGEABLE_ON_RESUME = ("epochs", "checkpoint_every", "lr")
OPTIONAL = ("run_id", "lr_changes")  # settings that checkpoints of older gpubp versions lack
# Settings added after checkpoints were first written, with the value every older run had.
ADDED_LATER = {key: DEFAULTS[key] for key in ("header", "optimizer", "momentum", "l2", "init", *METHODS)}
CHECKPOINT_NAME = "checkpoint.npz"


def whole(minimum: int):
    return lambda value: isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum


def rule(valid, message: str):
    """A setting's check: an ``InputError`` with ``message`` unless ``valid(value)``."""

    def check(value) -> None:
        if not valid(value):
            raise InputError(f"{message}, got {value!r}")

    return check


def positive(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value) and value > 0


CHECKS = {  # what each setting must be: the flag's own check, or the API's check of that knob
    "data": rule(lambda v: isinstance(v, str) and v != "", "--data must be digits, mnist or a .csv or .npz file"),
    "data_dir": rule(lambda v: v is None or isinstance(v, str) and v != "", "--data-dir must be a folder"),
    "test_fraction": rule(
        lambda v: positive(v) and v < 1, "--test-fraction: the test fraction must lie strictly between 0 and 1"
    ),
    "sizes": rule(
        lambda v: isinstance(v, list) and len(v) >= 1 and all(map(whole(1), v)),
        "--sizes: layer widths must be whole numbers >= 1",
    ),
    "epochs": rule(whole(1), "--epochs: epochs must be a whole number >= 1"),
    "batch_size": rule(whole(1), "--batch-size: the mini-batch size must be a whole number >= 1"),
    "lr": rule(positive, "--lr: the learning rate eta must be a finite number > 0"),
    "cost": rule(lambda v: v in COSTS, f"--cost must be {' or '.join(COSTS)}"),
    "dtype": rule(lambda v: v in DTYPES, f"--dtype must be {' or '.join(DTYPES)}"),
    "seed": rule(whole(0), "--seed: the seed must be a whole number >= 0"),
    "checkpoint_every": rule(whole(0), "--checkpoint-every must be a whole number >= 0 (0: no checkpoints)"),
    "header": rule(lambda v: v in HEADER_CHOICES, f"--header must be {' or '.join(HEADER_CHOICES)}"),
    "optimizer": check_optimizer,
    "momentum": check_momentum,
    "l2": check_lmbda,
    "init": check_init,
    "schedule": check_schedule,
    "warmup_epochs": lambda v: check_warmup_epochs(v, None),
    "plateau_factor": lambda v: check_plateau(v, PLATEAU_PATIENCE),
    "plateau_patience": lambda v: check_plateau(PLATEAU_FACTOR, v),
    "validation_fraction": rule(
        lambda v: v == 0 or positive(v) and v < 1, "--validation-fraction: the validation fraction must lie in [0, 1)"
    ),
    "patience": check_patience,
}


def flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def check_settings(settings: dict) -> None:
    """An ``InputError`` naming the first setting that no flag could have given."""
    for key, check in CHECKS.items():
        check(settings[key])
    if not isinstance(settings.get("run_id", ""), str):
        raise InputError(f"run_id must be a string, got {settings['run_id']!r}")
    changes = settings.get("lr_changes", [])
    if not isinstance(changes, list) or not all(
        isinstance(c, list) and len(c) == 2 and whole(2)(c[0]) and positive(c[1]) for c in changes
    ):
        raise InputError(f"lr_changes must be [epoch, lr] pairs, got {changes!r}")


def to_store(settings: dict) -> dict:
    """``settings`` as a checkpoint stores them: the data file and folder (MNIST's default too) absolute."""
    settings = dict(settings)
    if settings["data"] != "digits" and settings["data"] not in registry.datasets():
        settings["data"] = os.path.abspath(settings["data"])
    # MNIST's ./data/mnist is relative to where the run started; the cache (the other source) is not.
    if settings["data"] == "mnist" and settings["data_dir"] is None and DEFAULT_MNIST_DIR.is_dir():
        settings["data_dir"] = str(DEFAULT_MNIST_DIR)
    if settings["data_dir"] is not None:
        settings["data_dir"] = os.path.abspath(settings["data_dir"])
    return settings


def same_setting(key: str, given, saved) -> bool:
    if key in ("data", "data_dir") and isinstance(given, str) and isinstance(saved, str):
        return Path(given).resolve() == Path(saved).resolve()
    return given == saved


def checkpoint_file(resume: Path) -> Path:
    """``--resume`` as a checkpoint file: a run folder means the ``checkpoint.npz`` in it."""
    if not resume.is_dir():
        return resume
    if not (resume / CHECKPOINT_NAME).is_file():
        raise InputError(
            f"--resume {resume}: that run folder holds no {CHECKPOINT_NAME} (only a run started with "
            f"--checkpoint-every N can be resumed); start a new run"
        )
    return resume / CHECKPOINT_NAME


def settings_for(args):
    """The run's settings — defaults, the checkpoint's, and the flags given — and, when resuming, the network,
    history and run id (None before run ids) of the checkpoint."""
    given = {key: getattr(args, key) for key in DEFAULTS if getattr(args, key) is not None}
    if "data_dir" in given:
        given["data_dir"] = str(given["data_dir"])
    if args.resume is None:
        settings = {**DEFAULTS, **given, "run_id": uuid.uuid4().hex}
        check_settings(settings)
        return settings, None
    net, history, saved = load_checkpoint(args.resume, args.device)
    saved = {**ADDED_LATER, **saved}
    check_saved(args.resume, saved, net.sizes)
    for key, value in given.items():
        if key not in CHANGEABLE_ON_RESUME and key != "sizes" and not same_setting(key, value, saved[key]):
            raise InputError(
                f"{flag(key)} {value} differs from the checkpoint's {saved[key]}: a resumed run keeps "
                f"the settings it was started with (only --epochs, --checkpoint-every, --lr, --device "
                f"and --out may change); drop {flag(key)} or start a new run"
            )
    if saved["schedule"] == "cosine" and given.get("epochs", saved["epochs"]) != saved["epochs"]:
        raise InputError(
            f"the cosine schedule spreads its decay over the run's {saved['epochs']} epochs, so a "
            f"resumed run keeps them: drop --epochs, or start a new run for a longer one"
        )
    settings = {
        "run_id": uuid.uuid4().hex,
        **saved,  # a checkpoint from before run ids gets one from now on
        **{key: value for key, value in given.items() if key in CHANGEABLE_ON_RESUME},
    }
    if settings["lr"] != saved["lr"]:
        settings["lr_changes"] = [*saved.get("lr_changes", []), [len(history) + 1, settings["lr"]]]
    check_settings(settings)
    return settings, (net, history, saved.get("run_id"))


def check_saved(path, saved: dict, sizes) -> None:
    """A ``ModelFileError`` unless ``saved`` is what ``gpubp train`` stores for a network of ``sizes``."""
    missing, unknown = sorted(set(CHECKS) - set(saved)), sorted(set(saved) - set(CHECKS) - set(OPTIONAL))
    try:
        if missing or unknown:
            raise InputError(
                f"settings {', '.join(missing)} missing" if missing else f"unknown settings {', '.join(unknown)}"
            )
        check_settings(saved)
        if saved["sizes"] != list(sizes):
            raise InputError(f"settings for sizes {saved['sizes']} beside a network of sizes {list(sizes)}")
    except InputError as exc:
        raise ModelFileError(
            f"{path} is a damaged or foreign checkpoint ({exc}); resume from another one or start a new run"
        ) from None
