"""pycytominer's ``cyto_utils.cp_image_features``: image-table counts and features per strata."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["aggregate_fields_count", "aggregate_image_count_features", "aggregate_image_features"]


def aggregate_fields_count(
    image_df: pd.DataFrame, strata: list[str], fields_of_view_feature: str
) -> pd.DataFrame:
    """``strata…, Metadata_Site_Count``: non-null fields of view per group, sorted.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Metadata_Well": ["B", "A", "A"], "Metadata_Site": [1, 1, 2]})
    >>> aggregate_fields_count(df, ["Metadata_Well"], "Metadata_Site").values.tolist()
    [['A', 2], ['B', 1]]
    """
    frame = image_df.loc[:, list(np.union1d(strata, fields_of_view_feature))]
    return (
        frame.groupby(strata)[fields_of_view_feature]
        .count()
        .reset_index()
        .rename(columns={f"{fields_of_view_feature}": "Metadata_Site_Count"})
    )


def aggregate_image_count_features(
    df: pd.DataFrame,
    image_features_df: pd.DataFrame,
    image_cols: list[str],
    strata: list[str],
    count_prefix: str = "Count",
) -> tuple[pd.DataFrame, list[str]]:
    """Sum ``Metadata_Count_*`` columns per strata and left-join them onto ``df``."""
    count_features = [
        c for c in image_features_df.columns if str(c).startswith(f"Metadata_{count_prefix}")
    ]
    remove_cols = list(np.union1d(image_cols, count_features))
    keep_cols = list(np.union1d(strata, count_features))
    count_df = image_features_df[keep_cols].copy()
    count_df = count_df.groupby(strata, dropna=False).sum().reset_index()
    return df.merge(count_df, on=strata, how="left"), remove_cols


def aggregate_image_features(
    df: pd.DataFrame,
    image_features_df: pd.DataFrame,
    image_feature_categories: list[str],
    image_cols: list[str],
    strata: list[str],
    aggregation_operation: str,
    count_prefix: str = "Count",
) -> pd.DataFrame:
    """Counts summed and other image features aggregated per strata, left-joined onto ``df``."""
    from cytoplan.compat.pycytominer.aggregate import aggregate

    if count_prefix in image_feature_categories:
        df, remove_cols = aggregate_image_count_features(df, image_features_df, image_cols, strata)
    else:
        remove_cols = list(image_cols) + [
            c for c in image_features_df.columns if str(c).startswith(f"Metadata_{count_prefix}")
        ]
    if len(np.setdiff1d(image_feature_categories, [count_prefix])) != 0:
        image_features_df = image_features_df.drop(remove_cols, axis="columns", errors="ignore")
        features = list(np.setdiff1d(list(image_features_df.columns), strata))
        result: Any = aggregate(
            population_df=image_features_df,
            strata=strata,
            features=features,
            operation=aggregation_operation,
        )
        df = df.merge(result, on=strata, how="left")
    return df
