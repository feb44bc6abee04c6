"""What a failed or useless run says: the cause of a divergence as its arithmetic shows it (L2's negative factor,
overflow, weights that were not finite before training), saturated sigmoids, each knob in its caller's words; and
errors that pickle."""

import pickle
import warnings

import numpy as np
import pytest

import gpubp
from gpubp.data import load_digits

from helpers import ok, one_line_error, run


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_weights_that_were_not_finite_before_training_are_named_not_blamed_on_eta(digits):
    train, _ = digits
    net = gpubp.Network([64, 10, 10], device="cpu", seed=0)
    net.weights[1][3, 4] = np.nan  # written into the network's own array: set_parameters refuses it
    with pytest.raises(gpubp.InputError, match=r"weights\[1\]\[3, 4\] is not finite before training") as info:
        net.SGD(train, 1, 10, 3.0)
    assert "too large" not in str(info.value) and not isinstance(info.value, gpubp.TrainingDiverged)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov"])
def test_l2_whose_factor_is_negative_is_named_as_the_cause(digits, optimizer):
    train, _ = digits
    net = gpubp.Network([64, 10, 10], device="cpu", seed=0)
    # Plain SGD warns of the negative factor before it diverges; the momentum rules can bear some (no warning).
    with pytest.raises(gpubp.TrainingDiverged) as info, warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("always", gpubp.TrainingWarning)
        net.SGD(train, 2, 10, 3.0, lmbda=1e6, optimizer=optimizer)
    assert len(held) == (optimizer == "sgd")
    message = str(info.value)
    assert "1 − ηλ/n = 1 − 3·1e+06/1438 = -2.09e+03" in message and "choose lmbda below n/η = 479" in message
    assert "eta below n/λ = 0.00144, such as 0.0007" in message and "too large for this network" not in message
    assert info.value.eta == 0.0007


def test_a_negative_l2_factor_warns_where_it_does_not_diverge(digits):
    """η = 3, λ = 600, n = 1438: 1 − ηλ/n = −0.25; the weights flip sign every step, shrinking, and learn nothing."""
    train, _ = digits
    with pytest.warns(gpubp.TrainingWarning, match=r"1 − ηλ/n = 1 − 3·600/1438 = -0.252 .* choose lmbda below n/η"):
        gpubp.Network([64, 10, 10], device="cpu", seed=0).SGD(train, 1, 10, 3.0, lmbda=600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gpubp.TrainingWarning)
        gpubp.Network([64, 10, 10], device="cpu", seed=0).SGD(train, 1, 10, 3.0, lmbda=400)  # 1 − ηλ/n = 0.17


def test_an_overflow_blames_eta_and_names_large_features(digits):
    (x, y), _ = digits
    with pytest.raises(gpubp.TrainingDiverged) as info:
        gpubp.Network([64, 10, 10], device="cpu", seed=0).SGD((x, y), 1, 10, 1e40)
    assert "eta=1e+40 is too large for this network; try a smaller one, such as 1e+39" in str(info.value)
    assert "features" not in str(info.value) and info.value.eta == pytest.approx(1e39)
    with pytest.raises(gpubp.TrainingDiverged, match=r"the features reach 1e\+04, and steps grow with them"):
        gpubp.Network([64, 10, 10], device="cpu", seed=0).SGD((x * 1e4, y), 1, 10, 1e40)


def test_the_cli_names_l2_as_flags_and_suggests_an_lr_that_removes_the_cause(tmp_path):
    line = one_line_error(run("train", "--l2", "1e6", "--out", "run", "--quiet", cwd=tmp_path), "diverged in epoch 1")
    assert "choose --l2 below n/η = 479, or --lr below n/λ = 0.00144" in line and "--lr 3 is" not in line
    assert "lmbda" not in line and "eta" not in line.replace("beta", "")


@pytest.mark.parametrize(
    "make",
    [
        lambda: gpubp.TrainingDiverged(3, "{eta=3} is too large", "eta", eta=0.3),
        lambda: gpubp.InputError("{mini_batch_size} is too large", "mini_batch_size"),
        lambda: gpubp.SettingError("plain"),
        lambda: gpubp.TrainingWarning("{eta=1} warns", "eta"),
    ],
)
def test_errors_pickle_with_their_message_and_attributes(make):
    error = make()
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error) and vars(again) == vars(error)
    renamed = error.renamed(lambda knob, value: f"--{knob}")
    assert str(pickle.loads(pickle.dumps(renamed))) == str(renamed)


