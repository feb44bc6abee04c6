"""Multilabel targets: each output a yes/no label of its own (``Network.multilabel``), read off at ½ for predictions
and scored as subset accuracy in training's history; and ``NetworkClassifier`` on a 0/1 indicator y, against
``MLPClassifier`` and scikit-learn's own multilabel checks."""

import numpy as np
import pytest

import gpubp
from gpubp.training.config import validation_split

from helpers import random_problem


def multilabel_problem(n=120, features=6, labels=4, seed=0):
    """Rows and a 0/1 indicator matrix: label j is on where feature j is positive (rows may have none, or all)."""
    x, _ = random_problem((features, labels), m=n, seed=seed)
    return x, (x[:, :labels] > 0).astype(np.int64)


def subset_accuracy(outputs, y) -> float:
    return float(np.mean(((outputs > 0.5) == (y > 0.5)).all(axis=1)))


def test_a_multilabel_networks_accuracy_is_subset_accuracy_in_the_history():
    """Argmax agreement is no accuracy for label sets: the history's validation accuracy, which early stopping
    watches, counts a row only where every label is on its target's side of ½."""
    x, y = multilabel_problem()
    net = gpubp.Network((6, 8, 4), cost="cross-entropy", dtype="float64", device="cpu", seed=1)
    net.multilabel = True
    history = net.SGD((x, y), 3, 10, 0.5, validation_fraction=0.25)
    rows, held = validation_split(len(x), 0.25)
    assert history[-1].validation_accuracy == subset_accuracy(net.feedforward(x[held]), y[held])
    assert net.evaluate((x, y)) == round(subset_accuracy(net.feedforward(x), y) * len(x))
    assert np.array_equal(net.predict(x), (net.feedforward(x) > 0.5).astype(np.int64))


def test_a_multilabel_network_takes_target_matrices_only():
    x, y = multilabel_problem()
    net = gpubp.Network((6, 4), cost="cross-entropy", device="cpu", seed=0)
    net.multilabel = True
    with pytest.raises(gpubp.InputError, match=r"a multilabel network takes an \(120, 4\) target matrix"):
        net.SGD((x, np.arange(120) % 4), 1, 10, 0.1)


def test_a_multilabel_network_is_not_saved_where_gpubp_predict_would_misread_it(tmp_path):
    net = gpubp.Network((6, 4), cost="cross-entropy", device="cpu", seed=0)
    net.multilabel = True
    with pytest.raises(gpubp.InputError, match="a multilabel network cannot be saved as a model file yet"):
        gpubp.save(net, tmp_path / "model.npz")
    assert not list(tmp_path.iterdir())
