"""pycytominer's ``aggregate``: median or mean of single cells per strata group.

pandas numbers the groups (its order and key dtypes); :func:`cytoplan.ops.aggregate.aggregate`
computes the statistics per group number (exact grouped medians in column blocks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cytoplan.compat.pycytominer._frames import as_list, pycytominer_errors, to_lazy
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.cyto_utils.util import (
    check_aggregate_operation,
    write_to_file_if_user_specifies_output_details,
)
from cytoplan.ops.aggregate import OBJECT_COUNT
from cytoplan.ops.aggregate import aggregate as _aggregate

__all__ = ["aggregate"]

_PLACEHOLDER = "__compat_no_feature__"
_GROUP = "__compat_group__"
_OBJECT = "__compat_object__"
_FEATURE = "__compat_feature_"
_DROPPED = ("ImageNumber", "ObjectNumber")
_FLOAT32 = np.dtype(np.float32)
_FLOATS = (np.dtype(np.float64), _FLOAT32)


@write_to_file_if_user_specifies_output_details
def aggregate(
    population_df: pd.DataFrame,
    strata: str | list[Any] = ["Metadata_Plate", "Metadata_Well"],  # noqa: B006
    features: str | list[Any] = "infer",
    image_features: bool = False,
    operation: str = "median",
    output_file: str | None = None,
    output_type: str | None = "csv",
    compute_object_count: bool = False,
    object_feature: str = "Metadata_ObjectNumber",
    subset_data_df: pd.DataFrame | None = None,
    compression_options: Any = None,
    float_format: str | None = None,
) -> pd.DataFrame | str:
    """Aggregate profiles per ``strata`` group (pycytominer 1.7.1 ``aggregate``).

    Parameters
    ----------
    population_df
        Single-cell (or any) profiles.
    strata
        Grouping columns; output rows in pandas' group order (sorted, categories in
        category order, null keys last), keys in their input dtype.
    features
        ``"infer"`` (CellProfiler prefixes) or a list of names (any column labels;
        a repeated name gives repeated output columns).
    image_features
        Also infer ``Image*`` features.
    operation
        ``"median"`` or ``"mean"`` (case-insensitive).
    output_file, output_type, compression_options, float_format
        Write the result instead of returning it (uncompressed CSV by default).
    compute_object_count
        Add ``Metadata_Object_Count`` (non-null ``object_feature`` values per group).
    object_feature
        The column counted.
    subset_data_df
        Keep only the rows matching a row of this frame on all its columns.

    Returns
    -------
    pandas.DataFrame or str
        ``strata``, [``Metadata_Object_Count``], features (float64), index 0..k-1,
        without ``ImageNumber``/``ObjectNumber``; or the output file name.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"Metadata_Plate": ["P"] * 3, "Metadata_Well": ["B", "A", "A"],
    ...                    "Cells_x": [5.0, 1.0, 2.0]})
    >>> aggregate(df).values.tolist()
    [['P', 'A', 1.5], ['P', 'B', 5.0]]
    """
    operation = check_aggregate_operation(operation)
    keys = as_list(strata)
    if isinstance(subset_data_df, pd.DataFrame):
        population_df = subset_data_df.merge(
            population_df, how="inner", on=subset_data_df.columns.tolist()
        ).reindex(population_df.columns, axis="columns")
    _require(population_df, keys)
    if compute_object_count and object_feature not in population_df.columns:
        raise KeyError(object_feature)
    if features == "infer":
        features = infer_cp_features(population_df, image_features=image_features)
    names = as_list(features)
    _require(population_df, names)
    groups, observed, codes = _groups(population_df, keys)
    # a feature that is also a stratum stays a key (pycytominer fails on the duplicate)
    unique = [name for name in dict.fromkeys(names) if name not in keys]
    values = population_df.loc[:, unique]
    if not all(dtype in _FLOATS for dtype in values.dtypes):
        values = values.astype(float)  # numeric strings too, as pandas' astype(float)
    # positional names for the engine: pandas allows non-string and repeated names
    internal = [f"{_FEATURE}{i}" for i in range(len(unique))]
    frame = values.set_axis(internal, axis="columns")
    frame[_GROUP] = codes
    if compute_object_count:  # pandas' count(): the values that are not NA
        present = population_df[object_feature].notna().to_numpy()
        frame[_OBJECT] = np.where(present, 1.0, np.nan)
    if not internal:  # pandas aggregates zero columns: the sorted groups remain
        frame[_PLACEHOLDER] = 0.0
    lf = to_lazy(frame, list(frame.columns))
    narrow = [i for i, dtype in zip(internal, values.dtypes, strict=True) if dtype == _FLOAT32]
    if narrow:  # float32 features are cast in the plan (pandas would copy the frame)
        lf = lf.with_columns(pl.col(narrow).cast(pl.Float64))
    with pycytominer_errors():
        result = _aggregate(
            lf,
            strata=[_GROUP],
            features=internal or [_PLACEHOLDER],
            method=operation,  # type: ignore[arg-type]
            object_count=compute_object_count,
            object_feature=_OBJECT,
        ).collect()
    seen = groups[observed].reset_index(drop=True)  # what the group numbers index
    parts = [seen.take(result[_GROUP].to_numpy()).reset_index(drop=True)]
    if compute_object_count:
        parts.append(_object_counts(result[OBJECT_COUNT], parts[0]))
    profiles = result.select(internal).to_pandas().set_axis(unique, axis="columns")
    parts.append(profiles.loc[:, [name for name in names if name not in keys]])
    out = pd.concat(parts, axis="columns")
    if not observed.all():  # pandas < 3 keeps empty categories as rows of NaN
        out = groups.merge(out, on=keys, how="left", sort=False)
    # aggregated image and object numbers do not make sense (pycytominer drops them)
    return out.loc[:, [name not in _DROPPED for name in out.columns]]


def _require(df: pd.DataFrame, names: list[Any]) -> None:
    """Raise pandas' ``KeyError`` when a name is not a column of ``df``."""
    missing = [name for name in names if name not in df.columns]
    if missing:
        msg = f"{missing} not in index"
        raise KeyError(msg)


def _groups(df: pd.DataFrame, keys: list[Any]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The groups of ``df`` by ``keys`` as pandas orders them, which of them have rows,
    and each row's number among the groups that have rows.

    pandas' group-by (``dropna=False``) decides the order (categories in category order,
    mixed-type objects, nulls last) and the key dtypes (nullable integers stay ``Int64``);
    the engine only aggregates per group number.
    """
    grouped = df.loc[:, keys].groupby(keys, dropna=False)
    sizes = grouped.size()  # pandas < 3 also lists categories without rows (observed=False)
    groups = sizes.index.to_frame(index=False)
    return groups, sizes.to_numpy() > 0, grouped.ngroup().to_numpy()


def _object_counts(counts: pl.Series, groups: pd.DataFrame) -> pd.Series:
    """``Metadata_Object_Count`` per group; NaN (float64) for a group with a null key.

    pycytominer counts with a group-by that drops null keys, then right-merges.
    """
    out = counts.to_pandas()
    null_key = groups.isna().any(axis="columns").to_numpy()
    if null_key.any():
        out = out.astype(float).where(~null_key)
    return out
