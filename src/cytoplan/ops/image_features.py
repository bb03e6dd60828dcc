"""Image-table columns of aggregated profiles: fields of view, summed counts, image features.

This is pycytominer's ``cyto_utils.cp_image_features`` (spec §2.6.8) and the step
of ``SingleCells.aggregate_profiles`` that uses it (spec §2.6.7), on lazy frames.
The image table has one row per field of view (a few thousand rows per plate), so
every result here is small.

* :func:`aggregate_fields_count` — ``strata…, Metadata_Site_Count``: the non-null
  fields of view per group (rows with a missing stratum are left out, as pandas'
  ``groupby`` does), sorted by the strata;
* :func:`extract_image_features` — the image columns of the requested categories,
  renamed as pycytominer renames them (``Count_Cells`` → ``Metadata_Count_Cells``,
  ``Intensity_X`` → ``Image_Intensity_X``), after the image and strata columns;
* :func:`aggregate_image_count_features` — the ``Metadata_Count_*`` columns summed
  per strata (missing values count as 0);
* :func:`aggregate_image_features` — counts summed (when ``"Count"`` is a category)
  and every other image feature aggregated with ``median`` or ``mean`` (as
  :func:`cytoplan.ops.aggregate.aggregate`), per strata;
* :func:`add_image_features` — ``SingleCells.aggregate_profiles``' step: the field
  count, then (with categories) the image features, joined onto aggregated
  profiles, columns reordered ``Metadata_*`` first.

Examples
--------
>>> import polars as pl
>>> image = pl.LazyFrame(
...     {
...         "TableNumber": ["t1", "t2", "t3"],
...         "ImageNumber": [1, 2, 3],
...         "Metadata_Well": ["B02", "A01", "A01"],
...         "Metadata_Site": ["1", "1", "2"],
...         "Count_Cells": [10, 20, 30],
...         "Intensity_DNA": [1.0, 2.0, 4.0],
...     }
... )
>>> aggregate_fields_count(image, ["Metadata_Well"]).collect().rows()
[('A01', 2), ('B02', 1)]
>>> extracted = extract_image_features(image, ["Count", "Intensity"], strata=["Metadata_Well"])
>>> for name in extracted.collect_schema().names():
...     print(name)
ImageNumber
Metadata_Site
Metadata_Well
TableNumber
Metadata_Count_Cells
Image_Intensity_DNA
>>> aggregate_image_features(
...     extracted, ["Count", "Intensity"], strata=["Metadata_Well"]
... ).collect().rows()
[('A01', 50, 3.0), ('B02', 10, 1.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, SchemaError
from cytoplan.ops._params import check_choice, reject
from cytoplan.ops.aggregate import aggregate, restrict_fields_of_view
from cytoplan.schema import repeated_names, require_columns
from cytoplan.stats.holistic import missing_as_null

if TYPE_CHECKING:
    from cytoplan._typing import AggregateMethod

__all__ = [
    "DEFAULT_IMAGE_COLUMNS",
    "SITE_COUNT",
    "add_image_features",
    "aggregate_fields_count",
    "aggregate_image_count_features",
    "aggregate_image_features",
    "extract_image_features",
]

#: Name of the fields-of-view count column.
SITE_COUNT = "Metadata_Site_Count"
#: pycytominer's ``SingleCells(image_cols=...)`` default.
DEFAULT_IMAGE_COLUMNS: tuple[str, ...] = ("TableNumber", "ImageNumber", "Metadata_Site")

_METHODS = ("median", "mean")
_FEATURE_PREFIXES = ("Cells", "Nuclei", "Cytoplasm", "Image")


def _names(value: str | Sequence[str], what: str, *, allow_empty: bool = False) -> list[str]:
    """A list of distinct texts (one text counts as a list of one)."""
    if not isinstance(value, str | Sequence) or not all(isinstance(v, str) for v in value):
        reject(what, value, "a text or a list of texts")
    listed = [value] if isinstance(value, str) else list(value)
    if not listed and not allow_empty:
        reject(what, listed, "a non-empty list of texts")
    if repeated := repeated_names(listed):
        reject(what, listed, "a list of distinct texts", hint=f"{repeated} repeated")
    return listed


def _require(schema: pl.Schema, names: Sequence[str], where: str) -> None:
    missing = [name for name in names if name not in schema]
    if missing:
        raise ColumnNotFoundError.from_missing(missing, schema.names(), where=where)


def aggregate_fields_count(
    image: pl.LazyFrame,
    strata: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
    fields_of_view_feature: str = "Metadata_Site",
) -> pl.LazyFrame:
    """``strata…, Metadata_Site_Count``: the fields of view of each group of the image table.

    pycytominer's ``aggregate_fields_count``: the non-null values of
    ``fields_of_view_feature`` per group (Int64); groups with a missing stratum are
    left out (pandas ``groupby`` drops them); rows sorted by the strata.

    Parameters
    ----------
    image
        The image table (one row per field of view).
    strata
        Group keys.
    fields_of_view_feature
        The column holding the field of view; it cannot be a stratum.

    Raises
    ------
    ColumnNotFoundError
        A stratum or ``fields_of_view_feature`` is not a column of ``image``.
    ParameterError
        Empty or repeated strata, or ``fields_of_view_feature`` among them.

    Examples
    --------
    >>> import polars as pl
    >>> image = pl.LazyFrame(
    ...     {"Metadata_Well": ["B", "A", "A", None], "Metadata_Site": [1.0, 1.0, float("nan"), 1.0]}
    ... )
    >>> aggregate_fields_count(image, "Metadata_Well").collect().rows()
    [('A', 1), ('B', 1)]
    """
    keys = _names(strata, "strata")
    if not isinstance(fields_of_view_feature, str):
        reject("fields_of_view_feature", fields_of_view_feature, "a column name")
    if fields_of_view_feature in keys:
        reject(
            "fields_of_view_feature",
            fields_of_view_feature,
            "a column that is not a stratum",
            hint="sites cannot be counted per site",
        )
    schema = image.collect_schema()
    _require(schema, [*keys, fields_of_view_feature], "the image table")
    count = (
        missing_as_null(fields_of_view_feature, schema[fields_of_view_feature], as_float=False)
        .count()
        .cast(pl.Int64)
        .alias(SITE_COUNT)
    )
    complete = pl.all_horizontal([pl.col(k).is_not_null() for k in keys])
    return image.filter(complete).group_by(keys).agg(count).sort(keys, nulls_last=True)


def _category_of(columns: Sequence[str]) -> set[str]:
    """pycytominer's ``check_image_features``: the category token of each column."""
    if "Image" in {c.split("_")[0] for c in columns}:
        return {c.split("_")[1] for c in columns if "_" in c}
    return {c.split("_")[0] for c in columns}


