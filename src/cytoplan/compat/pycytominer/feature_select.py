"""pycytominer's ``feature_select``: run selection operations in order, drop what they flag.

Each operation is one fit of :class:`cytoplan.ops.feature_select.FeatureSelector` on the
features still in play (streamed statistics; only small results are collected); the
columns are then dropped from the pandas frame, so row order, the index and dtypes are
untouched.
"""

from __future__ import annotations

import math
from typing import Any

from cytoplan.compat.pycytominer._frames import converted_once
from cytoplan.compat.pycytominer.cyto_utils.blocklist import Blocklist, get_blocklist_features
from cytoplan.compat.pycytominer.cyto_utils.features import (
    drop_outlier_features,
    infer_cp_features,
)
from cytoplan.compat.pycytominer.cyto_utils.load import load_profiles
from cytoplan.compat.pycytominer.cyto_utils.util import (
    write_to_file_if_user_specifies_output_details,
)
from cytoplan.compat.pycytominer.operations import (
    correlation_threshold,
    frequency_threshold,
    get_na_columns,
    noise_removal,
    variance_threshold,
)
from cytoplan.compat.pycytominer.operations._select import select_drops_many
from cytoplan.query import columns_in

__all__ = ["Blocklist", "feature_select"]

_ALL_OPS = [
    "variance_threshold",
    "frequency_threshold",
    "correlation_threshold",
    "drop_na_columns",
    "blocklist",
    "drop_outliers",
    "noise_removal",
]


@write_to_file_if_user_specifies_output_details
def feature_select(
    profiles: Any,
    features: str | list[str] = "infer",
    image_features: bool = False,
    samples: str = "all",
    operation: str | list[str] = "variance_threshold",
    output_file: str | None = None,
    output_type: str | None = "csv",
    na_cutoff: float = 0.05,
    corr_threshold: float = 0.9,
    corr_method: str = "pearson",
    freq_cut: float = 0.05,
    unique_cut: float = 0.01,
    compression_options: Any = None,
    float_format: str | None = None,
    blocklist: Any = None,
    blocklist_name: str | list[str] | None = None,
    blocklist_file: str | None = None,
    outlier_cutoff: float = 500,
    noise_removal_perturb_groups: str | list[Any] | None = None,
    noise_removal_stdev_cutoff: float | None = None,
    min_variance: float = 1e-6,
) -> Any:
    """Drop features flagged by the operations (pycytominer 1.7.1 ``feature_select``).

    An ``operation`` that is neither a string nor a list is **returned** as a
    ``ValueError`` object, not raised (pycytominer's behaviour).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"Metadata_Well": ["A", "B", "C"], "Cells_flat": [1.0, 1.0, 1.0],
    ...                    "Cells_x": [1.0, 2.0, 4.0]})
    >>> feature_select(df).columns.tolist()
    ['Metadata_Well', 'Cells_x']
    """
    if isinstance(operation, list):
        if not all(x in _ALL_OPS for x in operation):
            msg = f"Some operation(s) {operation} not supported. Choose {_ALL_OPS}"
            raise ValueError(msg)
        operations = list(operation)
    elif isinstance(operation, str):
        if operation not in _ALL_OPS:
            msg = f"{operation} not supported. Choose {_ALL_OPS}"
            raise ValueError(msg)
        operations = operation.split()
    else:
        return ValueError("Operation must be a list or string")
    profiles = load_profiles(profiles)
    if features == "infer":
        features = infer_cp_features(profiles, image_features=image_features)
    remaining = list(features) if not isinstance(features, str) else [features]
    # pandas' statistics read a boolean feature as 0/1
    flags = [f for f in remaining if f in profiles.columns and profiles[f].dtype == bool]
    numbers = profiles.astype(dict.fromkeys(flags, "float64")) if flags else profiles
    with converted_once(numbers, [*remaining, *_query_columns(samples)]):
        excluded = _run_operations(
            numbers,
            operations,
            remaining,
            samples=samples,
            na_cutoff=na_cutoff,
            corr_threshold=corr_threshold,
            corr_method=corr_method,
            freq_cut=freq_cut,
            unique_cut=unique_cut,
            blocklist=blocklist,
            blocklist_name=blocklist_name,
            blocklist_file=blocklist_file,
            outlier_cutoff=outlier_cutoff,
            noise_removal_perturb_groups=noise_removal_perturb_groups,
            noise_removal_stdev_cutoff=noise_removal_stdev_cutoff,
            min_variance=min_variance,
        )
    return profiles.drop(list(dict.fromkeys(excluded)), axis="columns")


#: operations decided by cytoplan's FeatureSelector on the features still in play
_ENGINE_OPS = frozenset(
    {
        "variance_threshold",
        "frequency_threshold",
        "correlation_threshold",
        "drop_na_columns",
        "drop_outliers",
    }
)


def _engine_run(operations: list[str], start: int) -> list[str]:
    """The consecutive engine operations from ``start`` (empty if that one is not)."""
    end = start
    while end < len(operations) and operations[end] in _ENGINE_OPS:
        end += 1
    return operations[start:end]


