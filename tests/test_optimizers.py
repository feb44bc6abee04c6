"""The update rules against torch.optim, L2 against its cost's gradient, sgd against the lecture's per-sample loop,
and the knobs.

PyTorch is the independent reference (tests/torch_reference.py): torch.nn layers with sigmoid units, the same cost
averaged over the mini-batch, torch.optim's SGD (plain, momentum, Nesterov) and Adam, from the same weights
through the same mini-batches, λ given as weight_decay = λ/n on the weights only.
"""

import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gpubp
from gpubp.training import TrainingConfig
from gpubp.training.config import RULES

import reference
from helpers import random_problem

torch_reference = pytest.importorskip("torch_reference", reason="the peer tests need PyTorch")

ETA = {"sgd": 0.5, "momentum": 0.5, "nesterov": 0.5, "adam": 0.01}


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("lmbda", [0.0, 5.0])
@pytest.mark.parametrize("rule", RULES)
def test_fifty_steps_match_torch_optim(rule, lmbda, cost):
    sizes, n, batch = (6, 5, 4, 3), 95, 10  # 10 steps an epoch, the last of 5 rows; 5 epochs = 50 steps
    x, labels = random_problem(sizes, m=n, seed=7)
    net = gpubp.Network(sizes, cost=cost, dtype="float64", device="cpu", seed=8)
    weights, biases = net.parameters()
    batches = torch_reference.shuffled_batches(net, x, np.eye(sizes[-1])[labels], 5, batch)
    assert len(batches) == 50

    net.SGD((x, labels), 5, batch, ETA[rule], optimizer=rule, lmbda=lmbda, monitor_training_cost=False)
    ours = net.parameters()
    theirs = torch_reference.train(
        weights, biases, batches, rule, ETA[rule], lmbda / n, cost, activations=["sigmoid"] * 2
    )
    for mine, torchs, before in zip(ours[0] + ours[1], theirs[0] + theirs[1], weights + biases):
        assert np.max(np.abs(mine - before)) > 1e-3  # the rule moved them
        np.testing.assert_allclose(mine, torchs, rtol=1e-10, atol=0)


@pytest.mark.parametrize("cost", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 1e-5)])
def test_sgd_is_the_lectures_sgd_over_shuffled_epochs(dtype, tolerance, cost):
    """3 epochs of sgd (η/m folded into BP1's δ, one subtraction per step) against the lecture's per-sample loop in
    float64, from the same weights and in the same shuffle order: equal within rounding (1e-10 relative in float64;
    float32's rounding over 30 steps, 1e-5)."""
    sizes = (10, 8, 4)
    x, labels = random_problem(sizes, m=67, seed=3)
    net = gpubp.Network(sizes, cost=cost, dtype=dtype, device="cpu", seed=21)
    weights, biases = ([p.astype(np.float64) for p in part] for part in net.parameters())
    shuffles = copy.deepcopy(net.rng)  # the generator as training will find it: the same orders, drawn again
    net.SGD((x, labels), 3, 7, 0.5, monitor_training_cost=False)
    expected = reference.sgd(weights, biases, x, np.eye(sizes[-1])[labels], 3, 7, 0.5, shuffles, cost)
    for got, want in zip(sum(net.parameters(), []), sum(expected, [])):
        assert np.max(np.abs(got - want)) <= tolerance * np.max(np.abs(want)), (dtype, cost)


def regularized_cost_gradient(net, data, lmbda, n, h=1e-4):
    """Central differences of C + λ/(2n) Σ w² (weights only), one parameter at a time: (nabla_w, nabla_b)."""
    weights, biases = net.parameters()

    def cost(ws, bs):
        net.set_parameters(ws, bs)
        return net.total_cost(data) + lmbda / (2 * n) * sum(float(np.sum(w * w)) for w in ws)

    gradients = []
    for arrays in (weights, biases):
        layer_grads = []
        for p in arrays:
            grad = np.zeros_like(p)
            for index in np.ndindex(p.shape):
                value = p[index]
                p[index] = value + h
                up = cost(weights, biases)
                p[index] = value - h
                down = cost(weights, biases)
                p[index] = value
                grad[index] = (up - down) / (2 * h)
            layer_grads.append(grad)
        gradients.append(layer_grads)
    net.set_parameters(weights, biases)
    return gradients