def extract_image_features(
    image: pl.LazyFrame,
    image_feature_categories: str | Sequence[str],
    *,
    image_cols: str | Sequence[str] = DEFAULT_IMAGE_COLUMNS,
    strata: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
) -> pl.LazyFrame:
    """The image columns of the requested categories, renamed as pycytominer renames them.

    pycytominer's ``cyto_utils.util.extract_image_features``:

    1. every category must be a column's category — its first ``_``-token, or its
       second when some column starts with ``Image_`` (CellProfiler's
       ExportToDatabase names, ``Image_Count_Cells``);
    2. the columns whose **name starts with** a category are taken (so, as in
       pycytominer, ``Image_``-prefixed tables yield none: ``Image_Count_Cells`` does
       not start with ``Count``);
    3. ``Count_*`` becomes ``Metadata_Count_*``; other names not starting with
       ``Image_`` get that prefix;
    4. output: the sorted union of ``image_cols`` and ``strata``, then those columns.

    Raises
    ------
    ColumnNotFoundError
        A category matches no column, or an image column or stratum is missing.
    ParameterError
        Empty or non-text categories.
    SchemaError
        A renamed feature collides with an image column or stratum.

    Examples
    --------
    >>> import polars as pl
    >>> image = pl.LazyFrame({"ImageNumber": [1], "Metadata_Well": ["A01"],
    ...                       "Count_Cells": [3], "Granularity_1_DNA": [0.5]})
    >>> extract_image_features(image, ["Count", "Granularity"], image_cols=["ImageNumber"],
    ...                        strata=["Metadata_Well"]).collect_schema().names()
    ['ImageNumber', 'Metadata_Well', 'Metadata_Count_Cells', 'Image_Granularity_1_DNA']
    """
    categories = _names(image_feature_categories, "image_feature_categories")
    columns_kept = sorted(
        set(_names(image_cols, "image_cols", allow_empty=True)) | set(_names(strata, "strata"))
    )
    schema = image.collect_schema()
    names = schema.names()
    absent = [c for c in categories if c not in _category_of(names)]
    if absent:
        msg = (
            f"image feature categories {absent} are not present in the image table "
            f"(categories there: {sorted(_category_of(names))}); fix image_feature_categories"
        )
        raise ColumnNotFoundError(msg)
    _require(schema, columns_kept, "the image table (image_cols and strata)")
    chosen = [c for c in names if c.startswith(tuple(categories))]
    renamed = {
        c: (
            f"Metadata_{c}"
            if c.startswith("Count_")
            else c
            if c.startswith("Image_")
            else f"Image_{c}"
        )
        for c in chosen
    }
    clash = sorted(set(renamed.values()) & set(columns_kept))
    if len(set(renamed.values())) != len(renamed) or clash:
        msg = (
            f"image features {clash or sorted(renamed.values())} would appear twice "
            "(an image column or stratum has the same name); choose other categories"
        )
        raise SchemaError(msg)
    return image.select(*columns_kept, *[pl.col(c).alias(new) for c, new in renamed.items()])


