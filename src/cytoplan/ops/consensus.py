"""Consensus profiles: collapse replicate wells into one profile per perturbation.

pycytominer's ``consensus`` (spec §2.4):

* ``method="median"`` / ``"mean"``: :func:`cytoplan.ops.aggregate.aggregate` with
  ``strata=replicate_columns`` (no object count);
* ``method="modz"``: a weighted sum of the replicates, each weighted by how well it
  correlates with the others (Spearman by default) — see :mod:`cytoplan.ops._modz`
  for the exact rules (weights rounded to ``precision`` decimals, a single replicate
  is its own signature with missing values as 0, a missing value contributes 0).

Output: the replicate columns (sorted, nulls last), then the features as float64;
other metadata are dropped. Consensus works on well-level profiles: MODZ collects the
replicate columns and features (a small table) and runs NumPy on each group's
k × d block, vectorised over groups of the same size.

Examples
--------
>>> import polars as pl
>>> wells = pl.LazyFrame(
...     {
...         "Metadata_broad_sample": ["drug", "drug", "drug", "dmso"],
...         "Cells_A": [1.0, 2.0, 3.0, 0.5],
...         "Cells_B": [2.0, 4.0, 5.0, 0.1],
...         "Cells_C": [3.0, 5.0, 4.0, 0.7],
...     }
... )
>>> consensus(wells, replicate_columns="Metadata_broad_sample", method="modz").collect()
shape: (2, 4)
┌───────────────────────┬─────────┬─────────┬─────────┐
│ Metadata_broad_sample ┆ Cells_A ┆ Cells_B ┆ Cells_C │
│ ---                   ┆ ---     ┆ ---     ┆ ---     │
│ str                   ┆ f64     ┆ f64     ┆ f64     │
╞═══════════════════════╪═════════╪═════════╪═════════╡
│ dmso                  ┆ 0.5     ┆ 0.1     ┆ 0.7     │
│ drug                  ┆ 1.875   ┆ 3.5     ┆ 4.0     │
└───────────────────────┴─────────┴─────────┴─────────┘
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, cast

import polars as pl

from cytoplan.ops._params import check_choice, check_integer, check_number, reject
from cytoplan.ops.aggregate import FeatureSpec, aggregate, resolve_features
from cytoplan.schema import refuse_reserved, repeated_names, require_columns
from cytoplan.stats.holistic import missing_as_null

if TYPE_CHECKING:
    from cytoplan._typing import ConsensusMethod, CorrelationMethod
    from cytoplan.ops._modz import KendallRounding

__all__ = ["consensus", "modz"]

_METHODS = ("median", "mean", "modz")
_MODZ_METHODS = ("spearman", "pearson", "kendall")


def _keys(replicate_columns: str | Sequence[str]) -> list[str]:
    if not isinstance(replicate_columns, str | Sequence) or not all(
        isinstance(name, str) for name in replicate_columns
    ):
        reject("replicate_columns", replicate_columns, "a column name or a list of column names")
    keys = [replicate_columns] if isinstance(replicate_columns, str) else list(replicate_columns)
    if not keys:
        reject(
            "replicate_columns",
            keys,
            "a non-empty list of column names",
            hint="name the columns that identify replicates",
        )
    if repeated := repeated_names(keys):
        reject(
            "replicate_columns",
            keys,
            "a list of distinct column names",
            hint=f"{repeated} repeated",
        )
    return keys


def modz(
    lf: pl.LazyFrame,
    *,
    replicate_columns: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
    features: FeatureSpec = None,
    method: CorrelationMethod = "spearman",
    min_weight: float = 0.01,
    precision: int = 4,
    kendall_rounding: KendallRounding = "scipy",
) -> pl.LazyFrame:
    """MODZ consensus signature per replicate group (pycytominer ``modz``).

    Parameters
    ----------
    lf
        Well-level profiles (collected: keep it to replicate columns and features).
    replicate_columns
        Columns whose combination identifies a group of replicates.
    features
        None (default selector), a selector, a list of names or ``"infer"``.
    method
        Correlation between replicates across features: ``"spearman"``, ``"pearson"``
        or ``"kendall"`` (tau-b; pair by pair, slower).
    min_weight
        Raw weights below this are raised to it.
    precision
        Weights are rounded to this many decimals (as pycytominer does).
    kendall_rounding
        With ``method="kendall"``: ``"scipy"`` rounds tau-b as ``scipy.stats.kendalltau``
        (and pandas 2) do, ``"single"`` as pandas 3 does. The values differ in the last
        bit at most, which can tip a weight on a rounding boundary.

    Returns
    -------
    pl.LazyFrame
        Replicate columns (sorted, nulls last) then features (float64).

    Examples
    --------
    >>> import polars as pl
    >>> wells = pl.LazyFrame({"Metadata_g": ["a", "a", "a"], "Cells_x": [1.0, 2.0, 3.0],
    ...                       "Cells_y": [1.0, 2.0, 3.0]})
    >>> modz(wells, replicate_columns="Metadata_g").collect()["Cells_x"].item()
    1.9998
    """
    import numpy as np

    from cytoplan.ops._modz import modz_signatures

    how = check_choice(
        "method", method, _MODZ_METHODS, fold_case=True, where="modz (correlation method)"
    )
    check_integer("precision", precision, low=0, where="modz", hint="decimals of the weights")
    check_choice("kendall_rounding", kendall_rounding, ("scipy", "single"), where="modz")
    check_number("min_weight", min_weight, where="modz")
    keys = _keys(replicate_columns)
    schema = lf.collect_schema()
    refuse_reserved(schema)
    require_columns(schema, keys)
    names = resolve_features(schema, features, exclude=keys)

    # NaN and null are one missing key, as in pandas' group-by (and aggregate)
    key_columns = [missing_as_null(key, schema[key], as_float=False).alias(key) for key in keys]
    table = (
        lf.select(
            *key_columns, *(missing_as_null(name, schema[name]).alias(name) for name in names)
        )
        .sort(keys, nulls_last=True, maintain_order=True)
        .collect()
    )
    groups = table.group_by(keys, maintain_order=True).len(name="__n")
    sizes = groups["__n"].to_numpy().astype(np.int64)
    values = table.select(names).to_numpy(order="c").astype(np.float64, copy=False)
    if not names or table.height == 0:
        signatures = np.empty((groups.height, len(names)))
    else:
        signatures = modz_signatures(
            values,
            sizes,
            method=cast("CorrelationMethod", how),
            min_weight=float(min_weight),
            precision=precision,
            kendall_rounding=kendall_rounding,
        )
    result = groups.drop("__n").hstack(
        pl.DataFrame(signatures, schema=dict.fromkeys(names, pl.Float64), orient="row")
    )
    return result.lazy()


def consensus(
    lf: pl.LazyFrame,
    *,
    replicate_columns: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
    method: ConsensusMethod = "median",
    features: FeatureSpec = None,
    modz_method: CorrelationMethod = "spearman",
    min_weight: float = 0.01,
    precision: int = 4,
    memory_limit: str | int | None = None,
) -> pl.LazyFrame:
    """One consensus profile per replicate group: median, mean or MODZ.

    Parameters
    ----------
    lf
        Well-level profiles.
    replicate_columns
        Columns identifying replicates (e.g. ``["Metadata_Plate", "Metadata_Well"]`` or
        ``"Metadata_broad_sample"``).
    method
        ``"median"`` (exact), ``"mean"`` or ``"modz"``.
    features
        None (default selector), a selector, a list of names or ``"infer"``.
    modz_method, min_weight, precision
        MODZ options (pycytominer's ``modz_args``): correlation method, the smallest raw
        weight, and the decimals weights are rounded to.
    memory_limit
        Budget for the median's column blocks.

    Returns
    -------
    pl.LazyFrame
        Replicate columns (sorted, nulls last), then features as float64.

    Examples
    --------
    >>> import polars as pl
    >>> wells = pl.LazyFrame({"Metadata_g": ["a", "b", "a"], "Nuclei_x": [1.0, 5.0, 4.0]})
    >>> consensus(wells, replicate_columns=["Metadata_g"], method="mean").collect().rows()
    [('a', 2.5), ('b', 5.0)]
    """
    how = check_choice("method", method, _METHODS, fold_case=True, where="consensus")
    if how == "modz":
        # named as the caller wrote them (modz itself calls the first one ``method``)
        check_choice("modz_method", modz_method, _MODZ_METHODS, fold_case=True, where="consensus")
        return modz(
            lf,
            replicate_columns=replicate_columns,
            features=features,
            method=modz_method,
            min_weight=min_weight,
            precision=precision,
        )
    return aggregate(
        lf,
        strata=_keys(replicate_columns),
        features=features,
        method=cast("Literal['median', 'mean']", how),
        memory_limit=memory_limit,
    )
