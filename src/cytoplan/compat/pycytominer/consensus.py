"""pycytominer's ``consensus``: one profile per replicate group (median, mean or MODZ)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cytoplan.compat.pycytominer.aggregate import aggregate
from cytoplan.compat.pycytominer.cyto_utils.load import load_profiles
from cytoplan.compat.pycytominer.cyto_utils.modz import modz
from cytoplan.compat.pycytominer.cyto_utils.util import (
    check_consensus_operation,
    write_to_file_if_user_specifies_output_details,
)

__all__ = ["consensus"]


@write_to_file_if_user_specifies_output_details
def consensus(
    profiles: Any,
    replicate_columns: list[str] = ["Metadata_Plate", "Metadata_Well"],  # noqa: B006
    operation: str = "median",
    features: str | list[str] = "infer",
    output_file: str | None = None,
    output_type: str | None = "csv",
    compression_options: Any = None,
    float_format: str | None = None,
    modz_args: dict[str, Any] = {"method": "spearman"},  # noqa: B006
) -> pd.DataFrame | str:
    """Consensus profiles per replicate group (pycytominer 1.7.1 ``consensus``).

    ``operation`` is checked case-insensitively but used as given, as in pycytominer:
    ``"Median"`` works, ``"MODZ"`` passes the check and then fails in ``aggregate``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Metadata_Plate": ["P", "P"], "Metadata_Well": ["A", "A"],
    ...                    "Cells_x": [1.0, 3.0]})
    >>> consensus(df).values.tolist()
    [['P', 'A', 2.0]]
    """
    check_consensus_operation(operation)
    profiles = load_profiles(profiles)
    if operation == "modz":
        args = dict(modz_args) if modz_args else {}
        return modz(
            population_df=profiles,
            replicate_columns=replicate_columns,
            features=features,
            method=args.get("method", "spearman"),
            min_weight=float(args.get("min_weight", 0.01)),
            precision=int(args.get("precision", 4)),
        )
    return aggregate(
        population_df=profiles,
        strata=replicate_columns,
        features=features,
        operation=operation,
    )
