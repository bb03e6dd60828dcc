"""pycytominer's ``cyto_utils.features``: feature inference and feature-level helpers."""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl

from cytoplan.compat.pycytominer._frames import pandas_schema
from cytoplan.exceptions import SchemaError
from cytoplan.schema import infer_cp_features as _infer

__all__ = [
    "convert_compartment_format_to_list",
    "count_na_features",
    "drop_outlier_features",
    "infer_cp_features",
    "label_compartment",
]

_NO_FEATURES = (
    "No features or metadata found. Pycytominer expects CellProfiler column names by default. "
    "If you're using non-CellProfiler data, please do not 'infer' features. "
    "Instead, check if the function has a `features` or `meta_features` parameter, "
    "and input column names manually."
)


def label_compartment(
    cp_features: list[str], compartment: str, metadata_cols: list[str]
) -> list[str]:
    """Prefix raw CellProfiler names with their compartment (``Metadata_`` for metadata).

    pycytominer's list of valid compartments misspells Nuclei (``"Nuceli"``), so
    ``"nuclei"`` is rejected, as there.

    >>> label_compartment(["AreaShape_Area", "ObjectNumber"], "cells", ["ObjectNumber"])
    ['Cells_AreaShape_Area', 'Metadata_ObjectNumber']
    """
    compartment = compartment.title()
    avail_compartments = ["Cells", "Cytoplasm", "Nuceli", "Image", "Barcode"]
    if compartment not in avail_compartments:
        msg = f"provide valid compartment. One of: {avail_compartments}"
        raise ValueError(msg)
    return [f"Metadata_{x}" if x in metadata_cols else f"{compartment}_{x}" for x in cp_features]


def infer_cp_features(
    population_df: pd.DataFrame,
    compartments: str | list[str] = ["Cells", "Nuclei", "Cytoplasm"],  # noqa: B006
    metadata: bool = False,
    image_features: bool = False,
) -> list[str]:
    """pycytominer's feature inference (prefix rule) on a pandas frame's columns.

    Runs :func:`cytoplan.schema.infer_cp_features` on the frame's schema.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Metadata_Well": ["A01"], "Cells_x": [1.0], "CellsY": [2.0]})
    >>> infer_cp_features(df)
    ['Cells_x', 'CellsY']
    >>> infer_cp_features(df, metadata=True)
    ['Metadata_Well']
    """
    names = convert_compartment_format_to_list(compartments)
    # dtypes matter only for the columns the prefix rule keeps (nested and non-numeric
    # Image_ columns are skipped): the others are not inspected
    prefixes = tuple(str(name).title() for name in names) + (("Image",) if image_features else ())
    schema = pandas_schema(
        population_df,
        inspect=(lambda name: False) if metadata else (lambda name: name.startswith(prefixes)),
    )
    # pandas counts booleans as numeric (is_numeric_dtype), so a boolean Image_ column is kept
    schema = pl.Schema({n: pl.Int8() if t == pl.Boolean else t for n, t in schema.items()})
    try:
        return _infer(
            schema,
            names,
            metadata=metadata,
            image_features=image_features,
        )
    except SchemaError:
        raise ValueError(_NO_FEATURES) from None


def count_na_features(population_df: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Missing values per feature: one column ``num_na`` indexed by feature.

    >>> import pandas as pd
    >>> count_na_features(pd.DataFrame({"a": [None, 1.0]}), ["a"])["num_na"].tolist()
    [1]
    """
    return pd.DataFrame(population_df.loc[:, features].isna().sum(), columns=["num_na"])


def drop_outlier_features(
    population_df: pd.DataFrame,
    features: str | list[str] = "infer",
    samples: str = "all",
    outlier_cutoff: float = 500,
) -> list[str]:
    """Features whose absolute max or min exceeds ``outlier_cutoff`` (feature order).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Cells_a": [1.0, 900.0], "Cells_b": [1.0, 2.0]})
    >>> drop_outlier_features(df)
    ['Cells_a']
    """
    from cytoplan.compat.pycytominer.operations._select import select_drops

    if features == "infer":
        if samples != "all":
            features = infer_cp_features(population_df.query(samples))
        else:
            features = infer_cp_features(population_df)
    feature_list = [features] if isinstance(features, str) else list(features)
    params: dict[str, Any] = {"outlier_cutoff": outlier_cutoff}
    return select_drops(population_df, "drop_outliers", feature_list, samples, **params)


def convert_compartment_format_to_list(compartments: str | list[str]) -> list[str]:
    """A list as is, anything else wrapped in a list.

    >>> convert_compartment_format_to_list("cells")
    ['cells']
    """
    if isinstance(compartments, list):
        return compartments
    return [compartments]
