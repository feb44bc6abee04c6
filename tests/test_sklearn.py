"""NetworkClassifier works in scikit-learn's ecosystem, maps its parameters onto gpubp's knobs, and is gpubp
underneath. scikit-learn's own estimator checks run in test_sklearn_checks.py, sample and class weights in
test_sklearn_weights.py, multilabel targets in test_multilabel.py, NetworkRegressor in test_regressor.py.

Most tests here train with the lecture's sequel (σ units, plain SGD, cross-entropy, N(0, 1) weights), where gpubp's
arithmetic is the simplest to follow; the estimator's defaults (ReLU, Adam, softmax, Glorot) are MLPClassifier's.
"""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import gpubp  # noqa: E402
from gpubp.sklearn import NetworkClassifier  # noqa: E402
from gpubp.sklearn.threads import blas_threads, blas_threads_for  # noqa: E402

LECTURE = dict(activation="logistic", optimizer="sgd", cost="cross-entropy", init="normal")  # the lecture's sequel


def small(**params):
    settings = dict(
        hidden_layer_sizes=(20,),
        learning_rate_init=0.5,
        batch_size=10,
        max_iter=5,
        random_state=0,
        device="cpu",
        **LECTURE,
    )
    return NetworkClassifier(**{**settings, **params})


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def test_importing_gpubp_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = "import sys, gpubp; print('sklearn' in sys.modules, 'threadpoolctl' in sys.modules)"
    assert subprocess.check_output([sys.executable, "-c", code], text=True).split() == ["False", "False"]


def test_grid_search_over_learning_rate_and_batch_size(digits):
    x, y = digits
    grid = {"learning_rate_init": [0.01, 1.0], "batch_size": [10, 50]}
    search = GridSearchCV(small(max_iter=10), grid, cv=3).fit(x, y)
    scores = dict(zip(map(str, search.cv_results_["params"]), search.cv_results_["mean_test_score"]))
    assert len(scores) == 4
    assert search.best_params_["learning_rate_init"] == 1.0 and search.best_score_ > 0.85
    assert scores[str({"batch_size": 50, "learning_rate_init": 0.01})] < 0.5  # too small a step to learn in 10 epochs


def test_pipeline_with_standard_scaler(digits):
    x, y = digits
    pipe = make_pipeline(StandardScaler(), small(max_iter=10)).fit(x[:1400], y[:1400])
    assert pipe.score(x[1400:], y[1400:]) > 0.85
    scaler = StandardScaler().fit(x[:1400])
    by_hand = small(max_iter=10).fit(scaler.transform(x[:1400]), y[:1400])
    assert np.array_equal(pipe.predict(x[1400:]), by_hand.predict(scaler.transform(x[1400:])))


def test_cross_val_score(digits):
    x, y = digits
    scores = cross_val_score(small(max_iter=10), x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


@pytest.mark.slow  # joblib worker processes
def test_grid_search_in_two_processes_gives_the_same_result(digits):
    x, y = digits
    grid = {"learning_rate_init": [0.1, 1.0]}
    serial = GridSearchCV(small(), grid, cv=2).fit(x, y)
    parallel = GridSearchCV(small(), grid, cv=2, n_jobs=2).fit(x, y)
    assert np.array_equal(serial.cv_results_["mean_test_score"], parallel.cv_results_["mean_test_score"])


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]),
        np.array([3, 7, 10, 11, 20, 42, 43, 50, 99, 1000]),
    ],
)
def test_any_labels_train_exactly_as_their_indices(digits, labels):
    x, y = digits
    named = small().fit(x, labels[y])
    order = np.argsort(labels)  # classes_ are sorted: index k of classes_ is labels[order[k]]
    codes = np.argsort(order)[y]
    coded = small().fit(x, codes)
    assert np.array_equal(named.classes_, np.sort(labels))
    for a, b in zip(named.coefs_ + named.intercepts_, coded.coefs_ + coded.intercepts_):
        assert np.array_equal(a, b)
    assert np.array_equal(named.predict(x), named.classes_[coded.predict(x)])
    assert named.score(x, labels[y]) == coded.score(x, codes)


