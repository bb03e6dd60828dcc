"""DeepProfiler per-site ``.npz`` outputs as tables, one file at a time.

DeepProfiler (``profile`` command) writes one file per site,
``<profile_dir>/<plate>/<well>_<site>.npz``, holding:

``features``
    ``n_cells × d`` array (float32) of learned features;
``locations``
    ``n_cells × k`` array of cell centres (column 0 = x, 1 = y by default);
``metadata``
    a pickled dict (``Plate``, ``Well``, ``Site``, ``Model``, ...).

Features are named ``<model>_<i>`` (``efficientnet_0``, ...) from ``metadata["Model"]``,
else ``DP_<i>``. The site list comes from DeepProfiler's index CSV
(``Metadata_Plate``, ``Metadata_Well``, ``Metadata_Site``, ...; read as text).

:func:`scan_deepprofiler` is a lazy source over every site of an index: only the
schema is read up front (from the first file); a collect or sink reads one file at a
time, so memory is bounded by the largest site plus the consumer's own state.

Examples
--------
>>> import tempfile, pathlib
>>> from cytoplan.testing.deepprofiler import write_deepprofiler_project
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> project = write_deepprofiler_project(root, n_plates=1, wells=("A01",), sites=2, n_features=3)
>>> lf = scan_deepprofiler(project.index_file, project.profile_dir)
>>> lf.collect_schema().names()[-3:]
['efficientnet_0', 'efficientnet_1', 'efficientnet_2']
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, SourceError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "INDEX_KEYS",
    "LOCATION_COLUMNS",
    "config_model",
    "feature_prefix",
    "metadata_columns",
    "npz_path",
    "read_config",
    "read_index",
    "read_npz",
    "read_npz_features",
    "read_npz_locations",
    "read_npz_site",
    "scan_deepprofiler",
    "site_files",
]

#: the index columns that locate a site's file
INDEX_KEYS = ("Metadata_Plate", "Metadata_Well", "Metadata_Site")
#: names given to the two location columns
LOCATION_COLUMNS = ("Location_Center_X", "Location_Center_Y")


def npz_path(
    profile_dir: str | Path,
    plate: str,
    well: str,
    site: str,
    *,
    delimiter: str = "_",
    extension: str = ".npz",
) -> Path:
    """``<profile_dir>/<plate>/<well><delimiter><site><extension>``.

    >>> npz_path("out", "P1", "A01", "2").as_posix()
    'out/P1/A01_2.npz'
    """
    return Path(profile_dir) / str(plate) / f"{well}{delimiter}{site}{extension}"


def read_index(index: str | Path | pl.DataFrame) -> pl.DataFrame:
    """DeepProfiler's index table, every column as text.

    Raises
    ------
    SourceError
        The file does not exist.
    ColumnNotFoundError
        ``Metadata_Plate``, ``Metadata_Well`` or ``Metadata_Site`` is missing.
    """
    if isinstance(index, pl.DataFrame):
        frame = index.with_columns(pl.all().cast(pl.String))
        where = "the index table"
    else:
        path = Path(index)
        if not path.is_file():
            msg = f"DeepProfiler index file not found: {str(path)!r}"
            raise SourceError(msg)
        frame = pl.read_csv(path, infer_schema=False)
        where = str(path)
    missing = [key for key in INDEX_KEYS if key not in frame.columns]
    if missing:
        raise ColumnNotFoundError.from_missing(missing, frame.columns, where=where)
    return frame


def site_files(
    index: str | Path | pl.DataFrame,
    profile_dir: str | Path,
    *,
    delimiter: str = "_",
    extension: str = ".npz",
) -> pl.DataFrame:
    """The index with one more column, ``path``: each site's ``.npz`` file."""
    frame = read_index(index)
    paths = [
        str(npz_path(profile_dir, plate, well, site, delimiter=delimiter, extension=extension))
        for plate, well, site in frame.select(INDEX_KEYS).iter_rows()
    ]
    return frame.with_columns(pl.Series("path", paths, dtype=pl.String))


def read_npz(path: str | Path) -> dict[str, Any]:
    """The arrays of one ``.npz`` file; ``metadata`` unpickled to a dict (or absent).

    Raises
    ------
    SourceError
        The file does not exist or is not an npz archive.
    """
    import numpy as np

    file = Path(path)
    if not file.is_file():
        msg = f"DeepProfiler output not found: {str(file)!r}"
        raise SourceError(msg)
    try:
        with np.load(file, allow_pickle=True) as npz:
            arrays: dict[str, Any] = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        msg = f"{str(file)!r} is not a readable .npz archive: {exc}"
        raise SourceError(msg) from exc
    if "metadata" in arrays:
        value = arrays["metadata"]
        arrays["metadata"] = value.item() if getattr(value, "shape", None) == () else value
    if "features" not in arrays:
        msg = f"{str(file)!r} has no 'features' array (keys: {sorted(arrays)})"
        raise SourceError(msg)
    return arrays


