"""Network arrays: each member trains exactly as ``Network(seed=seeds[k]).SGD`` with its own knobs and rows would.

Float64 on the digits, 3 epochs: every update rule with per-member η, L2 and its hyperparameters, schedules, a
hold-out with early stopping and the plateau, rows of its own per member (folds, bootstraps), sample weights,
dropout with ReLU, members stepped in groups; a member that diverges is stopped and named while the others go on;
inference, ensembles, ``arr[k]``, files, and what is refused. The one-process reference runs the same NumPy code
on one network, so the agreement is to rounding of the batched products (1e-10 relative is asked for; NumPy's
BLAS calls are the same per member, so it is usually exact).
"""

import warnings

import numpy as np
import pytest

import gpubp
from gpubp.backend.device import CpuBackend
from gpubp.data import load_digits

SIZES = [64, 12, 10]


@pytest.fixture(scope="module")
def data():
    return load_digits()


def worst_difference(a, b) -> float:
    return max(float(np.abs(p - q).max() / max(np.abs(q).max(), 1e-300)) for p, q in zip(a, b))


def agree(data, shared, per_member, rows=None, count=3, network=None, epochs=3):
    """Train an array and each member alone; return the largest relative difference of any parameter."""
    (x, y), test = data
    network = network or {}
    arr = gpubp.NetworkArray(SIZES, count, seeds=list(range(count)), dtype="float64", device="cpu", **network)
    lists = {name: [member[name] for member in per_member] for name in per_member[0]}
    eta = lists.pop("eta", shared.pop("eta", None))
    histories = arr.SGD((x, y), epochs, 10, eta, test_data=test, rows=rows, **shared, **lists)
    worst = 0.0
    for k in range(count):
        alone = gpubp.Network(SIZES, seed=k, dtype="float64", device="cpu", **network)
        mine = {name: values[k] for name, values in lists.items()}
        mine["eta"] = eta[k] if isinstance(eta, list) else eta
        training = (x, y) if rows is None else (x[rows[k]], y[rows[k]])
        reference = alone.SGD(training, epochs, 10, test_data=test, **shared, **mine)
        assert [r.test_accuracy for r in histories[k]] == [r.test_accuracy for r in reference]
        # members that share their rows are scored in one pass (``_training_costs``): the same costs, to rounding
        costs = [r.training_cost for r in histories[k]]
        np.testing.assert_allclose(costs, [r.training_cost for r in reference], rtol=1e-12, atol=0)
        assert histories[k].best_epoch == reference.best_epoch
        worst = max(worst, worst_difference(sum(arr[k].parameters(), []), sum(alone.parameters(), [])))
    return worst


@pytest.mark.parametrize(
    "shared, per_member",
    [
        ({}, [{"eta": 0.5, "lmbda": 0.0}, {"eta": 3.0, "lmbda": 1.0}, {"eta": 1.0, "lmbda": 5.0}]),
        (
            {"optimizer": "momentum"},
            [{"eta": 0.1, "momentum": m, "lmbda": l} for m, l in ((0.5, 0), (0.9, 2), (0.0, 1))],
        ),
        ({"optimizer": "nesterov", "lmbda": 1.0}, [{"eta": 0.1, "momentum": m} for m in (0.5, 0.9, 0.1)]),
        (
            {"optimizer": "adam"},
            [
                {"eta": e, "betas": b, "eps": eps}
                for e, b, eps in ((1e-3, (0.9, 0.999), 1e-8), (1e-2, (0.8, 0.99), 1e-6), (3e-3, (0.9, 0.9), 1e-8))
            ],
        ),  # fmt: skip
        ({"schedule": "cosine", "warmup_epochs": 1}, [{"eta": e} for e in (0.5, 3.0, 1.0)]),
        (
            {"validation_fraction": 0.2, "schedule": "plateau"},
            [{"eta": e, "patience": p, "plateau_patience": q} for e, p, q in ((0.5, 1, 1), (3.0, 2, 1), (8.0, 1, 2))],
        ),
    ],
    ids=["sgd and L2", "momentum", "nesterov", "adam", "cosine with warm-up", "hold-out, early stopping, plateau"],
)
def test_each_member_trains_exactly_as_it_would_alone(data, shared, per_member):
    assert agree(data, shared, per_member) <= 1e-10