def assert_partial_fit_twice_equals_fit_for_two_epochs(x, y, **params):
    fitted = small(max_iter=2, **params).fit(x, y)
    stepped = small(**params)
    stepped.partial_fit(x, y, classes=np.unique(y))
    assert stepped.n_iter_ == 1
    stepped.partial_fit(x, y)
    assert stepped.n_iter_ == fitted.n_iter_ == 2 and stepped.loss_curve_ == fitted.loss_curve_
    for a, b in zip(stepped.coefs_ + stepped.intercepts_, fitted.coefs_ + fitted.intercepts_):
        assert np.array_equal(a, b)


def test_two_partial_fit_epochs_equal_fit_with_two_epochs(digits):
    assert_partial_fit_twice_equals_fit_for_two_epochs(*digits)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
def test_two_partial_fit_epochs_keep_the_optimizers_state(digits, optimizer):
    assert_partial_fit_twice_equals_fit_for_two_epochs(*digits, optimizer=optimizer, learning_rate_init=0.05, lmbda=0.1)


def test_partial_fit_needs_classes_on_the_first_call_and_refuses_unknown_labels(digits):
    x, y = digits
    with pytest.raises(ValueError, match="classes must be passed"):
        small().partial_fit(x, y)
    with pytest.raises(ValueError, match="differs from the classes_"):
        small().partial_fit(x, y, classes=np.arange(10)).partial_fit(x, y, classes=np.arange(11))
    clf = small().partial_fit(x[y < 5], y[y < 5], classes=np.arange(5))
    assert clf.n_outputs_ == 5
    with pytest.raises(ValueError, match=r"labels \[5, 6, 7, 8, 9\] that are not in classes_"):
        clf.partial_fit(x, y)
    with pytest.raises(ValueError, match=r"labels \['a'\] that are not in classes_"):
        clf.partial_fit(x[:3], ["a", "a", "a"])


def fitted_state(clf) -> dict:
    """Everything a fit changes: the fitted attributes, and the run's weights, generator, rule state and history."""
    trainer = clf._fitted_trainer()
    rule = trainer.optimizer
    return {
        "attributes": {k: v for k, v in vars(clf).items() if k.endswith("_")},
        "trainer": trainer,
        "parameters": trainer.net.flat_parameters.copy(),
        "rng": trainer.net.rng.bit_generator.state,
        "history": list(trainer.history),
        "rule": (rule.steps, [b.copy() for b in rule.state]) if rule is not None else None,
    }


def assert_same_state(before: dict, after: dict) -> None:
    assert after["trainer"] is before["trainer"] and after["rng"] == before["rng"]
    assert np.array_equal(after["parameters"], before["parameters"]) and after["history"] == before["history"]
    assert before["attributes"].keys() == after["attributes"].keys()
    for name, value in before["attributes"].items():
        assert after["attributes"][name] is value, name
    if before["rule"] is not None:
        assert after["rule"][0] == before["rule"][0]
        assert all(np.array_equal(a, b) for a, b in zip(after["rule"][1], before["rule"][1]))


class Interrupt:
    """Ctrl-C once called more than ``after`` times: as the verbose report of each epoch, Ctrl-C after ``after``
    epochs of the next fit; as another of the estimator's steps, at that step."""

    def __init__(self, clf, after: int):
        self.seen, self.after = 0, after
        clf.verbose = True
        clf._report = self

    def __call__(self, *args, **kwargs):
        self.seen += 1
        if self.seen > self.after:
            raise KeyboardInterrupt


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize(
    "failure",
    [
        "diverged partial_fit",
        "diverged warm start",
        "interrupted warm start",
        "interrupted partial_fit",
        "interrupted after training partial_fit",
        "bad fit",
    ],
)
def test_a_failed_fit_leaves_the_estimator_exactly_as_it_was(digits, failure, optimizer):
    x, y = digits
    clf = small(optimizer=optimizer, learning_rate_init=0.05).fit(x, y)
    before, proba = fitted_state(clf), clf.predict_proba(x)
    if failure.startswith("diverged"):
        clf.set_params(learning_rate_init=1e38)
        error = gpubp.TrainingDiverged
    elif failure.startswith("interrupted after training"):
        clf._set_fitted_attributes = Interrupt(clf, after=-1)  # Ctrl-C once the run is done, before coefs_
        clf.verbose = False
        error = KeyboardInterrupt
    elif failure.startswith("interrupted"):
        Interrupt(clf, after=0 if failure.endswith("partial_fit") else 1)  # after a whole epoch
        error = KeyboardInterrupt
    else:
        clf.set_params(max_iter=0)  # a fresh fit refused: the previous model stays
        error = ValueError
    with pytest.raises(error):
        if failure.endswith("partial_fit"):
            clf.partial_fit(x, y)
        else:
            clf.set_params(warm_start=failure != "bad fit", max_iter=clf.max_iter if failure != "bad fit" else 0)
            clf.fit(x, y)
    vars(clf).pop("_report", None), vars(clf).pop("_set_fitted_attributes", None)
    assert_same_state(before, fitted_state(clf))
    assert np.array_equal(clf.predict_proba(x), proba)
    # Training on continues as if the failed call had never happened.
    clf.set_params(learning_rate_init=0.05, max_iter=5, warm_start=False, verbose=False)
    reference = small(optimizer=optimizer, learning_rate_init=0.05).fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(clf.partial_fit(x, y).coefs_, reference.partial_fit(x, y).coefs_))