def _count_columns(schema: pl.Schema, count_prefix: str) -> list[str]:
    return [c for c in schema.names() if c.startswith(f"Metadata_{count_prefix}")]


def aggregate_image_count_features(
    image_features: pl.LazyFrame,
    strata: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
    *,
    count_prefix: str = "Count",
) -> pl.LazyFrame:
    """``strata…, Metadata_<count_prefix>*``: the image counts summed per strata.

    pycytominer's ``aggregate_image_count_features`` (without the join onto the
    profiles, see :func:`add_image_features`): the ``Metadata_Count_*`` columns of
    :func:`extract_image_features`' output, in sorted order, summed per group;
    missing values count as 0 (pandas' ``sum``), so a group without counts gives 0.
    Integer counts stay Int64, others are Float64. A missing stratum is a group of
    its own; rows are sorted by the strata, nulls last.

    Raises
    ------
    ColumnNotFoundError
        A stratum is missing.
    SchemaError
        A count column is not numeric.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.LazyFrame({"Metadata_Well": ["B", "A", "A"],
    ...                       "Metadata_Count_Cells": [1.0, float("nan"), 2.0]})
    >>> aggregate_image_count_features(frame, ["Metadata_Well"]).collect().rows()
    [('A', 2.0), ('B', 1.0)]
    """
    keys = _names(strata, "strata")
    if not isinstance(count_prefix, str) or not count_prefix:
        reject("count_prefix", count_prefix, "a non-empty text")
    schema = image_features.collect_schema()
    _require(schema, keys, "the image features")
    counts = sorted(set(_count_columns(schema, count_prefix)) - set(keys))
    bad = [f"{c} ({schema[c]})" for c in counts if not schema[c].is_numeric()]
    if bad:
        msg = f"image count column(s) are not numeric: {', '.join(bad)}"
        raise SchemaError(msg)
    sums = [
        missing_as_null(c, schema[c], as_float=False)
        .sum()
        .cast(pl.Int64 if schema[c].is_integer() else pl.Float64)
        .alias(c)
        for c in counts
    ]
    return image_features.group_by(keys).agg(*sums).sort(keys, nulls_last=True)


