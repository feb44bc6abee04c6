"""gpubp: backpropagation for fully-connected sigmoid networks, on a CUDA GPU (CuPy) or the CPU (NumPy).

    >>> import gpubp
    >>> net = gpubp.Network([64, 30, 10], seed=1)
    >>> history = net.SGD((X, y), epochs=30, mini_batch_size=10, eta=3.0, test_data=(X_test, y_test))

Importing gpubp imports NumPy only; CuPy is imported, and CUDA asked, when a network first needs a device.
"""

# Defined before the imports below: submodules (the downloader's User-Agent, info) read it while gpubp loads.
__version__ = "0.1.0"

from .backend import get_backend
from .errors import DataError, DeviceUnavailableError, GpubpError, InputError, ModelFileError, TrainingDiverged
from .model import COSTS, CrossEntropyCost, LogLikelihoodCost, Network, QuadraticCost, load, save
from .training import EpochStats

__all__ = [
    "COSTS",
    "CrossEntropyCost",
    "DataError",
    "DeviceUnavailableError",
    "EpochStats",
    "GpubpError",
    "InputError",
    "LogLikelihoodCost",
    "ModelFileError",
    "Network",
    "QuadraticCost",
    "TrainingDiverged",
    "__version__",
    "get_backend",
    "load",
    "save",
]
