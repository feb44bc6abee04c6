"""Sample weights on both estimators and class weights on the classifier: an integer weight is that many copies
of the row, class_weight is a weight per row by its class, and bad weights are refused in the estimator's words."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.utils.class_weight import compute_class_weight  # noqa: E402

import gpubp  # noqa: E402
from gpubp.sklearn import NetworkClassifier, NetworkRegressor  # noqa: E402
from gpubp.training.config import validation_split  # noqa: E402

# Plain SGD in float64 over full batches (batch_size="auto" is min(200, n)): a weighted fit and one of repeated rows
# differ only in the order of the sums over the batch's rows.
EXACT = dict(optimizer="sgd", dtype="float64", hidden_layer_sizes=(8,), max_iter=10, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def problem():
    x, y = make_classification(n_samples=60, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=0)
    return x, y


def estimators():
    return [
        NetworkClassifier(learning_rate_init=0.5, lmbda=0.3, **EXACT),
        NetworkRegressor(learning_rate_init=0.05, lmbda=0.3, **EXACT),
    ]


def assert_same_network(a, b, rtol=1e-12):
    for mine, theirs in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=1e-13)


@pytest.mark.parametrize("estimator", estimators(), ids=["classifier", "regressor"])
def test_an_integer_sample_weight_is_that_many_copies_of_the_row(problem, estimator):
    x, y = problem
    counts = np.arange(60) % 4  # 0 (the row left out) to 3 copies
    weighted = estimator.__class__(**estimator.get_params()).fit(x, y, sample_weight=counts)
    repeated = estimator.__class__(**estimator.get_params()).fit(x.repeat(counts, axis=0), y.repeat(counts))
    assert_same_network(weighted, repeated)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)


def test_partial_fit_takes_sample_weights_epoch_by_epoch(problem):
    x, y = problem
    counts = np.arange(60) % 4
    fitted = NetworkClassifier(**{**EXACT, "max_iter": 2}).fit(x, y, sample_weight=counts)
    stepped = NetworkClassifier(**EXACT).partial_fit(x, y, sample_weight=counts, classes=[0, 1, 2])
    stepped.partial_fit(x, y, sample_weight=counts)
    assert_same_network(stepped, fitted, rtol=0)


def test_class_weight_balanced_is_the_equivalent_sample_weight(problem):
    x, y = problem
    y = np.where(y == 2, 1, y)  # 20 rows of class 0, 40 of class 1
    y[:5] = 1
    clf = NetworkClassifier(class_weight="balanced", **EXACT).fit(x, y)
    n, counts = len(y), np.bincount(y)
    assert np.allclose(n / (2 * counts), compute_class_weight("balanced", classes=np.arange(2), y=y), rtol=1e-15)
    by_hand = NetworkClassifier(**EXACT).fit(x, y, sample_weight=(n / (2 * counts))[y])
    assert_same_network(clf, by_hand)
    # with sample weights, their product, classes balanced by the rows' weights (as scikit-learn's models do)
    w = 1.0 + np.arange(60) % 3
    totals = np.bincount(y, weights=w)
    both = NetworkClassifier(class_weight="balanced", **EXACT).fit(x, y, sample_weight=w)
    assert_same_network(both, NetworkClassifier(**EXACT).fit(x, y, sample_weight=(w.sum() / (2 * totals))[y] * w))


def test_class_weight_dict_weighs_each_class_and_one_by_default(problem):
    x, y = problem
    labels = np.array(["ant", "bee", "cat"])[y]
    clf = NetworkClassifier(class_weight={"ant": 3.0, "cat": 0.5}, **EXACT).fit(x, labels)
    by_hand = NetworkClassifier(**EXACT).fit(x, labels, sample_weight=np.array([3.0, 1.0, 0.5])[y])
    assert_same_network(clf, by_hand, rtol=0)
    # a class weighted 0 teaches nothing: its rows might as well be gone (L2's n is the total weight)
    silent, keep = NetworkClassifier(class_weight={"cat": 0}, **EXACT), labels != "cat"
    gone = NetworkClassifier(**EXACT)
    for _ in range(2):
        silent.partial_fit(x, labels, classes=["ant", "bee", "cat"])
        gone.partial_fit(x[keep], labels[keep], classes=["ant", "bee", "cat"])
    assert_same_network(silent, gone)


@pytest.mark.parametrize(
    "params, weights, message",
    [
        ({}, -np.ones(60), "Negative values in data passed to `sample_weight`"),
        ({}, np.r_[np.ones(59), np.nan], "Input sample_weight contains NaN"),
        ({}, np.ones(59), r"sample_weight.shape == \(59,\), expected \(60,\)"),
        ({}, np.zeros(60), "Sample weights must contain at least one non-zero number"),
        ({}, np.ones((60, 2)), "Sample weights must be 1D array or scalar"),
        ({"class_weight": "even"}, None, "class_weight must be None, 'balanced' or a dict"),
        ({"class_weight": np.ones(3)}, None, "class_weight must be None, 'balanced' or a dict"),
        ({"class_weight": {0: -1.0}}, None, "class_weight's weights must be finite numbers >= 0"),
        ({"class_weight": {0: np.inf}}, None, "class_weight's weights must be finite numbers >= 0"),
        ({"class_weight": {7: 2.0}}, None, r"class_weight names labels \[7\] that are not in classes_ \[0, 1, 2\]"),
        ({"class_weight": {0: 0, 1: 0, 2: 0}}, None, "class_weight .* gives every row weight zero"),
        ({"class_weight": {0: 0.0}}, "rows of class 0", "class_weight .* gives every row weight zero"),
    ],
)
def test_bad_weights_are_refused_in_the_estimators_words(problem, params, weights, message):
    x, y = problem
    weights = (y == 0).astype(float) if isinstance(weights, str) else weights
    clf = NetworkClassifier(**{**EXACT, **params})
    with pytest.raises(ValueError, match=message):
        clf.fit(x, y, sample_weight=weights)
    assert not hasattr(clf, "coefs_")


def test_balanced_class_weights_are_refused_by_partial_fit_with_the_fix(problem):
    x, y = problem
    with pytest.raises(ValueError, match=r"class_weight='balanced' is not supported by partial_fit.*compute_class"):
        NetworkClassifier(class_weight="balanced", **EXACT).partial_fit(x, y, classes=[0, 1, 2])


def test_the_hold_out_scores_every_row_once_whatever_its_weight(problem):
    """Early stopping's validation rows are held out before training and scored unweighted (MLPClassifier weighs
    them): their weights change nothing, neither the training nor the validation scores."""
    x, y = problem
    held = validation_split(60, 0.2)[1]
    w = 1.0 + np.arange(60) % 3
    other = w.copy()
    other[held] = 10.0
    settings = dict(EXACT, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, max_iter=30)
    a = NetworkClassifier(**settings).fit(x, y, sample_weight=w)
    b = NetworkClassifier(**settings).fit(x, y, sample_weight=other)
    assert a.validation_scores_ == b.validation_scores_
    assert_same_network(a, b, rtol=0)
    with pytest.raises(ValueError, match="0 for every training row left after the validation hold-out of validation"):
        only_held = np.zeros(60)
        only_held[held] = 1.0
        NetworkClassifier(**settings).fit(x, y, sample_weight=only_held)


def test_gpu_arrays_of_weights_reach_the_run(problem, monkeypatch):
    """A device array of weights is left to the run's own check (it fetches them once)."""

    class DeviceWeights(np.ndarray):
        __cuda_array_interface__ = {}

        def get(self):
            return np.asarray(self).copy()

    x, y = problem
    counts = (np.arange(60) % 4).astype(float)
    on_device = NetworkClassifier(class_weight={0: 2.0}, **EXACT).fit(x, y, sample_weight=counts.view(DeviceWeights))
    on_host = NetworkClassifier(class_weight={0: 2.0}, **EXACT).fit(x, y, sample_weight=counts)
    assert_same_network(on_device, on_host, rtol=0)
    with pytest.raises(gpubp.InputError, match="row 0 has weight -1.0"):
        NetworkClassifier(**EXACT).fit(x, y, sample_weight=(counts - 1).view(DeviceWeights))
