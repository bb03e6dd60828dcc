"""GCT 1.3 files (Morpheus, clue.io) from profile tables, as pycytominer's ``write_gct``.

Layout (tab-separated, ``\\r\\n`` line ends as Python's :mod:`csv` writes them)::

    #1.3
    <n_features> <n_samples> <n_feature_metadata_columns> <n_sample_metadata_rows>
    id        cp_feature_name  SAMPLE_0  SAMPLE_1 ...
    Plate     nan              P1        P1   ...  (a row per metadata column, no "Metadata_")
    Cells_x   Cells_x          0.1       0.2  ...     (one row per feature)

Values are written as Python's ``str()`` writes them (``0.1``, ``1e-05``,
``100.0``); missing values as ``nan``; integer columns with missing values as
floats (``1.0``), as pandas holds them. The file is written atomically.

Examples
--------
>>> import tempfile, pathlib, polars as pl
>>> frame = pl.DataFrame({"Metadata_Plate": ["P1", "P1"], "Cells_A": [0.1, 1e-05]})
>>> dest = pathlib.Path(tempfile.mkdtemp()) / "p.gct"
>>> _ = write_gct(frame, dest)
>>> print(dest.read_text().replace("\\t", " | "), end="")
#1.3
1 | 2 | 1 | 1
id | cp_feature_name | SAMPLE_0 | SAMPLE_1
Plate | nan | P1 | P1
Cells_A | Cells_A | 0.1 | 1e-05
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from cytoplan.exceptions import ParameterError
from cytoplan.io._atomic import atomic_path
from cytoplan.schema import infer_cp_features, metadata_columns, require_columns

__all__ = ["write_gct"]


def _text(value: Any) -> str:
    if value is None:
        return "nan"
    return str(value)


def _transposed_dtype(columns: Sequence[pl.Series]) -> pl.DataType:
    """The one dtype pycytominer's transposed GCT body gives the feature columns:
    theirs when they share one, else int64 for integers, else float64 (an integer
    feature beside a float one is written ``1.0``). float32 is always widened to
    float64 (``0.10000000149011612``), integers with missing values too."""
    kinds = {
        pl.Float64()
        if s.dtype == pl.Float32 or (s.dtype.is_integer() and s.null_count())
        else s.dtype
        for s in columns
    }
    if len(kinds) <= 1:
        return kinds.pop() if kinds else pl.Float64()
    if all(kind.is_integer() for kind in kinds):
        return pl.Int64()
    return pl.Float64()


def _column_values(series: pl.Series) -> list[str]:
    if series.dtype.is_integer() and series.null_count():
        series = series.cast(pl.Float64)
    return [_text(v) for v in series.to_list()]


def write_gct(
    profiles: pl.DataFrame | pl.LazyFrame,
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    meta_features: Sequence[str] | None = None,
    feature_metadata: pl.DataFrame | None = None,
    version: str = "#1.3",
) -> str:
    """Write profiles as a GCT 1.3 file, byte-for-byte as pycytominer 1.7.1's ``write_gct``.

    Parameters
    ----------
    profiles : polars.DataFrame or LazyFrame
        Profiles (one sample per row); collected (a GCT file is a transposed table).
    path : str or Path
        Output file.
    features : list of str, optional
        Feature columns; default: pycytominer's inference (``Cells``/``Cytoplasm``/``Nuclei``).
    meta_features : list of str, optional
        Sample metadata columns; default: every ``Metadata_*`` column.
    feature_metadata : polars.DataFrame, optional
        Rows of feature metadata: the first column holds row labels (one must be
        ``"id"``: its cells name the feature-metadata columns), the others one
        value per row label; rows without a label get ``nan``. Default: one
        column ``cp_feature_name`` holding the feature names.
    version : str
        Only ``"#1.3"``.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    CytoplanError
        Another version, a missing column, or feature metadata without an ``id`` row.
    """
    if version != "#1.3":
        msg = f"GCT version {version!r} is not supported; only '#1.3' is"
        raise ParameterError(msg)
    table = profiles.collect() if isinstance(profiles, pl.LazyFrame) else profiles
    feats = list(features) if features is not None else infer_cp_features(table.schema)
    metas = list(meta_features) if meta_features is not None else metadata_columns(table.schema)
    require_columns(table, [*feats, *metas])
    n_samples = table.height
    meta_rows = [[name.replace("Metadata_", ""), *_column_values(table[name])] for name in metas]
    common = _transposed_dtype([table[name] for name in feats])
    feature_rows = [[name, *_column_values(table[name].cast(common))] for name in feats]
    header = ["id", *[f"SAMPLE_{i}" for i in range(n_samples)]]
    labels = [header[0]] + [row[0] for row in meta_rows] + [row[0] for row in feature_rows]
    body = [header, *meta_rows, *feature_rows]
    if feature_metadata is None:
        annotation: list[list[str]] = [["cp_feature_name"], *[["nan"]] * len(meta_rows)]
        annotation += [[f] for f in feats]
        n_annotation = 1
    else:
        label_column = feature_metadata.columns[0]
        fields = list(feature_metadata.columns[1:])
        by_label: dict[str, list[str]] = {}
        for entry in feature_metadata.iter_rows():
            by_label[str(entry[0])] = [_text(v) for v in entry[1:]]
        if "id" not in by_label:
            msg = (
                f"feature_metadata needs a row labelled 'id' in its first column "
                f"{label_column!r} (it names the feature-metadata columns)"
            )
            raise ParameterError(msg)
        annotation = [by_label.get(label, ["nan"] * len(fields)) for label in labels]
        n_annotation = len(fields)
    dimensions = [len(feats), n_samples, n_annotation, len(metas)]
    target = Path(path)
    with atomic_path(target) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow([version])
        writer.writerow(dimensions)
        for row, extra in zip(body, annotation, strict=True):
            writer.writerow([row[0], *extra, *row[1:]])
    return str(target)
