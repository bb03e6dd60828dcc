"""pycytominer's ``operations``: feature-selection rules and transforms."""

from __future__ import annotations

from cytoplan.compat.pycytominer.operations.correlation_threshold import correlation_threshold
from cytoplan.compat.pycytominer.operations.frequency_threshold import (
    calculate_frequency,
    frequency_threshold,
)
from cytoplan.compat.pycytominer.operations.get_na_columns import get_na_columns
from cytoplan.compat.pycytominer.operations.noise_removal import noise_removal
from cytoplan.compat.pycytominer.operations.transform import (
    InverseNormalTransform,
    RobustMAD,
    Spherize,
)
from cytoplan.compat.pycytominer.operations.variance_threshold import variance_threshold

__all__ = [
    "InverseNormalTransform",
    "RobustMAD",
    "Spherize",
    "calculate_frequency",
    "correlation_threshold",
    "frequency_threshold",
    "get_na_columns",
    "noise_removal",
    "variance_threshold",
]