def test_members_train_on_rows_of_their_own(data):
    """Folds and bootstraps: different row counts, so members take different numbers of steps (a last batch of
    its own size each), repeats included."""
    rng = np.random.default_rng(0)
    n = len(data[0][1])
    rows = [np.arange(0, n, 2), rng.choice(n, 731, replace=True), np.arange(n // 3, n)]
    assert agree(data, {"optimizer": "adam"}, [{"eta": 1e-2}] * 3, rows=rows) <= 1e-10


def test_sample_weights_dropout_and_relu_per_member(data):
    weights = np.random.default_rng(1).random(len(data[0][1]))
    per_member = [{"eta": 0.05, "dropout": d} for d in (0.5, 0.0, (0.2,))]
    shared = {"optimizer": "momentum", "sample_weight": weights}
    assert agree(data, shared, per_member, network={"activation": "relu"}) <= 1e-10


def test_each_member_may_weigh_the_rows_its_own_way(data):
    """A list of weight arrays (or None) is one per member, as a cross-validation's folds balance their classes."""
    rng = np.random.default_rng(2)
    n = len(data[0][1])
    per_member = [{"eta": 0.05, "sample_weight": w} for w in (rng.random(n), None, rng.integers(0, 3, n) * 1.0)]
    assert agree(data, {"optimizer": "adam", "validation_fraction": 0.1}, per_member) <= 1e-10


def test_members_stepped_a_group_at_a_time_train_as_they_would_alone(data, monkeypatch):
    """On the CPU a large array steps a group of members at a time (``groups``); one member per group here."""
    monkeypatch.setattr(CpuBackend, "group_bytes", 1)
    arr = gpubp.NetworkArray(SIZES, 3, device="cpu")
    assert [(low, high) for low, high, _ in arr.groups()] == [(0, 1), (1, 2), (2, 3)]
    shared = {"optimizer": "adam", "validation_fraction": 0.1, "patience": 1}
    assert agree(data, shared, [{"eta": e} for e in (1e-3, 1e-2, 3e-3)]) <= 1e-10


def test_a_continued_run_ends_where_an_uninterrupted_one_does(data):
    (x, y), _ = data
    whole = gpubp.NetworkArray(SIZES, 2, seeds=[3, 4], dtype="float64", device="cpu")
    whole.SGD((x, y), 3, 10, [0.5, 2.0], optimizer="nesterov")
    parts = gpubp.NetworkArray(SIZES, 2, seeds=[3, 4], dtype="float64", device="cpu")
    history = parts.SGD((x, y), 2, 10, [0.5, 2.0], optimizer="nesterov")
    history = parts.SGD((x, y), 3, 10, [0.5, 2.0], optimizer="nesterov", history=history)
    assert [len(h) for h in history] == [3, 3]
    assert all(np.array_equal(a, b) for a, b in zip(sum(whole.parameters(), []), sum(parts.parameters(), [])))


def test_a_member_that_diverges_is_named_and_stopped_and_the_others_go_on(data):
    (x, y), test = data
    arr = gpubp.NetworkArray(SIZES, 3, seeds=[0, 1, 2], dtype="float64", device="cpu", cost="cross-entropy")
    with pytest.warns(gpubp.TrainingWarning) as caught:
        histories = arr.SGD((x, y), 3, 10, [0.5, 0.5, 0.5], lmbda=[0.0, 1e6, 0.0], test_data=test)
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith("member 1: L2 multiplies every weight by 1 − ηλ/n")  # before training: negative
    assert messages[1].startswith("member 1 diverged and was stopped: training diverged in epoch 1: L2 multiplies")
    assert set(histories.diverged) == {1} and isinstance(histories.diverged[1], gpubp.TrainingDiverged)
    assert [len(h) for h in histories] == [3, 0, 3]
    assert list(arr.finite_members()) == [True, False, True]
    with pytest.raises(gpubp.InputError, match="member 1 of this array has weights that are not finite"):
        arr[1]
    with pytest.warns(gpubp.TrainingWarning, match=r"averages the 2 members with finite weights; member\(s\) 1 "):
        ensemble = arr.ensemble_feedforward(test[0])
    np.testing.assert_array_equal(ensemble, arr.feedforward(test[0])[[0, 2]].mean(axis=0))
    assert np.all(np.isfinite(ensemble))
    alone = gpubp.Network(SIZES, seed=2, dtype="float64", device="cpu", cost="cross-entropy")
    alone.SGD((x, y), 3, 10, 0.5, test_data=test)
    assert worst_difference(sum(arr[2].parameters(), []), sum(alone.parameters(), [])) <= 1e-10


def test_every_member_diverging_raises_as_one_network_does(data):
    (x, y), _ = data
    arr = gpubp.NetworkArray(SIZES, 2, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gpubp.TrainingWarning)
        with pytest.raises(gpubp.TrainingDiverged):
            arr.SGD((x, y), 2, 10, 1.0, lmbda=1e7)


def test_shared_order_reads_the_first_members_order(data):
    """With every seed the same, the members' own orders are the first member's: shared order changes nothing."""
    (x, y), _ = data
    trained = []
    for shared in (False, True):
        arr = gpubp.NetworkArray(SIZES, 3, seeds=[5, 5, 5], dtype="float64", device="cpu")
        arr.SGD((x, y), 2, 10, [0.5, 1.0, 3.0], shared_order=shared)
        trained.append(sum(arr.parameters(), []))
    assert worst_difference(*trained) <= 1e-12


def test_members_start_as_the_networks_of_their_seeds_and_arr_k_is_one(data):
    (x, _), _ = data
    arr = gpubp.NetworkArray(SIZES, 3, seeds=[7, 8, 9], device="cpu", activation="tanh")
    assert len(arr) == 3 and arr.seeds == [7, 8, 9]
    outputs = arr.feedforward(x[:20])
    assert outputs.shape == (3, 20, 10) and arr.predict(x[:20]).shape == (3, 20)
    for k, seed in enumerate([7, 8, 9]):
        alone = gpubp.Network(SIZES, seed=seed, device="cpu", activation="tanh")
        member = arr[k]
        assert type(member) is gpubp.Network
        assert all(np.array_equal(a, b) for a, b in zip(sum(member.parameters(), []), sum(alone.parameters(), [])))
        np.testing.assert_array_equal(outputs[k], alone.feedforward(x[:20]))
    mean = outputs.mean(axis=0)
    np.testing.assert_array_equal(arr.ensemble_feedforward(x[:20]), mean)
    np.testing.assert_array_equal(arr.ensemble_predict(x[:20]), mean.argmax(axis=1))


def test_an_array_is_saved_and_loaded_whole(data, tmp_path):
    (x, y), _ = data
    arr = gpubp.NetworkArray(SIZES, 2, seeds=[1, 2], device="cpu", activation="relu", cost="log-likelihood")
    arr.SGD((x, y), 1, 10, [0.1, 0.2])
    gpubp.save(arr, tmp_path / "array.npz")
    loaded = gpubp.load(tmp_path / "array.npz", device="cpu")
    assert type(loaded) is gpubp.NetworkArray and loaded.seeds == [1, 2] and loaded.activations == ("relu",)
    np.testing.assert_array_equal(loaded.feedforward(x[:9]), arr.feedforward(x[:9]))
    with pytest.raises(gpubp.ModelFileError, match="holds a network array .2 networks., not one network"):
        gpubp.model.storage.read(tmp_path / "array.npz")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a, d: a.SGD(d, 2, 10, 0.5, mini_batch_size=[10, 20]), "got multiple values|mini_batch_size"),
        (lambda a, d: a.SGD(d, 2, 10, [0.5, 1.0]), "eta.* lists 2 values for an array of 3 networks"),
        (lambda a, d: a.SGD(d, 2, 10, 0.5, optimizer=["sgd", "adam", "sgd"]), "optimizer.*must be the same for every"),
        (lambda a, d: a.SGD(d, 2, 10, [0.5, -1.0, 1.0]), "member 1: eta"),
        (lambda a, d: a.SGD(d, 2, 10, 0.5, rows=[[0, 1]] * 2), "rows must give one array of row indices per member"),
        (lambda a, d: a.SGD(d, 2, 10, 0.5, rows=[[0, 1], [5000], [2]]), r"rows\[1\] must be a non-empty list"),
        (lambda a, d: a.SGD(d, 2, 10, 0.5, rows=[[0, 1], [1], [2]], shared_order=True), "shared_order needs every"),
        (lambda a, d: a.SGD(d, 2, 10, np.array([0.5, 1.0])), "eta.* lists 2 values for an array of 3 networks"),
        (lambda a, d: a.SGD(d, 2, 10, np.array([0.5, np.nan, 1.0])), "member 1: eta"),
        (
            lambda a, d: a.SGD(
                d, 2, 2, 0.5, rows=[[0, 1], [2, 3], [4, 5]], sample_weight=np.r_[1, 1, 0, 0, np.ones(1434)]
            ),
            "member 1: the sample weights are 0 for every row this run trains on",
        ),
        (
            lambda a, d: a.SGD(d, 2, 1, 0.5, rows=[list(range(20))] * 2 + [[4]], validation_fraction=0.5),
            "member 2: ",
        ),
        (lambda a, d: a.SGD(d, 2, 10, 0.5, history=a.SGD(d, 1, 10, 0.5)[0]), "history must be the ArrayHistory"),
        (lambda a, d: a.SGD(d, 2, 10, 0.5, history=[None] * 2), "got a list of 2"),
    ],
)
def test_what_an_array_cannot_train_is_refused(data, call, message):
    arr = gpubp.NetworkArray(SIZES, 3, device="cpu")
    with pytest.raises((gpubp.InputError, TypeError), match=message):
        call(arr, data[0])


