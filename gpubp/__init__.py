"""gpubp: backpropagation for fully-connected sigmoid networks, on a CUDA GPU (CuPy) or the CPU (NumPy).

    >>> import gpubp
    >>> net = gpubp.Network([64, 30, 10], seed=1)
    >>> history = net.SGD((X, y), epochs=30, mini_batch_size=10, eta=3.0, test_data=(X_test, y_test))

Importing gpubp imports NumPy only; CuPy is imported, and CUDA asked, when a network first needs a device. The
model (``gpubp.model``: the network, its costs, its files) never needs the training package; ``gpubp.Network``,
``gpubp.load`` and the training names below load ``gpubp.training`` on first use, so that ``import gpubp.model``
alone leaves it unimported.
"""

# Defined before the imports below: submodules (the downloader's User-Agent, info) read it while gpubp loads.
__version__ = "0.1.0"

import importlib

from .backend import get_backend
from .config import SettingError
from .errors import (
    DataError,
    DeviceUnavailableError,
    GpubpError,
    InputError,
    ModelFileError,
    OutOfMemoryError,
    TrainingDiverged,
    TrainingWarning,
)
from .model import COSTS, CrossEntropyCost, LogLikelihoodCost, NetworkConfig, QuadraticCost, save

# What needs gpubp.training, imported when first asked for (PEP 562).
ON_FIRST_USE = {name: ".network" for name in ("Network", "NetworkArray", "load")}
ON_FIRST_USE.update({name: ".training" for name in ("EpochStats", "History", "Trainer", "TrainingConfig")})


def __getattr__(name):
    if name not in ON_FIRST_USE:
        raise AttributeError(f"module 'gpubp' has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(ON_FIRST_USE[name], __name__), name)
    return value


def __dir__():
    return sorted(__all__)


__all__ = [
    "COSTS",
    "CrossEntropyCost",
    "DataError",
    "DeviceUnavailableError",
    "EpochStats",
    "GpubpError",
    "History",
    "InputError",
    "LogLikelihoodCost",
    "ModelFileError",
    "Network",
    "NetworkArray",
    "NetworkConfig",
    "OutOfMemoryError",
    "QuadraticCost",
    "SettingError",
    "Trainer",
    "TrainingConfig",
    "TrainingDiverged",
    "TrainingWarning",
    "__version__",
    "get_backend",
    "load",
    "save",
]