def aggregate_image_features(
    image_features: pl.LazyFrame,
    image_feature_categories: str | Sequence[str],
    *,
    strata: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
    image_cols: str | Sequence[str] = DEFAULT_IMAGE_COLUMNS,
    method: AggregateMethod = "median",
    count_prefix: str = "Count",
    memory_limit: str | int | None = None,
) -> pl.LazyFrame:
    """Image features per strata: counts summed, every other feature median or mean.

    pycytominer's ``aggregate_image_features`` (without the join onto the field
    counts, see :func:`add_image_features`), on :func:`extract_image_features`'
    output:

    * ``count_prefix`` among the categories: ``Metadata_Count_*`` summed
      (:func:`aggregate_image_count_features`);
    * any other category: the remaining columns — all but ``image_cols``, the count
      columns and the strata — in sorted order, aggregated with ``method`` as
      :func:`cytoplan.ops.aggregate.aggregate` does (Float64; NaN skipped).

    Output: ``strata``, the counts, the aggregated features; one row per strata
    combination (a missing stratum is a group), sorted, nulls last.

    Raises
    ------
    ColumnNotFoundError
        A stratum is missing.
    SchemaError
        A feature to aggregate is not numeric (e.g. a ``FileName`` category).
    ParameterError
        Unknown ``method``; empty categories.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.LazyFrame({"Metadata_Well": ["A", "A", "B"], "ImageNumber": [1, 2, 3],
    ...                       "Metadata_Count_Cells": [3, 4, 5],
    ...                       "Image_Intensity_X": [1.0, 3.0, 5.0]})
    >>> aggregate_image_features(frame, ["Intensity"], strata="Metadata_Well",
    ...                          method="mean").collect().rows()
    [('A', 2.0), ('B', 5.0)]
    """
    categories = _names(image_feature_categories, "image_feature_categories")
    keys = _names(strata, "strata")
    extra = _names(image_cols, "image_cols", allow_empty=True)
    how = check_choice("method", method, _METHODS, fold_case=True, where="aggregate_image_features")
    schema = image_features.collect_schema()
    _require(schema, keys, "the image features")
    counts = _count_columns(schema, count_prefix)
    result: pl.LazyFrame | None = None
    if count_prefix in categories:
        result = aggregate_image_count_features(image_features, keys, count_prefix=count_prefix)
    if any(c != count_prefix for c in categories):
        removed = set(extra) | set(counts)
        features = sorted(c for c in schema.names() if c not in removed and c not in keys)
        if features:
            aggregated = aggregate(
                image_features,
                strata=keys,
                features=features,
                method=how,  # type: ignore[arg-type]
                memory_limit=memory_limit,
            )
            result = (
                aggregated
                if result is None
                else result.join(
                    aggregated, on=keys, how="left", nulls_equal=True, maintain_order="left"
                )
            )
    if result is None:  # nothing but the strata (pycytominer adds no column)
        result = image_features.select(keys).unique().sort(keys, nulls_last=True)
    return result


def _join_keys(
    left: pl.LazyFrame, right: pl.LazyFrame, keys: Sequence[str]
) -> tuple[pl.LazyFrame, pl.LazyFrame, list[str]]:
    """Temporary join columns; keys whose dtypes differ are compared as text."""
    left_schema = left.collect_schema()
    right_schema = right.collect_schema()
    temp = [f"__image_key_{i}" for i in range(len(keys))]
    lhs = []
    rhs = []
    for name, key in zip(temp, keys, strict=True):
        same = left_schema[key] == right_schema[key]
        lhs.append((pl.col(key) if same else pl.col(key).cast(pl.String)).alias(name))
        rhs.append((pl.col(key) if same else pl.col(key).cast(pl.String)).alias(name))
    return left.with_columns(lhs), right.with_columns(rhs).drop(keys), temp


