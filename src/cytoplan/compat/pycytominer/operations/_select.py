"""One feature-selection operation through :class:`cytoplan.ops.feature_select.FeatureSelector`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors, to_lazy
from cytoplan.ops.feature_select import FeatureSelector
from cytoplan.query import columns_in

if TYPE_CHECKING:
    from cytoplan._typing import FeatureSelectOperation

__all__ = ["checked_features", "select_drops", "select_drops_many"]


def checked_features(population_df: pd.DataFrame, features: Any, samples: Any) -> list[str]:
    """The feature list, checked as pycytominer's variance and frequency filters do.

    ``samples`` must be a string and ``features`` ``"infer"`` or a list (ValueError).

    >>> import pandas as pd
    >>> checked_features(pd.DataFrame({"Cells_a": [1.0], "x": [2]}), "infer", "all")
    ['Cells_a']
    """
    from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features

    if not isinstance(samples, str):
        msg = "samples must be a string"
        raise ValueError(msg)
    if features == "infer":
        return list(infer_cp_features(population_df))
    if not isinstance(features, list):
        msg = 'features must be a list of column names or "infer"'
        raise ValueError(msg)
    return features


def select_drops(
    population_df: pd.DataFrame,
    operation: str,
    features: list[str],
    samples: str,
    **params: Any,
) -> list[str]:
    """The features ``operation`` drops, fitted on the ``samples`` rows, in feature order.

    ``samples`` is ``"all"`` or a pandas-style query, translated to a Polars predicate
    (:mod:`cytoplan.query`); only the features and the columns the query names are
    handed to the engine.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Cells_a": [1.0, 1.0], "Cells_b": [1.0, 2.0]})
    >>> select_drops(df, "variance_threshold", ["Cells_a", "Cells_b"], "all", min_variance=0.0)
    ['Cells_a']
    """
    return select_drops_many(population_df, [operation], features, samples, **params)


def select_drops_many(
    population_df: pd.DataFrame,
    operations: list[str],
    features: list[str],
    samples: str,
    **params: Any,
) -> list[str]:
    """The features ``operations`` drop, run in order in one fit, in feature order.

    Each operation sees the features the earlier ones kept (pycytominer's
    ``feature_select`` loop); one fit shares the statistics passes (row count,
    missing values and extremes) between the operations.
    """
    reference = None if samples == "all" else samples
    columns = list(features)
    if reference is not None:
        with pycytominer_errors():
            columns += columns_in(reference)
    group = params.get("noise_removal_perturb_groups")
    if isinstance(group, str):
        columns.append(group)
    lf = to_lazy(population_df, columns)
    with pycytominer_errors():
        selector = FeatureSelector(
            operations=[cast("FeatureSelectOperation", op) for op in operations],
            features=list(features),
            reference=reference,
            **params,
        ).fit(lf)
    dropped = set(selector.dropped_["feature"].to_list())
    return [name for name in features if name in dropped]
