"""pycytominer's ``operations.transform``: ``Spherize``, ``RobustMAD``, ``InverseNormalTransform``.

sklearn-style classes over pandas frames; each wraps the matching cytoplan normalizer
(:class:`cytoplan.ops.spherize.Spherize`, :class:`cytoplan.ops._scalers.MADRobustize`,
:class:`cytoplan.ops.inverse_normal.InverseNormal`), which fits the statistics in one
query and transforms lazily. pycytominer derives them from sklearn's ``BaseEstimator``;
scikit-learn is not a cytoplan dependency, so they carry the ``get_params``/
``set_params`` protocol themselves (enough for ``sklearn.base.clone`` and grid searches).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors, to_lazy
from cytoplan.exceptions import StatisticsError
from cytoplan.ops._normalizer import Normalizer
from cytoplan.ops._scalers import MADRobustize
from cytoplan.ops.inverse_normal import InverseNormal
from cytoplan.ops.spherize import Spherize as _Spherize

__all__ = ["InverseNormalTransform", "RobustMAD", "Spherize"]

_SPHERIZE_METHODS = ["PCA", "ZCA", "PCA-cor", "ZCA-cor"]


def _names(X: pd.DataFrame) -> list[str]:
    return [str(name) for name in X.columns]


def _fit(normalizer: Normalizer, X: pd.DataFrame) -> None:
    names = _names(X)
    normalizer.features = names
    lf = to_lazy(X.set_axis(names, axis=1).astype(float), names)
    with pycytominer_errors():
        normalizer.fit(lf)


def _transform(normalizer: Normalizer, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    names = _names(X)
    lf = to_lazy(X.set_axis(names, axis=1).astype(float), names)
    with pycytominer_errors():
        out = normalizer.transform(lf).collect()
    return out.to_numpy().astype(np.float64, copy=False), out.columns


class _Params:
    """sklearn's parameter protocol: the ``__init__`` arguments, read from attributes."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted (as sklearn lists them)."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in parameters if p.name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator (``deep``: also of nested estimators, ``a__b``)."""
        params: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update({f"{name}__{k}": v for k, v in value.get_params().items()})
            params[name] = value
        return params

    def set_params(self, **params: Any) -> Any:
        """Set parameters (used by the next ``fit``); unknown names raise ``ValueError``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                msg = (
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
                raise ValueError(msg)
            setattr(self, name, value)
        return self


class Spherize(_Params):
    """Whitening (PCA, ZCA, PCA-cor, ZCA-cor) as pycytominer 1.7.1's ``Spherize``.

    Parameters
    ----------
    epsilon
        Added to the singular values.
    center
        Centre the data (required by the ``-cor`` methods).
    method
        ``"PCA"``, ``"ZCA"`` (default), ``"PCA-cor"`` or ``"ZCA-cor"``.
    return_numpy
        ``transform`` returns an ndarray instead of a DataFrame.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=list("abc"))
    >>> out = Spherize().fit(X).transform(X)
    >>> np.allclose(np.cov(out.to_numpy(), rowvar=False), np.eye(3), atol=1e-4)
    True
    """

    def __init__(
        self,
        epsilon: float = 1e-6,
        center: bool = True,
        method: str = "ZCA",
        return_numpy: bool = False,
    ) -> None:
        if method not in _SPHERIZE_METHODS:
            msg = f"Error {method} not supported. Select one of {_SPHERIZE_METHODS}"
            raise ValueError(msg)
        self.method = method
        if method in ("PCA-cor", "ZCA-cor") and not center:
            msg = "PCA-cor and ZCA-cor require center=True"
            raise ValueError(msg)
        self.center = center
        self.epsilon = epsilon
        self.return_numpy = return_numpy
        self._engine = self._new_engine()

    def _new_engine(self) -> _Spherize:
        """The cytoplan normalizer for the current parameters."""
        return _Spherize(method=self.method, center=self.center, epsilon=self.epsilon)  # type: ignore[arg-type]

    def fit(self, X: pd.DataFrame, y: Any = None) -> Spherize:
        """Fit the whitening matrix ``W`` on ``X`` (no missing values allowed)."""
        if X.isna().to_numpy().any() or np.isinf(X.to_numpy(dtype=float)).any():
            msg = "SVD did not converge"
            raise np.linalg.LinAlgError(msg)
        self._engine = self._new_engine()  # set_params may have changed them
        try:
            _fit(self._engine, X)
        except ValueError as exc:
            if isinstance(exc.__cause__, StatisticsError) and "constant" in str(exc).lower():
                msg = "Divide by zero error, make sure low variance columns are removed"
                raise ValueError(msg) from exc
            raise
        stats = self._engine.stats_
        self.W = stats.select(self._engine.output_names_).to_numpy()
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """Whiten ``X`` with the fitted statistics."""
        values, columns = _transform(self._engine, X)
        self.columns = pd.Index(columns)
        if self.return_numpy:
            return values
        return pd.DataFrame(values, columns=columns, index=X.index)

    def fit_transform(self, X: pd.DataFrame, y: Any = None) -> pd.DataFrame | np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)


class RobustMAD(_Params):
    """``(x - median) / (MAD × 1.4826 + epsilon)``, as pycytominer's ``RobustMAD``.

    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 10.0]})
    >>> RobustMAD().fit(X).transform(X)["a"].round(4).tolist()
    [-1.0117, -0.3372, 0.3372, 5.0587]
    """

    def __init__(self, epsilon: float = 1e-18) -> None:
        self.epsilon = epsilon
        self._engine = MADRobustize(epsilon=epsilon)

    def fit(self, X: pd.DataFrame, y: Any = None) -> RobustMAD:
        """Fit per-column ``median`` and ``mad`` (scaled) on ``X``."""
        self._engine = MADRobustize(epsilon=self.epsilon)
        _fit(self._engine, X)
        stats = self._engine.stats_
        self.median = pd.Series(stats["median"].to_numpy(), index=X.columns)
        self.mad = pd.Series(stats["mad"].to_numpy(), index=X.columns)
        return self

    def transform(self, X: pd.DataFrame, copy: Any = None) -> pd.DataFrame:
        """Apply the fitted statistics to ``X``."""
        values, _ = _transform(self._engine, X)
        return pd.DataFrame(values, columns=X.columns, index=X.index)

    def fit_transform(self, X: pd.DataFrame, y: Any = None) -> pd.DataFrame:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)


class InverseNormalTransform(_Params):
    """Rank-based inverse normal transform (sklearn ``QuantileTransformer`` semantics).

    Unlike pycytominer, cytoplan never subsamples the fitting rows, so results are
    deterministic beyond 10,000 rows.

    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    >>> InverseNormalTransform().fit(X).transform(X)[:, 0].round(3).tolist()
    [-5.199, 0.0, 5.199]
    """

    def __init__(self, n_quantiles: int = 1000, random_state: int | None = None) -> None:
        self.n_quantiles = n_quantiles
        self.random_state = random_state
        self._engine = InverseNormal(n_quantiles=n_quantiles)

    def fit(self, X: pd.DataFrame, y: Any = None) -> InverseNormalTransform:
        """Fit the quantiles on ``X``."""
        self.n_quantiles_ = min(self.n_quantiles, X.shape[0])
        self._engine = InverseNormal(n_quantiles=self.n_quantiles)
        _fit(self._engine, X)
        self.transformer_ = self._engine
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Map ``X`` to standard normal scores (an ndarray, as pycytominer)."""
        values, _ = _transform(self._engine, X)
        return values

    def fit_transform(self, X: pd.DataFrame, y: Any = None) -> np.ndarray:
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)