def test_a_failed_first_fit_leaves_the_estimator_unfitted(digits):
    from sklearn.exceptions import NotFittedError

    x, y = digits
    clf = small(learning_rate_init=1e30)
    with pytest.raises(gpubp.TrainingDiverged):
        clf.fit(x, y)
    with pytest.raises(NotFittedError):
        clf.predict(x)
    assert not [name for name in vars(clf) if name.endswith("_") or name.startswith("_")]


def test_a_divergence_is_a_value_error_in_the_estimators_words_and_pickles(digits):
    x, y = digits
    with pytest.raises(ValueError) as info:  # as scikit-learn users catch a failed fit
        small(learning_rate_init=1e30).fit(x, y)
    assert isinstance(info.value, gpubp.TrainingDiverged) and "learning_rate_init=1e+30 is too large" in str(info.value)
    assert "eta" not in str(info.value) and "--lr" not in str(info.value)
    with pytest.raises(ValueError, match="lmbda below n/η") as info, pytest.warns(gpubp.TrainingWarning, match="lmbda"):
        small(lmbda=1e6).fit(x, y)
    again = pickle.loads(pickle.dumps(info.value))  # joblib sends a worker's error back this way
    assert type(again) is gpubp.TrainingDiverged and str(again) == str(info.value) and again.epoch == 1


def test_a_refused_chunk_changes_nothing(digits):
    x, y = digits
    clf = small().fit(x, y)
    before = clf.predict_proba(x)
    with pytest.raises(ValueError, match="X has 10 features"):
        clf.partial_fit(x[:, :10], y)
    assert np.array_equal(clf.predict_proba(x), before)


def test_partial_fit_after_early_stopping_goes_on_from_the_weights_fit_kept(digits):
    """fit ends with the best epoch's weights; partial_fit at a vanishing step keeps them, as warm_start does."""
    x, y = digits
    clf = small(early_stopping=True, n_iter_no_change=2, max_iter=50, learning_rate_init=3.0).fit(x, y)
    assert clf.n_iter_ < 50  # stopped early, two epochs after its best
    kept, score = [c.copy() for c in clf.coefs_], clf.score(x, y)
    clf.set_params(learning_rate_init=1e-12).partial_fit(x, y)
    assert all(np.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(clf.coefs_, kept))
    assert clf.score(x, y) == pytest.approx(score, abs=1 / len(y))
    warm = small(early_stopping=True, n_iter_no_change=2, max_iter=50, learning_rate_init=3.0).fit(x, y)
    warm.set_params(learning_rate_init=1e-12, warm_start=True, max_iter=1, early_stopping=False).fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(warm.coefs_, clf.coefs_))


def test_warm_start_continues_where_fit_stopped(digits):
    x, y = digits
    once = small(max_iter=4).fit(x, y)
    twice = small(max_iter=2, warm_start=True).fit(x, y).fit(x, y)
    assert twice.n_iter_ == 4 and twice.loss_curve_ == once.loss_curve_
    assert all(np.array_equal(a, b) for a, b in zip(twice.coefs_, once.coefs_))


def test_pickle_round_trip_keeps_predictions_and_holds_no_network(digits):
    x, y = digits
    clf = small().fit(x, y)
    data = pickle.dumps(clf)
    assert b"gpubp.model.network" not in data and b"Backend" not in data  # host arrays only: loads anywhere
    restored = pickle.loads(data)
    assert np.array_equal(restored.predict(x), clf.predict(x))
    assert np.array_equal(restored.predict_proba(x), clf.predict_proba(x))
    # The shuffle generator travels too: training on continues exactly as it would have.
    restored.partial_fit(x, y)
    clf.partial_fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(restored.coefs_, clf.coefs_))


