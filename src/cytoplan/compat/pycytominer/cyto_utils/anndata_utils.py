"""pycytominer's ``cyto_utils.anndata_utils`` (extra ``anndata``): AnnData ↔ pandas.

Reading and writing go through :mod:`cytoplan.io.anndata`; this module adds
pycytominer's conventions: numeric columns → ``X``, other columns → ``obs`` in
**sorted** order, ``obs_names`` from the frame's index, and on reading an integer index.
"""

from __future__ import annotations

import pathlib
from typing import Any, Literal

import pandas as pd
import polars as pl

from cytoplan.compat.pycytominer._frames import pycytominer_errors
from cytoplan.io import anndata as _io

__all__ = ["AnnDataLike", "is_anndata", "read_anndata", "write_anndata"]


class AnnDataLike:
    """Anything with ``X``, ``obs`` and ``var`` (an ``anndata.AnnData``)."""

    X: Any
    obs: Any
    var: Any


def is_anndata(path_or_anndata_object: Any) -> str | None:
    """``"in-memory"``, ``"zarr"``, ``"h5ad"`` or None (not AnnData / not found)."""
    import anndata as ad

    if isinstance(path_or_anndata_object, ad.AnnData):
        return "in-memory"
    try:
        path = pathlib.Path(str(path_or_anndata_object)).resolve(strict=True)
    except FileNotFoundError:
        return None
    if path.is_dir() or path.suffix == ".zip":
        try:
            import zarr

            store: Any = zarr.storage.ZipStore(str(path)) if path.suffix == ".zip" else path
            group = zarr.open_group(store, mode="r")
            if group.attrs.get("encoding-type") == "anndata":
                return "zarr"
        except Exception:
            return None
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            if "anndata" in handle.attrs.get("encoding-type", ""):
                return "h5ad"
    except Exception:
        return None
    return None


def read_anndata(profiles: Any, anndata_category: str) -> pd.DataFrame:
    """``obs`` joined with ``X`` (columns named by ``var``), the index cast to int."""
    if anndata_category not in ("h5ad", "zarr", "in-memory"):
        msg = "Unrecognized AnnData type."
        raise ValueError(msg)
    import anndata as ad

    if anndata_category == "in-memory":
        adata = profiles
    elif anndata_category == "h5ad":
        adata = ad.read_h5ad(profiles)
    else:
        adata = ad.read_zarr(str(profiles))
    with pycytominer_errors():
        frame = _io.read_anndata(adata)
    out = frame.to_pandas()
    for name in adata.obs.columns:
        out[name] = adata.obs[name].reset_index(drop=True)
    out.index = pd.Index(adata.obs_names).astype(int)
    return out


def write_anndata(
    df: pd.DataFrame,
    output_filename: str,
    output_type: Literal["anndata_h5ad", "anndata_zarr"] = "anndata_h5ad",
) -> str:
    """Write ``df`` as AnnData: numeric columns → ``X``, others (sorted) → ``obs``."""
    if output_type not in ("anndata_h5ad", "anndata_zarr"):
        msg = f'Unsupported output_type="{output_type}". Use "anndata_h5ad" or "anndata_zarr".'
        raise ValueError(msg)
    numeric = [str(c) for c in df.select_dtypes(include="number").columns]
    others = [str(c) for c in df.columns.difference(df.select_dtypes(include="number").columns)]
    text = df.loc[:, others].astype(object).where(df.loc[:, others].notna(), None)
    table = pl.concat(
        [
            pl.from_pandas(text.reset_index(drop=True)) if others else pl.DataFrame(),
            pl.from_pandas(df.loc[:, numeric].astype(float).reset_index(drop=True))
            if numeric
            else pl.DataFrame(),
        ],
        how="horizontal",
    )
    path = str(pathlib.Path(output_filename))
    with pycytominer_errors():
        _io.write_anndata(
            table,
            path,
            features=numeric,
            obs_columns=others,
            obs_names=[str(i) for i in df.index],
            format="h5ad" if output_type == "anndata_h5ad" else "zarr",
        )
    return path
