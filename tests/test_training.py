"""SGD trains: seeded runs are reproducible, the cost falls, the digits reach a stated accuracy, bad knobs are
refused."""

import numpy as np
import pytest

import gpubp
from gpubp.data import load_digits

from helpers import random_problem


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_same_seed_gives_bit_identical_weights(digits):
    train, _ = digits
    runs = []
    for _ in range(2):
        net = gpubp.Network([64, 20, 10], device="cpu", seed=11)
        net.SGD(train, 2, 10, 3.0, monitor_training_cost=False)
        runs.append(net.parameters())
    for a, b in zip(runs[0][0] + runs[0][1], runs[1][0] + runs[1][1]):
        assert np.array_equal(a, b)
    other = gpubp.Network([64, 20, 10], device="cpu", seed=12)
    assert not np.array_equal(other.parameters()[0][0], runs[0][0][0])


def test_seeded_run_lowers_the_cost(digits):
    train, test = digits
    net = gpubp.Network([64, 30, 10], device="cpu", seed=2)
    before = net.total_cost(train)
    history = net.SGD(train, 3, 10, 3.0, test_data=test)
    assert history[-1].training_cost < 0.5 * before
    assert history[-1].training_cost < history[0].training_cost


def test_digits_reach_the_stated_accuracy(digits):
    """The lecture's protocol on the bundled digits: [64, 30, 10], quadratic cost, 30 epochs, batch 10, η = 3."""
    train, test = digits
    net = gpubp.Network([64, 30, 10], cost="quadratic", device="cpu", seed=0)
    history = net.SGD(train, 30, 10, 3.0, test_data=test)
    assert len(history) == 30
    assert history[-1].test_accuracy >= 0.94
    assert net.evaluate(test) == round(history[-1].test_accuracy * len(test[1]))


def test_history_records_every_epoch(digits):
    train, test = digits
    net = gpubp.Network([64, 10], cost="cross-entropy", dtype="float64", device="cpu", seed=1)
    seen = []
    history = net.SGD(train, 3, 50, 0.5, test_data=test, on_epoch=seen.append)
    assert seen == history and [h.epoch for h in history] == [1, 2, 3]
    for h in history:
        assert h.seconds > 0 and h.samples_per_s > 0
        assert 0 <= h.test_accuracy <= 1 and h.training_cost > 0 and h.test_cost > 0
    assert net.weights[0].dtype == np.float64


def test_training_never_writes_to_the_callers_arrays():
    x, y = random_problem((8, 6, 3), m=40, seed=3, dtype=np.float32)
    x_before, y_before = x.copy(), y.copy()
    weights = [np.ones((6, 8)), np.ones((3, 6))]
    biases = [np.zeros(6), np.zeros(3)]
    net = gpubp.Network.from_parameters((8, 6, 3), weights, biases, device="cpu")
    net.SGD((x, y), 2, 7, 1.0)  # 40 = 5 × 7 + 5: the last mini-batch is smaller
    assert np.array_equal(x, x_before) and np.array_equal(y, y_before)
    assert np.all(weights[0] == 1) and np.all(biases[1] == 0)
    assert not np.all(net.parameters()[0][0] == 1)


def test_parameters_live_in_one_aligned_buffer_whose_padding_stays_zero():
    """One subtraction updates every layer; each W and b starts on a 256-byte boundary for the GEMM libraries."""
    sizes = (9, 5, 3)  # 45 + 5 and 15 + 3 parameters: every view needs padding after it
    x, y = random_problem(sizes, m=30, seed=4, dtype=np.float32)
    net = gpubp.Network(sizes, device="cpu", seed=0)
    weights, biases = net.parameters()
    net.SGD((x, y), 2, 10, 3.0)
    flat = net._parameters.flat
    used = np.zeros(flat.shape, bool)
    for view in net.weights + net.biases:
        offset = (view.__array_interface__["data"][0] - flat.__array_interface__["data"][0]) // flat.itemsize
        assert offset * flat.itemsize % 256 == 0
        used[offset : offset + view.size] = True
    assert np.all(flat[~used] == 0) and np.count_nonzero(~used) > 0
    assert all(not np.array_equal(w, after) for w, after in zip(weights, net.parameters()[0]))


