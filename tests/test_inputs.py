"""What a network takes at its edges: Nielsen's formats (lists of samples, one column), one output as a binary
classifier, parameters that must be finite, and targets a cost can minimize."""

import numpy as np
import pytest

import gpubp
from gpubp.data import load_digits

from helpers import ok, run


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def columns(x) -> list:
    return [row.reshape(-1, 1) for row in x]


# ----- Nielsen's formats ------------------------------------------------------------------------------------------


def test_nielsens_lists_of_samples_train_and_evaluate_as_the_arrays_they_hold(digits):
    """mnist_loader.load_data_wrapper()'s training samples (x (64, 1), y (10, 1)) and test samples (x, int label)
    train and score exactly as the (X, y) pairs they hold: the same arithmetic on the same rows."""
    (x, y), (xt, yt) = digits
    x, y, xt, yt = x[:300], y[:300], xt[:100], yt[:100]
    targets = np.eye(10)[y]
    training = list(zip(columns(x), [t.reshape(10, 1) for t in targets]))
    test = list(zip(columns(xt), [int(label) for label in yt]))
    nielsen, arrays = (gpubp.Network([64, 20, 10], device="cpu", seed=3) for _ in range(2))
    history = nielsen.SGD(training, 2, 10, 3.0, test_data=test)
    reference = arrays.SGD((x, targets), 2, 10, 3.0, test_data=(xt, yt))
    assert [h.test_accuracy for h in history] == [h.test_accuracy for h in reference]
    for a, b in zip(nielsen.parameters()[0] + nielsen.parameters()[1], arrays.parameters()[0] + arrays.parameters()[1]):
        assert np.array_equal(a, b)
    assert nielsen.evaluate(test) == arrays.evaluate((xt, yt))
    assert nielsen.total_cost(training) == arrays.total_cost((x, targets))
    # Python 3's mnist_loader returns zip objects, and two samples are two samples, not a pair (X, y).
    assert len(gpubp.Network([64, 5, 10], device="cpu", seed=0).SGD(zip(columns(x), y.tolist()), 1, 10, 1.0)) == 1
    assert len(gpubp.Network([64, 5, 10], device="cpu", seed=0).SGD(training[:2], 1, 2, 1.0)) == 1


def test_one_column_feeds_forward_to_one_column_as_in_nielsens_network_py(digits):
    (x, _), _ = digits
    net = gpubp.Network([64, 20, 10], device="cpu", seed=0)
    column = net.feedforward(x[0].reshape(64, 1))
    assert column.shape == (10, 1) and np.array_equal(column[:, 0], net.feedforward(x[:1])[0])
    assert np.array_equal(net.predict(x[0].reshape(64, 1)), net.predict(x[:1]))
    one_input = gpubp.Network([1, 3, 2], device="cpu", seed=0)  # (1, 1) is one row of one feature either way
    assert one_input.feedforward(np.ones((1, 1))).shape == (1, 2)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda net, x: net.feedforward(x[0]), r"one sample as a 1-D array.*pass it as one row, x\[None, :\]"),
        (lambda net, x: net.backprop(x[0].reshape(64, 1), np.eye(10)[:1]), r"one sample as a column.*pass x\.T"),
        (lambda net, x: net.evaluate([(c, 1) for c in columns(x[:3])] + [(x[0].reshape(63 + 1, 1), [1])]), "sample 3"),
        (lambda net, x: net.evaluate([(c, 1) for c in columns(x[:3, :63])] + [(x[0].reshape(64, 1), 1)]), "sample 3"),
        (lambda net, x: net.evaluate([(row, 1) for row in x[:3]]), r"X = np\.array\(\[np\.ravel\(x\)"),
        (lambda net, x: net.evaluate(x), r"must be a pair \(X, y\).*or Nielsen's list of \(x, y\) samples"),
    ],
)
def test_other_shapes_are_refused_with_the_conversion(digits, call, message):
    (x, _), _ = digits
    with pytest.raises(gpubp.InputError, match=message):
        call(gpubp.Network([64, 20, 10], device="cpu", seed=0), x)


# ----- one output: a binary classifier ----------------------------------------------------------------------------


def binary(digits):
    (x, y), (xt, yt) = digits
    return (x, (y >= 5).astype(np.int64)), (xt, (yt >= 5).astype(np.int64))


