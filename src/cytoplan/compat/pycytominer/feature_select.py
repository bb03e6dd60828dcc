"""pycytominer's ``feature_select``: run selection operations in order, drop what they flag.

Each operation is one fit of :class:`cytoplan.ops.feature_select.FeatureSelector` on the
features still in play (streamed statistics; only small results are collected); the
columns are then dropped from the pandas frame, so row order, the index and dtypes are
untouched.
"""

from __future__ import annotations

from typing import Any

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
    excluded: list[str] = []
    for op in operations:
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
    return profiles.drop(list(dict.fromkeys(excluded)), axis="columns")
