"""The initial weights and biases of a network, drawn on the host from its seeded generator.

Every draw comes from one ``numpy.random.Generator``, on the host, so the same seed gives the same network on every
device; the biases of every layer are drawn first, then the weights, in that order whatever the scheme, so that a
network of σ units draws exactly what gpubp always drew. The schemes (``NetworkConfig.inits`` chooses one per
layer):

- ``normal``: W and b from N(0, 1), the lecture's;
- ``scaled``: W from N(0, 1)/√n_in, b from N(0, 1), network2's (a neuron's z starts near N(0, 1) however wide the
  layer below);
- ``he``: W from N(0, 1)·√(2/n_in), b = 0 (He et al., 2015, for ReLU units);
- ``glorot``: W and b uniform in ±√(k/(n_in + n_out)), k = 2 for σ units and 6 otherwise, as ``MLPClassifier``
  draws them (Glorot & Bengio, 2010).
"""

from __future__ import annotations

import numpy as np


def glorot_bound(n_in: int, n_out: int, activation: str) -> float:
    return float(np.sqrt((2.0 if activation == "sigmoid" else 6.0) / (n_in + n_out)))


def draw(rng, sizes, inits, activations) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(weights, biases)`` for layers of ``sizes``, layer l drawn by ``inits[l]`` for units ``activations[l]``."""
    shapes = list(zip(sizes[1:], sizes[:-1]))  # (n_out, n_in) of each layer
    biases = []
    for (n_out, n_in), init, activation in zip(shapes, inits, activations):
        if init == "he":
            biases.append(np.zeros(n_out))
        elif init == "glorot":
            bound = glorot_bound(n_in, n_out, activation)
            biases.append(rng.uniform(-bound, bound, n_out))
        else:
            biases.append(rng.standard_normal(n_out))
    weights = []
    for (n_out, n_in), init, activation in zip(shapes, inits, activations):
        if init == "glorot":
            bound = glorot_bound(n_in, n_out, activation)
            weights.append(rng.uniform(-bound, bound, (n_out, n_in)))
            continue
        w = rng.standard_normal((n_out, n_in))
        weights.append(w / np.sqrt(n_in) if init == "scaled" else w * np.sqrt(2.0 / n_in) if init == "he" else w)
    return weights, biases
