"""Normalize profiles: standardize, robustize, mad_robustize, spherize, inverse_normal.

:func:`normalize` is pycytominer's ``normalize`` (spec §2.2) as a query plan: fit the
statistics once — on a reference subset of the rows (``reference=``, pycytominer's
``samples``), per group (``by=``, e.g. every plate with its own statistics) — and
return a LazyFrame that applies them to every row. Every input column is kept, in
input order, with the features replaced in place (PCA sphering renames them
``PC1..PCd``). The classes (:class:`Standardize`, :class:`Robustize`,
:class:`MADRobustize`, :class:`Spherize`, :class:`InverseNormal`) expose the same
steps separately (``fit`` / ``transform`` / ``stats_`` / ``save`` / ``load``), so
statistics fitted on controls once can be applied to every plate.

Memory does not grow with the number of cells: means and variances come from one
streaming aggregation, medians and quantiles from column blocks sized from
``memory_limit``, sphering from a d × d factor accumulated over row batches.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame(
...     {
...         "Metadata_Plate": ["P1", "P1", "P1", "P2", "P2", "P2"],
...         "Metadata_control_type": ["negcon", "negcon", "trt", "negcon", "negcon", "trt"],
...         "Cells_x": [1.0, 3.0, 5.0, 10.0, 20.0, 30.0],
...     }
... )
>>> out = normalize(lf, reference="Metadata_control_type == 'negcon'", by="Metadata_Plate")
>>> out.collect()["Cells_x"].to_list()
[-1.0, 1.0, 3.0, -1.0, 1.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cytoplan.ops._normalizer import Normalizer
from cytoplan.ops._params import check_choice, reject
from cytoplan.ops._scalers import MADRobustize, Robustize, Standardize
from cytoplan.ops.inverse_normal import InverseNormal
from cytoplan.ops.spherize import Spherize

if TYPE_CHECKING:
    import polars as pl

    from cytoplan._typing import NormalizeMethod, SpherizeMethod
    from cytoplan.ops.aggregate import FeatureSpec

__all__ = [
    "METHODS",
    "InverseNormal",
    "MADRobustize",
    "Normalizer",
    "Robustize",
    "Spherize",
    "Standardize",
    "make_normalizer",
    "normalize",
]

#: The method names accepted by :func:`normalize`, and their classes.
METHODS: dict[str, type[Normalizer]] = {
    "standardize": Standardize,
    "robustize": Robustize,
    "mad_robustize": MADRobustize,
    "spherize": Spherize,
    "inverse_normal": InverseNormal,
}


def make_normalizer(
    method: NormalizeMethod | str = "standardize",
    *,
    features: FeatureSpec = None,
    mad_robustize_epsilon: float = 1e-18,
    spherize_method: SpherizeMethod = "ZCA-cor",
    spherize_center: bool = True,
    spherize_epsilon: float = 1e-6,
    inverse_normal_n_quantiles: int = 1000,
    memory_limit: str | int | None = None,
) -> Normalizer:
    """The (unfitted) normalizer for a method name and pycytominer-style options.

    Examples
    --------
    >>> make_normalizer("spherize", spherize_method="PCA")
    Spherize(method='PCA', center=True, epsilon=1e-06)
    """
    key = check_choice("method", method, tuple(METHODS), fold_case=True, where="normalize")
    if key == "mad_robustize":
        return MADRobustize(
            epsilon=mad_robustize_epsilon, features=features, memory_limit=memory_limit
        )
    if key == "spherize":
        return Spherize(
            method=spherize_method,
            center=spherize_center,
            epsilon=spherize_epsilon,
            features=features,
            memory_limit=memory_limit,
        )
    if key == "inverse_normal":
        return InverseNormal(
            n_quantiles=inverse_normal_n_quantiles, features=features, memory_limit=memory_limit
        )
    return METHODS[key](features=features, memory_limit=memory_limit)


def normalize(
    lf: pl.LazyFrame,
    *,
    method: NormalizeMethod | Normalizer = "standardize",
    features: FeatureSpec = None,
    reference: str | pl.Expr | None = None,
    by: str | Sequence[str] | None = None,
    mad_robustize_epsilon: float = 1e-18,
    spherize_method: SpherizeMethod = "ZCA-cor",
    spherize_center: bool = True,
    spherize_epsilon: float = 1e-6,
    inverse_normal_n_quantiles: int = 1000,
    memory_limit: str | int | None = None,
) -> pl.LazyFrame:
    """Fit a normalization on the reference rows (per group) and apply it to all rows.

    Parameters
    ----------
    lf
        Profiles: single cells or wells.
    method
        ``"standardize"`` (default), ``"robustize"``, ``"mad_robustize"``,
        ``"spherize"``, ``"inverse_normal"``, or a normalizer instance (e.g.
        ``Spherize(method="PCA")``, which then holds the options: giving
        ``features`` or a method option here too is an error).
    features
        None (numeric ``Cells_/Cytoplasm_/Nuclei_`` columns), a Polars selector, a list
        of names, or ``"infer"`` (pycytominer's ``infer_cp_features`` rule).
    reference
        The rows the statistics are fitted on: a Polars expression, a pandas-style
        query string (``"Metadata_control_type == 'negcon'"``), ``"all"`` or None.
    by
        Group key(s): every group (e.g. ``"Metadata_Plate"``) is normalized with the
        statistics of its own reference rows, in one call.
    mad_robustize_epsilon
        Added to the scaled MAD (``mad_robustize``).
    spherize_method, spherize_center, spherize_epsilon
        ``"PCA"``, ``"ZCA"``, ``"PCA-cor"`` or ``"ZCA-cor"``; centre the data; added to
        the singular values (``spherize``).
    inverse_normal_n_quantiles
        Quantiles of the empirical distribution (``inverse_normal``).
    memory_limit
        Memory budget for the holistic statistics (``"2GiB"``, bytes; default from
        :func:`cytoplan.config.settings`).

    Returns
    -------
    polars.LazyFrame
        All input columns in input order, features replaced (float64).

    Raises
    ------
    StatisticsError
        If the reference selects no row in some group, or a statistic is undefined
        (constant feature under ``-cor`` sphering, missing values under sphering).
    SchemaError
        If a feature is not numeric.
    ParameterError
        If the method or an option is unknown or out of range.

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"Metadata_Well": ["A01", "A02", "A03"], "Cells_x": [1.0, 2.0, 6.0]})
    >>> normalize(lf, method="robustize").collect()["Cells_x"].to_list()
    [-0.4, 0.0, 1.6]
    """
    options: dict[str, Any] = {
        "features": features,
        "mad_robustize_epsilon": mad_robustize_epsilon,
        "spherize_method": spherize_method,
        "spherize_center": spherize_center,
        "spherize_epsilon": spherize_epsilon,
        "inverse_normal_n_quantiles": inverse_normal_n_quantiles,
        "memory_limit": memory_limit,
    }
    if isinstance(method, Normalizer):
        given = _options_given(**options)
        if given:
            reject(
                "method",
                type(method).__name__,
                "a method name when options are given beside it",
                hint=f"pass {', '.join(given)} to the {type(method).__name__} instance instead",
            )
        normalizer = method
    else:
        normalizer = make_normalizer(method, **options)
    return normalizer.fit(lf, reference=reference, by=by).transform(lf)


def _options_given(**options: Any) -> list[str]:
    """The names of the options that differ from :func:`normalize`'s defaults."""
    import inspect

    defaults = inspect.signature(normalize).parameters
    given = []
    for name, value in options.items():
        default = defaults[name].default
        # a selector or expression is never a default (and cannot be compared with ==)
        if value is not default and (default is None or value != default):
            given.append(name)
    return given