@pytest.mark.parametrize("rule, step_factor", [("sgd", 1.0), ("momentum", 1.0), ("nesterov", 1.9)])
def test_the_l2_step_descends_the_regularized_cost(rule, step_factor):
    """One full-batch step moves W by −η·∂/∂W [C + λ/(2n) Σw²] and b by −η·∂C/∂b (biases are not decayed).

    A first step of momentum is plain SGD (v starts at 0); Nesterov's is η(1 + μ) along the gradient."""
    sizes, n, lmbda, eta = (5, 4, 3), 12, 3.0, 1.0
    x, labels = random_problem(sizes, m=n, seed=5)
    net = gpubp.Network(sizes, dtype="float64", device="cpu", seed=3)
    numeric_w, numeric_b = regularized_cost_gradient(net, (x, labels), lmbda, n)
    before = net.parameters()
    net.SGD((x, labels), 1, n, eta, optimizer=rule, lmbda=lmbda, monitor_training_cost=False)
    after = net.parameters()
    for old, new, numeric in zip(before[0] + before[1], after[0] + after[1], numeric_w + numeric_b):
        effective = (old - new) / (eta * step_factor)
        error = np.abs(effective - numeric) / np.maximum(np.abs(effective) + np.abs(numeric), 1e-10)
        assert error.max() <= 1e-6


def test_l2_is_network2s_rule_exactly():
    """sgd with L2 is w ← (1 − ηλ/n)w − (η/m)Σ∇w and b ← b − (η/m)Σ∇b, to rounding."""
    sizes, n, lmbda, eta = (5, 4, 3), 12, 3.0, 0.7
    x, labels = random_problem(sizes, m=n, seed=6)
    net = gpubp.Network(sizes, dtype="float64", device="cpu", seed=4)
    (w0, b0), (nabla_b, nabla_w) = net.parameters(), net.backprop(x, labels)  # backprop: the mean gradient
    net.SGD((x, labels), 1, n, eta, lmbda=lmbda, monitor_training_cost=False)
    w1, b1 = net.parameters()
    for old, new, grad in zip(w0, w1, nabla_w):
        np.testing.assert_allclose(new, (1 - eta * lmbda / n) * old - eta * grad, rtol=1e-13, atol=1e-15)
    for old, new, grad in zip(b0, b1, nabla_b):
        np.testing.assert_allclose(new, old - eta * grad, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("rule", RULES)
def test_a_continued_history_continues_the_state(rule):
    """Two SGD calls, the second continuing the first's history, equal one call: the rule's state (and Adam's
    step count) carries on. A call that starts a new history starts a fresh state."""
    sizes = (6, 5, 3)
    x, labels = random_problem(sizes, m=40, seed=2)
    nets = [gpubp.Network(sizes, dtype="float64", device="cpu", seed=1) for _ in range(3)]
    nets[0].SGD((x, labels), 4, 8, ETA[rule], optimizer=rule)
    history = nets[1].SGD((x, labels), 2, 8, ETA[rule], optimizer=rule)
    continued = nets[1].SGD((x, labels), 4, 8, ETA[rule], optimizer=rule, history=history)
    assert all(np.array_equal(a, b) for a, b in zip(nets[0].parameters()[0], nets[1].parameters()[0]))
    assert continued is history and continued.trainer.optimizer.steps == 20 and continued.trainer.optimizer.rule == rule
    nets[2].SGD((x, labels), 2, 8, ETA[rule], optimizer=rule)
    again = nets[2].SGD((x, labels), 2, 8, ETA[rule], optimizer=rule)  # a new run: fresh state
    assert again.trainer.optimizer.steps == 10


@pytest.mark.parametrize("rule", RULES)
def test_a_checkpoint_resumes_every_rule_exactly(rule, tmp_path):
    from gpubp.training import load_checkpoint, save_checkpoint

    sizes = (6, 5, 3)
    x, labels = random_problem(sizes, m=40, seed=2)
    whole = gpubp.Network(sizes, device="cpu", seed=1)
    whole.SGD((x, labels), 4, 8, ETA[rule], optimizer=rule, lmbda=1.0)
    first = gpubp.Network(sizes, device="cpu", seed=1)
    history = first.SGD((x, labels), 2, 8, ETA[rule], optimizer=rule, lmbda=1.0)
    save_checkpoint(tmp_path / "checkpoint.npz", history.trainer, {})
    trainer, _ = load_checkpoint(tmp_path / "checkpoint.npz", device="cpu", network=gpubp.Network)
    resumed, rule_then = trainer.net, history.trainer.optimizer
    assert trainer.config == history.trainer.config
    assert (trainer.optimizer.hyperparameters(), trainer.optimizer.steps) == (rule_then.hyperparameters(), 10)
    assert trainer.optimizer.weight_decay == rule_then.weight_decay
    resumed.SGD((x, labels), 4, 8, ETA[rule], optimizer=rule, lmbda=1.0, history=trainer.history)
    for a, b in zip(resumed.parameters()[0] + resumed.parameters()[1], whole.parameters()[0] + whole.parameters()[1]):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("state", [np.zeros(3), np.full(1000, np.nan), None])
def test_a_checkpoint_with_damaged_optimizer_state_is_refused(state, tmp_path):
    from gpubp.training import load_checkpoint, save_checkpoint

    x, labels = random_problem((6, 5, 3), m=40, seed=2)
    net = gpubp.Network((6, 5, 3), device="cpu", seed=1)
    history = net.SGD((x, labels), 1, 8, 0.5, optimizer="adam")
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, history.trainer, {})
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["optimizer_second_moment"] = (
        np.full(arrays["optimizer_second_moment"].shape, np.nan, np.float32)
        if state is not None and state.size == 1000
        else state
    )
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(gpubp.ModelFileError, match="damaged checkpoint"):
        load_checkpoint(path, device="cpu")