def test_pickle_round_trip_continues_adam_exactly(digits):
    x, y = digits
    clf = small(optimizer="adam", learning_rate_init=0.01).fit(x, y)
    restored = pickle.loads(pickle.dumps(clf))
    restored.partial_fit(x, y)
    clf.partial_fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(restored.coefs_, clf.coefs_))


def test_coefs_are_gpubps_weights_in_mlpclassifiers_shapes(digits):
    x, y = digits
    clf = small(hidden_layer_sizes=(20, 15), dtype="float64").fit(x, y)
    assert [c.shape for c in clf.coefs_] == [(64, 20), (20, 15), (15, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (15,), (10,)]
    weights, biases = clf.network_.parameters()
    assert all(np.array_equal(c, w.T) for c, w in zip(clf.coefs_, weights))
    assert all(np.array_equal(c, b) for c, b in zip(clf.intercepts_, biases))
    # predict_proba is the forward pass through coefs_ (sigmoid units), each row normalised to sum to 1.
    a = x
    for coef, intercept in zip(clf.coefs_, clf.intercepts_):
        a = 1 / (1 + np.exp(-(a @ coef + intercept)))
    np.testing.assert_allclose(clf.predict_proba(x), a / a.sum(axis=1, keepdims=True), rtol=1e-9)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(x)), clf.predict_proba(x), rtol=1e-12)
    assert clf.coefs_[0].dtype == np.float64 and clf.n_layers_ == 4 and clf.out_activation_ == "logistic"


def test_mlpclassifier_has_the_same_coef_shapes(digits):
    x, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch does not converge
        mlp = MLPClassifier(hidden_layer_sizes=(20, 15), max_iter=1, random_state=0).fit(x, y)
    clf = small(hidden_layer_sizes=(20, 15), max_iter=1).fit(x, y)
    assert [c.shape for c in clf.coefs_] == [c.shape for c in mlp.coefs_]
    assert [b.shape for b in clf.intercepts_] == [b.shape for b in mlp.intercepts_]


def test_an_int_random_state_is_gpubps_seed(digits):
    x, y = digits
    clf = small(max_iter=3, random_state=7).fit(x, y)
    net = gpubp.Network([64, 20, 10], cost="cross-entropy", device="cpu", seed=7)
    with blas_threads_for(net, 10):  # the fit's BLAS threads: the same arithmetic, so the same bits by construction
        history = net.SGD((x, y), 3, 10, 0.5)
    weights, _ = net.parameters()
    assert all(np.array_equal(c, w.T) for c, w in zip(clf.coefs_, weights))
    assert clf.loss_curve_ == [h.training_cost for h in history]
    assert not np.array_equal(small(random_state=8).fit(x, y).coefs_[0], small().fit(x, y).coefs_[0])


def test_the_parameters_map_onto_gpubps_training_configuration(digits, monkeypatch):
    """Each parameter becomes its TrainingConfig knob; a knob the chosen rule or schedule does not read stays at its
    default (as MLPClassifier ignores momentum under Adam), and the hold-out and patience come only with early
    stopping."""
    x, y = digits
    seen = []

    def spy(trainer, config, data, test_data=None, **options):
        seen.append(config)
        raise KeyboardInterrupt  # recorded; no need to train

    monkeypatch.setattr(gpubp.Trainer, "train", spy)
    for clf in (
        small(),
        small(
            optimizer="nesterov",
            momentum=0.5,
            lmbda=0.1,
            schedule="plateau",
            warmup_epochs=2,
            plateau_factor=1.5,
            plateau_patience=3,
            early_stopping=True,
            validation_fraction=0.2,
            n_iter_no_change=4,
        ),
        small(optimizer="adam", beta_1=0.8, epsilon=1e-6, momentum=0.5, plateau_factor=3.0),
        small(optimizer="Momentum"),
    ):
        with pytest.raises(KeyboardInterrupt):
            clf.fit(x, y)
    base = gpubp.TrainingConfig(epochs=5, mini_batch_size=10, eta=0.5)
    assert seen == [
        base,
        base.replace(
            optimizer="nesterov",
            momentum=0.5,
            lmbda=0.1,
            schedule="plateau",
            warmup_epochs=2,
            plateau_factor=1.5,
            plateau_patience=3,
            validation_fraction=0.2,
            patience=4,
        ),
        base.replace(optimizer="adam", betas=(0.8, 0.999), eps=1e-6),  # momentum belongs to other rules
        base.replace(optimizer="momentum"),
    ]


