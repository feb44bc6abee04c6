"""The model: the network (forward pass, backprop, SGD step), its costs, and saving and loading it."""

from .costs import COSTS, CrossEntropyCost, LogLikelihoodCost, QuadraticCost, get_cost
from .network import Network
from .storage import FORMAT_VERSION, load, save

__all__ = [
    "COSTS",
    "CrossEntropyCost",
    "FORMAT_VERSION",
    "LogLikelihoodCost",
    "Network",
    "QuadraticCost",
    "get_cost",
    "load",
    "save",
]
