"""gpubp as scikit-learn estimators: ``NetworkClassifier`` and ``NetworkRegressor``, for ``Pipeline``,
``GridSearchCV`` and friends.

    >>> from gpubp.sklearn import NetworkClassifier, NetworkRegressor
    >>> clf = NetworkClassifier(hidden_layer_sizes=(100,), random_state=0).fit(X_train, y_train)
    >>> clf.score(X_test, y_test)
    >>> reg = NetworkRegressor(hidden_layer_sizes=(64,), random_state=0).fit(X_train, t_train)
    >>> reg.score(X_test, t_test)  # R²
    >>> search = NetworkSearchCV(NetworkClassifier(random_state=0), {"learning_rate_init": [1e-3, 1e-2]}).fit(X, y)

scikit-learn stays optional: ``import gpubp`` never imports it; this package does, and says how to install it
(``pip install 'gpubp[sklearn]'``) when it is missing or older than the estimator API used here (1.6).
"""

try:
    from sklearn.utils.validation import validate_data  # noqa: F401  (new in scikit-learn 1.6)
except ImportError as exc:
    raise ImportError(f"gpubp.sklearn needs scikit-learn >= 1.6 ({exc}): pip install 'gpubp[sklearn]'") from None

from .classifier import NetworkClassifier
from .regressor import NetworkRegressor
from .search import NetworkSearchCV

__all__ = ["NetworkClassifier", "NetworkRegressor", "NetworkSearchCV"]
