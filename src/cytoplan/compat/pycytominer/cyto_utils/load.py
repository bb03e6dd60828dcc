"""pycytominer's ``cyto_utils.load``: profiles, platemaps and DeepProfiler npz files as pandas.

Delimited text and Parquet are read with pandas (so dtypes match pycytominer's: a
numeric-looking ``Metadata_Plate`` stays an integer, unlike cytoplan's own scanners,
which read metadata as text). npz files are read by :mod:`cytoplan.io.deepprofiler`.
"""

from __future__ import annotations

import gzip
import pathlib
from typing import Any

import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors
from cytoplan.compat.pycytominer.cyto_utils.anndata_utils import AnnDataLike
from cytoplan.io.profiles import infer_separator

__all__ = [
    "AnnDataLike",
    "infer_delim",
    "is_path_a_parquet_dataset_dir",
    "is_path_a_parquet_file",
    "load_cytotable_profiles",
    "load_npz_features",
    "load_npz_locations",
    "load_platemap",
    "load_profiles",
    "resolve_cytotable_profiles_target",
    "resolve_parquet_path",
]

_DELIMITER_SAMPLE_SIZE = 10_000


def is_path_a_parquet_file(file: Any) -> bool:
    """True for an existing path whose suffix is ``.parquet`` (any case)."""
    if not isinstance(file, (str, pathlib.PurePath)):
        print("Not a path-like object; cannot be a parquet file.")
        return False
    path = pathlib.Path(file)
    if not path.exists():
        msg = "load_profiles() didn't find the path."
        raise FileNotFoundError(msg)
    return path.suffix.lower() == ".parquet"


def is_path_a_parquet_dataset_dir(file: Any) -> bool:
    """True for a folder whose direct files (at least one) all end in ``.parquet``."""
    if not isinstance(file, (str, pathlib.PurePath)):
        print("Not a path-like object; cannot be a parquet dataset.")
        return False
    path = pathlib.Path(file)
    if not path.exists():
        msg = "load_profiles() didn't find the path."
        raise FileNotFoundError(msg)
    if not path.is_dir():
        return False
    children = [child for child in path.iterdir() if child.is_file()]
    return bool(children) and all(child.suffix.lower() == ".parquet" for child in children)


def resolve_parquet_path(path_like: Any) -> pathlib.Path | None:
    """The Parquet file or dataset folder behind ``path_like`` (also ``<dir>/data``)."""
    if not isinstance(path_like, (str, pathlib.PurePath)):
        return None
    path = pathlib.Path(path_like)
    if not path.exists():
        return None
    if is_path_a_parquet_file(path) or is_path_a_parquet_dataset_dir(path):
        return path
    data = path / "data"
    if data.is_dir() and is_path_a_parquet_dataset_dir(data):
        return data
    return None


def resolve_cytotable_profiles_target(
    warehouse_path: Any, table_name: str | None = None, namespace: str = "profiles"
) -> pathlib.Path | None:
    """The one Parquet table of a CytoTable warehouse (``<root>[/warehouse]/<ns>/<table>``)."""
    if not isinstance(warehouse_path, (str, pathlib.PurePath)):
        return None
    root = pathlib.Path(warehouse_path)
    for base in (root / namespace, root / "warehouse" / namespace):
        if not base.is_dir():
            continue
        if table_name is not None:
            return resolve_parquet_path(base / table_name)
        tables = [child for child in sorted(base.iterdir()) if resolve_parquet_path(child)]
        if len(tables) > 1:
            names = [t.name for t in tables]
            msg = f"Found several CytoTable tables under {base}: {names}; pass table_name."
            raise ValueError(msg)
        if tables:
            return resolve_parquet_path(tables[0])
    return None


def load_cytotable_profiles(
    warehouse_path: Any, table_name: str = "joined_profiles", namespace: str = "profiles"
) -> pd.DataFrame:
    """Read a CytoTable warehouse table (``FileNotFoundError`` if there is none)."""
    target = resolve_cytotable_profiles_target(warehouse_path, table_name, namespace)
    if target is None:
        msg = (
            "Could not find a parquet-backed table for "
            f"namespace={namespace!r} and table_name={table_name!r} under {warehouse_path}."
        )
        raise FileNotFoundError(msg)
    return pd.read_parquet(target, engine="pyarrow")


def infer_delim(file: Any) -> str:
    """The delimiter of a (possibly gzipped) text table, from its first line.

    cytoplan looks for a tab, comma or semicolon in the header (pycytominer sniffs the
    first 10,000 characters with clevercsv).

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
    >>> _ = path.write_text("a\\tb\\n1\\t2\\n")
    >>> infer_delim(path)
    '\\t'
    """
    try:
        with gzip.open(file, "rt", encoding="utf-8-sig") as handle:
            sample = handle.read(_DELIMITER_SAMPLE_SIZE)
    except gzip.BadGzipFile:
        with open(file, encoding="utf-8-sig") as handle:  # noqa: PTH123
            sample = handle.read(_DELIMITER_SAMPLE_SIZE)
    header = sample.splitlines()[0] if sample else ""
    if not any(sep in header for sep in ("\t", ",", ";")):
        if len(sample.splitlines()) > 0 and header:
            return ","
        msg = f"Could not determine the delimiter for {file}."
        raise ValueError(msg)
    return infer_separator(header)