def test_one_output_is_a_binary_classifier_thresholded_at_one_half(digits):
    (x, y), (xt, yt) = binary(digits)
    net = gpubp.Network([64, 5, 1], cost="cross-entropy", device="cpu", seed=0)
    expected = (net.feedforward(xt)[:, 0] > 0.5).astype(np.int64)
    assert np.array_equal(net.predict(xt), expected)
    for labels in (yt, yt[:, None]):  # n labels, or the (n, 1) 0/1 targets of the one output
        assert net.evaluate((xt, labels)) == np.count_nonzero(expected == yt) < len(yt)
    history = net.SGD((x, y), 5, 10, 0.5, test_data=(xt, yt[:, None]))
    assert history[-1].test_accuracy == np.mean(net.predict(xt) == yt) > 0.8
    with pytest.raises(gpubp.InputError, match=r"labels must lie in 0\.\.1 for a network with 1 output"):
        net.evaluate((xt, yt + 1))


def test_the_cli_scores_and_predicts_a_one_output_model_as_binary(digits, tmp_path):
    (x, y), (xt, yt) = binary(digits)
    net = gpubp.Network([64, 5, 1], cost="cross-entropy", device="cpu", seed=0)
    net.SGD((x, y), 2, 10, 0.5)
    gpubp.save(net, tmp_path / "model.npz")
    np.savez(tmp_path / "binary.npz", X=x, y=y, X_test=xt, y_test=yt)
    np.savetxt(tmp_path / "rows.csv", xt[:20], delimiter=",")
    out = ok(run("evaluate", "model.npz", "--data", "binary.npz", "--device", "cpu", cwd=tmp_path))
    correct = int(np.count_nonzero(net.predict(xt) == yt))
    assert f"accuracy: {correct / len(yt):.4f} ({correct} of {len(yt)})" in out and correct < len(yt)
    predicted = ok(run("predict", "model.npz", "rows.csv", "--device", "cpu", cwd=tmp_path)).split()
    assert predicted == [str(label) for label in net.predict(xt[:20])]


def test_a_softmax_over_one_output_is_refused():
    with pytest.raises(gpubp.InputError, match="softmax over one output is always 1"):
        gpubp.Network([4, 3, 1], cost="log-likelihood", device="cpu")


# ----- parameters and targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda w, b: w[0].__setitem__((2, 3), np.nan), r"NaN or infinite weights are refused \(weights\[0\]\[2, 3\]"),
        (lambda w, b: b[1].__setitem__(4, -np.inf), r"NaN or infinite biases are refused \(biases\[1\]\[4\] is -inf"),
        (lambda w, b: w[1].__setitem__((0, 0), 1e300), r"weights\[1\]\[0, 0\] is 1e\+300, beyond the range of float32"),
    ],
)
def test_non_finite_parameters_are_refused_with_their_place(spoil, message):
    net = gpubp.Network([8, 6, 5], device="cpu", seed=0)
    weights, biases = ([p.astype(np.float64) for p in part] for part in net.parameters())  # float64: 1e300 fits
    before = [p.copy() for p in weights + biases]
    spoil(weights, biases)
    with pytest.raises(gpubp.InputError, match=message):
        net.set_parameters(weights, biases)
    assert all(np.array_equal(a, b) for a, b in zip(net.parameters()[0] + net.parameters()[1], before))  # unchanged
    with pytest.raises(gpubp.InputError, match=message):
        gpubp.Network.from_parameters([8, 6, 5], weights, biases, device="cpu")


def test_a_parameter_beyond_float32_fits_float64():
    net = gpubp.Network([8, 6, 5], dtype="float64", device="cpu", seed=0)
    weights, biases = net.parameters()
    weights[1][0, 0] = 1e300
    assert (
        gpubp.Network.from_parameters([8, 6, 5], weights, biases, dtype="float64", device="cpu").parameters()[0][1][
            0, 0
        ]
        == 1e300
    )


@pytest.mark.parametrize(
    "cost, targets, message",
    [
        ("cross-entropy", [[0.0, 2.0], [1.0, 0.0]], r"row 1, column 2 is 2"),
        ("cross-entropy", [[0.0, 1.0], [-0.5, 0.0]], r"row 2, column 1 is -0\.5"),
        ("log-likelihood", [[2.0, -1.0], [1.0, 0.0]], r"row 1, column 1 is 2"),
    ],
)
def test_targets_outside_zero_one_are_refused_where_the_cost_is_a_logarithm(cost, targets, message):
    net = gpubp.Network([3, 2], cost=cost, device="cpu", seed=0)
    with pytest.raises(gpubp.InputError, match=rf"the {cost} cost takes targets in \[0, 1\].*{message}"):
        net.SGD((np.zeros((2, 3)), np.array(targets)), 1, 1, 0.1)
    gpubp.Network([3, 2], device="cpu", seed=0).SGD((np.zeros((2, 3)), np.array(targets)), 1, 1, 0.1)  # quadratic
