"""pycytominer's ``cyto_utils.write_gct``: profiles as a GCT 1.3 file (for Morpheus).

Written by :func:`cytoplan.io.gct.write_gct` (byte for byte as pycytominer writes it:
``str()`` of each value, ``nan`` for missing), atomically; with ``feature_metadata``
(an index-labelled pandas frame) the pandas layout is built here.
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors, to_lazy
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.io._atomic import atomic_path
from cytoplan.io.gct import write_gct as _write_gct

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
    if feature_metadata is None:
        meta = (
            infer_cp_features(profiles, metadata=True)
            if meta_features == "infer"
            else list(meta_features)
        )
        frame = to_lazy(profiles, [*meta, *feature_names]).collect()
        with pycytominer_errors():
            _write_gct(frame, output_file, features=feature_names, meta_features=meta)
        return
    feature_df = profiles.loc[:, feature_names].reset_index(drop=True).transpose()
    meta_names = (
        infer_cp_features(profiles, metadata=True)
        if meta_features == "infer"
        else list(meta_features)
    )
    metadata_df = profiles.loc[:, meta_names]
    metadata_part = metadata_df.transpose()
    metadata_part.columns = pd.Index([f"SAMPLE_{x}" for x in metadata_part.columns])
    metadata_part = (
        metadata_part.transpose().reset_index().rename({"index": "id"}, axis="columns").transpose()
    )
    metadata_part.index = pd.Index([str(x).replace("Metadata_", "") for x in metadata_part.index])
    nrow_feature, ncol_features = feature_df.shape
    _, ncol_metadata = metadata_df.shape
    full_df = pd.concat([metadata_part, feature_df], axis=0)
    if isinstance(feature_metadata, pd.DataFrame):
        nrow_metadata = feature_metadata.shape[1]
        if "id" not in feature_metadata.index.tolist():
            msg = (
                "make sure feature metadata has row named 'id' that stores feature metadata names!"
            )
            raise ValueError(msg)
        full_df = feature_metadata.merge(full_df, how="right", left_index=True, right_index=True)
    else:
        labels: list[Any] = ["cp_feature_name", *[np.nan] * ncol_metadata]
        full_df.insert(0, column="feature_metadata", value=labels + feature_df.index.tolist())
        nrow_metadata = 1
    full_df = full_df.reset_index()
    dimensions = [nrow_feature, ncol_features, nrow_metadata, ncol_metadata]
    with atomic_path(output_file) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow([version])
        writer.writerow(dimensions)
        for _, row in full_df.iterrows():
            writer.writerow(row)