def test_a_bad_parameter_is_a_value_error_in_the_estimators_words(digits):
    x, y = digits
    cases = [
        (dict(learning_rate_init=-1.0), "learning_rate_init (the learning rate η) must be a finite number > 0"),
        (dict(batch_size=0), "batch_size (the mini-batch size) must be a whole number >= 1, got 0"),
        (dict(batch_size="Auto"), "batch_size must be 'auto' or a whole number >= 1, got 'Auto'"),
        (dict(max_iter=0), "max_iter must be a whole number >= 1, got 0"),
        (dict(n_iter_no_change=0, early_stopping=True), "n_iter_no_change (the early-stopping patience in epochs)"),
        (dict(validation_fraction=1.0, early_stopping=True), "validation_fraction (the validation fraction) must be"),
        (dict(optimizer="adam", beta_1=1.5), "beta_1 (one of Adam's betas) must be a finite number in [0, 1)"),
        (dict(optimizer="adam", beta_2=1.0), "beta_2 (one of Adam's betas) must be a finite number in [0, 1)"),
        (dict(cost="hinge"), "cost (the cost) must be one of quadratic, cross-entropy, log-likelihood"),
        (dict(dtype="float16"), "dtype (the dtype) must be one of float32, float64"),
        (dict(hidden_layer_sizes="15"), "hidden_layer_sizes must be a whole number >= 1 or a sequence of them"),
        (dict(hidden_layer_sizes=(20, 0)), "hidden_layer_sizes must be a whole number >= 1 or a sequence of them"),
        (dict(hidden_layer_sizes=2.5), "hidden_layer_sizes must be a whole number >= 1 or a sequence of them"),
        (dict(hidden_layer_sizes=(True,)), "hidden_layer_sizes must be a whole number >= 1 or a sequence of them"),
        (dict(random_state=1.5), "random_state must be None, a whole number >= 0 (gpubp's seed) or a numpy"),
        (dict(random_state="0"), "random_state must be None, a whole number >= 0 (gpubp's seed) or a numpy"),
        (dict(random_state=-1), "random_state (the seed) must be a whole number >= 0"),
        (dict(warm_start="no"), "warm_start must be True or False, got 'no'"),
        (dict(early_stopping=1), "early_stopping must be True or False, got 1"),
        (dict(verbose=-1), "verbose must be True, False or a whole number >= 0, got -1"),
        # Checked also where the chosen rule or the missing early stopping ignores them, as MLPClassifier does.
        (dict(optimizer="adam", momentum=5.0), "momentum (momentum μ) must be a finite number in [0, 1)"),
        (dict(optimizer="sgd", epsilon=0.0), "epsilon (Adam's ε) must be a finite number > 0"),
        (dict(n_iter_no_change=0), "n_iter_no_change (the early-stopping patience in epochs) must be"),
        (dict(validation_fraction=-0.1), "validation_fraction (the validation fraction) must be"),
        (dict(early_stopping=True, validation_fraction=0.0), "validation_fraction must be above 0, got 0"),
    ]
    for params, message in cases:
        with pytest.raises(ValueError) as info:
            small(**params).fit(x, y)
        assert message in str(info.value), params
        assert "--" not in str(info.value) and "sizes [" not in str(info.value)  # never the CLI's or gpubp's words


def test_schedules_that_need_what_the_call_lacks_are_refused(digits):
    x, y = digits
    with pytest.raises(ValueError, match="schedule='plateau' .* needs fit with early_stopping=True"):
        small(schedule="plateau").fit(x, y)
    with pytest.raises(ValueError, match="schedule='plateau'"):
        small(schedule="plateau", early_stopping=True).partial_fit(x, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="schedule='cosine' .* partial_fit cannot know"):
        small(schedule="cosine").partial_fit(x, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="warmup_epochs needs a run of more epochs .* use fit"):
        small(warmup_epochs=1).partial_fit(x, y, classes=np.arange(10))


