"""``NetworkSearchCV``: scikit-learn's ``GridSearchCV`` for gpubp's estimators, every (candidate, fold) fit of a
group trained at once as one ``gpubp.NetworkArray``.

``GridSearchCV`` fits a clone of the estimator per candidate and fold, one after another. Here each of those fits is
first planned by the estimator itself (``NetworkEstimator._plan``: its parameters and the fold's data checked, the
fold's labels encoded, its class and sample weights, its seed, its ``TrainingConfig``), exactly as its ``fit`` would
plan it. Fits that can share one array (the same layer sizes and units, dtype, device, classes, and the knobs one
epoch loop serves: ``training/array.py: SHARED``) form a group, and each group trains as one array: member k is
fit k, with the fold's training rows (``rows=``), its weights, and its own learning rate, L2, momentum, seed, hold-out
and early stopping. A member is then that fit's network (up to the rounding of the batched products), and the
scores are computed, as ``GridSearchCV`` computes them, on an estimator fitted with the member's network.

The rest is ``GridSearchCV``'s own machinery, reused: ``check_cv``, ``ParameterGrid``, the scorers, fit-parameter
splitting, failed fits and ``error_score``, ``_format_results`` (so ``cv_results_`` has ``GridSearchCV``'s keys),
the best index, ``refit`` (``best_estimator_`` is the estimator's own ``fit`` on all the data), ``predict`` and
friends.
"""

from __future__ import annotations

import dataclasses
import time
from itertools import product
from traceback import format_exc, format_exception

import numpy as np
from sklearn.base import _fit_context, clone, is_classifier
from sklearn.model_selection import GridSearchCV, ParameterGrid, check_cv
from sklearn.model_selection._validation import _insert_error_scores, _score, _warn_or_raise_about_fit_failures
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import _check_method_params, _num_samples, indexable

from ..errors import GpubpError
from ..network import NetworkArray
from ..training import Trainer
from ..training.array import SHARED, ArrayTrainer
from .estimator import FitPlan, NetworkEstimator, estimator_name
from .threads import blas_threads_for


@dataclasses.dataclass
class Fit:
    """One (candidate, fold) fit: its estimator (a clone with the candidate's parameters), its rows, its plan, and
    how it went (``error``: the traceback text of a fit that failed, as ``GridSearchCV`` records it)."""

    estimator: NetworkEstimator
    fold: int
    train: np.ndarray
    test: np.ndarray
    plan: FitPlan | None = None
    error: str | None = None
    seconds: float = 0.0