def test_parameters_that_cannot_be_converted_change_nothing():
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    weights, biases = net.parameters()
    with pytest.raises(ValueError):
        net.set_parameters([np.zeros((3, 4))], [np.array(["a", "b", "c"])])
    assert np.array_equal(net.parameters()[0][0], weights[0]) and np.array_equal(net.parameters()[1][0], biases[0])


def test_one_matrix_product_per_layer_whatever_the_batch_size(monkeypatch):
    """No per-sample loop: a step makes the same number of GEMM calls for 1 row as for 64."""
    net = gpubp.Network((5, 7, 4, 3), dtype="float64", device="cpu", seed=0)
    calls = []
    real_matmul = np.matmul
    monkeypatch.setattr(np, "matmul", lambda *args, **kw: calls.append(1) or real_matmul(*args, **kw))
    counts = []
    for m in (1, 64):
        x, labels = random_problem((5, 7, 4, 3), m=m, seed=m)
        calls.clear()
        net.update_mini_batch(x, np.eye(3)[labels], 0.1)
        counts.append(len(calls))
        calls.clear()
        net.evaluate((x, labels))
        counts.append(len(calls))
    assert counts == [3 + 3 + 2, 3] * 2  # forward 3, BP4 3, BP2 2 per step; 3 for a forward pass


@pytest.mark.parametrize(
    "knobs, message",
    [
        ((1, 0, 1.0), "mini_batch_size (the mini-batch size) must be a whole number >= 1"),
        ((1, 41, 1.0), "mini_batch_size=41 is larger than the training set (40 samples)"),
        ((1, 5, 0.0), "eta (the learning rate η) must be a finite number > 0"),
        ((1, 5, float("nan")), "eta (the learning rate η) must be a finite number > 0"),
        ((0, 5, 1.0), "epochs must be a whole number >= 1"),
        ((1.5, 5, 1.0), "epochs must be a whole number >= 1"),
    ],
)
def test_bad_hyperparameters_are_refused_with_the_fix(knobs, message):
    x, y = random_problem((4, 3), m=40)
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    before = net.parameters()
    with pytest.raises(gpubp.InputError) as info:
        net.SGD((x, y), *knobs)
    assert message in str(info.value)
    assert all(np.array_equal(a, b) for a, b in zip(before[0], net.parameters()[0]))


@pytest.mark.parametrize(
    "data, message",
    [
        ((np.zeros((5, 3)), np.zeros(5, int)), "has 3 features per sample but the network's input layer has 4"),
        ((np.full((5, 4), np.nan), np.zeros(5, int)), "NaN or infinite"),
        ((np.zeros((5, 4)), np.array([0, 1, 2, 3, 9])), "labels must lie in 0..2"),
        ((np.zeros((5, 4)), np.array([0, 1, -1, 0, 0])), "labels must lie in 0..2"),
        ((np.zeros((5, 4)), np.array([0, 1, 0.5, 0, 0])), "labels must be whole numbers"),
        ((np.zeros((5, 4)), np.zeros(4, int)), "one numeric label per row"),
        ((np.zeros((5, 4)), np.array(["a"] * 5)), "one numeric label per row"),
        (([[1, 2, 3, 4], [1, 2]], [0, 1]), "could not be read"),
        ((np.zeros((0, 4)), np.zeros(0, int)), "non-empty 2-D array"),
        (np.zeros((5, 4)), "must be a pair (X, y)"),
    ],
)
def test_bad_data_is_refused_with_the_fix(data, message):
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    with pytest.raises(gpubp.InputError) as info:
        net.SGD(data, 1, 1, 1.0)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sizes=[4]), "at least two layer widths"),
        (dict(sizes=[4, 0, 3]), "at least two layer widths"),
        (dict(sizes=[4, 2.5, 3]), "at least two layer widths"),
        (dict(sizes="abc"), "whole numbers"),
        (dict(sizes=[4, 3], cost="hinge"), "cost (the cost) must be one of quadratic, cross-entropy, log-likelihood"),
        (dict(sizes=[4, 3], dtype="float16"), "dtype (the dtype) must be one of float32, float64, got 'float16'"),
        (dict(sizes=[4, 3], device="tpu"), "unknown device 'tpu'"),
    ],
)
def test_bad_network_settings_are_refused(kwargs, message):
    with pytest.raises(gpubp.InputError) as info:
        gpubp.Network(**kwargs)
    assert message in str(info.value)


