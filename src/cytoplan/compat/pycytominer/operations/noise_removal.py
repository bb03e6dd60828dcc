"""pycytominer's ``operations.noise_removal``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.operations._select import select_drops

__all__ = ["noise_removal"]

_GROUP = "__compat_group_id__"


def noise_removal(
    population_df: pd.DataFrame,
    noise_removal_perturb_groups: str | list[Any],
    features: str | list[str] = "infer",
    samples: str = "all",
    noise_removal_stdev_cutoff: float = 0.8,
) -> list[str]:
    """Features whose mean within-group population SD exceeds the cutoff.

    A list of labels is aligned on the (queried) frame's index as pycytominer does:
    labels are numbered 0..n-1, so rows whose index is not in that range get no group
    and are left out.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"g": ["a", "a", "b", "b"], "Cells_x": [0.0, 4.0, 0.0, 4.0],
    ...                    "Cells_y": [1.0, 1.1, 2.0, 2.1]})
    >>> noise_removal(df, "g")
    ['Cells_x']
    """
    frame = population_df if samples == "all" else population_df.query(samples)
    if features == "infer":
        features = infer_cp_features(frame)
    if isinstance(noise_removal_perturb_groups, str):
        if noise_removal_perturb_groups not in frame.columns:
            msg = 'f"{perturb} not found. Are you sure it is a metadata column?'
            raise ValueError(msg)
        labels = frame[noise_removal_perturb_groups]
    elif isinstance(noise_removal_perturb_groups, list):
        if len(noise_removal_perturb_groups) != len(frame):
            msg = (
                f"The length of input list: {len(noise_removal_perturb_groups)} is not "
                f"equivalent to your data: {frame.shape[0]}"
            )
            raise ValueError(msg)
        labels = pd.Series(noise_removal_perturb_groups).reindex(frame.index)
    else:
        msg = (
            "noise_removal_perturb_groups must be a list corresponding to row perturbations "
            "or a str specifying the name of the metadata column."
        )
        raise TypeError(msg)
    grouped = frame.loc[:, list(features)].assign(**{_GROUP: labels})
    grouped = grouped[grouped[_GROUP].notna()]
    return select_drops(
        grouped,
        "noise_removal",
        list(features),
        "all",
        noise_removal_perturb_groups=_GROUP,
        noise_removal_stdev_cutoff=noise_removal_stdev_cutoff,
    )
