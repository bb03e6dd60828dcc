"""AnnData (``.h5ad``, ``.zarr``) as a profile source and sink (optional extra ``anndata``).

Mapping: feature columns → ``X`` (float64, cells/wells × features) with the feature
names as ``var`` names; every other column (``Metadata_*`` and any other
non-feature column) → ``obs``, in table order, text columns stored as categoricals;
``obs_names`` are the row numbers ``"0".."n-1"`` unless given. Reading gives the
``obs`` columns, then the ``X`` columns, as one Polars frame.

Examples
--------
>>> import tempfile, pathlib, polars as pl
>>> path = pathlib.Path(tempfile.mkdtemp()) / "wells.h5ad"
>>> frame = pl.DataFrame({"Metadata_Well": ["A01", "B01"], "Cells_x": [1.0, 2.0]})
>>> _ = write_anndata(frame, path)
>>> read_anndata(path).rows()
[('A01', 1.0), ('B01', 2.0)]
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from cytoplan.exceptions import SourceError
from cytoplan.io._atomic import atomic_path

__all__ = ["AnnDataFormat", "anndata_format", "read_anndata", "write_anndata"]

AnnDataFormat = Literal["h5ad", "zarr"]


def _require_anndata() -> Any:
    try:
        import anndata
    except ImportError:
        msg = (
            "reading or writing AnnData needs the optional dependency 'anndata'; "
            "install it with: pip install 'cytoplan[anndata]'"
        )
        raise SourceError(msg) from None
    return anndata


def anndata_format(path: str | Path) -> AnnDataFormat:
    """``"h5ad"`` or ``"zarr"`` from the file name.

    >>> anndata_format("x.h5ad"), anndata_format("x.zarr")
    ('h5ad', 'zarr')
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".h5ad":
        return "h5ad"
    if suffix in (".zarr", ".zip"):
        return "zarr"
    msg = f"cannot tell the AnnData format of {str(path)!r}: name it *.h5ad or *.zarr"
    raise SourceError(msg)


def write_anndata(
    frame: pl.DataFrame | pl.LazyFrame,
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    obs_columns: Sequence[str] | None = None,
    obs_names: Sequence[str] | None = None,
    format: AnnDataFormat | None = None,
) -> Path:
    """Write a profile table as AnnData, atomically (temporary name, then rename).

    Parameters
    ----------
    frame
        Profiles (collected if lazy: AnnData is an in-memory format).
    path
        Destination (``.h5ad`` file or ``.zarr`` folder).
    features
        Columns for ``X``; default: numeric columns not starting with ``Metadata_``.
    obs_columns
        Columns for ``obs``; default: every other column, in table order.
    obs_names
        Row names; default ``"0".."n-1"``.
    format
        ``"h5ad"`` or ``"zarr"``; default from the suffix.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    anndata = _require_anndata()
    import numpy as np
    import pandas as pd

    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    kind = format or anndata_format(path)
    if features is None:
        features = [
            n for n, t in df.schema.items() if t.is_numeric() and not n.startswith("Metadata_")
        ]
    features = list(features)
    if obs_columns is None:
        obs_columns = [n for n in df.columns if n not in set(features)]
    obs_pd = df.select(list(obs_columns)).to_pandas()
    for name in obs_pd.columns:
        column = obs_pd[name]
        if pd.api.types.is_string_dtype(column.dtype) or column.dtype == object:
            obs_pd[name] = pd.Categorical(column.astype("object"))
    names = [str(i) for i in range(df.height)] if obs_names is None else list(obs_names)
    obs_pd.index = pd.Index(names, dtype=object)
    x = df.select(features).to_numpy().astype(np.float64) if features else None
    var = pd.DataFrame(index=pd.Index(features, dtype=object))
    adata = anndata.AnnData(X=x, obs=obs_pd, var=var)
    target = Path(path)
    if kind == "h5ad":
        with atomic_path(target) as tmp:
            adata.write_h5ad(tmp.with_suffix(".h5ad"))
            tmp.with_suffix(".h5ad").rename(tmp)
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            adata.write_zarr(str(tmp))
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return target


def read_anndata(source: str | Path | Any) -> pl.DataFrame:
    """An AnnData file or object as one table: ``obs`` columns, then ``X`` columns.

    Categoricals become text; ``X`` becomes float64 columns named after ``var``.

    Raises
    ------
    SourceError
        The path does not exist or is not AnnData.
    """
    anndata = _require_anndata()
    import numpy as np

    if isinstance(source, anndata.AnnData):
        adata = source
    else:
        path = Path(source)
        if not path.exists():
            msg = f"AnnData source not found: {str(path)!r}"
            raise SourceError(msg)
        try:
            if anndata_format(path) == "h5ad":
                adata = anndata.read_h5ad(path)
            else:
                adata = anndata.read_zarr(str(path))
        except (OSError, KeyError, ValueError) as exc:
            msg = f"{str(path)!r} is not a readable AnnData store: {exc}"
            raise SourceError(msg) from exc
    obs = adata.obs.copy()
    for name in obs.columns:
        if str(obs[name].dtype) == "category":
            obs[name] = obs[name].astype(object).where(obs[name].notna(), None)
    obs_pl = pl.from_pandas(obs.reset_index(drop=True)) if obs.shape[1] else pl.DataFrame()
    x = adata.X
    if x is None:
        return obs_pl
    if hasattr(x, "toarray"):
        x = x.toarray()
    values = np.asarray(x, dtype=np.float64)
    var_names = [str(v) for v in adata.var_names]
    features = pl.DataFrame(values, schema=dict.fromkeys(var_names, pl.Float64), orient="row")
    return pl.concat([obs_pl, features], how="horizontal") if obs.shape[1] else features
