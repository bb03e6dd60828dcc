"""Aggregate single cells into well (or any strata) profiles: median or mean per group.

This is pycytominer's ``aggregate`` (spec §2.1) as a query plan:

* output columns: the ``strata`` (in the order given), then ``Metadata_Object_Count``
  if asked for, then the features (float64, in feature order); every other column is
  dropped, and so are columns named ``ImageNumber`` or ``ObjectNumber``;
* one row per distinct strata combination, sorted by the strata, nulls last; a null
  stratum is a group of its own;
* NaN and null are missing values and are skipped; a group without any value gives
  null;
* ``method="median"`` is exact (the mean of the two middle values for an even count)
  and runs in column blocks sized from ``memory_limit``, so memory does not grow with
  the number of features (:mod:`cytoplan.stats.holistic`); ``method="mean"`` runs on
  the same blocks, summing each group in row order, so its bits do not depend on the
  thread count.

Examples
--------
>>> import polars as pl
>>> cells = pl.LazyFrame(
...     {
...         "Metadata_Plate": ["P1"] * 4,
...         "Metadata_Well": ["B02", "A01", "A01", "B02"],
...         "Metadata_ObjectNumber": [1, 1, 2, 2],
...         "Cells_Area": [10.0, 1.0, 2.0, 30.0],
...     }
... )
>>> aggregate(cells, object_count=True).collect()
shape: (2, 4)
┌────────────────┬───────────────┬───────────────────────┬────────────┐
│ Metadata_Plate ┆ Metadata_Well ┆ Metadata_Object_Count ┆ Cells_Area │
│ ---            ┆ ---           ┆ ---                   ┆ ---        │
│ str            ┆ str           ┆ i64                   ┆ f64        │
╞════════════════╪═══════════════╪═══════════════════════╪════════════╡
│ P1             ┆ A01           ┆ 2                     ┆ 1.5        │
│ P1             ┆ B02           ┆ 2                     ┆ 20.0       │
└────────────────┴───────────────┴───────────────────────┴────────────┘
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias, cast

import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, ParameterError, SchemaError, type_name
from cytoplan.ops._params import check_choice, reject
from cytoplan.schema import (
    feature_columns,
    infer_cp_features,
    refuse_reserved,
    repeated_names,
    require_columns,
    require_numeric,
)
from cytoplan.stats.holistic import grouped_statistics

if TYPE_CHECKING:
    from polars.selectors import Selector

    from cytoplan._typing import AggregateMethod

__all__ = [
    "OBJECT_COUNT",
    "FeatureSpec",
    "aggregate",
    "resolve_features",
]

#: Name of the per-group object count column.
OBJECT_COUNT = "Metadata_Object_Count"

#: How features are chosen: None (the default selector), a polars selector, a list of
#: names, or ``"infer"`` (pycytominer's ``infer_cp_features`` rule, for recipes).
FeatureSpec: TypeAlias = "Selector | Sequence[str] | Literal['infer'] | None"

_DROPPED = ("ImageNumber", "ObjectNumber")
_METHODS = ("median", "mean")


def resolve_features(
    schema: pl.Schema,
    features: FeatureSpec,
    *,
    image_features: bool = False,
    exclude: Sequence[str] = (),
) -> list[str]:
    """Feature column names from a spec, checked to be numeric, minus ``exclude``.

    ``None`` is the default selector (numeric ``Cells_/Cytoplasm_/Nuclei_`` columns,
    plus numeric ``Image_`` columns with ``image_features=True``); ``"infer"`` applies
    pycytominer's ``infer_cp_features`` rule.

    >>> import polars as pl
    >>> schema = pl.Schema({"Metadata_Well": pl.String, "Cells_A": pl.Float64, "Image_B": pl.Int64})
    >>> resolve_features(schema, None, image_features=True)
    ['Cells_A', 'Image_B']
    """
    if isinstance(features, str) and features == "infer":
        names = infer_cp_features(schema, image_features=image_features)
    elif isinstance(features, str):
        names = feature_columns(schema, [features])
    else:
        names = feature_columns(schema, features, include_image=image_features)
    if repeated := repeated_names(names):
        msg = f"feature column(s) listed more than once: {repeated}"
        raise SchemaError(msg)
    require_numeric(schema, names)
    excluded = set(exclude)
    return [name for name in names if name not in excluded]


def _as_list(names: str | Sequence[str], what: str) -> list[str]:
    if not isinstance(names, str | Sequence) or not all(isinstance(n, str) for n in names):
        reject(what, names, "a column name or a list of column names")
    listed = [names] if isinstance(names, str) else list(names)
    if not listed:
        reject(what, listed, "a non-empty list of column names")
    if repeated := repeated_names(listed):
        reject(what, listed, "a list of distinct column names", hint=f"{repeated} repeated")
    return listed


def _check_method(method: str) -> AggregateMethod:
    lowered = check_choice("method", method, _METHODS, fold_case=True, where="aggregate")
    return cast("AggregateMethod", lowered)


def restrict_to_subset(lf: pl.LazyFrame, subset: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Keep the rows of ``lf`` whose values match a row of ``subset`` on all its columns.

    A semi join: a row is kept once however many times its key appears in ``subset``.
    Numeric keys of different types are compared by value (``1.0`` matches ``1``, as
    pandas merges them); other keys whose dtypes differ are compared as strings.
    """
    if not isinstance(subset, pl.LazyFrame | pl.DataFrame):
        kind = type_name(subset)
        msg = f"subset must be a polars DataFrame or LazyFrame of key columns, got a {kind}"
        if kind.startswith("pandas."):
            msg += ": pass polars.from_pandas(subset)"
        raise ParameterError(msg)
    sub = subset.lazy()
    sub_schema = sub.collect_schema()
    schema = lf.collect_schema()
    keys = sub_schema.names()
    if not keys:
        msg = (
            "subset must be a table of key columns (e.g. Metadata_ImageNumber, "
            "Metadata_ObjectNumber), got a table without columns; give the key columns "
            "of the cells to keep"
        )
        raise ParameterError(msg)
    missing = [key for key in keys if key not in schema]
    if missing:
        raise ColumnNotFoundError.from_missing(
            missing, schema.names(), where="the profiles (subset keys)"
        )
    left = []
    right = []
    for key in keys:
        if schema[key] == sub_schema[key]:
            left.append(pl.col(key))
            right.append(pl.col(key))
        elif schema[key].is_numeric() and sub_schema[key].is_numeric():
            integers = schema[key].is_integer() and sub_schema[key].is_integer()
            common = pl.Int64 if integers else pl.Float64
            left.append(pl.col(key).cast(common))
            right.append(pl.col(key).cast(common))
        else:
            left.append(pl.col(key).cast(pl.String))
            right.append(pl.col(key).cast(pl.String))
    return lf.join(
        sub, left_on=left, right_on=right, how="semi", nulls_equal=True, maintain_order="left"
    )


