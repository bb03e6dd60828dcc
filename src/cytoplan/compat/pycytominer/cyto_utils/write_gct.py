"""pycytominer's ``cyto_utils.write_gct``: profiles as a GCT 1.3 file (for Morpheus).

The file is pycytominer's pandas layout, written atomically. Values go through the
transposed frame as pandas holds them, so the bytes are pycytominer's for every dtype
(an integer feature beside float features is written ``1.0``, float32 values as their
float64 text, nullable missing values as ``<NA>``). cytoplan's own
:func:`cytoplan.io.gct.write_gct` applies the same widening to Polars frames, which
have no pandas nullable dtypes to keep.
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import pandas as pd

from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.io._atomic import atomic_path

__all__ = ["write_gct"]


def write_gct(
    profiles: pd.DataFrame,
    output_file: str,
    features: str | list[str] = "infer",
    meta_features: str | list[str] = "infer",
    feature_metadata: pd.DataFrame | None = None,
    version: str = "#1.3",
) -> None:
    """Write ``profiles`` as GCT 1.3: features as rows, samples as columns.

    Layout: ``#1.3``; dimensions; an ``id`` row of ``SAMPLE_<i>``; one row per
    metadata column (``Metadata_`` removed); one row per feature. The feature-metadata
    column is ``cp_feature_name`` unless ``feature_metadata`` (indexed, with an ``id``
    row) is given.

    >>> import pandas as pd, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.gct"
    >>> write_gct(pd.DataFrame({"Metadata_Well": ["A"], "Cells_x": [0.5]}), str(path))
    >>> path.read_text().splitlines()[:3]
    ['#1.3', '1\\t1\\t1\\t1', 'id\\tcp_feature_name\\tSAMPLE_0']
    """
    if version != "#1.3":
        msg = "Only version #1.3 is currently supported."
        raise ValueError(msg)
    feature_names = infer_cp_features(profiles) if features == "infer" else list(features)
    meta_names = (
        infer_cp_features(profiles, metadata=True)
        if meta_features == "infer"
        else list(meta_features)
    )
    feature_df = profiles.loc[:, feature_names].reset_index(drop=True).transpose()
    metadata_df = profiles.loc[:, meta_names]
    full_df = pd.concat([_sample_metadata(metadata_df), feature_df], axis=0)
    if isinstance(feature_metadata, pd.DataFrame):
        nrow_metadata = feature_metadata.shape[1]
        if "id" not in feature_metadata.index.tolist():
            msg = (
                "make sure feature metadata has row named 'id' that stores feature metadata names!"
            )
            raise ValueError(msg)
        full_df = feature_metadata.merge(full_df, how="right", left_index=True, right_index=True)
    else:
        labels: list[Any] = ["cp_feature_name", *[np.nan] * metadata_df.shape[1]]
        full_df.insert(0, column="feature_metadata", value=labels + feature_df.index.tolist())
        nrow_metadata = 1
    full_df = full_df.reset_index()
    dimensions = [*feature_df.shape, nrow_metadata, metadata_df.shape[1]]
    with atomic_path(output_file) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow([version])
        writer.writerow(dimensions)
        for _, row in full_df.iterrows():
            writer.writerow(row)


def _sample_metadata(metadata_df: pd.DataFrame) -> pd.DataFrame:
    """The ``id`` row (``SAMPLE_<i>``) and one row per metadata column, ``Metadata_`` removed."""
    part = metadata_df.transpose()
    part.columns = pd.Index([f"SAMPLE_{x}" for x in part.columns])
    part = part.transpose().reset_index().rename({"index": "id"}, axis="columns").transpose()
    part.index = pd.Index([str(x).replace("Metadata_", "") for x in part.index])
    return part