def _is_anndata_path(profiles: Any) -> bool:
    return isinstance(profiles, (str, pathlib.PurePath)) and pathlib.Path(profiles).suffix in (
        ".zarr",
        ".zip",
        ".h5ad",
    )


def load_profiles(profiles: Any) -> pd.DataFrame:
    """A DataFrame as is (the same object); a path read as Parquet, AnnData or text.

    Raises
    ------
    FileNotFoundError
        If the path does not exist.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1]})
    >>> load_profiles(df) is df
    True
    """
    if isinstance(profiles, pd.DataFrame):
        return profiles
    if isinstance(profiles, (str, pathlib.PurePath)):
        path = pathlib.Path(profiles)
        if not path.exists():
            msg = "load_profiles() didn't find the path."
            raise FileNotFoundError(msg)
        if parquet := resolve_parquet_path(path):
            return pd.read_parquet(parquet, engine="pyarrow")
        if (target := resolve_cytotable_profiles_target(path)) is not None:
            return pd.read_parquet(target, engine="pyarrow")
    if all(hasattr(profiles, name) for name in ("X", "obs", "var")) or _is_anndata_path(profiles):
        from cytoplan.compat.pycytominer.cyto_utils.anndata_utils import is_anndata, read_anndata

        if kind := is_anndata(profiles):
            return read_anndata(profiles, kind)
    delim = infer_delim(profiles)
    return pd.read_csv(str(profiles), sep=delim)


def load_platemap(
    platemap: str | pd.DataFrame, add_metadata_id: bool = True, sep: str | None = None
) -> pd.DataFrame:
    """A platemap (file or frame, copied), with ``Metadata_`` prefixed to plain names.

    >>> import pandas as pd
    >>> load_platemap(pd.DataFrame({"well_position": ["A01"], "Metadata_x": [1]})).columns.tolist()
    ['Metadata_well_position', 'Metadata_x']
    """
    if not isinstance(platemap, pd.DataFrame):
        try:
            delim = sep if sep is not None else infer_delim(platemap)
            platemap = pd.read_csv(platemap, sep=delim)
        except FileNotFoundError:
            msg = f"{platemap} platemap file not found"
            raise FileNotFoundError(msg) from None
    else:
        platemap = platemap.copy()
    if add_metadata_id:
        platemap.columns = pd.Index(
            [
                f"Metadata_{x}" if isinstance(x, str) and not x.startswith("Metadata_") else x
                for x in platemap.columns
            ]
        )
    return platemap


def load_npz_features(
    npz_file: str, fallback_feature_prefix: str = "DP", metadata: bool = True
) -> pd.DataFrame:
    """DeepProfiler features of one site (``<prefix>_<i>`` columns after metadata).

    The file is read by :func:`cytoplan.io.deepprofiler.read_npz`; features keep the
    file's dtype (float32). A missing file gives an empty DataFrame.
    """
    from cytoplan.io.deepprofiler import feature_prefix, metadata_columns, read_npz

    if not pathlib.Path(npz_file).exists():
        return pd.DataFrame([])
    with pycytominer_errors():
        arrays = read_npz(npz_file)
    df = pd.DataFrame(arrays["features"])
    if not metadata:
        return df
    meta = arrays.get("metadata")
    meta = meta if isinstance(meta, dict) else None
    prefix = feature_prefix(meta, fallback_feature_prefix)
    df.columns = pd.Index(
        [f"{prefix}_{x}" if not str(x).startswith(prefix) else x for x in df.columns]
    )
    if meta is None:
        return df
    columns = metadata_columns(meta, df.shape[0])
    meta_df = pd.DataFrame(columns, index=range(df.shape[0]), dtype=str)
    return meta_df.merge(df, how="outer", left_index=True, right_index=True)


def load_npz_locations(
    npz_file: str, location_x_col_index: int = 0, location_y_col_index: int = 1
) -> pd.DataFrame:
    """``Location_Center_X``/``Location_Center_Y`` of one site's cells.

    A missing file gives an empty DataFrame; an index beyond the array raises
    ``IndexError``.
    """
    from cytoplan.io.deepprofiler import read_npz_locations

    if not pathlib.Path(npz_file).exists():
        return pd.DataFrame([])
    with pycytominer_errors():
        frame = read_npz_locations(
            npz_file, x_index=location_x_col_index, y_index=location_y_col_index
        )
    return pd.DataFrame({name: frame.get_column(name).to_numpy() for name in frame.columns})
