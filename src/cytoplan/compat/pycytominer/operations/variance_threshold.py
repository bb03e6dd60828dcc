"""pycytominer's ``operations.variance_threshold`` (1.7.x: a numeric variance filter)."""

from __future__ import annotations

import pandas as pd

# pycytominer's module imports it too (code may reach it as an attribute of this module)
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features  # noqa: F401
from cytoplan.compat.pycytominer.operations._select import checked_features, select_drops

__all__ = ["variance_threshold"]


def variance_threshold(
    population_df: pd.DataFrame,
    features: str | list[str] = "infer",
    samples: str = "all",
    min_variance: float = 1e-6,
) -> list[str]:
    """Features whose population variance (NaN skipped) is ``<= min_variance``.

    As with sklearn's ``VarianceThreshold``, a ``ValueError`` is raised when no
    feature passes.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Cells_a": [1.0, 1.0, 1.0], "Cells_b": [1.0, 2.0, 3.0]})
    >>> variance_threshold(df)
    ['Cells_a']
    """
    if not isinstance(min_variance, (int, float)):
        msg = "min_variance must be a float value"
        raise ValueError(msg)
    if min_variance < 0:
        msg = "min_variance must be non-negative"
        raise ValueError(msg)
    features = checked_features(population_df, features, samples)
    return select_drops(
        population_df, "variance_threshold", features, samples, min_variance=float(min_variance)
    )
