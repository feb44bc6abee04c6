"""NetworkSearchCV: every split's score equals GridSearchCV's over the same estimator, grid and splits (float64,
1e-6, the same random_state), for the update rules and their knobs, seeds, grids that change the network's shape
(several arrays), early stopping, class and sample weights, folds that lack a class, custom and multimetric
scoring, failed fits, and the regressor; the refit equals GridSearchCV's; it works inside a Pipeline; bad input is
refused in one line.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_friedman1
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gpubp import TrainingWarning
from gpubp.sklearn import NetworkClassifier, NetworkRegressor, NetworkSearchCV
from gpubp.sklearn import search as search_module
from gpubp.training.config import validation_split


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:400] / 16.0, y[:400]


@pytest.fixture(scope="module")
def friedman():
    x, y = make_friedman1(n_samples=300, random_state=0)
    return x, y


def classifier(**knobs):
    settings = dict(hidden_layer_sizes=(8,), max_iter=3, batch_size=32, dtype="float64", random_state=0, device="cpu")
    return NetworkClassifier(**{**settings, **knobs})


def splits(x, y, folds=3):
    return list(StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y))


def both(estimator, grid, x, y, cv, fit_params=None, **options):
    """NetworkSearchCV and GridSearchCV on the same splits; their cv_results_ agree (keys, parameters, every score
    within 1e-6, ranks)."""
    fit_params = fit_params or {}
    ours = NetworkSearchCV(estimator, grid, cv=cv, **options).fit(x, y, **fit_params)
    theirs = GridSearchCV(estimator, grid, cv=cv, **options).fit(x, y, **fit_params)
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    for key, values in theirs.cv_results_.items():
        if key.endswith("_time") or key == "params":
            continue
        if not key.startswith(("rank", "param_")):  # a score: splitK_test_score, mean_train_acc, ...
            np.testing.assert_allclose(ours.cv_results_[key], values, rtol=0, atol=1e-6, err_msg=key)
        elif key.startswith("rank") or key.startswith("param_"):
            assert list(ours.cv_results_[key]) == list(values), key
    assert ours.n_splits_ == theirs.n_splits_
    return ours, theirs


def same_refit(ours, theirs):
    assert ours.best_index_ == theirs.best_index_ and ours.best_params_ == theirs.best_params_
    if hasattr(theirs, "best_score_"):
        assert ours.best_score_ == pytest.approx(theirs.best_score_, abs=1e-6)
    for a, b in zip(ours.best_estimator_.coefs_, theirs.best_estimator_.coefs_):
        np.testing.assert_array_equal(a, b)  # both are the estimator's own fit on all the data


@pytest.mark.slow
@pytest.mark.parametrize(
    "knobs, grid",
    [
        ({}, {"learning_rate_init": [1e-3, 1e-2, 0.1], "lmbda": [0.0, 1.0]}),
        ({"optimizer": "momentum", "learning_rate_init": 0.1}, {"momentum": [0.0, 0.5, 0.9]}),
        ({"optimizer": "nesterov"}, {"learning_rate_init": [0.05, 0.2], "momentum": [0.5, 0.9]}),
        ({}, {"random_state": [0, 1, 2], "learning_rate_init": [0.01]}),
        ({"optimizer": "sgd", "activation": "logistic", "init": "scaled"}, {"learning_rate_init": [0.5, 3.0]}),
        ({"dropout": 0.2}, {"beta_1": [0.8, 0.9], "learning_rate_init": [0.01]}),
    ],
)
def test_every_split_score_equals_grid_search_cv(digits, knobs, grid):
    x, y = digits
    ours, theirs = both(classifier(**knobs), grid, x, y, splits(x, y), return_train_score=True)
    same_refit(ours, theirs)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))
    np.testing.assert_array_equal(ours.predict_proba(x), theirs.predict_proba(x))
    assert ours.score(x, y) == theirs.score(x, y)
    assert list(ours.classes_) == list(theirs.classes_)


def test_a_grid_over_shapes_and_shared_knobs_trains_one_array_per_group(digits, monkeypatch):
    """hidden_layer_sizes, activation and batch_size must be one per array: the grid's fits fall into groups."""
    x, y = digits
    grid = {"hidden_layer_sizes": [(8,), (6, 5)], "batch_size": [32, 64], "learning_rate_init": [1e-3, 1e-2]}
    sizes = []
    train_group = search_module.NetworkSearchCV._train_group

    def counted(self, group, *args):
        sizes.append(len(group))
        return train_group(self, group, *args)

    monkeypatch.setattr(search_module.NetworkSearchCV, "_train_group", counted)
    both(classifier(), grid, x, y, splits(x, y))
    assert sizes == [6, 6, 6, 6]  # 4 groups of 2 rates × 3 folds


