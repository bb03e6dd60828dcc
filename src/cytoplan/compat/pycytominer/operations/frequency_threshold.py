"""pycytominer's ``operations.frequency_threshold`` (caret's nearZeroVar, with OR)."""

from __future__ import annotations

import pandas as pd

# pycytominer's module imports it too (code may reach it as an attribute of this module)
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features  # noqa: F401
from cytoplan.compat.pycytominer.operations._select import checked_features, select_drops

__all__ = ["calculate_frequency", "frequency_threshold"]


def frequency_threshold(
    population_df: pd.DataFrame,
    features: str | list[str] = "infer",
    samples: str = "all",
    freq_cut: float = 0.05,
    unique_cut: float = 0.01,
) -> list[str]:
    """Features with 2nd/1st value-count ratio ``< freq_cut`` or unique ratio ``< unique_cut``.

    Returned in feature order (pycytominer returns the same names in set order).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Cells_a": [1.0] * 99 + [2.0], "Cells_b": list(range(100))})
    >>> frequency_threshold(df)
    ['Cells_a']
    """
    if not 0 <= freq_cut <= 1:
        msg = "freq_cut variable must be between (0 and 1)"
        raise ValueError(msg)
    if not 0 <= unique_cut <= 1:
        msg = "unique_cut variable must be between (0 and 1)"
        raise ValueError(msg)
    features = checked_features(population_df, features, samples)
    return select_drops(
        population_df,
        "frequency_threshold",
        features,
        samples,
        freq_cut=freq_cut,
        unique_cut=unique_cut,
    )


def calculate_frequency(feature_column: pd.Series) -> float:
    """Count of the 2nd most common value over the most common one (0.0 if < 2 values).

    >>> import pandas as pd
    >>> calculate_frequency(pd.Series([1, 1, 1, 2]))
    0.3333333333333333
    """
    val_counts = feature_column.value_counts()
    if len(val_counts) < 2:
        return 0.0
    return float(val_counts.iloc[1] / val_counts.iloc[0])