def restrict_fields_of_view(
    lf: pl.LazyFrame, fields_of_view: Sequence[int | str], feature: str
) -> pl.LazyFrame:
    """Keep the rows whose ``feature`` (e.g. ``Metadata_Site``) is one of ``fields_of_view``.

    Values are compared as text (``1`` matches ``"1"``), or as numbers when the column
    is numeric (``1`` matches ``1.0``). Every requested field must be present in the
    data, as in pycytominer; one scan of that column checks it.
    """
    schema = lf.collect_schema()
    require_columns(schema, [feature])
    requested = [str(value) for value in fields_of_view]
    if not requested:
        reject("fields_of_view", list(fields_of_view), "'all' or a list of sites")
    as_text = pl.col(feature).cast(pl.String)
    wanted, key = requested, as_text  # what is compared: text, or numbers as text
    if schema[feature].is_numeric():
        try:
            wanted = [str(float(value)) for value in requested]
            key = pl.col(feature).cast(pl.Float64).cast(pl.String)
        except ValueError:
            pass  # a site that is not a number: reported as absent below
    seen = lf.select(as_text.alias("text"), key.alias("key")).unique().collect()
    present = set(seen["key"].drop_nulls().to_list())
    absent = [shown for shown, value in zip(requested, wanted, strict=True) if value not in present]
    if absent:
        msg = (
            f"fields of view {absent} are not in column {feature!r} "
            f"(present: {sorted(seen['text'].drop_nulls().to_list())[:20]}); fix fields_of_view"
        )
        raise ParameterError(msg)
    return lf.filter(key.is_in(wanted))