def add_image_features(
    profiles: pl.LazyFrame,
    image: pl.LazyFrame,
    *,
    strata: str | Sequence[str] = ("Metadata_Plate", "Metadata_Well"),
    image_feature_categories: Sequence[str] | None = None,
    method: AggregateMethod = "median",
    image_cols: str | Sequence[str] = DEFAULT_IMAGE_COLUMNS,
    fields_of_view: Literal["all"] | Sequence[int | str] = "all",
    fields_of_view_feature: str = "Metadata_Site",
    memory_limit: str | int | None = None,
) -> pl.LazyFrame:
    """Add ``Metadata_Site_Count`` (and image features) to aggregated profiles.

    What ``SingleCells.aggregate_profiles`` adds to the profiles it aggregates
    (spec §2.6.7), when ``fields_of_view_feature`` is not a stratum (otherwise the
    profiles are returned unchanged, as pycytominer does):

    1. the image table restricted to ``fields_of_view``;
    2. :func:`aggregate_fields_count`; with ``image_feature_categories``, the
       :func:`aggregate_image_features` of :func:`extract_image_features` joined
       onto it;
    3. joined onto the profiles by strata (profile rows and their order kept; a
       profile whose strata are not in the image table gets nulls);
    4. columns: the strata, every ``Metadata_*`` column (``Metadata_Site_Count``,
       ``Metadata_Count_*``, then the profiles' own, e.g. ``Metadata_Object_Count``),
       the image features (``Image_*``), then the profiles' other columns.

    pycytominer drops strata that do not start with ``Metadata_`` here (and then
    fails to join its other compartments); they are kept (docs/parity.md).

    Parameters
    ----------
    profiles
        Aggregated profiles (:func:`cytoplan.ops.aggregate.aggregate`'s output).
    image
        The plate's image table (one row per field of view), e.g. the ``Image``
        table of a CellProfiler SQLite file.
    strata
        The strata the profiles were aggregated by.
    image_feature_categories
        Categories of image features (``["Count", "Intensity"]``); None: only the
        field count (pycytominer's ``add_image_features=False``).
    method
        ``"median"`` or ``"mean"``: how the non-count image features are aggregated.
    image_cols
        pycytominer's ``image_cols``: image-table columns that are not features.
    fields_of_view, fields_of_view_feature
        The sites kept (``"all"`` or a list) and the column naming them.
    memory_limit
        Budget of the median's column blocks.

    Raises
    ------
    ColumnNotFoundError
        A stratum, image column or ``fields_of_view_feature`` is missing, or a
        category matches no image column.
    SchemaError
        An image feature is not numeric, or already a profile column.
    ParameterError
        Bad ``method``, strata, categories or ``fields_of_view``.

    Examples
    --------
    >>> import polars as pl
    >>> profiles = pl.LazyFrame({"Metadata_Well": ["A01", "B02"],
    ...                          "Metadata_Object_Count": [3, 1], "Cells_Area": [2.0, 5.0]})
    >>> image = pl.LazyFrame({"TableNumber": ["t"] * 3, "ImageNumber": [1, 2, 3],
    ...                       "Metadata_Well": ["A01", "A01", "B02"],
    ...                       "Metadata_Site": ["1", "2", "1"],
    ...                       "Count_Cells": [2, 1, 1], "Intensity_DNA": [1.0, 3.0, 7.0]})
    >>> out = add_image_features(profiles, image, strata=["Metadata_Well"],
    ...                          image_feature_categories=["Count", "Intensity"]).collect()
    >>> out.columns[:4]
    ['Metadata_Well', 'Metadata_Site_Count', 'Metadata_Count_Cells', 'Metadata_Object_Count']
    >>> out.columns[4:]
    ['Image_Intensity_DNA', 'Cells_Area']
    >>> out.row(0)
    ('A01', 2, 3, 3, 2.0, 2.0)
    """
    keys = _names(strata, "strata")
    extra = _names(image_cols, "image_cols", allow_empty=True)
    how = check_choice("method", method, _METHODS, fold_case=True, where="add_image_features")
    categories = (
        None
        if image_feature_categories is None
        else _names(image_feature_categories, "image_feature_categories")
    )
    profile_schema = profiles.collect_schema()
    require_columns(profile_schema, keys)
    if fields_of_view_feature in keys:
        return profiles
    image_schema = image.collect_schema()
    _require(image_schema, sorted(set(extra) | set(keys)), "the image table (image_cols, strata)")
    _require(image_schema, [fields_of_view_feature], "the image table (fields of view)")
    features_frame = (
        None
        if categories is None
        else extract_image_features(image, categories, image_cols=extra, strata=keys)
    )
    if not (isinstance(fields_of_view, str) and fields_of_view == "all"):
        if isinstance(fields_of_view, str):
            reject("fields_of_view", fields_of_view, "'all' or a list of sites")
        image = restrict_fields_of_view(image, fields_of_view, fields_of_view_feature)
        if features_frame is not None:
            features_frame = restrict_fields_of_view(
                features_frame, fields_of_view, fields_of_view_feature
            )
    added = aggregate_fields_count(image, keys, fields_of_view_feature).collect()
    if features_frame is not None and categories is not None:
        image_table = aggregate_image_features(
            features_frame,
            categories,
            strata=keys,
            image_cols=extra,
            method=how,  # type: ignore[arg-type]
            memory_limit=memory_limit,
        ).collect()
        added = added.join(
            image_table, on=keys, how="left", nulls_equal=True, maintain_order="left"
        )
    new = [c for c in added.columns if c not in keys]
    clash = [c for c in new if c in profile_schema]
    if clash:
        msg = (
            f"the profiles already have column(s) {clash}; drop them before adding "
            "the image table's columns"
        )
        raise SchemaError(msg)
    left, right, temp = _join_keys(profiles, added.lazy(), keys)
    merged = left.join(right, on=temp, how="left", maintain_order="left").drop(temp)
    names = merged.collect_schema().names()
    first = [c for c in names if c in keys or c.startswith("Metadata_")]
    image_features = [c for c in new if not c.startswith("Metadata_")]
    rest = [c for c in names if c not in first and c not in image_features]
    metadata = [*keys, *[c for c in new if c.startswith("Metadata_")]]
    metadata += [c for c in first if c not in metadata]
    return merged.select(*metadata, *image_features, *rest)