@pytest.mark.slow
def test_early_stopping_class_and_sample_weights(digits):
    x, y = digits
    weights = np.random.default_rng(0).integers(0, 3, len(y)).astype(float)
    grid = {"class_weight": [None, "balanced", {0: 3.0, 1: 0.5}], "early_stopping": [False, True]}
    estimator = classifier(max_iter=6, n_iter_no_change=2, validation_fraction=0.2, learning_rate_init=0.01)
    both(estimator, grid, x, y, splits(x, y), fit_params={"sample_weight": weights})


def test_a_fold_that_lacks_a_class_has_a_network_of_its_own(digits):
    """The first fold's training rows have no 9s: its networks have 9 outputs, so they train in an array apart."""
    x, y = digits
    nines = np.flatnonzero(y == 9)
    rest = np.flatnonzero(y != 9)
    cv = [(rest, nines), (np.arange(0, len(y), 2), np.arange(1, len(y), 2))]
    ours, _ = both(classifier(), {"learning_rate_init": [1e-2, 3e-2]}, x, y, cv)
    assert ours.cv_results_["split0_test_score"].tolist() == [0.0, 0.0]  # it never predicts a 9


@pytest.mark.slow
def test_custom_and_multimetric_scoring_with_a_refit_name(digits):
    x, y = digits
    cv = splits(x, y)
    grid = {"learning_rate_init": [1e-3, 3e-2]}
    both(classifier(), grid, x, y, cv, scoring=make_scorer(f1_score, average="macro"))
    both(classifier(), grid, x, y, cv, scoring="neg_log_loss")
    ours, theirs = both(
        classifier(), grid, x, y, cv, scoring={"acc": "accuracy", "f1": "f1_macro"}, refit="f1", return_train_score=True
    )
    same_refit(ours, theirs)
    ours, theirs = both(classifier(), grid, x, y, cv, scoring=["accuracy", "balanced_accuracy"], refit=False)
    assert not hasattr(ours, "best_estimator_") and not hasattr(theirs, "best_estimator_")


def test_a_fit_that_diverges_scores_error_score_as_in_grid_search_cv(digits):
    x, y = digits
    grid = {"lmbda": [0.0, 1e30]}  # 1 − ηλ/n ≈ −1e28: the second candidate's weights overflow
    estimator = classifier(optimizer="sgd", learning_rate_init=0.5)
    with warnings.catch_warnings(record=True) as ours_caught:
        warnings.simplefilter("always")
        ours = NetworkSearchCV(estimator, grid, cv=splits(x, y)).fit(x, y)
    with warnings.catch_warnings(record=True) as theirs_caught:
        warnings.simplefilter("always")
        theirs = GridSearchCV(estimator, grid, cv=splits(x, y)).fit(x, y)
    for caught in (ours_caught, theirs_caught):
        assert sum(issubclass(w.category, FitFailedWarning) for w in caught) == 1
    # each fit warns in its own words, as it does alone: L2's negative factor, once per fold, and no "member k"
    training = [
        [str(w.message) for w in caught if issubclass(w.category, TrainingWarning)]
        for caught in (ours_caught, theirs_caught)
    ]
    assert training[0] == training[1] and len(training[0]) == 3 and "member" not in training[0][0]
    assert np.isnan(ours.cv_results_["mean_test_score"][1]) and np.isnan(theirs.cv_results_["mean_test_score"][1])
    assert ours.cv_results_["mean_test_score"][0] == pytest.approx(theirs.cv_results_["mean_test_score"][0], abs=1e-6)
    with pytest.raises(ValueError, match="diverged"):
        NetworkSearchCV(estimator, grid, cv=splits(x, y), error_score="raise").fit(x, y)