def read_config(path: str | Path) -> dict[str, Any]:
    """DeepProfiler's experiment configuration (``inputs/config/<name>.json``).

    Raises
    ------
    SourceError
        The file does not exist or is not JSON.
    """
    import json

    file = Path(path)
    if not file.is_file():
        msg = f"DeepProfiler config not found: {str(file)!r}"
        raise SourceError(msg)
    try:
        loaded = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        msg = f"{str(file)!r} is not valid JSON (line {exc.lineno}): {exc.msg}"
        raise SourceError(msg) from exc
    if not isinstance(loaded, dict):
        msg = f"{str(file)!r}: a DeepProfiler config is a JSON object"
        raise SourceError(msg)
    return loaded


def config_model(config: dict[str, Any]) -> str | None:
    """The model name of a DeepProfiler config (``train.model.name``), if any.

    >>> config_model({"train": {"model": {"name": "cnn"}}}), config_model({})
    ('cnn', None)
    """
    model = config.get("train", {}).get("model", {})
    name = model.get("name") if isinstance(model, dict) else None
    return str(name) if name else None


def feature_prefix(metadata: dict[str, Any] | None, fallback: str) -> str:
    """The feature name prefix: the metadata's ``Model``, else ``fallback``.

    >>> feature_prefix({"Model": "efficientnet"}, "DP"), feature_prefix(None, "DP")
    ('efficientnet', 'DP')
    """
    if metadata and "Model" in metadata:
        model = metadata["Model"]
        if isinstance(model, (list, tuple)) or hasattr(model, "shape"):
            model = next(iter(model))
        return str(model)
    return fallback


