"""pycytominer's ``operations.correlation_threshold`` (signed pair rule)."""

from __future__ import annotations

import pandas as pd

from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.cyto_utils.util import (
    check_correlation_method,
    get_pairwise_correlation,
)
from cytoplan.compat.pycytominer.operations._select import select_drops

__all__ = ["correlation_threshold", "determine_high_cor_pair", "get_pairwise_correlation"]


def correlation_threshold(
    population_df: pd.DataFrame,
    features: str | list[str] = "infer",
    samples: str = "all",
    threshold: float = 0.9,
    method: str = "pearson",
) -> list[str]:
    """Features to drop from pairs whose (signed) correlation exceeds ``threshold``.

    For each such pair the member with the larger sum of absolute correlations is
    dropped (pycytominer's non-iterative rule); exact ties in those sums are broken
    deterministically by cytoplan.

    >>> import pandas as pd
    >>> df = pd.DataFrame(
    ...     {"Cells_a": [1.0, 2.0, 3.0, 4.0], "Cells_b": [1.0, 2.0, 3.0, 4.5],
    ...      "Cells_c": [4.0, 1.0, 3.0, 2.0]}
    ... )
    >>> correlation_threshold(df)
    ['Cells_a']
    """
    method = check_correlation_method(method)
    if not 0 <= threshold <= 1:
        msg = "threshold variable must be between (0 and 1)"
        raise ValueError(msg)
    if features == "infer":
        features = infer_cp_features(population_df)
    return select_drops(
        population_df,
        "correlation_threshold",
        list(features),
        samples,
        corr_threshold=threshold,
        corr_method=method,
    )


def determine_high_cor_pair(correlation_row: pd.Series, sorted_correlation_pairs: pd.Index) -> str:
    """Of ``pair_a``/``pair_b``, the one later in the ascending |r|-sum order.

    >>> import pandas as pd
    >>> row = pd.Series({"pair_a": "x", "pair_b": "y"})
    >>> determine_high_cor_pair(row, pd.Index(["y", "x"]))
    'x'
    """
    pair_a = correlation_row["pair_a"]
    pair_b = correlation_row["pair_b"]
    a = sorted_correlation_pairs.get_indexer_for(pd.Index([pair_a]))[0]
    b = sorted_correlation_pairs.get_indexer_for(pd.Index([pair_b]))[0]
    return str(pair_a if a > b else pair_b)