def test_a_run_that_saturates_every_sigmoid_warns_naming_eta(digits):
    train, _ = digits
    net = gpubp.Network([64, 10, 10], device="cpu", seed=0)  # quadratic: saturated outputs stop learning, no overflow
    with pytest.warns(gpubp.TrainingWarning) as held:
        net.SGD(train, 2, 10, 1e30)
    (message,) = [str(w.message) for w in held]
    assert message.startswith("after epoch 2, every hidden layer is saturated") and "Training saturated them" in message
    assert "eta=1e+30 is far too large; try a smaller one, such as 1e+27" in message


def test_features_that_saturate_the_first_weights_are_named_instead(digits):
    (x, y), _ = digits
    net = gpubp.Network([64, 10, 10], device="cpu", seed=0)
    with pytest.warns(gpubp.TrainingWarning, match=r"saturated before training already: the features \(up to 1e\+08\)"):
        net.SGD((x * 1e8, y), 1, 10, 0.1)
    scaled = gpubp.Network([64, 10, 10], init="scaled", device="cpu", seed=0)
    with pytest.warns(gpubp.TrainingWarning) as held:
        scaled.SGD((x * 1e8, y), 1, 10, 0.1)
    assert "init='scaled'" not in str(held[0].message)  # already so: only scaling the features helps


def test_a_healthy_run_does_not_warn(digits):
    train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", gpubp.TrainingWarning)
        gpubp.Network([64, 30, 10], device="cpu", seed=0).SGD(train, 3, 10, 3.0)