def test_scaled_init_divides_the_same_draws_by_the_square_root_of_the_fan_in():
    normal = gpubp.Network((400, 300, 10), dtype="float64", device="cpu", seed=0)
    scaled = gpubp.Network((400, 300, 10), dtype="float64", device="cpu", seed=0, init="scaled")
    for w_normal, w_scaled in zip(normal.parameters()[0], scaled.parameters()[0]):
        np.testing.assert_allclose(w_scaled, w_normal / np.sqrt(w_normal.shape[1]), rtol=1e-15)
    assert abs(scaled.parameters()[0][0].std() * np.sqrt(400) - 1) < 0.01
    assert all(np.array_equal(a, b) for a, b in zip(normal.parameters()[1], scaled.parameters()[1]))
    assert normal.rng.bit_generator.state == scaled.rng.bit_generator.state  # same shuffles afterwards
    assert "init='scaled'" in repr(scaled)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(optimizer="rmsprop"), "optimizer (the update rule) must be one of sgd, momentum, nesterov, adam, got"),
        (dict(optimizer=None), "optimizer (the update rule) must be one of sgd, momentum, nesterov, adam, got None"),
        (dict(momentum=1.0), "momentum (momentum μ) must be a finite number in [0, 1), got 1.0"),
        (dict(momentum=-0.1), "momentum (momentum μ) must be a finite number in [0, 1)"),
        (dict(momentum=float("nan")), "momentum (momentum μ) must be a finite number in [0, 1)"),
        (dict(momentum=True), "momentum (momentum μ) must be a finite number in [0, 1)"),
        (dict(momentum="0.9"), "momentum (momentum μ) must be a finite number in [0, 1)"),
        (dict(lmbda=-1.0), "lmbda (the L2 strength λ) must be a finite number >= 0"),
        (dict(lmbda=float("inf")), "lmbda (the L2 strength λ) must be a finite number >= 0"),
        (dict(lmbda=None), "lmbda (the L2 strength λ) must be a finite number >= 0"),
        (dict(betas=(0.9, 1.0)), "betas (Adam's betas) must be a pair (β1, β2) of numbers in [0, 1)"),
        (dict(betas=(-0.1, 0.999)), "betas (Adam's betas) must be a pair (β1, β2) of numbers in [0, 1)"),
        (dict(betas=0.9), "betas (Adam's betas) must be a pair (β1, β2) of numbers in [0, 1)"),
        (dict(betas=(0.9, 0.99, 0.9)), "betas (Adam's betas) must be a pair (β1, β2) of numbers in [0, 1)"),
        (dict(eps=0.0), "eps (Adam's ε) must be a finite number > 0"),
        (dict(eps=float("nan")), "eps (Adam's ε) must be a finite number > 0"),
        # The bug class of issue #17: a name is normalized once, so "Momentum" is the momentum rule everywhere ...
        (dict(optimizer="Momentum", momentum=0.5, eps=1e-3), "eps applies to optimizer adam, not momentum"),
        # ... and a knob that the chosen rule does not read is refused, never ignored.
        (dict(momentum=0.5), "momentum applies to optimizer momentum or nesterov, not sgd"),
        (dict(optimizer="adam", momentum=0.5), "momentum applies to optimizer momentum or nesterov, not adam"),
        (dict(optimizer="nesterov", betas=(0.8, 0.9)), "betas applies to optimizer adam, not nesterov"),
    ],
)
def test_bad_optimizer_knobs_are_refused_and_change_nothing(kwargs, message):
    x, labels = random_problem((4, 3), m=20)
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    history = net.SGD((x, labels), 1, 5, 0.1)
    before, rule = net.parameters(), history.trainer.optimizer
    with pytest.raises(gpubp.InputError) as info:
        net.SGD((x, labels), 2, 5, 0.1, history=history, **kwargs)
    assert message in str(info.value)
    assert history.trainer.optimizer is rule and rule.steps == 4 and len(history) == 1
    assert all(np.array_equal(a, b) for a, b in zip(before[0], net.parameters()[0]))