def test_early_stopping_reports_validation_scores(digits):
    x, y = digits
    clf = small(early_stopping=True, n_iter_no_change=2, max_iter=50, learning_rate_init=3.0).fit(x, y)
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.8
    assert clf.n_iter_ < 50


def test_a_warm_started_fit_after_early_stopping_trains_on_from_the_best_weights(digits):
    x, y = digits
    clf = small(early_stopping=True, n_iter_no_change=2, max_iter=50, learning_rate_init=3.0).fit(x, y)
    stopped, best = clf.n_iter_, clf.predict_proba(x)
    clf.set_params(warm_start=True, max_iter=3, n_iter_no_change=5).fit(x, y)
    assert clf.n_iter_ == stopped + 3 and len(clf.validation_scores_) == clf.n_iter_
    assert not np.array_equal(clf.predict_proba(x), best)


def test_without_early_stopping_there_are_no_validation_scores(digits):
    clf = small().fit(*digits)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_pandas_dataframes_keep_their_feature_names(digits):
    pd = pytest.importorskip("pandas")
    x, y = digits
    frame = pd.DataFrame(x, columns=[f"pixel{i}" for i in range(64)])
    clf = small().fit(frame, pd.Series(y))
    assert list(clf.feature_names_in_) == list(frame.columns) and clf.n_features_in_ == 64
    assert np.array_equal(clf.predict(frame), small().fit(x, y).predict(x))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"pixel0": "other"}))


def test_lists_are_accepted(digits):
    x, y = digits
    assert np.array_equal(
        small().fit(x[:200].tolist(), y[:200].tolist()).predict(x[:50].tolist()),
        small().fit(x[:200], y[:200]).predict(x[:50]),
    )


def test_sparse_input_is_refused_with_the_fix():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    x = scipy_sparse.random(40, 5, density=0.3, format="csr", random_state=0)
    with pytest.raises(TypeError, match=r"toarray\(\)"):
        small().fit(x, np.arange(40) % 2)


def test_batch_size_larger_than_the_data_is_clipped_with_a_warning(digits):
    x, y = digits
    with pytest.warns(UserWarning, match="batch_size 500 is larger than the 100 training samples"):
        clf = small(batch_size=500).fit(x[:100], y[:100])
    with pytest.raises(ValueError, match="max_iter must be a whole number"):
        small(max_iter=0).fit(x, y)
    assert clf.n_iter_ == 5


def test_verbose_prints_the_loss_of_every_epoch(digits, capsys):
    clf = small(verbose=True, max_iter=3).fit(*digits)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Iteration {k + 1}, loss = {loss:.8f}" for k, loss in enumerate(clf.loss_curve_)]


def test_the_blas_libraries_are_discovered_once_per_process(digits, monkeypatch):
    """threadpoolctl's discovery reads every loaded library (milliseconds): once, not at every fit and prediction."""
    import threadpoolctl

    from gpubp.sklearn import threads

    made = []

    class Counted(threadpoolctl.ThreadpoolController):
        def __init__(self):
            made.append(1)
            super().__init__()

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Counted)
    monkeypatch.setattr(threads, "ThreadpoolController", Counted, raising=False)
    if hasattr(threads, "blas_controller"):
        threads.blas_controller.cache_clear()
    x, y = digits
    for _ in range(3):
        small(max_iter=1).fit(x, y).predict(x)
    assert len(made) == 1
    with threadpool_limits(limits=1, user_api="blas"):  # the thread counts are still read at every call
        made.clear()
        with blas_threads_for(gpubp.Network([64, 1024, 1024, 10], device="cpu", seed=0), 256):
            discovered = len(made)
            assert blas_thread_counts() == {1}  # (threadpool_info discovers afresh)
    assert discovered == 0
    threads.blas_controller.cache_clear()  # the next test discovers with threadpoolctl's own class


def test_the_hold_out_and_the_batch_warning_count_the_same_rows(digits):
    """One function sizes the hold-out for the estimator and for gpubp train: n = 25 at 10 % holds out 2 (round)."""
    x, y = digits
    with pytest.warns(UserWarning, match="batch_size 24 is larger than the 23 training samples: using 23"):
        clf = small(batch_size=24, early_stopping=True, validation_fraction=0.1, n_iter_no_change=2).fit(x[:25], y[:25])
    assert gpubp.TrainingConfig(mini_batch_size=23, validation_fraction=0.1, patience=2).rows(25) == (23, 2)
    assert clf._trainer.config.mini_batch_size == 23