def test_divergence_stops_after_the_epoch_with_advice(digits):
    train, _ = digits
    net = gpubp.Network([64, 10, 10], device="cpu", seed=0)
    seen = []
    with pytest.raises(gpubp.TrainingDiverged) as info:
        net.SGD(train, 3, 10, 1e40, on_epoch=seen.append)
    assert info.value.epoch == 1 and seen == []
    assert "try a smaller one, such as 1e+39" in str(info.value)


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(digits, tmp_path):
    from gpubp.training import load_checkpoint, save_checkpoint

    train, test = digits
    whole = gpubp.Network([64, 12, 10], device="cpu", seed=5)
    whole.SGD(train, 4, 10, 3.0)
    first = gpubp.Network([64, 12, 10], device="cpu", seed=5)
    history = first.SGD(train, 2, 10, 3.0, test_data=test)
    save_checkpoint(tmp_path / "checkpoint.npz", history.trainer, {"lr": 3.0})
    trainer, settings = load_checkpoint(tmp_path / "checkpoint.npz", device="cpu", network=gpubp.Network)
    resumed, restored = trainer.net, trainer.history
    assert restored == history and settings == {"lr": 3.0} and restored.trainer is trainer
    assert len(resumed.SGD(train, 4, 10, 3.0, history=restored)) == 4
    for a, b in zip(resumed.parameters()[0] + resumed.parameters()[1], whole.parameters()[0] + whole.parameters()[1]):
        assert np.array_equal(a, b)
    assert gpubp.load(tmp_path / "checkpoint.npz").sizes == (64, 12, 10)  # a checkpoint is a model file too


def test_epoch_time_and_rate_are_measured(digits):
    train, _ = digits
    history = gpubp.Network([64, 10], device="cpu", seed=0).SGD(train, 1, 10, 1.0, monitor_training_cost=False)
    assert 0 < history[0].seconds < 60 and history[0].samples_per_s == pytest.approx(1438 / history[0].seconds)


def test_numpy_numbers_are_fine_knobs(digits):
    train, _ = digits
    history = gpubp.Network([64, 10], device="cpu", seed=0).SGD(train, np.int64(2), np.int32(50), np.float32(0.5))
    assert len(history) == 2


def test_a_history_is_validated_before_anything_trains(digits):
    train, _ = digits
    net = gpubp.Network([64, 10, 10], device="cpu", seed=0)
    history = net.SGD(train, 2, 10, 3.0)
    before = net.parameters()[0][0].copy()
    cases = [
        (dict(history=history), 2, "the history already holds 2 epochs, so training up to epoch 2 has nothing"),
        (dict(history=history), 1, "the history already holds 2 epochs, so training up to epoch 1 has nothing"),
        (dict(history=[1, 2, 3]), 5, "history must hold EpochStats rows (what SGD returns); row 1 is 1"),
        (dict(history="abc"), 5, "history must be a list of EpochStats rows"),
        (dict(history=[gpubp.EpochStats(True, 1.0, 1.0)]), 5, "history's row 1 is numbered True"),
    ]
    for knobs, epochs, message in cases:
        with pytest.raises(gpubp.InputError) as info:
            net.SGD(train, epochs, 10, 3.0, **knobs)
        assert message in str(info.value), knobs
    assert np.array_equal(net.parameters()[0][0], before)
    assert len(net.SGD(train, 1, 10, 3.0, history=None)) == 1  # None: no history, a new run


def test_a_history_whose_network_trained_in_another_run_since_is_refused(digits):
    train, _ = digits
    net = gpubp.Network([64, 10, 10], device="cpu", seed=0)
    first = net.SGD(train, 2, 10, 3.0)
    net.SGD(train, 1, 10, 3.0)  # another run of the same network
    with pytest.raises(gpubp.InputError, match="this history's run is not its network's latest"):
        net.SGD(train, 4, 10, 3.0, history=first)
    latest = net.SGD(train, 1, 10, 3.0)
    assert len(net.SGD(train, 3, 10, 3.0, history=latest)) == 3