def test_a_rule_name_in_any_case_is_that_rule_everywhere():
    x, labels = random_problem((4, 3), m=20)
    net = gpubp.Network((4, 3), device="cpu", seed=0)
    history = net.SGD((x, labels), 1, 5, 0.1, optimizer=" Momentum ", momentum=0.5)
    assert history.trainer.config.optimizer == "momentum" and history.trainer.optimizer.momentum == 0.5


@pytest.mark.parametrize("init", ["xavier", "", 1, True])
def test_an_unknown_init_is_refused(init):
    with pytest.raises(
        gpubp.InputError, match=r"init \(the initialization\) must be one of normal, scaled, he, glorot"
    ):
        gpubp.Network((4, 3), init=init)


def accepts(knob, value) -> bool:
    """Whether the knob's one check (the declaration's, which every face of gpubp uses) takes ``value``."""
    try:
        TrainingConfig.check_one(knob, value)
    except gpubp.SettingError:
        return False
    return True


@given(st.one_of(st.floats(), st.integers(-3, 3), st.booleans(), st.none(), st.text(max_size=3)))
def test_each_knobs_check_accepts_exactly_its_range(value):
    """μ in [0, 1), λ >= 0 and finite, ε > 0 and finite, each β in [0, 1): nothing else passes, nothing in
    range is refused (booleans and strings are not numbers here)."""
    number = not isinstance(value, (bool, str)) and value is not None and math.isfinite(value)
    assert accepts("momentum", value) == (number and 0 <= value < 1)
    assert accepts("lmbda", value) == (number and value >= 0)
    assert accepts("eps", value) == (number and value > 0)
    assert accepts("betas", (value, 0.999)) == (number and 0 <= value < 1)