def test_an_array_that_cannot_start_trains_fit_by_fit_as_grid_search_cv_does(digits, monkeypatch):
    """Fold 0's rows weigh 0 but for those its hold-out takes: that fit is refused as its run is laid out, so its
    array trains each fit on its own, and that one fit alone fails, as in GridSearchCV."""
    x, y = digits
    cv = splits(x, y)
    train = cv[0][0]
    weights = np.zeros(len(y))
    weights[train[validation_split(len(train), 0.2)[1]]] = 1.0
    estimator = classifier(early_stopping=True, validation_fraction=0.2, n_iter_no_change=2)
    alone = []
    fit_alone = search_module.NetworkSearchCV._fit_alone
    monkeypatch.setattr(
        search_module.NetworkSearchCV, "_fit_alone", lambda self, fit, *a: alone.append(fit) or fit_alone(self, fit, *a)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, _ = both(estimator, {"learning_rate_init": [1e-2, 3e-2]}, x, y, cv, {"sample_weight": weights})
    assert len(alone) == 6  # the one array's 2 candidates × 3 folds
    assert np.isnan(ours.cv_results_["split0_test_score"]).all()
    assert np.isfinite(ours.cv_results_["split1_test_score"]).all()


@pytest.mark.slow
def test_the_regressor_too(friedman):
    x, y = friedman
    cv = list(KFold(3, shuffle=True, random_state=0).split(x))
    estimator = NetworkRegressor(hidden_layer_sizes=(16,), max_iter=4, batch_size=20, dtype="float64", random_state=0)
    grid = {"learning_rate_init": [1e-2, 3e-2], "lmbda": [0.0, 0.5], "early_stopping": [False, True]}
    ours, theirs = both(estimator, grid, x, y, cv, return_train_score=True)
    same_refit(ours, theirs)
    both(estimator, {"learning_rate_init": [1e-2, 3e-2]}, x, y, cv, scoring="neg_mean_absolute_error")


def test_inside_a_pipeline(digits):
    x, y = digits
    grid = {"learning_rate_init": [1e-2, 3e-2]}
    pipeline = make_pipeline(StandardScaler(), NetworkSearchCV(classifier(), grid, cv=3)).fit(x, y)
    search = pipeline[-1]
    assert search.best_params_ in search.cv_results_["params"]
    assert 0.5 < pipeline.score(x, y) <= 1.0
    reference = GridSearchCV(classifier(), grid, cv=3).fit(StandardScaler().fit_transform(x), y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], reference.cv_results_["mean_test_score"], atol=1e-6
    )


@pytest.mark.parametrize(
    "estimator, grid, message",
    [
        (LogisticRegression(), {"C": [1.0]}, "got LogisticRegression: use sklearn.model_selection.GridSearchCV"),
        (classifier(), [], "gives no candidates"),
        (classifier(), {"learning_rate": [0.1]}, "names 'learning_rate', which NetworkClassifier has no parameter"),
        (classifier(), {"learning_rate_init": []}, "need to be a non-empty sequence"),
    ],
)
def test_bad_input_is_refused_in_one_line(digits, estimator, grid, message):
    x, y = digits
    with pytest.raises((TypeError, ValueError), match=message) as caught:
        NetworkSearchCV(estimator, grid, cv=2).fit(x, y)
    assert "\n" not in str(caught.value)


def test_a_fit_parameter_the_estimator_lacks_is_refused(digits):
    x, y = digits
    with pytest.raises(TypeError, match="takes sample_weight only, got the fit parameter 'classes'"):
        NetworkSearchCV(classifier(), {"max_iter": [1]}, cv=2).fit(x, y, classes=np.arange(10))


def test_a_scorer_of_the_callers_own_sees_the_loss_curve_that_grid_search_cv_gives(digits):
    x, y = digits

    def last_loss(estimator, X, y):
        return -estimator.loss_curve_[-1]

    both(classifier(), {"learning_rate_init": [1e-3, 3e-2]}, x, y, splits(x, y), scoring=last_loss)


@pytest.mark.parametrize(
    "options, monitored",
    [({}, False), ({"scoring": ["accuracy", "f1_macro"], "refit": False}, False), ({"scoring": len}, True)],
)
def test_the_training_cost_is_computed_only_where_something_reads_it(digits, monkeypatch, options, monitored):
    seen, train = [], search_module.ArrayTrainer.train

    def spy(self, *args, **kwargs):
        seen.append(kwargs["monitor_training_cost"])
        return train(self, *args, **kwargs)

    monkeypatch.setattr(search_module.ArrayTrainer, "train", spy)
    x, y = digits
    search = NetworkSearchCV(classifier(), {"learning_rate_init": [1e-3, 3e-2]}, cv=2, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # len is no scorer: its fits' scores fail, which is not what is tested
        try:
            search.fit(x, y)
        except Exception:
            pass
    assert seen == [monitored]
    seen.clear()
    NetworkSearchCV(classifier(verbose=True), {"learning_rate_init": [1e-3]}, cv=2).fit(x, y)
    assert seen == [True]  # its lines print each epoch's loss
