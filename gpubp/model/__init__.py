"""The model: the network (forward pass, backprop, SGD step), its configuration and costs, saving and loading it."""

from .array import NetworkArray
from .config import NetworkConfig
from .costs import COSTS, CrossEntropyCost, LogLikelihoodCost, QuadraticCost, get_cost
from .network import Network
from .storage import FORMAT_VERSION, load, save

__all__ = [
    "COSTS",
    "CrossEntropyCost",
    "FORMAT_VERSION",
    "LogLikelihoodCost",
    "Network",
    "NetworkArray",
    "NetworkConfig",
    "QuadraticCost",
    "get_cost",
    "load",
    "save",
]
