"""pycytominer's ``annotate``: join a platemap (and external metadata) onto profiles.

The join runs in :func:`cytoplan.ops.annotate.annotate` with pycytominer's semantics
(platemap row order, unmatched profiles dropped, duplicated platemap keys repeat rows,
``_platemap``/``_external`` suffixes, ``Metadata_*`` first).
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors, to_lazy, to_pandas_like
from cytoplan.compat.pycytominer.cyto_utils.annotate_custom import (
    annotate_cmap,
    cp_clean,
    prepare_external_metadata_for_annotate,
)
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.cyto_utils.load import load_platemap, load_profiles
from cytoplan.compat.pycytominer.cyto_utils.util import (
    write_to_file_if_user_specifies_output_details,
)
from cytoplan.ops.annotate import annotate as _annotate

__all__ = ["annotate", "annotate_cmap", "cp_clean", "infer_cp_features"]

_CMAP_KEYS = ("cell_id", "perturbation_mode")


@write_to_file_if_user_specifies_output_details
def annotate(
    profiles: Any,
    platemap: Any,
    join_on: list[str] = ["Metadata_well_position", "Metadata_Well"],  # noqa: B006
    output_file: str | None = None,
    output_type: str | None = "csv",
    add_metadata_id_to_platemap: bool = True,
    format_broad_cmap: bool = False,
    clean_cellprofiler: bool = True,
    external_metadata: Any = None,
    external_join_on: Any = None,
    compression_options: Any = None,
    float_format: str | None = None,
    cmap_args: dict[str, Any] | None = None,
    platemap_sep: str | None = None,
    **kwargs: Any,
) -> pd.DataFrame | str:
    """Annotate profiles with platemap metadata (pycytominer 1.7.1 ``annotate``).

    Examples
    --------
    >>> import pandas as pd
    >>> profiles = pd.DataFrame(
    ...     {"Metadata_Well": ["B01", "A01", "C01"], "Cells_x": [2.0, 1.0, 3.0]}
    ... )
    >>> platemap = pd.DataFrame({"well_position": ["A01", "B01"], "treatment": ["dmso", "drug"]})
    >>> annotate(profiles, platemap).values.tolist()
    [['dmso', 'A01', 1.0], ['drug', 'B01', 2.0]]
    """
    profiles = load_profiles(profiles)
    platemap = load_platemap(platemap, add_metadata_id_to_platemap, sep=platemap_sep)
    if (external_metadata is None) != (external_join_on is None):
        msg = "Both `external_metadata` and `external_join_on` must be provided together."
        raise ValueError(msg)
    if format_broad_cmap:
        warnings.warn(
            "The `format_broad_cmap` parameter in annotate() is deprecated and will be "
            "removed in a future release.",
            category=DeprecationWarning,
            stacklevel=2,
        )
    keys = [join_on[0], join_on[1]]
    if not all(isinstance(key, str) for key in keys):
        msg = (
            f"join_on={join_on!r}: cytoplan joins one platemap column to one profile "
            "column; combine several key columns into one (e.g. plate and well) first"
        )
        raise ValueError(msg)
    if keys[0] not in platemap.columns:
        raise KeyError(keys[0])
    if keys[1] not in profiles.columns:
        raise KeyError(keys[1])
    external = None
    like = [profiles, platemap.add_suffix("_platemap"), platemap]
    platemap, profiles = _same_number_type(platemap, profiles, [(keys[0], keys[1])])
    if isinstance(external_metadata, str):
        external_metadata = load_profiles(external_metadata)
    if isinstance(external_metadata, pd.DataFrame):
        prepared = prepare_external_metadata_for_annotate(external_metadata)
        like += [prepared.add_suffix("_external"), prepared]
        for key in [external_join_on] if isinstance(external_join_on, str) else external_join_on:
            if key in platemap.columns:  # the annotated side's key comes from the platemap
                platemap, prepared = _same_number_type(platemap, prepared, [(key, key)])
            else:
                profiles, prepared = _same_number_type(profiles, prepared, [(key, key)])
        external = to_lazy(prepared, prepared.columns)
    if format_broad_cmap:
        if not any("Metadata_broad_sample" in frame.columns for frame in like):
            msg = "Are you sure this is a CMAP file? 'Metadata_broad_sample column not found.'"
            raise ValueError(msg)
        # pycytominer reads the two keys it knows and ignores any other
        cmap_args = {k: v for k, v in (cmap_args or {}).items() if k in _CMAP_KEYS}
    with pycytominer_errors():
        result = _annotate(
            to_lazy(profiles, profiles.columns),
            to_lazy(platemap, platemap.columns),
            join_on=keys,
            add_metadata_prefix=False,
            external_metadata=external,
            external_join_on=external_join_on,
            clean_cellprofiler=clean_cellprofiler,
            format_broad_cmap=format_broad_cmap,
            cmap_args=cmap_args,
            unmatched="drop",
            duplicates="allow",
            order="platemap",
        ).collect()
    dtypes = _dtypes(like, clean_cellprofiler=clean_cellprofiler)
    plate_key, profile_key = like[2][keys[0]], like[0][keys[1]]
    numbers = {plate_key.dtype.kind, profile_key.dtype.kind} <= {"i", "u", "f"}
    if keys[0] == keys[1] and numbers:  # pandas' merge keeps the platemap's key type
        dtypes[keys[0]] = pd.Series(dtype=plate_key.dtype)
    annotated = to_pandas_like(result, dtypes)
    if external is not None:  # pycytominer drops exact duplicate rows of the joined result
        annotated = annotated.drop_duplicates()  # the index keeps its gaps, as there
    return annotated


def _same_number_type(
    left: pd.DataFrame, right: pd.DataFrame, pairs: list[tuple[str, str]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join keys that are numbers of different kinds (``1.0`` and ``1``), as float64 on
    both sides: pandas matches them by value, cytoplan's join by their text."""
    for a, b in pairs:
        if a not in left.columns or b not in right.columns:
            continue
        kinds = {left[a].dtype.kind, right[b].dtype.kind}
        numeric = kinds <= {"i", "u", "f"}
        if numeric and "f" in kinds and len(kinds) > 1:
            left = left.assign(**{a: left[a].astype("float64")})
            right = right.assign(**{b: right[b].astype("float64")})
    return left, right


def _dtypes(frames: list[pd.DataFrame], *, clean_cellprofiler: bool) -> pd.DataFrame:
    """An empty frame carrying the input dtype of every column name the output can have."""
    columns: dict[str, Any] = {}
    for frame in reversed(frames):
        for name in frame.columns:
            columns[name] = frame[name].dtype
    if clean_cellprofiler:
        for part in ("Plate", "Well", "Site"):
            source = f"Image_Metadata_{part}"
            if source in columns:
                columns.setdefault(f"Metadata_{part}", columns[source])
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