def blas_thread_counts():
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_blas_threads_follow_the_size_and_never_exceed_what_the_caller_allows():
    assert blas_threads([64, 100, 10], 100, allowed=8) == 1  # 640 thousand multiply-adds: one thread
    assert blas_threads([784, 100, 10], 100, allowed=8) == 1  # 7.8 million
    assert blas_threads([64, 1024, 1024, 10], 256, allowed=8) == 8  # 268 million
    assert blas_threads([64, 1024, 1024, 10], 3, allowed=8) == 1  # the same network, predicting 3 rows
    big = gpubp.Network([64, 1024, 1024, 10], device="cpu", seed=0)
    with threadpool_limits(limits=2, user_api="blas"):
        with blas_threads_for(gpubp.Network([64, 100, 10], device="cpu"), 100):
            assert blas_thread_counts() == {1}
        with blas_threads_for(big, 256):
            assert blas_thread_counts() == {2}
        with threadpool_limits(limits=1, user_api="blas"), blas_threads_for(big, 256):
            assert blas_thread_counts() == {1}
        assert blas_thread_counts() == {2}


class ThreadRecorder(NetworkClassifier):
    """Records the BLAS threads its process allowed before it trained and those in force while it trained (verbose
    calls _report after every epoch)."""

    def fit(self, X, y):
        self.blas_threads_allowed_ = max(blas_thread_counts())
        return super().fit(X, y)

    def _report(self, stats):
        self.blas_threads_seen_ = max(blas_thread_counts())


