"""The per-feature statistics feature selection needs, each from one query.

* :func:`column_summaries` — rows, missing and infinite counts, min and max of
  every feature in **one** ``select``, and (optionally) the population variance
  from :func:`column_variances`;
* :func:`column_variances` — the population variance of every feature from the
  deterministic streamed moments of :func:`cytoplan.stats.moments.grouped_moments`
  (fixed row chunks merged in row order: the same bits whatever the thread count,
  which Polars' own ``var`` does not give);
* :func:`frequency_counts` — the two largest value counts and the number of
  distinct values per feature (holistic: run per column block, bounded by the
  memory limit);
* :func:`group_spread` — the mean over groups of the within-group population
  standard deviation (deterministic per-group moments, then a mean over the
  groups in sorted group order).

Missing means null or NaN, as pandas' ``isna``; infinite values are values.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame({"a": [1.0, 2.0, None, float("nan")], "b": [1, 1, 1, 2]})
>>> column_summaries(lf, ["a", "b"]).select("feature", "n_missing", "min", "var").rows()
[('a', 2, 1.0, 0.25), ('b', 0, 1.0, 0.1875)]
>>> frequency_counts(lf, ["b"]).rows()
[('b', 3, 1, 2)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import polars as pl

from cytoplan.stats.blocks import blockwise
from cytoplan.stats.moments import grouped_moments, moments_variance

__all__ = [
    "GROUP_COLUMN",
    "clean",
    "column_summaries",
    "column_variances",
    "frequency_counts",
    "group_spread",
]

Engine: TypeAlias = Literal["streaming", "in-memory"]

#: name of the temporary group-label column used by :func:`group_spread`
GROUP_COLUMN = "__cytoplan_group__"


def clean(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column as Float64 with NaN turned into null (pandas' notion of missing)."""
    expr = pl.col(name).cast(pl.Float64)
    return expr.fill_nan(None) if dtype.is_float() else expr


def column_summaries(
    lf: pl.LazyFrame,
    features: Sequence[str],
    *,
    engine: Engine = "streaming",
    variance: bool = True,
    memory_limit: int | str | None = None,
) -> pl.DataFrame:
    """One row per feature: n_rows, n_missing, n_infinite, min, max and var (ddof 0).

    ``min``/``max``/``var`` skip missing values; ``var`` is null when a feature has
    no value and NaN when it holds an infinite one. Counts and extremes come from one
    ``select`` (``engine="in-memory"`` is faster for small tables: the streaming
    engine pays a per-expression overhead); ``var`` from :func:`column_variances`
    (a second pass, skipped with ``variance=False``: then there is no ``var`` column).
    """
    schema = lf.collect_schema()
    exprs: list[pl.Expr] = [pl.len().alias("__n_rows")]
    for i, name in enumerate(features):
        value = clean(name, schema[name])
        exprs += [
            value.null_count().alias(f"m{i}"),
            pl.col(name).cast(pl.Float64).is_infinite().sum().alias(f"i{i}"),
            value.min().alias(f"lo{i}"),
            value.max().alias(f"hi{i}"),
        ]
    row = lf.select(exprs).collect(engine=engine).row(0, named=True)
    summaries = pl.DataFrame(
        {
            "feature": list(features),
            "n_rows": [row["__n_rows"]] * len(features),
            "n_missing": [row[f"m{i}"] for i in range(len(features))],
            "n_infinite": [row[f"i{i}"] for i in range(len(features))],
            "min": [row[f"lo{i}"] for i in range(len(features))],
            "max": [row[f"hi{i}"] for i in range(len(features))],
        },
        schema=_SUMMARY_SCHEMA,
    )
    if not variance:
        return summaries
    variances = column_variances(lf, features, memory_limit=memory_limit)
    return summaries.with_columns(
        pl.when(pl.col("n_infinite") > 0)
        .then(pl.lit(float("nan")))
        .otherwise(variances["var"])
        .alias("var")
    )


_SUMMARY_SCHEMA = {
    "feature": pl.String,
    "n_rows": pl.Int64,
    "n_missing": pl.Int64,
    "n_infinite": pl.Int64,
    "min": pl.Float64,
    "max": pl.Float64,
}