def aggregate(
    lf: pl.LazyFrame,
    *,
    strata: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
    features: FeatureSpec = None,
    method: AggregateMethod = "median",
    object_count: bool = False,
    object_feature: str = "Metadata_ObjectNumber",
    image_features: bool = False,
    subset: pl.LazyFrame | pl.DataFrame | None = None,
    fields_of_view: Literal["all"] | Sequence[int | str] = "all",
    fields_of_view_feature: str = "Metadata_Site",
    memory_limit: str | int | None = None,
) -> pl.LazyFrame:
    """Median or mean of every feature per group of ``strata``.

    Parameters
    ----------
    lf
        Single cells (or any profiles). The frame is scanned once per column block:
        pass a columnar source (a Parquet scan). ``cytoplan.aggregate`` given a path
        to a SQLite file, CellProfiler CSV folders or a CSV/TSV table converts it to
        a temporary Parquet file first, once.
    strata
        Group keys; output rows are sorted by them (nulls last).
    features
        None (numeric ``Cells_/Cytoplasm_/Nuclei_`` columns), a polars selector, a list
        of names, or ``"infer"`` (pycytominer's rule).
    method
        ``"median"`` (exact, in column blocks) or ``"mean"`` (same blocks, deterministic).
    object_count
        Add ``Metadata_Object_Count``: the non-missing values of ``object_feature`` per
        group (int64).
    object_feature
        Column counted by ``object_count``.
    image_features
        Also aggregate numeric ``Image_*`` columns (default feature selection only).
    subset
        Keep only the cells matching a row of this table on all its columns (semi join),
        e.g. a subsample of ``Metadata_ObjectNumber`` per image.
    fields_of_view
        ``"all"``, or the sites to keep (all must exist in ``fields_of_view_feature``).
    fields_of_view_feature
        The column holding the field of view.
    memory_limit
        Budget for the column blocks (``"1GiB"``, bytes, or None: the default).

    Returns
    -------
    pl.LazyFrame
        ``strata``, [``Metadata_Object_Count``], features as float64. Computed when
        this function is called (the result is small).

    Raises
    ------
    ColumnNotFoundError
        A stratum, feature, ``object_feature`` or subset key is not a column.
    SchemaError
        A feature is not numeric.
    ParameterError
        Unknown ``method``, empty or repeated ``strata``, bad ``fields_of_view``.
    CytoplanError
        A requested field of view is absent from the data.

    Examples
    --------
    >>> import polars as pl
    >>> cells = pl.LazyFrame(
    ...     {"Metadata_Well": ["A01", "A01", None], "Nuclei_Area": [1.0, 4.0, 5.0]}
    ... )
    >>> aggregate(cells, strata="Metadata_Well", method="mean").collect().rows()
    [('A01', 2.5), (None, 5.0)]
    """
    how = _check_method(method)
    keys = _as_list(strata, "strata")
    schema = lf.collect_schema()
    refuse_reserved(schema)
    require_columns(schema, keys)
    if object_count:
        require_columns(schema, [object_feature])
    names = resolve_features(schema, features, image_features=image_features, exclude=keys)
    names = [name for name in names if name not in _DROPPED]

    frame = lf
    nan_keys = [key for key in keys if schema[key].is_float()]
    if nan_keys:  # NaN and null are one missing key, as in pandas' group-by
        frame = frame.with_columns(pl.col(nan_keys).fill_nan(None))
    if subset is not None:
        frame = restrict_to_subset(frame, subset)
    if not (isinstance(fields_of_view, str) and fields_of_view == "all"):
        if isinstance(fields_of_view, str):
            reject("fields_of_view", fields_of_view, "'all' or a list of sites")
        frame = restrict_fields_of_view(frame, fields_of_view, fields_of_view_feature)

    counted = pl.col(object_feature)
    if object_count and schema[object_feature].is_float():
        counted = counted.fill_nan(None)  # NaN is missing too, as pandas' count() skips it
    count = counted.count().cast(pl.Int64).alias(OBJECT_COUNT)
    # the mean runs on the median's column blocks too: Polars' streaming mean adds
    # partial sums in whatever order threads finish (its last bits change with the
    # thread count), while each block's in-memory group-by sums a group in row order
    profiles = grouped_statistics(
        frame, names, statistics=(how,), by=keys, memory_limit=memory_limit
    )[how]
    if object_count:
        counts = frame.group_by(keys).agg(count).collect(engine="streaming")
        profiles = profiles.join(
            counts, on=keys, how="left", nulls_equal=True, maintain_order="left"
        )
        profiles = profiles.select(*keys, OBJECT_COUNT, *names)
    return profiles.lazy()