def _feature_frame(features: np.ndarray, prefix: str | None) -> pl.DataFrame:
    import numpy as np

    values = np.asarray(features, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    names = [f"{prefix}_{i}" if prefix is not None else str(i) for i in range(values.shape[1])]
    return pl.from_numpy(np.asfortranarray(values), schema=names, orient="row")


def metadata_columns(metadata: dict[str, Any], n: int) -> dict[str, list[str]]:
    """A site's metadata dict as ``Metadata_*`` text columns of ``n`` values each.

    >>> metadata_columns({"Plate": "P1", "Metadata_Well": "A01"}, 2)
    {'Metadata_Plate': ['P1', 'P1'], 'Metadata_Well': ['A01', 'A01']}
    """
    columns: dict[str, list[str]] = {}
    for key, value in metadata.items():
        name = key if str(key).startswith("Metadata_") else f"Metadata_{key}"
        if isinstance(value, (list, tuple)) or hasattr(value, "shape"):
            items = [str(v) for v in list(value)]
            if len(items) != n:
                items = [str(value)] * n
        else:
            items = [str(value)] * n
        columns[name] = items
    return columns


def _metadata_frame(metadata: dict[str, Any], n: int) -> pl.DataFrame:
    columns = metadata_columns(metadata, n)
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def read_npz_features(
    path: str | Path, *, fallback_feature_prefix: str = "DP", metadata: bool = True
) -> pl.DataFrame:
    """One site's features (float64), preceded by its metadata as ``Metadata_*`` text.

    Features are named ``<Model>_<i>`` (from the metadata), else
    ``<fallback_feature_prefix>_<i>``; with ``metadata=False``, the raw columns
    ``"0"``, ``"1"``, ... and no metadata.
    """
    arrays = read_npz(path)
    if not metadata:
        return _feature_frame(arrays["features"], None)
    meta = arrays.get("metadata")
    meta = meta if isinstance(meta, dict) else None
    features = _feature_frame(arrays["features"], feature_prefix(meta, fallback_feature_prefix))
    if meta is None:
        return features
    return pl.concat([_metadata_frame(meta, features.height), features], how="horizontal")


def read_npz_locations(path: str | Path, *, x_index: int = 0, y_index: int = 1) -> pl.DataFrame:
    """``Location_Center_X``/``Location_Center_Y`` of one site's cells (float64).

    Raises
    ------
    IndexError
        ``x_index`` or ``y_index`` is beyond the array's columns.
    SourceError
        The file has no ``locations`` array.
    """
    import numpy as np

    arrays = read_npz(path)
    if "locations" not in arrays:
        msg = f"{str(path)!r} has no 'locations' array"
        raise SourceError(msg)
    locations = np.asarray(arrays["locations"], dtype=np.float64)
    width = locations.shape[1] if locations.ndim == 2 else 0
    if x_index >= width:
        msg = "OutOfBounds indexing via location_x_col_index"
        raise IndexError(msg)
    if y_index >= width:
        msg = "OutOfBounds indexing via location_y_col_index"
        raise IndexError(msg)
    return pl.DataFrame(
        {LOCATION_COLUMNS[0]: locations[:, x_index], LOCATION_COLUMNS[1]: locations[:, y_index]}
    )


def read_npz_site(
    path: str | Path,
    *,
    keys: dict[str, str] | None = None,
    locations: bool = True,
    x_index: int = 0,
    y_index: int = 1,
    fallback_feature_prefix: str = "DP",
) -> pl.DataFrame:
    """One site as single cells: ``keys`` (constant text columns), locations, features."""
    arrays = read_npz(path)
    meta = arrays.get("metadata")
    meta = meta if isinstance(meta, dict) else None
    features = _feature_frame(arrays["features"], feature_prefix(meta, fallback_feature_prefix))
    parts = []
    if keys:
        parts.append(
            pl.DataFrame(
                {k: [v] * features.height for k, v in keys.items()},
                schema=dict.fromkeys(keys, pl.String),
            )
        )
    if locations:
        where = read_npz_locations(path, x_index=x_index, y_index=y_index)
        if where.height != features.height:
            msg = (
                f"{str(path)!r} has {where.height} locations for {features.height} cells "
                "(rows of 'features'); the two arrays must describe the same cells"
            )
            raise SourceError(msg)
        parts.append(where)
    parts.append(features)
    return pl.concat(parts, how="horizontal")


class _Scan:
    def __init__(
        self,
        sites: pl.DataFrame,
        schema: dict[str, pl.DataType],
        key_columns: Sequence[str],
        options: dict[str, Any],
        missing: str,
    ) -> None:
        self.sites = sites
        self.schema = schema
        self.key_columns = list(key_columns)
        self.options = options
        self.missing = missing

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        names = list(with_columns) if with_columns is not None else list(self.schema)
        produced = 0
        for row in self.sites.iter_rows(named=True):
            path = Path(row["path"])
            if not path.is_file() and self.missing == "skip":
                continue
            keys = {k: row[k] for k in self.key_columns}
            frame = read_npz_site(path, keys=keys, **self.options)
            if frame.columns != list(self.schema):
                msg = (
                    f"{str(path)!r} does not match the first site's columns "
                    f"({frame.width} vs {len(self.schema)}); every site must come from "
                    "the same model"
                )
                raise SourceError(msg)
            if predicate is not None:
                frame = frame.filter(predicate)
            frame = frame.select(names)
            if n_rows is not None:
                frame = frame.head(n_rows - produced)
            produced += frame.height
            yield frame
            if n_rows is not None and produced >= n_rows:
                return


def scan_deepprofiler(
    index: str | Path | pl.DataFrame,
    profile_dir: str | Path,
    *,
    delimiter: str = "_",
    extension: str = ".npz",
    locations: bool = True,
    x_index: int = 0,
    y_index: int = 1,
    fallback_feature_prefix: str = "DP",
    config: str | Path | None = None,
    missing: Literal["raise", "skip"] = "raise",
) -> pl.LazyFrame:
    """Every site of a DeepProfiler index as one lazy single-cell table.

    Parameters
    ----------
    index
        DeepProfiler's index CSV (or a frame) with ``Metadata_Plate``, ``Metadata_Well``
        and ``Metadata_Site``; all its columns are attached to each site's cells.
    profile_dir
        The ``features`` output folder (``<plate>/<well>_<site>.npz`` below it).
    delimiter, extension
        File naming.
    locations
        Add ``Location_Center_X``/``Location_Center_Y`` (columns ``x_index``/``y_index``).
    fallback_feature_prefix
        Feature prefix when the metadata names no model.
    config
        DeepProfiler's config JSON: its model name (``train.model.name``) becomes
        the fallback prefix.
    missing
        ``"raise"`` (default): a missing site file raises :class:`SourceError` when the
        scan is created; ``"skip"``: leave those sites out.

    Returns
    -------
    polars.LazyFrame
        Index columns (text), [locations], features (float64) — one row per cell, in
        index order. The schema is read from the first site file.
    """
    if missing not in ("raise", "skip"):
        msg = f"missing must be 'raise' or 'skip', got {missing!r}"
        raise SourceError(msg)
    if config is not None:
        fallback_feature_prefix = config_model(read_config(config)) or fallback_feature_prefix
    sites = site_files(index, profile_dir, delimiter=delimiter, extension=extension)
    exists = [Path(p).is_file() for p in sites["path"]]
    if missing == "raise" and not all(exists):
        absent = [p for p, ok in zip(sites["path"], exists, strict=True) if not ok]
        msg = (
            f"{len(absent)} DeepProfiler site file(s) listed in the index are missing, "
            f"e.g. {absent[0]!r}; pass missing='skip' to leave them out"
        )
        raise SourceError(msg)
    present = sites.filter(pl.Series(exists))
    if present.height == 0:
        msg = f"no DeepProfiler site file found under {str(profile_dir)!r}"
        raise SourceError(msg)
    key_columns = [c for c in sites.columns if c != "path"]
    options: dict[str, Any] = {
        "locations": locations,
        "x_index": x_index,
        "y_index": y_index,
        "fallback_feature_prefix": fallback_feature_prefix,
    }
    first = present.row(0, named=True)
    head = read_npz_site(first["path"], keys={k: first[k] for k in key_columns}, **options)
    schema = dict(head.schema)

    from polars.io.plugins import register_io_source

    return register_io_source(
        _Scan(present, schema, key_columns, options, missing),
        schema=schema,
        validate_schema=False,
        is_pure=True,
    )
