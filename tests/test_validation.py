"""Validation hold-out, early stopping and their state: a fixed, disjoint split; the best weights restored; exact
continuation and checkpoint resume with a schedule; every bad knob refused."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpubp
from gpubp.data import load_digits
from gpubp.training import load_checkpoint, save_checkpoint
from gpubp.training.sgd import check_validation_fraction, validation_split

from helpers import random_problem


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def same_weights(a, b) -> bool:
    (wa, ba), (wb, bb) = a.parameters(), b.parameters()
    return all(np.array_equal(p, q) for p, q in zip(wa + ba, wb + bb))


def test_the_split_is_fixed_disjoint_and_complete():
    train, held_out = validation_split(1438, 0.2)
    again = validation_split(1438, 0.2)
    assert np.array_equal(train, again[0]) and np.array_equal(held_out, again[1])
    assert len(held_out) == round(1438 * 0.2) and len(train) + len(held_out) == 1438
    assert not set(train) & set(held_out) and set(train) | set(held_out) == set(range(1438))
    assert not np.array_equal(held_out, np.arange(len(held_out)))  # shuffled, not the first rows


def test_training_uses_exactly_the_other_rows_and_scores_the_held_out_ones(digits):
    """A run with a hold-out trains as a run on the remaining rows alone (same shuffles: the split draws nothing
    from the network's generator), and its validation figures are those of the held-out rows."""
    (x, y), _ = digits
    rows, held_out = validation_split(len(y), 0.25)
    with_split = gpubp.Network([64, 16, 10], device="cpu", seed=3)
    history = with_split.SGD((x, y), 3, 10, 3.0, validation_fraction=0.25)
    alone = gpubp.Network([64, 16, 10], device="cpu", seed=3)
    alone.SGD((x[rows], y[rows]), 3, 10, 3.0)
    assert same_weights(with_split, alone)
    assert history[-1].validation_accuracy == with_split.evaluate((x[held_out], y[held_out])) / len(held_out)
    assert history[-1].validation_cost == pytest.approx(with_split.total_cost((x[held_out], y[held_out])), rel=1e-6)
    assert history[-1].training_cost == pytest.approx(with_split.total_cost((x[rows], y[rows])), rel=1e-6)
    assert with_split.best_epoch is None  # no patience: the network keeps its last weights


@pytest.mark.parametrize("optimizer, eta", [("sgd", 0.5), ("adam", 0.01)])
def test_l2_counts_only_the_samples_trained_on(digits, optimizer, eta):
    """network2's L2 divides λ by n, the training set's size: with a hold-out, the rows left to train on."""
    (x, y), _ = digits
    rows, _ = validation_split(len(y), 0.25)
    with_split = gpubp.Network([64, 16, 10], device="cpu", seed=3)
    with_split.SGD((x, y), 2, 10, eta, validation_fraction=0.25, optimizer=optimizer, lmbda=5.0)
    alone = gpubp.Network([64, 16, 10], device="cpu", seed=3)
    alone.SGD((x[rows], y[rows]), 2, 10, eta, optimizer=optimizer, lmbda=5.0)
    assert with_split.optimizer.weight_decay == 5.0 / len(rows)
    assert same_weights(with_split, alone)


def test_without_validation_the_history_says_so_and_eta_is_recorded(digits):
    train, _ = digits
    history = gpubp.Network([64, 10], device="cpu", seed=0).SGD(train, 3, 100, 0.5, warmup_epochs=2)
    assert [h.validation_accuracy for h in history] == [None] * 3
    assert [h.eta for h in history] == [0.5 * 15 / 30, 0.5, 0.5]  # 1438 rows: 15 steps per epoch


def test_early_stopping_keeps_the_best_epochs_weights(digits):
    (x, y), _ = digits
    net = gpubp.Network([64, 30, 10], device="cpu", seed=0)
    history = net.SGD((x, y), 60, 10, 3.0, validation_fraction=0.2, patience=3)
    accuracies = [h.validation_accuracy for h in history]
    best = int(np.argmax(accuracies)) + 1  # the first epoch with the best accuracy
    assert len(history) < 60 and len(history) == best + 3, "expected an early stop on the digits"
    assert net.best_epoch == best
    _, held_out = validation_split(len(y), 0.2)
    assert net.evaluate((x[held_out], y[held_out])) / len(held_out) == accuracies[best - 1]
    shorter = gpubp.Network([64, 30, 10], device="cpu", seed=0)
    shorter.SGD((x, y), best, 10, 3.0, validation_fraction=0.2)
    assert same_weights(net, shorter)  # exactly the weights after the best epoch
    with pytest.raises(gpubp.InputError, match=f"stopped early after epoch {len(history)}"):
        net.SGD((x, y), 70, 10, 3.0, validation_fraction=0.2, patience=3, history=history)


@pytest.mark.parametrize("via_checkpoint", [False, True])
@pytest.mark.parametrize("optimizer, eta, split", [("sgd", 3.0, 3), ("nesterov", 1.0, 5), ("adam", 0.05, 4)])
def test_continuing_after_the_best_weights_were_restored_is_exact(
    digits, tmp_path, optimizer, eta, split, via_checkpoint
):
    """Training to epoch ``split`` (which ends with an earlier, better epoch's weights) and on to 8 equals training
    to 8 in one call, for update rules with state too: the best weights are the parameters alone, the rule's
    velocity and moments stay the last epoch's, and continuing swaps the last weights back to go on with them. A
    checkpoint taken between the two calls carries all of it."""
    train, _ = digits
    options = dict(
        validation_fraction=0.3,
        patience=50,
        schedule="plateau",
        plateau_patience=1,
        warmup_epochs=1,
        optimizer=optimizer,
        lmbda=1.0,
    )
    whole = gpubp.Network([64, 12, 10], cost="log-likelihood", device="cpu", seed=2)
    whole.SGD(train, 8, 20, eta, **options)
    parts = gpubp.Network([64, 12, 10], cost="log-likelihood", device="cpu", seed=2)
    history = parts.SGD(train, split, 20, eta, **options)
    assert parts.training_state.restored and parts.best_epoch < split, "nothing restored: the test would prove little"
    if via_checkpoint:
        save_checkpoint(tmp_path / "checkpoint.npz", parts, history, {})
        parts, history, _ = load_checkpoint(tmp_path / "checkpoint.npz", device="cpu")
    parts.SGD(train, 8, 20, eta, history=history, **options)
    assert same_weights(whole, parts) and whole.best_epoch == parts.best_epoch
    assert whole.training_state.plateau == parts.training_state.plateau
    assert whole.optimizer.steps == parts.optimizer.steps


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
def test_checkpoint_resume_with_a_schedule_and_early_stopping_is_exact(digits, tmp_path, schedule):
    train, test = digits
    options = dict(validation_fraction=0.2, patience=40, schedule=schedule, plateau_patience=1, warmup_epochs=2)
    whole = gpubp.Network([64, 20, 10], device="cpu", seed=4)
    whole_history = whole.SGD(train, 9, 10, 2.0, test_data=test, **options)
    if schedule == "plateau":
        assert whole.training_state.plateau.scale < 1, "the plateau never fired: the test would prove little"
    first = gpubp.Network([64, 20, 10], device="cpu", seed=4)

    done = []

    def checkpoint_then_die(stats):  # what gpubp train does after every epoch, then a kill after epoch 5
        done.append(stats)
        save_checkpoint(tmp_path / "checkpoint.npz", first, done, {})
        if stats.epoch == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        first.SGD(train, 9, 10, 2.0, test_data=test, on_epoch=checkpoint_then_die, **options)
    resumed, _, _ = load_checkpoint(tmp_path / "checkpoint.npz", device="cpu")
    resumed_history = resumed.SGD(train, 9, 10, 2.0, test_data=test, history=whole_history[:5], **options)
    assert same_weights(whole, resumed) and resumed.best_epoch == whole.best_epoch
    assert [h.eta for h in resumed_history] == [h.eta for h in whole_history]
    assert [h.validation_accuracy for h in resumed_history] == [h.validation_accuracy for h in whole_history]


def test_old_checkpoints_without_training_state_still_resume(digits, tmp_path):
    train, _ = digits
    net = gpubp.Network([64, 10], device="cpu", seed=0)
    history = net.SGD(train, 1, 50, 0.5)
    save_checkpoint(tmp_path / "c.npz", net, history, {})
    with np.load(tmp_path / "c.npz") as npz:
        arrays = {k: v for k, v in npz.items() if not k.startswith("checkpoint_training")}
    np.savez(tmp_path / "old.npz", **arrays)
    resumed, restored, _ = load_checkpoint(tmp_path / "old.npz", device="cpu")
    assert resumed.training_state is None and len(resumed.SGD(train, 2, 50, 0.5, history=restored)) == 2


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(validation_fraction=1.0), "validation fraction must lie in [0, 1)"),
        (dict(validation_fraction=-0.1), "validation fraction must lie in [0, 1)"),
        (dict(validation_fraction=float("nan")), "validation fraction must lie in [0, 1)"),
        (dict(validation_fraction="0.2"), "validation fraction must lie in [0, 1)"),
        (dict(validation_fraction=0.001), "holds out no sample of 40"),
        (dict(validation_fraction=0.9), "leaves 4 training samples, fewer than one mini-batch of 5"),
        (dict(patience=-1, validation_fraction=0.2), "patience must be a whole number of epochs >= 1"),
        (dict(patience=0, validation_fraction=0.2), "patience must be a whole number of epochs >= 1"),
        (dict(patience=2.5, validation_fraction=0.2), "patience must be a whole number of epochs >= 1"),
        (dict(patience=3), "patience watches the validation accuracy, but there is no validation data"),
        (dict(schedule="plateau"), "the plateau schedule watches the validation accuracy"),
        (dict(schedule="exponential"), "unknown schedule 'exponential'"),
        (dict(warmup_epochs=3), "a warm-up of 3 epochs leaves no epoch at full η in a run of 3 epochs"),
        (dict(plateau_factor=1.0), "plateau factor divides η"),
        (dict(plateau_patience=0), "plateau patience must be a whole number"),
    ],
)
def test_bad_method_knobs_are_refused_before_training(options, message):
    x, y = random_problem((4, 3), m=40)
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    before = net.parameters()
    with pytest.raises(gpubp.InputError) as info:
        net.SGD((x, y), 3, 5, 1.0, **options)
    assert message in str(info.value)
    assert same_weights(net, gpubp.Network.from_parameters((4, 3), *before, device="cpu"))


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 5000),
    batch=st.integers(1, 500),
    fraction=st.floats(-1, 2) | st.just(float("nan")) | st.sampled_from([0.0, 0.5]),
)
def test_any_accepted_fraction_gives_a_disjoint_split_with_a_full_batch(n, batch, fraction):
    try:
        held_out = check_validation_fraction(fraction, n, batch)
    except gpubp.InputError:
        assert not 0 <= fraction < 1 or (fraction and round(n * fraction) < 1) or n - round(n * fraction) < batch
        return
    rows, validation = validation_split(n, fraction)
    assert len(validation) == held_out and len(rows) >= batch and len(rows) + held_out == n
    assert not np.intersect1d(rows, validation).size and (held_out >= 1 or fraction == 0)
