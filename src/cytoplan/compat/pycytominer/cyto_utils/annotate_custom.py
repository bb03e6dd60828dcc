"""pycytominer's ``cyto_utils.annotate_custom``: CMAP columns, ``cp_clean``, external metadata.

Each function converts the frame once and runs the matching expression plan of
:mod:`cytoplan.ops.annotate`.
"""

from __future__ import annotations

import warnings

import pandas as pd
import polars as pl

from cytoplan.compat.pycytominer._frames import (
    pandas_schema,
    pycytominer_errors,
    to_lazy,
    to_pandas_like,
)
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.ops import annotate as _ops

__all__ = [
    "annotate_cmap",
    "cp_clean",
    "infer_cp_features",
    "prepare_external_metadata_for_annotate",
]

_PERT_MODES = ["chemical", "genetic", "none"]


def annotate_cmap(
    annotated: pd.DataFrame,
    annotate_join_on: str,
    cell_id: str = "unknown",
    perturbation_mode: str = "none",
) -> pd.DataFrame:
    """Add Broad CMAP columns (deprecated in pycytominer; ``DeprecationWarning``).

    Raises ``ValueError`` for an unknown ``perturbation_mode`` or a missing
    ``Metadata_broad_sample`` column.
    """
    warnings.warn(
        "annotate_cmap is deprecated and will be removed in a future release.",
        DeprecationWarning,
        stacklevel=2,
    )
    if perturbation_mode not in _PERT_MODES:
        msg = f"perturbation mode must be one of {_PERT_MODES}"
        raise ValueError(msg)
    if "Metadata_broad_sample" not in annotated.columns:
        msg = "Are you sure this is a CMAP file? 'Metadata_broad_sample column not found."
        raise ValueError(msg)
    with pycytominer_errors():
        out = _ops.annotate_cmap(
            to_lazy(annotated, annotated.columns),
            join_on=annotate_join_on,
            cell_id=cell_id,
            perturbation_mode=perturbation_mode,  # type: ignore[arg-type]
        ).collect()
    return to_pandas_like(out, annotated)


def cp_clean(profiles: pd.DataFrame) -> pd.DataFrame:
    """Rename ``Image_Metadata_Plate/Well/Site`` to ``Metadata_Plate/Well/Site``.

    >>> import pandas as pd
    >>> cp_clean(pd.DataFrame({"Image_Metadata_Well": ["A"]})).columns.tolist()
    ['Metadata_Well']
    """
    return profiles.rename(
        {
            "Image_Metadata_Plate": "Metadata_Plate",
            "Image_Metadata_Well": "Metadata_Well",
            "Image_Metadata_Site": "Metadata_Site",
        },
        axis="columns",
    )


def prepare_external_metadata_for_annotate(external_metadata: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``Metadata_`` to external-metadata columns that are not features.

    Kept as is: ``Metadata_*``, compartment features (``Cells*``, ``Nuclei*``,
    ``Cytoplasm*``), numeric ``Image_*`` and ``Image_Metadata_*``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"well": ["A"], "Cells_x": [1.0], "Metadata_y": [1]})
    >>> prepare_external_metadata_for_annotate(df).columns.tolist()
    ['Metadata_well', 'Cells_x', 'Metadata_y']
    """
    empty = pl.LazyFrame(schema=pandas_schema(external_metadata))
    with pycytominer_errors():
        renamed = _ops.prepare_external_metadata(empty).collect_schema().names()
    out = external_metadata.copy()
    out.columns = pd.Index(renamed)
    return out