def test_seeds_and_count_are_checked():
    with pytest.raises(gpubp.InputError, match="count .the number of networks. must be a whole number >= 1"):
        gpubp.NetworkArray(SIZES, 0)
    with pytest.raises(gpubp.InputError, match="seeds must be a list of 2 seeds"):
        gpubp.NetworkArray(SIZES, 2, seeds=[1, 2, 3])


def test_members_are_taken_one_at_a_time_by_their_index():
    arr = gpubp.NetworkArray(SIZES, 2, seeds=[3, 4], device="cpu")
    assert arr[-1].config.seed == 4 and arr[np.int64(0)].config.seed == 3
    for bad, message in [
        (2, r"arr\[2\]: this array has 2 members, 0 to 1"),
        (-3, r"arr\[-3\]: this array has 2 members"),
        (slice(0, 1), "taken one at a time, by a whole number"),
        (True, "taken one at a time"),
        (1.0, "taken one at a time"),
    ]:
        with pytest.raises(gpubp.InputError, match=message):
            arr[bad]


def test_a_count_far_too_large_is_refused_in_one_line_before_anything_is_allocated():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for count in (2**32, 2**63):
        with pytest.raises(
            gpubp.OutOfMemoryError, match=f"an array of {count} networks of sizes .5, 3. in float32 would"
        ):
            gpubp.NetworkArray([5, 3], count)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: no list of 2**32 seeds


def test_a_batch_larger_than_a_members_rows_is_named_before_the_memory_is_weighed(data):
    arr = gpubp.NetworkArray(SIZES, 2, device="cpu")
    for batch in (10**7, 10**9):
        with pytest.raises(gpubp.InputError, match="member 0: mini_batch_size=.* is larger than the training set"):
            arr.SGD(data[0], 1, batch, 1.0)