def test_the_cli_warns_of_saturation_in_one_line_naming_lr(tmp_path):
    result = run("train", "--lr", "1e30", "--epochs", "2", "--out", "run", "--quiet", cwd=tmp_path)
    ok(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpubp train: warning: after epoch 2, every hidden layer")
    assert "--lr 1e+30 is far too large" in lines[0] and lines[0].endswith("(TrainingWarning)")


def test_the_estimator_warns_of_saturation_naming_learning_rate_init(digits):
    pytest.importorskip("sklearn")
    from gpubp.sklearn import NetworkClassifier

    (x, y), _ = digits
    clf = NetworkClassifier(
        hidden_layer_sizes=(10,), activation="logistic", cost="quadratic", optimizer="sgd", learning_rate_init=1e30
    )
    with pytest.warns(gpubp.TrainingWarning, match="learning_rate_init=1e[+]30 is far too large"):
        clf.set_params(max_iter=2, batch_size=10, random_state=0, device="cpu").fit(x, y)


@pytest.mark.parametrize(
    "activation, saturated",
    [("sigmoid", True), ("tanh", True), ("relu", True), ("leaky_relu", False), ("identity", False)],
)
def test_a_layer_is_saturated_where_its_derivative_is_zero_at_every_unit(digits, activation, saturated):
    """σ at 0/1, tanh at ±1, every ReLU at 0 pass no gradient back; leaky ReLU and identity units always do."""
    (x, _), _ = digits
    net = gpubp.Network([64, 8, 10], activation=activation, device="cpu", seed=0)
    weights, biases = net.parameters()
    weights[0][:] = -1e4 * (np.arange(64) < 32)  # every unit's z far below 0 on the (nonnegative) digits
    biases[0][:] = -1.0
    net.set_parameters(weights, biases)
    assert net.saturated_layers(net.backend.asarray(x[:64])) == ([1] if saturated else [])
    weights[0][:] = 0.01
    net.set_parameters(weights, biases)  # z = −1 + small: inside every activation's live range but ReLU's
    assert net.saturated_layers(net.backend.asarray(x[:64])) == ([1] if activation == "relu" else [])


def test_a_run_that_kills_every_relu_names_them_dead(digits):
    (x, y), _ = digits
    net = gpubp.Network([64, 10, 10], activation="relu", device="cpu", seed=0)
    weights, biases = net.parameters()
    biases[0][:] = -1e3  # dead before training: the features cannot revive them
    net.set_parameters(weights, biases)
    with pytest.warns(gpubp.TrainingWarning) as held:
        net.SGD((x, y), 1, 10, 0.1)
    message = str(held[0].message)
    assert "each ReLU outputs 0 (every unit is dead)" in message and "saturated before training already" in message
    assert "init='scaled'" not in message  # he-initialized weights are not the lecture's wide N(0, 1)


def saturation_warning(net, data, eta=0.1, **training) -> str:
    with pytest.warns(gpubp.TrainingWarning) as held:
        net.SGD(data, 1, 10, eta, **training)
    (message,) = [str(w.message) for w in held]
    return message


def test_dead_relus_on_scaled_features_blame_the_weights_not_the_features(digits):
    """The digits are in [0, 1] already, and no scaling of the features revives a ReLU (ReLU(cz) = c·ReLU(z))."""
    (x, y), _ = digits
    for features in (x, x * 1e8):
        net = gpubp.Network([64, 10, 10], activation="relu", device="cpu", seed=0)
        weights, biases = net.parameters()
        weights[0][:] = -1.0  # z = −Σx ≤ 0 on the nonnegative digits, at every scale
        net.set_parameters(weights, biases)
        message = saturation_warning(net, (features, y))
        assert "whatever the features' scale, because of the weights and biases the run started from" in message
        assert "weights reach 1 and its biases lie in [0, 0]" in message and "scale them" not in message
        assert "start from freshly drawn ones, or use activation='leaky_relu'" in message and "init=" not in message


def test_features_that_are_all_zero_are_named_as_such(digits):
    (x, y), _ = digits
    net = gpubp.Network([64, 10, 10], activation="relu", device="cpu", seed=0)  # he: biases 0, so z = 0
    message = saturation_warning(net, (x * 0, y))
    assert "the features of the first 64 training samples are all 0, so each z is its bias; check the data" in message


@pytest.mark.parametrize("activation, init", [("sigmoid", "scaled"), ("tanh", "glorot")])
def test_large_features_name_the_narrower_init_of_the_units(digits, activation, init):
    (x, y), _ = digits
    net = gpubp.Network([64, 10, 10], activation=activation, init="normal", device="cpu", seed=0)
    message = saturation_warning(net, (x * 1e8, y))
    assert message.endswith(f"(up to 1e+08) are too large for the weights; scale them to about [0, 1], or draw "
                            f"smaller weights with init='{init}'")  # fmt: skip


def test_saturated_sigmoids_on_scaled_features_blame_the_weights_at_their_layer(digits):
    (x, y), _ = digits
    net = gpubp.Network([64, 10, 8, 10], activation=["relu", "sigmoid"], device="cpu", seed=0)
    weights, biases = net.parameters()
    weights[1][:] = -1e3  # layer 2's z far below 0 on layer 1's nonnegative outputs
    net.set_parameters(weights, biases)
    message = saturation_warning(net, (x, y))
    assert message.startswith("after epoch 1, hidden layer 2 is saturated") and "scale them" not in message
    assert "the features are already scaled (up to 1; hidden layer 1's outputs reach " in message
    assert "hidden layer 2's weights reach 1e+03" in message and "start from freshly drawn ones; if they are" in message
    assert message.endswith("if they are freshly drawn, draw smaller ones with init='scaled'")  # σ's default: normal


def test_relus_killed_by_training_name_eta_and_leaky_units(digits):
    """Dead ReLUs take one step too large, not an η of 1e30: the advice is η/10 or units that never die."""
    train, _ = digits
    net = gpubp.Network([64, 10, 10], activation="relu", cost="log-likelihood", device="cpu", seed=0)
    message = saturation_warning(net, train, eta=30.0)
    assert "Training killed them: a step of eta=30 pushed every unit's z below 0" in message
    assert message.endswith("try a smaller eta, such as 3, or activation='leaky_relu', whose units never die")
    assert "far too large" not in message


def test_the_cli_names_dead_relus_advice_as_flags(tmp_path):
    result = run(
        *"train --activation relu --cost log-likelihood --lr 30 --epochs 1 --out run --quiet".split(), cwd=tmp_path
    )
    ok(result)
    assert "try a smaller --lr, such as 3, or --activation leaky_relu, whose units never die" in result.stderr


@pytest.mark.filterwarnings("ignore::gpubp.TrainingWarning")
def test_an_adam_overflow_does_not_blame_the_features(digits):
    """Adam's steps are about η whatever the gradient, so scaling the features would not have spared them."""
    (x, y), _ = digits
    with pytest.raises(gpubp.TrainingDiverged) as info:
        gpubp.Network([64, 10, 10], device="cpu", seed=0).SGD((x * 1e4, y), 1, 10, 1e38, optimizer="adam")
    assert "eta=1e+38 is too large" in str(info.value) and "features" not in str(info.value)


@pytest.mark.filterwarnings("ignore::gpubp.TrainingWarning")
@pytest.mark.parametrize("optimizer, decay", [("sgd", 1.5), ("momentum", 3.0), ("nesterov", 1.2)])
def test_a_negative_l2_factor_that_cannot_grow_the_weights_is_not_blamed(digits, optimizer, decay):
    """Below each rule's bound (2, 2(1 + μ) = 3.8, 2(1 + μ)/(1 + 2μ) = 1.36 at μ = 0.9) L2 alone shrinks the weights
    however it flips them: an overflow at η = 1e40 is η's doing."""
    train, _ = digits
    with pytest.raises(gpubp.TrainingDiverged) as info:
        gpubp.Network([64, 10, 10], device="cpu", seed=0).SGD(
            train, 1, 10, 1e40, lmbda=decay * 1438 / 1e40, optimizer=optimizer
        )
    assert "eta=1e+40 is too large for this network" in str(info.value) and "L2" not in str(info.value)
