"""Dropout: masks computed by one hash, bit for bit the same by the C kernel and its NumPy twin, of the right rate,
uncorrelated from step to step, layer to layer and row to row; training with them equals PyTorch fed the same
masks; evaluation never drops; a run resumes, and a data-parallel run splits, to the very same masks."""

import ctypes

import numpy as np
import pytest

import gpubp
from gpubp.backend.numpy_ops import NumpyOps
from gpubp.model.dropout import Dropout
from gpubp.training import Trainer, TrainingConfig, load_checkpoint, save_checkpoint

from helpers import random_problem
from torch_reference import shuffled_batches, train

OPS = NumpyOps()


def masks(dropout: Dropout, layer: int, shape) -> np.ndarray:
    """The scaled mask dropout applies to an array of ``shape`` in hidden layer ``layer``: its effect on ones."""
    return dropout.apply(OPS, layer, np.ones(shape), np.empty(shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_kernel_and_its_numpy_twin_drop_the_same_elements(host_kernels, dtype):
    """The C body, built by g++, against NumPy's uint64 arithmetic: the same values bit for bit, counters past 2^64
    wrapping as C's do."""
    x = np.random.default_rng(0).standard_normal(100_003).astype(dtype)  # several of the twin's blocks
    for key, start, p in [(0, 0, 0.5), (2**64 - 5, 2**64 - 1000, 0.1), (12345, 7 * 10**15, 0.9)]:
        threshold, scale = np.uint64(round(p * 2**53)), 1 / (1 - p)
        from_numpy = OPS.dropout(x, np.uint64(key), np.uint64(start), threshold, scale, np.empty_like(x))
        c_type = {"float32": "float", "float64": "double"}[dtype]
        scalars = [np.full(x.size, v, np.uint64) for v in (key, start, threshold)] + [np.full(x.size, scale, dtype)]
        from_c = np.empty_like(x)
        getattr(host_kernels, f"gpubp_dropout_{c_type}")(
            ctypes.c_long(x.size), *(a.ctypes.data_as(ctypes.c_void_p) for a in (x, *scalars, from_c))
        )
        assert np.array_equal(from_c, from_numpy)
        kept = from_numpy != 0
        assert np.array_equal(from_numpy[kept], (x * x.dtype.type(scale))[kept])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_the_keep_rate_is_one_minus_p_within_its_binomial_bounds(p):
    dropout = Dropout([p], [1000], 1000, seed=7).at(3)
    kept = np.count_nonzero(masks(dropout, 0, (1000, 1000)))
    n = 1_000_000
    assert abs(kept - n * (1 - p)) <= 5 * np.sqrt(n * p * (1 - p))  # 5 standard deviations


def test_masks_of_neighbouring_steps_layers_and_rows_are_uncorrelated_and_never_repeat():
    """Masks of consecutive steps, of the two layers of one step, of neighbouring rows and of other seeds: each
    pair's correlation is within 5/√n of 0, and no two of them are equal."""
    dropout, shape = Dropout([0.5, 0.5], [200, 200], 500, seed=1), (500, 200)
    drawn = {}
    for step in (0, 1, 2, 10**6):
        for layer in (0, 1):
            drawn[step, layer] = masks(dropout.at(step), layer, shape) > 0
    drawn["other seed"] = masks(Dropout([0.5, 0.5], [200, 200], 500, seed=2).at(0), 0, shape) > 0
    pairs = [((0, 0), (1, 0)), ((1, 0), (2, 0)), ((0, 0), (0, 1)), ((0, 0), (10**6, 0)), ((0, 0), "other seed")]
    bound = 5 / np.sqrt(shape[0] * shape[1])
    for a, b in pairs:
        assert abs(np.corrcoef(drawn[a].ravel(), drawn[b].ravel())[0, 1]) < bound, (a, b)
    rows = drawn[0, 0]
    assert abs(np.corrcoef(rows[:-1].ravel(), rows[1:].ravel())[0, 1]) < bound
    assert len({m.tobytes() for m in drawn.values()}) == len(drawn)


def test_a_process_share_of_the_mini_batch_draws_the_rows_of_one_process():
    whole = masks(Dropout([0.3], [50], 40, seed=4).at(9), 0, (40, 50))
    shares = [
        masks(Dropout([0.3], [50], 40, seed=4).at(9, first), 0, (last - first, 50))
        for first, last in [(0, 13), (13, 27), (27, 40)]
    ]
    assert np.array_equal(np.concatenate(shares), whole)


@pytest.mark.parametrize("rule", ["sgd", "adam"])
def test_training_with_dropout_equals_pytorch_fed_the_same_masks(rule):
    """50 steps of [6, 8, 7, 3] with p = 0.4 and 0.2, relu units: gpubp's steps equal torch.nn's with gpubp's masks
    applied to the same activations (float64, within 1e-10)."""
    sizes, n, batch, eta = (6, 8, 7, 3), 95, 10, {"sgd": 0.1, "adam": 0.005}[rule]
    x, labels = random_problem(sizes, m=n, seed=7)
    net = gpubp.Network(sizes, activation="relu", cost="log-likelihood", dtype="float64", device="cpu", seed=8)
    weights, biases = net.parameters()
    batches = shuffled_batches(net, x, np.eye(3)[labels], 5, batch)
    history = net.SGD((x, labels), 5, batch, eta, optimizer=rule, dropout=(0.4, 0.2), monitor_training_cost=False)
    dropout = Dropout((0.4, 0.2), sizes[1:-1], batch, history.trainer.state.dropout_seed)
    step_masks = [
        [masks(dropout.at(step), l, (len(bx), sizes[l + 1])) for l in (0, 1)] for step, (bx, _) in enumerate(batches)
    ]
    theirs = train(
        weights, biases, batches, rule, eta, 0.0, "log-likelihood", "softmax", ["relu", "relu"], masks=step_masks
    )
    for mine, torchs in zip(sum(net.parameters(), []), sum(theirs, [])):
        np.testing.assert_allclose(mine, torchs, rtol=1e-10, atol=1e-12)
    without = gpubp.Network(sizes, activation="relu", cost="log-likelihood", dtype="float64", device="cpu", seed=8)
    without.SGD((x, labels), 5, batch, eta, optimizer=rule, monitor_training_cost=False)
    assert not np.allclose(without.parameters()[0][0], net.parameters()[0][0])  # the masks mattered


def test_evaluation_and_prediction_never_drop():
    sizes = (6, 20, 3)
    x, labels = random_problem(sizes, m=50, seed=1)
    net = gpubp.Network(sizes, activation="relu", device="cpu", seed=2)
    history = net.SGD((x, labels), 2, 10, 0.1, dropout=0.5, test_data=(x, labels), validation_fraction=0.2)
    twice = [net.feedforward(x) for _ in range(2)]
    assert np.array_equal(*twice)
    plain = gpubp.Network.from_parameters(sizes, *net.parameters(), activation="relu", device="cpu")
    assert np.array_equal(plain.feedforward(x), twice[0])  # the outputs of the same weights without dropout
    assert history[-1].test_accuracy == plain.evaluate((x, labels)) / 50


def test_a_resumed_run_draws_the_masks_an_uninterrupted_run_draws(tmp_path):
    sizes = (6, 12, 10, 3)
    x, labels = random_problem(sizes, m=60, seed=3)
    config = TrainingConfig(epochs=4, mini_batch_size=10, eta=0.2, dropout=(0.5, 0.3), optimizer="nesterov")
    whole = Trainer(gpubp.Network(sizes, activation="tanh", device="cpu", seed=5))
    whole.train(config, (x, labels))
    first = Trainer(gpubp.Network(sizes, activation="tanh", device="cpu", seed=5))
    first.train(config.replace(epochs=2), (x, labels))
    save_checkpoint(tmp_path / "c.npz", first, {})
    resumed, _ = load_checkpoint(tmp_path / "c.npz", device="cpu")
    assert resumed.state.dropout_seed == first.state.dropout_seed == whole.state.dropout_seed
    resumed.train(config, (x, labels))
    for a, b in zip(sum(resumed.net.parameters(), []), sum(whole.net.parameters(), [])):
        assert np.array_equal(a, b)


def test_a_bad_rate_is_refused_in_one_line():
    x, labels = random_problem((4, 5, 3), m=20)
    net = gpubp.Network((4, 5, 3), device="cpu")
    for rate, message in [
        (1.0, "dropout (the dropout rate) must be a rate in [0, 1)"),
        ((0.1, 0.2), "lists 2 rates for 1 hidden"),
    ]:
        with pytest.raises(
            gpubp.SettingError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
        ):
            net.SGD((x, labels), 1, 5, 0.1, dropout=rate)
