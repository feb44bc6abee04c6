"""Multilabel targets: each output a yes/no label of its own (``Network.multilabel``), read off at ½ for predictions
and scored as subset accuracy in training's history; and ``NetworkClassifier`` on a 0/1 indicator y, against
``MLPClassifier`` and scikit-learn's own multilabel checks."""

import pickle
import warnings

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


# ----- NetworkClassifier on a 0/1 indicator y --------------------------------------------------------------------

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import make_multilabel_classification  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from gpubp.sklearn import NetworkClassifier  # noqa: E402


@pytest.fixture(scope="module")
def labelled():
    """make_multilabel_classification's 5 labels, 2.5 per row on average, standardized, 800 to train, 200 to test."""
    x, y = make_multilabel_classification(n_samples=1000, n_features=20, n_classes=5, n_labels=2, random_state=0)
    x = StandardScaler().fit_transform(x)
    return x[:800], y[:800], x[800:], y[800:]


def small(**params):
    return NetworkClassifier(**{**dict(hidden_layer_sizes=(32,), max_iter=30, random_state=0, device="cpu"), **params})


def test_multilabel_targets_train_a_sigmoid_per_label_and_predict_label_sets(labelled):
    x, y, x_test, y_test = labelled
    clf = small().fit(x, y)
    assert clf.classes_.tolist() == [0, 1, 2, 3, 4] and clf.n_outputs_ == 5 and clf.out_activation_ == "logistic"
    assert clf.network_.cost.name == "cross-entropy" and clf.network_.multilabel
    proba = clf.predict_proba(x_test)
    assert proba.shape == (200, 5) and ((proba > 0) & (proba < 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1)  # each label's own probability, not a distribution
    predicted = clf.predict(x_test)
    assert predicted.dtype == np.int64 and np.array_equal(predicted, (proba > 0.5).astype(np.int64))
    assert clf.score(x_test, y_test) == accuracy_score(y_test, predicted)  # subset accuracy


def test_subset_accuracy_is_at_least_mlpclassifiers(labelled):
    x, y, x_test, y_test = labelled
    ours = [small(random_state=seed).fit(x, y).score(x_test, y_test) for seed in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPClassifier has not converged in 30 epochs
        mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, random_state=0)
        theirs = [mlp.set_params(random_state=seed).fit(x, y).score(x_test, y_test) for seed in range(3)]
    assert np.median(ours) >= np.median(theirs) - 0.03, (ours, theirs)


def test_early_stopping_watches_the_subset_accuracy_of_the_hold_out(labelled):
    x, y, _, _ = labelled
    clf = small(early_stopping=True, n_iter_no_change=3, max_iter=200).fit(x, y)
    _, held = validation_split(len(x), 0.1)
    assert clf.best_validation_score_ == accuracy_score(y[held], clf.predict(x[held]))
    assert len(clf.validation_scores_) == clf.n_iter_ < 200


def test_partial_fit_on_label_sets(labelled):
    x, y, _, _ = labelled
    fitted = small(max_iter=2).fit(x, y)
    stepped = small().partial_fit(x, y).partial_fit(x, y, classes=np.arange(5))  # classes may be left out
    assert all(
        np.array_equal(a, b) for a, b in zip(stepped.coefs_ + stepped.intercepts_, fitted.coefs_ + fitted.intercepts_)
    )
    with pytest.raises(ValueError, match=r"classes=\[1, 2\] does not name y's 5 label columns"):
        small().partial_fit(x, y, classes=[1, 2])
    with pytest.raises(ValueError, match="y holds class labels, but this estimator was fitted on 5 label columns"):
        stepped.partial_fit(x, y[:, 0])
    with pytest.raises(ValueError, match="y holds 4 label columns, but this estimator was fitted on 5 label columns"):
        stepped.partial_fit(x, y[:, :4])
    with pytest.raises(ValueError, match="y holds 5 label columns, but this estimator was fitted on class labels"):
        small().fit(x, y[:, 0]).set_params(warm_start=True).fit(x, y)


def test_label_sets_as_lists_bools_and_sparse_matrices_train_alike(labelled):
    scipy_sparse = pytest.importorskip("scipy.sparse")
    x, y, x_test, _ = labelled
    expected = small().fit(x, y).predict_proba(x_test)
    for given in (y.tolist(), y.astype(bool), scipy_sparse.csr_matrix(y)):
        assert np.array_equal(small().fit(x, given).predict_proba(x_test), expected)


def test_what_does_not_fit_multilabel_targets_is_refused(labelled):
    x, y, _, _ = labelled
    with pytest.raises(ValueError, match="cost='log-likelihood' puts a softmax on the outputs"):
        small(cost="log-likelihood").fit(x, y)
    with pytest.raises(ValueError, match="class_weight weighs each row by its class"):
        small(class_weight="balanced").fit(x, y)
    for other, values in ((y * 2, r"\[0, 2\]"), (y + y[:, ::-1], r"\[0, 1, 2\]"), (y - 1, r"\[-1, 0\]")):
        with pytest.raises(ValueError, match=rf"y of shape \(800, 5\) holds {values}, but a multilabel indicator"):
            small().fit(x, other)
    with pytest.raises(ValueError, match="Unknown label type: continuous-multioutput"):  # scikit-learn's own check
        small().fit(x, y * 0.5)
    assert small(cost="quadratic").fit(x, y).network_.cost.name == "quadratic"  # σ outputs, the lecture's cost
    assert small().fit(x, y, sample_weight=np.r_[np.ones(400), np.zeros(400)]).n_iter_ == 30  # rows weigh as ever


def test_a_pickled_multilabel_classifier_stays_one(labelled):
    x, y, x_test, _ = labelled
    clf = small().fit(x, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.network_.multilabel and np.array_equal(restored.predict(x_test), clf.predict(x_test))
