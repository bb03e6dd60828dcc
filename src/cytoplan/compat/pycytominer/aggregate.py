"""pycytominer's ``aggregate``: median or mean of single cells per strata group.

Computed by :func:`cytoplan.ops.aggregate.aggregate` (exact grouped medians in column
blocks, streaming means).
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

_PLACEHOLDER = "__cytoplan_no_feature__"
_FLOAT32 = np.dtype(np.float32)
_FLOATS = (np.dtype(np.float64), _FLOAT32)


@write_to_file_if_user_specifies_output_details
def aggregate(
    population_df: pd.DataFrame,
    strata: str | list[str] = ["Metadata_Plate", "Metadata_Well"],  # noqa: B006
    features: str | list[str] = "infer",
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
        Grouping columns; output rows are sorted by them, null keys last.
    features
        ``"infer"`` (CellProfiler prefixes) or a list of names.
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
        ``strata``, [``Metadata_Object_Count``], features (float64), index 0..k-1; or
        the output file name.

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
    missing = [key for key in keys if key not in population_df.columns]
    if missing:
        msg = f"{missing} not in index"
        raise KeyError(msg)
    if compute_object_count and object_feature not in population_df.columns:
        raise KeyError(object_feature)
    if features == "infer":
        features = infer_cp_features(population_df, image_features=image_features)
    names = [str(f) for f in as_list(features)]
    if any(name not in population_df.columns for name in names):
        missing = [name for name in names if name not in population_df.columns]
        msg = f"{missing} not in index"
        raise KeyError(msg)
    values = population_df[names]
    if not all(dtype in _FLOATS for dtype in values.dtypes):
        values = values.astype(float)  # numeric strings too, as pandas' astype(float)
    frame = pd.concat(
        [population_df[keys], values.loc[:, [n for n in names if n not in keys]]], axis=1
    )
    extra = [object_feature] if compute_object_count and object_feature not in frame else []
    if extra:
        frame[object_feature] = population_df[object_feature]
    feature_names = [n for n in dict.fromkeys(names) if n not in keys]
    if not feature_names:  # pandas aggregates zero columns: the sorted groups remain
        frame[_PLACEHOLDER] = 0.0
    lf = to_lazy(frame, list(frame.columns))
    float32 = {str(n) for n, dtype in values.dtypes.items() if dtype == _FLOAT32}
    narrow = [n for n in feature_names if n in float32]
    if narrow:  # float32 features are cast in the plan (pandas would copy the frame)
        lf = lf.with_columns(pl.col(narrow).cast(pl.Float64))
    with pycytominer_errors():
        result = _aggregate(
            lf,
            strata=keys,
            features=feature_names or [_PLACEHOLDER],
            method=operation,  # type: ignore[arg-type]
            object_count=compute_object_count,
            object_feature=object_feature,
        ).collect()
    if compute_object_count:
        null_key = pl.any_horizontal([pl.col(k).is_null() for k in keys])
        if result.select(null_key.any()).item():
            result = result.with_columns(
                pl.when(null_key)
                .then(None)
                .otherwise(pl.col(OBJECT_COUNT))
                .cast(pl.Float64)
                .alias(OBJECT_COUNT)
            )
    out = result.drop(_PLACEHOLDER, strict=False).to_pandas()
    for key in keys:
        out[key] = _restore_dtype(out[key], population_df[key])
    return out


def _restore_dtype(values: pd.Series, like: pd.Series) -> pd.Series:
    """Group keys back in the input column's dtype where the values allow it."""
    if values.dtype == like.dtype:
        return values
    try:
        if values.isna().any() and pd.api.types.is_integer_dtype(like):
            return values.astype(float)
        return values.astype(like.dtype)
    except (TypeError, ValueError):
        return values