@pytest.mark.slow  # joblib worker processes
def test_grid_search_workers_share_the_cores_instead_of_oversubscribing(digits):
    """joblib's workers start with cpu_count // n_jobs BLAS threads (unless the user set OPENBLAS_NUM_THREADS,
    which joblib then keeps), and a fit never raises its worker's cap."""
    import os

    x, y = digits
    search = GridSearchCV(
        ThreadRecorder(
            hidden_layer_sizes=(1024, 1024), max_iter=1, batch_size=256, verbose=True, device="cpu", **LECTURE
        ),
        {"learning_rate_init": [0.1, 1.0]},
        cv=2,
        n_jobs=2,
        scoring={
            "seen": lambda clf, x, y: clf.blas_threads_seen_,
            "allowed": lambda clf, x, y: clf.blas_threads_allowed_,
        },
        refit=False,
    ).fit(x[:600], y[:600])
    results = search.cv_results_
    for split in ("split0", "split1"):
        assert np.all(results[f"{split}_test_seen"] <= results[f"{split}_test_allowed"])
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        assert results["mean_test_allowed"].max() <= max(os.cpu_count() // 2, 1)


class FakeDeviceArray(np.ndarray):
    """A host array that claims to live on a GPU, as CuPy's do, to drive the device-array path on any machine."""

    __cuda_array_interface__ = {}
    copies_to_host = 0

    def get(self):
        FakeDeviceArray.copies_to_host += 1
        return np.asarray(self).copy()


def test_device_arrays_skip_host_validation_and_reach_a_cpu_network_through_get(digits, monkeypatch):
    monkeypatch.setattr("gpubp.sklearn.inputs.as_cupy", lambda array: array)  # the stand-in plays CuPy's part
    x, y = digits
    device_x = x.view(FakeDeviceArray)
    clf = small().fit(device_x, y)
    assert FakeDeviceArray.copies_to_host == 1 and clf.n_features_in_ == 64
    assert all(np.array_equal(a, b) for a, b in zip(clf.coefs_, small().fit(x, y).coefs_))
    assert np.array_equal(clf.predict(device_x), clf.predict(x)) and FakeDeviceArray.copies_to_host == 2
    with pytest.raises(ValueError, match="X has 10 features, but NetworkClassifier is expecting 64"):
        clf.predict(device_x[:, :10])
    with pytest.raises(ValueError, match="y must hold one label per row of X"):
        small().fit(device_x, y[:-1])


@pytest.mark.gpu
def test_cupy_inputs_train_on_the_gpu_like_numpy_on_the_cpu(cupy, digits):
    x, y = digits
    on_gpu = small(device="gpu", dtype="float64").fit(cupy.asarray(x), cupy.asarray(y))
    on_cpu = small(dtype="float64").fit(x, y)
    for a, b in zip(on_gpu.coefs_, on_cpu.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)
    assert np.array_equal(on_gpu.predict(cupy.asarray(x)), on_cpu.predict(x))
    from_gpu_arrays = small(dtype="float64").fit(cupy.asarray(x), cupy.asarray(y))  # a CPU network takes them too
    assert all(np.array_equal(a, b) for a, b in zip(from_gpu_arrays.coefs_, on_cpu.coefs_))
    assert np.array_equal(pickle.loads(pickle.dumps(on_gpu)).set_params(device="cpu").predict(x), on_cpu.predict(x))
    assert clone(on_gpu).get_params() == on_gpu.get_params()


def readme_example() -> str:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## From scikit-learn", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def run_readme_example(code, capsys) -> list[float]:
    exec(compile(code, "README.md", "exec"), {})
    return [float(line.rsplit(" ", 1)[1]) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.slow  # the README example: two fits on the digits
def test_readme_example_runs_with_todays_training_settings(capsys):
    code = readme_example()
    assert code.count("NetworkClassifier(hidden_layer_sizes") == 1
    code = code.replace(
        "NetworkClassifier(hidden_layer_sizes",
        "NetworkClassifier(optimizer='sgd', cost='cross-entropy', init='normal', hidden_layer_sizes",
    )
    accuracies = run_readme_example(code, capsys)
    assert len(accuracies) == 2 and all(0 <= a <= 1 for a in accuracies)


@pytest.mark.slow  # accuracy on real data
def test_readme_example_reaches_mlpclassifiers_accuracy(capsys):
    accuracies = run_readme_example(readme_example(), capsys)
    assert min(accuracies) >= 0.95


class CudaTensorThatRequiresGrad:
    """What PyTorch's CUDA tensor with ``requires_grad=True`` does when asked for its GPU memory (torch/_tensor.py)."""

    shape, ndim = (20, 4), 2

    @property
    def __cuda_array_interface__(self):
        raise RuntimeError(
            "Can't get __cuda_array_interface__ on Variable that requires grad. If gradients aren't required, use "
            "var.detach() to get Variable that doesn't require grad."
        )


def test_a_cuda_tensor_that_requires_grad_is_a_value_error_saying_to_detach_it():
    with pytest.raises(ValueError, match=r"is a GPU array that does not share its memory .* tensor\.detach\(\)"):
        NetworkClassifier(hidden_layer_sizes=3, max_iter=1).fit(CudaTensorThatRequiresGrad(), np.arange(20) % 2)


class OnGpu:
    """A GPU array (another library's) whose memory lies on GPU ``device``, as its pointer's attributes say."""

    def __init__(self, device):
        self.device_of_pointer, self.shape, self.ndim = device, (6, 4), 2
        self.__cuda_array_interface__ = {"data": (0x7F000000, False), "shape": self.shape, "typestr": "<f4"}


def gpu_backend(own=0):
    """A GPU backend's face as the input checks see it: the network on GPU ``own``."""
    from types import SimpleNamespace

    runtime = SimpleNamespace(pointerGetAttributes=lambda pointer: SimpleNamespace(device=1))
    cupy = SimpleNamespace(ndarray=type(None), cuda=SimpleNamespace(runtime=runtime))
    return SimpleNamespace(name="gpu", device_id=own, xp=cupy)


def test_input_on_another_gpu_than_the_networks_is_refused_saying_so(monkeypatch):
    from types import SimpleNamespace

    from gpubp.model.inputs import prepare_inputs
    from gpubp.sklearn import inputs

    net = SimpleNamespace(backend=gpu_backend(), sizes=(4, 2), dtype=np.dtype("float32"))
    message = r"X is on GPU 1 but the network is on GPU 0: move it there \(cupy.asarray inside `with cupy.cuda.Device"
    with pytest.raises(gpubp.InputError, match="feedforward input: " + message):
        prepare_inputs(net, OnGpu(1), "feedforward input")
    monkeypatch.setattr(inputs, "get_backend", lambda device: gpu_backend())
    with pytest.raises(ValueError, match="^" + message):
        NetworkClassifier(hidden_layer_sizes=3, max_iter=1, device="gpu").fit(OnGpu(1), np.arange(6) % 2)
