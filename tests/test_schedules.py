"""Learning-rate schedules give the stated η at every step, agree with torch's schedulers, and refuse bad knobs."""

import math

import pytest

import gpubp
from gpubp.training import TrainingConfig
from gpubp.training.schedules import Plateau, Schedule


def run_etas(schedule: Schedule, epochs: int) -> list[float]:
    return [eta for epoch in range(1, epochs + 1) for eta in schedule.epoch_etas(epoch)]


def test_constant_is_exactly_eta_at_every_step():
    etas = run_etas(Schedule("constant", 3.0, epochs=3, steps=4), 3)
    assert etas == [3.0] * 12 and all(type(e) is float for e in etas)


def test_warmup_rises_linearly_per_step_then_holds():
    etas = run_etas(Schedule("constant", 2.0, epochs=4, steps=4, warmup_epochs=2), 4)
    assert etas[:8] == [2.0 * k / 8 for k in range(1, 9)]
    assert etas[8:] == [2.0] * 8


def test_cosine_decays_per_step_to_zero_at_the_end_of_the_last_epoch():
    etas = run_etas(Schedule("cosine", 0.5, epochs=4, steps=3), 4)
    assert etas == pytest.approx([0.25 * (1 + math.cos(math.pi * t / 12)) for t in range(12)], rel=1e-15)
    assert etas[0] == 0.5 and all(a > b for a, b in zip(etas, etas[1:])) and 0 < etas[-1] < 0.01
    assert 0.25 * (1 + math.cos(math.pi * 12 / 12)) == 0  # the next step, one past the run, would be 0


def test_cosine_after_warmup_decays_over_the_remaining_steps():
    etas = run_etas(Schedule("cosine", 1.0, epochs=3, steps=2, warmup_epochs=1), 3)
    assert etas[:2] == [0.5, 1.0]
    assert etas[2:] == pytest.approx([0.5 * (1 + math.cos(math.pi * p / 4)) for p in range(4)], rel=1e-15)


def test_cosine_equals_torch_cosine_annealing_per_step():
    torch = pytest.importorskip("torch")
    epochs, steps, eta = 5, 7, 0.3
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=eta)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps, eta_min=0.0)
    theirs = []
    for _ in range(epochs * steps):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert run_etas(Schedule("cosine", eta, epochs, steps), epochs) == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_plateau_divides_eta_after_patience_epochs_without_improvement():
    plateau = Plateau()
    seen = []
    for improved in [True, False, False, False, True, False, False, False, False]:
        plateau.end_epoch(improved, factor=2.0, patience=2)
        seen.append(plateau.scale)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125]
    schedule = Schedule("plateau", 1.0, epochs=9, steps=3, plateau=plateau)
    assert schedule.epoch_etas(1) == [0.125] * 3  # the schedule reads the plateau's cut
    resumed = Schedule("plateau", 0.5, epochs=9, steps=3, plateau=plateau)
    assert resumed.epoch_etas(1) == [0.0625] * 3  # a base η changed on resume is cut as far


def test_plateau_equals_torch_reduce_on_plateau():
    """torch counts patience as epochs tolerated, so its patience p − 1 is our p ("not improved for p epochs")."""
    torch = pytest.importorskip("torch")
    accuracies = [0.5, 0.6, 0.6, 0.55, 0.6, 0.7, 0.7, 0.7, 0.69, 0.71, 0.7, 0.7, 0.7, 0.7]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=1 / 3, patience=2, threshold=0.0, threshold_mode="abs"
    )
    plateau, best = Plateau(), -1.0
    for accuracy in accuracies:
        scheduler.step(accuracy)
        plateau.end_epoch(accuracy > best, factor=3.0, patience=3)
        best = max(best, accuracy)
        assert plateau.scale == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-15)
    assert plateau.scale < 1 / 3


def plateau(**knobs):
    return TrainingConfig(schedule="plateau", validation_fraction=0.1, **knobs)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: TrainingConfig(schedule="step"),
            "schedule (the learning-rate schedule) must be one of constant, plateau, cosine, got 'step'",
        ),
        (lambda: TrainingConfig(schedule=None), "must be one of constant, plateau, cosine, got None"),
        (lambda: TrainingConfig(warmup_epochs=-1), "warmup_epochs (the warm-up in epochs) must be a whole number >= 0"),
        (
            lambda: TrainingConfig(warmup_epochs=1.5),
            "warmup_epochs (the warm-up in epochs) must be a whole number >= 0",
        ),
        (lambda: TrainingConfig(warmup_epochs=True), "warmup_epochs (the warm-up in epochs) must be a whole number"),
        (lambda: TrainingConfig(epochs=10, warmup_epochs=10), "leaves no epoch at full η in a run of epochs=10"),
        (
            lambda: plateau(plateau_factor=1.0),
            "plateau_factor (the plateau factor that divides η) must be a finite number > 1",
        ),
        (lambda: plateau(plateau_factor=float("inf")), "plateau factor that divides η"),
        (lambda: plateau(plateau_factor=0.5), "plateau factor that divides η"),
        (
            lambda: plateau(plateau_patience=0),
            "plateau_patience (the plateau patience in epochs) must be a whole number >= 1",
        ),
        (lambda: plateau(plateau_patience=2.5), "the plateau patience in epochs) must be a whole number >= 1"),
        (lambda: TrainingConfig(plateau_factor=3.0), "plateau_factor applies to schedule plateau, not constant"),
        (lambda: TrainingConfig(schedule="plateau"), "schedule plateau watches the validation accuracy"),
    ],
)
def test_bad_schedule_knobs_are_refused(call, message):
    with pytest.raises(gpubp.InputError) as info:
        call()
    assert message in str(info.value)


def test_schedule_names_are_forgiving_about_case_and_spaces():
    assert TrainingConfig(schedule=" Cosine ").schedule == "cosine"
    TrainingConfig(epochs=1, warmup_epochs=0)
    plateau(plateau_factor=1.5, plateau_patience=1)
