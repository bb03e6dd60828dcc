"""Type aliases shared across cytoplan (no runtime imports beyond the stdlib)."""

from __future__ import annotations

from typing import Literal, TypeAlias

AggregateMethod: TypeAlias = Literal["median", "mean"]
NormalizeMethod: TypeAlias = Literal[
    "standardize", "robustize", "mad_robustize", "spherize", "inverse_normal"
]
SpherizeMethod: TypeAlias = Literal["PCA", "ZCA", "PCA-cor", "ZCA-cor"]
CorrelationMethod: TypeAlias = Literal["pearson", "spearman", "kendall"]
ConsensusMethod: TypeAlias = Literal["median", "mean", "modz"]
FeatureSelectOperation: TypeAlias = Literal[
    "variance_threshold",
    "frequency_threshold",
    "correlation_threshold",
    "drop_na_columns",
    "blocklist",
    "drop_outliers",
    "noise_removal",
]
ProfileFormat: TypeAlias = Literal["parquet", "csv", "tsv"]
StorageOptions: TypeAlias = dict[str, str]
