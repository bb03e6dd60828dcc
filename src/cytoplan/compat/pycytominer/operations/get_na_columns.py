"""pycytominer's ``operations.get_na_columns`` (the ``drop_na_columns`` operation)."""

from __future__ import annotations

import pandas as pd

from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.operations._select import select_drops

__all__ = ["get_na_columns"]


def get_na_columns(
    population_df: pd.DataFrame,
    features: str | list[str] = "infer",
    samples: str = "all",
    cutoff: float = 0.05,
) -> list[str]:
    """Features whose share of missing values is strictly above ``cutoff``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Cells_a": [None, 1.0], "Cells_b": [1.0, 2.0]})
    >>> get_na_columns(df)
    ['Cells_a']
    """
    if not 0 <= cutoff <= 1:
        msg = "cutoff variable must be between (0 and 1)"
        raise ValueError(msg)
    if features == "infer":
        features = infer_cp_features(population_df)
    return select_drops(population_df, "drop_na_columns", list(features), samples, na_cutoff=cutoff)
