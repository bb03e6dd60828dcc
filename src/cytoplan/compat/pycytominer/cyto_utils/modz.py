"""pycytominer's ``cyto_utils.modz``: MODZ consensus signatures.

Computed by :func:`cytoplan.ops.consensus.modz` (vectorised over replicate groups of the
same size, pandas' pairwise rules for missing values).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors, to_lazy
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.cyto_utils.util import (
    check_correlation_method,
    get_pairwise_correlation,
)
from cytoplan.ops._modz import KendallRounding, modz_signatures
from cytoplan.ops.consensus import modz as _modz

__all__ = ["check_correlation_method", "get_pairwise_correlation", "modz", "modz_base"]

#: pycytominer's Kendall MODZ is pandas' ``DataFrame.corr``: SciPy's ``kendalltau`` under
#: pandas 2, pandas' own kernel (rounded once) from pandas 3 on.
_PANDAS_KENDALL: KendallRounding = (
    "single" if int(pd.__version__.split(".", 1)[0]) >= 3 else "scipy"
)


def modz_base(
    population_df: pd.DataFrame,
    method: str = "spearman",
    min_weight: float = 0.01,
    precision: int = 4,
) -> pd.Series:
    """The MODZ signature of one replicate group (rows = replicates, columns = features).

    Weights: mean correlation with the other replicates (negatives clipped to 0, at
    least ``min_weight``), normalised, **rounded to ``precision`` decimals**.

    >>> import pandas as pd
    >>> replicates = pd.DataFrame(
    ...     {"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.5], "z": [3.0, 2.0, 1.0]}
    ... )
    >>> modz_base(replicates).round(4).tolist()
    [2.0, 2.25, 2.0]
    """
    if population_df.shape[0] == 0:
        msg = "population_df must include at least one sample"
        raise ValueError(msg)
    values = population_df.to_numpy(dtype=float)
    with pycytominer_errors():
        out = modz_signatures(
            values,
            np.array([values.shape[0]], dtype=np.int64),
            method=method,  # type: ignore[arg-type]
            min_weight=float(min_weight),
            precision=int(precision),
            kendall_rounding=_PANDAS_KENDALL,
        )
    return pd.Series(out[0], index=population_df.columns)


def modz(
    population_df: pd.DataFrame,
    replicate_columns: str | list[str],
    features: str | list[str] = "infer",
    method: str = "spearman",
    min_weight: float = 0.01,
    precision: int = 4,
) -> Any:
    """One MODZ signature per replicate group, sorted by the replicate columns.

    A ``replicate_columns`` that is neither a string nor a list is **returned** as a
    ``ValueError`` object (pycytominer's behaviour).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Metadata_g": ["x", "x"], "Cells_a": [1.0, 3.0],
    ...                    "Cells_b": [2.0, 4.0]})
    >>> modz(df, "Metadata_g").values.tolist()
    [['x', 2.0, 3.0]]
    """
    if isinstance(replicate_columns, str):
        keys = [replicate_columns]
    elif isinstance(replicate_columns, list):
        keys = list(replicate_columns)
    else:
        return ValueError("replicate_columns must be a list or string")
    missing = [key for key in keys if key not in population_df.columns]
    if missing:
        msg = "replicate_columns must be present in population_df"
        raise ValueError(msg)
    if features == "infer":
        features = infer_cp_features(population_df)
    elif isinstance(features, str):
        features = [features]
    names = [f for f in features if f not in keys]
    frame = pd.concat([population_df[keys], population_df[names].astype(float)], axis=1)
    with pycytominer_errors():
        result = _modz(
            to_lazy(frame, [*keys, *names]),
            replicate_columns=keys,
            features=names,
            method=method,  # type: ignore[arg-type]
            min_weight=min_weight,
            precision=precision,
            kendall_rounding=_PANDAS_KENDALL,
        ).collect()
    out = result.to_pandas()
    # pycytominer's key columns are a group-by index reset: take their types from one
    # (text keys of object dtype come back as str under pandas 3, all-missing ones as
    # float); with one row per group its sums keep integer features integers
    key_types = population_df[keys].groupby(keys, dropna=False, sort=False).size().reset_index()
    if not population_df.duplicated(subset=keys).any():
        for name in names:
            if pd.api.types.is_integer_dtype(population_df[name].dtype):
                out[name] = out[name].astype(population_df[name].dtype)
    categorical = []
    for key in keys:
        dtype = population_df[key].dtype
        if not isinstance(dtype, pd.CategoricalDtype):
            dtype = key_types[key].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            # astype would keep Polars' category order: an unordered CategoricalDtype
            # equals one with the same categories in any order
            out[key] = pd.Categorical(out[key], categories=dtype.categories, ordered=dtype.ordered)
            categorical.append(key)
            continue
        with contextlib.suppress(TypeError, ValueError):
            out[key] = out[key].astype(dtype)
    if categorical:  # pandas' group order: categories in category order
        out = out.sort_values(keys, kind="stable", na_position="last", ignore_index=True)
    return out