class NetworkSearchCV(GridSearchCV):
    """Exhaustive search over ``param_grid`` for a ``NetworkClassifier`` or ``NetworkRegressor``, with
    ``GridSearchCV``'s parameters (``n_jobs`` and ``pre_dispatch`` aside: the fits run in network arrays), its
    attributes (``cv_results_`` with the same keys, ``best_params_``, ``best_score_``, ``best_index_``,
    ``best_estimator_``, ``refit_time_``, ``scorer_``, ``n_splits_``, ``multimetric_``, ``classes_``) and its
    methods (``predict``, ``predict_proba``, ``score``, ...). Its scores equal ``GridSearchCV``'s on the same
    splits with the same ``random_state``.

    The candidates × folds are grouped by what one array must share: ``hidden_layer_sizes``, ``activation``,
    ``leaky_slope``, ``cost``, ``init``, ``dtype``, ``device``, ``max_iter``, the batch size, ``optimizer`` and
    ``schedule``, and the fold's classes (a fold that lacks a class has a network with fewer outputs). A grid over
    any of them just makes more groups. Everything else (``learning_rate_init``, ``lmbda``, ``momentum``, Adam's
    betas, ``random_state``, ``early_stopping`` and its hold-out, ``class_weight``, ``dropout``, ...) may differ
    within a group, as may the folds' rows and ``sample_weight`` (a fit parameter, split with the folds).

    ``scoring``: None is the estimator's ``score``; a string, callable, list or dict is applied as ``GridSearchCV``
    applies it, to an estimator fitted with the member's network. ``fit_time`` is the fit's planning plus its
    share of its array's training time (the group's time over its members). A fit that fails (a bad parameter of
    one candidate, a member that diverges) gets ``error_score`` as ``GridSearchCV``'s would; an array that cannot
    start (one of its fits refused when its run is laid out) is trained fit by fit, each as its own ``fit``, so that
    each fails or succeeds as it would alone.

    Host data only (NumPy arrays, lists, DataFrames): the arrays copy each group's training rows to the device once.
    """

    _parameter_constraints: dict = {
        name: rule
        for name, rule in GridSearchCV._parameter_constraints.items()
        if name not in ("n_jobs", "pre_dispatch")
    }

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        refit=True,
        cv=5,
        verbose=0,
        error_score=np.nan,
        return_train_score=False,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.scoring = scoring
        self.refit = refit
        self.cv = cv
        self.verbose = verbose
        self.error_score = error_score
        self.return_train_score = return_train_score

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **params):
        """Run every candidate on every fold (grouped into network arrays), then refit the best on all of ``X``.

        ``params``: the estimator's fit parameters (``sample_weight``, split along with ``X``), and ``groups`` for
        the splitter."""
        candidates = self._candidates()
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        params = _check_method_params(X, params=params)
        routed = self._get_routed_params_for_fit(params)
        unknown = sorted(set(routed.estimator.fit) - {"sample_weight"})
        if unknown:
            raise TypeError(
                f"{type(self.estimator).__name__}.fit takes sample_weight only, got the fit parameter {unknown[0]!r}"
            )
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        self.n_splits_ = cv.get_n_splits(X, y, **routed.splitter.split)
        splits = list(cv.split(X, y, **routed.splitter.split))
        if len(splits) != self.n_splits_:
            raise ValueError(
                f"cv.split and cv.get_n_splits disagree: {len(splits)} splits, but {self.n_splits_} said: use a "
                f"splitter whose get_n_splits counts its splits"
            )
        if self.verbose > 0:
            print(f"Fitting {self.n_splits_} folds for each of {len(candidates)} candidates, totalling "
                  f"{self.n_splits_ * len(candidates)} fits")  # fmt: skip
        out = self._evaluate(candidates, splits, X, y, scorers, routed)
        _warn_or_raise_about_fit_failures(out, self.error_score)
        if callable(self.scoring):
            _insert_error_scores(out, self.error_score)
        results = self._format_results(candidates, self.n_splits_, out)
        # As GridSearchCV: multimetric is known only now for a callable scoring
        self.multimetric_ = isinstance(out[0]["test_scores"], dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(out[0]["test_scores"])
            refit_metric = self.refit
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
            start = time.time()
            self.best_estimator_.fit(X, y, **routed.estimator.fit)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = getattr(scorers, "_scorers", scorers)  # the one scorer itself for a single metric
        self.cv_results_ = results
        return self

    def _candidates(self) -> list[dict]:
        """The grid's candidates, refusing another estimator than gpubp's, an empty grid and unknown names."""
        if not isinstance(self.estimator, NetworkEstimator):
            raise TypeError(
                f"NetworkSearchCV trains NetworkClassifier and NetworkRegressor fits as network arrays, got "
                f"{type(self.estimator).__name__}: use sklearn.model_selection.GridSearchCV for other estimators"
            )
        candidates = list(ParameterGrid(self.param_grid))
        if not candidates:
            raise ValueError(f"param_grid {self.param_grid!r} gives no candidates: give a dict of parameter lists")
        known = self.estimator.get_params()
        for name in sorted({name for candidate in candidates for name in candidate}):
            if name not in known:
                raise ValueError(
                    f"param_grid names {name!r}, which {type(self.estimator).__name__} has no parameter of: use its "
                    f"parameters ({', '.join(sorted(known))})"
                )
        return candidates

    def _evaluate(self, candidates, splits, X, y, scorers, routed) -> list[dict]:
        """Every (candidate, fold) fit, in ``GridSearchCV``'s order, as ``_fit_and_score``'s result dicts."""
        fits = [
            self._planned(parameters, X, y, fold, train, test, routed.estimator.fit)
            for parameters, (fold, (train, test)) in product(candidates, enumerate(splits))
        ]
        groups: dict[tuple, list[Fit]] = {}
        for fit in fits:
            if fit.plan is not None:
                groups.setdefault(group_key(fit), []).append(fit)
        for number, group in enumerate(groups.values()):
            group.sort(key=lambda fit: fit.fold)  # a fold's fits side by side: the array scores them in one pass
            start = time.time()
            self._train_group(group, X, y, routed.estimator.fit)
            if self.verbose > 1:
                sizes = group[0].plan.sizes
                print(f"[array {number + 1}/{len(groups)}] {len(group)} fits of {sizes} in {time.time() - start:.2f} s")
        return [self._scored(fit, X, y, scorers, routed.scorer.score) for fit in fits]

    def _planned(self, parameters, X, y, fold, train, test, fit_params) -> Fit:
        """A fit's estimator and plan, as its ``fit`` on the fold would make them (or the error it would raise)."""
        estimator = clone(self.estimator).set_params(**clone(parameters, safe=False))
        fit = Fit(estimator, fold, train, test)
        start = time.time()
        X_train, y_train = _safe_split(estimator, X, y, train)
        weights = _check_method_params(X, params=fit_params, indices=train).get("sample_weight")
        try:
            with estimator._all_or_nothing():
                fit.plan = estimator._plan(X_train, y_train, weights)
        except Exception:
            self._failed(fit)
        fit.seconds = time.time() - start
        return fit

    def _failed(self, fit: Fit, error: Exception | None = None) -> None:
        """Record ``error`` (None: the exception being handled) as ``fit``'s failure, in ``GridSearchCV``'s words
        (its traceback text), or raise it (``error_score="raise"``)."""
        if self.error_score == "raise":
            if error is None:
                raise
            raise error
        fit.error = format_exc() if error is None else "".join(format_exception(error))
        fit.plan = None

    def _train_group(self, group: list[Fit], X, y, fit_params) -> None:
        """Train ``group``'s fits as one array over the rows they share; each fitted estimator gets its member."""
        first = group[0]
        n = _num_samples(X)
        rows = [fit.train for fit in group]
        x = shared_rows(n, [fit.plan.X for fit in group], rows)
        targets = shared_rows(n, [fit.plan.targets for fit in group], rows)
        weights = None
        if any(fit.plan.weights is not None for fit in group):
            weights = [None if fit.plan.weights is None else spread(n, fit.plan.weights, fit.train) for fit in group]
        seeds = [fit.plan.seed for fit in group]
        arr = first.estimator._new_network(dataclasses.replace(first.plan, seed=seeds), NetworkArray, len(group))
        configs = [fit.plan.config for fit in group]

        def report(k, stats):
            if group[k].estimator.verbose:
                group[k].estimator._report(stats)

        start = time.time()
        try:
            with blas_threads_for(arr, first.plan.config.mini_batch_size):
                result = ArrayTrainer(arr).train(
                    configs,
                    (x, targets),
                    rows=rows,
                    sample_weight=weights,
                    on_epoch=report,
                    on_member_warning=lambda k, warning: group[k].estimator._warn(warning),
                    # The training cost after each epoch (``loss_curve_``) decides nothing in a fit (no ``tol``
                    # test reads it): computed only where something will read it.
                    monitor_training_cost=self._reads_loss_curve(group),
                )
        except GpubpError:  # a fit refused as the array lays out its runs (or all diverged): each fit on its own
            for fit in group:
                self._fit_alone(fit, X, y, fit_params)
            return
        share = (time.time() - start) / len(group)
        for k, fit in enumerate(group):
            fit.seconds += share
            if k in result.diverged:
                self._failed(fit, result.diverged[k].renamed(estimator_name))
                continue
            trainer = Trainer(arr[k], result[k])
            trainer.history.best_epoch = result[k].best_epoch
            fit.estimator._adopt(trainer, fit.plan.config)

    def _reads_loss_curve(self, group: list[Fit]) -> bool:
        """Whether a fitted member's ``loss_curve_`` may be read: by its estimator's ``verbose`` lines, or by a
        scorer of the caller's own (scikit-learn's named scorers read only the predictions)."""
        scoring = self.scoring
        named = (
            scoring is None
            or isinstance(scoring, str)
            or (isinstance(scoring, (list, tuple, set)) and all(isinstance(s, str) for s in scoring))
            or (isinstance(scoring, dict) and all(isinstance(s, str) for s in scoring.values()))
        )
        return not named or any(fit.estimator.verbose for fit in group)

    def _fit_alone(self, fit: Fit, X, y, fit_params) -> None:
        """``fit`` by its estimator's own ``fit`` on its fold, as ``GridSearchCV`` would."""
        start = time.time()
        X_train, y_train = _safe_split(fit.estimator, X, y, fit.train)
        try:
            fit.estimator.fit(X_train, y_train, **_check_method_params(X, params=fit_params, indices=fit.train))
        except Exception:
            self._failed(fit)
        fit.seconds += time.time() - start

    def _scored(self, fit: Fit, X, y, scorers, score_params) -> dict:
        """``fit``'s result as ``_fit_and_score`` gives it: test (and train) scores, sizes, times, the error."""
        result = {"fit_error": fit.error, "n_test_samples": _num_samples(fit.test), "fit_time": fit.seconds}
        if fit.error is not None:
            names = getattr(scorers, "_scorers", None)
            scores = self.error_score if names is None else {name: self.error_score for name in names}
            result.update(test_scores=scores, score_time=0.0)
            if self.return_train_score:
                result["train_scores"] = scores.copy() if isinstance(scores, dict) else scores
            return result
        start = time.time()
        X_test, y_test = _safe_split(fit.estimator, X, y, fit.test, fit.train)
        test_params = _check_method_params(X, params=score_params, indices=fit.test)
        result["test_scores"] = _score(fit.estimator, X_test, y_test, scorers, test_params, self.error_score)
        result["score_time"] = time.time() - start
        if self.return_train_score:
            X_train, y_train = _safe_split(fit.estimator, X, y, fit.train)
            train_params = _check_method_params(X, params=score_params, indices=fit.train)
            result["train_scores"] = _score(fit.estimator, X_train, y_train, scorers, train_params, self.error_score)
        return result


def group_key(fit: Fit) -> tuple:
    """What the fits of one array must share: the network (sizes, units, cost, dtype, device), the task's classes
    (the targets' encoding), and the knobs one epoch loop and one update kernel serve (``SHARED``)."""
    plan, estimator = fit.plan, fit.estimator
    classes = tuple(np.asarray(getattr(estimator, "classes_", ())).tolist())
    return (
        tuple(plan.sizes),
        tuple(sorted(plan.knobs.items())),
        estimator.device,
        classes,
        getattr(estimator, "_multilabel", None),
        np.asarray(plan.targets).dtype.str,
        tuple(getattr(plan.config, name) for name in SHARED),
    )


def spread(n: int, values, rows) -> np.ndarray:
    """``values`` (one per row of ``rows``) at those rows of an array of ``n`` rows, zeros elsewhere."""
    values = np.asarray(values)
    whole = np.zeros((n, *values.shape[1:]), values.dtype)
    whole[rows] = values
    return whole


def shared_rows(n: int, parts, rows) -> np.ndarray:
    """The fits' data (``parts[k]``, the rows ``rows[k]`` of the ``n`` given) as one array that each fit's rows
    index; every fit must find its own values there exactly (they are the same rows, checked the same way)."""
    whole = spread(n, parts[0], rows[0])
    for part, r in zip(parts[1:], rows[1:]):
        whole[r] = part
    for part, r in zip(parts, rows):
        if not np.array_equal(whole[r], part):
            raise AssertionError("the folds' checked rows differ where they overlap: please report this")
    return whole
