"""The per-feature statistics feature selection needs, each from one query.

* :func:`column_summaries` — rows, missing and infinite counts, min, max and
  population variance of every feature, in **one** streaming ``select``;
* :func:`frequency_counts` — the two largest value counts and the number of
  distinct values per feature (holistic: run per column block, bounded by the
  memory limit);
* :func:`group_spread` — the mean over groups of the within-group population
  standard deviation (one streaming ``group_by``, then a mean over the groups).

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

__all__ = ["GROUP_COLUMN", "clean", "column_summaries", "frequency_counts", "group_spread"]

Engine: TypeAlias = Literal["streaming", "in-memory"]

#: name of the temporary group-label column used by :func:`group_spread`
GROUP_COLUMN = "__cytoplan_group__"


def clean(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column as Float64 with NaN turned into null (pandas' notion of missing)."""
    expr = pl.col(name).cast(pl.Float64)
    return expr.fill_nan(None) if dtype.is_float() else expr


def column_summaries(
    lf: pl.LazyFrame, features: Sequence[str], *, engine: Engine = "streaming"
) -> pl.DataFrame:
    """One row per feature: n_rows, n_missing, n_infinite, min, max, var (ddof 0).

    ``min``/``max``/``var`` skip missing values; ``var`` is null when a feature has
    no value and NaN when it holds an infinite one. ``engine="in-memory"`` is faster
    for small tables (the streaming engine pays a per-expression overhead).
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
            value.var(ddof=0).alias(f"v{i}"),
        ]
    row = lf.select(exprs).collect(engine=engine).row(0, named=True)
    return pl.DataFrame(
        {
            "feature": list(features),
            "n_rows": [row["__n_rows"]] * len(features),
            "n_missing": [row[f"m{i}"] for i in range(len(features))],
            "n_infinite": [row[f"i{i}"] for i in range(len(features))],
            "min": [row[f"lo{i}"] for i in range(len(features))],
            "max": [row[f"hi{i}"] for i in range(len(features))],
            "var": [row[f"v{i}"] for i in range(len(features))],
        },
        schema={
            "feature": pl.String,
            "n_rows": pl.Int64,
            "n_missing": pl.Int64,
            "n_infinite": pl.Int64,
            "min": pl.Float64,
            "max": pl.Float64,
            "var": pl.Float64,
        },
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
    lf: pl.LazyFrame, features: Sequence[str], group: pl.Expr, *, engine: Engine = "streaming"
) -> pl.DataFrame:
    """One row per feature: mean over groups of the population SD within each group.

    Rows whose group label is missing are left out (pandas ``groupby``); missing
    values are skipped; a group without values does not count towards the mean.
    """
    schema = lf.collect_schema()
    per_group = (
        lf.select(group.alias(GROUP_COLUMN), *features)
        .filter(pl.col(GROUP_COLUMN).is_not_null())
        .group_by(GROUP_COLUMN)
        .agg(clean(name, schema[name]).std(ddof=0).alias(name) for name in features)
        .sort(GROUP_COLUMN)  # a fixed order of groups makes the mean deterministic
    )
    means = per_group.select(pl.col(name).fill_nan(None).mean() for name in features)
    row = means.collect(engine=engine).row(0) if features else ()
    return pl.DataFrame(
        {"feature": list(features), "mean_sd": list(row)},
        schema={"feature": pl.String, "mean_sd": pl.Float64},
    )