def _number(value: Any, low: float | None = None, high: float | None = None) -> bool:
    """A plain number (not NaN, not bool) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _run_params(
    run: list[str],
    *,
    samples: Any,
    na_cutoff: Any,
    corr_threshold: Any,
    corr_method: Any,
    freq_cut: Any,
    unique_cut: Any,
    outlier_cutoff: Any,
    min_variance: Any,
) -> dict[str, Any] | None:
    """The engine parameters of ``run`` when every check the single operations make
    passes; None otherwise (then the operations run one by one and raise in
    pycytominer's order)."""
    if not isinstance(samples, str):
        return None
    params: dict[str, Any] = {}
    for op in run:
        if op == "variance_threshold":
            if not _number(min_variance, low=0):
                return None
            params["min_variance"] = float(min_variance)
        elif op == "frequency_threshold":
            if not (_number(freq_cut, 0, 1) and _number(unique_cut, 0, 1)):
                return None
            params["freq_cut"], params["unique_cut"] = freq_cut, unique_cut
        elif op == "correlation_threshold":
            if not (_number(corr_threshold, 0, 1) and isinstance(corr_method, str)):
                return None
            if corr_method.lower() not in ("pearson", "spearman", "kendall"):
                return None
            params["corr_threshold"] = corr_threshold
            params["corr_method"] = corr_method.lower()
        elif op == "drop_na_columns":
            if not _number(na_cutoff, 0, 1):
                return None
            params["na_cutoff"] = na_cutoff
        elif op == "drop_outliers":
            if not _number(outlier_cutoff):
                return None
            params["outlier_cutoff"] = outlier_cutoff
    return params


def _query_columns(samples: str) -> list[str]:
    """The columns a ``samples`` query names (none for ``"all"`` or a query that fails:
    the operation reports that error itself)."""
    if samples == "all":
        return []
    try:
        return columns_in(samples)
    except Exception:
        return []


def _run_operations(
    profiles: Any,
    operations: list[str],
    remaining: list[str],
    *,
    samples: str,
    na_cutoff: float,
    corr_threshold: float,
    corr_method: str,
    freq_cut: float,
    unique_cut: float,
    blocklist: Any,
    blocklist_name: str | list[str] | None,
    blocklist_file: str | None,
    outlier_cutoff: float,
    noise_removal_perturb_groups: str | list[Any] | None,
    noise_removal_stdev_cutoff: float | None,
    min_variance: float,
) -> list[str]:
    """The features each operation drops, in order (each on the features still in play)."""
    excluded: list[str] = []
    position = 0
    while position < len(operations):
        run = _engine_run(operations, position)
        params = (
            _run_params(
                run,
                samples=samples,
                na_cutoff=na_cutoff,
                corr_threshold=corr_threshold,
                corr_method=corr_method,
                freq_cut=freq_cut,
                unique_cut=unique_cut,
                outlier_cutoff=outlier_cutoff,
                min_variance=min_variance,
            )
            if len(run) > 1 and remaining
            else None
        )
        if params is not None:
            # consecutive engine operations in one fit: the same drops, shared passes
            excluded += select_drops_many(profiles, run, remaining, samples, **params)
            remaining = [f for f in remaining if f not in excluded]
            position += len(run)
            continue
        op = operations[position]
        position += 1
        if not remaining and op != "blocklist":
            continue  # every feature is gone: only the blocklist (any column) can drop more
        if op == "variance_threshold":
            exclude = variance_threshold(
                profiles, features=remaining, samples=samples, min_variance=min_variance
            )
        elif op == "frequency_threshold":
            exclude = frequency_threshold(
                profiles,
                features=remaining,
                samples=samples,
                freq_cut=freq_cut,
                unique_cut=unique_cut,
            )
        elif op == "drop_na_columns":
            exclude = get_na_columns(
                profiles, features=remaining, samples=samples, cutoff=na_cutoff
            )
        elif op == "correlation_threshold":
            exclude = correlation_threshold(
                profiles,
                features=remaining,
                samples=samples,
                threshold=corr_threshold,
                method=corr_method,
            )
        elif op == "blocklist":
            exclude = get_blocklist_features(
                population_df=profiles,
                blocklist=blocklist,
                blocklist_name=blocklist_name,
                blocklist_file=blocklist_file,
            )
        elif op == "drop_outliers":
            exclude = drop_outlier_features(
                profiles, features=remaining, samples=samples, outlier_cutoff=outlier_cutoff
            )
        else:
            if noise_removal_perturb_groups is None or noise_removal_stdev_cutoff is None:
                msg = (
                    "If using noise_removal, must provide both noise_removal_perturb_groups "
                    "and noise_removal_stdev_cutoff"
                )
                raise ValueError(msg)
            exclude = noise_removal(
                profiles,
                noise_removal_perturb_groups,
                features=remaining,
                samples=samples,
                noise_removal_stdev_cutoff=noise_removal_stdev_cutoff,
            )
        excluded += exclude
        remaining = [f for f in remaining if f not in excluded]
    return excluded
