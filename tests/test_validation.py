"""Validation hold-out, early stopping and their state: a fixed, disjoint split; the best weights restored; exact
continuation and checkpoint resume with a schedule; every bad knob refused."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpubp
from gpubp.data import load_digits
from gpubp.training import Trainer, TrainingConfig, load_checkpoint, save_checkpoint
from gpubp.training.config import validation_split

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
    assert history.best_epoch is None  # no patience: the network keeps its last weights


@pytest.mark.parametrize("optimizer, eta", [("sgd", 0.5), ("adam", 0.01)])
def test_l2_counts_only_the_samples_trained_on(digits, optimizer, eta):
    """network2's L2 divides λ by n, the training set's size: with a hold-out, the rows left to train on."""
    (x, y), _ = digits
    rows, _ = validation_split(len(y), 0.25)
    with_split = gpubp.Network([64, 16, 10], device="cpu", seed=3)
    history = with_split.SGD((x, y), 2, 10, eta, validation_fraction=0.25, optimizer=optimizer, lmbda=5.0)
    alone = gpubp.Network([64, 16, 10], device="cpu", seed=3)
    alone.SGD((x[rows], y[rows]), 2, 10, eta, optimizer=optimizer, lmbda=5.0)
    assert history.trainer.optimizer.weight_decay == 5.0 / len(rows)
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
    assert history.best_epoch == best
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
    whole_history = whole.SGD(train, 8, 20, eta, **options)
    parts = gpubp.Network([64, 12, 10], cost="log-likelihood", device="cpu", seed=2)
    history = parts.SGD(train, split, 20, eta, **options)
    assert history.trainer.state.restored and history.best_epoch < split, (
        "nothing restored: the test would prove little"
    )
    if via_checkpoint:
        save_checkpoint(tmp_path / "checkpoint.npz", history.trainer, {})
        history = load_checkpoint(tmp_path / "checkpoint.npz", device="cpu", network=gpubp.Network)[0].history
        parts = history.trainer.net
    parts.SGD(train, 8, 20, eta, history=history, **options)
    assert same_weights(whole, parts) and whole_history.best_epoch == history.best_epoch
    assert whole_history.trainer.state.plateau == history.trainer.state.plateau
    assert whole_history.trainer.optimizer.steps == history.trainer.optimizer.steps


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
def test_checkpoint_resume_with_a_schedule_and_early_stopping_is_exact(digits, tmp_path, schedule):
    train, test = digits
    options = dict(validation_fraction=0.2, patience=40, schedule=schedule, warmup_epochs=2)
    if schedule == "plateau":
        options["plateau_patience"] = 1  # the cosine schedule would refuse it: it never reads it
    whole = gpubp.Network([64, 20, 10], device="cpu", seed=4)
    whole_history = whole.SGD(train, 9, 10, 2.0, test_data=test, **options)
    if schedule == "plateau":
        assert whole_history.trainer.state.plateau.scale < 1, "the plateau never fired: the test would prove little"
    first = Trainer(gpubp.Network([64, 20, 10], device="cpu", seed=4))

    def checkpoint_then_die(stats):  # what gpubp train does after every epoch, then a kill after epoch 5
        save_checkpoint(tmp_path / "checkpoint.npz", first, {})
        if stats.epoch == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        config = TrainingConfig(epochs=9, mini_batch_size=10, eta=2.0, **options)
        first.train(config, train, test, on_epoch=checkpoint_then_die)
    trainer, _ = load_checkpoint(tmp_path / "checkpoint.npz", device="cpu", network=gpubp.Network)
    assert len(trainer.history) == 5 and trainer.config == config
    resumed = trainer.net
    resumed_history = resumed.SGD(train, 9, 10, 2.0, test_data=test, history=trainer.history, **options)
    assert same_weights(whole, resumed) and resumed_history.best_epoch == whole_history.best_epoch
    assert [h.eta for h in resumed_history] == [h.eta for h in whole_history]
    assert [h.validation_accuracy for h in resumed_history] == [h.validation_accuracy for h in whole_history]


def test_old_checkpoints_without_training_state_still_resume(digits, tmp_path):
    train, _ = digits
    net = gpubp.Network([64, 10], device="cpu", seed=0)
    history = net.SGD(train, 1, 50, 0.5)
    save_checkpoint(tmp_path / "c.npz", history.trainer, {})
    with np.load(tmp_path / "c.npz") as npz:
        arrays = {k: v for k, v in npz.items() if k != "checkpoint_run" and not k.startswith("optimizer_")}
    np.savez(tmp_path / "old.npz", **arrays)  # as written before the optimizer and the training state were saved
    trainer, _ = load_checkpoint(tmp_path / "old.npz", device="cpu", network=gpubp.Network)
    assert trainer.optimizer is None and trainer.config is None and trainer.state.best_epoch is None
    assert len(trainer.net.SGD(train, 2, 50, 0.5, history=trainer.history)) == 2


@pytest.mark.parametrize(
    "options, message",
    [
        (
            dict(validation_fraction=1.0),
            "validation_fraction (the validation fraction) must be a finite number in [0, 1)",
        ),
        (
            dict(validation_fraction=-0.1),
            "validation_fraction (the validation fraction) must be a finite number in [0, 1)",
        ),
        (dict(validation_fraction=float("nan")), "the validation fraction) must be a finite number in [0, 1)"),
        (dict(validation_fraction="0.2"), "the validation fraction) must be a finite number in [0, 1)"),
        (dict(validation_fraction=0.001), "validation_fraction=0.001 holds out no sample of 40"),
        (dict(validation_fraction=0.9), "leaves 4 training samples, fewer than one mini-batch of 5"),
        (
            dict(patience=-1, validation_fraction=0.2),
            "patience (the early-stopping patience in epochs) must be a whole",
        ),
        (dict(patience=0, validation_fraction=0.2), "patience in epochs) must be a whole number >= 1 (or None"),
        (dict(patience=2.5, validation_fraction=0.2), "patience in epochs) must be a whole number >= 1 (or None"),
        (dict(patience=3), "patience watches the validation accuracy, but there is no validation data"),
        (dict(schedule="plateau"), "schedule plateau watches the validation accuracy"),
        (dict(schedule="exponential"), "must be one of constant, plateau, cosine, got 'exponential'"),
        (dict(warmup_epochs=3), "warmup_epochs=3 leaves no epoch at full η in a run of epochs=3"),
        (dict(plateau_factor=1.0), "the plateau factor that divides η"),
        (dict(plateau_patience=0), "the plateau patience in epochs) must be a whole number"),
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
        held_out = TrainingConfig(mini_batch_size=batch, validation_fraction=fraction).rows(n)[1]
    except gpubp.InputError:
        assert not 0 <= fraction < 1 or (fraction and round(n * fraction) < 1) or n - round(n * fraction) < batch
        return
    rows, validation = validation_split(n, fraction)
    assert len(validation) == held_out and len(rows) >= batch and len(rows) + held_out == n
    assert not np.intersect1d(rows, validation).size and (held_out >= 1 or fraction == 0)