def column_variances(
    lf: pl.LazyFrame, features: Sequence[str], *, memory_limit: int | str | None = None
) -> pl.DataFrame:
    """One row per feature: the population variance (ddof 0), missing values skipped.

    From :func:`~cytoplan.stats.moments.grouped_moments`: rows stream in fixed chunks
    whose moments are merged in row order, so the bits do not depend on the thread
    count or the engine; columns are read in blocks sized from ``memory_limit``.
    ``var`` is null for a feature without a value (and for one that holds an
    infinite value: :func:`column_summaries` reports that as NaN).

    >>> import polars as pl
    >>> column_variances(pl.LazyFrame({"x": [1.0, None, 3.0]}), ["x"]).rows()
    [('x', 1.0)]
    """
    moments = grouped_moments(lf, list(features), memory_limit=memory_limit)
    return pl.DataFrame(
        {"feature": list(features), "var": moments_variance(moments, ddof=0)},
        schema={"feature": pl.String, "var": pl.Float64},
    )


def frequency_counts(
    lf: pl.LazyFrame,
    features: Sequence[str],
    *,
    memory_limit: int | str | None = None,
    n_rows: int | None = None,
) -> pl.DataFrame:
    """One row per feature: the largest and second-largest value counts, distinct values.

    Missing values are not values (pandas ``value_counts``/``nunique``); ``0.0`` and
    ``-0.0`` are the same value. ``second`` is 0 when there are fewer than two values.
    Value counts are holistic: columns are read in blocks sized from ``memory_limit``.
    """
    schema = lf.collect_schema()

    def compute(block: pl.LazyFrame, names: list[str]) -> pl.DataFrame:
        frame = block.select(clean(name, schema[name]) for name in names).collect()
        row: dict[str, list[int]] = {}
        for series in frame.iter_columns():
            values = series.drop_nulls()
            first, second = [*sorted(values.unique_counts().top_k(2).to_list())[::-1], 0, 0][:2]
            row[series.name] = [first, second, values.n_unique()]
        return pl.DataFrame({name: [row[name]] for name in names})

    wide = blockwise(lf, features, compute, memory_limit=memory_limit, n_rows=n_rows)
    triples = [wide[name][0].to_list() for name in features] if features else []
    return pl.DataFrame(
        {
            "feature": list(features),
            "first": [t[0] for t in triples],
            "second": [t[1] for t in triples],
            "n_unique": [t[2] for t in triples],
        },
        schema={"feature": pl.String, "first": pl.Int64, "second": pl.Int64, "n_unique": pl.Int64},
    )


def group_spread(
    lf: pl.LazyFrame,
    features: Sequence[str],
    group: pl.Expr,
    *,
    memory_limit: int | str | None = None,
) -> pl.DataFrame:
    """One row per feature: mean over groups of the population SD within each group.

    Rows whose group label is missing are left out (pandas ``groupby``); missing
    values are skipped; a group without values does not count towards the mean.
    The per-group moments are :func:`~cytoplan.stats.moments.grouped_moments`' and
    the mean runs over the groups in sorted order, so the bits do not depend on the
    thread count.
    """
    import numpy as np

    names = list(features)
    if not names:
        return pl.DataFrame(schema={"feature": pl.String, "mean_sd": pl.Float64})
    labelled = lf.select(group.alias(GROUP_COLUMN), *names).filter(
        pl.col(GROUP_COLUMN).is_not_null()
    )
    moments = grouped_moments(labelled, names, by=[GROUP_COLUMN], memory_limit=memory_limit)
    # group-major (every feature of the first group, then the next): one row per group
    sd = (
        moments_variance(moments, ddof=0)
        .sqrt()
        .fill_null(float("nan"))
        .to_numpy()
        .reshape(-1, len(names))
    )
    present = ~np.isnan(sd)
    counts = present.sum(axis=0)
    totals = np.where(present, sd, 0.0).sum(axis=0)
    means = [
        float(total / count) if count else None
        for total, count in zip(totals.tolist(), counts.tolist(), strict=True)
    ]
    return pl.DataFrame(
        {"feature": names, "mean_sd": means},
        schema={"feature": pl.String, "mean_sd": pl.Float64},
    )
