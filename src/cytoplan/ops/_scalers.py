"""Centre-and-scale normalizers: standardize, robustize and mad_robustize.

Each fits a centre and a scale per feature (and per group) and applies
``(x - center) / scale`` as plain Polars expressions: literals for one group, a
join of the small statistics table on a group index for several. Numerics are
pycytominer 1.7.1's (spec §2.2.1–2.2.3):

* :class:`Standardize` — scikit-learn's ``StandardScaler``: mean and population
  standard deviation (ddof 0); near-constant features (``var <= n·eps·var +
  (n·mean·eps)²``) get scale 1.
* :class:`Robustize` — scikit-learn's ``RobustScaler``: median and
  ``q75 − q25`` (NumPy linear percentiles); an IQR below ``10·eps`` becomes 1.
* :class:`MADRobustize` — pycytominer's ``RobustMAD``: median and
  ``MAD × 1.4826 + epsilon``.

NaN and null are missing: skipped in fit, kept in the output.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame({"Metadata_Plate": ["P1"] * 4, "Cells_x": [1.0, 2.0, 3.0, 10.0]})
>>> MADRobustize().fit(lf).transform(lf).collect()["Cells_x"].round(4).to_list()
[-1.0117, -0.3372, 0.3372, 5.0587]
>>> MADRobustize().fit(lf).stats_.select("feature", "median", "mad").row(0)
('Cells_x', 2.5, 1.4826)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import polars as pl

from cytoplan.exceptions import StatisticsError
from cytoplan.ops._normalizer import GROUP_INDEX, Normalizer
from cytoplan.ops._params import check_number
from cytoplan.stats.holistic import MAD_SCALE, grouped_statistics
from cytoplan.stats.moments import grouped_moments

if TYPE_CHECKING:
    from cytoplan.ops.aggregate import FeatureSpec
    from cytoplan.stats.holistic import Statistic

__all__ = ["MADRobustize", "Robustize", "Standardize"]

_EPS = 2.220446049250313e-16  # numpy.finfo(numpy.float64).eps


class _CenterScale(Normalizer):
    """A normalizer that applies ``(x - center) / scale`` per feature and group."""

    def _apply(self, lf: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
        features = self.feature_names_in_
        center = self.stats_["center"]
        scale = self.stats_["scale"]
        if self.groups_.height == 1:
            # one group: the statistics are literals. With keys, each batch's keys are
            # checked against the fitted group (rows of other groups are refused) and
            # every feature divides by a column derived from that check, so that no
            # projection can leave the check out
            frame, ones = lf, None
            if self.by_:
                frame = self._with_group_index(lf).with_columns(
                    (pl.col(GROUP_INDEX) + 1).cast(pl.Float64).alias(_ONES)
                )
                ones = pl.col(_ONES)
            return frame.with_columns(
                (
                    (pl.col(name).cast(pl.Float64) - pl.lit(center[i], pl.Float64))
                    / _broadcast(name, scale[i], ones)
                ).alias(name)
                for i, name in enumerate(features)
            ).select(schema.names())
        # several groups: each row's group index comes from looking up its keys in the
        # small key table (streams); centres and scales are gathered from per-feature
        # literals by that index (a materialized column: exact division; measured faster
        # and leaner than joining a wide table of 2·d statistics columns)
        d = len(features)
        index = pl.col(GROUP_INDEX)
        joined = self._with_group_index(lf)
        return joined.with_columns(
            (
                (
                    pl.col(name).cast(pl.Float64)
                    - pl.lit(center.gather_every(d, offset=i)).gather(index)
                )
                / pl.lit(scale.gather_every(d, offset=i)).gather(index)
            ).alias(name)
            for i, name in enumerate(features)
        ).select(schema.names())


_ONES = "__cytoplan_ones"
_FEATURE = "__cytoplan_feature"


def _broadcast(name: str, value: float | None, ones: pl.Expr | None = None) -> pl.Expr:
    """``value`` as a full column beside ``name``, so that dividing by it is exact.

    Polars divides by a scalar (a literal, or any broadcast of one) by multiplying
    with its reciprocal, which differs from true division in the last bit for about
    a third of the values; dividing by a materialized column is IEEE division, as
    NumPy and pandas do. ``is_not_null`` gives that column cheaply (1.0 · value is
    exact; rows where ``name`` is null are null either way). ``ones``, a column of
    1.0, serves instead when given; it must be computed from the data, not be a
    literal: Polars keeps a broadcast literal (``pl.lit``, ``pl.repeat``) as a scalar,
    and ``ones * value`` would then be a scalar too.
    """
    if ones is None:
        ones = pl.col(name).is_not_null().cast(pl.Float64)
    return ones * pl.lit(value, pl.Float64)


def _tidy(
    wide: dict[str, pl.DataFrame], keys: list[str], features: list[str], groups: pl.DataFrame
) -> pl.DataFrame:
    """Wide per-statistic tables (keys + one column per feature) → tidy rows."""
    parts: list[pl.DataFrame] = []
    for statistic, table in wide.items():
        # a feature may itself be named "feature": unpivot under another name first
        long = table.unpivot(
            index=keys, on=features, variable_name=_FEATURE, value_name=statistic
        ).rename({_FEATURE: "feature"})
        parts.append(long if not parts else long.select(statistic))
    tidy = pl.concat(parts, how="horizontal")
    if keys:
        tidy = tidy.join(groups, on=keys, how="left", nulls_equal=True, maintain_order="left")
        tidy = tidy.sort(keys, nulls_last=True, maintain_order=True)
    else:
        tidy = tidy.with_columns(n_samples=pl.lit(groups["n_samples"].item(), pl.Int64))
    stats = [name for name in tidy.columns if name not in (*keys, "feature", "n_samples")]
    return tidy.select(*keys, "feature", "n_samples", *stats)


class Standardize(_CenterScale):
    """z-scores: ``(x - mean) / std`` with the population std (ddof 0), as scikit-learn.

    Parameters
    ----------
    features
        None (numeric ``Cells_/Cytoplasm_/Nuclei_`` columns), a selector, a list of
        names or ``"infer"`` (pycytominer's rule).
    memory_limit
        Bounds the column blocks of the streaming aggregation (means and variances).

    Notes
    -----
    ``stats_`` columns: ``count`` (non-missing values), ``mean``, ``var`` (ddof 0),
    ``center`` (= mean) and ``scale`` (the std, or 1 for near-constant features).

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"Cells_x": [1.0, 2.0, 3.0], "Cells_c": [5.0, 5.0, 5.0]})
    >>> Standardize().fit(lf).transform(lf).collect().rows()
    [(-1.224744871391589, 0.0), (0.0, 0.0), (1.224744871391589, 0.0)]
    """

    name: ClassVar[str] = "standardize"
    _param_names: ClassVar[tuple[str, ...]] = ()
    _stats_columns: ClassVar[tuple[str, ...]] = (
        "feature",
        "n_samples",
        "count",
        "mean",
        "var",
        "center",
        "scale",
    )

    def _fit_stats(
        self,
        lf: pl.LazyFrame,
        schema: pl.Schema,
        features: list[str],
        keys: list[str],
        predicate: pl.Expr | None,
        groups: pl.DataFrame,
    ) -> pl.DataFrame:
        moments = grouped_moments(
            lf, features, by=keys, predicate=predicate, memory_limit=self.memory_limit
        )
        # an infinite value makes the mean infinite or NaN; finite values so large that
        # their spread overflows (|x| > 1e154) give an infinite variance, which
        # scikit-learn, and so pycytominer, treats as a constant feature (scale 1)
        finite = pl.col("mean").is_finite().fill_null(value=False)
        infinite = moments.filter((pl.col("count") > 0) & ~finite)
        if infinite.height:
            names = infinite["feature"].unique(maintain_order=True).to_list()
            shown = ", ".join(repr(name) for name in names[:10])
            msg = (
                f"standardize needs finite values, but {len(names)} feature(s) hold infinite "
                f"values in the reference rows: {shown}. Replace them (e.g. with null) first"
            )
            raise StatisticsError(msg)
        n = pl.col("count").cast(pl.Float64)
        var = pl.when(pl.col("count") > 0).then(pl.col("m2") / n)
        stats = moments.with_columns(var=var).with_columns(
            center=pl.col("mean"),
            scale=pl.when(
                # scikit-learn's _is_constant_feature
                pl.col("var") <= n * _EPS * pl.col("var") + (n * pl.col("mean") * _EPS) ** 2
            )
            .then(1.0)
            .otherwise(pl.col("var").sqrt()),
        )
        if keys:
            stats = stats.join(groups, on=keys, how="left", nulls_equal=True, maintain_order="left")
        else:
            stats = stats.with_columns(n_samples=pl.lit(groups["n_samples"].item(), pl.Int64))
        return stats.select(
            *keys, "feature", "n_samples", "count", "mean", "var", "center", "scale"
        )


class Robustize(_CenterScale):
    """``(x - median) / (q75 - q25)``, as scikit-learn's ``RobustScaler`` (no 1.349 factor).

    Quantiles use NumPy's linear interpolation, bit for bit; an IQR below ``10·eps``
    becomes 1 (so constant features map to 0). Medians and quantiles are computed in
    column blocks sized from ``memory_limit``.

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"Cells_x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    >>> Robustize().fit(lf).transform(lf).collect()["Cells_x"].to_list()
    [-1.0, -0.5, 0.0, 0.5, 1.0]
    """

    name: ClassVar[str] = "robustize"
    _param_names: ClassVar[tuple[str, ...]] = ()
    _stats_columns: ClassVar[tuple[str, ...]] = (
        "feature",
        "n_samples",
        "median",
        "q25",
        "q75",
        "center",
        "scale",
    )

    def _fit_stats(
        self,
        lf: pl.LazyFrame,
        schema: pl.Schema,
        features: list[str],
        keys: list[str],
        predicate: pl.Expr | None,
        groups: pl.DataFrame,
    ) -> pl.DataFrame:
        wanted: tuple[Statistic, ...] = ("median", 0.25, 0.75)
        result = grouped_statistics(
            lf,
            features,
            statistics=wanted,
            by=keys,
            predicate=predicate,
            memory_limit=self.memory_limit,
        )
        tidy = _tidy(
            {"median": result["median"], "q25": result[0.25], "q75": result[0.75]},
            keys,
            features,
            groups,
        )
        iqr = pl.col("q75") - pl.col("q25")
        return tidy.with_columns(
            center=pl.col("median"),
            scale=pl.when(iqr < 10 * _EPS).then(1.0).otherwise(iqr),
        )


class MADRobustize(_CenterScale):
    """``(x - median) / (MAD × 1.4826 + epsilon)``, as pycytominer's ``RobustMAD``.

    The MAD is ``median(|x - median(x)|)``, NaN-omitting, divided by ``1/1.4826``
    exactly as ``scipy.stats.median_abs_deviation(scale=1/1.4826)`` does. Medians are
    computed in column blocks sized from ``memory_limit`` (one pass: each block gives
    its medians and MADs).

    Parameters
    ----------
    epsilon
        Added to the scaled MAD (pycytominer's ``mad_robustize_epsilon``, 1e-18).
    features, memory_limit
        As in :class:`Standardize`; ``memory_limit`` bounds the column blocks.

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"Cells_x": [1.0, 2.0, 3.0, 4.0, 100.0]})
    >>> MADRobustize(epsilon=0.0).fit(lf).transform(lf).collect()["Cells_x"].round(3).to_list()
    [-1.349, -0.674, 0.0, 0.674, 65.426]
    """

    name: ClassVar[str] = "mad_robustize"
    _param_names: ClassVar[tuple[str, ...]] = ("epsilon",)
    _stats_columns: ClassVar[tuple[str, ...]] = (
        "feature",
        "n_samples",
        "median",
        "mad",
        "center",
        "scale",
    )

    def __init__(
        self,
        *,
        epsilon: float = 1e-18,
        features: FeatureSpec = None,
        memory_limit: str | int | None = None,
    ) -> None:
        super().__init__(features=features, memory_limit=memory_limit)
        self.epsilon = epsilon

    def _check_params(self) -> None:
        check_number("epsilon", self.epsilon, low=0.0, where="mad_robustize", hint="default 1e-18")

    def _fit_stats(
        self,
        lf: pl.LazyFrame,
        schema: pl.Schema,
        features: list[str],
        keys: list[str],
        predicate: pl.Expr | None,
        groups: pl.DataFrame,
    ) -> pl.DataFrame:
        import numpy as np

        result = grouped_statistics(
            lf,
            features,
            statistics=("median", "mad"),
            by=keys,
            predicate=predicate,
            memory_limit=self.memory_limit,
        )
        tidy = _tidy({"median": result["median"], "mad": result["mad"]}, keys, features, groups)
        # scipy's median_abs_deviation(scale=1/1.4826) divides by 1/1.4826; done in NumPy
        # (Polars would multiply by the reciprocal, one bit off for some values)
        raw = tidy["mad"].to_numpy().astype(np.float64)
        mad = pl.Series("mad", raw / (1 / MAD_SCALE), dtype=pl.Float64)
        return tidy.with_columns(mad).with_columns(
            center=pl.col("median"), scale=pl.col("mad") + float(self.epsilon)
        )
