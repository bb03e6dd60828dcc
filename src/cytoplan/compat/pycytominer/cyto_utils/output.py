"""pycytominer's ``cyto_utils.output``: write a DataFrame as CSV, Parquet or AnnData.

Writing goes through pandas so that the bytes match pycytominer's (the float repr,
gzip with ``mtime=1`` by default, snappy Parquet); the file is written to a temporary
name in the destination folder and renamed when complete (cytoplan's atomic writes).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd

from cytoplan.io._atomic import atomic_path

__all__ = ["COMPRESS_OPTIONS", "check_compression_method", "output", "set_compression_method"]

COMPRESS_OPTIONS = ["gzip", None]

#: ``output``'s own default: gzip with a fixed mtime, so the bytes are deterministic
DEFAULT_COMPRESSION: Mapping[str, Any] = MappingProxyType({"method": "gzip", "mtime": 1})


def output(
    df: pd.DataFrame,
    output_filename: str,
    output_type: Literal["csv", "parquet", "anndata_h5ad", "anndata_zarr"] | None = "csv",
    sep: str = ",",
    float_format: str | None = None,
    compression_options: str | Mapping[str, Any] | None = DEFAULT_COMPRESSION,
    **kwargs: Any,
) -> str:
    """Write ``df`` to ``output_filename`` and return the file name.

    Parameters
    ----------
    df
        The table.
    output_filename
        Destination path.
    output_type
        ``"csv"`` (also for None), ``"parquet"`` (always snappy), ``"anndata_h5ad"`` or
        ``"anndata_zarr"``; any other string writes nothing (pycytominer's behaviour).
    sep
        CSV delimiter.
    float_format
        printf-style format for CSV floats (``"%.5g"``); None writes the repr.
    compression_options
        Default ``{"method": "gzip", "mtime": 1}`` (deterministic gzip). None means
        uncompressed (the decorated functions' default, whatever the file name); a
        string ``s`` means ``{"method": s}``; only gzip or None are accepted.

    Returns
    -------
    str
        ``output_filename``.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> path = str(pathlib.Path(tempfile.mkdtemp()) / "x.csv")
    >>> output(pd.DataFrame({"a": [0.5]}), path, compression_options=None) == path
    True
    >>> pathlib.Path(path).read_text()
    'a\\n0.5\\n'
    """
    _check_folder(output_filename)
    if output_type is None:
        output_type = "csv"
    if output_type == "csv":
        compression = set_compression_method(compression=compression_options)
        _write_csv(df, output_filename, compression, sep=sep, float_format=float_format)
    elif output_type == "parquet":
        with atomic_path(output_filename) as tmp:
            df.to_parquet(path=tmp, compression="snappy")
    elif "anndata" in output_type:
        from cytoplan.compat.pycytominer.cyto_utils.anndata_utils import write_anndata

        output_filename = write_anndata(
            df=df, output_filename=output_filename, output_type=output_type
        )
    return output_filename


def _write_csv(
    df: pd.DataFrame,
    output_filename: str,
    compression: dict[str, Any],
    *,
    sep: str,
    float_format: str | None,
) -> None:
    """CSV to a temporary name, renamed when complete.

    gzip is written through :class:`gzip.GzipFile` named after the final file, so
    the gzip header (which records the file name) is the one pandas writes.
    """
    options = {key: value for key, value in compression.items() if key != "method"}
    with atomic_path(output_filename) as tmp:
        if compression["method"] != "gzip":
            df.to_csv(tmp, sep=sep, index=False, float_format=float_format, compression=None)
            return
        with (
            tmp.open("wb") as raw,
            gzip.GzipFile(filename=output_filename, mode="wb", fileobj=raw, **options) as packed,
            io.TextIOWrapper(packed, encoding="utf-8", newline="") as text,
        ):
            df.to_csv(text, sep=sep, index=False, float_format=float_format)


def _check_folder(output_filename: str) -> None:
    parent = Path(output_filename).parent
    if not parent.is_dir():
        msg = f"Cannot save file into a non-existent directory: '{parent}'"
        raise OSError(msg)


def set_compression_method(compression: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """pandas ``compression`` options from pycytominer's argument.

    >>> set_compression_method(None)
    {'method': None}
    >>> set_compression_method("gzip")
    {'method': 'gzip'}
    """
    if compression is None:
        compression = {"method": None}
    if isinstance(compression, str):
        compression = {"method": compression}
    check_compression_method(compression["method"])
    return dict(compression)


def check_compression_method(compression: str | None) -> None:
    """Raise ``ValueError`` unless ``compression`` is ``"gzip"`` or None.

    >>> check_compression_method("zip")
    Traceback (most recent call last):
    ...
    ValueError: zip is not supported, select one of ['gzip', None]
    """
    if compression not in COMPRESS_OPTIONS:
        msg = f"{compression} is not supported, select one of {COMPRESS_OPTIONS}"
        raise ValueError(msg)
